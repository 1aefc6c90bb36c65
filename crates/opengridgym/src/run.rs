//! Running a scenario from start to end and writing its results.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ogg_core::{StepInfo, Table};
use serde::Serialize;

use crate::scenario::Scenario;
use crate::ScenarioError;

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub description: String,
    /// The scenario file, or `built-in scenario 'NAME'`.
    pub origin: String,
    pub seed: Option<u64>,
    pub steps_requested: usize,
    /// Grid steps completed.
    pub steps: usize,
    pub step_s: f64,
    pub agents: usize,
    pub max_market_rounds: usize,
    /// Market rounds over all grid steps.
    pub market_rounds: usize,
    /// Grid steps whose market cleared before the round limit.
    pub steps_market_cleared: usize,
    /// Grid steps whose power flow converged.
    pub steps_converged: usize,
    /// Grid time after the last step, seconds.
    pub final_time_s: f64,
    pub wall_time_s: f64,
    pub steps_per_second: f64,
    pub records_rows: usize,
    pub grid_rows: usize,
    pub out_dir: Option<PathBuf>,
    /// Files written, in order.
    pub files: Vec<PathBuf>,
    /// The error that stopped the run early, if any.
    pub error: Option<String>,
}

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// The scenario could not be built.
    Scenario(ScenarioError),
    /// A module failed while running; results up to the failure were written.
    Env { scenario: String, error: ogg_core::Error },
    /// Results could not be written.
    Output(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Scenario(e) => write!(f, "{e}"),
            RunError::Env { scenario, error } => write!(f, "scenario '{scenario}': {error}"),
            RunError::Output(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<ScenarioError> for RunError {
    fn from(e: ScenarioError) -> Self {
        RunError::Scenario(e)
    }
}

/// Builds and runs `scenario` (`scenario.steps` grid steps, seeded with
/// `scenario.seed`), calling `on_step` after each grid step. With `out_dir`,
/// writes there `records.csv`/`grid.csv` (if `output.csv`),
/// `records.parquet`/`grid.parquet` (if `output.parquet`) and `summary.json`
/// — also when a step fails, with what completed before it.
pub fn run_scenario(
    scenario: &Scenario,
    out_dir: Option<&Path>,
    on_step: &mut dyn FnMut(&StepInfo),
) -> Result<RunSummary, RunError> {
    if scenario.output.parquet && !cfg!(feature = "parquet") && out_dir.is_some() {
        return Err(RunError::Output(format!(
            "{}: `output.parquet = true`, but this build has no Parquet support (build with the `parquet` feature)",
            scenario.origin
        )));
    }
    let mut env = scenario.build()?;
    let started = Instant::now();
    let mut failure = None;
    match env.reset(scenario.seed) {
        Ok(()) => {
            for step in env.iterate(scenario.steps) {
                match step {
                    Ok(info) => on_step(&info),
                    Err(e) => failure = Some(e),
                }
            }
        }
        Err(e) => failure = Some(e),
    }
    let wall_time_s = started.elapsed().as_secs_f64();

    let grid = env.recorder().grid();
    let steps = env.grid_step();
    let mut summary = RunSummary {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        origin: scenario.origin.clone(),
        seed: scenario.seed,
        steps_requested: scenario.steps,
        steps,
        step_s: scenario.step_s,
        agents: env.agents().len(),
        max_market_rounds: scenario.max_market_rounds,
        market_rounds: grid.market_rounds.iter().map(|&r| r as usize).sum(),
        steps_market_cleared: grid.market_cleared.iter().filter(|&&c| c).count(),
        steps_converged: grid.converged.iter().filter(|&&c| c).count(),
        final_time_s: env.grid().state().time_s,
        wall_time_s,
        steps_per_second: if wall_time_s > 0.0 { steps as f64 / wall_time_s } else { 0.0 },
        records_rows: env.recorder().records().n_rows(),
        grid_rows: grid.n_rows(),
        out_dir: out_dir.map(Path::to_path_buf),
        files: Vec::new(),
        error: failure.as_ref().map(|e| e.to_string()),
    };

    if let Some(dir) = out_dir {
        let out = |e: ogg_core::Error| RunError::Output(e.to_string());
        std::fs::create_dir_all(dir).map_err(|e| RunError::Output(format!("{}: {e}", dir.display())))?;
        if scenario.output.csv {
            summary.files.extend(env.recorder().write_csv_dir(dir).map_err(out)?);
        }
        #[cfg(feature = "parquet")]
        if scenario.output.parquet {
            summary.files.extend(env.recorder().write_parquet_dir(dir).map_err(out)?);
        }
        let path = dir.join("summary.json");
        summary.files.push(path.clone());
        let json = serde_json::to_string_pretty(&summary).map_err(|e| RunError::Output(e.to_string()))?;
        std::fs::write(&path, json + "\n").map_err(|e| RunError::Output(format!("{}: {e}", path.display())))?;
    }
    match failure {
        Some(error) => Err(RunError::Env { scenario: scenario.name.clone(), error }),
        None => Ok(summary),
    }
}
