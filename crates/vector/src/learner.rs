//! [`LearningAgent`]: an `ogg_core::Agent` whose next action is set from a
//! row of numbers (one row of the batched action array) instead of a script.
//!
//! It takes the place of a scenario's agent and keeps that agent's hidden
//! values, so its reward is the same as the scripted agent's would be:
//! a UC1 producer earns p·q − c(q), a consumer u(q) − p·q (the paper's r_s, r_d).

use std::any::Any;

use ogg_core::{Agent, Dispatch, GridAction, MarketAction, Result, ScriptedLoadAgent, View};
use ogg_dlmp::agents::{Participant, Strategy};
use ogg_market::agents::{Consumer, OfferStrategy, Producer};

use crate::spec::ActionKind;

/// Whose place the learner takes, with its hidden values.
#[derive(Debug, Clone)]
pub enum Role {
    /// A UC1 producer (cost curve, capacity); offers, injects its dispatch.
    Producer(Producer),
    /// A UC1 consumer (utility curve, demand); bids, scales its loads.
    Consumer(Consumer),
    /// A DLMP market participant (producer, demand response; use case 3): it
    /// states its true cost × (1 + markup) and keeps its own settlement and
    /// grid actions (the learner delegates to it).
    Dlmp(Box<Participant>),
    /// A P2P prosumer (use case 2): it registers its surplus/need and delivers
    /// its contracts itself; the learner chooses its bid in the bargaining
    /// rounds (`MarketAction::Price` = the level its action indexes).
    /// `scale` (kWh) normalises its traded quantity in observations.
    P2p { inner: Box<ogg_p2p::agents::Prosumer>, scale: f64 },
    /// An agent driving one load of the grid (the action is its multiplier).
    Load { element: String, bus: Option<String> },
    /// Any other agent (e.g. a do-nothing agent): no hidden values; its reward
    /// is its cash flow −price·quantity.
    Plain { bus: Option<String> },
}

impl Role {
    /// The role of an existing agent (the one the learner replaces).
    pub fn of(agent: &dyn Agent) -> Role {
        if let Some(p) = agent.as_any().downcast_ref::<Producer>() {
            let mut p = p.clone();
            p.strategy = OfferStrategy::Truthful;
            return Role::Producer(p);
        }
        if let Some(c) = agent.as_any().downcast_ref::<Consumer>() {
            return Role::Consumer(c.clone());
        }
        if let Some(p) = agent.as_any().downcast_ref::<Participant>() {
            let mut p = p.clone();
            p.strategy = Strategy::Scripted(vec![1.0]);
            return Role::Dlmp(Box::new(p));
        }
        if let Some(p) = agent.as_any().downcast_ref::<ogg_p2p::agents::Prosumer>() {
            return Role::P2p { inner: Box::new(p.clone()), scale: 1.0 };
        }
        if let Some(s) = agent.as_any().downcast_ref::<ScriptedLoadAgent>() {
            return Role::Load { element: s.element().to_string(), bus: agent.bus().map(str::to_string) };
        }
        Role::Plain { bus: agent.bus().map(str::to_string) }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Role::Producer(_) => "producer",
            Role::Consumer(_) => "consumer",
            Role::Dlmp(p) => p.kind(),
            Role::P2p { .. } => "prosumer",
            Role::Load { .. } => "load",
            Role::Plain { .. } => "plain",
        }
    }

    /// The quantity that normalises its dispatch in observations (kW).
    pub fn quantity_scale(&self) -> f64 {
        match self {
            Role::Producer(p) => p.capacity_kw,
            Role::Consumer(c) => c.demand_kw.max(1e-9),
            Role::Dlmp(p) => match p.role {
                ogg_dlmp::agents::Role::Producer { capacity_kw, .. } => capacity_kw.max(1e-9),
                _ => p.base_kw.max(1e-9),
            },
            Role::P2p { scale, .. } => scale.max(1e-9),
            _ => 1.0,
        }
    }
}

/// An agent acting on the numbers it is given (see the module docs).
#[derive(Debug, Clone)]
pub struct LearningAgent {
    name: String,
    pub role: Role,
    kind: ActionKind,
    /// The action row, as given (clipped to its bounds when applied).
    action: Vec<f64>,
    market_actions: Vec<MarketAction>,
    grid_actions: Vec<GridAction>,
    last_dispatch: Option<Dispatch>,
    last_reward: f64,
}

