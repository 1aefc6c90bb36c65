//! Use case 2 of the paper, "learning in peer-to-peer markets", on IEEE 34.
//!
//! Two parts, both run in the core `Environment` with [`P2pMarket`] and
//! [`Prosumer`] agents:
//!
//! 1. **Base case** (the paper's Figs. 8 and 9): 5 producers and 5 consumers
//!    of 3 kWh each, matched at random every episode, bargain over T = 10
//!    steps and learn by quantal response between episodes, for every λ of a
//!    sweep, every dynamics (Eq. 11 and logit) and several seeds. Reported:
//!    the action distributions (mean policy over agents and the second half
//!    of the episodes), the expected reward per step, the per-step trade
//!    probability and the per-negotiation success probability, with 95 %
//!    confidence bands over seeds, next to the exact fixed point of the
//!    dynamics.
//! 2. **A day on the feeder**: one PV home owner per load bus of IEEE 34
//!    (PV sized by a seeded ratio to the bus's load, a thermal share with a
//!    heat store, forecast errors). Every `market_interval` grid steps the
//!    market maker matches producers and consumers for the next block; pairs
//!    bargain with the learned policies (and keep learning); the settled
//!    trades drive the AC power flow and every trade that overloads a branch
//!    or pushes a voltage out of limits is reported ([`crate::feasibility`]).
//!
//! Everything is set in a TOML file (`scenarios/uc2.toml`, see [`Uc2Config`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

use ogg_core::rng::{derive_seed, SplitMix64};
use ogg_core::{Agent, DoNothingGrid, Environment, Grid};
use ogg_grid::DistributionGrid;
use ogg_market::svg::{self, Panel, PALETTE};
use ogg_market::uc1::mean_ci95;

use crate::agents::{HeatStore, Prosumer};
use crate::error::P2pError;
use crate::feasibility::{check_step, Limits, TradeFootprint};
use crate::game::{action_grid, BargainGame, Role};
use crate::learner::Estimator;
use crate::market::{Matching, P2pConfig, P2pMarket};
use crate::matching::BusDistances;
use crate::profiles::{ProfileSpec, Profiles};
use crate::qr::{fixed_point, Dynamics, FixedPoint, QuantalResponse};

/// The built-in UC2 scenario (the repository's `scenarios/uc2.toml`).
pub const BUILT_IN_TOML: &str = include_str!("../../../scenarios/uc2.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uc2Config {
    /// Marks the file as a UC2 scenario for `ogg run FILE` (must be "uc2" if given).
    #[serde(default)]
    pub scenario: Option<String>,
    #[serde(default = "default_name")]
    pub name: String,
    pub game: GameConfig,
    pub learning: LearningConfig,
    pub base: BaseConfig,
    pub day: DayConfig,
}

