//! The feeder grid of `[grid] type = "feeder"`.
//!
//! TODO(wire DistributionGrid): build `ogg_grid::DistributionGrid` here once the
//! engine crate has it — from a built-in feeder by name (`FeederSource::BuiltIn`)
//! or an OpenDSS script (`FeederSource::File`), stepping `step_s` seconds per
//! grid step — and list its loads (name as `GridAction::ScaleLoad` addresses
//! it, and bus) in `BuiltGrid::loads` so that `per_load = true` agents work.
//! Everything else (parsing, agents, CLI, tests with a stand-in builder) is
//! already written against this one function.

use crate::scenario::{BuiltGrid, FeederSource};

/// Builds the grid of a feeder scenario (see the module docs: not wired yet).
pub fn build_feeder_grid(source: &FeederSource, _step_s: f64) -> Result<BuiltGrid, String> {
    let what = match source {
        FeederSource::BuiltIn(name) => format!("built-in feeder `{name}`"),
        FeederSource::File(path) => format!("feeder file {}", path.display()),
    };
    Err(format!("cannot build the {what}: the feeder grid (ogg_grid::DistributionGrid) is not available in this build yet"))
}
