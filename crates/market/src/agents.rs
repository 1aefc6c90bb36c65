//! Producer and consumer agents of use case 1.
//!
//! Each keeps something hidden from the market: a producer its cost, a
//! consumer its utility. Rewards are the paper's r_s = p_s q_s − c_s(q_s) and
//! r_d = u_d(q_d) − p_d q_d, computed from the dispatch the market reports.
//!
//! An agent settles every round in `observe_market`, which the environment
//! calls right after `market.step`: it reads its own dispatch through the view
//! and computes its reward, so the recorded reward belongs to that round.

use std::any::Any;

use ogg_core::{Agent, Dispatch, GridAction, MarketAction, Result, View};

/// How a producer turns its hidden cost into an offer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OfferStrategy {
    /// Offer the true marginal cost curve.
    Truthful,
    /// Offer prices × (1 + markup); the markup rises by `step` every market
    /// round (from 0 at the first) up to `max`: a scripted strategy.
    ScriptedMarkup { step: f64, max: f64 },
    /// Hill climbing on its own reward: move the markup by `step` in the
    /// current direction each round; reverse when the reward fell. Starts at 0.
    HillClimb { step: f64, max: f64 },
}

/// A producer with a hidden linear marginal cost c'(q) = cost_min + (cost_max − cost_min)·q/capacity.
#[derive(Debug, Clone)]
pub struct Producer {
    pub name: String,
    pub bus: String,
    pub capacity_kw: f64,
    /// Marginal cost at zero output and at capacity, ¢/kWh (equal: a flat cost).
    pub cost_min: f64,
    pub cost_max: f64,
    pub strategy: OfferStrategy,
    /// Whether to send the dispatch to the grid as an injection at the bus.
    pub inject_into_grid: bool,
    markup: f64,
    direction: f64,
    previous_reward: Option<f64>,
    rounds_bid: usize,
    actions: Vec<MarketAction>,
    grid_actions: Vec<GridAction>,
    last_dispatch: Option<Dispatch>,
    last_reward: f64,
}

impl Producer {
    pub fn new(name: &str, bus: &str, capacity_kw: f64, cost_min: f64, cost_max: f64, strategy: OfferStrategy) -> Self {
        Producer {
            name: name.into(),
            bus: bus.into(),
            capacity_kw,
            cost_min,
            cost_max,
            strategy,
            inject_into_grid: true,
            markup: 0.0,
            direction: 1.0,
            previous_reward: None,
            rounds_bid: 0,
            actions: Vec::new(),
            grid_actions: Vec::new(),
            last_dispatch: None,
            last_reward: 0.0,
        }
    }
    /// The feeder-head producer: a flat offer at `price` up to `capacity_kw`.
    pub fn flat(name: &str, bus: &str, capacity_kw: f64, price: f64) -> Self {
        Self::new(name, bus, capacity_kw, price, price, OfferStrategy::Truthful)
    }

    /// Hidden cost of producing q kW for one hour, ¢.
    pub fn cost(&self, q: f64) -> f64 {
        self.cost_min * q + 0.5 * (self.cost_max - self.cost_min) / self.capacity_kw * q * q
    }
    /// The current markup over cost.
    pub fn markup(&self) -> f64 {
        self.markup
    }
    /// The offer it would submit now.
    pub fn offer(&self) -> MarketAction {
        let m = 1.0 + self.markup;
        MarketAction::Offer { p_max: self.cost_max * m, p_min: self.cost_min * m, q_max: self.capacity_kw, q_min: 0.0 }
    }
    /// Records a dispatch and computes r_s = p q − c(q) (q = sold kW).
    pub fn settle(&mut self, d: Dispatch) {
        let sold = (-d.quantity).max(0.0);
        self.last_reward = d.price * sold - self.cost(sold);
        self.last_dispatch = Some(d);
    }
    pub fn last_dispatch(&self) -> Option<Dispatch> {
        self.last_dispatch
    }

    fn adapt(&mut self) {
        match self.strategy {
            OfferStrategy::Truthful => {}
            OfferStrategy::ScriptedMarkup { step, max } => {
                self.markup = (step * self.rounds_bid as f64).min(max);
            }
            OfferStrategy::HillClimb { step, max } => {
                if self.rounds_bid > 0 {
                    if let Some(prev) = self.previous_reward {
                        if self.last_reward < prev {
                            self.direction = -self.direction;
                        }
                    }
                    self.previous_reward = Some(self.last_reward);
                    self.markup = (self.markup + self.direction * step).clamp(0.0, max);
                }
            }
        }
    }
}

fn own_dispatch(view: &View) -> Option<Dispatch> {
    view.market.zip(view.caller).and_then(|(m, i)| m.dispatch(i))
}

impl Agent for Producer {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        Some(&self.bus)
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        self.markup = 0.0;
        self.direction = 1.0;
        self.previous_reward = None;
        self.rounds_bid = 0;
        self.last_dispatch = None;
        self.last_reward = 0.0;
        Ok(())
    }
    fn set_market_actions(&mut self, _view: &View) -> Result<()> {
        self.adapt();
        let offer = self.offer();
        self.actions.clear();
        self.actions.push(offer);
        self.rounds_bid += 1;
        Ok(())
    }
    fn observe_market(&mut self, view: &View) -> Result<()> {
        if let Some(d) = own_dispatch(view) {
            self.settle(d);
        }
        Ok(())
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        let mut used = 0;
        if let Some(d) = own_dispatch(view) {
            if self.inject_into_grid {
                GridAction::put_inject_at_bus(&mut self.grid_actions, 0, &self.bus, -d.quantity, 0.0);
                used = 1;
            }
        }
        self.grid_actions.truncate(used);
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &self.actions
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.grid_actions
    }
    fn reward(&self) -> f64 {
        self.last_reward
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("markup".into(), self.markup));
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