fn default_name() -> String {
    "uc2".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GameConfig {
    /// The action set A = {min_price, min_price + price_step, …, max_price}, ¢/kWh.
    pub min_price: f64,
    pub max_price: f64,
    pub price_step: f64,
    /// ub, c_service, c_lose (¢/kWh); see `ogg_p2p::game`.
    pub retail_price: f64,
    pub service_fee: f64,
    pub lose_cost: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearningConfig {
    /// T: bargaining steps per episode (market step).
    pub rounds: usize,
    /// "sampled" (the paper: the opponent's empirical policy) or "exact".
    pub estimator: String,
    /// α: policy ← (1 − α) policy + α · response.
    pub step: f64,
    /// Dynamics run in the base case: "eq11" and/or "logit".
    pub dynamics: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseConfig {
    pub producers: usize,
    pub consumers: usize,
    /// Energy per producer and per consumer, kWh.
    pub quantity_kwh: f64,
    pub episodes: usize,
    /// λ of the action-distribution figure (the paper's 0.5, 1, 5, 10).
    pub figure_lambdas: Vec<f64>,
    /// λ of the reward / trade-probability sweep.
    pub sweep_lambdas: Vec<f64>,
    pub seeds: u64,
    #[serde(default)]
    pub base_seed: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Built-in feeder name or OpenDSS script (relative paths: to the TOML file).
    pub feeder: String,
    pub steps: usize,
    pub step_minutes: f64,
    /// Grid steps per market step.
    pub market_interval: usize,
    pub lambdas: Vec<f64>,
    /// Dynamics of the day's learners.
    pub dynamics: String,
    /// "random" and/or "max-weight".
    pub matchings: Vec<String>,
    /// β of the max-weight matching (distance discount).
    pub distance_weight: f64,
    /// PV peak / bus peak load, drawn uniformly per home in [min, max].
    pub pv_ratio_min: f64,
    pub pv_ratio_max: f64,
    pub thermal_share: f64,
    /// Heat store size in hours of the thermal load at its peak.
    pub heat_store_hours: f64,
    pub store_loss_per_hour: f64,
    pub forecast_error: f64,
    pub cloudiness: f64,
    pub load_noise: f64,
    pub seed: u64,
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    #[serde(default = "one")]
    pub max_loading: f64,
    /// Buses with a home (default: every load bus of the feeder).
    #[serde(default)]
    pub buses: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}

impl Uc2Config {
    pub fn from_toml(text: &str, file: &str) -> Result<Self, P2pError> {
        let cfg: Uc2Config = toml::from_str(text).map_err(|e| P2pError::Input(format!("{file}: {e}")))?;
        if let Some(kind) = &cfg.scenario {
            if kind != "uc2" {
                return Err(P2pError::Input(format!("{file}: scenario = \"{kind}\" is not a UC2 scenario")));
            }
        }
        cfg.validate().map_err(|e| P2pError::Input(format!("{file}: {e}")))?;
        Ok(cfg)
    }

    pub fn built_in() -> Self {
        Self::from_toml(BUILT_IN_TOML, "scenarios/uc2.toml").expect("the built-in UC2 scenario is valid")
    }

    fn validate(&self) -> Result<(), P2pError> {
        self.game()?;
        self.estimator()?;
        self.dynamics()?;
        self.day_dynamics()?;
        self.matchings()?;
        let b = &self.base;
        if b.producers == 0 || b.consumers == 0 || b.episodes < 2 || b.seeds == 0 {
            return Err(P2pError::Input("base: producers, consumers, seeds ≥ 1 and episodes ≥ 2 needed".into()));
        }
        if b.quantity_kwh.is_nan() || b.quantity_kwh <= 0.0 {
            return Err(P2pError::Input(format!("base.quantity_kwh must be > 0 (got {})", b.quantity_kwh)));
        }
        for &l in b.figure_lambdas.iter().chain(&b.sweep_lambdas).chain(&self.day.lambdas) {
            if !(l.is_finite() && l >= 0.0) {
                return Err(P2pError::Input(format!("every λ must be finite and ≥ 0 (got {l})")));
            }
        }
        let d = &self.day;
        if d.enabled && (d.steps == 0 || d.market_interval == 0 || d.step_minutes.is_nan() || d.step_minutes <= 0.0) {
            return Err(P2pError::Input("day: steps, market_interval and step_minutes must be > 0".into()));
        }
        if !(0.0..=1.0).contains(&d.thermal_share) || d.pv_ratio_min < 0.0 || d.pv_ratio_max < d.pv_ratio_min {
            return Err(P2pError::Input("day: thermal_share in [0, 1] and 0 ≤ pv_ratio_min ≤ pv_ratio_max needed".into()));
        }
        if d.v_min_pu.is_nan() || d.v_max_pu.is_nan() || d.v_min_pu >= d.v_max_pu {
            return Err(P2pError::Input("day: v_min_pu < v_max_pu needed".into()));
        }
        Ok(())
    }

    pub fn game(&self) -> Result<BargainGame, P2pError> {
        let g = &self.game;
        BargainGame::new(action_grid(g.min_price, g.max_price, g.price_step)?, g.retail_price, g.service_fee, g.lose_cost)
    }
    pub fn estimator(&self) -> Result<Estimator, P2pError> {
        self.learning.estimator.parse()
    }
    pub fn dynamics(&self) -> Result<Vec<Dynamics>, P2pError> {
        if self.learning.dynamics.is_empty() {
            return Err(P2pError::Input("learning.dynamics lists no dynamics".into()));
        }
        self.learning.dynamics.iter().map(|d| d.parse()).collect()
    }
    pub fn day_dynamics(&self) -> Result<Dynamics, P2pError> {
        self.day.dynamics.parse()
    }
    pub fn matchings(&self) -> Result<Vec<Matching>, P2pError> {
        self.day
            .matchings
            .iter()
            .map(|m| match m.to_ascii_lowercase().as_str() {
                "random" => Ok(Matching::Random),
                "max-weight" | "max_weight" | "maxweight" => Ok(Matching::MaxWeight { distance_weight: self.day.distance_weight }),
                other => Err(P2pError::Input(format!("day.matchings: \"{other}\" is not \"random\" or \"max-weight\""))),
            })
            .collect()
    }
    /// Every λ of the base case, sorted, without duplicates.
    pub fn base_lambdas(&self) -> Vec<f64> {
        let mut l: Vec<f64> = self.base.figure_lambdas.iter().chain(&self.base.sweep_lambdas).cloned().collect();
        l.sort_by(|a, b| a.total_cmp(b));
        l.dedup();
        l
    }
}

// ---------------------------------------------------------------------------
// Part 1: the base case
// ---------------------------------------------------------------------------

/// One base-case run (one dynamics, λ and seed), averaged over the second
/// half of the episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseRun {
    pub dynamics: Dynamics,
    pub lambda: f64,
    pub seed: u64,
    /// Mean policy over the producers / consumers.
    pub producer_policy: Vec<f64>,
    pub consumer_policy: Vec<f64>,
    pub step_trade_probability: f64,
    pub negotiation_success: f64,
    pub producer_reward: f64,
    pub consumer_reward: f64,
    pub mean_price: f64,
}

/// The exact fixed point of a dynamics at one λ and what it implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub dynamics: Dynamics,
    pub lambda: f64,
    pub fixed_point: FixedPoint,
    pub step_trade_probability: f64,
    /// 1 − (1 − p)^T: some step of the T trades.
    pub negotiation_success: f64,
    pub producer_reward: f64,
    pub consumer_reward: f64,
    pub mean_price: f64,
    pub nash_gap: f64,
}

impl Reference {
    pub fn compute(game: &BargainGame, dynamics: Dynamics, lambda: f64, rounds: usize) -> Result<Self, P2pError> {
        let qr = QuantalResponse::new(game.clone(), lambda, dynamics)?;
        let fp = fixed_point(&qr, 0.5, 1e-12, 1_000_000);
        let p = game.trade_probability(&fp.producer, &fp.consumer);
        let (rp, rc) = game.expected_rewards(&fp.producer, &fp.consumer);
        Ok(Reference {
            dynamics,
            lambda,
            step_trade_probability: p,
            negotiation_success: 1.0 - (1.0 - p).powi(rounds as i32),
            producer_reward: rp,
            consumer_reward: rc,
            mean_price: game.mean_trade_price(&fp.producer, &fp.consumer),
            nash_gap: game.nash_gap(&fp.producer, &fp.consumer),
            fixed_point: fp,
        })
    }
}

/// Runs one base case in the Environment: 5 + 5 traders, the P2P market,
/// a do-nothing grid; one grid step = one episode of T bargaining rounds.
pub fn run_base(cfg: &Uc2Config, dynamics: Dynamics, lambda: f64, seed: u64) -> Result<BaseRun, P2pError> {
    let game = cfg.game()?;
    let qr = Arc::new(QuantalResponse::new(game.clone(), lambda, dynamics)?);
    let (estimator, step, t) = (cfg.estimator()?, cfg.learning.step, cfg.learning.rounds);
    let b = &cfg.base;
    let mut agents: Vec<Box<dyn Agent>> = Vec::new();
    for i in 0..b.producers {
        agents.push(Box::new(Prosumer::trader(&format!("p{i}"), Role::Producer, b.quantity_kwh, qr.clone(), estimator, step)?));
    }
    for j in 0..b.consumers {
        agents.push(Box::new(Prosumer::trader(&format!("c{j}"), Role::Consumer, b.quantity_kwh, qr.clone(), estimator, step)?));
    }
    let market = P2pMarket::new(P2pConfig { game: game.clone(), rounds: t, interval: 1, matching: Matching::Random })?;
    let mut env = Environment::new(Box::new(DoNothingGrid::new(3600.0)), Box::new(market), agents)
        .with_max_market_rounds(t + 1)
        .with_recording(false);
    env.reset(Some(seed))?;
    let n = game.n();
    let (mut pp, mut pc) = (vec![0.0; n], vec![0.0; n]);
    let (mut steps, mut trades, mut negotiations, mut successes) = (0usize, 0usize, 0usize, 0usize);
    let (mut rp, mut rc, mut price) = (0.0, 0.0, 0.0);
    let mut counted = 0usize;
    let burn_in = b.episodes / 2;
    for e in 0..b.episodes {
        env.step()?;
        if e < burn_in {
            continue;
        }
        counted += 1;
        let market = env.market().as_any().downcast_ref::<P2pMarket>().ok_or_else(|| P2pError::Run("market is not P2P".into()))?;
        for pair in market.pairs() {
            negotiations += 1;
            successes += usize::from(pair.slices_traded > 0);
            for &(bp, bc) in &pair.bids {
                steps += 1;
                if game.trades(bp, bc) {
                    trades += 1;
                    price += game.actions[bp];
                }
                rp += game.payoff(Role::Producer, bp, bc);
                rc += game.payoff(Role::Consumer, bc, bp);
            }
        }
        for agent in env.agents() {
            let Some(p) = agent.as_any().downcast_ref::<Prosumer>() else { continue };
            let (sum, k) = match p.fixed_role() {
                Some(Role::Producer) => (&mut pp, b.producers),
                _ => (&mut pc, b.consumers),
            };
            let role = p.fixed_role().unwrap_or(Role::Consumer);
            for (s, x) in sum.iter_mut().zip(p.policy(role)) {
                *s += x / k as f64;
            }
        }
    }
    let c = counted.max(1) as f64;
    pp.iter_mut().chain(pc.iter_mut()).for_each(|x| *x /= c);
    Ok(BaseRun {
        dynamics,
        lambda,
        seed,
        producer_policy: pp,
        consumer_policy: pc,
        step_trade_probability: trades as f64 / steps.max(1) as f64,
        negotiation_success: successes as f64 / negotiations.max(1) as f64,
        producer_reward: rp / steps.max(1) as f64,
        consumer_reward: rc / steps.max(1) as f64,
        mean_price: if trades > 0 { price / trades as f64 } else { f64::NAN },
    })
}

/// Mean and 95 % half-width over seeds of one quantity, per (dynamics, λ).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    pub dynamics: Dynamics,
    pub lambda: f64,
    pub seeds: usize,
    pub producer_reward: (f64, f64),
    pub consumer_reward: (f64, f64),
    pub step_trade_probability: (f64, f64),
    pub negotiation_success: (f64, f64),
    pub mean_price: (f64, f64),
    pub mean_producer_bid: (f64, f64),
    pub mean_consumer_bid: (f64, f64),
    /// Mean policies over seeds.
    pub producer_policy: Vec<f64>,
    pub consumer_policy: Vec<f64>,
    pub reference: Reference,
}

