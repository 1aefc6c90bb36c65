//! The Python `Environment`: owns an `ogg_core::Environment` and runs
//! Algorithm 1 in Rust. Python is called only for Python modules and callbacks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use ogg_core::env::{EnvParts, Event, StepInfo};
use ogg_core::recorder::Table;
use ogg_core::{Agent, Environment, Grid, Market};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{intern, PyTraverseError};

use crate::adapters::{
    clear_precopied, python_agent, python_grid, python_market, set_precopied, PyAgentAdapter, PyGridAdapter,
    PyMarketAdapter,
};
use crate::context::{self, enter_parts, next_id, request_stop, with_running, Reader, RunGuard};
use crate::errors::{catch_panic, check, external};
use crate::modules::{RustAgent, RustGrid, RustMarket};
use crate::tables::table_to_dict;

/// Default `max_steps`: one day in 15-minute steps, as in the paper's code.
pub const DEFAULT_MAX_STEPS: usize = 96;

/// When a callback wants to be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    GridStep,
    MarketRound,
}

struct PyCallback {
    func: Py<PyAny>,
    on: On,
}

/// The Python object of every module: your objects for Python modules, the
/// handles of Rust ones. `None` only after the garbage collector cleared them.
#[derive(Default)]
struct Objects {
    grid: Option<Py<PyAny>>,
    market: Option<Py<PyAny>>,
    agents: Vec<Py<PyAny>>,
}

struct Settings {
    max_steps: Option<usize>,
    /// Whether any module or callback is Python (the GIL must then be held while stepping).
    python_inside: bool,
}

/// The environment (paper, Algorithm 1): a grid, a market and agents.
///
/// ```python
/// env = Environment(grid, market, agents)
/// env.reset(seed=42)
/// for t in env.iterate():      # or env.iterate(n)
///     ...
/// ```
///
/// `grid`, `market` and each agent is either a built-in Rust module
/// (`DoNothingGrid()`, `FeederGrid("ieee34")`, `DoNothingAgent()`, ...) or
/// your own object (a subclass of `BaseGrid`, `BaseMarket`, `BaseAgent`).
/// The loop runs in Rust and calls Python only for Python modules.
///
/// Each grid step: `market.reset()`; rounds of (every agent's
/// `set_market_actions()`, `market.step()`, record, "market_round"
/// callbacks) until `market.cleared()` or `max_market_rounds`; then every
/// agent's `set_grid_actions()`, `grid.step()`, record, "grid_step" callbacks.
#[pyclass(name = "Environment", module = "opengridgym._core", frozen)]
pub struct PyEnvironment {
    id: u64,
    /// The Rust environment; `None` while its loop runs (it is taken out, so a
    /// module cannot re-enter it) or after the garbage collector cleared it.
    core: Mutex<Option<Box<Environment>>>,
    objects: Mutex<Objects>,
    callbacks: Mutex<Vec<PyCallback>>,
    settings: Mutex<Settings>,
    /// Set when a Rust panic interrupted a step: only `reset` is allowed then.
    broken: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn running_error() -> PyErr {
    PyRuntimeError::new_err(
        "the Environment is running: reset()/step()/iterate() and the recorded tables are not \
         available from inside its own modules or callbacks (or from another thread while it steps)",
    )
}

/// Puts the core back into its environment when dropped (also on unwinding).
struct TakenCore<'a> {
    env: &'a PyEnvironment,
    core: Option<Box<Environment>>,
}

impl TakenCore<'_> {
    fn get(&mut self) -> &mut Environment {
        self.core.as_mut().expect("core is present until drop")
    }
}

impl Drop for TakenCore<'_> {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            *lock(&self.env.core) = Some(core);
        }
    }
}

