//! Built-in Rust modules as Python objects.
//!
//! `RustGrid`, `RustMarket` and `RustAgent` are the Python handles of modules
//! written in Rust (`DoNothingGrid`, `FeederGrid`, `DoNothingMarket`,
//! `DoNothingAgent`, `ScriptedLoadAgent`, ... are subclasses that only add a
//! constructor). A new handle owns its module. Passing it to `Environment`
//! moves the module into the environment and *binds* the handle to it: from
//! then on the handle reads the module where it lives (`grid.voltages` is the
//! environment's grid), and is read-only — the environment alone changes it.
//! `env.grid` returns that same handle object.

use std::sync::{Mutex, MutexGuard};

use numpy::PyArray1;
use ogg_core::scripted::ScriptedLoadAgent;
use ogg_core::{Agent, DoNothingAgent, DoNothingGrid, DoNothingMarket, Grid, GridState, Market, View};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{PyClassInitializer, PyTraverseError};

use crate::actions::{grid_action_to_py, market_action_to_py};
use crate::context::Reader;
use crate::environment::PyEnvironment;
use crate::errors::check;

/// Where a Rust module is: owned by its handle, or inside an environment.
pub enum Slot<T: ?Sized> {
    Own(Box<T>),
    /// In `env`; agents also record their position.
    Bound { env: Py<PyEnvironment>, index: usize },
    /// Cleared by the garbage collector.
    Gone,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn gone() -> PyErr {
    PyRuntimeError::new_err("this module's environment no longer exists")
}

fn not_visible(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!("the {what} cannot be read right now (it is the module being called)"))
}

/// Runs `f` on the module: the handle's own, or the environment's (idle or mid-call).
fn read_slot<T: ?Sized, R>(
    py: Python<'_>,
    slot: &Mutex<Slot<T>>,
    what: &str,
    own: impl FnOnce(&T) -> R,
    in_env: impl for<'r> FnOnce(Reader<'r>, usize) -> Option<R>,
) -> PyResult<R> {
    let env = match &*lock(slot) {
        Slot::Own(module) => return Ok(own(module)),
        Slot::Bound { env, index } => (env.clone_ref(py), *index),
        Slot::Gone => return Err(gone()),
    };
    env.0.get().read(py, |reader| in_env(reader, env.1))?.ok_or_else(|| not_visible(what))
}

/// A view with no other modules, for driving a module that is not in an environment.
fn empty_view() -> View<'static> {
    View { grid: None, market: None, agents_before: &[], agents_after: &[], caller: None, grid_step: 0, market_round: 0 }
}

fn owned_mut<T: ?Sized, R>(slot: &Mutex<Slot<T>>, f: impl FnOnce(&mut T) -> R) -> PyResult<R> {
    match &mut *lock(slot) {
        Slot::Own(module) => Ok(f(module)),
        Slot::Bound { .. } => Err(PyRuntimeError::new_err(
            "this module belongs to an Environment: drive it with env.reset()/env.step()",
        )),
        Slot::Gone => Err(gone()),
    }
}

fn take_copy<T: ?Sized>(slot: &Mutex<Slot<T>>, clone: impl FnOnce(&T) -> Box<T>, what: &str) -> PyResult<Box<T>> {
    match &*lock(slot) {
        Slot::Own(module) => Ok(clone(module)),
        Slot::Bound { .. } => Err(PyValueError::new_err(format!(
            "this {what} already belongs to an Environment; create a new one (or use env.snapshot())"
        ))),
        Slot::Gone => Err(gone()),
    }
}

fn traverse_slot<T: ?Sized>(slot: &Mutex<Slot<T>>, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
    if let Ok(slot) = slot.try_lock() {
        if let Slot::Bound { env, .. } = &*slot {
            visit.call(env)?;
        }
    }
    Ok(())
}

fn clear_slot<T: ?Sized>(slot: &Mutex<Slot<T>>) {
    let old = std::mem::replace(&mut *lock(slot), Slot::Gone);
    drop(old);
}

fn floats<'py>(py: Python<'py>, values: &[f64]) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_slice(py, values)
}

// ---------------------------------------------------------------- grids