fn sweep_point(game: &BargainGame, runs: &[&BaseRun], reference: Reference) -> SweepPoint {
    let stat = |f: &dyn Fn(&BaseRun) -> f64| {
        let v: Vec<f64> = runs.iter().map(|r| f(r)).filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            mean_ci95(&v)
        }
    };
    let n = game.n();
    let mean_policy = |f: &dyn Fn(&BaseRun) -> &Vec<f64>| {
        let mut m = vec![0.0; n];
        for r in runs {
            for (x, p) in m.iter_mut().zip(f(r)) {
                *x += p / runs.len() as f64;
            }
        }
        m
    };
    SweepPoint {
        dynamics: reference.dynamics,
        lambda: reference.lambda,
        seeds: runs.len(),
        producer_reward: stat(&|r| r.producer_reward),
        consumer_reward: stat(&|r| r.consumer_reward),
        step_trade_probability: stat(&|r| r.step_trade_probability),
        negotiation_success: stat(&|r| r.negotiation_success),
        mean_price: stat(&|r| r.mean_price),
        mean_producer_bid: stat(&|r| game.mean_bid(&r.producer_policy)),
        mean_consumer_bid: stat(&|r| game.mean_bid(&r.consumer_policy)),
        producer_policy: mean_policy(&|r| &r.producer_policy),
        consumer_policy: mean_policy(&|r| &r.consumer_policy),
        reference,
    }
}

/// Every base run and the sweep built from them.
#[derive(Debug, Clone)]
pub struct BaseResults {
    pub runs: Vec<BaseRun>,
    pub sweep: Vec<SweepPoint>,
}

/// All base runs (in parallel over dynamics × λ × seed; each run is seeded,
/// so the results do not depend on the number of threads).
pub fn run_base_case(cfg: &Uc2Config) -> Result<BaseResults, P2pError> {
    let game = cfg.game()?;
    let lambdas = cfg.base_lambdas();
    let mut tasks = Vec::new();
    for d in cfg.dynamics()? {
        for &l in &lambdas {
            for s in 0..cfg.base.seeds {
                tasks.push((d, l, cfg.base.base_seed + s));
            }
        }
    }
    let runs: Vec<BaseRun> = tasks.par_iter().map(|&(d, l, s)| run_base(cfg, d, l, s)).collect::<Result<_, _>>()?;
    let mut sweep = Vec::new();
    for d in cfg.dynamics()? {
        for &l in &lambdas {
            let mine: Vec<&BaseRun> = runs.iter().filter(|r| r.dynamics == d && r.lambda == l).collect();
            sweep.push(sweep_point(&game, &mine, Reference::compute(&game, d, l, cfg.learning.rounds)?));
        }
    }
    Ok(BaseResults { runs, sweep })
}

// ---------------------------------------------------------------------------
// Part 2: a day on the feeder
// ---------------------------------------------------------------------------

/// The homes of the day (the same for every λ and matching).
#[derive(Debug, Clone)]
pub struct Home {
    pub name: String,
    pub bus: String,
    pub loads: Vec<(String, f64)>,
    pub pv_peak_kw: f64,
    pub load_peak_kw: f64,
    pub profiles: Profiles,
    pub store: Option<HeatStore>,
}

/// The feeder and the homes.
#[derive(Debug, Clone)]
pub struct DaySetup {
    pub circuit: ogg_dss::Circuit,
    pub grid: DistributionGrid,
    pub distances: BusDistances,
    pub homes: Vec<Home>,
    pub step_h: f64,
}

/// Reads the feeder (built-in name or OpenDSS path, relative to `base_dir`) and builds the homes.
pub fn day_setup(cfg: &Uc2Config, base_dir: Option<&Path>) -> Result<DaySetup, P2pError> {
    let d = &cfg.day;
    let mut path = PathBuf::from(&d.feeder);
    if path.is_relative() {
        if let Some(b) = base_dir {
            if b.join(&path).is_file() {
                path = b.join(&path);
            }
        }
    }
    let circuit = if path.is_file() {
        ogg_dss::read_file(&path).map_err(|e| P2pError::Input(format!("{}: {e}", path.display())))?
    } else {
        ogg_grid::feeders::circuit_from(&d.feeder).map_err(|e| P2pError::Input(format!("day.feeder '{}': {e}", d.feeder)))?
    };
    let step_h = d.step_minutes / 60.0;
    let grid = DistributionGrid::new(&circuit, step_h * 3600.0).map_err(|e| P2pError::Input(format!("AC power flow of '{}': {e}", d.feeder)))?;
    let distances = BusDistances::from_circuit(&circuit);
    // Load elements per bus, in the order buses first appear.
    let mut by_bus: Vec<(String, Vec<(String, f64)>)> = Vec::new();
    for l in circuit.loads.iter().filter(|l| l.enabled && l.kw > 0.0) {
        let bus = l.bus1.bus.to_ascii_lowercase();
        match by_bus.iter_mut().find(|(b, _)| *b == bus) {
            Some((_, v)) => v.push((l.name.clone(), l.kw)),
            None => by_bus.push((bus, vec![(l.name.clone(), l.kw)])),
        }
    }
    if let Some(wanted) = &d.buses {
        for w in wanted {
            if !by_bus.iter().any(|(b, _)| b.eq_ignore_ascii_case(w)) {
                return Err(P2pError::Input(format!("day.buses: bus '{w}' has no load in feeder '{}'", d.feeder)));
            }
        }
        by_bus.retain(|(b, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(b)));
    }
    let mut rng = SplitMix64::new(derive_seed(d.seed, 0x6461_7920));
    let mut homes = Vec::new();
    for (bus, loads) in by_bus {
        let load_peak_kw: f64 = loads.iter().map(|l| l.1).sum();
        let ratio = d.pv_ratio_min + (d.pv_ratio_max - d.pv_ratio_min) * rng.next_f64();
        let spec = ProfileSpec {
            pv_peak_kw: ratio * load_peak_kw,
            load_peak_kw,
            thermal_share: d.thermal_share,
            forecast_error: d.forecast_error,
            cloudiness: d.cloudiness,
            load_noise: d.load_noise,
        };
        let profiles = Profiles::generate(&spec, d.steps, step_h, &mut rng);
        let capacity = d.heat_store_hours * d.thermal_share * load_peak_kw;
        let store = (capacity > 0.0).then(|| HeatStore { capacity_kwh: capacity, loss_per_step: 1.0 - (1.0 - d.store_loss_per_hour).powf(step_h) });
        homes.push(Home { name: format!("home{bus}"), bus, loads, pv_peak_kw: spec.pv_peak_kw, load_peak_kw, profiles, store });
    }
    if homes.is_empty() {
        return Err(P2pError::Input(format!("feeder '{}' has no load bus for a home", d.feeder)));
    }
    Ok(DaySetup { circuit, grid, distances, homes, step_h })
}

/// One settled trade at one grid step.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeRow {
    pub grid_step: usize,
    pub producer: String,
    pub consumer: String,
    pub producer_bus: String,
    pub consumer_bus: String,
    pub distance_km: f64,
    pub scheduled_kwh: f64,
    pub delivered_kwh: f64,
    /// What the consumer stored because of the contract.
    pub stored_kwh: f64,
    pub price: f64,
    pub feasible: bool,
    pub decisive: bool,
    pub element: String,
    pub kind: String,
    pub value: f64,
    pub relief: f64,
}

