//! Reader for OpenDSS scripts: turns `.dss` files into a [`model::Circuit`].
pub mod model;
pub use model::*;
