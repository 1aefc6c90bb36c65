//! A small CSV reader for the input files (header row, `#` comment lines,
//! errors naming file and line) and number formatting for the outputs.

use std::path::Path;

use crate::error::DlmpError;

/// A parsed CSV: lower-case header names and rows with their 1-based line numbers.
pub struct Csv {
    pub path: String,
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Csv {
    pub fn read(path: &Path) -> Result<Csv, DlmpError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DlmpError::Input(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<Csv, DlmpError> {
        let mut header: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cells: Vec<String> = line
                .split(',')
                .map(|c| c.trim().trim_matches('"').to_string())
                .collect();
            if header.is_none() {
                header = Some(cells.iter().map(|c| c.to_ascii_lowercase()).collect());
            } else {
                rows.push((i + 1, cells));
            }
        }
        let header = header.ok_or_else(|| {
            DlmpError::Input(format!("{path}: empty file (expected a header row)"))
        })?;
        Ok(Csv {
            path: path.to_string(),
            header,
            rows,
        })
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    pub fn require(&self, name: &str) -> Result<usize, DlmpError> {
        self.column(name).ok_or_else(|| {
            DlmpError::Input(format!(
                "{}:1: missing column '{name}' (header: {})",
                self.path,
                self.header.join(",")
            ))
        })
    }

    pub fn cell<'a>(
        &self,
        line: usize,
        row: &'a [String],
        col: usize,
        name: &str,
    ) -> Result<&'a str, DlmpError> {
        row.get(col)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                DlmpError::Input(format!("{}:{line}: missing value for '{name}'", self.path))
            })
    }

    /// An optional cell: None when the column is absent or the cell empty.
    pub fn optional<'a>(&self, row: &'a [String], col: Option<usize>) -> Option<&'a str> {
        col.and_then(|c| row.get(c))
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    pub fn number(
        &self,
        line: usize,
        row: &[String],
        col: usize,
        name: &str,
    ) -> Result<f64, DlmpError> {
        let s = self.cell(line, row, col, name)?;
        parse_number(s).ok_or_else(|| {
            DlmpError::Input(format!(
                "{}:{line}: {name} '{s}' is not a number",
                self.path
            ))
        })
    }

    pub fn optional_number(
        &self,
        line: usize,
        row: &[String],
        col: Option<usize>,
        name: &str,
    ) -> Result<Option<f64>, DlmpError> {
        match self.optional(row, col) {
            None => Ok(None),
            Some(s) => parse_number(s).map(Some).ok_or_else(|| {
                DlmpError::Input(format!(
                    "{}:{line}: {name} '{s}' is not a number",
                    self.path
                ))
            }),
        }
    }
}

/// A number, with `inf`/`none` for an infinite limit. NaN parses (and is
/// rejected later with the agent's name).
pub fn parse_number(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "infinity" | "none" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// Shortest representation that round-trips; `inf`/`-inf`/`nan` spelled out.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{v}")
    }
}
