//! Built-in feeders by name, from `ogg-grid` (`ogg_grid::feeders`).

use ogg_dss::Circuit;

use crate::error::MarketError;

/// A built-in feeder (e.g. `ieee34`) or an OpenDSS master script by path.
pub fn circuit(name_or_path: &str) -> Result<Circuit, MarketError> {
    ogg_grid::feeders::circuit_from(name_or_path).map_err(|e| MarketError::Input(format!("feeder '{name_or_path}': {e}")))
}
