//! Scenarios: a whole simulation described in one TOML file.
//!
//! ```toml
//! name = "my-day"                 # default: the file name
//! description = "IEEE 34, one scripted agent per load, one day"
//! steps = 24                      # grid steps (default 24)
//! step_s = 3600                   # seconds per grid step (default 3600)
//! seed = 42                       # optional: seeds every module (same seed, same results)
//! max_market_rounds = 100         # market rounds per grid step at most (default 100)
//! record = true                   # keep the records (default true)
//!
//! [grid]
//! type = "feeder"                 # "do-nothing" | "feeder"
//! feeder = "ieee34"               # a built-in feeder, or:
//! # path = "my_feeder.dss"        # an OpenDSS script, relative to this file
//!
//! [market]
//! type = "do-nothing"             # (more market types to come)
//!
//! [[agents]]                      # one scripted agent for one load
//! type = "scripted-load"
//! element = "s860"                # the load, as the grid names it
//! name = "s860-agent"             # default: the element
//! profile = [0.6, 0.55, 0.5, ...] # load multipliers, one per profile interval
//! profile_interval_s = 3600       # default: one entry per grid step
//! noise = 0.05                    # × (1 + noise·u), u uniform in [-1, 1)
//!
//! [[agents]]                      # one such agent per load of the feeder
//! type = "scripted-load"
//! per_load = true
//! name_prefix = "load-"           # agent names: prefix + load name
//! profile_file = "profile.csv"    # numbers, one per line (or comma-separated)
//!
//! [[agents]]
//! type = "do-nothing"
//! name = "idle"                   # with count = N: idle0 … idle{N-1}
//! count = 10
//!
//! [[timeseries]]                  # an exogenous agent replaying one column of a CSV file
//! file = "data/load.csv"          # CSV (a header row names the columns) or .parquet; relative to this file
//! column = "mult"                 # default: the file's only column
//! elements = ["load.s860", "Load.s844"]   # loads (`Load.` optional), Generator./PVSystem./Storage. elements
//! # all_loads = true              # instead of `elements`: every load of the feeder
//! quantity = "multiplier"         # loads: "multiplier" (ScaleLoad) or "kw" (SetLoad, power factor kept);
//!                                 # generators, storage: "kw" (SetGeneration, SetStorage);
//!                                 # PV: "irradiance" (kW/m², as its shape would) or "kw" (a cap: curtailment)
//! interval = "1h"                 # time per row: "900s", "15min", "1h" (default: step_s)
//! interpolation = "hold"          # "hold" (row floor(t / interval)) or "linear"
//! past_end = "error"              # after the last row: "error" (checked against `steps`), "hold", "wrap"
//! name = "load-data"              # agent name (default: timeseries<i>)
//!
//! [monitors]                      # per-step columns of the grid table (feeder grids)
//! voltages = false                # v.<bus>: per-unit voltage of every bus (default false)
//! branches = ["Line.650632"]      # <branch>.kw/.kvar/.amps/.loading (default none)
//! ders = true                     # DER kW/kvar/requested/clipped/kWh columns (default true)
//!
//! [output]
//! dir = "results/my-day"          # default: results/<name>
//! csv = true                      # records.csv, grid.csv (default true)
//! parquet = true                  # records.parquet, grid.parquet (default true when built with Parquet)
//! ```
//!
//! Row `i` of a time series holds the value for `[i·interval, (i+1)·interval)`
//! of episode time; see [`crate::exogenous`] for the hold/linear and past-end
//! rules. Bad data files are errors naming the file and line (non-numeric
//! value, missing column, ragged row, too few rows for `steps`).
//!
//! Reading is strict: an unknown key, a value of the wrong type, or a missing
//! referenced file is an error naming the file, line, column and key.

use std::path::{Path, PathBuf};

use ogg_core::{Agent, DoNothingAgent, DoNothingGrid, DoNothingMarket, Environment, Grid, Market, ScriptedLoadAgent};
use ogg_grid::{DistributionGrid, Monitors};
use toml_edit::ImDocument;

use crate::toml_section::{ScenarioError, Section, Source};

