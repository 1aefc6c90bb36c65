//! The network-constrained price–quantity auction (Market 1 of the paper).
//!
//! maximise  Σ_buys ∫ p_d − Σ_sells ∫ p_s              (total surplus)
//! s.t.      balance at every bus: buys − sells + flows to children − flow from parent = 0
//!           −L_e ≤ f_e ≤ L_e on every edge,  q_min ≤ q ≤ q_max on every order.
//!
//! The bus price λ_i is the dual of bus i's balance: the surplus lost per kW of
//! extra fixed demand at i (tests check the sign by finite differences).
//!
//! # Congestion rent and settlement
//! With one price everywhere, buyers pay exactly what sellers receive
//! (property (8) of the paper). With nodal prices buyers pay more than sellers
//! receive; the difference is the congestion rent Σ_e (λ_to − λ_from)·f_e ≥ 0,
//! reported per line. [`Settlement`] says what happens to it:
//! - [`Settlement::Nodal`] (default): everybody trades at their bus price; the
//!   rent stays with the market operator. Budget surplus = total rent ≥ 0.
//! - [`Settlement::RentToBuyers`]: the rent is refunded to buyers in proportion
//!   to the energy they bought, i.e. every buyer's price is lowered by
//!   rent / Σ q_buy. Then Σ p_d q_d = Σ p_s q_s exactly (budget balance), and a
//!   buyer never pays more than its nodal price, so (6) and (7) still hold.
//!
//! # Properties (6)–(7)
//! Every seller that sells more than its must-run q_min is paid at least its
//! curve's price at the dispatched quantity (6); every buyer that buys more than
//! its minimum q_min pays at most its curve's price (7). An order held at its
//! hard minimum q_min may see a price outside its curve: the minimum is a
//! constraint, not a preference. [`Clearing::properties`] checks all three.

pub mod qp;
pub mod tree;

pub use crate::order::{Curve, Order, Side};
use crate::error::MarketError;
use crate::network::{RadialNetwork, NO_PARENT};

/// An order whose bus has been resolved to a bus id of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    pub id: String,
    pub bus: usize,
    pub side: Side,
    pub curve: Curve,
}

/// Validates every order (naming the agent on failure) and resolves its bus.
pub fn place(net: &RadialNetwork, orders: &[Order]) -> Result<Vec<PlacedOrder>, MarketError> {
    orders
        .iter()
        .map(|o| {
            o.validate()?;
            let bus = net.bus_index(&o.bus).ok_or_else(|| MarketError::UnknownBus {
                agent: o.id.clone(),
                bus: o.bus.clone(),
                hint: net.unknown_bus_hint(&o.bus),
            })?;
            Ok(PlacedOrder { id: o.id.clone(), bus, side: o.side, curve: o.curve })
        })
        .collect()
}

/// What happens to the congestion rent (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Settlement {
    #[default]
    Nodal,
    RentToBuyers,
}

impl std::str::FromStr for Settlement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "nodal" => Ok(Settlement::Nodal),
            "rent_to_buyers" | "budget_balanced" => Ok(Settlement::RentToBuyers),
            other => Err(format!("settlement must be 'nodal' or 'rent_to_buyers', got '{other}'")),
        }
    }
}

/// Which algorithm clears the market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// The exact tree algorithm ([`tree`]): fast, the default.
    #[default]
    Tree,
    /// Clarabel's interior-point method on the branch-flow QP ([`qp`]).
    Clarabel,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Cleared,
    /// No dispatch satisfies the hard minimums and line limits; says why.
    Infeasible { reason: String },
}

/// KKT residuals of a clearing (0 for an exact optimum up to rounding).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KktResiduals {
    /// Largest bus balance mismatch, kW.
    pub balance_kw: f64,
    /// Largest violation of a line limit or of an order's [q_min, q_max], kW.
    pub bounds_kw: f64,
    /// Largest distance of a bus price from the order's marginal price set at
    /// its quantity (its curve price, or the half-line at a bound), ¢/kWh.
    pub stationarity: f64,
    /// Largest congestion-price inconsistency across an edge, ¢/kWh: a price
    /// difference across an edge not at its limit, or of the wrong sign.
    pub edge_dual: f64,
}

impl KktResiduals {
    pub fn max(&self) -> f64 {
        self.balance_kw.max(self.bounds_kw).max(self.stationarity).max(self.edge_dual)
    }
}