impl PyEnvironment {
    /// Locks the idle core. Never blocks: under the GIL a held lock means re-entry.
    fn idle_core(&self) -> PyResult<MutexGuard<'_, Option<Box<Environment>>>> {
        let guard = match self.core.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(running_error()),
        };
        if guard.is_none() {
            return Err(running_error());
        }
        Ok(guard)
    }

    fn with_core<R>(&self, f: impl FnOnce(&mut Environment) -> R) -> PyResult<R> {
        let mut guard = self.idle_core()?;
        let core = guard.as_mut().ok_or_else(running_error)?;
        Ok(f(core))
    }

    fn take_core(&self) -> PyResult<TakenCore<'_>> {
        let core = self.idle_core()?.take();
        Ok(TakenCore { env: self, core })
    }

    /// Reads the modules wherever they are: the idle core, or (while the loop
    /// runs on this thread) through the call in progress.
    pub fn read<R>(&self, _py: Python<'_>, f: impl for<'r> FnOnce(Reader<'r>) -> R) -> PyResult<R> {
        if let Ok(guard) = self.core.try_lock() {
            if let Some(core) = guard.as_ref() {
                return Ok(f(Reader::Env(core)));
            }
        }
        with_running(self.id, |reader, _| f(reader)).ok_or_else(running_error)
    }

    pub fn grid_object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        lock(&self.objects).grid.as_ref().map(|o| o.clone_ref(py)).ok_or_else(cleared_error)
    }
    pub fn market_object(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        lock(&self.objects).market.as_ref().map(|o| o.clone_ref(py)).ok_or_else(cleared_error)
    }
    pub fn agents_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let agents: Vec<Py<PyAny>> = lock(&self.objects).agents.iter().map(|o| o.clone_ref(py)).collect();
        PyList::new(py, agents)
    }

    /// Wraps a core environment into a Python one: Python modules keep their
    /// objects; Rust modules get the handles in `given` (the objects the user
    /// passed, now bound to it) or else new ones.
    pub fn from_core(
        py: Python<'_>,
        core: Environment,
        max_steps: Option<usize>,
        callbacks: Vec<(Py<PyAny>, &'static str)>,
        given: GivenHandles,
    ) -> PyResult<Py<PyEnvironment>> {
        let python_inside = python_grid(core.grid()).is_some()
            || python_market(core.market()).is_some()
            || core.agents().iter().any(|a| python_agent(a.as_ref()).is_some());
        let env = Py::new(
            py,
            PyEnvironment {
                id: next_id(),
                core: Mutex::new(None),
                objects: Mutex::new(Objects::default()),
                callbacks: Mutex::new(Vec::new()),
                settings: Mutex::new(Settings { max_steps, python_inside }),
                broken: AtomicBool::new(false),
            },
        )?;
        let GivenHandles { grid, market, mut agents } = given;
        let objects = Objects {
            grid: Some(match (python_grid(core.grid()), grid) {
                (Some(obj), _) => obj.clone_ref(py),
                (None, Some(handle)) => {
                    handle.bind(py).cast::<RustGrid>()?.get().bind(env.clone_ref(py));
                    handle
                }
                (None, None) => RustGrid::handle_for(py, &env, core.grid())?,
            }),
            market: Some(match (python_market(core.market()), market) {
                (Some(obj), _) => obj.clone_ref(py),
                (None, Some(handle)) => {
                    handle.bind(py).cast::<RustMarket>()?.get().bind(env.clone_ref(py));
                    handle
                }
                (None, None) => RustMarket::handle_for(py, &env, core.market())?,
            }),
            agents: core
                .agents()
                .iter()
                .enumerate()
                .map(|(i, a)| match (python_agent(a.as_ref()), agents.get_mut(i).and_then(Option::take)) {
                    (Some(obj), _) => Ok(obj.clone_ref(py)),
                    (None, Some(handle)) => {
                        handle.bind(py).cast::<RustAgent>()?.get().bind(env.clone_ref(py), i);
                        Ok(handle)
                    }
                    (None, None) => RustAgent::handle_for(py, &env, i, a.as_ref()),
                })
                .collect::<PyResult<_>>()?,
        };
        let mut core = Box::new(core);
        core.clear_callbacks();
        let bound = env.bind(py).get();
        *lock(&bound.objects) = objects;
        *lock(&bound.core) = Some(core);
        for (func, on) in callbacks {
            bound.add_callback_inner(func.into_bound(py), on)?;
        }
        Ok(env)
    }

    fn add_callback_inner(&self, func: Bound<'_, PyAny>, on: &str) -> PyResult<()> {
        if !func.is_callable() {
            return Err(PyTypeError::new_err("add_callback: fn must be callable"));
        }
        let on = match on {
            "grid_step" => On::GridStep,
            "market_round" => On::MarketRound,
            other => {
                return Err(PyValueError::new_err(format!(
                    "add_callback: on must be \"grid_step\" or \"market_round\", got {other:?}"
                )))
            }
        };
        let env_id = self.id;
        let mut callbacks = lock(&self.callbacks);
        let index = callbacks.len();
        // The closure keeps no Python reference (the list above does, visible to
        // the garbage collector); it finds the function through the running environment.
        self.with_core(|core| {
            core.add_callback(move |event: &Event, parts: &mut EnvParts<'_>| {
                let wanted = matches!((event, on), (Event::GridStep(_), On::GridStep) | (Event::MarketRound { .. }, On::MarketRound));
                if !wanted {
                    return Ok(());
                }
                Python::attach(|py| call_python_callback(py, env_id, index, event, parts))
                    .map_err(|e| external(&format!("callback #{index}"), e))
            })
        })?;
        callbacks.push(PyCallback { func: func.unbind(), on });
        lock(&self.settings).python_inside = true;
        Ok(())
    }

    /// One grid step of Algorithm 1.
    fn step_once(slf: &Bound<'_, Self>) -> PyResult<StepInfo> {
        let py = slf.py();
        let this = slf.get();
        if this.broken.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "the Environment was interrupted by an internal error; call reset() before stepping again",
            ));
        }
        let python_inside = lock(&this.settings).python_inside;
        let mut taken = this.take_core()?;
        let _running = RunGuard::enter(this.id, slf.clone().unbind());
        let core = taken.get();
        let outcome = if python_inside {
            catch_panic("Environment.step", || core.step())
        } else {
            // Nothing in this environment needs Python: let other threads run meanwhile.
            py.detach(|| catch_panic("Environment.step", || core.step()))
        };
        match outcome {
            Ok(result) => check(py, result),
            Err(panic) => {
                this.broken.store(true, Ordering::Relaxed);
                Err(panic)
            }
        }
    }

    fn grid_step_now(&self) -> PyResult<usize> {
        if let Ok(guard) = self.core.try_lock() {
            if let Some(core) = guard.as_ref() {
                return Ok(core.grid_step());
            }
        }
        with_running(self.id, |_, moment| moment.grid_step).ok_or_else(running_error)
    }

    fn table<'py>(&self, py: Python<'py>, which: &str) -> PyResult<Bound<'py, PyDict>> {
        let guard = self.idle_core()?;
        let core = guard.as_ref().ok_or_else(running_error)?;
        match which {
            "records" => table_to_dict(py, core.recorder().records()),
            "grid" => table_to_dict(py, core.recorder().grid()),
            other => Err(table_name_error(other)),
        }
    }

    fn write_table(&self, py: Python<'_>, path: std::path::PathBuf, which: &str, parquet: bool) -> PyResult<()> {
        let guard = self.idle_core()?;
        let core = guard.as_ref().ok_or_else(running_error)?;
        let table: &(dyn Table + Sync) = match which {
            "records" => core.recorder().records(),
            "grid" => core.recorder().grid(),
            other => return Err(table_name_error(other)),
        };
        let result = py.detach(|| if parquet { table.write_parquet(&path) } else { table.write_csv(&path) });
        check(py, result)
    }
}

