//! [`MarketEnv`]: one learning environment — a scenario's `ogg_core::Environment`
//! whose learning agents act on arrays, with observations and rewards as arrays.
//!
//! # Steps
//! * `step_unit = "grid"`: one step runs `Environment::step` (Algorithm 1: the
//!   market's rounds, then the grid's power flow) with the learners' actions.
//! * `step_unit = "round"`: one step is one market round (`market.reset`
//!   before the first round of a grid step; every agent's
//!   `set_market_actions`, `market.step`, every agent's `observe_market`); after the round that clears the
//!   market (or the round limit), the same step also runs the grid phase
//!   (every agent's `set_grid_actions`, `grid.step`). This drives the modules
//!   through `Environment::parts` in Algorithm 1's order; the core's recorder
//!   is not used in this mode.
//!
//! An episode is `episode_steps` grid steps; after the last one every learner
//! is *terminated* (the day is over). A power flow that fails to converge
//! ends the episode early as *truncated* (`last_error` says why).
//!
//! # Observations (one row of `obs_dim` f32 per learner, all within [`MarketEnv::obs_bounds`])
//! | index | name | meaning |
//! | --- | --- | --- |
//! | 0 | `price` | own settlement price of the last clearing / `PRICE_SCALE` ¢/kWh |
//! | 1 | `quantity` | own dispatch (+ bought, − sold) / capacity (producers) or demand (consumers) |
//! | 2 | `bus_price` | nodal price at own bus / `PRICE_SCALE` |
//! | 3 | `head_price` | nodal price at the feeder head / `PRICE_SCALE` |
//! | 4 | `last_action` | own last action scaled to [0, 1] |
//! | 5 | `demand_level` | demand multiplier of the coming grid step (the profile, known in advance) |
//! | 6 | `progress` | grid steps done / episode_steps |
//! | 7, 8 | `hour_sin`, `hour_cos` | time of day of the coming grid step |
//! | 9 | `round` | market round of the coming step / rounds per grid step (0 in grid mode) |
//! | 10 | `voltage` | (own bus voltage − 1 pu) × 10 after the last power flow (0 without a grid bus) |
//! | 11… | `congested:FROM-TO` | 1 if that limited line was congested in the last clearing, one per limited line |
//!
//! Rewards: the learner's own reward (`Agent::reward`: p·q − c(q) for a
//! producer, u(q) − p·q for a consumer, −p·q for other agents, 0 for loads)
//! × `reward_scale`, minus `voltage_penalty` × Σ_bus max(0, |V − 1| − 0.05).

use std::path::{Path, PathBuf};

use ogg_core::rng::{derive_seed, SplitMix64};
use ogg_core::{Agent, DoNothingGrid, Environment, Grid, Market, View};
use ogg_grid::DistributionGrid;
use ogg_market::agents::{Consumer, OfferStrategy, Producer};
use ogg_dlmp::uc3::{is_uc3_toml, Uc3Config};
use ogg_market::uc1::{is_uc1_toml, load_feeder, random_flexible, Uc1Config};
use ogg_market::{AuctionMarket, ClearOptions, LimitOverride, RadialNetwork, Settlement};

use crate::fast_grid::RlFeederGrid;
use crate::learner::LearningAgent;
use crate::spec::{ActionKind, EnvSpec, StepUnit, DAILY_PROFILE};

/// Prices in observations are divided by this (¢/kWh).
pub const PRICE_SCALE: f64 = 10.0;
/// Fixed observation features before the congestion flags.
pub const BASE_OBS: [&str; 11] = [
    "price",
    "quantity",
    "bus_price",
    "head_price",
    "last_action",
    "demand_level",
    "progress",
    "hour_sin",
    "hour_cos",
    "round",
    "voltage",
];

/// Why an environment could not be built or stepped.
pub type EnvError = String;

/// What the auction market lets learners see.
#[derive(Debug, Clone)]
struct AuctionInfo {
    root: usize,
    /// Edges with a finite limit (congestion flags), and their labels.
    limited: Vec<usize>,
    labels: Vec<String>,
    /// Bus index in the market network of each learner.
    learner_bus: Vec<Option<usize>>,
}

/// Per-learner numbers of the last step, besides observations and rewards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LearnerInfo {
    pub price: f64,
    pub quantity_kw: f64,
    pub bus_price: f64,
    /// The markup the last action stood for (0 for curves and loads).
    pub markup: f64,
    /// The reward before scaling (¢ for UC1).
    pub raw_reward: f64,
}