/// One grid step of the day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayStepRow {
    pub grid_step: usize,
    pub hour: f64,
    pub producers: usize,
    pub consumers: usize,
    pub pairs: usize,
    pub delivered_kwh: f64,
    pub shortfall_kwh: f64,
    pub curtailed_kwh: f64,
    /// What the homes bought from the substation at the retail price (their
    /// draw not covered by P2P deliveries: failed slices, shortfalls, no partner).
    pub retail_kwh: f64,
    /// Money of the step, ¢: consumers → producers for P2P deliveries, the
    /// market's service fees (both sides), and the retail purchases.
    pub p2p_cents: f64,
    pub fees_cents: f64,
    pub retail_cents: f64,
    pub substation_kw: f64,
    pub losses_kw: f64,
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    pub max_loading: f64,
    pub violations: usize,
    pub infeasible_trades: usize,
    pub infeasible_kwh: f64,
}

/// One day for one λ and matching.
#[derive(Debug, Clone)]
pub struct DayRun {
    pub lambda: f64,
    pub matching: Matching,
    pub trades: Vec<TradeRow>,
    pub steps: Vec<DayStepRow>,
    /// Slices bargained and traded over the day.
    pub slices: usize,
    pub slices_traded: usize,
    pub negotiations: usize,
    pub negotiations_traded: usize,
    pub price_sum: f64,
    pub counterfactual_solves: usize,
}

impl TradeRow {
    /// The energy the trade moved physically: the producer's delivery, or
    /// (if larger) what the consumer stored because of it.
    pub fn size_kwh(&self) -> f64 {
        self.delivered_kwh.max(self.stored_kwh)
    }
}

impl DayRun {
    pub fn infeasible(&self) -> impl Iterator<Item = &TradeRow> {
        self.trades.iter().filter(|t| !t.feasible)
    }
    pub fn delivered_kwh(&self) -> f64 {
        self.trades.iter().map(|t| t.delivered_kwh).sum()
    }
    pub fn infeasible_kwh(&self) -> f64 {
        self.infeasible().map(|t| t.size_kwh()).sum()
    }
    pub fn step_trade_probability(&self) -> f64 {
        self.slices_traded as f64 / self.slices.max(1) as f64
    }
    pub fn mean_price(&self) -> f64 {
        self.price_sum / self.slices_traded.max(1) as f64
    }
}

/// Runs the day for one λ and matching rule.
pub fn run_day(cfg: &Uc2Config, setup: &DaySetup, lambda: f64, matching: Matching) -> Result<DayRun, P2pError> {
    let game = cfg.game()?;
    let d = &cfg.day;
    let dynamics = cfg.day_dynamics()?;
    let qr = Arc::new(QuantalResponse::new(game.clone(), lambda, dynamics)?);
    // The homes arrive with the policies the base case converges to.
    let start = fixed_point(&qr, 0.5, 1e-12, 1_000_000);
    let (estimator, step, t) = (cfg.estimator()?, cfg.learning.step, cfg.learning.rounds);
    let mut agents: Vec<Box<dyn Agent>> = Vec::new();
    for h in &setup.homes {
        let p = Prosumer::home(&h.name, &h.bus, h.loads.clone(), h.profiles.clone(), h.store, qr.clone(), estimator, step)?
            .with_policies(&start.producer, &start.consumer)?;
        agents.push(Box::new(p));
    }
    let market = P2pMarket::new(P2pConfig { game: game.clone(), rounds: t, interval: d.market_interval, matching })?
        .with_distances(setup.distances.clone());
    let mut env = Environment::new(Box::new(setup.grid.clone()), Box::new(market), agents)
        .with_max_market_rounds(t + 1)
        .with_recording(false);
    env.reset(Some(d.seed))?;
    let limits = Limits { v_min_pu: d.v_min_pu, v_max_pu: d.v_max_pu, max_loading: d.max_loading, ..Default::default() };
    let mut run = DayRun {
        lambda,
        matching,
        trades: Vec::new(),
        steps: Vec::new(),
        slices: 0,
        slices_traded: 0,
        negotiations: 0,
        negotiations_traded: 0,
        price_sum: 0.0,
        counterfactual_solves: 0,
    };
    for step_index in 0..d.steps {
        env.step()?;
        let market = env.market().as_any().downcast_ref::<P2pMarket>().ok_or_else(|| P2pError::Run("market is not P2P".into()))?;
        let grid = env.grid().as_any().downcast_ref::<DistributionGrid>().ok_or_else(|| P2pError::Run("grid is not a feeder".into()))?;
        let home = |i: usize| env.agents()[i].as_any().downcast_ref::<Prosumer>();
        if market.block_start() == step_index {
            for pair in market.pairs() {
                run.negotiations += 1;
                run.negotiations_traded += usize::from(pair.slices_traded > 0);
                run.slices += pair.bids.len();
                run.slices_traded += pair.slices_traded;
                run.price_sum += pair.price_sum;
            }
        }
        let mut footprints = Vec::new();
        let mut rows = Vec::new();
        for (k, pair) in market.pairs().iter().enumerate() {
            let Some(s) = market.scheduled(pair.producer, step_index) else { continue };
            let (Some(p), Some(c)) = (home(pair.producer), home(pair.consumer)) else { continue };
            let (pp, cp) = (p.physics(), c.physics());
            if s.kwh <= 0.0 {
                continue;
            }
            let pb = pair.producer_bus.clone().unwrap_or_default();
            let cb = pair.consumer_bus.clone().unwrap_or_default();
            footprints.push(TradeFootprint {
                id: k,
                producer_bus: pb.clone(),
                producer_kw: pp.delivered / setup.step_h,
                consumer_bus: cb.clone(),
                consumer_kw: cp.charge_contract / setup.step_h,
            });
            rows.push(TradeRow {
                grid_step: step_index,
                producer: env.agents()[pair.producer].name().to_string(),
                consumer: env.agents()[pair.consumer].name().to_string(),
                distance_km: setup.distances.get(&pb, &cb).map_or(f64::NAN, |m| m / 1000.0),
                producer_bus: pb,
                consumer_bus: cb,
                scheduled_kwh: s.kwh,
                delivered_kwh: pp.delivered,
                stored_kwh: cp.charge_contract,
                price: s.price,
                feasible: true,
                decisive: false,
                element: String::new(),
                kind: String::new(),
                value: f64::NAN,
                relief: 0.0,
            });
        }
        let actions: Vec<(String, Vec<ogg_core::GridAction>)> =
            env.agents().iter().map(|a| (a.name().to_string(), a.grid_actions().to_vec())).collect();
        let check = check_step(grid, &actions, &footprints, &limits)?;
        run.counterfactual_solves += check.solves;
        for (row, verdict) in rows.iter_mut().zip(&check.verdicts) {
            row.feasible = verdict.feasible;
            row.decisive = verdict.decisive;
            row.element = verdict.element.clone().unwrap_or_default();
            row.kind = verdict.kind.map(|k| k.as_str().to_string()).unwrap_or_default();
            row.value = verdict.value;
            row.relief = verdict.relief;
        }
        let homes: Vec<&Prosumer> = (0..env.agents().len()).filter_map(home).collect();
        let st = grid.state();
        let registered = market.registered();
        run.steps.push(DayStepRow {
            grid_step: step_index,
            hour: step_index as f64 * setup.step_h,
            producers: registered.iter().filter(|r| r.1 == Role::Producer).count(),
            consumers: registered.iter().filter(|r| r.1 == Role::Consumer).count(),
            pairs: market.pairs().len(),
            delivered_kwh: rows.iter().map(|r| r.delivered_kwh).sum(),
            shortfall_kwh: rows.iter().map(|r| r.scheduled_kwh - r.delivered_kwh).sum(),
            curtailed_kwh: homes.iter().map(|h| h.physics().curtailed).sum(),
            retail_kwh: retail_kwh(&homes, &rows),
            p2p_cents: rows.iter().map(|r| r.delivered_kwh * r.price).sum(),
            fees_cents: rows.iter().map(|r| 2.0 * game.service_fee * r.delivered_kwh).sum(),
            retail_cents: retail_kwh(&homes, &rows) * game.retail_price,
            substation_kw: st.total_power_kw,
            losses_kw: st.losses_kw,
            v_min_pu: check.v_min_pu,
            v_max_pu: check.v_max_pu,
            max_loading: check.max_loading,
            violations: check.violations.len(),
            infeasible_trades: rows.iter().filter(|r| !r.feasible).count(),
            infeasible_kwh: rows.iter().filter(|r| !r.feasible).map(|r| r.size_kwh()).sum(),
        });
        run.trades.extend(rows);
    }
    Ok(run)
}