/// The built-in scenarios: (name, TOML text). Their files are `scenarios/*.toml`
/// at the repository root.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("ieee34-day", include_str!("../../../scenarios/ieee34-day.toml")),
    ("do-nothing", include_str!("../../../scenarios/do-nothing.toml")),
    ("ieee13-data", include_str!("../../../scenarios/ieee13-data.toml")),
];

/// Data files of the built-in scenarios, by the name their `file =` uses
/// (built-ins have no folder to read from).
pub const BUILT_IN_DATA: &[(&str, &str)] = &[("data/ieee13-day.csv", include_str!("../../../scenarios/data/ieee13-day.csv"))];

/// Names of the built-in scenarios.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(name, _)| *name).collect()
}

/// A place in a scenario file, to point build errors at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Location {
    fn of(section: &Section) -> Self {
        let e = section.error("");
        Location { file: e.file, line: e.line, column: e.column }
    }
    /// An error at this place.
    pub fn error(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError { file: self.file.clone(), line: self.line, column: self.column, message: message.into() }
    }
}

/// Where a feeder's circuit comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum FeederSource {
    /// A built-in feeder by name (`feeder = "ieee34"`).
    BuiltIn(String),
    /// An OpenDSS script (`path = "x.dss"`), already checked to exist.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub enum GridSpec {
    DoNothing,
    Feeder(FeederSource),
}

#[derive(Debug, Clone, PartialEq)]
pub enum MarketSpec {
    DoNothing,
}

/// Which load(s) a scripted-load agent drives.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadTarget {
    /// One load by name.
    Element(String),
    /// One agent per load of the grid, named `name_prefix` + the load's name.
    PerLoad { name_prefix: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum AgentKind {
    DoNothing { name: Option<String>, bus: Option<String>, count: Option<usize> },
    ScriptedLoad {
        name: Option<String>,
        target: LoadTarget,
        bus: Option<String>,
        profile: Vec<f64>,
        profile_interval_s: Option<f64>,
        noise: f64,
    },
}

/// Which elements a `[[timeseries]]` entry drives.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesElements {
    Listed(Vec<String>),
    AllLoads,
}

/// What a series' values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesQuantity {
    Multiplier,
    Kw,
    /// PV systems: kW/m².
    Irradiance,
}

/// One `[[timeseries]]` entry: an exogenous agent, its data already read.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeseriesSpec {
    pub name: String,
    pub series: crate::exogenous::Series,
    pub elements: SeriesElements,
    pub quantity: SeriesQuantity,
    pub at: Location,
}

/// One `[[agents]]` entry (it may stand for several agents).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub kind: AgentKind,
    /// Where the entry is, for errors found while building.
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// Output folder; `None`: `results/<scenario name>` (relative to the current directory).
    pub dir: Option<PathBuf>,
    pub csv: bool,
    pub parquet: bool,
}

/// A scenario, read and checked (see the module docs for the format).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub steps: usize,
    pub step_s: f64,
    pub seed: Option<u64>,
    pub max_market_rounds: usize,
    pub record: bool,
    pub grid: GridSpec,
    pub grid_at: Location,
    pub market: MarketSpec,
    pub agents: Vec<AgentSpec>,
    /// Exogenous agents (`[[timeseries]]`), after the `[[agents]]`.
    pub timeseries: Vec<TimeseriesSpec>,
    /// What the grid table records per step (`[monitors]`).
    pub monitors: Monitors,
    pub monitors_at: Option<Location>,
    pub output: OutputSpec,
    /// The file it was read from, or `built-in scenario 'NAME'`.
    pub origin: String,
}

/// A grid built for a scenario, with the loads per-load agents can drive.
pub struct BuiltGrid {
    pub grid: Box<dyn Grid>,
    pub loads: Vec<LoadInfo>,
}

/// A load of the grid, as scripted-load agents address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadInfo {
    /// The name `GridAction::ScaleLoad { element }` uses for it.
    pub name: String,
    pub bus: Option<String>,
}

/// Builds the grid of `[grid] type = "feeder"` from its source and step length.
pub type FeederBuilder = fn(&FeederSource, f64) -> std::result::Result<BuiltGrid, String>;

