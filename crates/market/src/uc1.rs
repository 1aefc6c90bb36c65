//! Use case 1 of the paper, "topology-induced market power", on IEEE 34.
//!
//! 28 consumers (one per load bus, demand = that bus's nominal kW), five
//! producers of equal capacity: one at the feeder head with a flat offer at
//! the wholesale price, four price-responsive ones along the feeder. Four
//! experiments (see [`run`]):
//! 1. truthful offers, inelastic demand;
//! 2. the four producers raise their offers over market rounds (scripted
//!    markup, or hill climbing on their reward), demand inelastic;
//! 3. as 2, every consumer elastic;
//! 4. as 2, a random subset of consumers elastic: the paper's 8 % and 75 %,
//!    and a sweep of the flexible share over [0, 1] with several seeds.
//!
//! Everything is set in a TOML file (`scenarios/uc1.toml`, see [`Uc1Config`]).
//! Each experiment runs in the core `Environment` (do-nothing grid, the
//! [`AuctionMarket`] on the feeder's tree) for `rounds` market rounds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use ogg_core::{Agent, DoNothingGrid, Environment, Event, Grid, Market};
use ogg_grid::DistributionGrid;

use crate::agents::{Consumer, OfferStrategy, Producer};
use crate::auction::{ClearOptions, Settlement};
use crate::error::MarketError;
use crate::feeder::{bus_loads, topology_from_circuit, BusLoad};
use crate::market::{AuctionMarket, LimitOverride};
use crate::network::RadialNetwork;
use crate::svg::{self, Panel, PALETTE};
use crate::testutil::Rng;

/// The built-in UC1 scenario (the repository's `scenarios/uc1.toml`).
pub const BUILT_IN_TOML: &str = include_str!("../../../scenarios/uc1.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uc1Config {
    /// Marks the file as a UC1 scenario for `ogg run FILE` (must be "uc1" if given).
    #[serde(default)]
    pub scenario: Option<String>,
    #[serde(default = "default_name")]
    pub name: String,
    /// Built-in feeder name or OpenDSS script (relative paths: to the TOML file).
    #[serde(default = "default_feeder")]
    pub feeder: String,
    /// "nodal" or "rent_to_buyers".
    #[serde(default = "default_settlement")]
    pub settlement: String,
    /// Market rounds of the strategic experiments.
    pub rounds: usize,
    pub head: HeadConfig,
    pub producers: Vec<ProducerConfig>,
    pub consumers: ConsumersConfig,
    pub strategy: StrategyConfig,
    pub flexibility: FlexibilityConfig,
    #[serde(default)]
    pub limits: Vec<LimitConfig>,
    /// Apply each experiment's final dispatch to the AC power flow of the feeder.
    #[serde(default = "yes")]
    pub ac_check: bool,
    /// Voltage band for the AC check, per unit.
    #[serde(default = "default_v_min")]
    pub v_min_pu: f64,
    #[serde(default = "default_v_max")]
    pub v_max_pu: f64,
}

fn yes() -> bool {
    true
}
fn default_v_min() -> f64 {
    0.95
}
fn default_v_max() -> f64 {
    1.05
}

