//! `FeederGrid`: the feeder grid of the engine crate (`ogg_grid::DistributionGrid`,
//! an OpenDSS-compatible unbalanced power flow) as a built-in Rust grid.

use std::any::Any;
use std::path::PathBuf;

use ogg_grid::{DistributionGrid, GridError, Monitors};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::PyClassInitializer;

use crate::environment::PyEnvironment;
use crate::errors::SimulationError;
use crate::modules::RustGrid;

fn grid_error(err: GridError) -> PyErr {
    match err {
        GridError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(err.to_string())
        }
        GridError::Io { .. } => PyOSError::new_err(err.to_string()),
        GridError::NotConverged(_) | GridError::Sparse(_) => SimulationError::new_err(err.to_string()),
        _ => PyValueError::new_err(err.to_string()),
    }
}

fn step_s_checked(step_s: f64) -> PyResult<f64> {
    if step_s.is_finite() && step_s > 0.0 {
        Ok(step_s)
    } else {
        Err(PyValueError::new_err(format!("step_s = {step_s} must be a positive number of seconds")))
    }
}

/// `monitors={"voltages": True, "branches": ["Line.650632"], "ders": True}`:
/// the grid table's extra columns (`v.<bus>`; `<branch>.kw`, `.kvar`, `.amps`,
/// `.loading`; the DER columns), as a scenario's `[monitors]`.
fn monitors_from(dict: Option<&Bound<'_, PyDict>>) -> PyResult<Option<Monitors>> {
    let Some(dict) = dict else { return Ok(None) };
    let mut monitors = Monitors::default();
    for (key, value) in dict.iter() {
        let key: String = key.extract()?;
        let bad = |what: &str| PyValueError::new_err(format!("monitors['{key}'] must be {what}"));
        match key.as_str() {
            "voltages" => monitors.voltages = value.extract().map_err(|_| bad("True or False"))?,
            "branches" => monitors.branches = value.extract().map_err(|_| bad("a list of branch names"))?,
            "ders" => monitors.ders = value.extract().map_err(|_| bad("True or False"))?,
            other => {
                return Err(PyValueError::new_err(format!("unknown monitors key '{other}' (known: voltages, branches, ders)")))
            }
        }
    }
    Ok(Some(monitors))
}

/// A distribution feeder solved by OpenGridGym's three-phase unbalanced power
/// flow (OpenDSS-compatible). `FeederGrid("ieee34")` is a built-in feeder
/// (see `FeederGrid.names()`); `FeederGrid.from_file(path)` reads an OpenDSS
/// master script. The feeder is compiled and solved on construction.
///
/// Each grid step starts from the circuit's own loads, applies the agents'
/// grid actions of that step (`("set_load", load, kw[, kvar])`,
/// `("scale_load", load, multiplier)`, `("inject", bus, kw, kvar)`,
/// `("set_generation", der, kw[, kvar])`, `("set_generation_pf", der, kw, pf)`,
/// `("set_storage", der, kw[, kvar])`; the grid clips DER set points to their
/// limits and records what it applied as `Class.name.kw`, `.kvar`,
/// `.kw_requested`, `.kvar_requested`, `.clipped` and, for storage, `.kwh`), solves
/// (regulators and capacitor controls act as in OpenDSS's static mode) and
/// advances the clock by `step_s` seconds.
#[pyclass(name = "FeederGrid", module = "opengridgym._core", extends = RustGrid, frozen)]
pub struct PyFeederGrid;

impl PyFeederGrid {
    fn build(
        py: Python<'_>,
        source: String,
        step_s: f64,
        shapes: Option<&str>,
        monitors: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let step_s = step_s_checked(step_s)?;
        let monitors = monitors_from(monitors)?;
        let mode = shapes.map(ogg_grid::timeseries::parse_mode).transpose().map_err(grid_error)?;
        // Compiling and the first solve take milliseconds: let other threads run.
        let grid = py
            .detach(|| -> Result<DistributionGrid, GridError> {
                let circuit = ogg_grid::feeders::circuit_from(&source)?;
                let mut grid = DistributionGrid::new(&circuit, step_s)?;
                if let Some(mode) = mode {
                    grid.use_load_shapes(&circuit, mode)?;
                }
                if let Some(monitors) = monitors {
                    grid.set_monitors(monitors)?;
                }
                Ok(grid)
            })
            .map_err(grid_error)?;
        Ok(PyClassInitializer::from(RustGrid::own(Box::new(grid))).add_subclass(PyFeederGrid))
    }

    fn der_index(g: &DistributionGrid, name: &str) -> PyResult<usize> {
        g.power_flow().find_der(name).ok_or_else(|| {
            PyValueError::new_err(format!(
                "no generator, PV system or storage element '{name}' (there are: {})",
                g.power_flow().der_names().join(", ")
            ))
        })
    }