/// Energy the homes draw from the substation beyond what P2P deliveries cover.
fn retail_kwh(homes: &[&Prosumer], rows: &[TradeRow]) -> f64 {
    let mut delivered_to: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for r in rows {
        *delivered_to.entry(r.consumer.as_str()).or_default() += r.delivered_kwh;
    }
    homes
        .iter()
        .map(|h| {
            let got = delivered_to.get(h.name()).copied().unwrap_or(0.0);
            (h.physics().net_draw() - got).max(0.0)
        })
        .sum()
}

/// Everything `ogg run uc2` produces.
#[derive(Debug, Clone)]
pub struct Uc2Results {
    pub base: BaseResults,
    pub days: Vec<DayRun>,
    pub homes: Vec<Home>,
}

/// Runs both parts.
pub fn run(cfg: &Uc2Config, base_dir: Option<&Path>) -> Result<Uc2Results, P2pError> {
    let base = run_base_case(cfg)?;
    let (days, homes) = if cfg.day.enabled {
        let setup = day_setup(cfg, base_dir)?;
        let mut tasks = Vec::new();
        for m in cfg.matchings()? {
            for &l in &cfg.day.lambdas {
                tasks.push((l, m));
            }
        }
        let days = tasks.par_iter().map(|&(l, m)| run_day(cfg, &setup, l, m)).collect::<Result<Vec<_>, _>>()?;
        (days, setup.homes)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Uc2Results { base, days, homes })
}

// ---------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------

fn f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

/// Writes the tables, figures and summary into `out`; returns the files.
pub fn write_outputs(cfg: &Uc2Config, res: &Uc2Results, out: &Path) -> Result<Vec<PathBuf>, P2pError> {
    std::fs::create_dir_all(out).map_err(|e| P2pError::Input(format!("{}: {e}", out.display())))?;
    let game = cfg.game()?;
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| -> Result<(), P2pError> {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| P2pError::Input(format!("{}: {e}", p.display())))?;
        files.push(p);
        Ok(())
    };

    let mut runs = String::from("dynamics,lambda,seed,step_trade_probability,negotiation_success,producer_reward,consumer_reward,mean_price,mean_producer_bid,mean_consumer_bid\n");
    for r in &res.base.runs {
        let _ = writeln!(
            runs,
            "{},{},{},{},{},{},{},{},{},{}",
            r.dynamics,
            r.lambda,
            r.seed,
            f(r.step_trade_probability),
            f(r.negotiation_success),
            f(r.producer_reward),
            f(r.consumer_reward),
            f(r.mean_price),
            f(game.mean_bid(&r.producer_policy)),
            f(game.mean_bid(&r.consumer_policy))
        );
    }
    write("base_runs.csv", runs)?;

    let mut sweep = String::from(
        "dynamics,lambda,seeds,producer_reward,producer_reward_ci95,consumer_reward,consumer_reward_ci95,step_trade_probability,step_trade_probability_ci95,negotiation_success,negotiation_success_ci95,mean_price,mean_price_ci95,exact_producer_reward,exact_consumer_reward,exact_step_trade_probability,exact_negotiation_success,exact_mean_price,exact_nash_gap,exact_residual\n",
    );
    for p in &res.base.sweep {
        let r = &p.reference;
        let _ = writeln!(
            sweep,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.dynamics,
            p.lambda,
            p.seeds,
            f(p.producer_reward.0),
            f(p.producer_reward.1),
            f(p.consumer_reward.0),
            f(p.consumer_reward.1),
            f(p.step_trade_probability.0),
            f(p.step_trade_probability.1),
            f(p.negotiation_success.0),
            f(p.negotiation_success.1),
            f(p.mean_price.0),
            f(p.mean_price.1),
            f(r.producer_reward),
            f(r.consumer_reward),
            f(r.step_trade_probability),
            f(r.negotiation_success),
            f(r.mean_price),
            f(r.nash_gap),
            f(r.fixed_point.residual)
        );
    }
    write("base_sweep.csv", sweep)?;

    let mut policies = String::from("dynamics,lambda,role,price,learned_probability,exact_probability\n");
    for p in &res.base.sweep {
        for (role, learned, exact) in [
            ("producer", &p.producer_policy, &p.reference.fixed_point.producer),
            ("consumer", &p.consumer_policy, &p.reference.fixed_point.consumer),
        ] {
            for (a, price) in game.actions.iter().enumerate() {
                let _ = writeln!(policies, "{},{},{role},{price},{},{}", p.dynamics, p.lambda, f(learned[a]), f(exact[a]));
            }
        }
    }
    write("base_policies.csv", policies)?;

    for d in cfg.dynamics()? {
        write(&format!("fig8_action_distributions_{d}.svg"), actions_figure(cfg, &game, res, d))?;
    }
    write("fig9_rewards_and_trade_vs_lambda.svg", lambda_figure(cfg, res))?;

    if !res.days.is_empty() {
        let mut homes = String::from("home,bus,load_peak_kw,pv_peak_kw,pv_kwh_day,load_kwh_day,heat_store_kwh\n");
        for h in &res.homes {
            let _ = writeln!(
                homes,
                "{},{},{},{},{},{},{}",
                h.name,
                h.bus,
                h.load_peak_kw,
                h.pv_peak_kw,
                h.profiles.pv.iter().sum::<f64>(),
                h.profiles.base.iter().chain(&h.profiles.heat).sum::<f64>(),
                h.store.map_or(0.0, |s| s.capacity_kwh)
            );
        }
        write("day_homes.csv", homes)?;
        let mut trades = String::from(
            "lambda,matching,grid_step,producer,consumer,producer_bus,consumer_bus,distance_km,scheduled_kwh,delivered_kwh,stored_kwh,price,feasible,decisive,violated_element,violation,value,relief\n",
        );
        let mut steps = String::from(
            "lambda,matching,grid_step,hour,producers,consumers,pairs,delivered_kwh,shortfall_kwh,curtailed_kwh,retail_kwh,p2p_cents,fees_cents,retail_cents,substation_kw,losses_kw,v_min_pu,v_max_pu,max_loading,violations,infeasible_trades,infeasible_kwh\n",
        );
        for day in &res.days {
            let m = day.matching.label();
            for t in &day.trades {
                let _ = writeln!(
                    trades,
                    "{},{m},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    day.lambda,
                    t.grid_step,
                    t.producer,
                    t.consumer,
                    t.producer_bus,
                    t.consumer_bus,
                    f(t.distance_km),
                    f(t.scheduled_kwh),
                    f(t.delivered_kwh),
                    f(t.stored_kwh),
                    f(t.price),
                    t.feasible,
                    t.decisive,
                    t.element,
                    t.kind,
                    f(t.value),
                    f(t.relief)
                );
            }
            for s in &day.steps {
                let _ = writeln!(
                    steps,
                    "{},{m},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    day.lambda,
                    s.grid_step,
                    s.hour,
                    s.producers,
                    s.consumers,
                    s.pairs,
                    f(s.delivered_kwh),
                    f(s.shortfall_kwh),
                    f(s.curtailed_kwh),
                    f(s.retail_kwh),
                    f(s.p2p_cents),
                    f(s.fees_cents),
                    f(s.retail_cents),
                    f(s.substation_kw),
                    f(s.losses_kw),
                    f(s.v_min_pu),
                    f(s.v_max_pu),
                    f(s.max_loading),
                    s.violations,
                    s.infeasible_trades,
                    f(s.infeasible_kwh)
                );
            }
        }
        write("day_trades.csv", trades)?;
        write("day_steps.csv", steps)?;
        write("day_summary.csv", day_summary_csv(res))?;
        write("fig10_day_feasibility.svg", day_figure(cfg, res))?;
    }
    write("summary.md", summary_markdown(cfg, res)?)?;
    Ok(files)
}

