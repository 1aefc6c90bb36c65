//! OpenGridGym Market 2: peer-to-peer bilateral trading with quantal-response
//! learners, and the paper's use case 2 ("learning in peer-to-peer markets").
//!
//! - [`game`]: the bargaining stage game (A = {0, 0.5, …, 10}, payoffs, Nash gap).
//! - [`qr`]: quantal responses — the paper's Eq. (11) exactly as written and
//!   the standard logit response (logit QRE) — and their fixed points.
//! - [`learner`]: a learner for one role (policy fixed within an episode,
//!   updated between episodes from the opponent's empirical or exact policy).
//! - [`matching`]: random matching and maximum-weight matching (Hungarian).
//! - [`market`]: [`P2pMarket`], the market maker as an `ogg_core::Market`.
//! - [`agents`]: [`Prosumer`], a PV home owner (or a fixed-role trader).
//! - [`profiles`]: PV and load series with forecasts.
//! - [`feasibility`]: the settled trades on the AC power flow; which trades
//!   overload a branch or push a voltage out of limits.
//! - [`population`]: many pairs negotiating in parallel (benchmarks).
//! - [`uc2`]: use case 2 (`ogg run uc2`): tables, figures, summary.

pub mod agents;
pub mod error;
pub mod feasibility;
pub mod game;
pub mod learner;
pub mod market;
pub mod matching;
pub mod population;
pub mod profiles;
pub mod qr;
pub mod uc2;

pub use agents::{HeatStore, Prosumer, StepPhysics};
pub use error::P2pError;
pub use game::{BargainGame, Role};
pub use learner::{Estimator, QrLearner};
pub use market::{Matching, P2pConfig, P2pMarket, Phase};
pub use qr::{Dynamics, FixedPoint, QuantalResponse};
