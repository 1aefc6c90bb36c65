//! Use case 3 of the paper: DLMPs on IEEE 37 over a day.
//!
//! Prosumers with DERs (producers), consumers and demand-response providers
//! sit at the feeder's buses; every hour each states its cost curve, the DSO
//! runs the OPF with that hour's transmission price and pays every bus its
//! DLMP (the [`DlmpMarket`] in the core `Environment`, one grid step per
//! hour). Three experiments (see [`run`]):
//! 1. **truthful** — every participant states its true cost (the paper);
//! 2. **scripted** — producers and DR providers mark their costs up by a
//!    markup per hour of the day;
//! 3. **learning** — they learn their markups (ε-greedy on their own rewards)
//!    over `learning_days` days; the last day is reported.
//!
//! Every interval, besides the market's own formulation (the paper's lossless
//! one by default), the beyond-the-paper formulations are solved on the same
//! offers, and every formulation's dispatch is applied to the AC power flow
//! of the feeder ([`crate::ac`]). Everything is set in a TOML file
//! (`scenarios/uc3.toml`, see [`Uc3Config`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use ogg_core::{Agent, DoNothingGrid, Environment, Event, Market};
use ogg_grid::DistributionGrid;

use crate::ac::{self, AcReport};
use crate::agents::{Learner, Participant, Strategy};
use crate::error::DlmpError;
use crate::figures;
use crate::market::DlmpMarket;
use crate::network::DlmpNetwork;
use crate::offer::CostCurve;
use crate::opf::{DlmpSolution, Formulation, OpfOptions, OpfSolver};

/// The built-in UC3 scenario (the repository's `scenarios/uc3.toml`).
pub const BUILT_IN_TOML: &str = include_str!("../../../scenarios/uc3.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uc3Config {
    /// Marks the file as a UC3 scenario for `ogg run FILE` (must be "uc3" if given).
    #[serde(default)]
    pub scenario: Option<String>,
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default = "default_feeder")]
    pub feeder: String,
    #[serde(default = "one")]
    pub interval_hours: f64,
    #[serde(default = "default_formulation")]
    pub market_formulation: String,
    #[serde(default)]
    pub compare: Vec<String>,
    #[serde(default = "yes")]
    pub ac_check: bool,
    #[serde(default = "one")]
    pub v_source_pu: f64,
    #[serde(default = "default_v_min")]
    pub v_min_pu: f64,
    #[serde(default = "default_v_max")]
    pub v_max_pu: f64,
    #[serde(default)]
    pub v_exempt: Vec<String>,
    #[serde(default)]
    pub loss_iterations: usize,
    #[serde(default)]
    pub export_price: f64,
    /// Transmission price per interval, $/MWh (its length is the day).
    pub lmp: Vec<f64>,
    /// Demand multiplier per interval (cycled; empty = 1).
    #[serde(default)]
    pub load_profile: Vec<f64>,
    #[serde(default)]
    pub solar_profile: Vec<f64>,
    #[serde(default)]
    pub map_hours: Vec<usize>,
    #[serde(default)]
    pub limits: Vec<LimitConfig>,
    #[serde(default)]
    pub demand_response: DrConfig,
    #[serde(default)]
    pub producers: Vec<ProducerConfig>,
    pub strategy: StrategyConfig,
}

