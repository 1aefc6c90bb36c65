//! [`AuctionMarket`]: the auction as an `ogg_core::Market`.
//!
//! `reset` takes the network from the grid (`Grid::topology()`), unless a
//! network was given, then applies the user's line limits. `step` collects
//! every agent's `MarketAction::Bid` (buy) and `MarketAction::Offer` (sell) at
//! the agent's bus, clears, and stores one [`Dispatch`] per agent
//! (quantity + bought, − sold; price = the agent's settlement price).

use std::any::Any;
use std::collections::HashMap;

use ogg_core::{Dispatch, Market, MarketAction, Result, Topology, View};

use crate::auction::{place, Auctioneer, ClearOptions, Clearing, PlacedOrder, Status};
use crate::error::MarketError;
use crate::network::RadialNetwork;
use crate::order::{Curve, Order, Side};

/// A user line limit: by the two buses, or by branch name (`from` = name, `to` empty).
#[derive(Debug, Clone, PartialEq)]
pub struct LimitOverride {
    pub from: String,
    pub to: String,
    pub limit_kw: f64,
}

impl LimitOverride {
    pub fn between(from: &str, to: &str, limit_kw: f64) -> Self {
        LimitOverride { from: from.into(), to: to.into(), limit_kw }
    }
    pub fn branch(name: &str, limit_kw: f64) -> Self {
        LimitOverride { from: name.into(), to: String::new(), limit_kw }
    }
    pub fn apply(&self, net: &mut RadialNetwork) -> std::result::Result<(), MarketError> {
        if self.to.is_empty() {
            net.set_limit_by_name(&self.from, self.limit_kw)
        } else {
            net.set_limit(&self.from, &self.to, self.limit_kw)
        }
    }
}

#[derive(Clone)]
pub struct AuctionMarket {
    name: String,
    /// A fixed network (else the grid's topology at each reset).
    fixed_network: Option<RadialNetwork>,
    pub limits: Vec<LimitOverride>,
    /// Market rounds per grid step before `cleared()` (default 1).
    pub rounds_per_step: usize,
    /// Whether an infeasible market stops the environment with an error
    /// (default false: dispatch nothing, record the reason, carry on).
    pub infeasible_is_error: bool,
    auctioneer: Auctioneer,
    network: Option<RadialNetwork>,
    source_topology: Option<Topology>,
    rounds_done: usize,
    /// Environment agent index → (dispatch, bus id).
    dispatch: HashMap<usize, (Dispatch, usize)>,
    last: Option<Clearing>,
    last_orders: Vec<PlacedOrder>,
    last_owner: Vec<usize>,
    /// Reason of the last infeasible clearing.
    pub last_infeasibility: Option<String>,
}

impl std::fmt::Debug for AuctionMarket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuctionMarket").field("name", &self.name).field("rounds_per_step", &self.rounds_per_step).finish()
    }
}

impl Default for AuctionMarket {
    fn default() -> Self {
        Self::new(ClearOptions::default())
    }
}

impl AuctionMarket {
    pub fn new(options: ClearOptions) -> Self {
        AuctionMarket {
            name: "auction".into(),
            fixed_network: None,
            limits: Vec::new(),
            rounds_per_step: 1,
            infeasible_is_error: false,
            auctioneer: Auctioneer::new(options),
            network: None,
            source_topology: None,
            rounds_done: 0,
            dispatch: HashMap::new(),
            last: None,
            last_orders: Vec::new(),
            last_owner: Vec::new(),
            last_infeasibility: None,
        }
    }
    /// Clears on this network instead of the grid's topology.
    pub fn with_network(mut self, net: RadialNetwork) -> Self {
        self.fixed_network = Some(net);
        self
    }
    pub fn with_limits(mut self, limits: Vec<LimitOverride>) -> Self {
        self.limits = limits;
        self
    }
    pub fn with_rounds(mut self, rounds: usize) -> Self {
        self.rounds_per_step = rounds.max(1);
        self
    }
    /// The network in use (after the last reset).
    pub fn network(&self) -> Option<&RadialNetwork> {
        self.network.as_ref()
    }
    /// The last clearing, its orders and the agent index owning each order.
    pub fn last_clearing(&self) -> Option<(&Clearing, &[PlacedOrder], &[usize])> {
        self.last.as_ref().map(|c| (c, self.last_orders.as_slice(), self.last_owner.as_slice()))
    }
    pub fn options(&self) -> ClearOptions {
        self.auctioneer.options
    }

