//! Many runs at once: each run is one episode of a [`MarketEnv`] (a market
//! design and agent population given as an [`EnvSpec`]) in which every
//! learner holds a fixed markup, with a seed. Runs go to a rayon pool (all
//! cores by default); each result is a fixed set of numbers, so the table is
//! the same whether the runs are spread over threads here or over a Ray
//! cluster (the Python front sends single runs to Ray workers).

use rayon::prelude::*;

use crate::env::MarketEnv;
use crate::spec::EnvSpec;

/// One run: an environment spec (JSON), the learners' markup (or action value) and a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub spec_json: String,
    pub action: f64,
    pub seed: u64,
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunResult {
    pub learners: Vec<String>,
    /// Unscaled reward of each learner summed over the episode (¢ for UC1).
    pub reward: Vec<f64>,
    /// Mean over the episode of each learner's bus price (¢/kWh).
    pub mean_price: Vec<f64>,
    /// Grid steps completed.
    pub steps: usize,
    /// Grid steps with at least one congested (flagged) line.
    pub congested_steps: usize,
    /// Auction welfare and congestion rent summed over the episode (0 without an auction).
    pub welfare: f64,
    pub congestion_rent: f64,
    /// Why the episode ended early, if it did.
    pub error: Option<String>,
}

/// Runs one episode (see the module docs).
pub fn run_one(run: &Run) -> Result<RunResult, String> {
    let spec = EnvSpec::from_json(&run.spec_json)?;
    let mut env = MarketEnv::new(&spec)?;
    let (l, o, a) = (env.n_learners(), env.obs_dim(), env.act_dim());
    let mut obs = vec![0f32; l * o];
    let mut rew = vec![0f64; l];
    env.reset(Some(run.seed), &mut obs)?;
    let actions = vec![run.action; l * a];
    let mut out = RunResult {
        learners: env.learner_names().to_vec(),
        reward: vec![0.0; l],
        mean_price: vec![0.0; l],
        ..Default::default()
    };
    let flags = o - crate::env::BASE_OBS.len();
    let mut rounds = 0usize;
    loop {
        let before = env.grid_steps_done();
        let (te, tr) = env.step(&actions, &mut obs, &mut rew)?;
        rounds += 1;
        for (k, info) in env.learner_info().iter().enumerate() {
            out.reward[k] += info.raw_reward;
            out.mean_price[k] += info.bus_price;
        }
        if let Some(m) = env.core().market().as_any().downcast_ref::<ogg_market::AuctionMarket>() {
            if let Some((c, _, _)) = m.last_clearing() {
                out.welfare += c.welfare;
                out.congestion_rent += c.total_rent();
            }
        }
        if env.grid_steps_done() > before && flags > 0 && obs[o - flags..o].iter().any(|f| *f > 0.5) {
            out.congested_steps += 1;
        }
        if te || tr {
            out.error = env.last_error().map(str::to_string);
            break;
        }
    }
    out.steps = env.grid_steps_done();
    for p in &mut out.mean_price {
        *p /= rounds as f64;
    }
    Ok(out)
}

/// Runs every run on `threads` threads (0: one per core), results in run order.
pub fn run_many(runs: &[Run], threads: usize) -> Result<Vec<Result<RunResult, String>>, String> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    Ok(pool.install(|| runs.par_iter().map(run_one).collect()))
}