/// One learning environment (see the module docs).
pub struct MarketEnv {
    env: Environment,
    unit: StepUnit,
    kind: ActionKind,
    learners: Vec<usize>,
    learner_names: Vec<String>,
    /// (agent index, nominal demand kW) of every market consumer, learners included.
    consumers: Vec<(usize, f64)>,
    profile: Vec<f64>,
    noise: f64,
    rng: SplitMix64,
    episode_steps: usize,
    step_s: f64,
    auction: Option<AuctionInfo>,
    /// Index of each learner's bus in the grid state's bus list.
    grid_bus: Vec<Option<usize>>,
    reward_scale: f64,
    voltage_penalty: f64,
    /// Grid steps done in this episode, and market rounds done in the current grid step.
    t: usize,
    round: usize,
    done: bool,
    last_error: Option<String>,
    rewards: Vec<f64>,
    scenario_label: String,
}

impl Clone for MarketEnv {
    /// A deep copy (the core environment via `Environment::snapshot`) that
    /// continues exactly as this one would.
    fn clone(&self) -> Self {
        MarketEnv {
            env: self.env.snapshot(),
            unit: self.unit,
            kind: self.kind.clone(),
            learners: self.learners.clone(),
            learner_names: self.learner_names.clone(),
            consumers: self.consumers.clone(),
            profile: self.profile.clone(),
            noise: self.noise,
            rng: self.rng.clone(),
            episode_steps: self.episode_steps,
            step_s: self.step_s,
            auction: self.auction.clone(),
            grid_bus: self.grid_bus.clone(),
            reward_scale: self.reward_scale,
            voltage_penalty: self.voltage_penalty,
            t: self.t,
            round: self.round,
            done: self.done,
            last_error: self.last_error.clone(),
            rewards: self.rewards.clone(),
            scenario_label: self.scenario_label.clone(),
        }
    }
}

