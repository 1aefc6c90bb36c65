//! Errors across the Rust/Python boundary.
//!
//! A Python exception raised inside a user module travels through the Rust
//! loop as `ogg_core::Error::External` with the original `PyErr` as its
//! `source` (the environment wraps it in `Error::Step`, naming the module and
//! the call). At the boundary ([`to_pyerr`]) the `PyErr` is taken back out and
//! raised as it was: same exception object, so same type, message and
//! traceback (which includes the user's own frames). On Python ≥ 3.11 a note
//! says where in the loop it happened.
//!
//! Errors that start in Rust become `ValueError` (bad input), `OSError`
//! (files) or [`SimulationError`] (everything else). A Rust panic never
//! crosses into Python: [`catch_panic`] turns it into a `RuntimeError`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ogg_core::Error;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    _core,
    SimulationError,
    PyRuntimeError,
    "A module of the environment failed (e.g. a power flow did not converge, a market was infeasible), or the environment cannot run in its current state."
);

/// Wraps a Python exception raised by a user module so it can travel through the Rust loop.
pub fn external(who: &str, err: PyErr) -> Error {
    Error::External { who: who.to_string(), message: err.to_string(), source: Some(Box::new(err)) }
}

/// Converts an error returned by the Rust core into the Python exception to raise.
pub fn to_pyerr(py: Python<'_>, err: Error) -> PyErr {
    // The context (which module, which call, when) sits in the Step wrappers.
    let mut context: Vec<String> = Vec::new();
    let mut err = err;
    while let Error::Step { module, call, grid_step, market_round, source } = err {
        let round = market_round.map(|r| format!(", market round {r}")).unwrap_or_default();
        context.push(format!("{module}, in {call} (grid step {grid_step}{round})"));
        err = *source;
    }
    match err {
        Error::External { who, message, source: Some(source) } => match source.downcast::<PyErr>() {
            Ok(pyerr) => {
                let pyerr = *pyerr;
                let note = if context.is_empty() {
                    format!("raised in {who}")
                } else {
                    format!("raised in {}", context.join(" <- "))
                };
                add_note(py, &pyerr, &note);
                pyerr
            }
            Err(other) => SimulationError::new_err(with_context(&context, &format!("{who}: {message}: {other}"))),
        },
        Error::Invalid { .. } => PyValueError::new_err(with_context(&context, &err.to_string())),
        Error::Io(_) | Error::Output(_) => PyOSError::new_err(with_context(&context, &err.to_string())),
        other => SimulationError::new_err(with_context(&context, &other.to_string())),
    }
}

fn with_context(context: &[String], message: &str) -> String {
    match context.first() {
        Some(where_) => format!("{where_}: {message}"),
        None => message.to_string(),
    }
}

/// `exception.add_note(note)` where the interpreter has it (Python ≥ 3.11).
fn add_note(py: Python<'_>, err: &PyErr, note: &str) {
    let value = err.value(py);
    if let Ok(add_note) = value.getattr(pyo3::intern!(py, "add_note")) {
        // A failing add_note must not replace the user's exception.
        let _ = add_note.call1((note,));
    }
}

/// Runs `f`; a Rust panic comes back as `Err(RuntimeError)` in the outer
/// result (the last line of defence: nothing in the loop is meant to panic,
/// and no panic may cross into Python).
pub fn catch_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, PyErr> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => Ok(result),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!(
                "internal error in {what} (this is a bug in opengridgym, please report it): {message}"
            )))
        }
    }
}

/// Converts a core result into a Python result.
pub fn check<T>(py: Python<'_>, result: ogg_core::Result<T>) -> PyResult<T> {
    result.map_err(|e| to_pyerr(py, e))
}
