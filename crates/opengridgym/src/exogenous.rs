//! Exogenous time series: data files replayed onto grid elements, step by
//! step (the OpenGridGym paper's exogenous agents, Fig. 2). Each
//! `[[timeseries]]` entry of a scenario becomes one [`ExogenousAgent`]: an
//! agent without decisions whose grid actions come from one column of a CSV
//! file.
//!
//! Timing: row `i` (0-based, after the header) holds the value for the episode
//! time `[i·interval, (i+1)·interval)`. The grid step that starts at time `t`
//! (the time agents act, `GridState::time_s`) uses
//! * `interpolation = "hold"` (default): row `floor(t / interval)`;
//! * `interpolation = "linear"`: rows `i` and `i + 1` weighted by the
//!   fraction of the interval elapsed (row `i` is exact at `t = i·interval`).
//!
//! With hourly rows and hourly steps this is OpenDSS's daily mode on an
//! hourly load shape: step `k` (solved at hour `k + 1`) uses point `k + 1`
//! (1-based), i.e. row `k`.
//!
//! Data files are CSV (a header row names the columns) or, with the
//! `parquet` feature (the `ogg` binary has it), Parquet (`.parquet`; numeric
//! columns, no nulls).
//!
//! Past the last row (`past_end`): `"error"` (default) — the scenario is
//! checked when it is built (its `steps` must be covered) and a step past the
//! end fails naming the file; `"hold"` — the last row is kept; `"wrap"` — the
//! rows repeat (a daily profile over a week).

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use ogg_core::{Agent, Error, GridAction, MarketAction, View};

/// How a step between two rows is valued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    Hold,
    Linear,
}

/// What happens after the last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastEnd {
    Error,
    Hold,
    Wrap,
}

/// One column of a data file, on a fixed time grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The file (and column), for messages.
    pub label: String,
    /// Shared: environments are cloned per snapshot and per vectorised copy.
    pub values: Arc<[f64]>,
    pub interval_s: f64,
    pub interpolation: Interpolation,
    pub past_end: PastEnd,
}

impl Series {
    /// Row index for `row` under the past-end rule.
    fn row(&self, row: usize, time_s: f64) -> Result<usize, String> {
        let n = self.values.len();
        if n == 0 {
            return Err(format!("{}: no data rows", self.label));
        }
        if row < n {
            return Ok(row);
        }
        match self.past_end {
            PastEnd::Hold => Ok(n - 1),
            PastEnd::Wrap => Ok(row % n),
            PastEnd::Error => Err(format!(
                "{}: time {time_s} s needs data row {} but the file has {n} rows (covering {} s at {} s per row; \
                 set `past_end = \"hold\"` or `\"wrap\"` to go further)",
                self.label,
                row + 1,
                n as f64 * self.interval_s,
                self.interval_s
            )),
        }
    }

    /// The value at episode time `time_s` (see the module docs).
    pub fn value_at(&self, time_s: f64) -> Result<f64, String> {
        if !(self.interval_s.is_finite() && self.interval_s > 0.0) {
            return Err(format!("{}: interval {} s must be a finite number > 0", self.label, self.interval_s));
        }
        // A tiny tolerance so that 3·1200 s / 3600 s lands on row 1, not 0.
        let position = (time_s / self.interval_s).max(0.0);
        let i = (position + 1e-9).floor() as usize;
        let here = self.values[self.row(i, time_s)?];
        match self.interpolation {
            Interpolation::Hold => Ok(here),
            Interpolation::Linear => {
                let w = (position - i as f64).max(0.0);
                if w < 1e-9 {
                    return Ok(here);
                }
                let next = self.values[self.row(i + 1, time_s)?];
                Ok(here + w * (next - here))
            }
        }
    }