impl MarketEnv {
    /// Builds the environment a spec describes.
    pub fn new(spec: &EnvSpec) -> Result<Self, EnvError> {
        spec.check()?;
        let path = Path::new(&spec.scenario);
        if spec.scenario == "uc1" {
            return Self::uc1(spec, Uc1Config::built_in(), None);
        }
        if spec.scenario == "uc2" {
            return Self::uc2(spec, ogg_p2p::uc2::Uc2Config::built_in(), None);
        }
        if spec.scenario == "uc3" {
            return Self::uc3(spec, Uc3Config::built_in(), None);
        }
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            if is_uc1_toml(&text) {
                let cfg = Uc1Config::from_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
                return Self::uc1(spec, cfg, path.parent().map(Path::to_path_buf));
            }
            if ogg_p2p::uc2::is_uc2_toml(&text) {
                let cfg = ogg_p2p::uc2::Uc2Config::from_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
                return Self::uc2(spec, cfg, path.parent().map(Path::to_path_buf));
            }
            if is_uc3_toml(&text) {
                let cfg = Uc3Config::from_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
                return Self::uc3(spec, cfg, path.parent().map(Path::to_path_buf));
            }
        }
        Self::generic(spec)
    }

    /// From a spec in JSON (what the Python front sends).
    pub fn from_json(json: &str) -> Result<Self, EnvError> {
        Self::new(&EnvSpec::from_json(json)?)
    }

    fn uc1(spec: &EnvSpec, cfg: Uc1Config, base: Option<PathBuf>) -> Result<Self, EnvError> {
        let feeder = load_feeder(&cfg.feeder, base.as_deref()).map_err(|e| e.to_string())?;
        let settlement: Settlement = spec.settlement.as_deref().unwrap_or(&cfg.settlement).parse()?;
        let limits: Vec<LimitOverride> =
            cfg.limits.iter().map(|l| LimitOverride::between(&l.from, &l.to, l.kw)).collect();
        let mut network = feeder.network.clone();
        for l in &limits {
            l.apply(&mut network).map_err(|e| e.to_string())?;
        }
        let market = AuctionMarket::new(ClearOptions { settlement, ..Default::default() })
            .with_network(feeder.network.clone())
            .with_limits(limits)
            .with_rounds(spec.rounds_per_step);
        let step_s = 3600.0;
        let feeder_grid = || DistributionGrid::new(&feeder.circuit, step_s).map_err(|e| format!("AC power flow of the feeder: {e}"));
        let grid: Box<dyn Grid> = match spec.grid.as_str() {
            "ac" => Box::new(RlFeederGrid::from_distribution_grid(&feeder_grid()?)),
            "ac-full" => Box::new(feeder_grid()?),
            _ => Box::new(DoNothingGrid::new(step_s)),
        };
        let cap = cfg.consumers.producer_capacity_kw;
        let others = match spec.others.as_str() {
            "scripted" => OfferStrategy::ScriptedMarkup { step: cfg.strategy.markup_step, max: cfg.strategy.markup_max },
            "hill-climb" | "hill_climb" => {
                OfferStrategy::HillClimb { step: cfg.strategy.markup_step, max: cfg.strategy.markup_max }
            }
            _ => OfferStrategy::Truthful,
        };
        let mut agents: Vec<Box<dyn Agent>> = vec![Box::new(Producer::flat("head", &cfg.head.bus, cap, cfg.head.price))];
        for p in &cfg.producers {
            agents.push(Box::new(Producer::new(&p.name, &p.bus, cap, p.cost_min, p.cost_max, others)));
        }
        let elastic = random_flexible(feeder.loads.len(), spec.elastic_share, spec.elastic_seed);
        for (i, l) in feeder.loads.iter().enumerate() {
            let c = if elastic[i] { cfg.consumers.elastic } else { cfg.consumers.inelastic };
            let demand = l.kw * cfg.consumers.demand_scale;
            agents.push(Box::new(
                Consumer::new(&format!("c{}", l.bus), &l.bus, demand, c.flexibility, c.v_max, c.v_min)
                    .with_loads(l.loads.clone(), l.kw),
            ));
        }
        let learners = spec.learners.clone().unwrap_or_else(|| cfg.producers.iter().map(|p| p.name.clone()).collect());
        let price_max = 4.0 * cfg.producers.iter().map(|p| p.cost_max).fold(cfg.head.price, f64::max);
        let kind = spec.action_kind(price_max, cap)?;
        let env = Environment::new(grid, Box::new(market), agents)
            .with_max_market_rounds(spec.rounds_per_step)
            .with_recording(spec.record);
        let profile = spec.demand_profile.clone().unwrap_or_else(|| DAILY_PROFILE.to_vec());
        let episode_steps = spec.episode_steps.unwrap_or(24);
        let label = format!("UC1 '{}' on {}", cfg.name, cfg.feeder);
        // Congestion flags for the scenario's own line limits (the bottlenecks);
        // the feeder's ratings are far above the load.
        let flagged: Vec<usize> = cfg.limits.iter().filter_map(|l| network.edge_between(&l.from, &l.to)).collect();
        Self::assemble(spec, env, kind, &learners, profile, episode_steps, step_s, Some((network, flagged)), label)
    }

    /// Use case 3: the DLMP market (the DSO's OPF) on IEEE 37 over a day; the
    /// learners (default: the producers and demand-response providers) state
    /// their true cost × (1 + markup); the others are truthful, or follow the
    /// scenario's scripted markups with `others = "scripted"`.
    fn uc3(spec: &EnvSpec, cfg: Uc3Config, base: Option<PathBuf>) -> Result<Self, EnvError> {
        use ogg_dlmp::uc3::{build_agents, load_feeder as load_uc3_feeder, Experiment};
        let feeder = load_uc3_feeder(&cfg, base.as_deref()).map_err(|e| e.to_string())?;
        let options = ogg_dlmp::OpfOptions {
            formulation: cfg.formulation().map_err(|e| e.to_string())?,
            lmp_source: cfg.lmp[0],
            export_price: cfg.export_price,
            v_source_pu: cfg.v_source_pu,
            v_min_pu: cfg.v_min_pu,
            v_max_pu: cfg.v_max_pu,
            v_exempt: cfg.v_exempt.clone(),
            loss_iterations: cfg.loss_iterations,
            ..Default::default()
        };
        let market = ogg_dlmp::DlmpMarket::new(feeder.network.clone(), options).with_lmp_series(cfg.lmp.clone());
        let experiment = if spec.others == "scripted" { Experiment::Scripted } else { Experiment::Truthful };
        let agents = build_agents(&cfg, &feeder, experiment).map_err(|e| e.to_string())?;
        let step_s = 3600.0 * cfg.interval_hours;
        let grid: Box<dyn Grid> = match spec.grid.as_str() {
            "ac" => Box::new(RlFeederGrid::from_distribution_grid(&feeder.grid)),
            "ac-full" => Box::new(feeder.grid.clone()),
            _ => Box::new(DoNothingGrid::new(step_s)),
        };
        let learners = spec.learners.clone().unwrap_or_else(|| {
            agents
                .iter()
                .filter_map(|a| a.as_any().downcast_ref::<ogg_dlmp::agents::Participant>())
                .filter(|p| p.kind() != "consumer")
                .map(|p| p.name.clone())
                .collect()
        });
        let kind = spec.action_kind(1.0, 1.0)?;
        let env = Environment::new(grid, Box::new(market), agents).with_max_market_rounds(1).with_recording(spec.record);
        let profile = spec.demand_profile.clone().unwrap_or_else(|| cfg.load_profile.clone());
        let profile = if profile.is_empty() { vec![1.0] } else { profile };
        let episode_steps = spec.episode_steps.unwrap_or(cfg.day_len());
        let label = format!("UC3 '{}' on {}", cfg.name, cfg.feeder);
        Self::assemble(spec, env, kind, &learners, profile, episode_steps, step_s, None, label)
    }

    /// Use case 2: the P2P market on IEEE 34 — one PV home per load bus;
    /// every `market_interval` grid steps the market maker matches producers
    /// with consumers and each pair bargains over T rounds. Learners (default:
    /// every home) choose their bid level (Discrete over the game's bid
    /// prices); the others bid by their learned quantal-response policies.
    fn uc2(spec: &EnvSpec, cfg: ogg_p2p::uc2::Uc2Config, base: Option<PathBuf>) -> Result<Self, EnvError> {
        use ogg_p2p::agents::Prosumer;
        use ogg_p2p::market::{P2pConfig, P2pMarket};
        use ogg_p2p::qr::{fixed_point, QuantalResponse};
        let e = |x: ogg_p2p::error::P2pError| x.to_string();
        let setup = ogg_p2p::uc2::day_setup(&cfg, base.as_deref()).map_err(e)?;
        let game = cfg.game().map_err(e)?;
        let lambda = cfg.day.lambdas.first().copied().unwrap_or(1.0);
        let qr = std::sync::Arc::new(QuantalResponse::new(game.clone(), lambda, cfg.day_dynamics().map_err(e)?).map_err(e)?);
        let start = fixed_point(&qr, 0.5, 1e-12, 1_000_000);
        let estimator = cfg.estimator().map_err(e)?;
        let mut agents: Vec<Box<dyn Agent>> = Vec::new();
        let mut scales = Vec::new();
        for h in &setup.homes {
            let p = Prosumer::home(&h.name, &h.bus, h.loads.clone(), h.profiles.clone(), h.store, qr.clone(), estimator, cfg.learning.step)
                .and_then(|p| p.with_policies(&start.producer, &start.consumer))
                .map_err(e)?;
            scales.push((h.name.clone(), h.load_peak_kw * setup.step_h));
            agents.push(Box::new(p));
        }
        let matching = cfg.matchings().map_err(e)?.first().copied().unwrap_or(ogg_p2p::market::Matching::Random);
        let rounds = cfg.learning.rounds;
        let market = P2pMarket::new(P2pConfig { game: game.clone(), rounds, interval: cfg.day.market_interval, matching })
            .map_err(e)?
            .with_distances(setup.distances.clone());
        let step_s = setup.step_h * 3600.0;
        let grid: Box<dyn Grid> = match spec.grid.as_str() {
            "ac" => Box::new(RlFeederGrid::from_distribution_grid(&setup.grid)),
            "ac-full" => Box::new(setup.grid.clone()),
            _ => Box::new(DoNothingGrid::new(step_s)),
        };
        let learners = spec.learners.clone().unwrap_or_else(|| setup.homes.iter().map(|h| h.name.clone()).collect());
        let mut spec = spec.clone();
        if spec.action == "markup" {
            spec.action = "markup_index".into();
        }
        if spec.action != "markup_index" {
            return Err(format!("use case 2: P2P prosumers bid a price level: action = \"markup_index\" (got {:?})", spec.action));
        }
        spec.markup_levels = Some(game.actions.clone());
        let kind = spec.action_kind(1.0, 1.0)?;
        let env = Environment::new(grid, Box::new(market), agents).with_max_market_rounds(rounds + 1).with_recording(spec.record);
        let profile = spec.demand_profile.clone().unwrap_or_else(|| vec![1.0]);
        let episode_steps = spec.episode_steps.unwrap_or(cfg.day.steps);
        let label = format!("UC2 '{}' on {}", cfg.name, cfg.day.feeder);
        let mut env = Self::assemble(&spec, env, kind, &learners, profile, episode_steps, step_s, None, label)?;
        // Quantities in observations: per home, its peak load over one step (kWh).
        for &i in &env.learners.clone() {
            let name = env.env.agents()[i].name().to_string();
            let scale = scales.iter().find(|(n, _)| *n == name).map_or(1.0, |s| s.1);
            if let Some(l) = env.env.agents_mut()[i].as_any_mut().downcast_mut::<LearningAgent>() {
                if let crate::learner::Role::P2p { scale: s, .. } = &mut l.role {
                    *s = scale;
                }
            }
        }
        Ok(env)
    }

    fn generic(spec: &EnvSpec) -> Result<Self, EnvError> {
        let scenario = opengridgym::Scenario::load(&spec.scenario).map_err(|e| e.to_string())?;
        let mut env = scenario.build().map_err(|e| e.to_string())?;
        env.set_recording(spec.record);
        let learners =
            spec.learners.clone().unwrap_or_else(|| env.agents().iter().map(|a| a.name().to_string()).collect());
        // With no action given, loads learn their multiplier and other agents a curve.
        let mut spec = spec.clone();
        let all_loads = learners.iter().all(|n| {
            env.agent(n).is_some_and(|a| a.as_any().downcast_ref::<ogg_core::ScriptedLoadAgent>().is_some())
        });
        if spec.action == "markup" && all_loads && !learners.is_empty() {
            spec.action = "load".into();
        }
        let kind = spec.action_kind(100.0, 1000.0)?;
        let profile = spec.demand_profile.clone().unwrap_or_else(|| vec![1.0]);
        let episode_steps = spec.episode_steps.unwrap_or(scenario.steps.max(1));
        let label = format!("scenario '{}'", scenario.name);
        Self::assemble(&spec, env, kind, &learners, profile, episode_steps, scenario.step_s, None, label)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        spec: &EnvSpec,
        mut env: Environment,
        kind: ActionKind,
        learner_names: &[String],
        profile: Vec<f64>,
        episode_steps: usize,
        step_s: f64,
        network: Option<(RadialNetwork, Vec<usize>)>,
        scenario_label: String,
    ) -> Result<Self, EnvError> {
        if learner_names.is_empty() {
            return Err(format!("{scenario_label}: no learning agents (give `learners`)"));
        }
        let mut learners = Vec::new();
        for name in learner_names {
            let Some(index) = env.agents().iter().position(|a| a.name() == name) else {
                let known: Vec<&str> = env.agents().iter().map(|a| a.name()).collect();
                let preview = if known.len() > 12 { format!("{}, …", known[..12].join(", ")) } else { known.join(", ") };
                return Err(format!("{scenario_label}: no agent named '{name}' (agents: {preview})"));
            };
            if learners.contains(&index) {
                return Err(format!("{scenario_label}: agent '{name}' is listed twice in `learners`"));
            }
            let learner = LearningAgent::replacing(env.agents()[index].as_ref(), kind.clone())?;
            env.agents_mut()[index] = Box::new(learner);
            learners.push(index);
        }
        let consumers = env
            .agents()
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                if let Some(c) = a.as_any().downcast_ref::<Consumer>() {
                    return Some((i, c.demand_kw));
                }
                match &a.as_any().downcast_ref::<LearningAgent>()?.role {
                    crate::learner::Role::Consumer(c) => Some((i, c.demand_kw)),
                    _ => None,
                }
            })
            .collect();
        let auction = network.map(|(net, flagged)| {
            let limited: Vec<usize> = if flagged.is_empty() {
                net.edges().filter(|&e| net.limit_kw[e].is_finite()).collect()
            } else {
                flagged
            };
            let labels = limited.iter().map(|&e| format!("{}-{}", net.buses[net.parent[e]], net.buses[e])).collect();
            let learner_bus = learners.iter().map(|&i| env.agents()[i].bus().and_then(|b| net.bus_index(b))).collect();
            AuctionInfo { root: net.root, limited, labels, learner_bus }
        });
        let buses = &env.grid().state().buses;
        let grid_bus = learners
            .iter()
            .map(|&i| {
                let bus = env.agents()[i].bus()?;
                let bus = bus.split('.').next().unwrap_or(bus);
                buses.iter().position(|b| b.eq_ignore_ascii_case(bus))
            })
            .collect();
        let n = learners.len();
        Ok(MarketEnv {
            env,
            unit: spec.step_unit()?,
            kind,
            learners,
            learner_names: learner_names.to_vec(),
            consumers,
            profile,
            noise: spec.demand_noise,
            rng: SplitMix64::new(0),
            episode_steps,
            step_s,
            auction,
            grid_bus,
            reward_scale: spec.reward_scale,
            voltage_penalty: spec.voltage_penalty,
            t: 0,
            round: 0,
            done: false,
            last_error: None,
            rewards: vec![0.0; n],
            scenario_label,
        })
    }

    // ---- shapes and spaces -------------------------------------------------

    pub fn n_learners(&self) -> usize {
        self.learners.len()
    }
    pub fn learner_names(&self) -> &[String] {
        &self.learner_names
    }
    pub fn learner_kinds(&self) -> Vec<&'static str> {
        self.learners.iter().map(|&i| self.learner(i).role.kind()).collect()
    }
    pub fn obs_dim(&self) -> usize {
        BASE_OBS.len() + self.auction.as_ref().map_or(0, |a| a.limited.len())
    }
    pub fn obs_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BASE_OBS.iter().map(|s| s.to_string()).collect();
        if let Some(a) = &self.auction {
            names.extend(a.labels.iter().map(|l| format!("congested:{l}")));
        }
        names
    }
    /// Lower and upper bounds of every observation feature.
    pub fn obs_bounds(&self) -> (Vec<f32>, Vec<f32>) {
        let mut low = vec![-10.0, -2.0, -10.0, -10.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0, -1.0];
        let mut high = vec![10.0, 2.0, 10.0, 10.0, 1.0, 10.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let n = self.obs_dim();
        low.resize(n, 0.0);
        high.resize(n, 1.0);
        (low, high)
    }
    pub fn action_kind(&self) -> &ActionKind {
        &self.kind
    }
    pub fn act_dim(&self) -> usize {
        self.kind.dim()
    }
    pub fn step_unit(&self) -> StepUnit {
        self.unit
    }
    pub fn episode_steps(&self) -> usize {
        self.episode_steps
    }
    /// Market rounds per grid step at most.
    pub fn max_rounds(&self) -> usize {
        self.env.max_market_rounds()
    }
    /// RL steps per episode when the market clears after a fixed number of rounds.
    pub fn max_episode_len(&self) -> usize {
        match self.unit {
            StepUnit::GridStep => self.episode_steps,
            StepUnit::MarketRound => self.episode_steps * self.max_rounds().max(1),
        }
    }
    pub fn scenario_label(&self) -> &str {
        &self.scenario_label
    }
    /// Grid steps done in this episode.
    pub fn grid_steps_done(&self) -> usize {
        self.t
    }
    pub fn is_done(&self) -> bool {
        self.done
    }
    /// Why the episode was truncated, if a power flow failed.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// The core environment (e.g. to read the grid or the recorder).
    pub fn core(&self) -> &Environment {
        &self.env
    }
    pub fn core_mut(&mut self) -> &mut Environment {
        &mut self.env
    }
    /// The rewards of the last step (scaled), per learner.
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }

    fn learner(&self, index: usize) -> &LearningAgent {
        self.env.agents()[index].as_any().downcast_ref::<LearningAgent>().expect("learners stay learners")
    }

    // ---- reset and step ----------------------------------------------------

    /// Starts an episode. `Some(seed)` seeds every module and this
    /// environment's demand noise (same seed, same episode); `None` continues
    /// the random streams. Writes the first observation into `obs` (n_learners × obs_dim).
    pub fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        if let Some(s) = seed {
            // Index 1_000_000: a stream of its own, apart from the modules' (see ogg_core::rng).
            self.rng = SplitMix64::new(derive_seed(s, 1_000_000));
        }
        self.env.reset(seed).map_err(|e| e.to_string())?;
        self.t = 0;
        self.round = 0;
        self.done = false;
        self.last_error = None;
        self.rewards.iter_mut().for_each(|r| *r = 0.0);
        self.write_obs(obs)
    }

    /// One step with `actions` (n_learners × act_dim); writes the next
    /// observation into `obs` and the rewards into `rewards`. Returns
    /// (terminated, truncated). Stepping a finished episode is an error.
    pub fn step(&mut self, actions: &[f64], obs: &mut [f32], rewards: &mut [f64]) -> Result<(bool, bool), EnvError> {
        if self.done {
            return Err("the episode is over: call reset".into());
        }
        let a = self.act_dim();
        if actions.len() != self.learners.len() * a {
            return Err(format!("expected {} action values ({} learners × {a}), got {}", self.learners.len() * a, self.learners.len(), actions.len()));
        }
        for (k, &i) in self.learners.iter().enumerate() {
            let learner =
                self.env.agents_mut()[i].as_any_mut().downcast_mut::<LearningAgent>().expect("learners stay learners");
            learner.set_action(&actions[k * a..(k + 1) * a])?;
        }
        let outcome = match self.unit {
            StepUnit::GridStep => {
                self.apply_demand();
                self.env.step().map(|_| true)
            }
            StepUnit::MarketRound => self.step_round(),
        };
        let mut truncated = false;
        let grid_stepped = match outcome {
            Ok(stepped) => stepped,
            Err(e) if matches!(e.failed_module(), Some(ogg_core::error::Module::Grid { .. })) => {
                self.last_error = Some(e.to_string());
                truncated = true;
                false
            }
            Err(e) => return Err(e.to_string()),
        };
        if grid_stepped {
            self.t += 1;
        }
        let penalty = if grid_stepped && self.voltage_penalty > 0.0 { self.voltage_violation() * self.voltage_penalty } else { 0.0 };
        for (k, &i) in self.learners.iter().enumerate() {
            let r = if truncated { 0.0 } else { self.env.agents()[i].reward() * self.reward_scale - penalty };
            self.rewards[k] = r;
        }
        rewards.copy_from_slice(&self.rewards);
        let terminated = !truncated && self.t >= self.episode_steps;
        self.done = terminated || truncated;
        self.write_obs(obs)?;
        Ok((terminated, truncated))
    }

    /// One market round; the grid phase too after the last round. Returns
    /// whether the grid stepped.
    fn step_round(&mut self) -> ogg_core::Result<bool> {
        let (t, round, max_rounds) = (self.t, self.round, self.env.max_market_rounds());
        if round == 0 {
            self.apply_demand();
        }
        let parts = self.env.parts();
        let (grid, market, agents) = (parts.grid, parts.market, parts.agents);
        let err = |module, call, round: Option<usize>, e| ogg_core::Error::Step {
            module,
            call,
            grid_step: t,
            market_round: round,
            source: Box::new(e),
        };
        use ogg_core::error::Module;
        if round == 0 {
            let view = view_of(Some(&*grid), None, agents, None, t, 0);
            let result = market.reset(&view);
            result.map_err(|e| err(Module::Market { name: market.name().to_string() }, "reset", None, e))?;
        }
        for_each_agent(&*grid, &*market, agents, t, round, |a, v| a.set_market_actions(v))
            .map_err(|(i, name, e)| err(Module::Agent { index: i, name }, "set_market_actions", Some(round), e))?;
        {
            let view = view_of(Some(&*grid), None, agents, None, t, round);
            let result = market.step(&view);
            result.map_err(|e| err(Module::Market { name: market.name().to_string() }, "step", Some(round), e))?;
        }
        for_each_agent(&*grid, &*market, agents, t, round, |a, v| a.observe_market(v))
            .map_err(|(i, name, e)| err(Module::Agent { index: i, name }, "observe_market", Some(round), e))?;
        self.round += 1;
        if !(market.cleared() || self.round >= max_rounds) {
            return Ok(false);
        }
        let rounds = self.round;
        self.round = 0;
        for_each_agent(&*grid, &*market, agents, t, rounds, |a, v| a.set_grid_actions(v))
            .map_err(|(i, name, e)| err(Module::Agent { index: i, name }, "set_grid_actions", None, e))?;
        let view = view_of(None, Some(&*market), agents, None, t, rounds);
        let result = grid.step(&view);
        result.map_err(|e| err(Module::Grid { name: grid.name().to_string() }, "step", None, e))?;
        Ok(true)
    }

    /// Sets every consumer's demand for grid step `t`: nominal × profile × noise.
    fn apply_demand(&mut self) {
        let level = self.profile[self.t % self.profile.len()];
        let noise = self.noise;
        for k in 0..self.consumers.len() {
            let (i, nominal) = self.consumers[k];
            let factor = if noise > 0.0 { 1.0 + noise * self.rng.next_symmetric() } else { 1.0 };
            let kw = nominal * level * factor;
            let agent = &mut self.env.agents_mut()[i];
            if let Some(c) = agent.as_any_mut().downcast_mut::<Consumer>() {
                c.demand_kw = kw;
            } else if let Some(l) = agent.as_any_mut().downcast_mut::<LearningAgent>() {
                l.set_demand(kw);
            }
        }
    }

    fn voltage_violation(&self) -> f64 {
        self.env
            .grid()
            .state()
            .bus_voltage_pu
            .iter()
            .filter(|v| v.is_finite() && **v > 0.0)
            .map(|v| ((v - 1.0).abs() - 0.05).max(0.0))
            .sum()
    }

    /// Per-learner numbers of the last step.
    pub fn learner_info(&self) -> Vec<LearnerInfo> {
        let clearing = self.clearing();
        self.learners
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let l = self.learner(i);
                let d = l.last_dispatch().unwrap_or_default();
                let bus_price = match (&clearing, &self.auction) {
                    (Some(c), Some(a)) => a.learner_bus[k].map_or(0.0, |b| c.bus_price[b]),
                    _ => d.price,
                };
                LearnerInfo { price: d.price, quantity_kw: d.quantity, bus_price, markup: l.markup(), raw_reward: l.reward() }
            })
            .collect()
    }

    fn clearing(&self) -> Option<&ogg_market::Clearing> {
        let m = self.env.market().as_any().downcast_ref::<AuctionMarket>()?;
        let (c, _, _) = m.last_clearing()?;
        c.is_cleared().then_some(c)
    }

    /// Writes every learner's observation row (see the module docs).
    pub fn write_obs(&self, obs: &mut [f32]) -> Result<(), EnvError> {
        let d = self.obs_dim();
        if obs.len() != self.learners.len() * d {
            return Err(format!("observation buffer holds {} values, expected {}", obs.len(), self.learners.len() * d));
        }
        let (low, high) = self.obs_bounds();
        let clearing = if self.t == 0 && self.round == 0 { None } else { self.clearing() };
        let level = self.profile[self.t % self.profile.len()];
        let hour = (self.t as f64 * self.step_s / 3600.0) % 24.0;
        let angle = 2.0 * std::f64::consts::PI * hour / 24.0;
        let max_rounds = self.env.max_market_rounds().max(1) as f64;
        let voltages = &self.env.grid().state().bus_voltage_pu;
        for (k, &i) in self.learners.iter().enumerate() {
            let l = self.learner(i);
            let row = &mut obs[k * d..(k + 1) * d];
            let dispatch = if clearing.is_some() || self.auction.is_none() { l.last_dispatch() } else { None };
            let dispatch = dispatch.unwrap_or_default();
            let (bus_price, head_price) = match (&clearing, &self.auction) {
                (Some(c), Some(a)) => (a.learner_bus[k].map_or(0.0, |b| c.bus_price[b]), c.bus_price[a.root]),
                _ => (0.0, 0.0),
            };
            let voltage = self.grid_bus[k].and_then(|b| voltages.get(b)).map_or(0.0, |v| if v.is_finite() && *v > 0.0 { (v - 1.0) * 10.0 } else { 0.0 });
            let values = [
                dispatch.price / PRICE_SCALE,
                dispatch.quantity / l.role.quantity_scale(),
                bus_price / PRICE_SCALE,
                head_price / PRICE_SCALE,
                l.action_fraction(),
                level,
                self.t as f64 / self.episode_steps as f64,
                angle.sin(),
                angle.cos(),
                if self.unit == StepUnit::MarketRound { self.round as f64 / max_rounds } else { 0.0 },
                voltage,
            ];
            for (j, v) in values.iter().enumerate() {
                row[j] = v.clamp(low[j] as f64, high[j] as f64) as f32;
            }
            if let Some(a) = &self.auction {
                let net = self.env.market().as_any().downcast_ref::<AuctionMarket>().and_then(|m| m.network());
                for (j, &e) in a.limited.iter().enumerate() {
                    let flag = match (&clearing, net) {
                        (Some(c), Some(net)) => c.congested(net, e),
                        _ => false,
                    };
                    row[BASE_OBS.len() + j] = if flag { 1.0 } else { 0.0 };
                }
            }
        }
        Ok(())
    }
}