fn day_summary_csv(res: &Uc2Results) -> String {
    let mut s = String::from(
        "lambda,matching,negotiations,negotiation_success,step_trade_probability,mean_price,trades,delivered_kwh,shortfall_kwh,retail_kwh,p2p_cents,fees_cents,retail_cents,infeasible_trades,decisive_infeasible,infeasible_kwh,largest_infeasible_kwh,worst_overvoltage_pu,worst_loading,steps_with_violations,counterfactual_solves\n",
    );
    for d in &res.days {
        let (c, p) = day_numbers(d);
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            d.lambda,
            d.matching.label(),
            d.negotiations,
            f(d.negotiations_traded as f64 / d.negotiations.max(1) as f64),
            f(d.step_trade_probability()),
            f(d.mean_price()),
            c.trades,
            f(d.delivered_kwh()),
            f(d.steps.iter().map(|x| x.shortfall_kwh).sum()),
            f(d.steps.iter().map(|x| x.retail_kwh).sum()),
            f(d.steps.iter().map(|x| x.p2p_cents).sum()),
            f(d.steps.iter().map(|x| x.fees_cents).sum()),
            f(d.steps.iter().map(|x| x.retail_cents).sum()),
            c.infeasible,
            c.decisive,
            f(d.infeasible_kwh()),
            f(p.largest_infeasible_kwh),
            f(p.v_max),
            f(p.max_loading),
            c.steps_with_violations,
            d.counterfactual_solves
        );
    }
    s
}

struct DayCounts {
    trades: usize,
    infeasible: usize,
    decisive: usize,
    steps_with_violations: usize,
}
struct DayPeaks {
    largest_infeasible_kwh: f64,
    v_max: f64,
    max_loading: f64,
}

fn day_numbers(d: &DayRun) -> (DayCounts, DayPeaks) {
    (
        DayCounts {
            trades: d.trades.iter().filter(|t| t.size_kwh() > 0.0).count(),
            infeasible: d.infeasible().count(),
            decisive: d.infeasible().filter(|t| t.decisive).count(),
            steps_with_violations: d.steps.iter().filter(|s| s.violations > 0).count(),
        },
        DayPeaks {
            largest_infeasible_kwh: d.infeasible().map(|t| t.size_kwh()).fold(0.0, f64::max),
            v_max: d.steps.iter().map(|s| s.v_max_pu).fold(f64::NEG_INFINITY, f64::max),
            max_loading: d.steps.iter().map(|s| s.max_loading).fold(0.0, f64::max),
        },
    )
}

