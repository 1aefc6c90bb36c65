//! [`Prosumer`]: a PV home owner that trades peer to peer and learns by
//! quantal response.
//!
//! # Market side
//! At each market step it forecasts its block (PV, non-thermal load, thermal
//! load net of what its heat store still holds) and registers as a producer
//! (forecast surplus over the block > 0: it offers its surplus per grid step)
//! or a consumer (it asks for its deficit per grid step, plus the room left
//! in its heat store: pre-heating with cheap peer-to-peer energy). A base-case
//! agent instead has a fixed role and quantity ([`Prosumer::trader`]).
//! When matched it bids from its policy for that role; it keeps one
//! [`QrLearner`] per role, so roles may switch from block to block.
//!
//! # Physical side (one grid step)
//! The heat store serves the thermal load first. Own PV serves own load
//! next. A producer's remaining surplus goes to its contract (delivered up
//! to what it actually has: forecast errors leave the consumer short), then
//! into its own heat store; the rest is curtailed (this market has no
//! feed-in tariff). A consumer draws its need and, when its contract
//! exceeds the need, stores the rest as heat (up to the store's room).
//! It tells the grid `ScaleLoad` for its loads (need + storing) and
//! `InjectAtBus` for the PV it uses. [`StepPhysics`] keeps the numbers for
//! settlement and for the grid-feasibility check.

use std::any::Any;
use std::sync::Arc;

use ogg_core::rng::SplitMix64;
use ogg_core::{Agent, Error, GridAction, MarketAction, Result, View};

use crate::error::P2pError;
use crate::game::Role;
use crate::learner::{Estimator, QrLearner};
use crate::market::{p2p_market, Phase, BUY, SELL};
use crate::profiles::Profiles;
use crate::qr::QuantalResponse;

/// A heat store: thermal inertia of the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatStore {
    pub capacity_kwh: f64,
    /// Share of the stored energy lost per grid step.
    pub loss_per_step: f64,
}

/// What the prosumer did physically in its last grid step (kWh over the step).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepPhysics {
    pub grid_step: usize,
    pub role: Option<Role>,
    pub pv: f64,
    pub pv_used: f64,
    pub curtailed: f64,
    /// Load served this step (non-thermal + thermal not covered by the store).
    pub need: f64,
    /// Energy put into the heat store this step, from own PV and from the contract.
    pub charge_own: f64,
    pub charge_contract: f64,
    /// Producer: scheduled and delivered contract energy. Consumer: scheduled.
    pub scheduled: f64,
    pub delivered: f64,
    /// Heat store level after the step.
    pub stored: f64,
}

impl StepPhysics {
    /// What the bus draws from the grid (negative: exports), kWh.
    pub fn net_draw(&self) -> f64 {
        self.need + self.charge_own + self.charge_contract - self.pv_used
    }
}

/// A PV home owner (see the module docs).
#[derive(Debug, Clone)]
pub struct Prosumer {
    name: String,
    bus: Option<String>,
    /// The feeder's load elements at the bus and their nominal kW (for `ScaleLoad`).
    loads: Vec<(String, f64)>,
    profiles: Option<Profiles>,
    /// Base case: a fixed role and energy per market step.
    fixed: Option<(Role, f64)>,
    store: Option<HeatStore>,
    stored: f64,
    learners: [QrLearner; 2],
    rng: SplitMix64,
    market_actions: Vec<MarketAction>,
    grid_actions: Vec<GridAction>,
    reward: f64,
    physics: StepPhysics,
    /// Stage payoffs of the current/last episode.
    episode_payoff: f64,
    episode_rounds: usize,
}

impl Prosumer {
    fn with_learners(name: &str, qr: Arc<QuantalResponse>, estimator: Estimator, step: f64) -> std::result::Result<Self, P2pError> {
        Ok(Prosumer {
            name: name.to_string(),
            bus: None,
            loads: Vec::new(),
            profiles: None,
            fixed: None,
            store: None,
            stored: 0.0,
            learners: [
                QrLearner::new(Role::Producer, qr.clone(), estimator, step)?,
                QrLearner::new(Role::Consumer, qr, estimator, step)?,
            ],
            rng: SplitMix64::new(0),
            market_actions: Vec::new(),
            grid_actions: Vec::new(),
            reward: 0.0,
            physics: StepPhysics::default(),
            episode_payoff: 0.0,
            episode_rounds: 0,
        })
    }