impl LearningAgent {
    /// A learner in the place of `agent`. Fails when the action kind does not
    /// fit the role (e.g. a load multiplier for a producer).
    pub fn replacing(agent: &dyn Agent, kind: ActionKind) -> std::result::Result<Self, String> {
        let role = Role::of(agent);
        let fits = match (&role, &kind) {
            (Role::Load { .. }, ActionKind::Load { .. }) => true,
            (Role::Load { .. }, _) => false,
            (_, ActionKind::Load { .. }) => false,
            (Role::Dlmp(_), ActionKind::Curve { .. }) => false,
            (Role::P2p { .. }, ActionKind::MarkupIndex { .. }) => true,
            (Role::P2p { .. }, _) => false,
            _ => true,
        };
        if !fits {
            return Err(format!(
                "agent '{}' is a {} agent: action = \"{}\" does not fit it ({})",
                agent.name(),
                role.kind(),
                kind.name(),
                if matches!(role, Role::Load { .. }) {
                    "an agent driving a load learns with action = \"load\""
                } else if matches!(role, Role::P2p { .. }) {
                    "a P2P prosumer bids a price level: action = \"markup_index\" (the game's bid levels)"
                } else if matches!(role, Role::Dlmp(_)) {
                    "a DLMP participant states its cost curve: it learns a markup (\"markup\" or \"markup_index\")"
                } else {
                    "action = \"load\" is for agents driving a load"
                }
            ));
        }
        let dim = kind.dim();
        let mut learner = LearningAgent {
            name: agent.name().to_string(),
            role,
            kind,
            action: vec![0.0; dim],
            market_actions: Vec::with_capacity(1),
            grid_actions: Vec::new(),
            last_dispatch: None,
            last_reward: 0.0,
        };
        if let ActionKind::Load { .. } = learner.kind {
            learner.action[0] = 1.0;
        }
        Ok(learner)
    }

    pub fn action_kind(&self) -> &ActionKind {
        &self.kind
    }

    /// Sets the next action from one row (`action_kind().dim()` numbers);
    /// values are clipped to the action bounds, an index is rounded.
    pub fn set_action(&mut self, row: &[f64]) -> std::result::Result<(), String> {
        if row.len() != self.action.len() {
            return Err(format!("agent '{}': expected {} action values, got {}", self.name, self.action.len(), row.len()));
        }
        let (low, high) = self.kind.bounds();
        for (k, &x) in row.iter().enumerate() {
            if !x.is_finite() {
                return Err(format!("agent '{}': action value {x} is not finite", self.name));
            }
            self.action[k] = x.clamp(low[k], high[k]);
        }
        if let ActionKind::MarkupIndex { .. } = self.kind {
            self.action[0] = self.action[0].round();
        }
        Ok(())
    }

    /// The current action row (after clipping).
    pub fn action(&self) -> &[f64] {
        &self.action
    }

    /// The markup the action stands for (0 for curves and loads).
    pub fn markup(&self) -> f64 {
        match &self.kind {
            ActionKind::Markup { .. } => self.action[0],
            ActionKind::MarkupIndex { levels } => levels[self.action[0] as usize],
            _ => 0.0,
        }
    }

    /// The action scaled to [0, 1] per component, averaged (an observation).
    pub fn action_fraction(&self) -> f64 {
        let (low, high) = self.kind.bounds();
        let n = self.action.len() as f64;
        self.action
            .iter()
            .zip(low.iter().zip(&high))
            .map(|(x, (l, h))| if h > l { (x - l) / (h - l) } else { 0.0 })
            .sum::<f64>()
            / n
    }

    pub fn last_dispatch(&self) -> Option<Dispatch> {
        self.last_dispatch
    }

    /// Demand of a consumer learner (the environment scales it every step).
    pub fn set_demand(&mut self, kw: f64) {
        if let Role::Consumer(c) = &mut self.role {
            c.demand_kw = kw;
        }
    }

    /// Records a dispatch and its reward (idempotent for the same dispatch).
    pub fn settle(&mut self, d: Option<Dispatch>) {
        self.last_dispatch = d;
        let d = d.unwrap_or_default();
        self.last_reward = match &mut self.role {
            Role::Producer(p) => {
                p.settle(d);
                p.reward()
            }
            Role::Consumer(c) => {
                c.settle(d);
                c.reward()
            }
            Role::Dlmp(p) => p.reward(),
            Role::P2p { inner, .. } => inner.reward(),
            Role::Load { .. } => 0.0,
            Role::Plain { .. } => -d.price * d.quantity,
        };
    }

    fn build_market_action(&mut self) {
        let curve = |p_max: f64, p_min: f64, q_max: f64, q_min: f64| (p_max, p_min, q_max, q_min);
        let quadruple = match (&self.role, &self.kind) {
            (_, ActionKind::Curve { .. }) => {
                let a = &self.action;
                // The market needs q_max > q_min: a zero-width curve offers (almost) nothing.
                let q_min = a[2].min(a[3]);
                Some(curve(a[0].max(a[1]), a[0].min(a[1]), a[2].max(a[3]).max(q_min + 1e-3), q_min))
            }
            (Role::Producer(p), _) => {
                let m = 1.0 + self.markup();
                Some(curve(p.cost_max * m, p.cost_min * m, p.capacity_kw, 0.0))
            }
            (Role::Consumer(c), _) => {
                let m = 1.0 + self.markup();
                Some(curve(c.v_max / m, c.v_min / m, c.demand_kw, c.q_min()))
            }
            _ => None,
        };
        let action = match (quadruple, &self.role) {
            (Some((p_max, p_min, q_max, q_min)), Role::Producer(_)) => MarketAction::Offer { p_max, p_min, q_max, q_min },
            (Some((p_max, p_min, q_max, q_min)), _) => MarketAction::Bid { p_max, p_min, q_max, q_min },
            (None, Role::Load { .. }) => {
                self.market_actions.clear();
                return;
            }
            (None, _) => MarketAction::Custom { name: self.kind.name().into(), values: self.action.clone() },
        };
        // Reuse the vector: one action, replaced in place.
        match self.market_actions.first_mut() {
            Some(slot) => *slot = action,
            None => self.market_actions.push(action),
        }
    }

