use thiserror::Error;

/// Every failure a module or the environment can report. Nothing in the loop
/// panics: a module returns one of these and the environment stops in a
/// defined state (see `Environment::step`).
#[derive(Debug, Error)]
pub enum Error {
    /// A module rejected its input (bad bid, unknown bus …); names who and what.
    #[error("{who}: {message}")]
    Invalid { who: String, message: String },
    /// A module failed while running (non-convergence, infeasible market …).
    #[error("{who} failed: {message}")]
    Module { who: String, message: String },
    /// A user-supplied module (e.g. Python) raised; `source` keeps the original.
    #[error("{who}: {message}")]
    External {
        who: String,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn invalid(who: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { who: who.into(), message: message.into() }
    }
    pub fn module(who: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Module { who: who.into(), message: message.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
