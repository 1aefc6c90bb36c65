//! Python bindings of OpenGridGym: the extension module `opengridgym._core`.
//! The pure-Python part of the package (`python/opengridgym/`) adds the base
//! classes `BaseGrid`, `BaseMarket`, `BaseAgent` and re-exports everything.
//!
//! # The loop runs in Rust
//! `Environment` wraps an `ogg_core::Environment`. `env.step()` /
//! `env.iterate()` run Algorithm 1 in Rust; Python is called only for modules
//! written in Python and for callbacks. A module is either
//! * a built-in Rust module (`DoNothingGrid`, `FeederGrid`, `DoNothingAgent`,
//!   ...): its Python object is a *handle* (`modules.rs`). Passing it to
//!   `Environment` moves (a copy of) the module into the environment and binds
//!   the handle to it, so `grid.voltages` keeps showing the environment's
//!   grid; a bound handle is read-only; or
//! * a Python object (`BaseGrid`/`BaseMarket`/`BaseAgent` subclass, or any
//!   object with the same methods), wrapped in `PyGridAdapter` /
//!   `PyMarketAdapter` / `PyAgentAdapter` (`adapters.rs`), which implement the
//!   Rust traits by calling its methods and reading back what it set
//!   (`market_actions`, `grid_actions`, `reward`, `cleared()`, `dispatch(i)`,
//!   the grid's `voltages`, ...).
//!
//! Rust modules and Python modules mix freely in one environment.
//!
//! # `self.env`: the view of a Python module
//! While the loop runs, the `ogg_core::Environment` is taken out of the Python
//! object (so nothing can re-enter it) and every module is called with a
//! `View` of all the others. Before calling a Python method, the adapter
//! pushes a frame on a thread-local stack with a pointer to that `View` and
//! the object being called (`context.rs`); the object's `env` attribute is an
//! `EnvView` that reads the innermost frame calling that object (set once per
//! object and episode). Through it the method reads the rest of the environment:
//! `self.env.grid`, `self.env.market`, `self.env.agents` are the module
//! objects (the user's own objects for Python modules; handles for Rust
//! modules, which read through the frame's `View`), plus `self.env.time`,
//! `grid_step`, `market_round`, `caller`. When the method returns, a guard pops
//! the frame: the view no longer resolves, so a `self.env` kept for later
//! raises a clear error instead of pointing at a stale borrow. No `&mut`
//! borrow of the environment is ever created for Python: views are read-only,
//! and calling `env.step()` from inside a module raises (the core is out).
//! Frames are thread-local, so another thread can never read a view.
//!
//! # Errors
//! A Python exception in a user method travels through the Rust loop inside
//! `ogg_core::Error::External` (its `source` is the `PyErr`) and is restored
//! at the boundary: the caller of `env.step()` / `iterate()` gets the same
//! exception object (type, message, traceback through the user's code), with
//! a note naming the module, call, grid step and round (Python ≥ 3.11). Rust
//! errors become `ValueError`, `OSError` or `SimulationError`. Panics are
//! caught at the boundary and become `RuntimeError` (`errors.rs`).
//!
//! # The GIL
//! The GIL is held while an environment with any Python module or callback
//! steps (each Python call would otherwise have to re-acquire it). An
//! environment made only of Rust modules releases it for the whole step, so
//! other Python threads can run meanwhile (e.g. several environments in
//! threads); so do file writes of the recorded tables.

use pyo3::prelude::*;

/// The Rust side's allocations go through mimalloc, as in the `ogg` binary
/// (compiles of large feeders: `ogg-grid`'s README, *Speed*). Python's own
/// objects keep Python's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod actions;
mod adapters;
mod context;
mod environment;
mod errors;
mod feeder;
mod markets;
mod modules;
mod rl;
mod scenarios;
mod tables;

pub use environment::PyEnvironment;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SimulationError", m.py().get_type::<errors::SimulationError>())?;
    m.add_class::<context::EnvView>()?;
    m.add_function(wrap_pyfunction!(actions::_roundtrip_actions, m)?)?;
    environment::register(m)?;
    modules::register(m)?;
    feeder::register(m)?;
    markets::register(m)?;
    rl::register(m)?;
    m.add_function(wrap_pyfunction!(scenarios::run_scenario, m)?)?;
    m.add_function(wrap_pyfunction!(scenarios::scenario_names, m)?)?;
    Ok(())
}