/// A grid implemented in Rust (base class of the built-in grids). Read-only
/// once in an environment: its attributes show the environment's grid.
#[pyclass(name = "RustGrid", module = "opengridgym._core", subclass, frozen)]
pub struct RustGrid {
    slot: Mutex<Slot<dyn Grid>>,
}

impl RustGrid {
    pub fn own(grid: Box<dyn Grid>) -> RustGrid {
        RustGrid { slot: Mutex::new(Slot::Own(grid)) }
    }
    pub fn bound(env: Py<PyEnvironment>) -> RustGrid {
        RustGrid { slot: Mutex::new(Slot::Bound { env, index: 0 }) }
    }
    /// A copy of the grid, to move into an environment.
    pub fn copy_for_env(&self) -> PyResult<Box<dyn Grid>> {
        take_copy(&self.slot, |g| g.clone_box(), "grid")
    }
    pub fn bind(&self, env: Py<PyEnvironment>) {
        *lock(&self.slot) = Slot::Bound { env, index: 0 };
    }
    pub fn read<R>(&self, py: Python<'_>, f: impl for<'r> Fn(&'r dyn Grid) -> R) -> PyResult<R> {
        read_slot(py, &self.slot, "grid", |g| f(g), |reader, _| reader.grid().map(&f))
    }

    /// The handle object for a grid living in `env` (the right subclass where known).
    pub fn handle_for(py: Python<'_>, env: &Py<PyEnvironment>, grid: &dyn Grid) -> PyResult<Py<PyAny>> {
        let base = PyClassInitializer::from(RustGrid::bound(env.clone_ref(py)));
        let any = grid.as_any();
        if any.is::<DoNothingGrid>() {
            return Ok(Bound::new(py, base.add_subclass(PyDoNothingGrid))?.into_any().unbind());
        }
        if let Some(handle) = crate::feeder::grid_handle_for(py, any, env)? {
            return Ok(handle);
        }
        Ok(Bound::new(py, base)?.into_any().unbind())
    }
}

#[pymethods]
impl RustGrid {
    /// The grid's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |g| g.name().to_string())
    }
    /// Seconds since the start of the episode.
    #[getter]
    fn time(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |g| g.state().time_s)
    }
    /// Completed grid steps since the last reset.
    #[getter]
    fn steps(&self, py: Python<'_>) -> PyResult<usize> {
        self.read(py, |g| g.state().step)
    }
    /// Bus names, in the order of `voltages`.
    #[getter]
    fn buses(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.read(py, |g| g.state().buses.clone())
    }
    /// Per-unit voltage magnitude per bus (mean over its phases), as a numpy array.
    #[getter]
    fn voltages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = self.read(py, |g| g.state().bus_voltage_pu.clone())?;
        Ok(PyArray1::from_vec(py, v))
    }
    /// Branch names, in the order of `branch_loading`.
    #[getter]
    fn branches(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.read(py, |g| g.state().branches.clone())
    }
    /// Loading of each branch as a fraction of its rating (NaN where unrated), as a numpy array.
    #[getter]
    fn branch_loading<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let v = self.read(py, |g| g.state().branch_loading.clone())?;
        Ok(PyArray1::from_vec(py, v))
    }
    /// Total power drawn from the source(s), kW.
    #[getter]
    fn total_power_kw(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |g| g.state().total_power_kw)
    }
    /// Total reactive power drawn from the source(s), kvar.
    #[getter]
    fn total_power_kvar(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |g| g.state().total_power_kvar)
    }
    /// Losses, kW.
    #[getter]
    fn losses_kw(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |g| g.state().losses_kw)
    }
    /// Whether the last power flow converged.
    #[getter]
    fn converged(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, |g| g.state().converged)
    }
    /// Everything above as a dict (arrays as numpy arrays).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s: GridState = self.read(py, |g| g.state().clone())?;
        let d = PyDict::new(py);
        d.set_item("time", s.time_s)?;
        d.set_item("steps", s.step)?;
        d.set_item("buses", s.buses)?;
        d.set_item("voltages", floats(py, &s.bus_voltage_pu))?;
        d.set_item("branches", s.branches)?;
        d.set_item("branch_loading", floats(py, &s.branch_loading))?;
        d.set_item("total_power_kw", s.total_power_kw)?;
        d.set_item("total_power_kvar", s.total_power_kvar)?;
        d.set_item("losses_kw", s.losses_kw)?;
        d.set_item("converged", s.converged)?;
        Ok(d)
    }
    /// The network as markets see it, or None: a dict with `buses`, `root`
    /// (index of the source bus), `bus_kv` and `branches` (list of
    /// `(name, from_index, to_index, phases, rating_kva)`).
    fn topology<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(t) = self.read(py, |g| g.topology().cloned())? else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("buses", &t.buses)?;
        d.set_item("root", t.root)?;
        d.set_item("bus_kv", floats(py, &t.bus_kv))?;
        let branches = PyList::empty(py);
        for b in &t.branches {
            branches.append((&b.name, b.from, b.to, b.phases, b.rating_kva))?;
        }
        d.set_item("branches", branches)?;
        Ok(Some(d))
    }
    /// Whether the grid is inside an Environment (and therefore read-only).
    #[getter]
    fn in_environment(&self) -> bool {
        matches!(&*lock(&self.slot), Slot::Bound { .. })
    }
    /// Resets a grid that is not in an environment (e.g. to solve a feeder on its own).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        let result = owned_mut(&self.slot, |g| g.reset(&empty_view()))?;
        check(py, result)
    }
    /// Steps a grid that is not in an environment (no agent actions).
    fn step(&self, py: Python<'_>) -> PyResult<()> {
        let result = owned_mut(&self.slot, |g| g.step(&empty_view()))?;
        check(py, result)
    }
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let name = slf.get().read(slf.py(), |g| g.name().to_string()).unwrap_or_else(|_| "?".into());
        type_repr(slf.as_any(), &name)
    }
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        traverse_slot(&self.slot, &visit)
    }
    fn __clear__(&self) {
        clear_slot(&self.slot)
    }
}