/// A view of everything but the caller.
fn view_of<'a>(
    grid: Option<&'a dyn Grid>,
    market: Option<&'a dyn Market>,
    agents: &'a [Box<dyn Agent>],
    caller: Option<usize>,
    grid_step: usize,
    market_round: usize,
) -> View<'a> {
    View { grid, market, agents_before: agents, agents_after: &[], caller, grid_step, market_round }
}

/// Calls `call` on every agent in order with a view that excludes it (as the core loop does).
fn for_each_agent(
    grid: &dyn Grid,
    market: &dyn Market,
    agents: &mut [Box<dyn Agent>],
    grid_step: usize,
    market_round: usize,
    mut call: impl FnMut(&mut dyn Agent, &View) -> ogg_core::Result<()>,
) -> Result<(), (usize, String, ogg_core::Error)> {
    for i in 0..agents.len() {
        let (before, rest) = agents.split_at_mut(i);
        let Some((agent, after)) = rest.split_first_mut() else { break };
        let view = View {
            grid: Some(grid),
            market: Some(market),
            agents_before: before,
            agents_after: after,
            caller: Some(i),
            grid_step,
            market_round,
        };
        call(agent.as_mut(), &view).map_err(|e| (i, agent.name().to_string(), e))?;
    }
    Ok(())
}
