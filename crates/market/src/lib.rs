//! OpenGridGym Market 1: the network-constrained price–quantity auction on a
//! radial feeder (the paper's use case 1, "topology-induced market power").
//!
//! - [`order`]: bids and offers as the paper's quadruples, validated.
//! - [`network`]: the feeder as a rooted tree with line limits.
//! - [`auction`]: clearing (an exact tree algorithm and a Clarabel QP), nodal
//!   prices, congestion rent, settlement, KKT residuals, properties (6)–(8).
//! - [`market`]: [`AuctionMarket`], the auction as an `ogg_core::Market`.
//! - [`agents`]: UC1's producers and consumers with hidden costs and utilities.
//! - [`feeder`]: topology and load buses from an OpenDSS circuit.

pub mod agents;
pub mod auction;
pub mod builtin;
pub mod cli;
pub mod error;
pub mod feeder;
pub mod market;
pub mod network;
pub mod order;
pub mod svg;
pub mod uc1;
pub mod testutil;

pub use auction::{Algorithm, Auctioneer, ClearOptions, Clearing, Settlement, Status};
pub use error::MarketError;
pub use market::{AuctionMarket, LimitOverride};
pub use network::RadialNetwork;
pub use order::{Curve, Order, Side};