/// `<ClassName 'module name'>`, with the object's actual (sub)class name.
fn type_repr(obj: &Bound<'_, PyAny>, name: &str) -> String {
    let class = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    format!("<{class} '{name}'>")
}

/// The paper's do-nothing grid: time advances by `step_s` seconds per grid step, nothing else changes.
#[pyclass(name = "DoNothingGrid", module = "opengridgym._core", extends = RustGrid, frozen)]
pub struct PyDoNothingGrid;

#[pymethods]
impl PyDoNothingGrid {
    #[new]
    #[pyo3(signature = (step_s = 3600.0))]
    fn new(step_s: f64) -> PyResult<PyClassInitializer<Self>> {
        if !(step_s.is_finite() && step_s > 0.0) {
            return Err(PyValueError::new_err(format!("step_s = {step_s} must be a positive number of seconds")));
        }
        Ok(PyClassInitializer::from(RustGrid::own(Box::new(DoNothingGrid::new(step_s)))).add_subclass(PyDoNothingGrid))
    }
}

// ---------------------------------------------------------------- markets

/// A market implemented in Rust (base class of the built-in markets). Read-only once in an environment.
#[pyclass(name = "RustMarket", module = "opengridgym._core", subclass, frozen)]
pub struct RustMarket {
    slot: Mutex<Slot<dyn Market>>,
}

