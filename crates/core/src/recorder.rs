//! The recorder: what happened in an episode, as two tidy long tables.
//!
//! * **records** — one row per (grid step, market round, agent), written after
//!   every market round: `time_s, grid_step, market_round, agent, bus, price,
//!   quantity, reward`, then any extra columns the market
//!   ([`Market::record_extra`]) or the agent ([`Agent::record_extra`]) adds.
//! * **grid** — one row per grid step, written after `grid.step`:
//!   `time_s, grid_step, market_rounds, market_cleared, converged,
//!   total_power_kw, total_power_kvar, losses_kw, min_voltage_pu,
//!   max_voltage_pu`, then the extra columns of [`Grid::record_extra`] and
//!   [`Market::record_step_extra`].
//!
//! Conventions:
//! * `time_s` in both tables is the grid time at the *start* of the grid step,
//!   i.e. when the market ran and the agents acted (`grid.state().time_s`
//!   before `grid.step`), so the two tables join on `grid_step` and `time_s`.
//! * Steps and rounds are 0-based.
//! * Missing values (no dispatch for an agent, an extra column a module did not
//!   report for a row, an agent without a bus) are NaN / empty in memory, an
//!   empty cell in CSV and null in Parquet.
//! * An extra column named like a base column is renamed `extra_<name>`.
//!
//! Storage is columnar (plain `Vec`s, names dictionary-encoded), so recording
//! costs a few pushes per agent and round; `Recorder::disabled()` turns it off.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::{Agent, Error, Grid, Market, Result};