    /// Checks that grid steps `0..steps` of `step_s` seconds are covered
    /// (only with `past_end = "error"`).
    pub fn check_covers(&self, steps: usize, step_s: f64) -> Result<(), String> {
        if self.past_end != PastEnd::Error || steps == 0 {
            return Ok(());
        }
        let last = (steps - 1) as f64 * step_s;
        self.value_at(last).map(|_| ()).map_err(|_| {
            let needed = match self.interpolation {
                Interpolation::Hold => (last / self.interval_s + 1e-9).floor() as usize + 1,
                Interpolation::Linear => (last / self.interval_s - 1e-9).ceil() as usize + 1,
            };
            format!(
                "{}: {} data rows, but the scenario's {steps} steps of {step_s} s need {needed} at {} s per row \
                 (or set `past_end = \"hold\"` / `\"wrap\"`)",
                self.label,
                self.values.len(),
                self.interval_s
            )
        })
    }
}

/// Reads one numeric column of a CSV text (header row first; `#` starts a
/// comment line). `column = None` takes the only column, or fails listing
/// them. Every problem names `label:line`.
pub fn read_csv_column(text: &str, label: &str, column: Option<&str>) -> Result<(String, Vec<f64>), String> {
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| csv_error(label, &e))?.clone();
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(format!("{label}: no header row (the first line must name the columns, e.g. `hour,kw`)"));
    }
    let names: Vec<&str> = headers.iter().collect();
    let index = choose_column(label, &names, column)?;
    let column_name = names[index].to_string();
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(label, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = record.get(index).unwrap_or("");
        if cell.is_empty() {
            return Err(format!("{label}:{line}: column `{column_name}`: empty value"));
        }
        match cell.parse::<f64>() {
            Ok(x) if x.is_finite() => values.push(x),
            _ => return Err(format!("{label}:{line}: column `{column_name}`: `{cell}` is not a finite number")),
        }
    }
    if values.is_empty() {
        return Err(format!("{label}: column `{column_name}` has no data rows"));
    }
    Ok((column_name, values))
}

/// The index of `column` among `names` (case-insensitive), or of the only column.
fn choose_column(label: &str, names: &[&str], column: Option<&str>) -> Result<usize, String> {
    match column {
        Some(name) => names
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("{label}: no column `{name}` (columns: {})", names.join(", "))),
        None if names.len() == 1 => Ok(0),
        None => Err(format!(
            "{label}: {} columns ({}); say which one with `column = \"NAME\"`",
            names.len(),
            names.join(", ")
        )),
    }
}

fn csv_error(label: &str, e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            format!("{label}:{line}: {len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            format!("{label}:{line}: not valid UTF-8 text")
        }
        _ => format!("{label}: {e}"),
    }
}

/// Reads a data file: Parquet for `.parquet` (with the `parquet` feature),
/// else CSV.
pub fn read_data_file(path: &Path, column: Option<&str>) -> Result<(String, Vec<f64>), String> {
    let label = path.display().to_string();
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        #[cfg(feature = "parquet")]
        return read_parquet_column(path, &label, column);
        #[cfg(not(feature = "parquet"))]
        return Err(format!("{label}: this build has no Parquet support (build with the `parquet` feature, as `ogg` is); use CSV"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{label}: {e}"))?;
    read_csv_column(&text, &label, column)
}

/// Reads one numeric column (Float64/32, Int64/32, UInt64/32) of a Parquet
/// file; a null or non-finite value is an error naming its data row (1-based).
#[cfg(feature = "parquet")]
pub fn read_parquet_column(path: &Path, label: &str, column: Option<&str>) -> Result<(String, Vec<f64>), String> {
    use arrow_array::{Array, Float32Array, Float64Array, Int32Array, Int64Array, UInt32Array, UInt64Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let file = std::fs::File::open(path).map_err(|e| format!("{label}: {e}"))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("{label}: not a readable Parquet file: {e}"))?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let index = choose_column(label, &names, column)?;
    let name = names[index].to_string();
    let reader = builder.build().map_err(|e| format!("{label}: {e}"))?;
    let mut values = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("{label}: {e}"))?;
        let array = batch.column(index);
        let first_row = values.len();
        let value = |i: usize| -> Option<f64> {
            let any = array.as_any();
            if let Some(a) = any.downcast_ref::<Float64Array>() {
                Some(a.value(i))
            } else if let Some(a) = any.downcast_ref::<Float32Array>() {
                Some(f64::from(a.value(i)))
            } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                Some(a.value(i) as f64)
            } else if let Some(a) = any.downcast_ref::<Int32Array>() {
                Some(f64::from(a.value(i)))
            } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
                Some(a.value(i) as f64)
            } else {
                any.downcast_ref::<UInt32Array>().map(|a| f64::from(a.value(i)))
            }
        };
        for i in 0..array.len() {
            let row = first_row + i + 1;
            if array.is_null(i) {
                return Err(format!("{label}: row {row}: column `{name}`: missing value (null)"));
            }
            match value(i) {
                Some(x) if x.is_finite() => values.push(x),
                Some(x) => return Err(format!("{label}: row {row}: column `{name}`: {x} is not a finite number")),
                None => return Err(format!("{label}: column `{name}` holds {}, not numbers", array.data_type())),
            }
        }
    }
    if values.is_empty() {
        return Err(format!("{label}: column `{name}` has no data rows"));
    }
    Ok((name, values))
}

