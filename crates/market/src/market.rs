//! [`AuctionMarket`]: the auction as an `ogg_core::Market`.
//!
//! `reset` takes the network from the grid (`Grid::topology()`), unless a
//! network was given, then applies the user's line limits. `step` collects
//! every agent's `MarketAction::Bid` (buy) and `MarketAction::Offer` (sell) at
//! the agent's bus, clears, and stores one [`Dispatch`] per agent
//! (quantity + bought, − sold; price = the agent's settlement price).

use std::any::Any;

use ogg_core::{Dispatch, Market, MarketAction, Result, Topology, View};

use crate::auction::{Auctioneer, ClearOptions, Clearing, PlacedOrder, Status};
use crate::error::MarketError;
use crate::network::RadialNetwork;
use crate::order::{Curve, Side};

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
    /// By environment agent index: (dispatch, bus id), None without orders.
    dispatch: Vec<Option<(Dispatch, usize)>>,
    /// Bus name given by the owner of each of `last_orders` (to reuse the
    /// resolved bus when the same agent bids again from the same bus).
    last_bus_names: Vec<String>,
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
            dispatch: Vec::new(),
            last_bus_names: Vec::new(),
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
        // Bus indices of the previous orders refer to the old network.
        self.last_orders.clear();
        self.last_owner.clear();
        self.last_bus_names.clear();
        Ok(())
    }

    /// Collects the agents' orders (validated, placed) and their owners into
    /// `orders`/`owners`, which hold the previous round's: an agent bidding
    /// again in the same slot from the same bus keeps its entry (name and
    /// resolved bus), so a steady population places its orders without
    /// allocating or looking names up.
    fn collect(
        view: &View,
        net: &RadialNetwork,
        orders: &mut Vec<PlacedOrder>,
        owners: &mut Vec<usize>,
        bus_names: &mut Vec<String>,
    ) -> std::result::Result<(), MarketError> {
        if bus_names.len() != orders.len() || owners.len() != orders.len() {
            orders.clear();
            owners.clear();
            bus_names.clear();
        }
        let mut k = 0;
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
                let curve = Curve::new(p_max, p_min, q_max, q_min);
                if let Some(reason) = curve.problem() {
                    return Err(MarketError::InvalidOrder { agent: agent.name().to_string(), reason });
                }
                let same_slot =
                    k < orders.len() && owners[k] == index && bus_names[k] == bus && orders[k].id == agent.name();
                if same_slot {
                    orders[k].side = side;
                    orders[k].curve = curve;
                } else {
                    let b = net.bus_index(bus).ok_or_else(|| MarketError::UnknownBus {
                        agent: agent.name().to_string(),
                        bus: bus.to_string(),
                        hint: net.unknown_bus_hint(bus),
                    })?;
                    let placed = PlacedOrder { id: agent.name().to_string(), bus: b, side, curve };
                    if k < orders.len() {
                        orders[k] = placed;
                        owners[k] = index;
                        bus_names[k] = bus.to_string();
                    } else {
                        orders.push(placed);
                        owners.push(index);
                        bus_names.push(bus.to_string());
                    }
                }
                k += 1;
            }
        }
        orders.truncate(k);
        owners.truncate(k);
        bus_names.truncate(k);
        Ok(())
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
        let mut orders = std::mem::take(&mut self.last_orders);
        let mut owners = std::mem::take(&mut self.last_owner);
        let collected = Self::collect(view, net, &mut orders, &mut owners, &mut self.last_bus_names);
        if let Err(e) = collected {
            // Nothing half-placed is kept: the next round starts afresh.
            self.last_bus_names.clear();
            return Err(e.into());
        }
        let clearing = match self.auctioneer.clear(net, &orders) {
            Ok(c) => c,
            Err(e) => {
                self.last_bus_names.clear();
                return Err(e.into());
            }
        };
        self.dispatch.iter_mut().for_each(|d| *d = None);
        self.last_infeasibility = None;
        match &clearing.status {
            Status::Cleared => {
                for (k, &owner) in owners.iter().enumerate() {
                    let signed = orders[k].side.sign() * clearing.quantity[k];
                    if owner >= self.dispatch.len() {
                        self.dispatch.resize(owner + 1, None);
                    }
                    let entry = self.dispatch[owner].get_or_insert((Dispatch { price: 0.0, quantity: 0.0 }, orders[k].bus));
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
        self.dispatch.get(index).copied().flatten().map(|d| d.0)
    }

    /// Per agent: its bus price and the congestion component (bus price − root price).
    fn record_extra(&self, index: usize, out: &mut Vec<(String, f64)>) {
        if let (Some((_, bus)), Some(c), Some(net)) = (self.dispatch.get(index).copied().flatten(), &self.last, &self.network) {
            out.push(("bus_price".into(), c.bus_price[bus]));
            out.push(("congestion_price".into(), c.bus_price[bus] - c.bus_price[net.root]));
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
