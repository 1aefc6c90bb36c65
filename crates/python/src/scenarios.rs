//! Scenarios (TOML files and the built-in ones) from Python.

use std::path::PathBuf;

use opengridgym::{RunError, Scenario, ScenarioError};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::environment::PyEnvironment;
use crate::errors::to_pyerr;

fn scenario_error(e: ScenarioError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn load(name_or_path: &str, seed: Option<u64>, steps: Option<usize>) -> PyResult<Scenario> {
    let mut scenario = Scenario::load(name_or_path).map_err(scenario_error)?;
    if seed.is_some() {
        scenario.seed = seed;
    }
    if let Some(steps) = steps {
        scenario.steps = steps;
    }
    Ok(scenario)
}

/// Runs a scenario (a TOML file, or the name of a built-in one such as
/// "do-nothing") in Rust from start to end and returns its summary as a dict
/// (what `summary.json` holds: steps, wall time, steps per second, files,
/// ...). `seed` and `steps` override the scenario's; with `out`, the results
/// (records/grid tables as CSV and/or Parquet, and summary.json) are written
/// into that folder. The GIL is released while it runs.
#[pyfunction]
#[pyo3(signature = (name_or_path, *, seed = None, steps = None, out = None))]
pub fn run_scenario(
    py: Python<'_>,
    name_or_path: &str,
    seed: Option<u64>,
    steps: Option<usize>,
    out: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let scenario = load(name_or_path, seed, steps)?;
    let result = py.detach(|| opengridgym::run_scenario(&scenario, out.as_deref(), &mut |_| {}));
    let summary = match result {
        Ok(summary) => summary,
        Err(RunError::Scenario(e)) => return Err(scenario_error(e)),
        Err(RunError::Env { error, .. }) => return Err(to_pyerr(py, error)),
        Err(RunError::Output(message)) => return Err(PyOSError::new_err(message)),
    };
    let json = serde_json::to_string(&summary).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(py.import("json")?.getattr("loads")?.call1((json,))?.unbind())
}

/// Names of the built-in scenarios.
#[pyfunction]
pub fn scenario_names() -> Vec<&'static str> {
    opengridgym::scenario::built_in_names()
}

/// The environment a scenario describes, and the scenario's seed (see `Environment.from_scenario`).
pub fn environment_from_scenario(
    py: Python<'_>,
    name_or_path: &str,
    seed: Option<u64>,
    steps: Option<usize>,
) -> PyResult<(Py<PyEnvironment>, Option<u64>)> {
    let scenario = load(name_or_path, seed, steps)?;
    let core = scenario.build().map_err(scenario_error)?;
    let env = PyEnvironment::from_core(py, core, Some(scenario.steps), Vec::new(), Default::default())?;
    Ok((env, scenario.seed))
}