/// Values of one column, borrowed from a table.
#[derive(Debug, Clone, Copy)]
pub enum ColumnData<'a> {
    /// NaN means missing.
    Float(&'a [f64]),
    UInt(&'a [u64]),
    Bool(&'a [bool]),
    /// Dictionary-encoded text: row `r` is `dictionary[codes[r]]`; `""` means missing.
    Text { codes: &'a [u32], dictionary: &'a [String] },
}

/// One named column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    pub name: &'a str,
    pub data: ColumnData<'a>,
}

impl<'a> Column<'a> {
    pub fn len(&self) -> usize {
        match self.data {
            ColumnData::Float(v) => v.len(),
            ColumnData::UInt(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Text { codes, .. } => codes.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Row `row` as it is written to CSV (empty when missing).
    pub fn cell(&self, row: usize) -> String {
        match self.data {
            ColumnData::Float(v) => format_float(v[row]),
            ColumnData::UInt(v) => v[row].to_string(),
            ColumnData::Bool(v) => v[row].to_string(),
            ColumnData::Text { codes, dictionary } => dictionary[codes[row] as usize].clone(),
        }
    }
    pub fn as_float(&self) -> Option<&'a [f64]> {
        match self.data {
            ColumnData::Float(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_uint(&self) -> Option<&'a [u64]> {
        match self.data {
            ColumnData::UInt(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<&'a [bool]> {
        match self.data {
            ColumnData::Bool(v) => Some(v),
            _ => None,
        }
    }
    /// Text values, one per row (`""` where missing).
    pub fn text_values(&self) -> Option<Vec<&'a str>> {
        match self.data {
            ColumnData::Text { codes, dictionary } => {
                Some(codes.iter().map(|&c| dictionary[c as usize].as_str()).collect())
            }
            _ => None,
        }
    }
}

/// Shortest text that reads back to the same f64 (`{:?}` uses an exponent for
/// very large/small numbers); NaN (= missing) becomes an empty cell.
fn format_float(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        format!("{x:?}")
    }
}

/// A table of named, equally long columns (the records table or the grid table).
pub trait Table {
    fn n_rows(&self) -> usize;
    fn columns(&self) -> Vec<Column<'_>>;

    fn column_names(&self) -> Vec<String> {
        self.columns().iter().map(|c| c.name.to_string()).collect()
    }
    fn column(&self, name: &str) -> Option<Column<'_>> {
        self.columns().into_iter().find(|c| c.name == name)
    }

    /// Writes the table as CSV (header row, then one line per row).
    fn write_csv_to(&self, writer: &mut dyn Write) -> Result<()> {
        let columns = self.columns();
        let mut csv = csv::Writer::from_writer(writer);
        let out = |e: csv::Error| Error::Output(format!("writing CSV: {e}"));
        csv.write_record(columns.iter().map(|c| c.name)).map_err(out)?;
        for row in 0..self.n_rows() {
            for c in &columns {
                csv.write_field(c.cell(row)).map_err(out)?;
            }
            csv.write_record(None::<&[u8]>).map_err(out)?;
        }
        csv.flush()?;
        Ok(())
    }

    /// Writes the table to a CSV file (created or truncated).
    fn write_csv(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path)
            .map_err(|e| Error::Output(format!("{}: {e}", path.display())))?;
        let mut buffered = std::io::BufWriter::new(file);
        self.write_csv_to(&mut buffered)
            .map_err(|e| Error::Output(format!("{}: {e}", path.display())))?;
        buffered.flush().map_err(|e| Error::Output(format!("{}: {e}", path.display())))?;
        Ok(())
    }

    /// Writes the table to a Parquet file (Snappy-compressed; floats and
    /// integers as Float64/Int64 with nulls where missing, text as UTF-8).
    #[cfg(feature = "parquet")]
    fn write_parquet(&self, path: &Path) -> Result<()> {
        crate::parquet_out::write_parquet(&self.columns(), self.n_rows(), path)
    }
}

/// String equality without a libc `memcmp` call: names are short, and this
/// check runs for every recorded row (a `memcmp` call per row was measured at
/// more than half of the recording cost).
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Text interned once per distinct value (agent names, buses).
#[derive(Debug, Clone, Default)]
struct Dictionary {
    values: Vec<String>,
    index: HashMap<String, u32>,
}

impl Dictionary {
    fn code(&mut self, value: &str) -> u32 {
        if let Some(&c) = self.index.get(value) {
            return c;
        }
        let c = self.values.len() as u32;
        self.values.push(value.to_string());
        self.index.insert(value.to_string(), c);
        c
    }
}

/// Extra columns added by modules: filled with NaN where a row has no value.
#[derive(Debug, Clone, Default)]
struct ExtraColumns {
    names: Vec<String>,
    index: HashMap<String, usize>,
    values: Vec<Vec<f64>>,
    /// Keys as modules report them (before any `extra_` renaming).
    keys: Vec<String>,
    /// Row at which each column appeared, so a rollback removes it again.
    first_row: Vec<usize>,
}

impl ExtraColumns {
    /// Appends one row (`n_rows` rows exist before it) with the given values.
    fn push_row(&mut self, n_rows: usize, extras: &[(String, f64)], reserved: &[&str]) {
        for column in &mut self.values {
            column.push(f64::NAN);
        }
        for (name, value) in extras {
            let column = match self.index.get(name) {
                Some(&i) => i,
                None => {
                    let i = self.names.len();
                    let column_name = if reserved.contains(&name.as_str()) {
                        format!("extra_{name}")
                    } else {
                        name.clone()
                    };
                    self.names.push(column_name);
                    self.keys.push(name.clone());
                    self.first_row.push(n_rows);
                    self.index.insert(name.clone(), i);
                    self.values.push(vec![f64::NAN; n_rows + 1]);
                    i
                }
            };
            if let Some(last) = self.values[column].last_mut() {
                *last = *value;
            }
        }
    }

    fn truncate(&mut self, n_rows: usize) {
        while self.first_row.last().is_some_and(|&first| first >= n_rows) {
            self.first_row.pop();
            self.names.pop();
            self.values.pop();
            if let Some(key) = self.keys.pop() {
                self.index.remove(&key);
            }
        }
        for column in &mut self.values {
            column.truncate(n_rows);
        }
    }

    fn columns(&self) -> impl Iterator<Item = Column<'_>> {
        self.names
            .iter()
            .zip(&self.values)
            .map(|(name, values)| Column { name, data: ColumnData::Float(values) })
    }
}

const RECORD_BASE_COLUMNS: [&str; 8] =
    ["time_s", "grid_step", "market_round", "agent", "bus", "price", "quantity", "reward"];

const GRID_BASE_COLUMNS: [&str; 10] = [
    "time_s",
    "grid_step",
    "market_rounds",
    "market_cleared",
    "converged",
    "total_power_kw",
    "total_power_kvar",
    "losses_kw",
    "min_voltage_pu",
    "max_voltage_pu",
];

/// The records table: one row per (grid step, market round, agent).
#[derive(Debug, Clone, Default)]
pub struct RecordTable {
    pub time_s: Vec<f64>,
    pub grid_step: Vec<u64>,
    pub market_round: Vec<u64>,
    agent: Vec<u32>,
    bus: Vec<u32>,
    /// NaN where the market reported no dispatch for the agent.
    pub price: Vec<f64>,
    pub quantity: Vec<f64>,
    pub reward: Vec<f64>,
    names: Dictionary,
    extra: ExtraColumns,
}

impl RecordTable {
    /// Agent name of row `row`.
    pub fn agent(&self, row: usize) -> &str {
        &self.names.values[self.agent[row] as usize]
    }
    /// Bus of row `row` (`None` if the agent has none).
    pub fn bus(&self, row: usize) -> Option<&str> {
        let bus = &self.names.values[self.bus[row] as usize];
        (!bus.is_empty()).then_some(bus.as_str())
    }
    /// Row `row` as a [`Record`].
    pub fn row(&self, row: usize) -> Option<Record> {
        if row >= self.time_s.len() {
            return None;
        }
        let missing = |x: f64| (!x.is_nan()).then_some(x);
        Some(Record {
            time_s: self.time_s[row],
            grid_step: self.grid_step[row] as usize,
            market_round: self.market_round[row] as usize,
            agent: self.agent(row).to_string(),
            bus: self.bus(row).map(str::to_string),
            price: missing(self.price[row]),
            quantity: missing(self.quantity[row]),
            reward: self.reward[row],
            extra: self
                .extra
                .names
                .iter()
                .zip(&self.extra.values)
                .filter(|(_, v)| !v[row].is_nan())
                .map(|(n, v)| (n.clone(), v[row]))
                .collect(),
        })
    }
    pub fn rows(&self) -> impl Iterator<Item = Record> + '_ {
        (0..self.n_rows()).filter_map(|r| self.row(r))
    }
    /// Names of the extra columns, in order of first appearance.
    pub fn extra_names(&self) -> &[String] {
        &self.extra.names
    }

    fn truncate(&mut self, n: usize) {
        self.time_s.truncate(n);
        self.grid_step.truncate(n);
        self.market_round.truncate(n);
        self.agent.truncate(n);
        self.bus.truncate(n);
        self.price.truncate(n);
        self.quantity.truncate(n);
        self.reward.truncate(n);
        self.extra.truncate(n);
    }
}

impl Table for RecordTable {
    fn n_rows(&self) -> usize {
        self.time_s.len()
    }
    fn columns(&self) -> Vec<Column<'_>> {
        let text = |codes| ColumnData::Text { codes, dictionary: &self.names.values };
        let mut columns = vec![
            Column { name: "time_s", data: ColumnData::Float(&self.time_s) },
            Column { name: "grid_step", data: ColumnData::UInt(&self.grid_step) },
            Column { name: "market_round", data: ColumnData::UInt(&self.market_round) },
            Column { name: "agent", data: text(&self.agent) },
            Column { name: "bus", data: text(&self.bus) },
            Column { name: "price", data: ColumnData::Float(&self.price) },
            Column { name: "quantity", data: ColumnData::Float(&self.quantity) },
            Column { name: "reward", data: ColumnData::Float(&self.reward) },
        ];
        columns.extend(self.extra.columns());
        columns
    }
}

