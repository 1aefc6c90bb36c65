//! Python modules as Rust modules: `PyGridAdapter`, `PyMarketAdapter` and
//! `PyAgentAdapter` implement the core traits by calling the Python object's
//! methods (`reset`, `step`, `set_market_actions`, ...) with no arguments.
//!
//! Around each call the adapter enters a frame (see `context`) and sets
//! `obj.env` to its [`EnvView`], so the method can read the rest of the
//! environment through `self.env`. After the call it reads back what the
//! object set: an agent's `market_actions` / `grid_actions` / `reward`, a
//! market's `cleared()` and `dispatch(i)`, a grid's state attributes; the Rust
//! loop then reads those cached values without calling Python again.
//!
//! A Python exception becomes `ogg_core::Error::External` with the `PyErr`
//! inside (see `errors`), so it reaches the caller of `env.step()` unchanged.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

use numpy::PyReadonlyArray1;
use ogg_core::{Agent, Dispatch, Grid, GridAction, GridState, Market, MarketAction, Result, View};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::actions::{dispatch_from_py, grid_actions_from_py, market_actions_from_py};
use crate::context::{enter_view, Caller, EnvView};
use crate::errors::external;

/// The Python object of a module.
struct PyModuleObject {
    obj: Py<PyAny>,
    /// Whether `obj.env` was set (once per object: the view reads whichever call of `obj` is in progress).
    env_set: bool,
    /// An error of `seed()` (which cannot return one), reported by the next call.
    seed_error: Option<PyErr>,
    /// Set when this module is a copy that could not be made (see `copy`).
    copy_error: Option<PyErr>,
}

impl PyModuleObject {
    fn new(obj: Py<PyAny>) -> Self {
        PyModuleObject { obj, env_set: false, seed_error: None, copy_error: None }
    }

    /// Runs `f` on the object during a call from the environment: `self.env` is valid meanwhile.
    fn call<'py, R>(
        &mut self,
        py: Python<'py>,
        view: &View<'_>,
        caller: Caller,
        time_s: f64,
        market_round: Option<usize>,
        f: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<R>,
    ) -> PyResult<R> {
        if let Some(err) = &self.copy_error {
            return Err(err.clone_ref(py));
        }
        if let Some(err) = self.seed_error.take() {
            return Err(err);
        }
        let obj = self.obj.bind(py).clone();
        if !self.env_set {
            obj.setattr(intern!(py, "env"), EnvView::new(&self.obj))?;
            self.env_set = true;
        }
        let guard = enter_view(view, &self.obj, caller, time_s, market_round);
        let result = f(&obj);
        drop(guard);
        result
    }

    /// Calls `obj.seed(seed)` if the object has it (`Environment::reset(seed)`
    /// seeds every module before resetting any). There is no view during it.
    fn seed(&mut self, seed: u64) {
        let result = Python::attach(|py| -> PyResult<()> {
            match attr(self.obj.bind(py), intern!(py, "seed"))? {
                Some(method) => method.call1((seed,)).map(drop),
                None => Ok(()),
            }
        });
        if let Err(err) = result {
            self.seed_error = Some(err);
        }
    }

    fn copy(&self) -> PyModuleObject {
        Python::attach(|py| {
            let (obj, copy_error) = match deep_copy(py, &self.obj) {
                Ok(copy) => (copy, None),
                Err(err) => (self.obj.clone_ref(py), Some(err)),
            };
            PyModuleObject { obj, env_set: false, seed_error: None, copy_error }
        })
    }
}

thread_local! {
    /// Copies made ahead of `Environment::snapshot` (original object address → copy),
    /// taken by `clone_box` so that all modules are copied with one shared memo.
    static PRECOPIED: RefCell<HashMap<usize, Py<PyAny>>> = RefCell::new(HashMap::new());
}

/// Registers copies made ahead of a snapshot; they are used by the next `clone_box` of each original.
pub fn set_precopied(pairs: Vec<(usize, Py<PyAny>)>) {
    PRECOPIED.with(|p| p.borrow_mut().extend(pairs));
}

/// Drops unused precopies (after a snapshot).
pub fn clear_precopied() {
    let drained: Vec<Py<PyAny>> = PRECOPIED.with(|p| p.borrow_mut().drain().map(|(_, v)| v).collect());
    drop(drained);
}