/// What a series value means for one element.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `ScaleLoad`: multiplier of the load's nominal demand (kW and kvar).
    LoadMultiplier(String),
    /// `SetLoad`: kW, keeping the load's power factor.
    LoadKw(String),
    /// `SetGeneration`: kW of a generator, or a PV system's cap (curtailment).
    GenerationKw(String),
    /// `SetStorage`: kW discharged (> 0) or charged (< 0).
    StorageKw(String),
    /// A PV system's irradiance, kW/m² (`ogg_grid::grid::pv_irradiance_action`).
    PvIrradiance(String),
}

impl Target {
    fn action(&self, value: f64) -> GridAction {
        match self {
            Target::LoadMultiplier(element) => GridAction::ScaleLoad { element: element.clone(), multiplier: value },
            Target::LoadKw(element) => GridAction::SetLoad { element: element.clone(), kw: value, kvar: None },
            Target::GenerationKw(element) => {
                GridAction::SetGeneration { element: element.clone(), kw: Some(value), kvar: None, pf: None }
            }
            Target::StorageKw(element) => GridAction::SetStorage { element: element.clone(), kw: value, kvar: None },
            Target::PvIrradiance(element) => ogg_grid::grid::pv_irradiance_action(element, value),
        }
    }
}

/// An agent without decisions: every grid step it sends the series' value
/// at the step's start time to each of its targets; it takes no part in the
/// market. Its recorder rows carry the value as `series_value`.
#[derive(Debug, Clone)]
pub struct ExogenousAgent {
    name: String,
    series: Series,
    targets: Vec<Target>,
    value: f64,
    actions: Vec<GridAction>,
}

impl ExogenousAgent {
    pub fn new(name: impl Into<String>, series: Series, targets: Vec<Target>) -> Self {
        ExogenousAgent { name: name.into(), series, targets, value: f64::NAN, actions: Vec::new() }
    }
    pub fn series(&self) -> &Series {
        &self.series
    }
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
}

impl ExogenousAgent {
    /// The value at the start of the present grid step.
    fn update(&mut self, view: &View) -> ogg_core::Result<()> {
        let time_s = match view.grid {
            Some(grid) => grid.state().time_s,
            None => view.grid_step as f64 * self.series.interval_s,
        };
        self.value = self.series.value_at(time_s).map_err(|m| Error::invalid(&self.name, m))?;
        Ok(())
    }

    /// The value of the present grid step (NaN before the first).
    pub fn value(&self) -> f64 {
        self.value
    }
}

