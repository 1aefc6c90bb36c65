//! Strict, span-aware reading of TOML tables (for scenario files).
//!
//! A [`Section`] wraps one table of a parsed document. Each typed getter marks
//! its key as known; [`Section::finish`] then rejects any key that was never
//! asked for. Every error is a [`ScenarioError`] naming the file, the line and
//! column, and the full key (`agents[2].profile`).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{Item, TableLike, Value};

/// A scenario that could not be read: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The scenario file, or `built-in scenario 'NAME'`.
    pub file: String,
    /// 1-based line and column, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ScenarioError {
    pub fn new(file: impl Into<String>, message: impl Into<String>) -> Self {
        ScenarioError { file: file.into(), line: None, column: None, message: message.into() }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The text being read, for turning byte offsets into lines, and the folder
/// relative file names are resolved against.
#[derive(Debug, Clone)]
pub struct Source {
    pub label: String,
    pub text: String,
    pub base_dir: Option<PathBuf>,
}

impl Source {
    /// 1-based (line, column) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ScenarioError {
        let mut error = ScenarioError::new(&self.label, message);
        if let Some(span) = span {
            let (line, column) = self.position(span.start);
            error.line = Some(line);
            error.column = Some(column);
        }
        error
    }
}

type Result<T> = std::result::Result<T, ScenarioError>;

/// One table of a scenario file (see the module docs).
pub struct Section<'a> {
    source: &'a Source,
    /// Dotted path of the table (`""` for the document, `grid`, `agents[1]`).
    path: String,
    table: &'a dyn TableLike,
    span: Option<Range<usize>>,
    known: Vec<&'static str>,
}

impl<'a> Section<'a> {
    pub fn new(source: &'a Source, path: impl Into<String>, table: &'a dyn TableLike, span: Option<Range<usize>>) -> Self {
        Section { source, path: path.into(), table, span, known: Vec::new() }
    }