fn deep_copy(py: Python<'_>, obj: &Py<PyAny>) -> PyResult<Py<PyAny>> {
    let key = obj.as_ptr() as usize;
    if let Some(copy) = PRECOPIED.with(|p| p.borrow_mut().remove(&key)) {
        return Ok(copy);
    }
    let copy = py.import(intern!(py, "copy"))?.getattr(intern!(py, "deepcopy"))?;
    Ok(copy.call1((obj.bind(py),))?.unbind())
}

/// `getattr(obj, name, None)`, with `None` for a missing attribute.
fn attr<'py>(obj: &Bound<'py, PyAny>, name: &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyAny>>> {
    match obj.getattr(name) {
        Ok(v) if v.is_none() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(obj.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A vector of numbers from a numpy array or any sequence of numbers.
fn float_vec(value: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    if let Ok(array) = value.extract::<PyReadonlyArray1<'_, f64>>() {
        if let Ok(slice) = array.as_slice() {
            return Ok(slice.to_vec());
        }
        return Ok(array.as_array().to_vec());
    }
    value.extract::<Vec<f64>>()
}

/// Names from a list, tuple or numpy array of str.
fn string_vec(value: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    value.extract::<Vec<String>>()
}

/// The module name: the object's `name` attribute, else `default`.
fn module_name(obj: &Bound<'_, PyAny>, default: String) -> PyResult<String> {
    match attr(obj, intern!(obj.py(), "name"))? {
        Some(name) => Ok(name.str()?.to_string()),
        None => Ok(default),
    }
}

/// Grid time of a view (the grid's clock, when the grid is not the caller).
fn view_time(view: &View<'_>) -> f64 {
    view.grid.map_or(0.0, |g| g.state().time_s)
}

/// A grid written in Python (a `BaseGrid` subclass or any object with `reset()` and `step()`).
pub struct PyGridAdapter {
    module: PyModuleObject,
    name: String,
    state: GridState,
}

impl PyGridAdapter {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let name = module_name(obj, "python grid".to_string())?;
        let state = GridState { converged: true, ..Default::default() };
        Ok(PyGridAdapter { module: PyModuleObject::new(obj.clone().unbind()), name, state })
    }

    pub fn object(&self) -> &Py<PyAny> {
        &self.module.obj
    }

    /// Reads the grid's state attributes after `reset` or `step`.
    fn read_state(obj: &Bound<'_, PyAny>, state: &mut GridState) -> PyResult<()> {
        let py = obj.py();
        // Reads attribute `name` (if set) with `convert`; a bad value names the attribute.
        fn read<'py, T>(
            obj: &Bound<'py, PyAny>,
            name: &Bound<'py, PyString>,
            convert: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<T>,
        ) -> PyResult<Option<T>> {
            let Some(value) = attr(obj, name)? else { return Ok(None) };
            convert(&value).map(Some).map_err(|e| {
                pyo3::exceptions::PyTypeError::new_err(format!("the grid's `{name}` attribute: {e}"))
            })
        }
        let number = |v: &Bound<'_, PyAny>| v.extract::<f64>();
        state.time_s = match read(obj, intern!(py, "time"), number)? {
            Some(t) => t,
            None => state.step as f64 * read(obj, intern!(py, "step_s"), number)?.unwrap_or(3600.0),
        };
        if let Some(v) = read(obj, intern!(py, "buses"), string_vec)? {
            state.buses = v;
        }
        if let Some(v) = read(obj, intern!(py, "voltages"), float_vec)? {
            state.bus_voltage_pu = v;
        }
        if let Some(v) = read(obj, intern!(py, "branches"), string_vec)? {
            state.branches = v;
        }
        if let Some(v) = read(obj, intern!(py, "branch_loading"), float_vec)? {
            state.branch_loading = v;
        }
        state.total_power_kw = read(obj, intern!(py, "total_power_kw"), number)?.unwrap_or(0.0);
        state.total_power_kvar = read(obj, intern!(py, "total_power_kvar"), number)?.unwrap_or(0.0);
        state.losses_kw = read(obj, intern!(py, "losses_kw"), number)?.unwrap_or(0.0);
        state.converged = read(obj, intern!(py, "converged"), |v| v.is_truthy())?.unwrap_or(true);
        Ok(())
    }
}

