//! OpenGridGym for reinforcement learning.
//!
//! * [`EnvSpec`] — which scenario, which agents learn, what they observe and do
//!   (TOML or JSON; see [`spec`]).
//! * [`MarketEnv`] — one environment: arrays in (actions), arrays out
//!   (observations, rewards, episode ends); grid steps or market rounds as
//!   steps (see [`env`] for the observation table).
//! * [`VecEnv`] — N environments stepped in parallel on a rayon pool with
//!   batched buffers and auto-reset (see [`vec_env`]).
//! * [`sweep`] — many episodes (market design × agent population × seed) on all cores.
//! * [`LearningAgent`] — the `ogg_core::Agent` whose next action comes from
//!   an array row, taking a scenario agent's place and keeping its hidden values.
//!
//! The Python front (`opengridgym.ai`: PettingZoo, Gymnasium, vector envs)
//! is built on these.

pub mod env;
pub mod fast_grid;
pub mod learner;
pub mod spec;
pub mod sweep;
pub mod vec_env;

pub use fast_grid::RlFeederGrid;
pub use env::{LearnerInfo, MarketEnv, BASE_OBS, PRICE_SCALE};
pub use learner::{LearningAgent, Role};
pub use spec::{ActionKind, EnvSpec, StepUnit, DAILY_PROFILE};
pub use vec_env::{AutoReset, StepBuffers, VecEnv};