fn default_name() -> String {
    "uc3".into()
}
fn default_feeder() -> String {
    "ieee37".into()
}
fn default_formulation() -> String {
    "dc".into()
}
fn one() -> f64 {
    1.0
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    pub from: String,
    #[serde(default)]
    pub to: String,
    pub kw: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrConfig {
    #[serde(default)]
    pub buses: Vec<String>,
    #[serde(default)]
    pub flexible_share: f64,
    /// c0, c1, c2 of the curtailment cost ($/h of MW).
    #[serde(default)]
    pub cost: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerConfig {
    pub name: String,
    pub bus: String,
    pub capacity_kw: f64,
    /// c0, c1, c2 ($/h of MW).
    pub cost: Vec<f64>,
    /// "solar" to follow solar_profile; empty for a dispatchable DER.
    #[serde(default)]
    pub profile: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    pub scripted: Vec<f64>,
    pub markups: Vec<f64>,
    pub epsilon: f64,
    pub learning_days: usize,
    #[serde(default)]
    pub seed: u64,
}

impl Uc3Config {
    pub fn from_toml(text: &str, file: &str) -> Result<Self, DlmpError> {
        let cfg: Uc3Config =
            toml::from_str(text).map_err(|e| DlmpError::Input(format!("{file}: {e}")))?;
        if let Some(kind) = &cfg.scenario {
            if kind != "uc3" {
                return Err(DlmpError::Input(format!(
                    "{file}: scenario = \"{kind}\" is not a UC3 scenario"
                )));
            }
        }
        if cfg.lmp.is_empty() {
            return Err(DlmpError::Input(format!(
                "{file}: lmp needs at least one interval"
            )));
        }
        if let Some(v) = cfg.lmp.iter().find(|v| !v.is_finite()) {
            return Err(DlmpError::Input(format!(
                "{file}: lmp value {v} is not a finite number"
            )));
        }
        cfg.formulation()?;
        cfg.compared()?;
        Ok(cfg)
    }
    pub fn built_in() -> Self {
        Self::from_toml(BUILT_IN_TOML, "scenarios/uc3.toml")
            .expect("the built-in UC3 scenario parses")
    }
    pub fn formulation(&self) -> Result<Formulation, DlmpError> {
        self.market_formulation
            .parse()
            .map_err(|e: String| DlmpError::Input(format!("market_formulation: {e}")))
    }
    pub fn compared(&self) -> Result<Vec<Formulation>, DlmpError> {
        self.compare
            .iter()
            .map(|f| {
                f.parse()
                    .map_err(|e: String| DlmpError::Input(format!("compare: {e}")))
            })
            .collect()
    }
    /// Intervals per day.
    pub fn day_len(&self) -> usize {
        self.lmp.len()
    }
    fn options(&self, f: Formulation) -> OpfOptions {
        OpfOptions {
            formulation: f,
            lmp_source: self.lmp[0],
            export_price: self.export_price,
            v_source_pu: self.v_source_pu,
            v_min_pu: self.v_min_pu,
            v_max_pu: self.v_max_pu,
            v_exempt: self.v_exempt.clone(),
            loss_iterations: self.loss_iterations,
            ..Default::default()
        }
    }
}

fn curve(coefs: &[f64], what: &str) -> Result<CostCurve, DlmpError> {
    if coefs.len() > 3 {
        return Err(DlmpError::Input(format!("{what}: cost takes c0, c1, c2")));
    }
    Ok(CostCurve::Polynomial(coefs.to_vec()))
}

/// The feeder as UC3 needs it.
pub struct Uc3Feeder {
    pub network: DlmpNetwork,
    pub circuit: ogg_dss::Circuit,
    pub grid: DistributionGrid,
}

/// Loads the feeder (built-in name or OpenDSS path, relative to `base_dir`) and applies the limits.
pub fn load_feeder(cfg: &Uc3Config, base_dir: Option<&Path>) -> Result<Uc3Feeder, DlmpError> {
    let mut name = cfg.feeder.clone();
    if let Some(b) = base_dir {
        let p = b.join(&cfg.feeder);
        if Path::new(&cfg.feeder).is_relative() && p.is_file() {
            name = p.display().to_string();
        }
    }
    let (mut network, circuit, grid) = DlmpNetwork::from_feeder(&name)?;
    for l in &cfg.limits {
        network
            .set_limit(&l.from, &l.to, l.kw)
            .map_err(|e| DlmpError::Input(format!("limits: {e}")))?;
    }
    Ok(Uc3Feeder {
        network,
        circuit,
        grid,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Experiment {
    Truthful,
    Scripted,
    Learning,
}

impl Experiment {
    pub fn label(self) -> &'static str {
        match self {
            Experiment::Truthful => "1-truthful",
            Experiment::Scripted => "2-scripted",
            Experiment::Learning => "3-learning",
        }
    }
    pub const ALL: [Experiment; 3] = [
        Experiment::Truthful,
        Experiment::Scripted,
        Experiment::Learning,
    ];
}

/// Builds the participants: a consumer or DR provider per load bus, then the producers.
pub fn build_agents(
    cfg: &Uc3Config,
    feeder: &Uc3Feeder,
    experiment: Experiment,
) -> Result<Vec<Box<dyn Agent>>, DlmpError> {
    let strategy = || match experiment {
        Experiment::Truthful => Strategy::Truthful,
        Experiment::Scripted => Strategy::Scripted(cfg.strategy.scripted.clone()),
        Experiment::Learning => Strategy::Learning(Learner::new(
            cfg.strategy.markups.clone(),
            cfg.strategy.epsilon,
            cfg.day_len(),
        )),
    };
    let dr_cost = curve(&cfg.demand_response.cost, "demand_response")?;
    let mut agents: Vec<Box<dyn Agent>> = Vec::new();
    for l in ogg_market::feeder::bus_loads(&feeder.circuit) {
        let kvar: f64 = feeder
            .circuit
            .loads
            .iter()
            .filter(|x| x.enabled && l.loads.contains(&x.name))
            .map(|x| x.kvar)
            .sum();
        let q_per_p = if l.kw > 0.0 { kvar / l.kw } else { 0.0 };
        let shares: Vec<(String, f64)> = l
            .loads
            .iter()
            .map(|name| {
                let kw = feeder
                    .circuit
                    .loads
                    .iter()
                    .find(|x| &x.name == name)
                    .map_or(0.0, |x| x.kw);
                (name.clone(), if l.kw > 0.0 { kw / l.kw } else { 0.0 })
            })
            .collect();
        let is_dr = cfg
            .demand_response
            .buses
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&l.bus));
        let p = if is_dr {
            Participant::demand_response(
                &format!("dr{}", l.bus),
                &l.bus,
                l.kw,
                q_per_p,
                cfg.demand_response.flexible_share,
                dr_cost.clone(),
            )
            .with_strategy(strategy())
        } else {
            Participant::consumer(&format!("c{}", l.bus), &l.bus, l.kw, q_per_p)
        };
        agents.push(Box::new(
            p.with_profile(cfg.load_profile.clone())
                .with_loads(shares)
                .with_interval_hours(cfg.interval_hours),
        ));
    }
    for pc in &cfg.producers {
        let mut p = Participant::producer(
            &pc.name,
            &pc.bus,
            pc.capacity_kw,
            curve(&pc.cost, &pc.name)?,
        )
        .with_strategy(strategy())
        .with_interval_hours(cfg.interval_hours);
        match pc.profile.as_str() {
            "" | "none" => {}
            "solar" => p = p.with_availability(cfg.solar_profile.clone()),
            other => {
                return Err(DlmpError::Input(format!(
                    "producer {}: profile must be \"solar\" or empty, got '{other}'",
                    pc.name
                )))
            }
        }
        agents.push(Box::new(p));
    }
    Ok(agents)
}

/// One interval solved in one formulation.
#[derive(Debug, Clone)]
pub struct FormulationRun {
    pub formulation: Formulation,
    pub solution: DlmpSolution,
    pub ac: Option<AcReport>,
    /// Seconds for this OPF (assembly and solve).
    pub seconds: f64,
}

/// One agent in one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub agent: String,
    pub kind: String,
    pub bus: String,
    pub markup: f64,
    /// + produced, − consumed, kW.
    pub injection_kw: f64,
    pub dlmp: f64,
    pub reward: f64,
}

/// One market interval.
#[derive(Debug, Clone)]
pub struct Interval {
    pub day: usize,
    pub hour: usize,
    pub lmp: f64,
    /// The market formulation first, then the compared ones.
    pub runs: Vec<FormulationRun>,
    pub agents: Vec<AgentRow>,
    pub rejections: Vec<String>,
}

/// Per day: mean DLMP (market formulation, over buses and hours) and total rewards by kind.
#[derive(Debug, Clone, PartialEq)]
pub struct DayStats {
    pub day: usize,
    pub mean_dlmp: f64,
    pub producer_reward: f64,
    pub dr_reward: f64,
    pub consumer_reward: f64,
    pub mean_markup: f64,
}

#[derive(Debug, Clone)]
pub struct ExperimentRun {
    pub experiment: Experiment,
    /// Intervals of the reported day (the last one).
    pub intervals: Vec<Interval>,
    pub days: Vec<DayStats>,
}

impl ExperimentRun {
    /// The run of formulation `f` in interval `hour`, if solved.
    pub fn run(&self, hour: usize, f: Formulation) -> Option<&FormulationRun> {
        self.intervals
            .get(hour)
            .and_then(|i| i.runs.iter().find(|r| r.formulation == f))
    }
}

/// Everything `ogg run uc3` produces.
pub struct Uc3Results {
    pub experiments: Vec<ExperimentRun>,
    pub formulations: Vec<Formulation>,
}

impl Uc3Results {
    pub fn experiment(&self, e: Experiment) -> Option<&ExperimentRun> {
        self.experiments.iter().find(|r| r.experiment == e)
    }
}

struct Collector {
    day_len: usize,
    report_day: usize,
    compare: Vec<Formulation>,
    cfg: Uc3Config,
    network: DlmpNetwork,
    grid: Option<DistributionGrid>,
    solvers: Vec<OpfSolver>,
    intervals: Vec<Interval>,
    days: Vec<DayStats>,
    day_acc: (f64, usize, f64, f64, f64, f64, usize),
}

/// Runs one experiment over its days in the core `Environment`.
pub fn run_experiment(
    cfg: &Uc3Config,
    feeder: &Uc3Feeder,
    experiment: Experiment,
) -> Result<ExperimentRun, DlmpError> {
    let market_f = cfg.formulation()?;
    let days = if experiment == Experiment::Learning {
        cfg.strategy.learning_days.max(1)
    } else {
        1
    };
    let day_len = cfg.day_len();
    let market = DlmpMarket::new(feeder.network.clone(), cfg.options(market_f))
        .with_lmp_series(cfg.lmp.clone());
    let agents = build_agents(cfg, feeder, experiment)?;
    let grid = DoNothingGrid::new(3600.0 * cfg.interval_hours);
    let mut env = Environment::new(Box::new(grid), Box::new(market), agents)
        .with_max_market_rounds(1)
        .with_recording(false);
    // Formulations solved each interval: the market's first, then the others.
    let mut formulations = vec![market_f];
    for f in cfg.compared()? {
        if !formulations.contains(&f) {
            formulations.push(f);
        }
    }
    let collector = Arc::new(Mutex::new(Collector {
        day_len,
        report_day: days - 1,
        compare: formulations[1..].to_vec(),
        cfg: cfg.clone(),
        network: feeder.network.clone(),
        grid: cfg.ac_check.then(|| feeder.grid.clone()),
        solvers: formulations[1..].iter().map(|_| OpfSolver::new()).collect(),
        intervals: Vec::new(),
        days: Vec::new(),
        day_acc: (0.0, 0, 0.0, 0.0, 0.0, 0.0, 0),
    }));
    let sink = Arc::clone(&collector);
    env.add_callback(move |event, parts| {
        let Event::MarketRound { grid_step, .. } = *event else {
            return Ok(());
        };
        let Some(market) = parts.market.as_any().downcast_ref::<DlmpMarket>() else {
            return Ok(());
        };
        let mut c = sink
            .lock()
            .map_err(|_| ogg_core::Error::Other("UC3 collector poisoned".into()))?;
        c.observe(grid_step, market, parts.agents)
            .map_err(ogg_core::Error::from)
    });
    env.reset(Some(cfg.strategy.seed))
        .map_err(|e| DlmpError::Input(e.to_string()))?;
    env.run(days * day_len)
        .map_err(|e| DlmpError::Input(e.to_string()))?;
    drop(env);
    let c = Arc::try_unwrap(collector)
        .map_err(|_| DlmpError::Input("UC3 collector still shared".into()))?;
    let c = c
        .into_inner()
        .map_err(|_| DlmpError::Input("UC3 collector poisoned".into()))?;
    Ok(ExperimentRun {
        experiment,
        intervals: c.intervals,
        days: c.days,
    })
}

impl Collector {
    fn observe(
        &mut self,
        grid_step: usize,
        market: &DlmpMarket,
        agents: &[Box<dyn Agent>],
    ) -> Result<(), DlmpError> {
        let day = grid_step / self.day_len;
        let hour = grid_step % self.day_len;
        let Some(sol) = market.last_solution() else {
            return Ok(());
        };
        let (offers, owners) = market.last_offers();
        let lmp = market.last_lmp();
        // Per-day statistics (every day).
        let mut rewards = (0.0, 0.0, 0.0);
        let mut markups = (0.0, 0usize);
        let mut agent_rows = Vec::with_capacity(agents.len());
        for (i, a) in agents.iter().enumerate() {
            let Some(p) = a.as_any().downcast_ref::<Participant>() else {
                continue;
            };
            match p.kind() {
                "producer" => rewards.0 += p.reward(),
                "dr" => rewards.1 += p.reward(),
                _ => rewards.2 += p.reward(),
            }
            if p.kind() != "consumer" {
                markups.0 += p.last_markup();
                markups.1 += 1;
            }
            if day == self.report_day {
                let d = market.dispatch(i);
                agent_rows.push(AgentRow {
                    agent: p.name.clone(),
                    kind: p.kind().into(),
                    bus: p.bus.clone(),
                    markup: p.last_markup(),
                    injection_kw: d.map_or(f64::NAN, |d| -d.quantity),
                    dlmp: d.map_or(f64::NAN, |d| d.price),
                    reward: p.reward(),
                });
            }
        }
        let mean_dlmp = if sol.is_optimal() {
            sol.dlmp.iter().sum::<f64>() / sol.dlmp.len() as f64
        } else {
            f64::NAN
        };
        let acc = &mut self.day_acc;
        if mean_dlmp.is_finite() {
            acc.0 += mean_dlmp;
            acc.1 += 1;
        }
        acc.2 += rewards.0;
        acc.3 += rewards.1;
        acc.4 += rewards.2;
        acc.5 += markups.0;
        acc.6 += markups.1;
        if hour + 1 == self.day_len {
            let a = *acc;
            self.days.push(DayStats {
                day,
                mean_dlmp: a.0 / a.1.max(1) as f64,
                producer_reward: a.2,
                dr_reward: a.3,
                consumer_reward: a.4,
                mean_markup: a.5 / a.6.max(1) as f64,
            });
            self.day_acc = (0.0, 0, 0.0, 0.0, 0.0, 0.0, 0);
        }
        if day != self.report_day {
            return Ok(());
        }
        // The reported day: the market's run, the compared formulations, AC checks.
        let mut opts = self.cfg.options(market.options.formulation);
        opts.lmp_source = lmp;
        let mut runs = vec![FormulationRun {
            formulation: opts.formulation,
            solution: sol.clone(),
            ac: None,
            seconds: sol.solve_seconds,
        }];
        for (k, &f) in self.compare.iter().enumerate() {
            let o = OpfOptions {
                formulation: f,
                ..opts.clone()
            };
            let start = std::time::Instant::now();
            let s = self.solvers[k].solve(&self.network, offers, &o)?;
            runs.push(FormulationRun {
                formulation: f,
                solution: s,
                ac: None,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
        if let Some(grid) = &self.grid {
            for r in runs.iter_mut() {
                let o = OpfOptions {
                    formulation: r.formulation,
                    ..opts.clone()
                };
                r.ac = Some(ac::check(grid, &self.network, offers, &r.solution, &o));
            }
        }
        let _ = owners;
        let rejections = market
            .rejections()
            .iter()
            .map(|r| format!("{}: {}", r.agent, r.reason))
            .collect();
        self.intervals.push(Interval {
            day,
            hour,
            lmp,
            runs,
            agents: agent_rows,
            rejections,
        });
        Ok(())
    }
}

/// Runs the three experiments.
pub fn run(cfg: &Uc3Config, feeder: &Uc3Feeder) -> Result<Uc3Results, DlmpError> {
    let mut formulations = vec![cfg.formulation()?];
    for f in cfg.compared()? {
        if !formulations.contains(&f) {
            formulations.push(f);
        }
    }
    let experiments = Experiment::ALL
        .iter()
        .map(|&e| run_experiment(cfg, feeder, e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Uc3Results {
        experiments,
        formulations,
    })
}

fn num(v: f64) -> String {
    crate::csv::fmt_num(v)
}

/// Writes the tables, figures and a summary into `out`; returns the files.
pub fn write_outputs(
    cfg: &Uc3Config,
    feeder: &Uc3Feeder,
    res: &Uc3Results,
    out: &Path,
) -> Result<Vec<PathBuf>, DlmpError> {
    std::fs::create_dir_all(out)
        .map_err(|e| DlmpError::Input(format!("{}: {e}", out.display())))?;
    let net = &feeder.network;
    let mut buses = String::from("experiment,hour,lmp,formulation,status,bus,dlmp,energy,congestion,voltage,loss,v_model_pu,v_ac_pu\n");
    let mut lines = String::from("experiment,hour,formulation,from_bus,to_bus,flow_kw,flow_kvar,limit_kw,congested,congestion_price,loss_kw,socp_gap,ac_flow_kw,ac_loading\n");
    let mut agents =
        String::from("experiment,hour,agent,kind,bus,markup,injection_kw,dlmp,reward\n");
    let mut intervals = String::from(
        "experiment,hour,lmp,formulation,status,reason,dlmp_min,dlmp_mean,dlmp_max,congested_lines,cost_per_h,source_kw,model_losses_kw,solve_ms,socp_max_gap,socp_exact,ac_converged,ac_v_min,ac_v_max,ac_voltage_violations,ac_max_loading,ac_overloads,ac_losses_kw,ac_source_kw,max_voltage_error_pu,max_flow_error_kw\n",
    );
    let mut days = String::from(
        "experiment,day,mean_dlmp,producer_reward,dr_reward,consumer_reward,mean_markup\n",
    );
    for run in &res.experiments {
        let ex = run.experiment.label();
        for d in &run.days {
            let _ = writeln!(
                days,
                "{ex},{},{},{},{},{},{}",
                d.day,
                num(d.mean_dlmp),
                num(d.producer_reward),
                num(d.dr_reward),
                num(d.consumer_reward),
                num(d.mean_markup)
            );
        }
        for iv in &run.intervals {
            for a in &iv.agents {
                let _ = writeln!(
                    agents,
                    "{ex},{},{},{},{},{},{},{},{}",
                    iv.hour,
                    a.agent,
                    a.kind,
                    a.bus,
                    num(a.markup),
                    num(a.injection_kw),
                    num(a.dlmp),
                    num(a.reward)
                );
            }
            for r in &iv.runs {
                let s = &r.solution;
                let f = r.formulation.as_str();
                let ac = r.ac.as_ref().filter(|a| a.error.is_none());
                let finite: Vec<f64> = s.dlmp.iter().copied().filter(|v| v.is_finite()).collect();
                let (mn, mx) = (
                    finite.iter().copied().fold(f64::NAN, f64::min),
                    finite.iter().copied().fold(f64::NAN, f64::max),
                );
                let mean = if finite.is_empty() {
                    f64::NAN
                } else {
                    finite.iter().sum::<f64>() / finite.len() as f64
                };
                let _ = writeln!(
                    intervals,
                    "{ex},{},{},{f},{},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    iv.hour,
                    num(iv.lmp),
                    s.status.label(),
                    s.status.reason().replace('"', "'"),
                    num(mn),
                    num(mean),
                    num(mx),
                    s.congested_edges(net, 1e-6).len(),
                    num(s.objective),
                    num(s.source_p_kw),
                    num(s.loss_kw.iter().sum()),
                    num(r.seconds * 1e3),
                    num(s.max_socp_gap()),
                    s.relaxation_exact(1e-4).map_or(String::new(), |b| b.to_string()),
                    ac.map_or(String::new(), |a| a.converged.to_string()),
                    ac.map_or(String::new(), |a| num(a.v_min_pu)),
                    ac.map_or(String::new(), |a| num(a.v_max_pu)),
                    ac.map_or(String::new(), |a| a.voltage_violations.len().to_string()),
                    ac.map_or(String::new(), |a| num(a.max_loading)),
                    ac.map_or(String::new(), |a| a.overloads.len().to_string()),
                    ac.map_or(String::new(), |a| num(a.losses_kw)),
                    ac.map_or(String::new(), |a| num(a.source_kw)),
                    ac.map_or(String::new(), |a| num(a.max_voltage_error_pu)),
                    ac.map_or(String::new(), |a| num(a.max_flow_error_kw)),
                );
                if !s.is_optimal() {
                    continue;
                }
                for i in 0..net.len() {
                    let d = &s.decomposition;
                    let _ = writeln!(
                        buses,
                        "{ex},{},{},{f},{},{},{},{},{},{},{},{},{}",
                        iv.hour,
                        num(iv.lmp),
                        s.status.label(),
                        net.bus_name(i),
                        num(s.dlmp[i]),
                        num(d.energy),
                        num(d.congestion[i]),
                        num(d.voltage[i]),
                        num(d.loss[i]),
                        num(s.voltage_pu[i]),
                        ac.map_or(String::new(), |a| num(a.voltage_pu[i]))
                    );
                }
                for e in net.edges() {
                    let _ = writeln!(
                        lines,
                        "{ex},{},{f},{},{},{},{},{},{},{},{},{},{},{}",
                        iv.hour,
                        net.bus_name(net.tree.parent[e]),
                        net.bus_name(e),
                        num(s.flow_p_kw[e]),
                        num(s.flow_q_kvar[e]),
                        num(net.limit_kw(e)),
                        s.congestion_dual[e].abs() > 1e-6,
                        num(s.congestion_dual[e]),
                        num(s.loss_kw[e]),
                        num(s.socp_gap[e]),
                        ac.map_or(String::new(), |a| num(a.flow_kw[e])),
                        ac.map_or(String::new(), |a| num(a.loading[e])),
                    );
                }
            }
        }
    }
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| -> Result<(), DlmpError> {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| DlmpError::Input(format!("{}: {e}", p.display())))?;
        files.push(p);
        Ok(())
    };
    write("buses.csv", buses)?;
    write("lines.csv", lines)?;
    write("agents.csv", agents)?;
    write("intervals.csv", intervals)?;
    write("days.csv", days)?;
    write("summary.md", summary_markdown(cfg, feeder, res))?;
    for (name, svg) in figures::all(cfg, feeder, res) {
        write(&name, svg)?;
    }
    Ok(files)
}

/// Statistics of one formulation over the reported day of an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct FormulationStats {
    pub optimal_hours: usize,
    pub hours: usize,
    pub dlmp_min: f64,
    pub dlmp_max: f64,
    /// Largest spread max − min of the DLMP within one hour.
    pub max_spread: f64,
    pub congested_hours: usize,
    pub voltage_bound_hours: usize,
    pub mean_abs_diff_vs_market: f64,
    pub max_voltage_error_pu: f64,
    pub max_flow_error_kw: f64,
    pub ac_violation_hours: usize,
    pub ac_overload_hours: usize,
    /// Hours in which the AC flow of a limited line exceeds the limit the OPF enforced.
    pub ac_limit_violation_hours: usize,
    pub mean_source_error_kw: f64,
    pub socp_exact_hours: usize,
    pub max_socp_gap: f64,
    pub max_decomposition_residual: f64,
    pub mean_solve_ms: f64,
}

pub fn formulation_stats(
    run: &ExperimentRun,
    f: Formulation,
    market_f: Formulation,
) -> FormulationStats {
    let mut st = FormulationStats {
        optimal_hours: 0,
        hours: run.intervals.len(),
        dlmp_min: f64::INFINITY,
        dlmp_max: f64::NEG_INFINITY,
        max_spread: 0.0,
        congested_hours: 0,
        voltage_bound_hours: 0,
        mean_abs_diff_vs_market: 0.0,
        max_voltage_error_pu: 0.0,
        max_flow_error_kw: 0.0,
        ac_violation_hours: 0,
        ac_overload_hours: 0,
        ac_limit_violation_hours: 0,
        mean_source_error_kw: 0.0,
        socp_exact_hours: 0,
        max_socp_gap: 0.0,
        max_decomposition_residual: 0.0,
        mean_solve_ms: 0.0,
    };
    let (mut diff, mut nd, mut src, mut ns, mut ms) = (0.0, 0usize, 0.0, 0usize, 0.0);
    for iv in &run.intervals {
        let Some(r) = iv.runs.iter().find(|r| r.formulation == f) else {
            continue;
        };
        let s = &r.solution;
        ms += r.seconds * 1e3;
        if !s.is_optimal() {
            continue;
        }
        st.optimal_hours += 1;
        let (mn, mx) = (
            s.dlmp.iter().copied().fold(f64::INFINITY, f64::min),
            s.dlmp.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        st.dlmp_min = st.dlmp_min.min(mn);
        st.dlmp_max = st.dlmp_max.max(mx);
        st.max_spread = st.max_spread.max(mx - mn);
        if s.congestion_dual.iter().any(|c| c.abs() > 1e-6) {
            st.congested_hours += 1;
        }
        if s.decomposition.voltage.iter().any(|v| v.abs() > 1e-3) {
            st.voltage_bound_hours += 1;
        }
        st.max_decomposition_residual = st
            .max_decomposition_residual
            .max(s.decomposition.residual(&s.dlmp));
        if let Some(m) = iv
            .runs
            .iter()
            .find(|r| r.formulation == market_f)
            .filter(|m| m.solution.is_optimal())
        {
            for (a, b) in s.dlmp.iter().zip(&m.solution.dlmp) {
                diff += (a - b).abs();
                nd += 1;
            }
        }
        if let Some(ac) = r.ac.as_ref().filter(|a| a.error.is_none()) {
            st.max_voltage_error_pu = st.max_voltage_error_pu.max(ac.max_voltage_error_pu);
            st.max_flow_error_kw = st.max_flow_error_kw.max(ac.max_flow_error_kw);
            if !ac.voltage_violations.is_empty() {
                st.ac_violation_hours += 1;
            }
            if !ac.overloads.is_empty() {
                st.ac_overload_hours += 1;
            }
            if !ac.limit_violations.is_empty() {
                st.ac_limit_violation_hours += 1;
            }
            src += ac.source_error_kw;
            ns += 1;
        }
        if s.relaxation_exact(1e-4) == Some(true) {
            st.socp_exact_hours += 1;
        }
        if f == Formulation::Socp {
            st.max_socp_gap = st.max_socp_gap.max(s.max_socp_gap());
        }
    }
    st.mean_abs_diff_vs_market = if nd > 0 { diff / nd as f64 } else { f64::NAN };
    st.mean_source_error_kw = if ns > 0 { src / ns as f64 } else { f64::NAN };
    st.mean_solve_ms = ms / run.intervals.len().max(1) as f64;
    st
}

/// The numbers of the README: DLMP ranges, congestion, formulations against physics, strategic effects.
pub fn summary_markdown(cfg: &Uc3Config, feeder: &Uc3Feeder, res: &Uc3Results) -> String {
    let net = &feeder.network;
    let market_f = cfg.formulation().unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# UC3 results ({}): DLMPs on {} over {} intervals of {} h\n",
        cfg.name,
        cfg.feeder,
        cfg.day_len(),
        cfg.interval_hours
    );
    let _ = writeln!(
        s,
        "Market formulation: `{market_f}` (agents are settled on it); compared: {}.\n",
        cfg.compare.join(", ")
    );
    for run in &res.experiments {
        let _ = writeln!(s, "## Experiment {}\n", run.experiment.label());
        let _ = writeln!(s, "| formulation | optimal hours | DLMP range $/MWh | largest spread in an hour | congested hours | hours with a voltage component (> 0.001 $/MWh) | mean abs. diff. vs `{market_f}` $/MWh | decomposition residual |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- |");
        for &f in &res.formulations {
            let st = formulation_stats(run, f, market_f);
            let _ = writeln!(
                s,
                "| {f} | {}/{} | {:.2} – {:.2} | {:.2} | {} | {} | {:.3} | {:.1e} |",
                st.optimal_hours,
                st.hours,
                st.dlmp_min,
                st.dlmp_max,
                st.max_spread,
                st.congested_hours,
                st.voltage_bound_hours,
                st.mean_abs_diff_vs_market,
                st.max_decomposition_residual
            );
        }
        let _ = writeln!(s);
        if cfg.ac_check {
            let _ = writeln!(s, "How far from physics (each formulation's dispatch in the AC power flow, every hour):\n");
            let _ = writeln!(s, "| formulation | max \\|V_model − V_AC\\| pu | max flow error kW | mean source error kW (model − AC) | hours with AC voltage violations | hours the AC flow exceeds an OPF limit | hours with overloads (feeder ratings) | SOCP exact hours (max gap) | mean OPF ms |");
            let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            for &f in &res.formulations {
                let st = formulation_stats(run, f, market_f);
                let exact = if f == Formulation::Socp {
                    format!(
                        "{}/{} ({:.1e})",
                        st.socp_exact_hours, st.optimal_hours, st.max_socp_gap
                    )
                } else {
                    "–".into()
                };
                let _ = writeln!(
                    s,
                    "| {f} | {:.4} | {:.1} | {:.1} | {} | {} | {} | {exact} | {:.2} |",
                    st.max_voltage_error_pu,
                    st.max_flow_error_kw,
                    st.mean_source_error_kw,
                    st.ac_violation_hours,
                    st.ac_limit_violation_hours,
                    st.ac_overload_hours,
                    st.mean_solve_ms
                );
            }
            let _ = writeln!(s);
        }
        // Rewards by kind over the reported day.
        let mut by_kind = std::collections::BTreeMap::<String, (f64, f64)>::new();
        if let Some(last) = run.days.last() {
            let _ = writeln!(
                s,
                "Reported day ({}): mean DLMP {:.2} $/MWh; rewards $ — producers {:.2}, demand response {:.2}, consumers {:.2}; mean markup {:.2}.\n",
                last.day + 1,
                last.mean_dlmp,
                last.producer_reward,
                last.dr_reward,
                last.consumer_reward,
                last.mean_markup
            );
        }
        for iv in &run.intervals {
            for a in &iv.agents {
                let e = by_kind.entry(a.agent.clone()).or_insert((0.0, 0.0));
                e.0 += a.reward;
                if a.injection_kw.is_finite() {
                    e.1 += a.injection_kw * cfg.interval_hours;
                }
            }
        }
        let producers: Vec<String> = cfg.producers.iter().map(|p| p.name.clone()).collect();
        let mut line = Vec::new();
        for p in &producers {
            if let Some((r, e)) = by_kind.get(p) {
                line.push(format!("{p} {e:.0} kWh / ${r:.2}"));
            }
        }
        let _ = writeln!(
            s,
            "Producers' energy and reward over the day: {}.\n",
            line.join("; ")
        );
    }
    // Peak hour detail of the truthful run.
    if let Some(run) = res.experiment(Experiment::Truthful) {
        let peak = cfg
            .map_hours
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .min(cfg.day_len().saturating_sub(1));
        let _ = writeln!(
            s,
            "## DLMP decomposition at hour {peak} (truthful, LMP {:.1} $/MWh)\n",
            cfg.lmp[peak]
        );
        let _ = writeln!(
            s,
            "| bus | formulation | DLMP | energy | congestion | voltage | loss | V model | V AC |"
        );
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for bus in figures::path_to_far_end(net)
            .iter()
            .filter(|&&b| b != net.root())
        {
            for &f in &res.formulations {
                if let Some(r) = run.run(peak, f).filter(|r| r.solution.is_optimal()) {
                    let sol = &r.solution;
                    let d = &sol.decomposition;
                    let vac = r.ac.as_ref().map_or(f64::NAN, |a| a.voltage_pu[*bus]);
                    let _ = writeln!(
                        s,
                        "| {} | {f} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.4} | {:.4} |",
                        net.bus_name(*bus),
                        sol.dlmp[*bus],
                        d.energy,
                        d.congestion[*bus],
                        d.voltage[*bus],
                        d.loss[*bus],
                        sol.voltage_pu[*bus],
                        vac
                    );
                }
            }
        }
    }
    s
}

/// Whether a TOML text is a UC3 scenario (top-level `scenario = "uc3"`).
pub fn is_uc3_toml(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("").trim();
        l.starts_with("scenario")
            && l.contains('=')
            && l.split('=')
                .nth(1)
                .is_some_and(|v| v.trim().trim_matches('"') == "uc3")
    })
}

/// `ogg run uc3` in one call: reads the scenario (`None`: the built-in one),
/// runs the experiments and writes everything into `out`.
pub fn run_scenario(
    toml_path: Option<&Path>,
    out: &Path,
) -> Result<(Uc3Results, Vec<PathBuf>), DlmpError> {
    let (cfg, base) = match toml_path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| DlmpError::Input(format!("{}: {e}", p.display())))?;
            (
                Uc3Config::from_toml(&text, &p.display().to_string())?,
                p.parent().map(Path::to_path_buf),
            )
        }
        None => (Uc3Config::built_in(), None),
    };
    let feeder = load_feeder(&cfg, base.as_deref())?;
    let res = run(&cfg, &feeder)?;
    let files = write_outputs(&cfg, &feeder, &res, out)?;
    Ok((res, files))
}