impl Grid for PyGridAdapter {
    fn name(&self) -> &str {
        &self.name
    }
    fn seed(&mut self, seed: u64) {
        self.module.seed(seed);
    }
    fn reset(&mut self, view: &View) -> Result<()> {
        self.module.env_set = false;
        let state = &mut self.state;
        Python::attach(|py| {
            self.module.call(py, view, Caller::Grid, state.time_s, None, |obj| {
                obj.call_method0(intern!(py, "reset"))?;
                state.step = 0;
                Self::read_state(obj, state)
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn step(&mut self, view: &View) -> Result<()> {
        let state = &mut self.state;
        Python::attach(|py| {
            self.module.call(py, view, Caller::Grid, state.time_s, None, |obj| {
                obj.call_method0(intern!(py, "step"))?;
                state.step += 1;
                Self::read_state(obj, state)
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn state(&self) -> &GridState {
        &self.state
    }
    fn clone_box(&self) -> Box<dyn Grid> {
        Box::new(PyGridAdapter { module: self.module.copy(), name: self.name.clone(), state: self.state.clone() })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A market written in Python (a `BaseMarket` subclass or any object with
/// `reset()`, `step()`, `cleared()` and `dispatch(i)`).
pub struct PyMarketAdapter {
    module: PyModuleObject,
    name: String,
    cleared: bool,
    dispatches: Vec<Option<Dispatch>>,
}

impl PyMarketAdapter {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let name = module_name(obj, "python market".to_string())?;
        Ok(PyMarketAdapter { module: PyModuleObject::new(obj.clone().unbind()), name, cleared: false, dispatches: Vec::new() })
    }

    pub fn object(&self) -> &Py<PyAny> {
        &self.module.obj
    }

    /// Asks the market whether it cleared and what it dispatched to each agent.
    fn read_outcome(obj: &Bound<'_, PyAny>, n_agents: usize, cleared: &mut bool, dispatches: &mut Vec<Option<Dispatch>>) -> PyResult<()> {
        let py = obj.py();
        *cleared = match attr(obj, intern!(py, "cleared"))? {
            Some(c) if c.is_callable() => c.call0()?.is_truthy()?,
            Some(c) => c.is_truthy()?,
            None => true,
        };
        dispatches.clear();
        if let Some(dispatch) = attr(obj, intern!(py, "dispatch"))? {
            for i in 0..n_agents {
                dispatches.push(dispatch_from_py(&dispatch.call1((i,))?, i)?);
            }
        }
        Ok(())
    }
}

impl Market for PyMarketAdapter {
    fn name(&self) -> &str {
        &self.name
    }
    fn seed(&mut self, seed: u64) {
        self.module.seed(seed);
    }
    fn reset(&mut self, view: &View) -> Result<()> {
        self.cleared = false;
        self.dispatches.clear();
        Python::attach(|py| {
            self.module.call(py, view, Caller::Market, view_time(view), None, |obj| {
                obj.call_method0(intern!(py, "reset")).map(drop)
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn step(&mut self, view: &View) -> Result<()> {
        let (cleared, dispatches) = (&mut self.cleared, &mut self.dispatches);
        let n_agents = view.n_agents();
        Python::attach(|py| {
            self.module.call(py, view, Caller::Market, view_time(view), Some(view.market_round), |obj| {
                obj.call_method0(intern!(py, "step"))?;
                Self::read_outcome(obj, n_agents, cleared, dispatches)
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn cleared(&self) -> bool {
        self.cleared
    }
    fn dispatch(&self, index: usize) -> Option<Dispatch> {
        self.dispatches.get(index).copied().flatten()
    }
    fn clone_box(&self) -> Box<dyn Market> {
        Box::new(PyMarketAdapter {
            module: self.module.copy(),
            name: self.name.clone(),
            cleared: self.cleared,
            dispatches: self.dispatches.clone(),
        })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// An agent written in Python (a `BaseAgent` subclass or any object with
/// `set_market_actions()` and `set_grid_actions()`).
pub struct PyAgentAdapter {
    module: PyModuleObject,
    name: String,
    bus: Option<String>,
    market_actions: Vec<MarketAction>,
    grid_actions: Vec<GridAction>,
    reward: f64,
    /// Whether the object defines `observe_market` (looked up once: most agents
    /// don't, and a Python call per agent per round is the loop's main cost).
    observes_market: bool,
}

impl PyAgentAdapter {
    pub fn new(obj: &Bound<'_, PyAny>, index: usize) -> PyResult<Self> {
        let py = obj.py();
        let name = module_name(obj, format!("agent{index}"))?;
        let bus = attr(obj, intern!(py, "bus"))?.map(|b| b.str().map(|s| s.to_string())).transpose()?;
        let observes_market = obj.hasattr(intern!(py, "observe_market"))?;
        Ok(PyAgentAdapter {
            module: PyModuleObject::new(obj.clone().unbind()),
            name,
            bus,
            market_actions: Vec::new(),
            grid_actions: Vec::new(),
            reward: 0.0,
            observes_market,
        })
    }

    pub fn object(&self) -> &Py<PyAny> {
        &self.module.obj
    }

    fn read_reward(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(attr(obj, intern!(obj.py(), "reward"))?.map(|r| r.extract()).transpose()?.unwrap_or(0.0))
    }

    fn caller(view: &View<'_>) -> Caller {
        Caller::Agent(view.caller.unwrap_or(0))
    }
}

impl Agent for PyAgentAdapter {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        self.bus.as_deref()
    }
    fn seed(&mut self, seed: u64) {
        self.module.seed(seed);
    }
    fn reset(&mut self, view: &View) -> Result<()> {
        self.module.env_set = false;
        self.market_actions.clear();
        self.grid_actions.clear();
        let reward = &mut self.reward;
        Python::attach(|py| {
            self.module.call(py, view, Self::caller(view), view_time(view), None, |obj| {
                // Objects without reset() (duck-typed agents) need none.
                if let Some(reset) = attr(obj, intern!(py, "reset"))? {
                    reset.call0()?;
                }
                *reward = Self::read_reward(obj)?;
                Ok(())
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        let (actions, reward) = (&mut self.market_actions, &mut self.reward);
        Python::attach(|py| {
            self.module.call(py, view, Self::caller(view), view_time(view), Some(view.market_round), |obj| {
                obj.call_method0(intern!(py, "set_market_actions"))?;
                if let Some(value) = attr(obj, intern!(py, "market_actions"))? {
                    market_actions_from_py(&value, actions)?;
                } else {
                    actions.clear();
                }
                *reward = Self::read_reward(obj)?;
                Ok(())
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn observe_market(&mut self, view: &View) -> Result<()> {
        if !self.observes_market {
            return Ok(());
        }
        let reward = &mut self.reward;
        Python::attach(|py| {
            self.module.call(py, view, Self::caller(view), view_time(view), Some(view.market_round), |obj| {
                obj.call_method0(intern!(py, "observe_market"))?;
                *reward = Self::read_reward(obj)?;
                Ok(())
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        let (actions, reward) = (&mut self.grid_actions, &mut self.reward);
        Python::attach(|py| {
            self.module.call(py, view, Self::caller(view), view_time(view), None, |obj| {
                obj.call_method0(intern!(py, "set_grid_actions"))?;
                if let Some(value) = attr(obj, intern!(py, "grid_actions"))? {
                    grid_actions_from_py(&value, actions)?;
                } else {
                    actions.clear();
                }
                *reward = Self::read_reward(obj)?;
                Ok(())
            })
        })
        .map_err(|e| external(&self.name, e))
    }
    fn market_actions(&self) -> &[MarketAction] {
        &self.market_actions
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.grid_actions
    }
    fn reward(&self) -> f64 {
        self.reward
    }
    fn clone_box(&self) -> Box<dyn Agent> {
        Box::new(PyAgentAdapter {
            module: self.module.copy(),
            name: self.name.clone(),
            bus: self.bus.clone(),
            market_actions: self.market_actions.clone(),
            grid_actions: self.grid_actions.clone(),
            reward: self.reward,
            observes_market: self.observes_market,
        })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The Python object behind a module, if it is a Python module.
pub fn python_grid(grid: &dyn Grid) -> Option<&Py<PyAny>> {
    grid.as_any().downcast_ref::<PyGridAdapter>().map(|a| a.object())
}
pub fn python_market(market: &dyn Market) -> Option<&Py<PyAny>> {
    market.as_any().downcast_ref::<PyMarketAdapter>().map(|a| a.object())
}
pub fn python_agent(agent: &dyn Agent) -> Option<&Py<PyAny>> {
    agent.as_any().downcast_ref::<PyAgentAdapter>().map(|a| a.object())
}
