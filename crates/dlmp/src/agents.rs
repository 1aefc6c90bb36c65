//! Use case 3's participants: prosumers as producers (a DER with a cost
//! curve), consumers (inflexible loads) and demand-response providers
//! (flexible loads with a curtailment cost), all one [`Participant`] type
//! with a [`Role`].
//!
//! Every market interval (grid step) a participant states its cost curve:
//! its true curve times a markup chosen by its [`Strategy`] — truthful (1),
//! scripted (a markup per interval of the day) or learning (ε-greedy over a
//! set of markups, one value table per interval of the day, learning from
//! its own rewards across days). Its reward for the interval is
//! **net energy × its bus DLMP − its true cost**:
//! `P_g·Δt·λ − c_g(P_g)·Δt` for a producer, `−P_d·Δt·λ` for a consumer,
//! `−P_d·Δt·λ − c_DR(P̄_d − P_d)·Δt` for demand response ($; P in MW, Δt in h).
//! After the market, a participant puts its dispatch on the grid: producers
//! inject, consumers set their circuit loads.

use std::any::Any;

use ogg_core::{Agent, Dispatch, GridAction, MarketAction, Result, View};
use ogg_market::testutil::Rng;

use crate::offer::{CostCurve, Offer};

/// ε-greedy learning over markups (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Learner {
    pub markups: Vec<f64>,
    pub epsilon: f64,
    /// Intervals per day: one value table per interval of the day.
    pub periods: usize,
    value: Vec<f64>,
    count: Vec<u32>,
    rng_state: u64,
    last_arm: Option<(usize, usize)>,
}

impl Learner {
    pub fn new(markups: Vec<f64>, epsilon: f64, periods: usize) -> Self {
        let cells = markups.len() * periods.max(1);
        Learner {
            markups,
            epsilon,
            periods: periods.max(1),
            value: vec![0.0; cells],
            count: vec![0; cells],
            rng_state: 0x5eed,
            last_arm: None,
        }
    }
    fn choose(&mut self, interval: usize) -> f64 {
        if self.markups.is_empty() {
            return 1.0;
        }
        let k = self.markups.len();
        let period = interval % self.periods;
        let base = period * k;
        let mut rng = Rng::new(self.rng_state);
        let arm = if let Some(untried) = (0..k).find(|&a| self.count[base + a] == 0) {
            untried
        } else if rng.next_f64() < self.epsilon {
            rng.below(k)
        } else {
            (0..k)
                .max_by(|&a, &b| {
                    self.value[base + a]
                        .total_cmp(&self.value[base + b])
                        .then(b.cmp(&a))
                })
                .unwrap_or(0)
        };
        self.rng_state = rng.next_u64();
        self.last_arm = Some((period, arm));
        self.markups[arm]
    }
    fn learn(&mut self, reward: f64) {
        let Some((period, arm)) = self.last_arm.take() else {
            return;
        };
        let cell = period * self.markups.len() + arm;
        self.count[cell] += 1;
        self.value[cell] += (reward - self.value[cell]) / self.count[cell] as f64;
    }
    /// The markup with the best average reward in each interval of the day.
    pub fn greedy_markups(&self) -> Vec<f64> {
        let k = self.markups.len();
        (0..self.periods)
            .map(|p| {
                (0..k)
                    .filter(|&a| self.count[p * k + a] > 0)
                    .max_by(|&a, &b| self.value[p * k + a].total_cmp(&self.value[p * k + b]))
                    .map_or(1.0, |a| self.markups[a])
            })
            .collect()
    }
}

/// How a participant chooses the markup on its true cost curve.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Truthful,
    /// Markup per interval of the day (cycled).
    Scripted(Vec<f64>),
    Learning(Learner),
}