/// One row of the records table, owned (for tests and bindings).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub time_s: f64,
    pub grid_step: usize,
    pub market_round: usize,
    pub agent: String,
    pub bus: Option<String>,
    /// `None` when the market reported no dispatch for the agent.
    pub price: Option<f64>,
    pub quantity: Option<f64>,
    pub reward: f64,
    /// Extra columns with a value in this row.
    pub extra: Vec<(String, f64)>,
}

/// The grid table: one row per grid step.
#[derive(Debug, Clone, Default)]
pub struct GridTable {
    pub time_s: Vec<f64>,
    pub grid_step: Vec<u64>,
    pub market_rounds: Vec<u64>,
    /// False when the market hit `max_market_rounds` without clearing.
    pub market_cleared: Vec<bool>,
    pub converged: Vec<bool>,
    pub total_power_kw: Vec<f64>,
    pub total_power_kvar: Vec<f64>,
    pub losses_kw: Vec<f64>,
    /// NaN when the grid reports no bus voltages.
    pub min_voltage_pu: Vec<f64>,
    pub max_voltage_pu: Vec<f64>,
    extra: ExtraColumns,
}

impl GridTable {
    pub fn extra_names(&self) -> &[String] {
        &self.extra.names
    }
    /// The values of extra column `name` (NaN where not reported).
    pub fn extra(&self, name: &str) -> Option<&[f64]> {
        let i = self.extra.names.iter().position(|n| n == name)?;
        Some(&self.extra.values[i])
    }
    fn truncate(&mut self, n: usize) {
        self.time_s.truncate(n);
        self.grid_step.truncate(n);
        self.market_rounds.truncate(n);
        self.market_cleared.truncate(n);
        self.converged.truncate(n);
        self.total_power_kw.truncate(n);
        self.total_power_kvar.truncate(n);
        self.losses_kw.truncate(n);
        self.min_voltage_pu.truncate(n);
        self.max_voltage_pu.truncate(n);
        self.extra.truncate(n);
    }
}