fn table_name_error(name: &str) -> PyErr {
    PyValueError::new_err(format!("table must be \"records\" or \"grid\", got {name:?}"))
}

fn cleared_error() -> PyErr {
    PyRuntimeError::new_err("this Environment was cleared by the garbage collector")
}

/// Calls Python callback `index` of the running environment `env_id`.
fn call_python_callback(
    py: Python<'_>,
    env_id: u64,
    index: usize,
    event: &Event,
    parts: &mut EnvParts<'_>,
) -> PyResult<()> {
    let env = context::running_env(py, env_id).ok_or_else(running_error)?;
    let func = {
        let callbacks = lock(&env.get().callbacks);
        match callbacks.get(index) {
            Some(cb) => cb.func.clone_ref(py),
            None => return Ok(()),
        }
    };
    let (time_s, grid_step, market_round) = match event {
        Event::MarketRound { grid_step, market_round, time_s, .. } => (*time_s, *grid_step, Some(*market_round)),
        Event::GridStep(info) => (info.time_s, info.grid_step, None),
    };
    let event_obj = Py::new(py, PyEvent::from_event(py, event)?)?;
    let _guard = enter_parts(parts, time_s, grid_step, market_round);
    func.call1(py, (env, event_obj))?;
    Ok(())
}

/// What a callback is told: `kind` is "market_round" or "grid_step".
#[pyclass(name = "Event", module = "opengridgym._core", frozen, get_all)]
pub struct PyEvent {
    /// "market_round" or "grid_step".
    kind: &'static str,
    /// Index (0-based) of the grid step.
    grid_step: usize,
    /// Index (0-based) of the market round (None for "grid_step").
    market_round: Option<usize>,
    /// Grid time in seconds: at the start of the step for "market_round", after it for "grid_step".
    time: f64,
    /// Whether the market has cleared.
    cleared: bool,
    /// For "grid_step": the full step information (else None).
    info: Option<Py<PyStepInfo>>,
}

