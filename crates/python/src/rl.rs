//! The learning environments of `ogg_vector` for Python: `RlEnv` (one
//! environment) and `RlVecEnv` (N environments stepped in parallel in Rust).
//! Arrays in, arrays out; the GIL is released while stepping. The PettingZoo,
//! Gymnasium and vector-env classes of `opengridgym.ai` are built on these.

use std::sync::{Mutex, MutexGuard};

use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use ogg_vector::{AutoReset, EnvSpec, MarketEnv, StepBuffers, StepUnit, VecEnv};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::SimulationError;

/// Locks without blocking: the lock is held while the GIL is released, so
/// waiting for it with the GIL held could deadlock; another thread using the
/// same environment gets an error instead.
fn lock<T>(m: &Mutex<T>) -> PyResult<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Ok(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => {
            Err(PyRuntimeError::new_err("this environment is being stepped by another thread"))
        }
    }
}

fn spec_error(e: String) -> PyErr {
    PyValueError::new_err(e)
}

fn step_error(e: String) -> PyErr {
    if e.contains("expected") || e.contains("not finite") || e.contains("call reset") {
        PyValueError::new_err(e)
    } else {
        SimulationError::new_err(e)
    }
}

fn contiguous_f64<'a>(actions: &'a PyReadonlyArrayDyn<'_, f64>) -> PyResult<&'a [f64]> {
    actions.as_slice().map_err(|_| PyValueError::new_err("actions must be a C-contiguous float64 array"))
}

/// What both classes report about their spaces.
fn describe(env: &MarketEnv, py: Python<'_>) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    let (low, high) = env.obs_bounds();
    let (alow, ahigh) = env.action_kind().bounds();
    d.set_item("scenario", env.scenario_label())?;
    d.set_item("learners", env.learner_names().to_vec())?;
    d.set_item("learner_kinds", env.learner_kinds())?;
    d.set_item("obs_names", env.obs_names())?;
    d.set_item("obs_low", PyArray1::from_vec(py, low))?;
    d.set_item("obs_high", PyArray1::from_vec(py, high))?;
    d.set_item("action_kind", env.action_kind().name())?;
    d.set_item("act_dim", env.act_dim())?;
    d.set_item("act_low", PyArray1::from_vec(py, alow))?;
    d.set_item("act_high", PyArray1::from_vec(py, ahigh))?;
    d.set_item("n_actions", env.action_kind().discrete())?;
    if let ogg_vector::ActionKind::MarkupIndex { levels } = env.action_kind() {
        d.set_item("markup_levels", levels.clone())?;
    }
    d.set_item("step_unit", if env.step_unit() == StepUnit::GridStep { "grid" } else { "round" })?;
    d.set_item("episode_steps", env.episode_steps())?;
    d.set_item("rounds_per_step", env.max_rounds())?;
    d.set_item("max_episode_len", env.max_episode_len())?;
    Ok(d.unbind())
}

fn build(spec_json: &str) -> PyResult<MarketEnv> {
    let spec = EnvSpec::from_json(spec_json).map_err(spec_error)?;
    MarketEnv::new(&spec).map_err(spec_error)
}

/// One learning environment (`ogg_vector::MarketEnv`): `RlEnv(spec_json)`
/// with the spec as JSON (see `opengridgym.ai.make_spec`). Observations are
/// float32 arrays (n_learners, obs_dim); actions float64 arrays
/// (n_learners, act_dim); rewards float64 (n_learners,).
#[pyclass(name = "RlEnv", module = "opengridgym._core")]
pub struct PyRlEnv {
    env: Mutex<MarketEnv>,
}

#[pymethods]
impl PyRlEnv {
    #[new]
    fn new(py: Python<'_>, spec_json: &str) -> PyResult<Self> {
        let env = py.detach(|| build(spec_json))?;
        Ok(PyRlEnv { env: Mutex::new(env) })
    }

    /// Spaces and names: learners, obs_names/low/high, action kind/bounds, step unit, episode length.
    fn describe(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let env = lock(&self.env)?;
        describe(&env, py)
    }