    /// A base-case trader: always `role`, `kwh` per market step (spread evenly
    /// over the block), no physical side.
    pub fn trader(name: &str, role: Role, kwh: f64, qr: Arc<QuantalResponse>, estimator: Estimator, step: f64) -> std::result::Result<Self, P2pError> {
        if !kwh.is_finite() || kwh <= 0.0 {
            return Err(P2pError::Input(format!("agent '{name}': quantity must be > 0 kWh (got {kwh})")));
        }
        let mut p = Self::with_learners(name, qr, estimator, step)?;
        p.fixed = Some((role, kwh));
        Ok(p)
    }

    /// A PV home owner at `bus` with its day's series; `loads` are the
    /// feeder's load elements it drives (name, nominal kW).
    #[allow(clippy::too_many_arguments)] // the home's data, then the learner's three settings
    pub fn home(
        name: &str,
        bus: &str,
        loads: Vec<(String, f64)>,
        profiles: Profiles,
        store: Option<HeatStore>,
        qr: Arc<QuantalResponse>,
        estimator: Estimator,
        step: f64,
    ) -> std::result::Result<Self, P2pError> {
        if profiles.steps() == 0 {
            return Err(P2pError::Input(format!("agent '{name}': empty profiles")));
        }
        if loads.iter().map(|l| l.1).sum::<f64>() <= 0.0 {
            return Err(P2pError::Input(format!("agent '{name}': its bus '{bus}' has no load with kW > 0 to drive")));
        }
        let mut p = Self::with_learners(name, qr, estimator, step)?;
        p.bus = Some(bus.to_string());
        p.loads = loads;
        p.profiles = Some(profiles);
        p.store = store;
        Ok(p)
    }

    /// Starts both learners from these policies (e.g. a learned equilibrium).
    pub fn with_policies(mut self, producer: &[f64], consumer: &[f64]) -> std::result::Result<Self, P2pError> {
        let [p, c] = self.learners.clone();
        self.learners = [p.with_policy(producer)?, c.with_policy(consumer)?];
        Ok(self)
    }

    /// The current policy for `role`.
    pub fn policy(&self, role: Role) -> &[f64] {
        self.learners[role.index()].policy()
    }
    pub fn learner(&self, role: Role) -> &QrLearner {
        &self.learners[role.index()]
    }
    pub fn fixed_role(&self) -> Option<Role> {
        self.fixed.map(|f| f.0)
    }
    pub fn profiles(&self) -> Option<&Profiles> {
        self.profiles.as_ref()
    }
    /// The last grid step's physics.
    pub fn physics(&self) -> &StepPhysics {
        &self.physics
    }
    /// Mean stage payoff per round of the current/last episode (¢/kWh).
    pub fn episode_mean_payoff(&self) -> f64 {
        if self.episode_rounds == 0 {
            f64::NAN
        } else {
            self.episode_payoff / self.episode_rounds as f64
        }
    }
    pub fn stored_kwh(&self) -> f64 {
        self.stored
    }

    /// The registration for the block starting at `grid_step` (None: nothing to trade).
    fn registration(&self, grid_step: usize, interval: usize) -> Option<MarketAction> {
        if let Some((role, kwh)) = self.fixed {
            let name = if role == Role::Producer { SELL } else { BUY };
            return Some(MarketAction::Custom { name: name.into(), values: vec![kwh / interval as f64; interval] });
        }
        let p = self.profiles.as_ref()?;
        let n = p.steps();
        let mut store = self.stored;
        let mut net = Vec::with_capacity(interval);
        for k in 0..interval {
            let t = (grid_step + k) % n;
            let from_store = store.min(p.heat_forecast[t]);
            store -= from_store;
            net.push(p.pv_forecast[t] - p.base_forecast[t] - (p.heat_forecast[t] - from_store));
        }
        let total: f64 = net.iter().sum();
        let (name, values): (&str, Vec<f64>) = if total > 0.0 {
            (SELL, net.iter().map(|s| s.max(0.0)).collect())
        } else {
            // Deficits, plus the room the heat store will have (spread evenly).
            let room = self.store.map_or(0.0, |s| (s.capacity_kwh - store).max(0.0)) / interval as f64;
            (BUY, net.iter().map(|s| (-s).max(0.0) + room).collect())
        };
        (values.iter().sum::<f64>() > 1e-9).then(|| MarketAction::Custom { name: name.into(), values })
    }

