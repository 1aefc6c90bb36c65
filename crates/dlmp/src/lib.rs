//! OpenGridGym Market 3: distribution locational marginal prices (DLMPs)
//! from the DSO's optimal power flow, and the paper's use case 3.
//!
//! - [`network`]: the feeder as a tree with single-phase equivalent impedances.
//! - [`offer`]: participants' offers with convex cost curves, validated.
//! - [`opf`]: the OPF in three formulations (the paper's lossless model,
//!   LinDistFlow, the SOCP relaxation) in the sparse branch-flow form, solved
//!   by our tree-structured interior point ([`opf::ipm`], the default) or by
//!   Clarabel; DLMPs and their decomposition; the dense PTDF form.
//! - [`ac`]: a dispatch applied to the AC power flow of the same feeder.
//! - [`market`]: [`DlmpMarket`], the OPF as an `ogg_core::Market`.
//! - [`agents`]: producers, consumers and demand-response providers.
//! - [`uc3`]: use case 3 on IEEE 37; [`cli`]: `ogg market dlmp`.

// Numeric kernels index several parallel per-bus arrays at once; index loops read best there.
#![allow(clippy::needless_range_loop)]

pub mod ac;
pub mod agents;
pub mod cli;
pub mod csv;
pub mod error;
pub mod figures;
pub mod market;
pub mod network;
pub mod offer;
pub mod opf;
pub mod testutil;
pub mod uc3;

pub use error::DlmpError;
pub use market::DlmpMarket;
pub use network::DlmpNetwork;
pub use offer::{CostCurve, Offer, OfferKind, PlacedOffer};
pub use opf::{
    solve, ConicSolver, DcAlgorithm, Decomposition, DlmpSolution, Formulation, OpfOptions, OpfSolver, OpfStatus,
};