    /// Starts an episode (same seed, same episode); returns the observations.
    #[pyo3(signature = (seed = None))]
    fn reset<'py>(&self, py: Python<'py>, seed: Option<u64>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let mut env = lock(&self.env)?;
        let (l, o) = (env.n_learners(), env.obs_dim());
        let obs = PyArray2::<f32>::zeros(py, [l, o], false);
        // SAFETY: the array was just created here and is not shared yet.
        let buf = unsafe { obs.as_slice_mut() }.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let e: &mut MarketEnv = &mut env;
        py.detach(|| e.reset(seed, buf)).map_err(step_error)?;
        Ok(obs)
    }

    /// One step: `actions` (n_learners, act_dim) float64 → (obs, rewards, terminated, truncated).
    fn step<'py>(
        &self,
        py: Python<'py>,
        actions: PyReadonlyArrayDyn<'py, f64>,
    ) -> PyResult<SingleStep<'py>> {
        let mut env = lock(&self.env)?;
        let (l, o) = (env.n_learners(), env.obs_dim());
        let acts = contiguous_f64(&actions)?;
        let obs = PyArray2::<f32>::zeros(py, [l, o], false);
        let rew = PyArray1::<f64>::zeros(py, [l], false);
        // SAFETY: fresh arrays, not shared yet.
        let (obuf, rbuf) = unsafe { (obs.as_slice_mut(), rew.as_slice_mut()) };
        let (obuf, rbuf) = (obuf.map_err(|e| PyRuntimeError::new_err(e.to_string()))?, rbuf.map_err(|e| PyRuntimeError::new_err(e.to_string()))?);
        let e: &mut MarketEnv = &mut env;
        let (te, tr) = py.detach(|| e.step(acts, obuf, rbuf)).map_err(step_error)?;
        Ok((obs, rew, te, tr))
    }

    /// Per-learner numbers of the last step: price, quantity_kw, bus_price,
    /// markup, raw_reward (arrays), grid_step, error (why a truncation happened).
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let env = lock(&self.env)?;
        info_dict(py, &env)
    }

    /// Grid steps done in this episode.
    #[getter]
    fn grid_step(&self) -> PyResult<usize> {
        Ok(lock(&self.env)?.grid_steps_done())
    }

    /// A deep copy that continues exactly as this one would.
    fn copy(&self) -> PyResult<PyRlEnv> {
        Ok(PyRlEnv { env: Mutex::new(lock(&self.env)?.clone()) })
    }
}

fn info_dict(py: Python<'_>, env: &MarketEnv) -> PyResult<Py<PyDict>> {
    let info = env.learner_info();
    let d = PyDict::new(py);
    let col = |f: fn(&ogg_vector::LearnerInfo) -> f64| info.iter().map(f).collect::<Vec<f64>>();
    d.set_item("price", PyArray1::from_vec(py, col(|i| i.price)))?;
    d.set_item("quantity_kw", PyArray1::from_vec(py, col(|i| i.quantity_kw)))?;
    d.set_item("bus_price", PyArray1::from_vec(py, col(|i| i.bus_price)))?;
    d.set_item("markup", PyArray1::from_vec(py, col(|i| i.markup)))?;
    d.set_item("raw_reward", PyArray1::from_vec(py, col(|i| i.raw_reward)))?;
    d.set_item("grid_step", env.grid_steps_done())?;
    d.set_item("error", env.last_error())?;
    Ok(d.unbind())
}

/// N environments stepped in parallel in Rust (rayon): `RlVecEnv(spec_json,
/// num_envs, num_threads=0, autoreset="same_step")`. Batched arrays:
/// actions (N, L, A) float64 → obs (N, L, O) float32, rewards (N, L),
/// terminated (N,), truncated (N,), final_obs (N, L, O) (the last
/// observation of episodes that ended this step, same-step auto-reset).
/// `reset(seed)` seeds environment k with seed + k.
#[pyclass(name = "RlVecEnv", module = "opengridgym._core")]
pub struct PyRlVecEnv {
    inner: Mutex<VecEnv>,
    dims: (usize, usize, usize, usize),
}

type SingleStep<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<f64>>, bool, bool);

type VecStep<'py> = (
    Bound<'py, PyArray3<f32>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray3<f32>>,
);

#[pymethods]
impl PyRlVecEnv {
    #[new]
    #[pyo3(signature = (spec_json, num_envs, num_threads = 0, autoreset = "same_step"))]
    fn new(py: Python<'_>, spec_json: &str, num_envs: usize, num_threads: usize, autoreset: &str) -> PyResult<Self> {
        let autoreset: AutoReset = autoreset.parse().map_err(PyValueError::new_err)?;
        let v = py.detach(|| -> Result<VecEnv, String> {
            let proto = MarketEnv::new(&EnvSpec::from_json(spec_json)?)?;
            VecEnv::new(&proto, num_envs, num_threads, autoreset)
        });
        let v = v.map_err(spec_error)?;
        let e = &v.envs()[0];
        let dims = (v.num_envs(), e.n_learners(), e.obs_dim(), e.act_dim());
        Ok(PyRlVecEnv { inner: Mutex::new(v), dims })
    }

    fn describe(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let v = lock(&self.inner)?;
        let d = describe(&v.envs()[0], py)?;
        d.bind(py).set_item("num_envs", v.num_envs())?;
        d.bind(py).set_item("num_threads", v.num_threads())?;
        Ok(d)
    }

    #[getter]
    fn num_envs(&self) -> usize {
        self.dims.0
    }
    #[getter]
    fn num_threads(&self) -> PyResult<usize> {
        Ok(lock(&self.inner)?.num_threads())
    }

    /// How many distinct pool threads stepped environments since `clear_thread_stats()`.
    fn threads_used(&self) -> PyResult<u32> {
        Ok(lock(&self.inner)?.threads_used())
    }
    fn clear_thread_stats(&self) -> PyResult<()> {
        lock(&self.inner)?.clear_thread_stats();
        Ok(())
    }

