//! What Python code sees of the environment while the Rust loop runs.
//!
//! While an environment steps, its `ogg_core::Environment` is taken out of the
//! Python `Environment` object and driven by Rust. Python runs only inside
//! calls to Python modules (and callbacks). Around each such call the adapter
//! pushes a [`Frame`] on a thread-local stack: a raw pointer to the `View` (or
//! `EnvParts`) the Rust loop handed to it, and who is being called. The frame
//! is popped, by a guard, as soon as the call returns or unwinds.
//!
//! Everything Python can reach during the call resolves through the innermost
//! frame: `self.env` (an [`EnvView`], which reads the innermost frame calling
//! its object) and the read-only handles of Rust modules (`env.grid.voltages`,
//! the innermost frame of their environment). Once the frame is popped nothing
//! resolves to it, so a kept `self.env` raises instead of dangling.
//!
//! Soundness: a frame's pointer is dereferenced only on the thread that pushed
//! it (the stack is thread-local) and only while the frame is on the stack,
//! i.e. strictly inside the Python call made by the adapter, during which the
//! `&View` it received is alive and nothing mutates what it points to.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use ogg_core::env::EnvParts;
use ogg_core::{Agent, Environment, Grid, Market, View};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::environment::PyEnvironment;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique id (for environments).
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Which module Python is being called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Grid,
    Market,
    Agent(usize),
    Callback,
}

#[derive(Clone, Copy)]
enum Access {
    View(*const View<'static>),
    Parts(*mut EnvParts<'static>),
}

#[derive(Clone, Copy)]
struct Frame {
    token: u64,
    /// Address of the Python object being called (0 for callbacks): its `self.env` reads this frame.
    obj: usize,
    env_id: u64,
    access: Access,
    caller: Caller,
    time_s: f64,
    grid_step: usize,
    market_round: Option<usize>,
}

/// This thread's stacks (one thread-local: each access costs a TLS lookup in a shared library).
struct Stacks {
    /// Environments whose loop runs on this thread, innermost last.
    running: Vec<(u64, Py<PyEnvironment>)>,
    /// Python calls in progress on this thread, innermost last.
    frames: Vec<Frame>,
}

thread_local! {
    static STACKS: RefCell<Stacks> = const { RefCell::new(Stacks { running: Vec::new(), frames: Vec::new() }) };
}

/// Read access to the modules, wherever they are right now.
pub enum Reader<'r> {
    /// The environment is idle: everything is readable.
    Env(&'r Environment),
    /// A module is being called: everything but the caller.
    View(&'r View<'static>),
    /// A callback is being called: everything.
    Parts(&'r EnvParts<'static>),
}

impl<'r> Reader<'r> {
    pub fn grid(&self) -> Option<&'r dyn Grid> {
        match *self {
            Reader::Env(env) => Some(env.grid()),
            Reader::View(view) => view.grid,
            Reader::Parts(parts) => Some(&*parts.grid),
        }
    }
    pub fn market(&self) -> Option<&'r dyn Market> {
        match *self {
            Reader::Env(env) => Some(env.market()),
            Reader::View(view) => view.market,
            Reader::Parts(parts) => Some(&*parts.market),
        }
    }
    pub fn agent(&self, index: usize) -> Option<&'r dyn Agent> {
        match *self {
            Reader::Env(env) => env.agents().get(index).map(|a| a.as_ref()),
            Reader::View(view) => view.agent(index),
            Reader::Parts(parts) => parts.agents.get(index).map(|a| a.as_ref()),
        }
    }
}

/// Marks an environment as running on this thread until dropped.
pub struct RunGuard;

impl RunGuard {
    pub fn enter(id: u64, env: Py<PyEnvironment>) -> RunGuard {
        STACKS.with(|s| s.borrow_mut().running.push((id, env)));
        RunGuard
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        // Dropping the Py needs no GIL (PyO3 defers the decref if it is not held).
        let popped = STACKS.with(|s| s.borrow_mut().running.pop());
        drop(popped);
    }
}