/// The outcome of one clearing.
#[derive(Debug, Clone, PartialEq)]
pub struct Clearing {
    pub status: Status,
    pub settlement: Settlement,
    /// Nodal price per bus id, ¢/kWh.
    pub bus_price: Vec<f64>,
    /// Dispatched quantity per order (≥ 0, in the order's direction), kW.
    pub quantity: Vec<f64>,
    /// Settlement price per order, ¢/kWh (the bus price, or less for buyers under `RentToBuyers`).
    pub price: Vec<f64>,
    /// Flow on edge i (from parent[i] into bus i), kW; 0 at the root.
    pub flow: Vec<f64>,
    /// λ_to − λ_from per edge: the congestion price, ¢/kWh.
    pub congestion_price: Vec<f64>,
    /// (λ_to − λ_from)·f per edge, ¢/h (kW·¢/kWh).
    pub congestion_rent: Vec<f64>,
    /// Σ benefit − Σ offered cost, ¢/h.
    pub welfare: f64,
    pub kkt: KktResiduals,
    pub algorithm: Algorithm,
    /// Solver iterations (Clarabel) or 1 (tree).
    pub iterations: u32,
    /// True if no order pinned the price (e.g. an empty market); prices are 0 then.
    pub price_undetermined: bool,
}

impl Clearing {
    fn infeasible(net: &RadialNetwork, orders: &[PlacedOrder], reason: String, algorithm: Algorithm) -> Self {
        Clearing {
            status: Status::Infeasible { reason },
            settlement: Settlement::Nodal,
            bus_price: vec![f64::NAN; net.len()],
            quantity: vec![0.0; orders.len()],
            price: vec![f64::NAN; orders.len()],
            flow: vec![0.0; net.len()],
            congestion_price: vec![0.0; net.len()],
            congestion_rent: vec![0.0; net.len()],
            welfare: 0.0,
            kkt: KktResiduals::default(),
            algorithm,
            iterations: 0,
            price_undetermined: false,
        }
    }

    pub fn is_cleared(&self) -> bool {
        self.status == Status::Cleared
    }

    /// Total congestion rent, ¢/h.
    pub fn total_rent(&self) -> f64 {
        self.congestion_rent.iter().sum()
    }

    /// Edges at their limit (|flow| ≥ limit − tolerance).
    pub fn congested(&self, net: &RadialNetwork, edge: usize) -> bool {
        let l = net.limit_kw[edge];
        net.parent[edge] != NO_PARENT && l.is_finite() && self.flow[edge].abs() >= l - 1e-6 * l.max(1.0)
    }

    /// Checks the paper's properties on this clearing; see [`Properties`].
    pub fn properties(&self, orders: &[PlacedOrder]) -> Properties {
        let mut p = Properties::default();
        let mut paid = 0.0;
        let mut received = 0.0;
        for (k, o) in orders.iter().enumerate() {
            let q = self.quantity[k];
            let price = self.price[k];
            let c = &o.curve;
            let scale = 1e-7 * (c.p_max.abs() + c.p_min.abs()).max(1.0);
            let above_min = q > c.q_min + 1e-7 * (c.q_max - c.q_min);
            let curve_price = c.price_at(o.side, q);
            match o.side {
                Side::Sell => {
                    received += price * q;
                    if above_min {
                        p.worst_supply_gap = p.worst_supply_gap.max(curve_price - price - scale);
                    }
                }
                Side::Buy => {
                    paid += price * q;
                    if above_min {
                        p.worst_demand_gap = p.worst_demand_gap.max(price - curve_price - scale);
                    }
                }
            }
        }
        p.paid_by_buyers = paid;
        p.received_by_sellers = received;
        p.rent = self.total_rent();
        p
    }
}

/// Properties (6)–(8) of the paper, measured on one clearing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Properties {
    /// (6): largest amount by which a seller above its minimum is paid less than its curve (≤ 0 when it holds).
    pub worst_supply_gap: f64,
    /// (7): largest amount by which a buyer above its minimum pays more than its curve (≤ 0 when it holds).
    pub worst_demand_gap: f64,
    /// (8): Σ p_d q_d and Σ p_s q_s, ¢/h.
    pub paid_by_buyers: f64,
    pub received_by_sellers: f64,
    /// Total congestion rent, ¢/h: paid − received under nodal settlement.
    pub rent: f64,
}

