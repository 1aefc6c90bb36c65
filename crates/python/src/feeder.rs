//! The feeder grid (`ogg_grid::DistributionGrid`) as `FeederGrid`. Filled in
//! once the engine crate provides it.

use std::any::Any;

use pyo3::prelude::*;

use crate::environment::PyEnvironment;

/// The handle of a feeder grid living in `env`, if `grid` is one.
pub fn grid_handle_for(_py: Python<'_>, _grid: &dyn Any, _env: &Py<PyEnvironment>) -> PyResult<Option<Py<PyAny>>> {
    Ok(None)
}

pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