/// The constructors a scenario is built with; tests and embedders may replace them.
#[derive(Clone, Copy)]
pub struct Builders {
    pub feeder: FeederBuilder,
}

impl Default for Builders {
    fn default() -> Self {
        Builders { feeder: crate::feeder::build_feeder_grid }
    }
}

type Result<T> = std::result::Result<T, ScenarioError>;

impl Scenario {
    /// Reads a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::new(&label, format!("cannot read the scenario file: {e}")))?;
        let base_dir = path.parent().map(Path::to_path_buf);
        let default_name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Scenario::parse(Source { label, text, base_dir }, &default_name)
    }

    /// Reads scenario text; `label` names it in errors, relative file names
    /// resolve against `base_dir`, and `default_name` is used when it has no `name`.
    pub fn from_text(text: &str, label: &str, base_dir: Option<&Path>, default_name: &str) -> Result<Scenario> {
        let source = Source { label: label.to_string(), text: text.to_string(), base_dir: base_dir.map(Path::to_path_buf) };
        Scenario::parse(source, default_name)
    }

    /// A built-in scenario by name.
    pub fn built_in(name: &str) -> Option<Result<Scenario>> {
        let (name, text) = BUILT_IN.iter().find(|(n, _)| *n == name)?;
        Some(Scenario::from_text(text, &format!("built-in scenario '{name}'"), None, name))
    }

    /// A scenario file if `name_or_path` is one, else a built-in scenario of that name.
    pub fn load(name_or_path: &str) -> Result<Scenario> {
        let path = Path::new(name_or_path);
        if path.is_file() {
            return Scenario::from_file(path);
        }
        if let Some(scenario) = Scenario::built_in(name_or_path) {
            return scenario;
        }
        let looks_like_file = name_or_path.ends_with(".toml") || name_or_path.contains(['/', '\\']);
        if looks_like_file {
            Err(ScenarioError::new(name_or_path, "scenario file not found"))
        } else {
            Err(ScenarioError::new(
                name_or_path,
                format!(
                    "no such scenario: not a file, nor a built-in scenario (built-ins: {})",
                    built_in_names().join(", ")
                ),
            ))
        }
    }

    fn parse(source: Source, default_name: &str) -> Result<Scenario> {
        let document = ImDocument::parse(source.text.clone()).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            source.error(e.span(), format!("invalid TOML: {message}"))
        })?;
        let mut top = Section::new(&source, "", document.as_table(), Some(0..0));

        let name = top.string("name")?.unwrap_or_else(|| default_name.to_string());
        if name.trim().is_empty() {
            return Err(top.error_at("name", "`name` must not be empty"));
        }
        let description = top.string("description")?.unwrap_or_default();
        let steps = top.uint("steps")?.unwrap_or(24) as usize;
        let step_s = top.float("step_s")?.unwrap_or(3600.0);
        if step_s <= 0.0 {
            return Err(top.error_at("step_s", format!("`step_s` must be > 0, found {step_s}")));
        }
        let seed = top.uint("seed")?;
        let max_market_rounds =
            top.uint("max_market_rounds")?.map_or(ogg_core::DEFAULT_MAX_MARKET_ROUNDS, |n| n as usize);
        let record = top.boolean("record")?.unwrap_or(true);

        let Some(mut grid_section) = top.table("grid")? else {
            return Err(top.error("missing [grid] table (e.g. [grid] type = \"do-nothing\")"));
        };
        let grid_at = Location::of(&grid_section);
        let grid = parse_grid(&mut grid_section)?;

        let market = match top.table("market")? {
            Some(mut section) => parse_market(&mut section)?,
            None => MarketSpec::DoNothing,
        };

        let mut agents = Vec::new();
        for mut section in top.table_list("agents")? {
            agents.push(parse_agent(&mut section)?);
        }

        let mut timeseries = Vec::new();
        for (i, mut section) in top.table_list("timeseries")?.into_iter().enumerate() {
            timeseries.push(parse_timeseries(&mut section, i, step_s)?);
        }

        let (monitors, monitors_at) = match top.table("monitors")? {
            Some(mut section) => {
                let defaults = Monitors::default();
                let monitors = Monitors {
                    voltages: section.boolean("voltages")?.unwrap_or(defaults.voltages),
                    branches: section.string_list("branches")?.unwrap_or_default(),
                    ders: section.boolean("ders")?.unwrap_or(defaults.ders),
                };
                section.finish()?;
                (monitors, Some(Location::of(&section)))
            }
            None => (Monitors::default(), None),
        };

        let output = match top.table("output")? {
            Some(mut section) => {
                let dir = section.string("dir")?.map(PathBuf::from);
                let csv = section.boolean("csv")?.unwrap_or(true);
                let parquet = section.boolean("parquet")?.unwrap_or(cfg!(feature = "parquet"));
                section.finish()?;
                OutputSpec { dir, csv, parquet }
            }
            None => OutputSpec { dir: None, csv: true, parquet: cfg!(feature = "parquet") },
        };
        top.finish()?;

        Ok(Scenario {
            name,
            description,
            steps,
            step_s,
            seed,
            max_market_rounds,
            record,
            grid,
            grid_at,
            market,
            agents,
            timeseries,
            monitors,
            monitors_at,
            output,
            origin: source.label.clone(),
        })
    }

    /// Builds the environment with the default constructors (see [`Scenario::build_with`]).
    pub fn build(&self) -> Result<Environment> {
        self.build_with(&Builders::default())
    }

    /// Builds the grid, the market and the agents, and the environment around
    /// them (round limit and recording as the scenario says; not reset yet).
    pub fn build_with(&self, builders: &Builders) -> Result<Environment> {
        let built = match &self.grid {
            GridSpec::DoNothing => BuiltGrid { grid: Box::new(DoNothingGrid::new(self.step_s)), loads: Vec::new() },
            GridSpec::Feeder(source) => {
                (builders.feeder)(source, self.step_s).map_err(|e| self.grid_at.error(format!("grid: {e}")))?
            }
        };
        let market: Box<dyn Market> = match self.market {
            MarketSpec::DoNothing => Box::new(DoNothingMarket),
        };
        let mut built = built;
        let mut agents = self.build_agents(&built.loads)?;
        let ders = built.grid.as_any().downcast_ref::<DistributionGrid>().map(|g| g.der_names());
        self.add_exogenous_agents(&mut agents, &built.loads, ders.as_deref())?;
        match built.grid.as_any_mut().downcast_mut::<DistributionGrid>() {
            Some(grid) => {
                let at = self.monitors_at.as_ref().unwrap_or(&self.grid_at);
                grid.set_monitors(self.monitors.clone()).map_err(|e| at.error(e.to_string()))?;
            }
            None if self.monitors != Monitors::default() => {
                let at = self.monitors_at.as_ref().unwrap_or(&self.grid_at);
                return Err(at.error("[monitors] need a feeder grid ([grid] type = \"feeder\")"));
            }
            None => {}
        }
        Ok(Environment::new(built.grid, market, agents)
            .with_max_market_rounds(self.max_market_rounds)
            .with_recording(self.record))
    }

    fn build_agents(&self, loads: &[LoadInfo]) -> Result<Vec<Box<dyn Agent>>> {
        let mut agents: Vec<Box<dyn Agent>> = Vec::new();
        // Where each agent name was defined, to report duplicates.
        let mut defined: Vec<(String, &Location)> = Vec::new();
        for spec in &self.agents {
            let first = agents.len();
            match &spec.kind {
                AgentKind::DoNothing { name, bus, count } => {
                    let base = name.clone().unwrap_or_else(|| "agent".to_string());
                    let names: Vec<String> = match count {
                        Some(n) => (0..*n).map(|k| format!("{base}{k}")).collect(),
                        None if name.is_some() => vec![base],
                        None => vec![format!("agent{}", agents.len())],
                    };
                    for n in names {
                        let mut agent = DoNothingAgent::new(n);
                        agent.bus = bus.clone();
                        agents.push(Box::new(agent));
                    }
                }
                AgentKind::ScriptedLoad { name, target, bus, profile, profile_interval_s, noise } => {
                    let targets: Vec<(String, String, Option<String>)> = match target {
                        LoadTarget::Element(element) => {
                            if !loads.is_empty() && !loads.iter().any(|l| same_load(&l.name, element)) {
                                return Err(spec.at.error(format!(
                                    "the grid has no load `{element}` (loads: {})",
                                    list_preview(loads.iter().map(|l| l.name.as_str()))
                                )));
                            }
                            let bus = bus.clone().or_else(|| {
                                loads.iter().find(|l| same_load(&l.name, element)).and_then(|l| l.bus.clone())
                            });
                            vec![(name.clone().unwrap_or_else(|| element.clone()), element.clone(), bus)]
                        }
                        LoadTarget::PerLoad { name_prefix } => {
                            if loads.is_empty() {
                                return Err(spec.at.error(
                                    "`per_load = true` needs a grid with loads (a feeder grid); this grid has none",
                                ));
                            }
                            loads
                                .iter()
                                .map(|l| (format!("{name_prefix}{}", l.name), l.name.clone(), l.bus.clone()))
                                .collect()
                        }
                    };
                    for (agent_name, element, bus) in targets {
                        let mut agent = ScriptedLoadAgent::new(agent_name, element, profile.clone())
                            .map_err(|e| spec.at.error(e.to_string()))?
                            .with_noise(*noise)
                            .map_err(|e| spec.at.error(e.to_string()))?;
                        if let Some(dt) = profile_interval_s {
                            agent = agent.with_profile_interval(*dt).map_err(|e| spec.at.error(e.to_string()))?;
                        }
                        if let Some(bus) = bus {
                            agent = agent.at_bus(bus);
                        }
                        agents.push(Box::new(agent));
                    }
                }
            }
            for agent in &agents[first..] {
                if let Some((_, at)) = defined.iter().find(|(n, _)| n == agent.name()) {
                    let first_line = at.line.map_or(String::new(), |l| format!(" (first defined at line {l})"));
                    return Err(spec.at.error(format!("agent name `{}` is used twice{first_line}", agent.name())));
                }
                defined.push((agent.name().to_string(), &spec.at));
            }
        }
        Ok(agents)
    }

    /// One exogenous agent per `[[timeseries]]` entry, its elements checked
    /// against the grid's loads and DERs (`ders`: None when the grid cannot
    /// list them) and its data against `steps`.
    fn add_exogenous_agents(
        &self,
        agents: &mut Vec<Box<dyn Agent>>,
        loads: &[LoadInfo],
        ders: Option<&[String]>,
    ) -> Result<()> {
        use crate::exogenous::{ExogenousAgent, Target};
        for spec in &self.timeseries {
            if agents.iter().any(|a| a.name() == spec.name) {
                return Err(spec.at.error(format!("agent name `{}` is used twice", spec.name)));
            }
            spec.series.check_covers(self.steps, self.step_s).map_err(|m| spec.at.error(m))?;
            let elements: Vec<String> = match &spec.elements {
                SeriesElements::Listed(list) => list.clone(),
                SeriesElements::AllLoads => {
                    if loads.is_empty() {
                        return Err(spec.at.error("`all_loads = true` needs a grid with loads (a feeder grid); this grid has none"));
                    }
                    loads.iter().map(|l| l.name.clone()).collect()
                }
            };
            let mut targets = Vec::with_capacity(elements.len());
            for element in elements {
                let kind = classify_element(&element, loads, ders).map_err(|m| spec.at.error(m))?;
                let target = match (kind, spec.quantity) {
                    (ElementKind::Load, SeriesQuantity::Multiplier) => Target::LoadMultiplier(element),
                    (ElementKind::Load, SeriesQuantity::Kw) => Target::LoadKw(element),
                    (ElementKind::Storage, SeriesQuantity::Kw) => Target::StorageKw(element),
                    (ElementKind::Pv, SeriesQuantity::Irradiance) => Target::PvIrradiance(element),
                    (ElementKind::Generation | ElementKind::Pv, SeriesQuantity::Kw) => Target::GenerationKw(element),
                    (_, SeriesQuantity::Irradiance) => {
                        return Err(spec.at.error(format!("`{element}` is not a PV system: `quantity = \"irradiance\"` drives PV systems only")))
                    }
                    (_, SeriesQuantity::Multiplier) => {
                        return Err(spec.at.error(format!(
                            "`{element}` is a generator, PV system or storage element: its series must be `quantity = \"kw\"`"
                        )))
                    }
                };
                targets.push(target);
            }
            agents.push(Box::new(ExogenousAgent::new(spec.name.clone(), spec.series.clone(), targets)));
        }
        Ok(())
    }

    /// The output folder: `[output] dir`, else `results/<name>`.
    pub fn output_dir(&self) -> PathBuf {
        self.output.dir.clone().unwrap_or_else(|| Path::new("results").join(&self.name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ElementKind {
    Load,
    Generation,
    Pv,
    Storage,
}

/// A series element: a load of the grid, or one of its DERs (by `Class.name`
/// or a unique bare name). Grids that list neither are trusted by prefix.
fn classify_element(element: &str, loads: &[LoadInfo], ders: Option<&[String]>) -> std::result::Result<ElementKind, String> {
    let der_kind = |full: &str| {
        let lower = full.to_ascii_lowercase();
        if lower.starts_with("storage.") {
            ElementKind::Storage
        } else if lower.starts_with("pvsystem.") {
            ElementKind::Pv
        } else {
            ElementKind::Generation
        }
    };
    if loads.iter().any(|l| same_load(&l.name, element)) {
        return Ok(ElementKind::Load);
    }
    if let Some(ders) = ders {
        if let Some(full) = ders.iter().find(|d| d.eq_ignore_ascii_case(element)) {
            return Ok(der_kind(full));
        }
        let bare: Vec<&String> = ders
            .iter()
            .filter(|d| d.split_once('.').is_some_and(|(_, n)| n.eq_ignore_ascii_case(element)))
            .collect();
        if let [full] = bare.as_slice() {
            return Ok(der_kind(full));
        }
    }
    if loads.is_empty() && ders.is_none_or(|d| d.is_empty()) {
        let lower = element.to_ascii_lowercase();
        return Ok(if lower.starts_with("storage.") {
            ElementKind::Storage
        } else if lower.starts_with("pvsystem.") {
            ElementKind::Pv
        } else if lower.starts_with("generator.") {
            ElementKind::Generation
        } else {
            ElementKind::Load
        });
    }
    let der_list = ders.map_or(String::new(), |d| {
        if d.is_empty() { "; no DERs".to_string() } else { format!("; DERs: {}", list_preview(d.iter().map(String::as_str))) }
    });
    Err(format!(
        "the grid has no load or DER `{element}` (loads: {}{der_list})",
        list_preview(loads.iter().map(|l| l.name.as_str()))
    ))
}

/// `"900"`, `"900s"`, `"15min"`, `"1h"`, `"1.5 h"` → seconds.
fn parse_duration_s(text: &str) -> Option<f64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let x: f64 = number.trim().parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" | "hr" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        _ => return None,
    };
    let s = x * scale;
    (s.is_finite() && s > 0.0).then_some(s)
}

fn parse_timeseries(section: &mut Section, index: usize, step_s: f64) -> Result<TimeseriesSpec> {
    use crate::exogenous::{Interpolation, PastEnd, Series};
    let at = Location::of(section);
    let path = section.path().to_string();
    let name = section.string("name")?.unwrap_or_else(|| format!("timeseries{index}"));
    let Some(file) = section.string("file")? else {
        return Err(section.error(format!("`{path}` needs `file = \"DATA.csv\"`")));
    };
    let column = section.string("column")?;
    let elements = section.string_list("elements")?;
    let all_loads = section.boolean("all_loads")?.unwrap_or(false);
    let quantity = section.required_string("quantity")?;
    let interval = section.string("interval")?;
    let interpolation = section.string("interpolation")?;
    let past_end = section.string("past_end")?;
    section.finish()?;

    let elements = match (elements, all_loads) {
        (Some(list), false) if !list.is_empty() => SeriesElements::Listed(list),
        (Some(_), false) => return Err(section.error_at("elements", format!("`{path}.elements` is empty"))),
        (None, true) => SeriesElements::AllLoads,
        (Some(_), true) => return Err(section.error_at("all_loads", format!("`{path}`: give either `elements` or `all_loads = true`, not both"))),
        (None, false) => return Err(section.error(format!("`{path}` needs `elements = [\"load.NAME\", ...]` or `all_loads = true`"))),
    };
    let quantity = match quantity.to_ascii_lowercase().as_str() {
        "multiplier" | "mult" => SeriesQuantity::Multiplier,
        "kw" => SeriesQuantity::Kw,
        "irradiance" => SeriesQuantity::Irradiance,
        other => return Err(section.error_at("quantity", format!("unknown `{path}.quantity` `{other}` (known: multiplier, kw, irradiance)"))),
    };
    let interval_s = match interval {
        None => step_s,
        Some(text) => parse_duration_s(&text).ok_or_else(|| {
            section.error_at("interval", format!("`{path}.interval` `{text}` is not a duration > 0 (e.g. \"900s\", \"15min\", \"1h\")"))
        })?,
    };
    let interpolation = match interpolation.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("hold") => Interpolation::Hold,
        Some("linear") => Interpolation::Linear,
        Some(other) => return Err(section.error_at("interpolation", format!("unknown `{path}.interpolation` `{other}` (known: hold, linear)"))),
    };
    let past_end = match past_end.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("error") => PastEnd::Error,
        Some("hold") => PastEnd::Hold,
        Some("wrap") => PastEnd::Wrap,
        Some(other) => return Err(section.error_at("past_end", format!("unknown `{path}.past_end` `{other}` (known: error, hold, wrap)"))),
    };

    let source = section.source();
    let embedded = if source.base_dir.is_none() { BUILT_IN_DATA.iter().find(|(n, _)| *n == file) } else { None };
    let (label, read) = match embedded {
        Some((n, text)) => (n.to_string(), crate::exogenous::read_csv_column(text, n, column.as_deref())),
        None => {
            let full = match &source.base_dir {
                Some(dir) if Path::new(&file).is_relative() => dir.join(&file),
                _ => PathBuf::from(&file),
            };
            if !full.is_file() {
                return Err(section.error_at("file", format!("`{path}.file`: file not found: {}", full.display())));
            }
            (full.display().to_string(), crate::exogenous::read_data_file(&full, column.as_deref()))
        }
    };
    let (column_name, values) = read.map_err(|m| section.error_at("file", m))?;
    let series = Series { label: format!("{label} (column `{column_name}`)"), values: values.into(), interval_s, interpolation, past_end };
    Ok(TimeseriesSpec { name, series, elements, quantity, at })
}