impl Strategy {
    fn markup(&mut self, interval: usize) -> f64 {
        match self {
            Strategy::Truthful => 1.0,
            Strategy::Scripted(m) if !m.is_empty() => m[interval % m.len()],
            Strategy::Scripted(_) => 1.0,
            Strategy::Learning(l) => l.choose(interval),
        }
    }
    pub fn label(&self) -> &'static str {
        match self {
            Strategy::Truthful => "truthful",
            Strategy::Scripted(_) => "scripted",
            Strategy::Learning(_) => "learning",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A DER: output in [0, capacity·availability(interval)] at its cost curve.
    Producer {
        capacity_kw: f64,
        availability: Vec<f64>,
        q_min_kvar: f64,
        q_max_kvar: f64,
    },
    /// An inflexible load.
    Consumer,
    /// A flexible load: may curtail up to `flexible_share` of its baseline.
    DemandResponse { flexible_share: f64 },
}

/// A prosumer, consumer or demand-response provider (see the module docs).
#[derive(Debug, Clone)]
pub struct Participant {
    pub name: String,
    pub bus: String,
    pub role: Role,
    /// Consumers: baseline demand (kW) before the profile.
    pub base_kw: f64,
    /// Demand multiplier per interval of the day (cycled; empty = 1).
    pub profile: Vec<f64>,
    pub q_per_p: f64,
    /// True cost: production (producer) or curtailment (demand response), $/h of MW.
    pub true_cost: CostCurve,
    pub strategy: Strategy,
    /// Length of one market interval, hours.
    pub interval_hours: f64,
    /// Circuit loads this participant controls and their share of its demand.
    pub loads: Vec<(String, f64)>,
    actions: Vec<MarketAction>,
    grid_actions: Vec<GridAction>,
    reward: f64,
    last_markup: f64,
    last_offer: Option<Offer>,
    last_dispatch: Option<Dispatch>,
    interval: usize,
}

impl Participant {
    fn new(name: &str, bus: &str, role: Role, base_kw: f64, true_cost: CostCurve) -> Self {
        Participant {
            name: name.into(),
            bus: bus.into(),
            role,
            base_kw,
            profile: Vec::new(),
            q_per_p: 0.0,
            true_cost,
            strategy: Strategy::Truthful,
            interval_hours: 1.0,
            loads: Vec::new(),
            actions: Vec::new(),
            grid_actions: Vec::new(),
            reward: 0.0,
            last_markup: 1.0,
            last_offer: None,
            last_dispatch: None,
            interval: 0,
        }
    }
    pub fn producer(name: &str, bus: &str, capacity_kw: f64, true_cost: CostCurve) -> Self {
        Self::new(
            name,
            bus,
            Role::Producer {
                capacity_kw,
                availability: Vec::new(),
                q_min_kvar: 0.0,
                q_max_kvar: 0.0,
            },
            0.0,
            true_cost,
        )
    }
    pub fn consumer(name: &str, bus: &str, base_kw: f64, q_per_p: f64) -> Self {
        let mut p = Self::new(name, bus, Role::Consumer, base_kw, CostCurve::zero());
        p.q_per_p = q_per_p;
        p
    }
    pub fn demand_response(
        name: &str,
        bus: &str,
        base_kw: f64,
        q_per_p: f64,
        flexible_share: f64,
        true_cost: CostCurve,
    ) -> Self {
        let mut p = Self::new(
            name,
            bus,
            Role::DemandResponse { flexible_share },
            base_kw,
            true_cost,
        );
        p.q_per_p = q_per_p;
        p
    }
    pub fn with_strategy(mut self, s: Strategy) -> Self {
        self.strategy = s;
        self
    }
    pub fn with_profile(mut self, profile: Vec<f64>) -> Self {
        self.profile = profile;
        self
    }
    pub fn with_availability(mut self, a: Vec<f64>) -> Self {
        if let Role::Producer { availability, .. } = &mut self.role {
            *availability = a;
        }
        self
    }
    pub fn with_loads(mut self, loads: Vec<(String, f64)>) -> Self {
        self.loads = loads;
        self
    }
    pub fn with_interval_hours(mut self, h: f64) -> Self {
        self.interval_hours = h;
        self
    }
    pub fn kind(&self) -> &'static str {
        match self.role {
            Role::Producer { .. } => "producer",
            Role::Consumer => "consumer",
            Role::DemandResponse { .. } => "dr",
        }
    }
    pub fn last_markup(&self) -> f64 {
        self.last_markup
    }
    pub fn last_offer(&self) -> Option<&Offer> {
        self.last_offer.as_ref()
    }
    pub fn last_dispatch(&self) -> Option<Dispatch> {
        self.last_dispatch
    }
    /// Baseline demand in an interval, kW.
    pub fn baseline_kw(&self, interval: usize) -> f64 {
        let m = if self.profile.is_empty() {
            1.0
        } else {
            self.profile[interval % self.profile.len()]
        };
        self.base_kw * m
    }