    pub fn source(&self) -> &'a Source {
        self.source
    }
    /// Dotted path of this table (`""` for the document).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// `path.key`, as errors name it.
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn lookup(&mut self, key: &'static str) -> Option<(Option<Range<usize>>, &'a Item)> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        let table: &'a dyn TableLike = self.table;
        let (k, item) = table.get_key_value(key)?;
        if item.is_none() {
            return None;
        }
        Some((k.span(), item))
    }

    /// Whether `key` is present (and marks it as known).
    pub fn has(&mut self, key: &'static str) -> bool {
        self.lookup(key).is_some()
    }

    /// An error at this table's header (or the document start).
    pub fn error(&self, message: impl Into<String>) -> ScenarioError {
        self.source.error(self.span.clone(), message)
    }
    /// An error at `key`'s value (or the table when absent).
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        let span = self.table.get(key).and_then(Item::span).or_else(|| self.span.clone());
        self.source.error(span, message)
    }

    fn wrong_type(&self, key: &str, expected: &str, item: &Item) -> ScenarioError {
        let found = describe(item);
        self.source.error(item.span(), format!("`{}` must be {expected}, found {found}", self.key_path(key)))
    }

    pub fn string(&mut self, key: &'static str) -> Result<Option<String>> {
        let Some((_, item)) = self.lookup(key) else { return Ok(None) };
        match item.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(self.wrong_type(key, "a string", item)),
        }
    }

    pub fn required_string(&mut self, key: &'static str) -> Result<String> {
        match self.string(key)? {
            Some(s) => Ok(s),
            None => Err(self.error(format!("`{}` is missing", self.key_path(key)))),
        }
    }

    /// A number (integer or float), which must be finite.
    pub fn float(&mut self, key: &'static str) -> Result<Option<f64>> {
        let Some((_, item)) = self.lookup(key) else { return Ok(None) };
        let value = match (item.as_float(), item.as_integer()) {
            (Some(x), _) => x,
            (None, Some(i)) => i as f64,
            _ => return Err(self.wrong_type(key, "a number", item)),
        };
        if !value.is_finite() {
            return Err(self.wrong_type(key, "a finite number", item));
        }
        Ok(Some(value))
    }

    /// A non-negative integer.
    pub fn uint(&mut self, key: &'static str) -> Result<Option<u64>> {
        let Some((_, item)) = self.lookup(key) else { return Ok(None) };
        match item.as_integer() {
            Some(i) if i >= 0 => Ok(Some(i as u64)),
            _ => Err(self.wrong_type(key, "a non-negative integer", item)),
        }
    }

    pub fn boolean(&mut self, key: &'static str) -> Result<Option<bool>> {
        let Some((_, item)) = self.lookup(key) else { return Ok(None) };
        match item.as_bool() {
            Some(b) => Ok(Some(b)),
            None => Err(self.wrong_type(key, "true or false", item)),
        }
    }

    /// An array of finite numbers.
    pub fn float_list(&mut self, key: &'static str) -> Result<Option<Vec<f64>>> {
        let Some((_, item)) = self.lookup(key) else { return Ok(None) };
        let Some(array) = item.as_array() else {
            return Err(self.wrong_type(key, "an array of numbers", item));
        };
        let mut values = Vec::with_capacity(array.len());
        for (i, value) in array.iter().enumerate() {
            let x = match value {
                Value::Float(f) => *f.value(),
                Value::Integer(n) => *n.value() as f64,
                other => {
                    return Err(self.source.error(
                        other.span(),
                        format!("`{}[{i}]` must be a number, found {}", self.key_path(key), describe_value(other)),
                    ))
                }
            };
            if !x.is_finite() {
                return Err(self.source.error(
                    value.span(),
                    format!("`{}[{i}]` must be a finite number", self.key_path(key)),
                ));
            }
            values.push(x);
        }
        Ok(Some(values))
    }

    /// An array of strings.
    pub fn string_list(&mut self, key: &'static str) -> Result<Option<Vec<String>>> {
        let Some((_, item)) = self.lookup(key) else { return Ok(None) };
        let Some(array) = item.as_array() else {
            return Err(self.wrong_type(key, "an array of strings", item));
        };
        let mut values = Vec::with_capacity(array.len());
        for (i, value) in array.iter().enumerate() {
            match value.as_str() {
                Some(text) => values.push(text.to_string()),
                None => {
                    return Err(self.source.error(
                        value.span(),
                        format!("`{}[{i}]` must be a string, found {}", self.key_path(key), describe_value(value)),
                    ))
                }
            }
        }
        Ok(Some(values))
    }

    /// A sub-table (`[grid]` or `grid = { .. }`).
    pub fn table(&mut self, key: &'static str) -> Result<Option<Section<'a>>> {
        let Some((key_span, item)) = self.lookup(key) else { return Ok(None) };
        match item.as_table_like() {
            Some(table) => {
                let span = item.span().or(key_span);
                Ok(Some(Section::new(self.source, self.key_path(key), table, span)))
            }
            None => Err(self.wrong_type(key, "a table", item)),
        }
    }

    /// A list of tables (`[[agents]]` or `agents = [{ .. }, ..]`), each named `key[i]`.
    pub fn table_list(&mut self, key: &'static str) -> Result<Vec<Section<'a>>> {
        let Some((key_span, item)) = self.lookup(key) else { return Ok(Vec::new()) };
        let path = self.key_path(key);
        if let Some(tables) = item.as_array_of_tables() {
            return Ok(tables
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let table: &'a dyn TableLike = t;
                    Section::new(self.source, format!("{path}[{i}]"), table, t.span().or(key_span.clone()))
                })
                .collect());
        }
        if let Some(array) = item.as_array() {
            let mut sections = Vec::with_capacity(array.len());
            for (i, value) in array.iter().enumerate() {
                match value.as_inline_table() {
                    Some(t) => {
                        let table: &'a dyn TableLike = t;
                        sections.push(Section::new(self.source, format!("{path}[{i}]"), table, value.span()))
                    }
                    None => {
                        return Err(self.source.error(
                            value.span(),
                            format!("`{path}[{i}]` must be a table, found {}", describe_value(value)),
                        ))
                    }
                }
            }
            return Ok(sections);
        }
        Err(self.wrong_type(key, "a list of tables ([[...]])", item))
    }

    /// A file name, resolved against the scenario's folder, which must exist.
    pub fn existing_file(&mut self, key: &'static str) -> Result<Option<PathBuf>> {
        let Some(name) = self.string(key)? else { return Ok(None) };
        let path = match &self.source.base_dir {
            Some(dir) if Path::new(&name).is_relative() => dir.join(&name),
            _ => PathBuf::from(&name),
        };
        if !path.is_file() {
            return Err(self.error_at(
                key,
                format!("`{}`: file not found: {}", self.key_path(key), path.display()),
            ));
        }
        Ok(Some(path))
    }

    /// Rejects every key that no getter asked for (first one in document order).
    pub fn finish(&self) -> Result<()> {
        for (key, _) in self.table.iter() {
            if self.known.contains(&key) {
                continue;
            }
            let span = self.table.get_key_value(key).and_then(|(k, _)| k.span());
            let mut known: Vec<&str> = self.known.clone();
            known.sort_unstable();
            let where_ = if self.path.is_empty() { "at the top level".to_string() } else { format!("in [{}]", self.path) };
            return Err(self.source.error(
                span,
                format!("unknown key `{}` {where_} (known keys: {})", self.key_path(key), known.join(", ")),
            ));
        }
        Ok(())
    }
}

fn describe(item: &Item) -> String {
    match item {
        Item::Value(v) => describe_value(v),
        other => other.type_name().to_string(),
    }
}

fn describe_value(value: &Value) -> String {
    let text = value.to_string();
    let text = text.trim();
    let shown = if text.chars().count() > 40 { format!("{}…", text.chars().take(40).collect::<String>()) } else { text.to_string() };
    format!("{} {shown}", value.type_name())
}
