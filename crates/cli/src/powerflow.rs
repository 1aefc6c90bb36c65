//! `ogg powerflow`: one power flow of a feeder, results into a folder.
//!
//! TODO(wire powerflow): call the engine's entry point (`ogg_grid::powerflow_command`
//! or its final name) from `run_powerflow` below, then remove `hide = true` from
//! the `Powerflow` subcommand in main.rs. The subcommand is hidden until then so
//! that `ogg --help` does not list a command that cannot run (the Python
//! OpenDSS comparison test skips while `powerflow` is not listed).

use std::path::PathBuf;

/// What `ogg powerflow` was asked to do.
#[derive(Debug, Clone)]
#[allow(dead_code)] // read once run_powerflow is wired (see the module docs)
pub struct PowerflowRequest {
    /// A `.dss` file, or a built-in feeder name.
    pub feeder: String,
    pub tolerance: Option<f64>,
    pub max_iterations: Option<usize>,
    pub out: Option<PathBuf>,
}

/// Runs the power flow and writes its results; returns a one-line error.
pub fn run_powerflow(request: &PowerflowRequest) -> Result<(), String> {
    Err(format!(
        "{}: the power-flow command is not available in this build yet (ogg_grid::powerflow_command is being written)",
        request.feeder
    ))
}