impl Properties {
    pub fn supply_on_or_above_curve(&self) -> bool {
        self.worst_supply_gap <= 0.0
    }
    pub fn demand_on_or_below_curve(&self) -> bool {
        self.worst_demand_gap <= 0.0
    }
    /// Budget imbalance Σ p_d q_d − Σ p_s q_s, ¢/h.
    pub fn imbalance(&self) -> f64 {
        self.paid_by_buyers - self.received_by_sellers
    }
}

/// Options of a clearing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClearOptions {
    pub algorithm: Algorithm,
    pub settlement: Settlement,
}

/// A reusable clearing engine: keeps workspaces (and a Clarabel problem) between
/// clearings on the same network.
#[derive(Default)]
pub struct Auctioneer {
    pub options: ClearOptions,
    tree_ws: tree::TreeWorkspace,
    qp: Option<qp::QpAuction>,
    /// The KKT check's per-bus balances.
    balance: Vec<f64>,
}

impl std::fmt::Debug for Auctioneer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auctioneer").field("options", &self.options).finish()
    }
}

impl Clone for Auctioneer {
    fn clone(&self) -> Self {
        // Workspaces are caches: a clone starts with fresh ones.
        Auctioneer { options: self.options, tree_ws: Default::default(), qp: None, balance: Vec::new() }
    }
}

impl Auctioneer {
    pub fn new(options: ClearOptions) -> Self {
        Auctioneer { options, ..Default::default() }
    }

    /// Clears placed orders on the network. Errors only for solver failures;
    /// an infeasible market is a `Clearing` with `Status::Infeasible`.
    pub fn clear(&mut self, net: &RadialNetwork, orders: &[PlacedOrder]) -> Result<Clearing, MarketError> {
        let algorithm = self.options.algorithm;
        let (bus_price, quantity, flow, iterations, undetermined) = match algorithm {
            Algorithm::Tree => match tree::solve_prices(net, orders, &mut self.tree_ws) {
                Err(Status::Infeasible { reason }) => {
                    return Ok(Clearing::infeasible(net, orders, reason, algorithm))
                }
                Err(Status::Cleared) => unreachable!("solve_prices reports only infeasibility as an error"),
                Ok(prices) => {
                    let (q, f) = tree::quantities_from_prices(net, orders, &prices.bus_price, &mut self.tree_ws);
                    (prices.bus_price, q, f, 1, prices.undetermined)
                }
            },
            Algorithm::Clarabel => {
                if !self.qp.as_ref().is_some_and(|p| p.fits(net, orders)) {
                    self.qp = Some(qp::QpAuction::new(net, orders)?);
                }
                let problem = self.qp.as_mut().expect("just built");
                match problem.solve(orders)? {
                    Err(Status::Infeasible { reason }) => {
                        return Ok(Clearing::infeasible(net, orders, reason, algorithm))
                    }
                    Err(Status::Cleared) => unreachable!(),
                    Ok(s) => (s.bus_price, s.quantity, s.flow, s.iterations, false),
                }
            }
        };
        let kkt = kkt_residuals_with(net, orders, &bus_price, &quantity, &flow, &mut self.balance);
        Ok(finish(net, orders, bus_price, quantity, flow, kkt, self.options.settlement, algorithm, iterations, undetermined))
    }
}

/// Clears once with a fresh engine.
pub fn clear(net: &RadialNetwork, orders: &[PlacedOrder], options: ClearOptions) -> Result<Clearing, MarketError> {
    Auctioneer::new(options).clear(net, orders)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    net: &RadialNetwork,
    orders: &[PlacedOrder],
    bus_price: Vec<f64>,
    quantity: Vec<f64>,
    flow: Vec<f64>,
    kkt: KktResiduals,
    settlement: Settlement,
    algorithm: Algorithm,
    iterations: u32,
    price_undetermined: bool,
) -> Clearing {
    let n = net.len();
    let mut congestion_price = vec![0.0; n];
    let mut congestion_rent = vec![0.0; n];
    for e in net.edges() {
        let mu = bus_price[e] - bus_price[net.parent[e]];
        congestion_price[e] = mu;
        congestion_rent[e] = mu * flow[e];
    }
    let mut price: Vec<f64> = orders.iter().map(|o| bus_price[o.bus]).collect();
    if settlement == Settlement::RentToBuyers {
        let rent: f64 = congestion_rent.iter().sum();
        let bought: f64 =
            orders.iter().zip(&quantity).filter(|(o, _)| o.side == Side::Buy).map(|(_, q)| q).sum();
        if bought > 0.0 {
            let refund = rent / bought;
            for (k, o) in orders.iter().enumerate() {
                if o.side == Side::Buy {
                    price[k] -= refund;
                }
            }
        }
    }
    let welfare = orders
        .iter()
        .zip(&quantity)
        .map(|(o, &q)| o.side.sign() * o.curve.integral(o.side, q))
        .sum();
    Clearing {
        status: Status::Cleared,
        settlement,
        bus_price,
        quantity,
        price,
        flow,
        congestion_price,
        congestion_rent,
        welfare,
        kkt,
        algorithm,
        iterations,
        price_undetermined,
    }
}