/// Load names compare without case and with or without the `Load.` class prefix.
fn same_load(a: &str, b: &str) -> bool {
    fn bare(s: &str) -> &str {
        match s.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("load.") => &s[5..],
            _ => s,
        }
    }
    bare(a).eq_ignore_ascii_case(bare(b))
}

fn list_preview<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.len() > 8 {
        format!("{}, … ({} in all)", names[..8].join(", "), names.len())
    } else {
        names.join(", ")
    }
}

fn parse_grid(section: &mut Section) -> Result<GridSpec> {
    let kind = section.required_string("type")?;
    match kind.as_str() {
        "do-nothing" => {
            section.finish()?;
            Ok(GridSpec::DoNothing)
        }
        "feeder" => {
            let feeder = section.string("feeder")?;
            let path = section.existing_file("path")?;
            section.finish()?;
            match (feeder, path) {
                (Some(name), None) => {
                    let known = ogg_grid::feeders::names();
                    if !known.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
                        return Err(section.error_at(
                            "feeder",
                            format!("unknown built-in feeder `{name}` in `grid.feeder` (built-in: {})", known.join(", ")),
                        ));
                    }
                    Ok(GridSpec::Feeder(FeederSource::BuiltIn(name)))
                }
                (None, Some(path)) => Ok(GridSpec::Feeder(FeederSource::File(path))),
                (Some(_), Some(_)) => Err(section.error_at("path", "give either `grid.feeder` or `grid.path`, not both")),
                (None, None) => Err(section.error(
                    "a feeder grid needs `feeder = \"NAME\"` (a built-in feeder) or `path = \"FILE.dss\"`",
                )),
            }
        }
        other => Err(section.error_at(
            "type",
            format!("unknown grid type `{other}` in `grid.type` (known: do-nothing, feeder)"),
        )),
    }
}

