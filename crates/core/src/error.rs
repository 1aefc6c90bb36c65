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
    /// A failure inside the environment loop: which module failed, in which
    /// call, at which grid step / market round. `source` is the module's own
    /// error (see [`Error::root`]).
    #[error("{}", step_message(.module, .call, .grid_step, .market_round, .source))]
    Step {
        module: Module,
        /// The trait method that failed, e.g. `"set_market_actions"`.
        call: &'static str,
        grid_step: usize,
        /// `None` outside the market rounds (resets, grid actions, grid step).
        market_round: Option<usize>,
        #[source]
        source: Box<Error>,
    },
    /// The environment cannot step in its current state (e.g. its last reset failed).
    #[error("environment not ready: {0}")]
    NotReady(String),
    /// Writing or reading results (CSV, Parquet) failed.
    #[error("{0}")]
    Output(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// Which module of the environment an [`Error::Step`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Module {
    Grid { name: String },
    Market { name: String },
    /// `index` is the agent's position in the environment's agent list.
    Agent { index: usize, name: String },
    /// The callback registered `index`-th (0-based) with `Environment::add_callback`.
    Callback { index: usize },
}

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Module::Grid { name } => write!(f, "grid '{name}'"),
            Module::Market { name } => write!(f, "market '{name}'"),
            Module::Agent { index, name } => write!(f, "agent #{index} '{name}'"),
            Module::Callback { index } => write!(f, "callback #{index}"),
        }
    }
}

fn step_message(
    module: &Module,
    call: &str,
    grid_step: &usize,
    market_round: &Option<usize>,
    source: &Error,
) -> String {
    let round = match market_round {
        Some(r) => format!(", market round {r}"),
        None => String::new(),
    };
    format!("{module} failed in {call} (grid step {grid_step}{round}): {source}")
}

impl Error {
    /// The innermost error: the module's own error under any [`Error::Step`] wrapping.
    pub fn root(&self) -> &Error {
        match self {
            Error::Step { source, .. } => source.root(),
            other => other,
        }
    }
    /// The module a step error names, if this is one.
    pub fn failed_module(&self) -> Option<&Module> {
        match self {
            Error::Step { module, .. } => Some(module),
            _ => None,
        }
    }

    pub fn invalid(who: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { who: who.into(), message: message.into() }
    }
    pub fn module(who: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Module { who: who.into(), message: message.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