impl Table for GridTable {
    fn n_rows(&self) -> usize {
        self.time_s.len()
    }
    fn columns(&self) -> Vec<Column<'_>> {
        let mut columns = vec![
            Column { name: "time_s", data: ColumnData::Float(&self.time_s) },
            Column { name: "grid_step", data: ColumnData::UInt(&self.grid_step) },
            Column { name: "market_rounds", data: ColumnData::UInt(&self.market_rounds) },
            Column { name: "market_cleared", data: ColumnData::Bool(&self.market_cleared) },
            Column { name: "converged", data: ColumnData::Bool(&self.converged) },
            Column { name: "total_power_kw", data: ColumnData::Float(&self.total_power_kw) },
            Column { name: "total_power_kvar", data: ColumnData::Float(&self.total_power_kvar) },
            Column { name: "losses_kw", data: ColumnData::Float(&self.losses_kw) },
            Column { name: "min_voltage_pu", data: ColumnData::Float(&self.min_voltage_pu) },
            Column { name: "max_voltage_pu", data: ColumnData::Float(&self.max_voltage_pu) },
        ];
        columns.extend(self.extra.columns());
        columns
    }
}

/// Table lengths at some point, to roll a failed step back (see [`Recorder::mark`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderMark {
    records: usize,
    grid: usize,
}