fn default_name() -> String {
    "uc1".into()
}
fn default_feeder() -> String {
    "ieee34".into()
}
fn default_settlement() -> String {
    "nodal".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    pub bus: String,
    /// Flat offer, ¢/kWh (the wholesale price).
    pub price: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerConfig {
    pub name: String,
    pub bus: String,
    /// Hidden marginal cost at 0 kW and at capacity, ¢/kWh.
    pub cost_min: f64,
    pub cost_max: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumersConfig {
    /// Capacity of every producer (the head's too), kW.
    pub producer_capacity_kw: f64,
    /// Multiplier on every bus's nominal demand.
    #[serde(default = "one")]
    pub demand_scale: f64,
    pub inelastic: ConsumerCurve,
    pub elastic: ConsumerCurve,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerCurve {
    /// Share of demand that responds to price (the rest is a hard minimum).
    pub flexibility: f64,
    /// Marginal utility of the first and of the last kW, ¢/kWh.
    pub v_max: f64,
    pub v_min: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// "scripted" (markup += step per round up to max) or "hill-climb".
    pub kind: String,
    pub markup_step: f64,
    pub markup_max: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlexibilityConfig {
    /// The paper's two shares (8 % and 75 %).
    pub paper_shares: Vec<f64>,
    /// Shares for the sweep.
    pub sweep: Vec<f64>,
    pub seeds: u64,
    #[serde(default)]
    pub base_seed: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    pub from: String,
    pub to: String,
    pub kw: f64,
}

impl Uc1Config {
    pub fn from_toml(text: &str, file: &str) -> Result<Self, MarketError> {
        let cfg: Uc1Config = toml::from_str(text).map_err(|e| MarketError::Input(format!("{file}: {e}")))?;
        if let Some(kind) = &cfg.scenario {
            if kind != "uc1" {
                return Err(MarketError::Input(format!("{file}: scenario = \"{kind}\" is not a UC1 scenario")));
            }
        }
        Ok(cfg)
    }
    pub fn built_in() -> Self {
        Self::from_toml(BUILT_IN_TOML, "scenarios/uc1.toml").expect("the built-in UC1 scenario parses")
    }
    fn strategy(&self) -> Result<OfferStrategy, MarketError> {
        let (step, max) = (self.strategy.markup_step, self.strategy.markup_max);
        match self.strategy.kind.as_str() {
            "scripted" => Ok(OfferStrategy::ScriptedMarkup { step, max }),
            "hill-climb" | "hill_climb" => Ok(OfferStrategy::HillClimb { step, max }),
            other => Err(MarketError::Input(format!("strategy.kind must be 'scripted' or 'hill-climb', got '{other}'"))),
        }
    }
}

/// The feeder as UC1 needs it.
#[derive(Debug, Clone)]
pub struct Uc1Feeder {
    pub network: RadialNetwork,
    pub loads: Vec<BusLoad>,
    /// The circuit, for the AC power flow of the dispatch.
    pub circuit: ogg_dss::Circuit,
}

/// Loads the feeder (`feeder` = built-in name or OpenDSS path; relative to `base_dir`).
pub fn load_feeder(feeder: &str, base_dir: Option<&Path>) -> Result<Uc1Feeder, MarketError> {
    let mut path = PathBuf::from(feeder);
    if path.is_relative() {
        if let Some(b) = base_dir {
            if b.join(&path).is_file() {
                path = b.join(&path);
            }
        }
    }
    let circuit = if path.is_file() {
        ogg_dss::read_file(&path).map_err(|e| MarketError::Input(format!("{}: {e}", path.display())))?
    } else {
        crate::builtin::circuit(feeder)?
    };
    let network = RadialNetwork::from_topology(&topology_from_circuit(&circuit))?;
    Ok(Uc1Feeder { network, loads: bus_loads(&circuit), circuit })
}

/// One agent's row of one market round.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub round: usize,
    pub agent: String,
    /// "head", "producer", "consumer-inelastic", "consumer-elastic".
    pub kind: String,
    pub bus: String,
    pub price: f64,
    /// + bought, − sold, kW.
    pub quantity_kw: f64,
    pub reward: f64,
    /// The submitted curve (p_max, p_min, q_max, q_min).
    pub curve: [f64; 4],
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineRow {
    pub round: usize,
    pub from_bus: String,
    pub to_bus: String,
    pub flow_kw: f64,
    pub limit_kw: f64,
    pub congested: bool,
    pub congestion_price: f64,
}

/// All rounds of one experiment run.
#[derive(Debug, Clone, Default)]
pub struct ExperimentRun {
    pub agents: Vec<AgentRow>,
    pub lines: Vec<LineRow>,
    pub rounds: usize,
    /// Reasons of infeasible rounds, if any.
    pub infeasible: Vec<(usize, String)>,
    pub max_kkt: f64,
    pub total_rent_last: f64,
    /// The AC power flow of the last round's dispatch, if checked.
    pub ac: Option<AcCheck>,
}

impl AcCheck {
    fn failed(error: String) -> Self {
        AcCheck {
            converged: false,
            v_min_pu: f64::NAN,
            v_max_pu: f64::NAN,
            max_loading: f64::NAN,
            losses_kw: f64::NAN,
            voltage_violations: Vec::new(),
            overloads: Vec::new(),
            source_kw: f64::NAN,
            error: Some(error),
        }
    }

    fn from_state(st: &ogg_core::GridState, cfg: &Uc1Config) -> Self {
        let finite = |v: &f64| v.is_finite();
        let voltage_violations = st
            .buses
            .iter()
            .zip(&st.bus_voltage_pu)
            .filter(|(_, v)| v.is_finite() && **v > 0.0 && (**v < cfg.v_min_pu - 5e-5 || **v > cfg.v_max_pu + 5e-5))
            .map(|(b, v)| (b.clone(), *v))
            .collect();
        let overloads = st
            .branches
            .iter()
            .zip(&st.branch_loading)
            .filter(|(_, l)| l.is_finite() && **l > 1.0)
            .map(|(b, l)| (b.clone(), *l))
            .collect();
        let energised: Vec<f64> = st.bus_voltage_pu.iter().cloned().filter(|v| v.is_finite() && *v > 0.0).collect();
        AcCheck {
            converged: st.converged,
            v_min_pu: energised.iter().cloned().fold(f64::INFINITY, f64::min),
            v_max_pu: energised.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            max_loading: st.branch_loading.iter().filter(|v| finite(v)).cloned().fold(0.0, f64::max),
            losses_kw: st.losses_kw,
            voltage_violations,
            overloads,
            source_kw: st.total_power_kw,
            error: None,
        }
    }
}

/// Is the lossless market outcome physically feasible? The last round's
/// dispatch applied to the feeder's AC power flow (loads scaled to the
/// consumers' quantities, producers injecting at their buses).
#[derive(Debug, Clone, PartialEq)]
pub struct AcCheck {
    pub converged: bool,
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    /// Highest branch loading as a fraction of its (OpenDSS) rating.
    pub max_loading: f64,
    pub losses_kw: f64,
    /// Buses outside [v_min_pu, v_max_pu] of the config, with their voltage.
    pub voltage_violations: Vec<(String, f64)>,
    /// Branches loaded above their rating, with their loading.
    pub overloads: Vec<(String, f64)>,
    /// Power drawn from the source, kW (the head producer's injection is netted).
    pub source_kw: f64,
    /// Why the AC check could not run, if it could not.
    pub error: Option<String>,
}

impl ExperimentRun {
    fn last_round(&self) -> impl Iterator<Item = &AgentRow> {
        let r = self.rounds.saturating_sub(1);
        self.agents.iter().filter(move |a| a.round == r)
    }
    /// Mean nodal price paid by consumers in the last round.
    pub fn mean_consumer_price(&self) -> f64 {
        let (s, n) = self.last_round().filter(|a| a.kind.starts_with("consumer")).fold((0.0, 0), |(s, n), a| (s + a.price, n + 1));
        s / n as f64
    }
    /// Demand-weighted mean consumer price in the last round.
    pub fn weighted_consumer_price(&self) -> f64 {
        let (s, q) = self
            .last_round()
            .filter(|a| a.kind.starts_with("consumer"))
            .fold((0.0, 0.0), |(s, q), a| (s + a.price * a.quantity_kw, q + a.quantity_kw));
        s / q
    }
    /// Distinct consumer prices of the last round (rounded to 0.01 ¢) with their counts.
    pub fn price_levels(&self) -> Vec<(f64, usize)> {
        let mut m: BTreeMap<i64, usize> = BTreeMap::new();
        for a in self.last_round().filter(|a| a.kind.starts_with("consumer")) {
            *m.entry((a.price * 100.0).round() as i64).or_default() += 1;
        }
        m.into_iter().map(|(k, n)| (k as f64 / 100.0, n)).collect()
    }
    pub fn total_consumption(&self) -> f64 {
        self.last_round().filter(|a| a.kind.starts_with("consumer")).map(|a| a.quantity_kw).sum()
    }
    pub fn congested_lines_last(&self) -> Vec<String> {
        let r = self.rounds.saturating_sub(1);
        self.lines.iter().filter(|l| l.round == r && l.congested).map(|l| format!("{}-{}", l.from_bus, l.to_bus)).collect()
    }
}

/// Builds the agents: head, four producers, 28 consumers (`elastic[i]` for load bus i).
fn build_agents(cfg: &Uc1Config, feeder: &Uc1Feeder, elastic: &[bool], strategic: bool) -> Result<Vec<Box<dyn Agent>>, MarketError> {
    let cap = cfg.consumers.producer_capacity_kw;
    let mut agents: Vec<Box<dyn Agent>> = vec![Box::new(Producer::flat("head", &cfg.head.bus, cap, cfg.head.price))];
    let strategy = if strategic { cfg.strategy()? } else { OfferStrategy::Truthful };
    for p in &cfg.producers {
        agents.push(Box::new(Producer::new(&p.name, &p.bus, cap, p.cost_min, p.cost_max, strategy)));
    }
    for (i, l) in feeder.loads.iter().enumerate() {
        let c = if elastic[i] { cfg.consumers.elastic } else { cfg.consumers.inelastic };
        let demand = l.kw * cfg.consumers.demand_scale;
        agents.push(Box::new(
            Consumer::new(&format!("c{}", l.bus), &l.bus, demand, c.flexibility, c.v_max, c.v_min).with_loads(l.loads.clone(), l.kw),
        ));
    }
    Ok(agents)
}

fn kind_of(agent: &dyn Agent, cfg: &Uc1Config) -> String {
    if agent.name() == "head" {
        "head".into()
    } else if let Some(c) = agent.as_any().downcast_ref::<Consumer>() {
        if c.flexibility == cfg.consumers.elastic.flexibility && c.v_max == cfg.consumers.elastic.v_max {
            "consumer-elastic".into()
        } else {
            "consumer-inelastic".into()
        }
    } else {
        "producer".into()
    }
}

/// Runs one experiment: `rounds` market rounds in one grid step.
pub fn run_experiment(
    cfg: &Uc1Config,
    feeder: &Uc1Feeder,
    ac_grid: Option<&DistributionGrid>,
    elastic: &[bool],
    strategic: bool,
    rounds: usize,
) -> Result<ExperimentRun, MarketError> {
    let settlement: Settlement = cfg.settlement.parse().map_err(MarketError::Input)?;
    let limits = cfg.limits.iter().map(|l| LimitOverride::between(&l.from, &l.to, l.kw)).collect();
    let market = AuctionMarket::new(ClearOptions { settlement, ..Default::default() })
        .with_network(feeder.network.clone())
        .with_limits(limits)
        .with_rounds(rounds);
    let agents = build_agents(cfg, feeder, elastic, strategic)?;
    let grid: Box<dyn Grid> = match ac_grid {
        Some(g) => g.clone_box(),
        None => Box::new(DoNothingGrid::new(3600.0)),
    };
    let mut env = Environment::new(grid, Box::new(market), agents).with_max_market_rounds(rounds);
    let run = Arc::new(Mutex::new(ExperimentRun::default()));
    let sink = Arc::clone(&run);
    let cfg2 = cfg.clone();
    env.add_callback(move |event, parts| {
        let Event::MarketRound { market_round, .. } = *event else { return Ok(()) };
        let Some(market) = parts.market.as_any().downcast_ref::<AuctionMarket>() else { return Ok(()) };
        let mut out = sink.lock().map_err(|_| ogg_core::Error::Other("UC1 recorder poisoned".into()))?;
        out.rounds = market_round + 1;
        if let Some(reason) = &market.last_infeasibility {
            out.infeasible.push((market_round, reason.clone()));
        }
        let Some((clearing, orders, owners)) = market.last_clearing() else { return Ok(()) };
        let net = market.network().expect("a market that cleared has a network");
        out.max_kkt = out.max_kkt.max(clearing.kkt.max());
        out.total_rent_last = clearing.total_rent();
        for (k, &owner) in owners.iter().enumerate() {
            let dispatch = market.dispatch(owner);
            // Agents settled this round in `observe_market` already.
            let agent = &parts.agents[owner];
            let o = &orders[k];
            let d = dispatch.unwrap_or_default();
            out.agents.push(AgentRow {
                round: market_round,
                agent: agent.name().to_string(),
                kind: kind_of(agent.as_ref(), &cfg2),
                bus: net.buses[o.bus].clone(),
                price: if clearing.is_cleared() { d.price } else { f64::NAN },
                quantity_kw: d.quantity,
                reward: agent.reward(),
                curve: [o.curve.p_max, o.curve.p_min, o.curve.q_max, o.curve.q_min],
            });
        }
        for e in net.edges() {
            out.lines.push(LineRow {
                round: market_round,
                from_bus: net.buses[net.parent[e]].clone(),
                to_bus: net.buses[e].clone(),
                flow_kw: clearing.flow[e],
                limit_kw: net.limit_kw[e],
                congested: clearing.congested(net, e),
                congestion_price: clearing.congestion_price[e],
            });
        }
        Ok(())
    });
    env.reset(Some(cfg.flexibility.base_seed)).map_err(|e| MarketError::Input(e.to_string()))?;
    let stepped = env.step();
    let ac = match (ac_grid.is_some(), stepped) {
        (_, Err(e)) if matches!(e.failed_module(), Some(ogg_core::error::Module::Grid { .. })) => {
            Some(AcCheck::failed(e.to_string()))
        }
        (_, Err(e)) => return Err(MarketError::Input(e.to_string())),
        (true, Ok(_)) => Some(AcCheck::from_state(env.grid().state(), cfg)),
        (false, Ok(_)) => None,
    };
    drop(env);
    let run = Arc::try_unwrap(run).map_err(|_| MarketError::Input("UC1 run still shared".into()))?;
    let mut run = run.into_inner().map_err(|_| MarketError::Input("UC1 recorder poisoned".into()))?;
    run.ac = ac;
    Ok(run)
}

/// A random subset of `round(share·n)` consumers, elastic.
pub fn random_flexible(n: usize, share: f64, seed: u64) -> Vec<bool> {
    let k = ((share * n as f64).round() as usize).min(n);
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed ^ 0x5543_315f_666c_6578);
    for i in (1..n).rev() {
        idx.swap(i, rng.below(i + 1));
    }
    let mut mask = vec![false; n];
    for &i in &idx[..k] {
        mask[i] = true;
    }
    mask
}

/// Mean and 95 % confidence half-width (normal approximation; t for small n).
pub fn mean_ci95(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    // Student t 0.975 quantiles for small samples, 1.96 beyond.
    let t = match v.len() - 1 {
        1 => 12.71,
        2 => 4.30,
        3 => 3.18,
        4 => 2.78,
        5 => 2.57,
        6..=9 => 2.26,
        10..=19 => 2.09,
        20..=29 => 2.05,
        _ => 1.96,
    };
    (mean, t * (var / n).sqrt())
}

/// One point of the flexibility sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    pub share: f64,
    pub mean_price: f64,
    pub ci95: f64,
    pub mean_weighted_price: f64,
    pub min_price: f64,
    pub max_price: f64,
}

/// Everything `ogg run uc1` produces.
#[derive(Debug, Clone)]
pub struct Uc1Results {
    pub experiment1: ExperimentRun,
    pub experiment2: ExperimentRun,
    pub experiment3: ExperimentRun,
    /// The paper's shares: (share, one run per seed).
    pub experiment4: Vec<(f64, Vec<ExperimentRun>)>,
    pub sweep: Vec<SweepPoint>,
}

/// Runs the four experiments.
pub fn run(cfg: &Uc1Config, feeder: &Uc1Feeder) -> Result<Uc1Results, MarketError> {
    let n = feeder.loads.len();
    let none = vec![false; n];
    let all = vec![true; n];
    let grid = if cfg.ac_check {
        Some(DistributionGrid::new(&feeder.circuit, 3600.0).map_err(|e| MarketError::Input(format!("AC power flow of the feeder: {e}")))?)
    } else {
        None
    };
    let ac = grid.as_ref();
    let experiment1 = run_experiment(cfg, feeder, ac, &none, false, 1)?;
    let experiment2 = run_experiment(cfg, feeder, ac, &none, true, cfg.rounds)?;
    let experiment3 = run_experiment(cfg, feeder, ac, &all, true, cfg.rounds)?;
    let seeds: Vec<u64> = (0..cfg.flexibility.seeds).map(|s| cfg.flexibility.base_seed + s).collect();
    let mut experiment4 = Vec::new();
    for &share in &cfg.flexibility.paper_shares {
        let runs = seeds
            .iter()
            .map(|&s| run_experiment(cfg, feeder, ac, &random_flexible(n, share, s), true, cfg.rounds))
            .collect::<Result<Vec<_>, _>>()?;
        experiment4.push((share, runs));
    }
    let mut sweep = Vec::new();
    for &share in &cfg.flexibility.sweep {
        let runs = seeds
            .iter()
            .map(|&s| run_experiment(cfg, feeder, None, &random_flexible(n, share, s), true, cfg.rounds))
            .collect::<Result<Vec<_>, _>>()?;
        let prices: Vec<f64> = runs.iter().map(|r| r.mean_consumer_price()).collect();
        let weighted: Vec<f64> = runs.iter().map(|r| r.weighted_consumer_price()).collect();
        let (mean_price, ci95) = mean_ci95(&prices);
        sweep.push(SweepPoint {
            share,
            mean_price,
            ci95,
            mean_weighted_price: weighted.iter().sum::<f64>() / weighted.len() as f64,
            min_price: prices.iter().cloned().fold(f64::INFINITY, f64::min),
            max_price: prices.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        });
    }
    Ok(Uc1Results { experiment1, experiment2, experiment3, experiment4, sweep })
}

fn agents_csv(rows: &mut String, experiment: &str, seed: &str, share: &str, run: &ExperimentRun) {
    for a in &run.agents {
        let _ = writeln!(
            rows,
            "{experiment},{seed},{share},{},{},{},{},{},{},{}",
            a.round, a.agent, a.kind, a.bus, a.price, a.quantity_kw, a.reward
        );
    }
}

fn lines_csv(rows: &mut String, experiment: &str, seed: &str, share: &str, run: &ExperimentRun) {
    for l in &run.lines {
        let _ = writeln!(
            rows,
            "{experiment},{seed},{share},{},{},{},{},{},{},{}",
            l.round, l.from_bus, l.to_bus, l.flow_kw, l.limit_kw, l.congested, l.congestion_price
        );
    }
}

/// Writes the tables, figures and a summary into `out`; returns the files.
pub fn write_outputs(cfg: &Uc1Config, res: &Uc1Results, out: &Path) -> Result<Vec<PathBuf>, MarketError> {
    std::fs::create_dir_all(out).map_err(|e| MarketError::Input(format!("{}: {e}", out.display())))?;
    let mut agents = String::from("experiment,seed,flexible_share,round,agent,kind,bus,price,quantity_kw,reward\n");
    let mut lines = String::from("experiment,seed,flexible_share,round,from_bus,to_bus,flow_kw,limit_kw,congested,congestion_price\n");
    for (name, run) in [("1-truthful", &res.experiment1), ("2-strategic", &res.experiment2), ("3-elastic", &res.experiment3)] {
        agents_csv(&mut agents, name, "", "", run);
        lines_csv(&mut lines, name, "", "", run);
    }
    for (share, runs) in &res.experiment4 {
        for (s, run) in runs.iter().enumerate() {
            let seed = (cfg.flexibility.base_seed + s as u64).to_string();
            agents_csv(&mut agents, "4-flexible-subset", &seed, &share.to_string(), run);
            lines_csv(&mut lines, "4-flexible-subset", &seed, &share.to_string(), run);
        }
    }
    let mut sweep = String::from("flexible_share,seeds,mean_consumer_price,ci95_low,ci95_high,min,max,mean_weighted_price\n");
    for p in &res.sweep {
        let _ = writeln!(
            sweep,
            "{},{},{},{},{},{},{},{}",
            p.share,
            cfg.flexibility.seeds,
            p.mean_price,
            p.mean_price - p.ci95,
            p.mean_price + p.ci95,
            p.min_price,
            p.max_price,
            p.mean_weighted_price
        );
    }
    let summary = summary_markdown(cfg, res);
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| -> Result<(), MarketError> {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| MarketError::Input(format!("{}: {e}", p.display())))?;
        files.push(p);
        Ok(())
    };
    write("agents.csv", agents)?;
    write("lines.csv", lines)?;
    write("sweep.csv", sweep)?;
    write("summary.md", summary)?;
    write("fig5_truthful_dispatch.svg", dispatch_figure("Exp. 1: truthful offers, inelastic demand", &res.experiment1))?;
    write("fig6_strategic_dispatch.svg", dispatch_figure("Exp. 2: strategic offers (last round), inelastic demand", &res.experiment2))?;
    write("fig6b_elastic_dispatch.svg", dispatch_figure("Exp. 3: strategic offers, elastic demand", &res.experiment3))?;
    write("fig6c_prices_over_rounds.svg", rounds_figure(&res.experiment2))?;
    write("fig7_price_vs_flexibility.svg", sweep_figure(cfg, res))?;
    Ok(files)
}

/// Experiment 1–4 numbers next to the paper's.
pub fn summary_markdown(cfg: &Uc1Config, res: &Uc1Results) -> String {
    let mut s = String::new();
    let levels = |run: &ExperimentRun| {
        run.price_levels().iter().map(|(p, n)| format!("{p:.2} ({n})")).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(s, "# UC1 results ({})\n", cfg.name);
    let _ = writeln!(s, "| experiment | consumer prices, ¢/kWh (count) | mean ¢/kWh | consumption kW | congested lines | paper |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
    for (name, run, paper) in [
        ("1 truthful, inelastic", &res.experiment1, "4.3 everywhere, no congestion"),
        ("2 strategic, inelastic", &res.experiment2, "≈ 4.6, 4.8, 6.9"),
        ("3 strategic, elastic", &res.experiment3, "lower quantities and prices, still congested"),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {} | {:.3} | {:.1} | {} | {paper} |",
            levels(run),
            run.mean_consumer_price(),
            run.total_consumption(),
            run.congested_lines_last().join(" ")
        );
    }
    for (share, runs) in &res.experiment4 {
        let prices: Vec<f64> = runs.iter().map(|r| r.mean_consumer_price()).collect();
        let (m, ci) = mean_ci95(&prices);
        let paper = if (*share - 0.08).abs() < 1e-9 {
            "6.64"
        } else if (*share - 0.75).abs() < 1e-9 {
            "5.28"
        } else {
            "–"
        };
        let _ = writeln!(
            s,
            "| 4 flexible share {:.0} % ({} seeds) | – | {m:.3} ± {ci:.3} | – | – | {paper} |",
            share * 100.0,
            runs.len()
        );
    }
    let _ = writeln!(s, "\n## Is the market outcome physically feasible? (AC power flow of the last round's dispatch)\n");
    let _ = writeln!(s, "| experiment | converged | V min pu | V max pu | buses outside [{}, {}] pu | max branch loading | losses kW |", cfg.v_min_pu, cfg.v_max_pu);
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- |");
    let mut ac_rows: Vec<(String, &ExperimentRun)> =
        vec![("1".into(), &res.experiment1), ("2".into(), &res.experiment2), ("3".into(), &res.experiment3)];
    for (share, runs) in &res.experiment4 {
        if let Some(r) = runs.first() {
            ac_rows.push((format!("4 ({:.0} %, first seed)", share * 100.0), r));
        }
    }
    for (name, run) in ac_rows {
        match &run.ac {
            Some(a) if a.error.is_none() => {
                let _ = writeln!(
                    s,
                    "| {name} | {} | {:.4} | {:.4} | {} | {:.3} | {:.1} |",
                    a.converged,
                    a.v_min_pu,
                    a.v_max_pu,
                    if a.voltage_violations.is_empty() {
                        "none".to_string()
                    } else {
                        a.voltage_violations.iter().map(|(b, v)| format!("{b} {v:.4}")).collect::<Vec<_>>().join(", ")
                    },
                    a.max_loading,
                    a.losses_kw
                );
            }
            Some(a) => {
                let _ = writeln!(s, "| {name} | no: {} | | | | | |", a.error.as_deref().unwrap_or(""));
            }
            None => {
                let _ = writeln!(s, "| {name} | not checked | | | | | |");
            }
        }
    }
    let _ = writeln!(s, "\nLargest KKT residual of any clearing: {:.2e}.", [
        res.experiment1.max_kkt,
        res.experiment2.max_kkt,
        res.experiment3.max_kkt
    ]
    .iter()
    .cloned()
    .fold(0.0, f64::max));
    s
}

fn dispatch_figure(title: &str, run: &ExperimentRun) -> String {
    let last = run.rounds.saturating_sub(1);
    let rows: Vec<&AgentRow> = run.agents.iter().filter(|a| a.round == last).collect();
    let max_price = rows
        .iter()
        .map(|a| a.price)
        .chain(rows.iter().filter(|a| !a.kind.starts_with("consumer")).map(|a| a.curve[0]))
        .fold(5.0_f64, f64::max);
    let y_top = (max_price * 1.15).ceil();
    // Colour by price level so that zones stand out.
    let mut levels: Vec<i64> = rows.iter().map(|a| (a.price * 100.0).round() as i64).collect();
    levels.sort();
    levels.dedup();
    let color = |p: f64| {
        let k = levels.iter().position(|&l| l == (p * 100.0).round() as i64).unwrap_or(0);
        PALETTE[k % PALETTE.len()]
    };
    let mut left = Panel::new(70.0, 40.0, 380.0, 300.0, (0.0, 1.05), (0.0, y_top));
    left.axes("Consumers: bids and dispatch", "quantity / nominal demand", "price (¢/kWh)", &svg::ticks(0.0, 1.0, 5), &svg::ticks(0.0, y_top, 5));
    let mut right = Panel::new(540.0, 40.0, 380.0, 300.0, (0.0, 1.05), (0.0, y_top));
    right.axes("Producers: offers and dispatch", "quantity / capacity", "price (¢/kWh)", &svg::ticks(0.0, 1.0, 5), &svg::ticks(0.0, y_top, 5));
    let mut labelled = 0.0;
    for a in &rows {
        let [p_max, p_min, q_max, q_min] = a.curve;
        let c = color(a.price);
        if a.kind.starts_with("consumer") {
            left.polyline(&[(0.0, p_max), (q_min / q_max, p_max), (1.0, p_min)], c, 1.0, a.kind.ends_with("inelastic"));
            left.dot(a.quantity_kw / q_max, a.price, c, 3.5);
        } else {
            right.polyline(&[(q_min / q_max, p_min), (1.0, p_max)], c, 1.5, false);
            right.dot(-a.quantity_kw / q_max, a.price, c, 4.0);
            // Stack the names: producers with equal curves would overprint.
            right.text(right.px(1.0) + 3.0, right.py(p_max) + 3.0 + 11.0 * labelled, &a.agent, 10.0, "start");
            labelled += 1.0;
        }
    }
    let legend = format!(
        "<text x=\"500\" y=\"392\" font-size=\"12\" font-family=\"sans-serif\" text-anchor=\"middle\">{}</text>\n",
        title
    );
    svg::document(980.0, 410.0, &[left, right], &legend)
}

fn rounds_figure(run: &ExperimentRun) -> String {
    let consumers: BTreeMap<&str, Vec<(f64, f64)>> = run.agents.iter().filter(|a| a.kind.starts_with("consumer")).fold(
        BTreeMap::new(),
        |mut m, a| {
            m.entry(a.agent.as_str()).or_default().push((a.round as f64, a.price));
            m
        },
    );
    let max_p = run.agents.iter().map(|a| a.price).fold(5.0_f64, f64::max);
    let y_top = (max_p * 1.15).ceil();
    let r = run.rounds.max(2) as f64 - 1.0;
    let mut p = Panel::new(70.0, 40.0, 560.0, 320.0, (0.0, r), (0.0, y_top));
    p.axes("Exp. 2: consumer prices over market rounds", "market round", "price (¢/kWh)", &svg::ticks(0.0, r, r as usize), &svg::ticks(0.0, y_top, 5));
    for (k, pts) in consumers.values().enumerate() {
        p.polyline(pts, PALETTE[k % PALETTE.len()], 1.2, false);
    }
    svg::document(680.0, 410.0, &[p], "")
}

fn sweep_figure(cfg: &Uc1Config, res: &Uc1Results) -> String {
    let xs: Vec<f64> = res.sweep.iter().map(|p| p.share * 100.0).collect();
    let mean: Vec<f64> = res.sweep.iter().map(|p| p.mean_price).collect();
    let lo: Vec<f64> = res.sweep.iter().map(|p| p.mean_price - p.ci95).collect();
    let hi: Vec<f64> = res.sweep.iter().map(|p| p.mean_price + p.ci95).collect();
    let y_hi = hi.iter().cloned().fold(7.0_f64, f64::max).ceil() + 0.5;
    let y_lo = (lo.iter().cloned().fold(f64::INFINITY, f64::min).min(5.0) - 0.5).floor().max(0.0);
    let mut p = Panel::new(70.0, 40.0, 560.0, 320.0, (0.0, 100.0), (y_lo, y_hi));
    p.axes(
        &format!("Average consumer price vs flexible share ({} seeds, 95 % CI)", cfg.flexibility.seeds),
        "flexible consumers (%)",
        "average consumer price (¢/kWh)",
        &svg::ticks(0.0, 100.0, 10),
        &svg::ticks(y_lo, y_hi, 5),
    );
    if !xs.is_empty() {
        p.band(&xs, &lo, &hi, PALETTE[0]);
        p.polyline(&xs.iter().cloned().zip(mean.iter().cloned()).collect::<Vec<_>>(), PALETTE[0], 2.0, false);
    }
    for (share, runs) in &res.experiment4 {
        let prices: Vec<f64> = runs.iter().map(|r| r.mean_consumer_price()).collect();
        let (m, _) = mean_ci95(&prices);
        p.dot(share * 100.0, m, PALETTE[0], 4.0);
    }
    p.marker(8.0, 6.64, PALETTE[1], "paper 8 %: 6.64");
    p.marker(75.0, 5.28, PALETTE[1], "paper 75 %: 5.28");
    svg::document(680.0, 410.0, &[p], "")
}

/// Whether a TOML text is a UC1 scenario (top-level `scenario = "uc1"`), so
/// that `ogg run FILE` can hand it to [`run_scenario`].
pub fn is_uc1_toml(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("").trim();
        l.starts_with("scenario") && l.contains('=') && l.split('=').nth(1).is_some_and(|v| v.trim().trim_matches('"') == "uc1")
    })
}

/// `ogg run uc1` in one call: reads the scenario (`None`: the built-in one),
/// runs the experiments and writes everything into `out`.
pub fn run_scenario(toml_path: Option<&Path>, out: &Path) -> Result<(Uc1Results, Vec<PathBuf>), MarketError> {
    let (cfg, base) = match toml_path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| MarketError::Input(format!("{}: {e}", p.display())))?;
            (Uc1Config::from_toml(&text, &p.display().to_string())?, p.parent().map(Path::to_path_buf))
        }
        None => (Uc1Config::built_in(), None),
    };
    let feeder = load_feeder(&cfg.feeder, base.as_deref())?;
    let res = run(&cfg, &feeder)?;
    let files = write_outputs(&cfg, &res, out)?;
    Ok((res, files))
}
