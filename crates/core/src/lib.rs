//! OpenGridGym's core: the four replaceable modules (`Grid`, `Market`, `Agent`)
//! and the `Environment` that ties them together in the paper's two-timescale
//! loop (Algorithm 1).
//!
//! # How modules see each other
//! The environment owns every module. When it calls one module mutably it hands
//! it a read-only [`View`] of all the *others* (the grid, the market and every
//! other agent), so a module can read anything in the environment (the paper's
//! Fig. 4) without aliasing: the module being called is never in its own view.
//!
//! # Where to start
//! * [`Environment`] — `new(grid, market, agents)`, `reset(seed)`, `step()`,
//!   `iterate(n)`, callbacks, `snapshot()`; the loop's exact order and error
//!   semantics are in the [`env`](mod@env) module docs.
//! * [`Recorder`] — the records and grid tables, CSV/Parquet export ([`recorder`]).
//! * [`ScriptedLoadAgent`], [`DoNothingAgent`], [`DoNothingGrid`],
//!   [`DoNothingMarket`] — ready-made modules; [`testing`] — logging modules for tests.
//! * [`rng`] — how seeds are derived for each module.

pub mod agent;
pub mod env;
pub mod error;
pub mod grid;
pub mod market;
#[cfg(feature = "parquet")]
mod parquet_out;
pub mod recorder;
pub mod rng;
pub mod scripted;
pub mod testing;
pub mod topology;
pub mod view;

pub use agent::{Agent, DoNothingAgent};
pub use env::{Callback, EnvParts, Environment, Event, Iterate, StepInfo, DEFAULT_MAX_MARKET_ROUNDS};
pub use error::{Error, Module, Result};
pub use grid::{DoNothingGrid, Grid, GridAction, GridState};
pub use market::{Dispatch, DoNothingMarket, Market, MarketAction};
pub use recorder::{Column, ColumnData, GridTable, Record, RecordTable, Recorder, Table};
pub use scripted::ScriptedLoadAgent;
pub use topology::{Branch, Topology};
pub use view::View;