    /// The offer for an interval with a given markup.
    pub fn offer(&self, interval: usize, markup: f64) -> Offer {
        match &self.role {
            Role::Producer {
                capacity_kw,
                availability,
                q_min_kvar,
                q_max_kvar,
            } => {
                let a = if availability.is_empty() {
                    1.0
                } else {
                    availability[interval % availability.len()]
                };
                Offer::generator(
                    &self.name,
                    &self.bus,
                    0.0,
                    capacity_kw * a,
                    self.true_cost.scaled(markup),
                )
                .with_reactive(*q_min_kvar, *q_max_kvar)
            }
            Role::Consumer => Offer::load(
                &self.name,
                &self.bus,
                self.baseline_kw(interval),
                self.q_per_p,
            ),
            Role::DemandResponse { flexible_share } => {
                let base = self.baseline_kw(interval);
                Offer::demand_response(
                    &self.name,
                    &self.bus,
                    base * (1.0 - flexible_share),
                    base,
                    self.q_per_p,
                    self.true_cost.scaled(markup),
                )
            }
        }
    }

    /// Reward of a dispatch (see the module docs), $.
    pub fn reward_of(&self, d: Dispatch, interval: usize) -> f64 {
        let h = self.interval_hours;
        let net_mw = -d.quantity / 1000.0;
        let revenue = net_mw * h * d.price;
        let cost = match &self.role {
            Role::Producer { .. } => {
                self.true_cost.cost(net_mw.max(0.0)) - self.true_cost.cost(0.0)
            }
            Role::Consumer => 0.0,
            Role::DemandResponse { .. } => {
                let curtailed = (self.baseline_kw(interval) - d.quantity).max(0.0) / 1000.0;
                self.true_cost.cost(curtailed) - self.true_cost.cost(0.0)
            }
        };
        revenue - cost * h
    }
}

impl Agent for Participant {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        Some(&self.bus)
    }
    fn seed(&mut self, seed: u64) {
        if let Strategy::Learning(l) = &mut self.strategy {
            l.rng_state = seed;
        }
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        self.reward = 0.0;
        self.last_dispatch = None;
        Ok(())
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        self.interval = view.grid_step;
        let markup = match self.role {
            Role::Consumer => 1.0,
            _ => self.strategy.markup(self.interval),
        };
        self.last_markup = markup;
        let offer = self.offer(self.interval, markup);
        self.actions = vec![offer.to_action()];
        self.last_offer = Some(offer);
        Ok(())
    }
    fn observe_market(&mut self, view: &View) -> Result<()> {
        let d = match (view.market, view.caller) {
            (Some(m), Some(i)) => m.dispatch(i),
            _ => None,
        };
        self.last_dispatch = d;
        self.reward = d.map_or(0.0, |d| self.reward_of(d, self.interval));
        if let Strategy::Learning(l) = &mut self.strategy {
            if d.is_some() {
                l.learn(self.reward);
            }
        }
        Ok(())
    }
    fn set_grid_actions(&mut self, _view: &View) -> Result<()> {
        self.grid_actions.clear();
        match self.role {
            Role::Producer { .. } => {
                let kw = self.last_dispatch.map_or(0.0, |d| -d.quantity);
                if kw != 0.0 {
                    self.grid_actions.push(GridAction::InjectAtBus {
                        bus: self.bus.clone(),
                        kw,
                        kvar: 0.0,
                    });
                }
            }
            _ => {
                // Without a dispatch (infeasible market) the load draws its baseline.
                let kw = self
                    .last_dispatch
                    .map_or(self.baseline_kw(self.interval), |d| d.quantity);
                for (load, share) in &self.loads {
                    self.grid_actions.push(GridAction::SetLoad {
                        element: load.clone(),
                        kw: kw * share,
                        kvar: Some(kw * share * self.q_per_p),
                    });
                }
            }
        }
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &self.actions
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.grid_actions
    }
    fn reward(&self) -> f64 {
        self.reward
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("markup".into(), self.last_markup));
    }
    fn clone_box(&self) -> Box<dyn Agent> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