    fn read<R>(slf: &Bound<'_, Self>, f: impl Fn(&DistributionGrid) -> R) -> PyResult<R> {
        let base = slf.as_super().get();
        base.read(slf.py(), |g| g.as_any().downcast_ref::<DistributionGrid>().map(&f))?
            .ok_or_else(|| PyValueError::new_err("this FeederGrid does not hold a feeder"))
    }
}

#[pymethods]
impl PyFeederGrid {
    /// A built-in feeder by name (e.g. "ieee13", "ieee34", "ieee37").
    /// `shapes="daily"` (or `"yearly"`, `"duty"`) drives loads and DERs with their shapes, as in `from_file`;
    /// `monitors={"voltages": True, "branches": [...], "ders": True}` chooses the grid table's extra columns.
    #[new]
    #[pyo3(signature = (name, step_s = 3600.0, shapes = None, monitors = None))]
    fn new(
        py: Python<'_>,
        name: &str,
        step_s: f64,
        shapes: Option<&str>,
        monitors: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        if ogg_grid::feeders::files(name).is_none() {
            return Err(PyValueError::new_err(format!(
                "unknown built-in feeder '{name}' (built-in feeders: {}); use FeederGrid.from_file(path) for an OpenDSS script",
                ogg_grid::feeders::names().join(", ")
            )));
        }
        Self::build(py, name.to_string(), step_s, shapes, monitors)
    }

    /// A feeder from an OpenDSS master script (`Redirect`/`Compile` of other files work relative to it).
    /// `shapes="daily"` (or `"yearly"`, `"duty"`) drives loads, generators, PV
    /// systems and storage with their shapes: grid step k solves at hour
    /// (k + 1)·step_s/3600, as OpenDSS's time-series step k + 1.
    #[staticmethod]
    #[pyo3(signature = (path, step_s = 3600.0, shapes = None, monitors = None))]
    fn from_file(
        py: Python<'_>,
        path: PathBuf,
        step_s: f64,
        shapes: Option<&str>,
        monitors: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyFeederGrid>> {
        if !path.is_file() {
            return Err(PyFileNotFoundError::new_err(format!("{}: no such OpenDSS script", path.display())));
        }
        let init = Self::build(py, path.to_string_lossy().into_owned(), step_s, shapes, monitors)?;
        Py::new(py, init)
    }

    /// Generators, PV systems and storage: `(Class.name, bus)`, the names
    /// `("set_generation", …)` / `("set_storage", …)` address.
    #[getter]
    fn ders(slf: &Bound<'_, Self>) -> PyResult<Vec<(String, String)>> {
        Self::read(slf, |g| {
            let pf = g.power_flow();
            pf.der_names()
                .into_iter()
                .map(|n| {
                    let e = pf.element_position(&n).map(|e| pf.element_flows(e));
                    let bus = e.and_then(|f| f.conductors.first().map(|c| c.bus.clone())).unwrap_or_default();
                    (n, bus)
                })
                .collect()
        })
    }

    /// Output of a DER after the last step (kW, kvar): generation and
    /// discharge positive.
    fn der_power(slf: &Bound<'_, Self>, name: &str) -> PyResult<(f64, f64)> {
        Self::read(slf, |g| Self::der_index(g, name).map(|i| {
            let (p, q) = g.power_flow().der_power(i);
            (-p, -q)
        }))?
    }

    /// Energy stored in a storage element (kWh), after the last step's update.
    fn storage_kwh(slf: &Bound<'_, Self>, name: &str) -> PyResult<f64> {
        Self::read(slf, |g| {
            let i = Self::der_index(g, name)?;
            g.power_flow().storage_kwh(i).ok_or_else(|| PyValueError::new_err(format!("'{name}' is not a storage element")))
        })?
    }

    /// Names of the built-in feeders.
    #[staticmethod]
    fn names() -> Vec<&'static str> {
        ogg_grid::feeders::names()
    }

    /// Every load: `(name, bus)`, the name as grid actions address it.
    #[getter]
    fn loads(slf: &Bound<'_, Self>) -> PyResult<Vec<(String, String)>> {
        Self::read(slf, |g| g.loads())
    }

    /// Seconds per grid step.
    #[getter]
    fn step_s(slf: &Bound<'_, Self>) -> PyResult<f64> {
        Self::read(slf, |g| g.step_s())
    }
}

/// The handle of a feeder grid living in `env`, if `grid` is one.
pub fn grid_handle_for(py: Python<'_>, grid: &dyn Any, env: &Py<PyEnvironment>) -> PyResult<Option<Py<PyAny>>> {
    if !grid.is::<DistributionGrid>() {
        return Ok(None);
    }
    let init = PyClassInitializer::from(RustGrid::bound(env.clone_ref(py))).add_subclass(PyFeederGrid);
    Ok(Some(Bound::new(py, init)?.into_any().unbind()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFeederGrid>()?;
    Ok(())
}