/// The numbers next to the paper's statements.
pub fn summary_markdown(cfg: &Uc2Config, res: &Uc2Results) -> Result<String, P2pError> {
    let game = cfg.game()?;
    let mut s = String::new();
    let b = &cfg.base;
    let _ = writeln!(s, "# UC2 results ({})\n", cfg.name);
    let _ = writeln!(
        s,
        "Base case: {} producers and {} consumers of {} kWh, random matching every episode, T = {} bargaining steps, {} episodes (statistics over the second half), {} seeds; learners estimate the opponent `{}` with step α = {}. A = {{{}, …, {}}} ¢/kWh in steps of {}; ub = {}, c_service = {}, c_lose = {} ¢/kWh.\n",
        b.producers,
        b.consumers,
        b.quantity_kwh,
        cfg.learning.rounds,
        b.episodes,
        b.seeds,
        cfg.learning.estimator,
        cfg.learning.step,
        game.actions[0],
        game.actions[game.n() - 1],
        cfg.game.price_step,
        game.retail_price,
        game.service_fee,
        game.lose_cost
    );
    let _ = writeln!(s, "| dynamics | λ | mean ask b_p | mean bid b_c | producer reward ¢/kWh | consumer reward ¢/kWh | P(step trades) | P(negotiation trades) | mean price | exact: P(step) | exact: producer / consumer reward | exact: Nash gap |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let pm = |x: (f64, f64)| format!("{:.3} ± {:.3}", x.0, x.1);
    for p in &res.base.sweep {
        let r = &p.reference;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.3} / {:.3} | {:.3} |",
            p.dynamics,
            p.lambda,
            pm(p.mean_producer_bid),
            pm(p.mean_consumer_bid),
            pm(p.producer_reward),
            pm(p.consumer_reward),
            pm(p.step_trade_probability),
            pm(p.negotiation_success),
            pm(p.mean_price),
            r.step_trade_probability,
            r.producer_reward,
            r.consumer_reward,
            r.nash_gap
        );
    }
    let trend = |d: Dynamics, f: &dyn Fn(&SweepPoint) -> f64| -> (f64, f64) {
        let pts: Vec<&SweepPoint> = res.base.sweep.iter().filter(|p| p.dynamics == d).collect();
        (pts.first().map_or(f64::NAN, |p| f(p)), pts.last().map_or(f64::NAN, |p| f(p)))
    };
    let _ = writeln!(s, "\n## Next to the paper\n");
    let _ = writeln!(s, "| the paper | what we find |");
    let _ = writeln!(s, "| --- | --- |");
    for d in cfg.dynamics()? {
        let (lo, hi) = trend(d, &|p| p.lambda);
        let (bp0, bp1) = trend(d, &|p| p.mean_producer_bid.0);
        let (bc0, bc1) = trend(d, &|p| p.mean_consumer_bid.0);
        let (rp0, rp1) = trend(d, &|p| p.producer_reward.0);
        let (rc0, rc1) = trend(d, &|p| p.consumer_reward.0);
        let (ps0, ps1) = trend(d, &|p| p.step_trade_probability.0);
        let (pn0, pn1) = trend(d, &|p| p.negotiation_success.0);
        let _ = writeln!(
            s,
            "| higher λ skews bids towards higher actions | {d}: mean ask {bp0:.2} → {bp1:.2}, mean bid {bc0:.2} → {bc1:.2} ¢/kWh from λ = {lo} to {hi} |"
        );
        let _ = writeln!(
            s,
            "| higher λ raises expected rewards | {d}: producer {rp0:.2} → {rp1:.2}, consumer {rc0:.2} → {rc1:.2} ¢/kWh per step (the sum {:.2} → {:.2}) |",
            rp0 + rc0,
            rp1 + rc1
        );
        let _ = writeln!(
            s,
            "| trade probability stays roughly constant | {d}: per negotiation (≥ 1 of T steps trades) {pn0:.3} → {pn1:.3}; per step {ps0:.3} → {ps1:.3} |"
        );
    }
    let lowest = res.base.sweep.iter().map(|p| p.lambda).fold(f64::INFINITY, f64::min);
    let uniform_gap: f64 = res
        .base
        .sweep
        .iter()
        .filter(|p| p.lambda == lowest)
        .map(|p| {
            p.producer_policy.iter().chain(&p.consumer_policy).map(|x| (x - 1.0 / game.n() as f64).abs()).fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    let _ = writeln!(s, "| lower λ tends to uniform | at λ = {lowest} the learned policies are within {uniform_gap:.3} of uniform (1/{} = {:.4}) |", game.n(), 1.0 / game.n() as f64);

    if !res.days.is_empty() {
        let d = &cfg.day;
        let _ = writeln!(s, "\n## A day on {}: can the grid carry the trades?\n", d.feeder);
        let producers_mid = res.days[0].steps.iter().map(|x| x.producers).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "{} homes (one per load bus; PV peak = {}–{} × the bus's peak load; {} % thermal load with a {} h heat store), {} grid steps of {} min, a market step every {} grid steps, dynamics {}, learners starting at the base case's fixed point. Up to {} homes sell in one market step. A trade is infeasible if removing it alone relieves an overload or a voltage outside [{}, {}] pu (AC power flow, controls frozen).\n",
            res.homes.len(),
            d.pv_ratio_min,
            d.pv_ratio_max,
            d.thermal_share * 100.0,
            d.heat_store_hours,
            d.steps,
            d.step_minutes,
            d.market_interval,
            d.dynamics,
            producers_mid,
            d.v_min_pu,
            d.v_max_pu
        );
        let _ = writeln!(s, "| λ | matching | negotiations (traded) | P(step trades) | mean price | trade-steps | delivered kWh | paid P2P ¢ (fees ¢) | bought at retail kWh | infeasible trade-steps (decisive) | infeasible kWh | largest infeasible kWh | max V pu | max loading |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for day in &res.days {
            let (c, p) = day_numbers(day);
            let _ = writeln!(
                s,
                "| {} | {} | {} ({}) | {:.3} | {:.2} | {} | {:.0} | {:.0} ({:.0}) | {:.0} | {} ({}) | {:.0} | {:.1} | {:.4} | {:.3} |",
                day.lambda,
                day.matching.label(),
                day.negotiations,
                day.negotiations_traded,
                day.step_trade_probability(),
                day.mean_price(),
                c.trades,
                day.delivered_kwh(),
                day.steps.iter().map(|x| x.p2p_cents).sum::<f64>(),
                day.steps.iter().map(|x| x.fees_cents).sum::<f64>(),
                day.steps.iter().map(|x| x.retail_kwh).sum::<f64>(),
                c.infeasible,
                c.decisive,
                day.infeasible_kwh(),
                p.largest_infeasible_kwh,
                p.v_max,
                p.max_loading
            );
        }
        // Which elements the infeasible trades violate.
        let mut elements: Vec<(String, usize)> = Vec::new();
        for day in &res.days {
            for t in day.infeasible() {
                let key = format!("{} at {}", t.kind, t.element);
                match elements.iter_mut().find(|e| e.0 == key) {
                    Some(e) => e.1 += 1,
                    None => elements.push((key, 1)),
                }
            }
        }
        elements.sort_by_key(|e| std::cmp::Reverse(e.1));
        if !elements.is_empty() {
            let list: Vec<String> = elements.iter().take(8).map(|(k, n)| format!("{k} ({n})")).collect();
            let _ = writeln!(s, "\nViolations the infeasible trades cause (all runs): {}.", list.join(", "));
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

fn actions_figure(cfg: &Uc2Config, game: &BargainGame, res: &Uc2Results, d: Dynamics) -> String {
    let lambdas = &cfg.base.figure_lambdas;
    let k = lambdas.len().max(1) as f64;
    let (w, h, gap) = (250.0, 220.0, 60.0);
    let max_p = res
        .base
        .sweep
        .iter()
        .filter(|p| p.dynamics == d && lambdas.contains(&p.lambda))
        .flat_map(|p| p.producer_policy.iter().chain(&p.consumer_policy).chain(&p.reference.fixed_point.producer).chain(&p.reference.fixed_point.consumer))
        .cloned()
        .fold(0.1_f64, f64::max);
    let y_top = (max_p * 1.05 / 0.2).ceil() * 0.2;
    let (a0, a1) = (game.actions[0], game.actions[game.n() - 1]);
    let mut panels = Vec::new();
    for (i, &l) in lambdas.iter().enumerate() {
        let Some(p) = res.base.sweep.iter().find(|p| p.dynamics == d && p.lambda == l) else { continue };
        let mut panel = Panel::new(70.0 + i as f64 * (w + gap), 40.0, w, h, (a0 - 0.5, a1 + 0.5), (0.0, y_top));
        panel.axes(&format!("λ = {l}"), "bid (¢/kWh)", "probability", &svg::ticks(a0, a1, 5), &svg::ticks(0.0, y_top, (y_top / 0.2).round() as usize));
        let off = (game.actions.get(1).map_or(1.0, |x| x - a0)) * 0.18;
        for (role, learned, exact, color, dx) in [
            ("producer", &p.producer_policy, &p.reference.fixed_point.producer, PALETTE[0], -off),
            ("consumer", &p.consumer_policy, &p.reference.fixed_point.consumer, PALETTE[1], off),
        ] {
            let _ = role;
            for (a, &x) in game.actions.iter().enumerate() {
                panel.polyline(&[(x + dx, 0.0), (x + dx, learned[a])], color, 3.0, false);
            }
            let pts: Vec<(f64, f64)> = game.actions.iter().zip(exact.iter()).map(|(&x, &y)| (x, y)).collect();
            panel.polyline(&pts, color, 1.2, true);
        }
        panels.push(panel);
    }
    let width = 70.0 + k * (w + gap);
    let title = match d {
        Dynamics::Eq11 => "the paper's Eq. (11)",
        Dynamics::Logit => "logit quantal response",
    };
    let legend = format!(
        "<text x=\"{:.0}\" y=\"{:.0}\" font-size=\"12\" font-family=\"sans-serif\" text-anchor=\"middle\">Action distributions ({title}, {} producers / {} consumers, {} seeds): bars = learned (producers blue, consumers red), dashed = exact fixed point</text>\n",
        width / 2.0,
        h + 95.0,
        cfg.base.producers,
        cfg.base.consumers,
        cfg.base.seeds
    );
    svg::document(width, h + 110.0, &panels, &legend)
}

/// A quantity of the sweep to plot: name, (mean, CI half-width), colour.
type Series<'a> = (&'a str, &'a dyn Fn(&SweepPoint) -> (f64, f64), &'a str);
/// A curve to draw: series index, mean, low and high band, colour.
type Curve<'a> = (usize, Vec<f64>, Vec<f64>, Vec<f64>, &'a str);

fn lambda_figure(cfg: &Uc2Config, res: &Uc2Results) -> String {
    let pts = &res.base.sweep;
    let lam: Vec<f64> = cfg.base_lambdas().into_iter().filter(|&l| l > 0.0).collect();
    let lx = |l: f64| l.max(1e-9).log10();
    let (x0, x1) = (lam.first().map_or(-1.0, |&l| lx(l)), lam.last().map_or(1.0, |&l| lx(l)));
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 1.0, x0 + 1.0) };
    let (r_lo, r_hi) = pts.iter().flat_map(|p| [p.producer_reward, p.consumer_reward]).fold((0.0_f64, 1.0_f64), |(lo, hi), (m, c)| {
        (lo.min(m - c), hi.max(m + c))
    });
    let (r_lo, r_hi) = (r_lo.floor(), r_hi.ceil());
    let mut left = Panel::new(70.0, 40.0, 400.0, 280.0, (x0, x1), (r_lo, r_hi));
    left.axes("Expected reward per step (bands: 95 % CI; dots: exact fixed point)", "rationality λ (log scale)", "¢/kWh", &[], &svg::ticks(r_lo, r_hi, 5));
    let mut right = Panel::new(570.0, 40.0, 400.0, 280.0, (x0, x1), (0.0, 1.05));
    right.axes("Trade probability (bands: 95 % CI; dots: exact fixed point)", "rationality λ (log scale)", "probability", &[], &svg::ticks(0.0, 1.0, 5));
    for panel in [&mut left, &mut right] {
        for &l in &lam {
            let x = panel.px(lx(l));
            let y = panel.y0 + panel.height + 14.0;
            panel.text(x, y, &format!("{l}"), 9.0, "middle");
        }
    }
    let dyns: Vec<Dynamics> = cfg.dynamics().unwrap_or_default();
    let mut legend = String::new();
    let mut line = 0.0;
    for (di, &d) in dyns.iter().enumerate() {
        let mine: Vec<&SweepPoint> = pts.iter().filter(|p| p.dynamics == d && p.lambda > 0.0).collect();
        let xs: Vec<f64> = mine.iter().map(|p| lx(p.lambda)).collect();
        let dash = di > 0;
        let series: [Series; 4] = [
            ("producer reward", &|p| p.producer_reward, PALETTE[0]),
            ("consumer reward", &|p| p.consumer_reward, PALETTE[1]),
            ("P(step trades)", &|p| p.step_trade_probability, PALETTE[2]),
            ("P(negotiation trades)", &|p| p.negotiation_success, PALETTE[3]),
        ];
        let mut draws: Vec<Curve> = Vec::new();
        for (k, (name, get, color)) in series.iter().enumerate() {
            let m: Vec<f64> = mine.iter().map(|p| get(p).0).collect();
            let lo: Vec<f64> = mine.iter().map(|p| get(p).0 - get(p).1).collect();
            let hi: Vec<f64> = mine.iter().map(|p| get(p).0 + get(p).1).collect();
            draws.push((k, m, lo, hi, color));
            legend.push_str(&format!(
                "<text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\" font-family=\"sans-serif\" fill=\"{color}\">{} {name}</text>\n",
                70.0 + 250.0 * (k % 4) as f64,
                372.0 + 14.0 * line,
                if dash { "- - logit:" } else { "— eq11:" }
            ));
        }
        line += 1.0;
        for (k, m, lo, hi, color) in draws {
            let panel = if k < 2 { &mut left } else { &mut right };
            panel.band(&xs, &lo, &hi, color);
            panel.polyline(&xs.iter().cloned().zip(m.iter().cloned()).collect::<Vec<_>>(), color, 1.8, dash);
            // The exact fixed point of the dynamics (what exact-expectation learners converge to).
            for (p, &x) in mine.iter().zip(&xs) {
                let r = &p.reference;
                let y = [r.producer_reward, r.consumer_reward, r.step_trade_probability, r.negotiation_success][k];
                panel.dot(x, y, color, if dash { 2.0 } else { 3.0 });
            }
        }
    }
    svg::document(1040.0, 372.0 + 14.0 * line + 10.0, &[left, right], &legend)
}