fn parse_market(section: &mut Section) -> Result<MarketSpec> {
    let kind = section.required_string("type")?;
    match kind.as_str() {
        "do-nothing" => {
            section.finish()?;
            Ok(MarketSpec::DoNothing)
        }
        other => Err(section.error_at(
            "type",
            format!("unknown market type `{other}` in `market.type` (known: do-nothing)"),
        )),
    }
}

fn parse_agent(section: &mut Section) -> Result<AgentSpec> {
    let at = Location::of(section);
    let kind = section.required_string("type")?;
    let path = section.path().to_string();
    let kind = match kind.as_str() {
        "do-nothing" => {
            let name = section.string("name")?;
            let bus = section.string("bus")?;
            let count = section.uint("count")?.map(|n| n as usize);
            section.finish()?;
            AgentKind::DoNothing { name, bus, count }
        }
        "scripted-load" => {
            let name = section.string("name")?;
            let element = section.string("element")?;
            let per_load = section.boolean("per_load")?.unwrap_or(false);
            let name_prefix = section.string("name_prefix")?;
            let bus = section.string("bus")?;
            let inline = section.float_list("profile")?;
            let file = section.existing_file("profile_file")?;
            let profile_interval_s = section.float("profile_interval_s")?;
            let noise = section.float("noise")?;
            section.finish()?;
            let target = match (element, per_load) {
                (Some(element), false) => {
                    if name_prefix.is_some() {
                        return Err(section.error_at("name_prefix", format!("`{path}.name_prefix` goes with `per_load = true`")));
                    }
                    LoadTarget::Element(element)
                }
                (None, true) => {
                    if name.is_some() {
                        return Err(section.error_at(
                            "name",
                            format!("`{path}.name` cannot name several agents: use `name_prefix` with `per_load = true`"),
                        ));
                    }
                    LoadTarget::PerLoad { name_prefix: name_prefix.unwrap_or_default() }
                }
                (Some(_), true) => {
                    return Err(section.error_at("per_load", format!("`{path}`: give either `element` or `per_load = true`, not both")))
                }
                (None, false) => {
                    return Err(section.error(format!(
                        "`{path}`: a scripted-load agent needs `element = \"LOAD\"` or `per_load = true`"
                    )))
                }
            };
            let profile = match (inline, file) {
                (Some(p), None) => p,
                (None, Some(file)) => read_profile_file(&file).map_err(|m| section.error_at("profile_file", m))?,
                (Some(_), Some(_)) => {
                    return Err(section.error_at("profile_file", format!("`{path}`: give either `profile` or `profile_file`, not both")))
                }
                (None, None) => {
                    return Err(section.error(format!("`{path}`: a scripted-load agent needs `profile` or `profile_file`")))
                }
            };
            if profile.is_empty() {
                return Err(section.error_at("profile", format!("`{path}.profile` is empty")));
            }
            if let Some(dt) = profile_interval_s {
                if dt <= 0.0 {
                    return Err(section.error_at("profile_interval_s", format!("`{path}.profile_interval_s` must be > 0")));
                }
            }
            let noise = noise.unwrap_or(0.0);
            if noise < 0.0 {
                return Err(section.error_at("noise", format!("`{path}.noise` must be >= 0")));
            }
            AgentKind::ScriptedLoad { name, target, bus, profile, profile_interval_s, noise }
        }
        other => {
            return Err(section.error_at(
                "type",
                format!("unknown agent type `{other}` in `{path}.type` (known: do-nothing, scripted-load)"),
            ))
        }
    };
    Ok(AgentSpec { kind, at })
}

/// Numbers separated by newlines or commas; `#` starts a comment.
fn read_profile_file(path: &Path) -> std::result::Result<Vec<f64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for cell in line.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match cell.parse::<f64>() {
                Ok(x) if x.is_finite() => values.push(x),
                _ => return Err(format!("{}:{}: `{cell}` is not a number", path.display(), i + 1)),
            }
        }
    }
    if values.is_empty() {
        return Err(format!("{}: no numbers in the profile file", path.display()));
    }
    Ok(values)
}
