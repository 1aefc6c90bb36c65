//! The power-flow engine and the `Grid` module built on it.
//!
//! * [`PowerFlow`]: an OpenDSS-compatible three-phase unbalanced power flow
//!   (fixed-point "Normal" solver, OpenDSS's element models, static-mode
//!   regulator and capacitor controls) compiled from an [`ogg_dss::Circuit`];
//!   the system Y is factored once per change by a sparse LDLᵀ (see [`sparse`]).
//!
//! See the crate's README for fidelity and speed measurements.
//! * [`DistributionGrid`]: an `ogg_core::Grid` on such a circuit.
//! * [`feeders`]: the built-in IEEE feeders by name.
//! * [`powerflow_command`]: what `ogg powerflow` runs.

// Numeric kernels index several parallel arrays at once; index loops read best there.
#![allow(clippy::needless_range_loop)]

/// `x > 0` and not NaN: element data that must be positive.
pub(crate) fn positive(x: f64) -> bool {
    x > 0.0
}

pub mod cmat;
pub mod controls;
pub mod ders;
pub mod elements;
pub mod engine;
pub mod error;
pub mod network;
mod ordering;
pub mod results;
pub mod sparse;

pub use engine::{PowerFlow, Settings, SolveReport};
pub use error::{GridError, NonConvergence};
pub mod feeders;
pub mod output;

pub use output::{powerflow_command, Summary};
pub mod grid;

pub use grid::{DistributionGrid, Monitors};
pub mod synthetic;
pub mod timeseries;
pub use timeseries::{timeseries_command, DerStep, StepResult, TimeSeries};