/// The running environment with this id, on this thread.
pub fn running_env(py: Python<'_>, id: u64) -> Option<Py<PyEnvironment>> {
    STACKS.with(|s| s.borrow().running.iter().rev().find(|(i, _)| *i == id).map(|(_, e)| e.clone_ref(py)))
}

/// A Python call in progress; pops its frame when dropped.
pub struct CallGuard {
    pub token: u64,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        STACKS.with(|s| {
            let frames = &mut s.borrow_mut().frames;
            if let Some(pos) = frames.iter().rposition(|fr| fr.token == self.token) {
                frames.truncate(pos);
            }
        });
    }
}

fn push(
    access: Access,
    obj: usize,
    caller: Caller,
    time_s: f64,
    grid_step: usize,
    market_round: Option<usize>,
) -> CallGuard {
    STACKS.with(|s| {
        let mut stacks = s.borrow_mut();
        // The innermost running environment is the one calling the module.
        let env_id = stacks.running.last().map_or(0, |(id, _)| *id);
        let token = stacks.frames.last().map_or(1, |f| f.token + 1);
        stacks.frames.push(Frame { token, obj, env_id, access, caller, time_s, grid_step, market_round });
        CallGuard { token }
    })
}

/// Enters a call to the Python module `obj` that received `view`.
pub fn enter_view(
    view: &View<'_>,
    obj: &Py<PyAny>,
    caller: Caller,
    time_s: f64,
    market_round: Option<usize>,
) -> CallGuard {
    // Lifetime erased: the frame is popped before `view` can go away (see the module docs).
    let ptr = (view as *const View<'_>).cast::<View<'static>>();
    push(Access::View(ptr), obj.as_ptr() as usize, caller, time_s, view.grid_step, market_round)
}

/// Enters a call to a Python callback that received `parts`.
pub fn enter_parts(
    parts: &mut EnvParts<'_>,
    time_s: f64,
    grid_step: usize,
    market_round: Option<usize>,
) -> CallGuard {
    let ptr = (parts as *mut EnvParts<'_>).cast::<EnvParts<'static>>();
    push(Access::Parts(ptr), 0, Caller::Callback, time_s, grid_step, market_round)
}

/// When the call in progress happens (copied out of its frame).
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    pub time_s: f64,
    pub grid_step: usize,
}

fn find(pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
    STACKS.with(|s| s.borrow().frames.iter().rev().find(|fr| pred(fr)).copied())
}

fn read_frame<R>(frame: Frame, f: impl for<'r> FnOnce(Reader<'r>) -> R) -> R {
    // SAFETY: the frame was found on this thread's stack, so the call that
    // pushed it is still in progress and its view/parts are alive (module docs).
    unsafe {
        match frame.access {
            Access::View(view) => f(Reader::View(&*view)),
            Access::Parts(parts) => f(Reader::Parts(&*parts)),
        }
    }
}

fn moment(frame: &Frame) -> Moment {
    Moment { time_s: frame.time_s, grid_step: frame.grid_step }
}

/// Reads through the innermost call in progress for environment `env_id`, if any.
pub fn with_running<R>(env_id: u64, f: impl for<'r> FnOnce(Reader<'r>, Moment) -> R) -> Option<R> {
    let frame = find(|fr| fr.env_id == env_id)?;
    let m = moment(&frame);
    Some(read_frame(frame, |r| f(r, m)))
}

/// Asks the environment to stop after this grid step; only inside a callback.
pub fn request_stop(env_id: u64) -> bool {
    let Some(frame) = find(|fr| fr.env_id == env_id) else { return false };
    match frame.access {
        // SAFETY: as in `read_frame`; the callback wrapper holds the only
        // other reference and is blocked inside the Python call.
        Access::Parts(parts) => unsafe {
            (*parts).request_stop();
            true
        },
        Access::View(_) => false,
    }
}

