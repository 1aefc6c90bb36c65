use thiserror::Error;

/// What can go wrong outside the environment loop (configuration, files,
/// feeders). Inside the loop the modules report `ogg_core::Error`s naming the
/// agent and what it sent.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum P2pError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Run(String),
}

impl From<P2pError> for ogg_core::Error {
    fn from(e: P2pError) -> Self {
        ogg_core::Error::module("p2p market", e.to_string())
    }
}

impl From<ogg_core::Error> for P2pError {
    fn from(e: ogg_core::Error) -> Self {
        P2pError::Run(e.to_string())
    }
}