impl PyEvent {
    fn from_event(py: Python<'_>, event: &Event) -> PyResult<PyEvent> {
        Ok(match *event {
            Event::MarketRound { grid_step, market_round, time_s, cleared } => PyEvent {
                kind: "market_round",
                grid_step,
                market_round: Some(market_round),
                time: time_s,
                cleared,
                info: None,
            },
            Event::GridStep(info) => PyEvent {
                kind: "grid_step",
                grid_step: info.grid_step,
                market_round: None,
                time: info.time_s,
                cleared: info.market_cleared,
                info: Some(Py::new(py, PyStepInfo::from(info))?),
            },
        })
    }
}

#[pymethods]
impl PyEvent {
    fn __repr__(&self) -> String {
        match self.market_round {
            Some(r) => format!("<Event {} grid_step={} market_round={r} time={}>", self.kind, self.grid_step, self.time),
            None => format!("<Event {} grid_step={} time={}>", self.kind, self.grid_step, self.time),
        }
    }
}

/// What one completed grid step did.
#[pyclass(name = "StepInfo", module = "opengridgym._core", frozen, get_all)]
#[derive(Clone)]
pub struct PyStepInfo {
    /// Index (0-based) of the grid step that completed.
    grid_step: usize,
    /// Grid time when the step started (the market and the agents acted then), s.
    start_time: f64,
    /// Grid time after the step, s.
    time: f64,
    /// Market rounds that ran.
    market_rounds: usize,
    /// Whether the market cleared (False: the round limit was hit).
    market_cleared: bool,
    /// Whether the grid's power flow converged.
    converged: bool,
}

impl From<StepInfo> for PyStepInfo {
    fn from(i: StepInfo) -> Self {
        PyStepInfo {
            grid_step: i.grid_step,
            start_time: i.start_time_s,
            time: i.time_s,
            market_rounds: i.market_rounds,
            market_cleared: i.market_cleared,
            converged: i.converged,
        }
    }
}

#[pymethods]
impl PyStepInfo {
    fn __repr__(&self) -> String {
        format!(
            "StepInfo(grid_step={}, start_time={}, time={}, market_rounds={}, market_cleared={}, converged={})",
            self.grid_step,
            self.start_time,
            self.time,
            self.market_rounds,
            if self.market_cleared { "True" } else { "False" },
            if self.converged { "True" } else { "False" },
        )
    }
}

/// The handles of Rust modules passed to `Environment()`, by position.
#[derive(Default)]
pub struct GivenHandles {
    grid: Option<Py<PyAny>>,
    market: Option<Py<PyAny>>,
    agents: Vec<Option<Py<PyAny>>>,
}

/// What a module passed to `Environment()` is: a Rust handle or a Python object.
enum Given<T: ?Sized> {
    Rust(Box<T>, Py<PyAny>),
    Python(Box<T>),
}

/// A class where an instance is expected (`[MyAgent]` instead of `[MyAgent()]`).
fn reject_class(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if let Ok(class) = obj.cast::<pyo3::types::PyType>() {
        let name = class.name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!("{what} is the class {name}, not an instance: pass {name}(...)")));
    }
    Ok(())
}

fn is_callable_attr(obj: &Bound<'_, PyAny>, name: &str) -> bool {
    obj.getattr(name).map(|a| a.is_callable()).unwrap_or(false)
}

