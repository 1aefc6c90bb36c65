//! OpenGridGym's core: the four replaceable modules (`Grid`, `Market`, `Agent`)
//! and the `Environment` that ties them together in the paper's two-timescale
//! loop (Algorithm 1).
//!
//! # How modules see each other
//! The environment owns every module. When it calls one module mutably it hands
//! it a read-only [`View`] of all the *others* (the grid, the market and every
//! other agent), so a module can read anything in the environment (the paper's
//! Fig. 4) without aliasing: the module being called is never in its own view.

pub mod agent;
pub mod env;
pub mod error;
pub mod grid;
pub mod market;
pub mod recorder;
pub mod topology;
pub mod view;

pub use agent::{Agent, DoNothingAgent};
pub use env::{Environment, Event, StepInfo};
pub use error::{Error, Result};
pub use grid::{DoNothingGrid, Grid, GridAction, GridState};
pub use market::{Dispatch, DoNothingMarket, Market, MarketAction};
pub use recorder::{Record, Recorder};
pub use topology::{Branch, Topology};
pub use view::View;