fn day_figure(cfg: &Uc2Config, res: &Uc2Results) -> String {
    let hours = cfg.day.steps as f64 * cfg.day.step_minutes / 60.0;
    let step_h = cfg.day.step_minutes / 60.0;
    // One λ (the one closest to 5 on a log scale), every matching rule.
    let lambda = res
        .days
        .iter()
        .map(|d| d.lambda)
        .min_by(|a, b| (a.max(1e-9).ln() - 5f64.ln()).abs().total_cmp(&(b.max(1e-9).ln() - 5f64.ln()).abs()))
        .unwrap_or(0.0);
    let runs: Vec<&DayRun> = res.days.iter().filter(|d| d.lambda == lambda).collect();
    let kw_max = runs.iter().flat_map(|d| d.steps.iter().map(|s| s.delivered_kwh / step_h)).fold(10.0_f64, f64::max);
    let y_top = (kw_max * 1.1 / 100.0).ceil() * 100.0;
    let mut top = Panel::new(70.0, 40.0, 700.0, 220.0, (0.0, hours), (0.0, y_top));
    top.axes(
        &format!("λ = {lambda}: P2P power delivered (lines) and the part in physically infeasible trades (dots)"),
        "hour of day",
        "kW",
        &svg::ticks(0.0, hours, 8),
        &svg::ticks(0.0, y_top, 4),
    );
    let v_lo = runs.iter().flat_map(|d| d.steps.iter().map(|s| s.v_min_pu)).fold(cfg.day.v_min_pu, f64::min);
    let v_hi = runs.iter().flat_map(|d| d.steps.iter().map(|s| s.v_max_pu)).fold(cfg.day.v_max_pu, f64::max);
    // Ticks every 0.02 pu.
    let (v_lo, v_hi) = (((v_lo - 0.005) / 0.02).floor() * 0.02, ((v_hi + 0.005) / 0.02).ceil() * 0.02);
    let mut bottom = Panel::new(70.0, 320.0, 700.0, 200.0, (0.0, hours), (v_lo, v_hi));
    let v_ticks = (((v_hi - v_lo) / 0.02).round() as usize).max(1);
    bottom.axes("Highest (solid) and lowest (dashed) bus voltage", "hour of day", "pu", &svg::ticks(0.0, hours, 8), &svg::ticks(v_lo, v_hi, v_ticks));
    bottom.polyline(&[(0.0, cfg.day.v_max_pu), (hours, cfg.day.v_max_pu)], "#000", 1.0, true);
    bottom.polyline(&[(0.0, cfg.day.v_min_pu), (hours, cfg.day.v_min_pu)], "#000", 1.0, true);
    let mut legend = String::new();
    for (i, d) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = d.steps.iter().map(|s| (s.hour + step_h / 2.0, s.delivered_kwh / step_h)).collect();
        top.polyline(&pts, color, 1.5, false);
        for s in d.steps.iter().filter(|s| s.infeasible_kwh > 0.0) {
            top.dot(s.hour + step_h / 2.0, s.infeasible_kwh / step_h, color, 2.5);
        }
        bottom.polyline(&d.steps.iter().map(|s| (s.hour + step_h / 2.0, s.v_max_pu)).collect::<Vec<_>>(), color, 1.2, false);
        bottom.polyline(&d.steps.iter().map(|s| (s.hour + step_h / 2.0, s.v_min_pu)).collect::<Vec<_>>(), color, 1.2, true);
        let (c, _) = day_numbers(d);
        legend.push_str(&format!(
            "<text x=\"790\" y=\"{:.0}\" font-size=\"11\" font-family=\"sans-serif\" fill=\"{color}\">{}: {} of {} infeasible</text>\n",
            60.0 + 16.0 * i as f64,
            d.matching.label(),
            c.infeasible,
            c.trades
        ));
    }
    legend.push_str("<text x=\"790\" y=\"44\" font-size=\"11\" font-family=\"sans-serif\">matching: trade-steps</text>\n");
    svg::document(1060.0, 570.0, &[top, bottom], &legend)
}

/// Whether a TOML text is a UC2 scenario (top-level `scenario = "uc2"`).
pub fn is_uc2_toml(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("").trim();
        l.starts_with("scenario") && l.contains('=') && l.split('=').nth(1).is_some_and(|v| v.trim().trim_matches('"') == "uc2")
    })
}

/// `ogg run uc2` in one call: reads the scenario (`None`: the built-in one),
/// runs both parts and writes everything into `out`.
pub fn run_scenario(toml_path: Option<&Path>, out: &Path) -> Result<(Uc2Results, Vec<PathBuf>), P2pError> {
    let (cfg, base) = match toml_path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| P2pError::Input(format!("{}: {e}", p.display())))?;
            (Uc2Config::from_toml(&text, &p.display().to_string())?, p.parent().map(Path::to_path_buf))
        }
        None => (Uc2Config::built_in(), None),
    };
    let res = run(&cfg, base.as_deref())?;
    let files = write_outputs(&cfg, &res, out)?;
    Ok((res, files))
}