/// KKT residuals of a candidate solution, computed from scratch (independent
/// of the algorithm that produced it).
pub fn kkt_residuals(
    net: &RadialNetwork,
    orders: &[PlacedOrder],
    bus_price: &[f64],
    quantity: &[f64],
    flow: &[f64],
) -> KktResiduals {
    kkt_residuals_with(net, orders, bus_price, quantity, flow, &mut Vec::new())
}

/// [`kkt_residuals`] with the per-bus balances in a caller's buffer (one pass
/// over orders, one over edges, nothing allocated once the buffer is grown).
pub fn kkt_residuals_with(
    net: &RadialNetwork,
    orders: &[PlacedOrder],
    bus_price: &[f64],
    quantity: &[f64],
    flow: &[f64],
    balance: &mut Vec<f64>,
) -> KktResiduals {
    let n = net.len();
    let mut r = KktResiduals::default();
    balance.clear();
    balance.resize(n, 0.0);
    for (k, o) in orders.iter().enumerate() {
        let q = quantity[k];
        let c = &o.curve;
        balance[o.bus] += o.side.sign() * q;
        r.bounds_kw = r.bounds_kw.max(c.q_min - q).max(q - c.q_max);
        // Marginal surplus of one more kW of this order: curve price − λ for a
        // buy, λ − curve price for a sell. Interior: must be 0; at q_max: ≥ 0;
        // at q_min: ≤ 0. For a sloped curve we use the natural residual
        // s·|q − clamp(q + m/s)| (price units), which is insensitive to an
        // interior-point solution sitting a hair inside a bound.
        let lambda = bus_price[o.bus];
        let marginal = match o.side {
            Side::Buy => c.price_at(o.side, q) - lambda,
            Side::Sell => lambda - c.price_at(o.side, q),
        };
        let violation = if c.is_flat() {
            let tol_q = 1e-6 * (c.q_max - c.q_min);
            let at_max = q >= c.q_max - tol_q;
            let at_min = q <= c.q_min + tol_q;
            if at_max && at_min {
                0.0
            } else if at_max {
                (-marginal).max(0.0)
            } else if at_min {
                marginal.max(0.0)
            } else {
                marginal.abs()
            }
        } else {
            let s = c.slope();
            s * (q - (q + marginal / s).clamp(c.q_min, c.q_max)).abs()
        };
        r.stationarity = r.stationarity.max(violation);
    }
    for e in net.edges() {
        let p = net.parent[e];
        balance[e] -= flow[e];
        balance[p] += flow[e];
        let limit = net.limit_kw[e];
        r.bounds_kw = r.bounds_kw.max(flow[e].abs() - limit);
        let mu = bus_price[e] - bus_price[p];
        let tol = 1e-7 * limit.max(1.0);
        let violation = if limit.is_finite() && flow[e] >= limit - tol && flow[e] <= -limit + tol {
            0.0 // a zero limit: the flow is pinned, any price difference is allowed
        } else if limit.is_finite() && flow[e] >= limit - tol {
            (-mu).max(0.0)
        } else if limit.is_finite() && flow[e] <= -limit + tol {
            mu.max(0.0)
        } else {
            mu.abs()
        };
        r.edge_dual = r.edge_dual.max(violation);
    }
    r.balance_kw = balance.iter().fold(0.0_f64, |m, b| m.max(b.abs()));
    r
}

#[cfg(test)]
mod tests;