impl RustMarket {
    pub fn own(market: Box<dyn Market>) -> RustMarket {
        RustMarket { slot: Mutex::new(Slot::Own(market)) }
    }
    pub fn bound(env: Py<PyEnvironment>) -> RustMarket {
        RustMarket { slot: Mutex::new(Slot::Bound { env, index: 0 }) }
    }
    pub fn copy_for_env(&self) -> PyResult<Box<dyn Market>> {
        take_copy(&self.slot, |m| m.clone_box(), "market")
    }
    pub fn bind(&self, env: Py<PyEnvironment>) {
        *lock(&self.slot) = Slot::Bound { env, index: 0 };
    }
    pub fn read<R>(&self, py: Python<'_>, f: impl for<'r> Fn(&'r dyn Market) -> R) -> PyResult<R> {
        read_slot(py, &self.slot, "market", |m| f(m), |reader, _| reader.market().map(&f))
    }
    pub fn handle_for(py: Python<'_>, env: &Py<PyEnvironment>, market: &dyn Market) -> PyResult<Py<PyAny>> {
        let base = PyClassInitializer::from(RustMarket::bound(env.clone_ref(py)));
        if market.as_any().is::<DoNothingMarket>() {
            return Ok(Bound::new(py, base.add_subclass(PyDoNothingMarket))?.into_any().unbind());
        }
        if let Some(handle) = crate::markets::market_handle_for(py, market.as_any(), env)? {
            return Ok(handle);
        }
        Ok(Bound::new(py, base)?.into_any().unbind())
    }
}

#[pymethods]
impl RustMarket {
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |m| m.name().to_string())
    }
    /// Whether the negotiation of the current grid step is over.
    fn cleared(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, |m| m.cleared())
    }
    /// What the market dispatched to agent `index` after the last round: `(price, quantity)` or None.
    fn dispatch(&self, py: Python<'_>, index: usize) -> PyResult<Option<(f64, f64)>> {
        self.read(py, |m| m.dispatch(index).map(|d| (d.price, d.quantity)))
    }
    #[getter]
    fn in_environment(&self) -> bool {
        matches!(&*lock(&self.slot), Slot::Bound { .. })
    }
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let name = slf.get().read(slf.py(), |m| m.name().to_string()).unwrap_or_else(|_| "?".into());
        type_repr(slf.as_any(), &name)
    }
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        traverse_slot(&self.slot, &visit)
    }
    fn __clear__(&self) {
        clear_slot(&self.slot)
    }
}

/// The paper's do-nothing market: clears at once and dispatches nothing.
#[pyclass(name = "DoNothingMarket", module = "opengridgym._core", extends = RustMarket, frozen)]
pub struct PyDoNothingMarket;

#[pymethods]
impl PyDoNothingMarket {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(RustMarket::own(Box::new(DoNothingMarket))).add_subclass(PyDoNothingMarket)
    }
}

// ---------------------------------------------------------------- agents

/// An agent implemented in Rust (base class of the built-in agents). Read-only once in an environment.
#[pyclass(name = "RustAgent", module = "opengridgym._core", subclass, frozen)]
pub struct RustAgent {
    slot: Mutex<Slot<dyn Agent>>,
}

impl RustAgent {
    pub fn own(agent: Box<dyn Agent>) -> RustAgent {
        RustAgent { slot: Mutex::new(Slot::Own(agent)) }
    }
    pub fn bound(env: Py<PyEnvironment>, index: usize) -> RustAgent {
        RustAgent { slot: Mutex::new(Slot::Bound { env, index }) }
    }
    /// A copy of the agent for position `index` of an environment (unnamed
    /// built-in agents are named `agent<index>`).
    pub fn copy_for_env(&self, index: usize) -> PyResult<Box<dyn Agent>> {
        let mut agent = take_copy(&self.slot, |a| a.clone_box(), "agent")?;
        if let Some(a) = agent.as_any_mut().downcast_mut::<DoNothingAgent>() {
            if a.name.is_empty() {
                a.name = format!("agent{index}");
            }
        }
        Ok(agent)
    }
    pub fn bind(&self, env: Py<PyEnvironment>, index: usize) {
        *lock(&self.slot) = Slot::Bound { env, index };
    }
    fn read<R>(&self, py: Python<'_>, f: impl for<'r> Fn(&'r dyn Agent) -> R) -> PyResult<R> {
        read_slot(py, &self.slot, "agent", |a| f(a), |reader, index| reader.agent(index).map(&f))
    }
    pub fn handle_for(py: Python<'_>, env: &Py<PyEnvironment>, index: usize, agent: &dyn Agent) -> PyResult<Py<PyAny>> {
        let base = PyClassInitializer::from(RustAgent::bound(env.clone_ref(py), index));
        let any = agent.as_any();
        if any.is::<DoNothingAgent>() {
            return Ok(Bound::new(py, base.add_subclass(PyDoNothingAgent))?.into_any().unbind());
        }
        if any.is::<ScriptedLoadAgent>() {
            return Ok(Bound::new(py, base.add_subclass(PyScriptedLoadAgent))?.into_any().unbind());
        }
        if let Some(handle) = crate::markets::agent_handle_for(py, any, env, index)? {
            return Ok(handle);
        }
        Ok(Bound::new(py, base)?.into_any().unbind())
    }
}

#[pymethods]
impl RustAgent {
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |a| a.name().to_string())
    }
    /// The bus the agent sits at, or None.
    #[getter]
    fn bus(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.read(py, |a| a.bus().map(str::to_string))
    }
    /// The actions set by the last `set_market_actions`, as tuples (e.g. `("bid", p_max, p_min, q_max, q_min)`).
    #[getter]
    fn market_actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let actions = self.read(py, |a| a.market_actions().to_vec())?;
        PyList::new(py, actions.iter().map(|x| market_action_to_py(py, x)).collect::<PyResult<Vec<_>>>()?)
    }
    /// The actions set by the last `set_grid_actions`, as tuples (e.g. `("scale_load", "671", 1.1)`).
    #[getter]
    fn grid_actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let actions = self.read(py, |a| a.grid_actions().to_vec())?;
        PyList::new(py, actions.iter().map(|x| grid_action_to_py(py, x)).collect::<PyResult<Vec<_>>>()?)
    }
    /// Reward of the last market round or grid step.
    #[getter]
    fn reward(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |a| a.reward())
    }
    /// Position in the environment's agent list, or None if not in an environment.
    #[getter]
    fn index(&self) -> Option<usize> {
        match &*lock(&self.slot) {
            Slot::Bound { index, .. } => Some(*index),
            _ => None,
        }
    }
    #[getter]
    fn in_environment(&self) -> bool {
        matches!(&*lock(&self.slot), Slot::Bound { .. })
    }
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let name = slf.get().read(slf.py(), |a| a.name().to_string()).unwrap_or_else(|_| "?".into());
        type_repr(slf.as_any(), &name)
    }
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        traverse_slot(&self.slot, &visit)
    }
    fn __clear__(&self) {
        clear_slot(&self.slot)
    }
}