    fn physical_step(&mut self, grid_step: usize, scheduled: Option<crate::market::Scheduled>) -> StepPhysics {
        let Some(p) = self.profiles.as_ref() else { return StepPhysics::default() };
        let t = grid_step % p.steps();
        let (pv, base, heat) = (p.pv[t], p.base[t], p.heat[t]);
        let capacity = self.store.map_or(0.0, |s| s.capacity_kwh);
        let from_store = self.stored.min(heat);
        self.stored -= from_store;
        let need = base + heat - from_store;
        let self_use = pv.min(need);
        let mut surplus = pv - self_use;
        let mut room = (capacity - self.stored).max(0.0);
        let mut out = StepPhysics { grid_step, pv, need, role: scheduled.map(|s| s.role), ..Default::default() };
        if let Some(s) = scheduled {
            out.scheduled = s.kwh;
            match s.role {
                Role::Producer => {
                    out.delivered = surplus.min(s.kwh);
                    surplus -= out.delivered;
                }
                Role::Consumer => {
                    // Contract energy beyond the need goes into the heat store.
                    let residual = need - self_use;
                    out.charge_contract = (s.kwh - residual).max(0.0).min(room);
                    room -= out.charge_contract;
                }
            }
        }
        out.charge_own = surplus.min(room);
        out.curtailed = surplus - out.charge_own;
        out.pv_used = self_use + out.delivered + out.charge_own;
        self.stored += out.charge_own + out.charge_contract;
        if let Some(s) = self.store {
            self.stored *= 1.0 - s.loss_per_step;
        }
        out.stored = self.stored;
        out
    }
}