    fn build_network(&mut self, view: &View) -> std::result::Result<(), MarketError> {
        let base = match &self.fixed_network {
            Some(net) => {
                if self.network.is_some() {
                    return Ok(());
                }
                net.clone()
            }
            None => {
                let topo = view.grid.and_then(|g| g.topology()).ok_or_else(|| {
                    MarketError::Network(
                        "the auction needs a network: the grid provides no topology and none was given".into(),
                    )
                })?;
                if self.network.is_some() && self.source_topology.as_ref() == Some(topo) {
                    return Ok(());
                }
                self.source_topology = Some(topo.clone());
                RadialNetwork::from_topology(topo)?
            }
        };
        let mut net = base;
        for l in &self.limits {
            l.apply(&mut net)?;
        }
        self.network = Some(net);
        Ok(())
    }

    /// Collects the agents' orders (validated, placed) and their owners.
    fn collect(&self, view: &View, net: &RadialNetwork) -> std::result::Result<(Vec<PlacedOrder>, Vec<usize>), MarketError> {
        let mut orders = Vec::new();
        let mut owners = Vec::new();
        for (index, agent) in view.agents() {
            for action in agent.market_actions() {
                let (side, p_max, p_min, q_max, q_min) = match *action {
                    MarketAction::Bid { p_max, p_min, q_max, q_min } => (Side::Buy, p_max, p_min, q_max, q_min),
                    MarketAction::Offer { p_max, p_min, q_max, q_min } => (Side::Sell, p_max, p_min, q_max, q_min),
                    _ => continue, // other action kinds are for other markets
                };
                let bus = agent.bus().ok_or_else(|| MarketError::InvalidOrder {
                    agent: agent.name().to_string(),
                    reason: "the agent has no bus, so its order cannot be placed".into(),
                })?;
                let order = Order::new(agent.name(), bus, side, Curve::new(p_max, p_min, q_max, q_min));
                orders.extend(place(net, std::slice::from_ref(&order))?);
                owners.push(index);
            }
        }
        Ok((orders, owners))
    }
}

impl Market for AuctionMarket {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self, view: &View) -> Result<()> {
        self.rounds_done = 0;
        self.dispatch.clear();
        self.build_network(view)?;
        Ok(())
    }

    fn step(&mut self, view: &View) -> Result<()> {
        if self.network.is_none() {
            self.build_network(view)?;
        }
        let net = self.network.as_ref().expect("built above");
        let (orders, owners) = self.collect(view, net)?;
        let clearing = self.auctioneer.clear(net, &orders)?;
        self.dispatch.clear();
        self.last_infeasibility = None;
        match &clearing.status {
            Status::Cleared => {
                for (k, &owner) in owners.iter().enumerate() {
                    let signed = orders[k].side.sign() * clearing.quantity[k];
                    let entry = self.dispatch.entry(owner).or_insert((Dispatch { price: 0.0, quantity: 0.0 }, orders[k].bus));
                    // An agent with several orders: net quantity, price of its (last) bus.
                    entry.0.quantity += signed;
                    entry.0.price = clearing.price[k];
                }
            }
            Status::Infeasible { reason } => {
                if self.infeasible_is_error {
                    return Err(ogg_core::Error::module(self.name.clone(), format!("infeasible market: {reason}")));
                }
                self.last_infeasibility = Some(reason.clone());
            }
        }
        self.last = Some(clearing);
        self.last_orders = orders;
        self.last_owner = owners;
        self.rounds_done += 1;
        Ok(())
    }

    fn cleared(&self) -> bool {
        self.rounds_done >= self.rounds_per_step
    }

    fn dispatch(&self, index: usize) -> Option<Dispatch> {
        self.dispatch.get(&index).map(|d| d.0)
    }

    /// Per agent: its bus price and the congestion component (bus price − root price).
    fn record_extra(&self, index: usize, out: &mut Vec<(String, f64)>) {
        if let (Some((_, bus)), Some(c), Some(net)) = (self.dispatch.get(&index), &self.last, &self.network) {
            out.push(("bus_price".into(), c.bus_price[*bus]));
            out.push(("congestion_price".into(), c.bus_price[*bus] - c.bus_price[net.root]));
        }
    }

    /// Per grid step: flow and congestion price of every limited line, total rent, KKT.
    fn record_step_extra(&self, out: &mut Vec<(String, f64)>) {
        let (Some(c), Some(net)) = (&self.last, &self.network) else { return };
        out.push(("market_feasible".into(), if c.is_cleared() { 1.0 } else { 0.0 }));
        out.push(("congestion_rent".into(), c.total_rent()));
        out.push(("kkt_residual".into(), c.kkt.max()));
        for e in net.edges().filter(|&e| net.limit_kw[e].is_finite()) {
            let label = format!("{}-{}", net.buses[net.parent[e]], net.buses[e]);
            out.push((format!("flow_kw:{label}"), c.flow[e]));
            out.push((format!("congested:{label}"), if c.congested(net, e) { 1.0 } else { 0.0 }));
        }
    }

    fn clone_box(&self) -> Box<dyn Market> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