    #[pyo3(signature = (seed = None))]
    fn reset<'py>(&self, py: Python<'py>, seed: Option<u64>) -> PyResult<Bound<'py, PyArray3<f32>>> {
        let (n, l, o, _) = self.dims;
        let mut v = lock(&self.inner)?;
        let obs = PyArray3::<f32>::zeros(py, [n, l, o], false);
        // SAFETY: fresh array, not shared yet.
        let buf = unsafe { obs.as_slice_mut() }.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let e: &mut VecEnv = &mut v;
        py.detach(|| e.reset(seed, buf)).map_err(step_error)?;
        Ok(obs)
    }

    /// Resets environment `k` alone; returns its observations (L, O).
    #[pyo3(signature = (k, seed = None))]
    fn reset_one<'py>(&self, py: Python<'py>, k: usize, seed: Option<u64>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (_, l, o, _) = self.dims;
        let mut v = lock(&self.inner)?;
        let obs = PyArray2::<f32>::zeros(py, [l, o], false);
        // SAFETY: fresh array, not shared yet.
        let buf = unsafe { obs.as_slice_mut() }.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        v.reset_one(k, seed, buf).map_err(step_error)?;
        Ok(obs)
    }

    /// One step of every environment (see the class docs for the arrays).
    fn step<'py>(&self, py: Python<'py>, actions: PyReadonlyArrayDyn<'py, f64>) -> PyResult<VecStep<'py>> {
        let (n, l, o, a) = self.dims;
        if actions.len() != n * l * a {
            return Err(PyValueError::new_err(format!(
                "actions must hold N × L × A = {n} × {l} × {a} values, got shape {:?}",
                actions.shape()
            )));
        }
        let acts = contiguous_f64(&actions)?;
        let mut v = lock(&self.inner)?;
        let obs = PyArray3::<f32>::zeros(py, [n, l, o], false);
        let fin = PyArray3::<f32>::zeros(py, [n, l, o], false);
        let rew = PyArray2::<f64>::zeros(py, [n, l], false);
        let term = PyArray1::<bool>::zeros(py, [n], false);
        let trunc = PyArray1::<bool>::zeros(py, [n], false);
        let err = |e: numpy::AsSliceError| PyRuntimeError::new_err(e.to_string());
        // SAFETY: fresh arrays, not shared yet.
        let bufs = unsafe {
            StepBuffers {
                obs: obs.as_slice_mut().map_err(err)?,
                rewards: rew.as_slice_mut().map_err(err)?,
                terminated: term.as_slice_mut().map_err(err)?,
                truncated: trunc.as_slice_mut().map_err(err)?,
                final_obs: fin.as_slice_mut().map_err(err)?,
            }
        };
        let e: &mut VecEnv = &mut v;
        py.detach(|| e.step(acts, bufs)).map_err(step_error)?;
        Ok((obs, rew, term, trunc, fin))
    }

    /// Per-learner numbers of environment `k`'s last step (as `RlEnv.info()`).
    fn info(&self, py: Python<'_>, k: usize) -> PyResult<Py<PyDict>> {
        let v = lock(&self.inner)?;
        let env = v.envs().get(k).ok_or_else(|| PyValueError::new_err(format!("no environment {k}")))?;
        info_dict(py, env)
    }
}

/// Runs episodes `(spec_json, action, seed)` on `num_threads` Rust threads
/// (0: one per core) and returns one dict per run, in order: learners,
/// reward (unscaled, per learner), mean_price (per learner), steps,
/// congested_steps, welfare, congestion_rent, error. A run that cannot be
/// built or fails has only `error` set.
#[pyfunction]
#[pyo3(signature = (runs, num_threads = 0))]
pub fn sweep_runs(py: Python<'_>, runs: Vec<(String, f64, u64)>, num_threads: usize) -> PyResult<Vec<Py<PyDict>>> {
    let runs: Vec<ogg_vector::sweep::Run> =
        runs.into_iter().map(|(spec_json, action, seed)| ogg_vector::sweep::Run { spec_json, action, seed }).collect();
    let results = py.detach(|| ogg_vector::sweep::run_many(&runs, num_threads)).map_err(PyRuntimeError::new_err)?;
    results
        .into_iter()
        .map(|r| {
            let d = PyDict::new(py);
            match r {
                Ok(r) => {
                    d.set_item("learners", r.learners)?;
                    d.set_item("reward", r.reward)?;
                    d.set_item("mean_price", r.mean_price)?;
                    d.set_item("steps", r.steps)?;
                    d.set_item("congested_steps", r.congested_steps)?;
                    d.set_item("welfare", r.welfare)?;
                    d.set_item("congestion_rent", r.congestion_rent)?;
                    d.set_item("error", r.error)?;
                }
                Err(e) => d.set_item("error", e)?,
            }
            Ok(d.unbind())
        })
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRlEnv>()?;
    m.add_class::<PyRlVecEnv>()?;
    m.add_function(wrap_pyfunction!(sweep_runs, m)?)?;
    Ok(())
}