/// Collects the records and grid tables during an episode. The environment
/// owns one (`Environment::recorder`) and fills it; it is cleared by
/// `Environment::reset`.
#[derive(Debug, Clone)]
pub struct Recorder {
    enabled: bool,
    records: RecordTable,
    grid: GridTable,
    /// Per agent index: (name code, bus code), checked against the agent each
    /// row so that a replaced agent is recorded under its own name.
    agent_codes: Vec<(u32, u32)>,
    scratch: Vec<(String, f64)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// A recorder that records.
    pub fn new() -> Self {
        Recorder {
            enabled: true,
            records: RecordTable::default(),
            grid: GridTable::default(),
            agent_codes: Vec::new(),
            scratch: Vec::new(),
        }
    }
    /// A recorder that records nothing (for overhead measurements).
    pub fn disabled() -> Self {
        Recorder { enabled: false, ..Recorder::new() }
    }
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }
    /// Switches recording on or off; rows recorded so far are kept.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }
    /// Removes every row (keeps the on/off setting).
    pub fn clear(&mut self) {
        self.records = RecordTable::default();
        self.grid = GridTable::default();
        self.agent_codes.clear();
    }
    pub fn records(&self) -> &RecordTable {
        &self.records
    }
    pub fn grid(&self) -> &GridTable {
        &self.grid
    }

    /// The current table lengths; [`Recorder::rollback`] returns to them.
    pub fn mark(&self) -> RecorderMark {
        RecorderMark { records: self.records.n_rows(), grid: self.grid.n_rows() }
    }
    /// Drops rows recorded after `mark` (the environment does this when a step fails).
    pub fn rollback(&mut self, mark: RecorderMark) {
        self.records.truncate(mark.records);
        self.grid.truncate(mark.grid);
    }

    fn agent_code(&mut self, index: usize, agent: &dyn Agent) -> (u32, u32) {
        let dictionary = &mut self.records.names;
        if let Some(&(name, bus)) = self.agent_codes.get(index) {
            let same_name = same_text(&dictionary.values[name as usize], agent.name());
            let same_bus = same_text(&dictionary.values[bus as usize], agent.bus().unwrap_or(""));
            if same_name && same_bus {
                return (name, bus);
            }
        }
        let codes = (dictionary.code(agent.name()), dictionary.code(agent.bus().unwrap_or("")));
        if self.agent_codes.len() <= index {
            self.agent_codes.resize(index + 1, (0, 0));
        }
        self.agent_codes[index] = codes;
        codes
    }

    /// Records one row per agent after a market round. `time_s` is the grid
    /// time at the start of the grid step.
    pub fn record_market_round(
        &mut self,
        time_s: f64,
        grid_step: usize,
        market_round: usize,
        market: &dyn Market,
        agents: &[Box<dyn Agent>],
    ) {
        if !self.enabled {
            return;
        }
        for (index, agent) in agents.iter().enumerate() {
            let (name, bus) = self.agent_code(index, agent.as_ref());
            let dispatch = market.dispatch(index);
            let records = &mut self.records;
            let n_rows = records.time_s.len();
            records.time_s.push(time_s);
            records.grid_step.push(grid_step as u64);
            records.market_round.push(market_round as u64);
            records.agent.push(name);
            records.bus.push(bus);
            records.price.push(dispatch.map_or(f64::NAN, |d| d.price));
            records.quantity.push(dispatch.map_or(f64::NAN, |d| d.quantity));
            records.reward.push(agent.reward());
            self.scratch.clear();
            market.record_extra(index, &mut self.scratch);
            agent.record_extra(&mut self.scratch);
            if !self.scratch.is_empty() || !records.extra.values.is_empty() {
                records.extra.push_row(n_rows, &self.scratch, &RECORD_BASE_COLUMNS);
            }
        }
    }

    /// Records the grid table's row of a completed grid step.
    pub fn record_grid_step(
        &mut self,
        time_s: f64,
        grid_step: usize,
        market_rounds: usize,
        market_cleared: bool,
        grid: &dyn Grid,
        market: &dyn Market,
    ) {
        if !self.enabled {
            return;
        }
        let state = grid.state();
        let table = &mut self.grid;
        let n_rows = table.time_s.len();
        let (mut v_min, mut v_max) = (f64::NAN, f64::NAN);
        for &v in &state.bus_voltage_pu {
            // f64::min/max ignore NaN operands, so NaN means "no voltages".
            v_min = v_min.min(v);
            v_max = v_max.max(v);
        }
        table.time_s.push(time_s);
        table.grid_step.push(grid_step as u64);
        table.market_rounds.push(market_rounds as u64);
        table.market_cleared.push(market_cleared);
        table.converged.push(state.converged);
        table.total_power_kw.push(state.total_power_kw);
        table.total_power_kvar.push(state.total_power_kvar);
        table.losses_kw.push(state.losses_kw);
        table.min_voltage_pu.push(v_min);
        table.max_voltage_pu.push(v_max);
        self.scratch.clear();
        grid.record_extra(&mut self.scratch);
        market.record_step_extra(&mut self.scratch);
        if !self.scratch.is_empty() || !table.extra.values.is_empty() {
            table.extra.push_row(n_rows, &self.scratch, &GRID_BASE_COLUMNS);
        }
    }

    /// Writes `records.csv` and `grid.csv` into `dir` (created if needed) and
    /// returns the paths written.
    pub fn write_csv_dir(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Output(format!("{}: {e}", dir.display())))?;
        let records = dir.join("records.csv");
        let grid = dir.join("grid.csv");
        self.records.write_csv(&records)?;
        self.grid.write_csv(&grid)?;
        Ok(vec![records, grid])
    }

    /// Writes `records.parquet` and `grid.parquet` into `dir` (created if
    /// needed) and returns the paths written.
    #[cfg(feature = "parquet")]
    pub fn write_parquet_dir(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Output(format!("{}: {e}", dir.display())))?;
        let records = dir.join("records.parquet");
        let grid = dir.join("grid.parquet");
        self.records.write_parquet(&records)?;
        self.grid.write_parquet(&grid)?;
        Ok(vec![records, grid])
    }
}
