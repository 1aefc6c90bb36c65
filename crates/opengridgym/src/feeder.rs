//! The feeder grid of `[grid] type = "feeder"`: `ogg_grid::DistributionGrid`
//! on a built-in feeder or an OpenDSS script, with its loads listed for
//! `per_load = true` agents.

use ogg_grid::DistributionGrid;

use crate::scenario::{BuiltGrid, FeederSource, LoadInfo};

/// Builds the feeder grid (compiled and solved once, as OpenDSS's `Solve`
/// would) stepping `step_s` seconds per grid step.
pub fn build_feeder_grid(source: &FeederSource, step_s: f64) -> Result<BuiltGrid, String> {
    let grid = match source {
        FeederSource::BuiltIn(name) => {
            let circuit = ogg_grid::feeders::circuit(name).map_err(|e| e.to_string())?;
            DistributionGrid::new(&circuit, step_s).map_err(|e| format!("feeder `{name}`: {e}"))?
        }
        FeederSource::File(path) => {
            let circuit = ogg_grid::feeders::circuit_from(&path.to_string_lossy()).map_err(|e| e.to_string())?;
            DistributionGrid::new(&circuit, step_s).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let loads = grid.loads().into_iter().map(|(name, bus)| LoadInfo { name, bus: Some(bus) }).collect();
    Ok(BuiltGrid { grid: Box::new(grid), loads })
}