/// `self.env` of a Python module: the environment as the module sees it
/// during a call from the environment (every other module, the time, the step
/// and round). It is valid only during that call: afterwards it raises.
///
/// `grid`, `market` and `agents` give the module objects themselves: your
/// Python objects for Python modules (so `self.env.agents[j].market_actions`
/// is what agent j set), read-only handles for built-in Rust modules (e.g.
/// `self.env.grid.voltages` as a numpy array).
#[pyclass(name = "EnvView", module = "opengridgym._core", frozen)]
pub struct EnvView {
    /// Address of the module object whose calls this view shows (0: none). The
    /// object holds the view as `env`, so the address stays its own.
    obj: usize,
}

impl EnvView {
    pub fn new(obj: &Py<PyAny>) -> EnvView {
        EnvView { obj: obj.as_ptr() as usize }
    }

    fn frame(&self) -> PyResult<Frame> {
        let obj = self.obj;
        find(|fr| obj != 0 && fr.obj == obj).ok_or_else(|| {
            PyRuntimeError::new_err(
                "self.env is only usable during a call from the Environment (reset, step, \
                 set_market_actions, ...); this one has expired. Outside those calls, use the \
                 Environment object itself.",
            )
        })
    }

    fn env<'py>(&self, py: Python<'py>) -> PyResult<(Frame, Bound<'py, PyEnvironment>)> {
        let frame = self.frame()?;
        let env = running_env(py, frame.env_id)
            .ok_or_else(|| PyRuntimeError::new_err("self.env: the environment is not running"))?;
        Ok((frame, env.into_bound(py)))
    }
}

#[pymethods]
impl EnvView {
    /// The grid: your object for a Python grid, a read-only handle for a built-in one.
    #[getter]
    fn grid(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let (_, env) = self.env(py)?;
        env.get().grid_object(py)
    }

    /// The market: your object for a Python market, a read-only handle for a built-in one.
    #[getter]
    fn market(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let (_, env) = self.env(py)?;
        env.get().market_object(py)
    }

    /// Every agent, in order (the caller included).
    #[getter]
    fn agents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let (_, env) = self.env(py)?;
        env.get().agents_list(py)
    }

    /// The Environment object being run.
    #[getter]
    fn environment(&self, py: Python<'_>) -> PyResult<Py<PyEnvironment>> {
        Ok(self.env(py)?.1.unbind())
    }

    /// Grid time in seconds when the call started.
    #[getter]
    fn time(&self) -> PyResult<f64> {
        Ok(self.frame()?.time_s)
    }

    /// Index (0-based) of the current grid step.
    #[getter]
    fn grid_step(&self) -> PyResult<usize> {
        Ok(self.frame()?.grid_step)
    }

    /// Index (0-based) of the current market round; None outside the market rounds.
    #[getter]
    fn market_round(&self) -> PyResult<Option<usize>> {
        Ok(self.frame()?.market_round)
    }

    /// Index of the calling agent, or None if the grid, the market or a callback is calling.
    #[getter]
    fn caller(&self) -> PyResult<Option<usize>> {
        Ok(match self.frame()?.caller {
            Caller::Agent(i) => Some(i),
            _ => None,
        })
    }

    /// Whether this view can be used right now.
    #[getter]
    fn valid(&self) -> bool {
        self.frame().is_ok()
    }

    fn __repr__(&self) -> String {
        match self.frame() {
            Ok(fr) => {
                let round = fr.market_round.map(|r| format!(", market_round={r}")).unwrap_or_default();
                format!("<EnvView of {:?} at grid_step={}{round}, time={} s>", fr.caller, fr.grid_step, fr.time_s)
            }
            Err(_) => "<EnvView (expired)>".to_string(),
        }
    }

    // A view holds no state of its own: copies are the same view, and a
    // pickled view comes back expired.
    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    fn __deepcopy__(slf: Py<Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
        slf
    }
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, ())> {
        Ok((py.get_type::<EnvView>().into_any(), ()))
    }
    #[new]
    fn py_new() -> Self {
        EnvView { obj: 0 }
    }
}
