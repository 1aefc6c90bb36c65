//! OpenGridGym: electricity markets on real distribution grids with many agents.
//!
//! This crate gathers the parts under one name:
//! * [`core`] (`ogg-core`): the `Grid`/`Market`/`Agent` traits, the
//!   [`Environment`] running the paper's Algorithm 1, the recorder;
//! * [`grid`] (`ogg-grid`): the power-flow engine and the feeder grid;
//! * [`scenario`]: whole simulations described in TOML, and the built-in ones;
//! * [`exogenous`]: data files replayed onto grid elements (`[[timeseries]]`);
//! * [`run`]: running a scenario and writing its results (what `ogg run` does).
//!
//! ```
//! use opengridgym::{run_scenario, Scenario};
//! let mut scenario = Scenario::built_in("do-nothing").unwrap().unwrap();
//! scenario.steps = 3;
//! let summary = run_scenario(&scenario, None, &mut |_step| {}).unwrap();
//! assert_eq!(summary.steps, 3);
//! ```

pub use ogg_core as core;
pub use ogg_grid as grid;

pub use ogg_core::{
    Agent, DoNothingAgent, DoNothingGrid, DoNothingMarket, Environment, Error, Event, Grid, GridAction, GridState,
    Market, MarketAction, Recorder, Result, ScriptedLoadAgent, StepInfo, Table, View,
};

pub mod exogenous;
pub mod feeder;
pub mod run;
pub mod scenario;
pub mod toml_section;

pub use run::{run_scenario, RunError, RunSummary};
pub use scenario::{Builders, BuiltGrid, LoadInfo, Scenario};
pub use toml_section::ScenarioError;