impl Agent for Prosumer {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        self.bus.as_deref()
    }
    fn seed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        self.stored = 0.0;
        self.physics = StepPhysics::default();
        self.reward = 0.0;
        Ok(())
    }

    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        self.market_actions.clear();
        let market = p2p_market(view, &self.name)?;
        let me = view.caller.ok_or_else(|| Error::module(&self.name, "called without its index"))?;
        match market.phase() {
            Phase::Registration => {
                if let Some(action) = self.registration(view.grid_step, market.config().interval) {
                    self.market_actions.push(action);
                }
            }
            Phase::Bargaining { next } => {
                if let Some((_, role, _)) = market.pair_of(me) {
                    let learner = &mut self.learners[role.index()];
                    if next == 0 {
                        learner.begin_episode();
                        self.episode_payoff = 0.0;
                        self.episode_rounds = 0;
                    }
                    let a = learner.sample(&mut self.rng);
                    self.market_actions.push(MarketAction::Price(market.game().actions[a]));
                }
            }
            Phase::Idle | Phase::Done => {}
        }
        Ok(())
    }

    fn observe_market(&mut self, view: &View) -> Result<()> {
        self.reward = 0.0;
        let market = p2p_market(view, &self.name)?;
        let Some(me) = view.caller else { return Ok(()) };
        let Some(outcome) = market.last_outcome(me).copied() else { return Ok(()) };
        let learner = &mut self.learners[outcome.role.index()];
        learner.observe(outcome.partner_bid);
        self.reward = outcome.payoff;
        self.episode_payoff += outcome.payoff;
        self.episode_rounds += 1;
        if market.negotiation_finished() {
            // The exact estimator reads the partner's policy (if it is a Prosumer).
            let partner = match learner.estimator() {
                Estimator::Exact => view.agent(outcome.partner).and_then(|a| a.as_any().downcast_ref::<Prosumer>()),
                Estimator::Sampled => None,
            };
            learner.end_episode(partner.map(|p| p.policy(outcome.role.other())));
        }
        Ok(())
    }

    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        self.grid_actions.clear();
        if self.profiles.is_none() {
            return Ok(());
        }
        let market = p2p_market(view, &self.name)?;
        let scheduled = view.caller.and_then(|me| market.scheduled(me, view.grid_step));
        self.physics = self.physical_step(view.grid_step, scheduled);
        let step_h = self.profiles.as_ref().map_or(1.0, |p| p.step_h);
        let nominal: f64 = self.loads.iter().map(|l| l.1).sum();
        let load_kw = (self.physics.need + self.physics.charge_own + self.physics.charge_contract) / step_h;
        for (element, _) in &self.loads {
            self.grid_actions.push(GridAction::ScaleLoad { element: element.clone(), multiplier: load_kw / nominal });
        }
        if let Some(bus) = &self.bus {
            if self.physics.pv_used > 0.0 {
                self.grid_actions.push(GridAction::InjectAtBus { bus: bus.clone(), kw: self.physics.pv_used / step_h, kvar: 0.0 });
            }
        }
        Ok(())
    }

    fn market_actions(&self) -> &[MarketAction] {
        &self.market_actions
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.grid_actions
    }
    fn reward(&self) -> f64 {
        self.reward
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("stored_kwh".into(), self.stored));
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
    use crate::game::BargainGame;
    use crate::market::Scheduled;
    use crate::qr::Dynamics;

    fn home(pv: f64, base: f64, heat: f64, capacity: f64) -> Prosumer {
        let qr = Arc::new(QuantalResponse::new(BargainGame::paper(), 1.0, Dynamics::Eq11).unwrap());
        let v = |x: f64| vec![x; 4];
        let profiles = Profiles {
            step_h: 0.25,
            pv: v(pv),
            pv_forecast: v(pv),
            base: v(base),
            base_forecast: v(base),
            heat: v(heat),
            heat_forecast: v(heat),
        };
        let store = (capacity > 0.0).then_some(HeatStore { capacity_kwh: capacity, loss_per_step: 0.0 });
        Prosumer::home("h", "b", vec![("l".into(), 10.0)], profiles, store, qr, Estimator::Sampled, 1.0).unwrap()
    }

    fn scheduled(role: Role, kwh: f64) -> Option<Scheduled> {
        Some(Scheduled { role, partner: 1, pair: 0, kwh, price: 5.0 })
    }

    #[test]
    fn producer_delivers_what_it_has_then_stores_then_curtails() {
        // PV 10, load 2 + 1: surplus 7; contract 5 → delivered 5, 2 into a store of 1.5, 0.5 curtailed.
        let mut h = home(10.0, 2.0, 1.0, 1.5);
        let s = h.physical_step(0, scheduled(Role::Producer, 5.0));
        assert_eq!((s.delivered, s.charge_own, s.curtailed), (5.0, 1.5, 0.5));
        assert_eq!(s.pv_used, 3.0 + 5.0 + 1.5);
        assert_eq!(s.net_draw(), -5.0, "the bus exports exactly the delivery");
        // Next step the store serves the heat first: need = 2 + (1 − 1) = 2.
        let s = h.physical_step(1, scheduled(Role::Producer, 20.0));
        assert_eq!(s.need, 2.0);
        assert_eq!(s.delivered, 8.0, "short of the contract: delivers all it has");
    }

    #[test]
    fn consumer_stores_contract_energy_beyond_its_need() {
        // No PV, need 2 + 1 = 3; contract 5 → 2 more stored (room 4).
        let mut h = home(0.0, 2.0, 1.0, 4.0);
        let s = h.physical_step(0, scheduled(Role::Consumer, 5.0));
        assert_eq!((s.need, s.charge_contract, s.net_draw()), (3.0, 2.0, 5.0));
        assert_eq!(h.stored_kwh(), 2.0);
        // The stored heat carries over: the next step needs 2 + (1 − 1) only.
        let s = h.physical_step(1, None);
        assert_eq!((s.need, s.net_draw()), (2.0, 2.0));
        assert_eq!(h.stored_kwh(), 1.0);
        // Registration accounts for the store and asks for its room.
        let MarketAction::Custom { name, values } = h.registration(2, 2).unwrap() else { panic!() };
        assert_eq!(name, BUY);
        // Heat 1 per step: the store (1) covers step 2; deficits 2 and 3, plus room (4 − 0)/2 each.
        assert_eq!(values, vec![2.0 + 2.0, 3.0 + 2.0]);
    }

    #[test]
    fn a_sunny_home_registers_as_a_producer() {
        let h = home(6.0, 2.0, 1.0, 0.0);
        let MarketAction::Custom { name, values } = h.registration(0, 4).unwrap() else { panic!() };
        assert_eq!((name.as_str(), values), (SELL, vec![3.0; 4]));
    }
}