    fn build_grid_actions(&mut self) {
        let d = self.last_dispatch;
        match &self.role {
            Role::Producer(p) => match (d, p.inject_into_grid) {
                (Some(d), true) => {
                    let kw = -d.quantity;
                    match self.grid_actions.first_mut() {
                        Some(GridAction::InjectAtBus { kw: slot, .. }) => *slot = kw,
                        _ => {
                            self.grid_actions.clear();
                            self.grid_actions.push(GridAction::InjectAtBus { bus: p.bus.clone(), kw, kvar: 0.0 });
                        }
                    }
                }
                _ => self.grid_actions.clear(),
            },
            Role::Consumer(c) => match d {
                Some(d) => {
                    let share = if c.nominal_kw > 0.0 { d.quantity / c.nominal_kw } else { 0.0 };
                    if self.grid_actions.len() != c.loads.len() {
                        self.grid_actions =
                            c.loads.iter().map(|l| GridAction::ScaleLoad { element: l.clone(), multiplier: share }).collect();
                    }
                    for g in &mut self.grid_actions {
                        if let GridAction::ScaleLoad { multiplier, .. } = g {
                            *multiplier = share;
                        }
                    }
                }
                None => self.grid_actions.clear(),
            },
            Role::Load { element, .. } => {
                let m = self.action[0];
                match self.grid_actions.first_mut() {
                    Some(GridAction::ScaleLoad { multiplier, .. }) => *multiplier = m,
                    _ => self.grid_actions = vec![GridAction::ScaleLoad { element: element.clone(), multiplier: m }],
                }
            }
            Role::Plain { .. } | Role::Dlmp(_) | Role::P2p { .. } => self.grid_actions.clear(),
        }
    }
}

fn own_dispatch(view: &View) -> Option<Dispatch> {
    view.market.zip(view.caller).and_then(|(m, i)| m.dispatch(i))
}

impl Agent for LearningAgent {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        match &self.role {
            Role::Producer(p) => Some(&p.bus),
            Role::Consumer(c) => Some(&c.bus),
            Role::Dlmp(p) => Some(&p.bus),
            Role::P2p { inner, .. } => inner.bus(),
            Role::Load { bus, .. } | Role::Plain { bus } => bus.as_deref(),
        }
    }
    fn reset(&mut self, view: &View) -> Result<()> {
        match &mut self.role {
            Role::Dlmp(p) => p.reset(view)?,
            Role::P2p { inner, .. } => inner.reset(view)?,
            _ => {}
        }
        self.last_dispatch = None;
        self.last_reward = 0.0;
        self.grid_actions.clear();
        Ok(())
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        let markup = 1.0 + self.markup();
        if let Role::Dlmp(p) = &mut self.role {
            // The participant offers its cost × this step's factor (its strategy is ours).
            p.strategy = Strategy::Scripted(vec![markup]);
            return p.set_market_actions(view);
        }
        let bid = self.markup();
        if let Role::P2p { inner, .. } = &mut self.role {
            // The prosumer registers as it would; in bargaining rounds its bid is ours.
            inner.set_market_actions(view)?;
            self.market_actions.clear();
            self.market_actions.extend(inner.market_actions().iter().map(|a| match a {
                MarketAction::Price(_) => MarketAction::Price(bid),
                other => other.clone(),
            }));
            return Ok(());
        }
        self.build_market_action();
        Ok(())
    }
    /// Settles against this round's dispatch (the environment calls it after every `market.step`).
    fn observe_market(&mut self, view: &View) -> Result<()> {
        match &mut self.role {
            Role::Dlmp(p) => p.observe_market(view)?,
            Role::P2p { inner, .. } => inner.observe_market(view)?,
            _ => {}
        }
        self.settle(own_dispatch(view));
        Ok(())
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        match &mut self.role {
            Role::Dlmp(p) => return p.set_grid_actions(view),
            Role::P2p { inner, .. } => return inner.set_grid_actions(view),
            _ => {}
        }
        self.build_grid_actions();
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        match &self.role {
            Role::Dlmp(p) => p.market_actions(),
            _ => &self.market_actions,
        }
    }
    fn grid_actions(&self) -> &[GridAction] {
        match &self.role {
            Role::Dlmp(p) => p.grid_actions(),
            Role::P2p { inner, .. } => inner.grid_actions(),
            _ => &self.grid_actions,
        }
    }
    fn seed(&mut self, seed: u64) {
        match &mut self.role {
            Role::Dlmp(p) => p.seed(seed),
            Role::P2p { inner, .. } => inner.seed(seed),
            _ => {}
        }
    }
    fn reward(&self) -> f64 {
        self.last_reward
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("markup".into(), self.markup()));
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