impl Agent for ExogenousAgent {
    fn name(&self) -> &str {
        &self.name
    }
    fn reset(&mut self, _view: &View) -> ogg_core::Result<()> {
        self.value = f64::NAN;
        self.actions.clear();
        Ok(())
    }
    /// Reads the step's value already here, so that the market rounds'
    /// records carry the value of the step they belong to.
    fn set_market_actions(&mut self, view: &View) -> ogg_core::Result<()> {
        self.update(view)
    }
    fn set_grid_actions(&mut self, view: &View) -> ogg_core::Result<()> {
        self.update(view)?;
        self.actions.clear();
        self.actions.extend(self.targets.iter().map(|t| t.action(self.value)));
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &[]
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.actions
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("series_value".into(), self.value));
    }
    fn clone_box(&self) -> Box<dyn Agent> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64], interpolation: Interpolation, past_end: PastEnd) -> Series {
        Series { label: "d.csv".into(), values: values.into(), interval_s: 3600.0, interpolation, past_end }
    }

    #[test]
    fn hold_linear_and_past_end_rules() {
        let s = series(&[1.0, 2.0, 4.0], Interpolation::Hold, PastEnd::Error);
        assert_eq!(s.value_at(0.0), Ok(1.0));
        assert_eq!(s.value_at(3599.0), Ok(1.0));
        assert_eq!(s.value_at(3600.0), Ok(2.0));
        assert_eq!(s.value_at(3.0 * 1200.0), Ok(2.0));
        assert!(s.value_at(3.0 * 3600.0).unwrap_err().contains("needs data row 4 but the file has 3 rows"));
        assert!(s.check_covers(3, 3600.0).is_ok());
        assert!(s.check_covers(4, 3600.0).unwrap_err().contains("3 data rows, but the scenario's 4 steps of 3600 s need 4"));
        let l = series(&[1.0, 2.0, 4.0], Interpolation::Linear, PastEnd::Error);
        assert_eq!(l.value_at(1800.0), Ok(1.5));
        assert_eq!(l.value_at(5400.0), Ok(3.0));
        assert_eq!(l.value_at(7200.0), Ok(4.0));
        assert!(l.value_at(9000.0).is_err());
        let h = series(&[1.0, 2.0, 4.0], Interpolation::Hold, PastEnd::Hold);
        assert_eq!(h.value_at(10.0 * 3600.0), Ok(4.0));
        let w = series(&[1.0, 2.0, 4.0], Interpolation::Linear, PastEnd::Wrap);
        assert_eq!(w.value_at(4.0 * 3600.0), Ok(2.0));
        // Between the last row and the first again.
        assert_eq!(w.value_at(2.5 * 3600.0), Ok(2.5));
        // Hand-built series without rows or with a bad interval are errors, not panics.
        assert!(series(&[], Interpolation::Hold, PastEnd::Hold).value_at(0.0).unwrap_err().contains("no data rows"));
        let mut zero = series(&[1.0], Interpolation::Hold, PastEnd::Hold);
        zero.interval_s = 0.0;
        assert!(zero.value_at(0.0).is_err());
    }

    #[test]
    fn csv_errors_name_file_line_and_column() {
        let ok = "hour,kw\n# comment\n1, 0.5\n2,0.75\n";
        assert_eq!(read_csv_column(ok, "d.csv", Some("KW")), Ok(("kw".into(), vec![0.5, 0.75])));
        assert!(read_csv_column(ok, "d.csv", None).unwrap_err().contains("2 columns (hour, kw)"));
        assert!(read_csv_column(ok, "d.csv", Some("kvar")).unwrap_err().contains("d.csv: no column `kvar` (columns: hour, kw)"));
        let bad = "hour,kw\n1,0.5\n2,abc\n";
        assert_eq!(read_csv_column(bad, "d.csv", Some("kw")).unwrap_err(), "d.csv:3: column `kw`: `abc` is not a finite number");
        let short = "hour,kw\n1,0.5\n2\n";
        assert_eq!(read_csv_column(short, "d.csv", Some("kw")).unwrap_err(), "d.csv:3: 1 fields where the header has 2");
        let empty = "hour,kw\n1,\n";
        assert_eq!(read_csv_column(empty, "d.csv", Some("kw")).unwrap_err(), "d.csv:2: column `kw`: empty value");
        assert!(read_csv_column("kw\n", "d.csv", None).unwrap_err().contains("no data rows"));
        assert!(read_csv_column("kw\nNaN\n", "d.csv", None).unwrap_err().contains("d.csv:2"));
    }

    #[cfg(not(feature = "parquet"))]
    #[test]
    fn parquet_needs_the_feature() {
        let e = read_data_file(Path::new("x.parquet"), None).unwrap_err();
        assert!(e.contains("x.parquet: this build has no Parquet support"), "{e}");
    }
}
