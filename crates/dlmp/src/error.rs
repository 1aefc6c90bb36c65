use thiserror::Error;

/// What can go wrong before an OPF can be solved. An infeasible OPF or a
/// rejected offer is not an error: both are reported in the outcome
/// ([`crate::opf::OpfStatus`], [`crate::market::Rejection`]).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DlmpError {
    /// An agent's offer is unusable (NaN, non-convex cost, bounds reversed …).
    #[error("offer of '{agent}' rejected: {reason}")]
    InvalidOffer { agent: String, reason: String },
    #[error("offer of '{agent}' rejected: unknown bus '{bus}'{hint}")]
    UnknownBus {
        agent: String,
        bus: String,
        hint: String,
    },
    #[error("network: {0}")]
    Network(String),
    #[error("solver: {0}")]
    Solver(String),
    #[error("{0}")]
    Input(String),
}

impl From<ogg_market::MarketError> for DlmpError {
    fn from(e: ogg_market::MarketError) -> Self {
        match e {
            ogg_market::MarketError::Network(m) => DlmpError::Network(m),
            other => DlmpError::Input(other.to_string()),
        }
    }
}

impl From<DlmpError> for ogg_core::Error {
    fn from(e: DlmpError) -> Self {
        match &e {
            DlmpError::InvalidOffer { agent, .. } | DlmpError::UnknownBus { agent, .. } => {
                ogg_core::Error::invalid(agent.clone(), e.to_string())
            }
            _ => ogg_core::Error::module("dlmp market", e.to_string()),
        }
    }
}
