use thiserror::Error;

/// What can go wrong before a market can be cleared. An infeasible market is
/// not an error: it is an [`crate::auction::Status`] of the outcome.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MarketError {
    #[error("order of '{agent}' rejected: {reason}")]
    InvalidOrder { agent: String, reason: String },
    #[error("order of '{agent}' rejected: unknown bus '{bus}'{hint}")]
    UnknownBus { agent: String, bus: String, hint: String },
    #[error("network: {0}")]
    Network(String),
    #[error("solver: {0}")]
    Solver(String),
    #[error("{0}")]
    Input(String),
}

impl From<MarketError> for ogg_core::Error {
    fn from(e: MarketError) -> Self {
        match &e {
            MarketError::InvalidOrder { agent, .. } | MarketError::UnknownBus { agent, .. } => {
                ogg_core::Error::invalid(agent.clone(), e.to_string())
            }
            _ => ogg_core::Error::module("auction market", e.to_string()),
        }
    }
}