fn describe(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn given_grid(obj: &Bound<'_, PyAny>) -> PyResult<Given<dyn Grid>> {
    if let Ok(handle) = obj.cast::<RustGrid>() {
        return Ok(Given::Rust(handle.get().copy_for_env()?, obj.clone().unbind()));
    }
    reject_class(obj, "grid")?;
    if is_callable_attr(obj, "reset") && is_callable_attr(obj, "step") {
        return Ok(Given::Python(Box::new(PyGridAdapter::new(obj)?)));
    }
    Err(PyTypeError::new_err(format!(
        "grid must be a built-in grid (e.g. DoNothingGrid(), FeederGrid(...)) or a BaseGrid subclass \
         with reset() and step(); got {}",
        describe(obj)
    )))
}

fn given_market(obj: &Bound<'_, PyAny>) -> PyResult<Given<dyn Market>> {
    if let Ok(handle) = obj.cast::<RustMarket>() {
        return Ok(Given::Rust(handle.get().copy_for_env()?, obj.clone().unbind()));
    }
    reject_class(obj, "market")?;
    if is_callable_attr(obj, "reset") && is_callable_attr(obj, "step") {
        return Ok(Given::Python(Box::new(PyMarketAdapter::new(obj)?)));
    }
    Err(PyTypeError::new_err(format!(
        "market must be a built-in market (e.g. DoNothingMarket()) or a BaseMarket subclass with \
         reset(), step(), cleared() and dispatch(i); got {}",
        describe(obj)
    )))
}

fn given_agent(obj: &Bound<'_, PyAny>, index: usize) -> PyResult<Given<dyn Agent>> {
    if let Ok(handle) = obj.cast::<RustAgent>() {
        return Ok(Given::Rust(handle.get().copy_for_env(index)?, obj.clone().unbind()));
    }
    reject_class(obj, &format!("agents[{index}]"))?;
    if is_callable_attr(obj, "set_market_actions") && is_callable_attr(obj, "set_grid_actions") {
        return Ok(Given::Python(Box::new(PyAgentAdapter::new(obj, index)?)));
    }
    Err(PyTypeError::new_err(format!(
        "agents[{index}] must be a built-in agent (e.g. DoNothingAgent()) or a BaseAgent subclass \
         with set_market_actions() and set_grid_actions(); got {}",
        describe(obj)
    )))
}

#[pymethods]
impl PyEnvironment {
    #[new]
    #[pyo3(signature = (grid, market, agents, *, max_steps = Some(DEFAULT_MAX_STEPS), max_market_rounds = 100, record = true))]
    fn py_new(
        py: Python<'_>,
        grid: &Bound<'_, PyAny>,
        market: &Bound<'_, PyAny>,
        agents: &Bound<'_, PyAny>,
        max_steps: Option<usize>,
        max_market_rounds: usize,
        record: bool,
    ) -> PyResult<Py<PyEnvironment>> {
        let agent_objects: Vec<Bound<'_, PyAny>> = agents.try_iter()?.collect::<PyResult<_>>()?;
        // The same object twice would be one agent driven twice per round.
        for (i, a) in agent_objects.iter().enumerate() {
            if let Some(j) = agent_objects[..i].iter().position(|b| b.is(a)) {
                return Err(PyValueError::new_err(format!(
                    "agents[{i}] is the same object as agents[{j}]: create one object per agent"
                )));
            }
        }
        let grid = given_grid(grid)?;
        let market = given_market(market)?;
        let agents = agent_objects.iter().enumerate().map(|(i, a)| given_agent(a, i)).collect::<PyResult<Vec<_>>>()?;

        // The Rust handles the user passed become bound to the environment:
        // they show its modules, and env.grid / env.market / env.agents return them.
        let mut given = GivenHandles::default();
        let grid = match grid {
            Given::Rust(g, handle) => {
                given.grid = Some(handle);
                g
            }
            Given::Python(g) => g,
        };
        let market = match market {
            Given::Rust(m, handle) => {
                given.market = Some(handle);
                m
            }
            Given::Python(m) => m,
        };
        let agents: Vec<Box<dyn Agent>> = agents
            .into_iter()
            .map(|a| match a {
                Given::Rust(a, handle) => {
                    given.agents.push(Some(handle));
                    a
                }
                Given::Python(a) => {
                    given.agents.push(None);
                    a
                }
            })
            .collect();
        let core = Environment::new(grid, market, agents)
            .with_max_market_rounds(max_market_rounds)
            .with_recording(record);
        let env = PyEnvironment::from_core(py, core, max_steps, Vec::new(), given)?;
        Ok(env)
    }

    /// The environment a scenario describes (a TOML file or the name of a
    /// built-in one), with `max_steps` = the scenario's `steps`, and the
    /// scenario's seed: `env, seed = Environment.from_scenario("do-nothing");
    /// env.reset(seed=seed)`. `seed` and `steps` override the scenario's.
    #[classmethod]
    #[pyo3(signature = (name_or_path, *, seed = None, steps = None))]
    fn from_scenario(
        _cls: &Bound<'_, pyo3::types::PyType>,
        py: Python<'_>,
        name_or_path: &str,
        seed: Option<u64>,
        steps: Option<usize>,
    ) -> PyResult<(Py<PyEnvironment>, Option<u64>)> {
        crate::scenarios::environment_from_scenario(py, name_or_path, seed, steps)
    }

    /// Starts a new episode: clears the records and the step counter, gives
    /// every module its seed (with `seed`), then calls `grid.reset()` and each
    /// agent's `reset()`. The same seed gives identical records when every
    /// module is deterministic given its seed (Python modules: use `self.rng`,
    /// seeded in `BaseAgent.seed`).
    #[pyo3(signature = (seed = None))]
    fn reset(slf: &Bound<'_, Self>, seed: Option<u64>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let mut taken = this.take_core()?;
        let _running = RunGuard::enter(this.id, slf.clone().unbind());
        let core = taken.get();
        let result = catch_panic("Environment.reset", || core.reset(seed))?;
        check(py, result)?;
        this.broken.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Runs one grid step (all market rounds, the agents' grid actions and the
    /// grid step) and returns its StepInfo. Steps past `max_steps` are allowed
    /// here; `iterate()` stops at `max_steps`.
    fn step(slf: &Bound<'_, Self>) -> PyResult<PyStepInfo> {
        Ok(Self::step_once(slf)?.into())
    }

    /// An iterator that runs one grid step per iteration and yields the index
    /// of the step it completed (0, 1, ...). With `n`, at most `n` steps; it
    /// always stops at `max_steps` (if set) and when a callback calls
    /// `env.request_stop()`.
    #[pyo3(signature = (n = None))]
    fn iterate(slf: &Bound<'_, Self>, n: Option<usize>) -> StepIterator {
        StepIterator { env: slf.clone().unbind(), remaining: n, done: false }
    }

    /// Runs up to `n` grid steps (default: until `max_steps`) and returns how many completed.
    #[pyo3(signature = (n = None))]
    fn run(slf: &Bound<'_, Self>, n: Option<usize>) -> PyResult<usize> {
        let mut it = StepIterator { env: slf.clone().unbind(), remaining: n, done: false };
        let mut done = 0;
        while it.next_step(slf.py())?.is_some() {
            done += 1;
        }
        Ok(done)
    }

    /// Registers `fn(env, event)`, called after every grid step (`on="grid_step"`)
    /// or every market round (`on="market_round"`), in the order added. Inside it
    /// `env` reads the current state (`env.grid.voltages`, `env.time`, ...) and
    /// `env.request_stop()` ends `iterate()` after this step. An exception stops the step.
    #[pyo3(signature = (r#fn, on = "grid_step"))]
    fn add_callback(&self, r#fn: &Bound<'_, PyAny>, on: &str) -> PyResult<()> {
        self.add_callback_inner(r#fn.clone(), on)
    }

    /// Removes every callback.
    fn clear_callbacks(&self) -> PyResult<()> {
        self.with_core(|core| core.clear_callbacks())?;
        let old = std::mem::take(&mut *lock(&self.callbacks));
        drop(old);
        Ok(())
    }

    /// Inside a callback: stop `iterate()`/`run()` after the current grid step.
    fn request_stop(&self) -> PyResult<()> {
        if request_stop(self.id) {
            Ok(())
        } else {
            Err(PyRuntimeError::new_err("request_stop() can only be called from inside a callback"))
        }
    }

    /// An independent copy that continues exactly as this one would: every
    /// module is deep-copied (Python modules with `copy.deepcopy`, all in one
    /// pass so objects they share stay shared), with the records, counters,
    /// settings and callbacks (the same functions).
    fn snapshot(slf: &Bound<'_, Self>) -> PyResult<Py<PyEnvironment>> {
        let py = slf.py();
        let this = slf.get();
        let guard = this.idle_core()?;
        let core = guard.as_ref().ok_or_else(running_error)?;
        // Copy the Python modules first, together, so errors surface here as Python exceptions.
        let originals: Vec<Py<PyAny>> = python_objects(core).into_iter().map(|o| o.clone_ref(py)).collect();
        let copies = if originals.is_empty() {
            Vec::new()
        } else {
            let list = PyList::new(py, originals.iter().map(|o| o.bind(py)))?;
            let deepcopy = py.import(intern!(py, "copy"))?.getattr(intern!(py, "deepcopy"))?;
            let copied = deepcopy.call1((list,))?;
            copied.extract::<Vec<Py<PyAny>>>()?
        };
        set_precopied(originals.iter().map(|o| o.as_ptr() as usize).zip(copies).collect());
        let copy = catch_panic("Environment.snapshot", || core.snapshot());
        clear_precopied();
        let copy = copy?;
        drop(guard);
        let max_steps = lock(&this.settings).max_steps;
        let callbacks: Vec<(Py<PyAny>, &'static str)> = lock(&this.callbacks)
            .iter()
            .map(|cb| {
                let on = match cb.on {
                    On::GridStep => "grid_step",
                    On::MarketRound => "market_round",
                };
                (cb.func.clone_ref(py), on)
            })
            .collect();
        PyEnvironment::from_core(py, copy, max_steps, callbacks, GivenHandles::default())
    }

    /// The grid: your object for a Python grid, the (read-only) handle for a built-in one.
    #[getter]
    fn grid(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.grid_object(py)
    }
    /// The market: your object for a Python market, the (read-only) handle for a built-in one.
    #[getter]
    fn market(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.market_object(py)
    }
    /// The agents, in order (a new list; the objects themselves).
    #[getter]
    fn agents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.agents_list(py)
    }
    /// Grid time in seconds (during a call: when the call started).
    #[getter]
    fn time(&self, py: Python<'_>) -> PyResult<f64> {
        if let Some(t) = with_running(self.id, |_, moment| moment.time_s) {
            return Ok(t);
        }
        self.read(py, |r| r.grid().map_or(0.0, |g| g.state().time_s))
    }
    /// Completed grid steps since the last reset (= index of the next step); during a call, the current step.
    #[getter]
    fn grid_step(&self) -> PyResult<usize> {
        self.grid_step_now()
    }
    /// The seed of the last reset, if it had one.
    #[getter]
    fn seed(&self) -> PyResult<Option<u64>> {
        self.with_core(|core| core.seed())
    }
    /// Grid steps per episode for `iterate()` (None: no limit).
    #[getter]
    fn get_max_steps(&self) -> Option<usize> {
        lock(&self.settings).max_steps
    }
    #[setter]
    fn set_max_steps(&self, value: Option<usize>) {
        lock(&self.settings).max_steps = value;
    }
    /// Round limit of each grid step's market negotiation (0 skips the market).
    #[getter]
    fn get_max_market_rounds(&self) -> PyResult<usize> {
        self.with_core(|core| core.max_market_rounds())
    }
    #[setter]
    fn set_max_market_rounds(&self, value: usize) -> PyResult<()> {
        self.with_core(|core| core.set_max_market_rounds(value))
    }
    /// Whether the recorder records.
    #[getter]
    fn get_recording(&self) -> PyResult<bool> {
        self.with_core(|core| core.recorder().is_enabled())
    }
    #[setter]
    fn set_recording(&self, on: bool) -> PyResult<()> {
        self.with_core(|core| core.set_recording(on))
    }

    /// The records table as a dict of numpy arrays, one row per (grid step,
    /// market round, agent): time_s, grid_step, market_round, agent, bus,
    /// price, quantity, reward, then the modules' extra columns. NaN = missing.
    #[getter]
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.table(py, "records")
    }
    /// The grid table as a dict of numpy arrays, one row per grid step:
    /// time_s, grid_step, market_rounds, market_cleared, converged,
    /// total_power_kw, total_power_kvar, losses_kw, min/max_voltage_pu, extras.
    #[getter]
    fn grid_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.table(py, "grid")
    }
    /// A table ("records" or "grid") as a pandas DataFrame (needs pandas).
    #[pyo3(signature = (table = "records"))]
    fn records_frame<'py>(&self, py: Python<'py>, table: &str) -> PyResult<Bound<'py, PyAny>> {
        let columns = self.table(py, table)?;
        let pandas = py.import("pandas").map_err(|e| {
            pyo3::exceptions::PyImportError::new_err(format!("records_frame() needs pandas (pip install pandas): {e}"))
        })?;
        pandas.getattr("DataFrame")?.call1((columns,))
    }
    /// Writes a table ("records" or "grid") to a CSV file.
    #[pyo3(signature = (path, table = "records"))]
    fn to_csv(&self, py: Python<'_>, path: std::path::PathBuf, table: &str) -> PyResult<()> {
        self.write_table(py, path, table, false)
    }
    /// Writes a table ("records" or "grid") to a Parquet file (Snappy-compressed).
    #[pyo3(signature = (path, table = "records"))]
    fn to_parquet(&self, py: Python<'_>, path: std::path::PathBuf, table: &str) -> PyResult<()> {
        self.write_table(py, path, table, true)
    }
    /// Writes both tables into `directory` (records.<ext> and grid.<ext>) as
    /// "csv" or "parquet"; returns the paths written.
    #[pyo3(signature = (directory, format = "csv"))]
    fn save(&self, py: Python<'_>, directory: std::path::PathBuf, format: &str) -> PyResult<Vec<std::path::PathBuf>> {
        let guard = self.idle_core()?;
        let core = guard.as_ref().ok_or_else(running_error)?;
        let recorder = core.recorder();
        let result = match format {
            "csv" => py.detach(|| recorder.write_csv_dir(&directory)),
            "parquet" => py.detach(|| recorder.write_parquet_dir(&directory)),
            other => return Err(PyValueError::new_err(format!("format must be \"csv\" or \"parquet\", got {other:?}"))),
        };
        check(py, result)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let n = lock(&self.objects).agents.len();
        let step = self.grid_step_now().map(|s| s.to_string()).unwrap_or_else(|_| "running".into());
        let _ = py;
        format!("<Environment with {n} agent(s), grid_step={step}>")
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(objects) = self.objects.try_lock() {
            visit.call(&objects.grid)?;
            visit.call(&objects.market)?;
            for a in &objects.agents {
                visit.call(a)?;
            }
        }
        if let Ok(callbacks) = self.callbacks.try_lock() {
            for cb in callbacks.iter() {
                visit.call(&cb.func)?;
            }
        }
        // The Python modules' objects are also held by their adapters in the core.
        if let Ok(core) = self.core.try_lock() {
            if let Some(core) = core.as_ref() {
                for obj in python_objects(core) {
                    visit.call(obj)?;
                }
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let core = self.core.try_lock().ok().and_then(|mut c| c.take());
        let objects = self.objects.try_lock().ok().map(|mut o| std::mem::take(&mut *o));
        let callbacks = self.callbacks.try_lock().ok().map(|mut c| std::mem::take(&mut *c));
        drop((core, objects, callbacks));
    }
}

/// The Python objects of the Python modules of `core` (grid, market, agents).
fn python_objects(core: &Environment) -> Vec<&Py<PyAny>> {
    let mut out = Vec::new();
    out.extend(python_grid(core.grid()));
    out.extend(python_market(core.market()));
    out.extend(core.agents().iter().filter_map(|a| python_agent(a.as_ref())));
    out
}

/// Returned by `Environment.iterate()`: each `next()` runs one grid step and
/// yields its index.
#[pyclass(name = "StepIterator", module = "opengridgym._core")]
pub struct StepIterator {
    env: Py<PyEnvironment>,
    remaining: Option<usize>,
    done: bool,
}

impl StepIterator {
    fn next_step(&mut self, py: Python<'_>) -> PyResult<Option<usize>> {
        if self.done || self.remaining == Some(0) {
            return Ok(None);
        }
        // A Rust-only environment runs no Python code between steps: let Ctrl-C through here.
        py.check_signals()?;
        let env = self.env.bind(py);
        let this = env.get();
        if let Some(max) = lock(&this.settings).max_steps {
            if this.grid_step_now()? >= max {
                self.done = true;
                return Ok(None);
            }
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= 1;
        }
        let info = match PyEnvironment::step_once(env) {
            Ok(info) => info,
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        if this.with_core(|core| core.stop_requested())? {
            self.done = true;
        }
        Ok(Some(info.grid_step))
    }
}

#[pymethods]
impl StepIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<usize>> {
        self.next_step(py)
    }
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.env)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEnvironment>()?;
    m.add_class::<PyStepInfo>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<StepIterator>()?;
    Ok(())
}