/// The paper's do-nothing agent: takes part in nothing. Unnamed agents are
/// named `agent<i>` after their position in the environment.
#[pyclass(name = "DoNothingAgent", module = "opengridgym._core", extends = RustAgent, frozen)]
pub struct PyDoNothingAgent;

#[pymethods]
impl PyDoNothingAgent {
    #[new]
    #[pyo3(signature = (name = None, bus = None))]
    fn new(name: Option<String>, bus: Option<String>) -> PyClassInitializer<Self> {
        let mut agent = DoNothingAgent::new(name.unwrap_or_default());
        agent.bus = bus;
        PyClassInitializer::from(RustAgent::own(Box::new(agent))).add_subclass(PyDoNothingAgent)
    }
}

/// Scales one load each grid step by `profile[k] * (1 + noise * u)`, `u`
/// uniform in [-1, 1) from the agent's own seeded stream (`("scale_load",
/// element, multiplier)`); takes no part in the market. `k` is the grid step
/// (or `floor(time / profile_interval_s)`) modulo the profile length.
#[pyclass(name = "ScriptedLoadAgent", module = "opengridgym._core", extends = RustAgent, frozen)]
pub struct PyScriptedLoadAgent;

#[pymethods]
impl PyScriptedLoadAgent {
    #[new]
    #[pyo3(signature = (name, element, profile, noise = 0.0, profile_interval_s = None, bus = None))]
    fn new(
        py: Python<'_>,
        name: String,
        element: String,
        profile: Vec<f64>,
        noise: f64,
        profile_interval_s: Option<f64>,
        bus: Option<String>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let mut agent = check(py, ScriptedLoadAgent::new(name, element, profile))?;
        agent = check(py, agent.with_noise(noise))?;
        if let Some(dt) = profile_interval_s {
            agent = check(py, agent.with_profile_interval(dt))?;
        }
        if let Some(bus) = bus {
            agent = agent.at_bus(bus);
        }
        Ok(PyClassInitializer::from(RustAgent::own(Box::new(agent))).add_subclass(PyScriptedLoadAgent))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RustGrid>()?;
    m.add_class::<PyDoNothingGrid>()?;
    m.add_class::<RustMarket>()?;
    m.add_class::<PyDoNothingMarket>()?;
    m.add_class::<RustAgent>()?;
    m.add_class::<PyDoNothingAgent>()?;
    m.add_class::<PyScriptedLoadAgent>()?;
    Ok(())
}