/// A consumer with a hidden marginal utility: `v_max` for its first
/// (1 − flexibility)·demand kW (which it must have), then falling linearly to
/// `v_min` at full demand. It bids this curve truthfully: (v_max, v_min,
/// demand, (1 − flexibility)·demand). Flexibility near 0 with a high v_min is
/// an inelastic consumer; a larger flexibility and lower prices, an elastic one.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub name: String,
    pub bus: String,
    pub demand_kw: f64,
    /// Share of the demand that responds to price, in (0, 1].
    pub flexibility: f64,
    pub v_max: f64,
    pub v_min: f64,
    /// Load elements at the bus to scale by the dispatched share (grid coupling).
    pub loads: Vec<String>,
    /// Total nominal kW of those loads: the grid multiplier is quantity / nominal_kw.
    pub nominal_kw: f64,
    actions: Vec<MarketAction>,
    grid_actions: Vec<GridAction>,
    last_dispatch: Option<Dispatch>,
    last_reward: f64,
}

impl Consumer {
    pub fn new(name: &str, bus: &str, demand_kw: f64, flexibility: f64, v_max: f64, v_min: f64) -> Self {
        Consumer {
            name: name.into(),
            bus: bus.into(),
            demand_kw,
            flexibility,
            v_max,
            v_min,
            loads: Vec::new(),
            nominal_kw: demand_kw,
            actions: Vec::new(),
            grid_actions: Vec::new(),
            last_dispatch: None,
            last_reward: 0.0,
        }
    }
    /// The load elements this consumer stands for, and their total nominal kW.
    pub fn with_loads(mut self, loads: Vec<String>, nominal_kw: f64) -> Self {
        self.loads = loads;
        self.nominal_kw = nominal_kw;
        self
    }
    pub fn q_min(&self) -> f64 {
        (1.0 - self.flexibility) * self.demand_kw
    }
    pub fn bid(&self) -> MarketAction {
        MarketAction::Bid { p_max: self.v_max, p_min: self.v_min, q_max: self.demand_kw, q_min: self.q_min() }
    }
    /// Hidden utility of consuming q kW for one hour, ¢.
    pub fn utility(&self, q: f64) -> f64 {
        let q_min = self.q_min();
        if q <= q_min {
            return self.v_max * q;
        }
        let slope = (self.v_max - self.v_min) / (self.demand_kw - q_min);
        let dq = q - q_min;
        self.v_max * q - 0.5 * slope * dq * dq
    }
    /// Records a dispatch and computes r_d = u(q) − p q.
    pub fn settle(&mut self, d: Dispatch) {
        let q = d.quantity.max(0.0);
        self.last_reward = self.utility(q) - d.price * q;
        self.last_dispatch = Some(d);
    }
    pub fn last_dispatch(&self) -> Option<Dispatch> {
        self.last_dispatch
    }
}

impl Agent for Consumer {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        Some(&self.bus)
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        self.last_dispatch = None;
        self.last_reward = 0.0;
        Ok(())
    }
    fn set_market_actions(&mut self, _view: &View) -> Result<()> {
        let bid = self.bid();
        self.actions.clear();
        self.actions.push(bid);
        Ok(())
    }
    fn observe_market(&mut self, view: &View) -> Result<()> {
        if let Some(d) = own_dispatch(view) {
            self.settle(d);
        }
        Ok(())
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        let mut used = 0;
        if let Some(d) = own_dispatch(view) {
            let share = if self.nominal_kw > 0.0 { d.quantity / self.nominal_kw } else { 0.0 };
            for (k, l) in self.loads.iter().enumerate() {
                GridAction::put_scale_load(&mut self.grid_actions, k, l, share);
            }
            used = self.loads.len();
        }
        self.grid_actions.truncate(used);
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &self.actions
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.grid_actions
    }
    fn reward(&self) -> f64 {
        self.last_reward
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewards_follow_the_paper() {
        let mut p = Producer::new("g", "b", 100.0, 2.0, 6.0, OfferStrategy::Truthful);
        // c(q) = 2q + 0.02 q²; at 50 kW sold for 5 ¢: 250 − (100 + 50) = 100.
        p.settle(Dispatch { price: 5.0, quantity: -50.0 });
        assert!((p.reward() - 100.0).abs() < 1e-12);
        let mut c = Consumer::new("d", "b", 10.0, 0.5, 20.0, 10.0);
        // u(q) = 20·5 + ∫_5^q (20 − 2(x−5)) dx; at q = 8: 100 + 60 − 9 = 151; pays 8·12.
        c.settle(Dispatch { price: 12.0, quantity: 8.0 });
        assert!((c.reward() - (151.0 - 96.0)).abs() < 1e-12);
        assert_eq!(c.bid(), MarketAction::Bid { p_max: 20.0, p_min: 10.0, q_max: 10.0, q_min: 5.0 });
    }

    #[test]
    fn scripted_markup_rises_then_caps() {
        let mut p = Producer::new("g", "b", 100.0, 2.0, 6.0, OfferStrategy::ScriptedMarkup { step: 0.1, max: 0.25 });
        let mut seen = Vec::new();
        for _ in 0..5 {
            p.adapt();
            p.rounds_bid += 1;
            seen.push(p.markup());
        }
        assert_eq!(seen, vec![0.0, 0.1, 0.2, 0.25, 0.25]);
    }
}
