//! Bids and offers as the paper's quadruples, and their validation.
//!
//! An order is a linear curve between two points: a supply offer rises from
//! (q_min, p_min) to (q_max, p_max), a demand bid falls from (q_min, p_max) to
//! (q_max, p_min). The dispatched quantity always lies in [q_min, q_max]: q_min
//! is a hard minimum (an inelastic load that must be served, a generator's
//! must-run output), which is why a market can be infeasible.
//! Prices are in ¢/kWh and quantities in kW throughout the crate.

use std::fmt;

use crate::error::MarketError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// A consumer's bid: quantity bought.
    Buy,
    /// A producer's offer: quantity sold.
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
    /// +1 for buy, −1 for sell: the sign of the order's contribution to net demand.
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "buy" | "bid" | "demand" => Ok(Side::Buy),
            "sell" | "offer" | "supply" => Ok(Side::Sell),
            other => Err(format!("side must be 'buy' or 'sell', got '{other}'")),
        }
    }
}

/// The curve of one order, the paper's quadruple (p_max, p_min, q_max, q_min).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    pub p_max: f64,
    pub p_min: f64,
    pub q_max: f64,
    pub q_min: f64,
}

impl Curve {
    pub fn new(p_max: f64, p_min: f64, q_max: f64, q_min: f64) -> Self {
        Curve { p_max, p_min, q_max, q_min }
    }

    /// Why the quadruple is unusable, if it is.
    pub fn problem(&self) -> Option<String> {
        let Curve { p_max, p_min, q_max, q_min } = *self;
        for (name, v) in [("p_max", p_max), ("p_min", p_min), ("q_max", q_max), ("q_min", q_min)] {
            if !v.is_finite() {
                return Some(format!("{name} is {v}, must be a finite number"));
            }
        }
        if p_max < p_min {
            return Some(format!("p_max ({p_max}) < p_min ({p_min})"));
        }
        if q_max <= q_min {
            return Some(format!("q_max ({q_max}) must be > q_min ({q_min})"));
        }
        if q_min < 0.0 {
            return Some(format!("q_min ({q_min}) must be ≥ 0 (the side says which way energy flows)"));
        }
        None
    }

    /// A flat curve: a single price for the whole quantity range.
    pub fn is_flat(&self) -> bool {
        self.p_max == self.p_min
    }

    /// |dp/dq|, ¢/kWh per kW (0 for a flat curve).
    pub fn slope(&self) -> f64 {
        (self.p_max - self.p_min) / (self.q_max - self.q_min)
    }

    /// The price the curve asks (supply) or offers (demand) at quantity q.
    pub fn price_at(&self, side: Side, q: f64) -> f64 {
        let t = (q - self.q_min) * self.slope();
        match side {
            Side::Sell => self.p_min + t,
            Side::Buy => self.p_max - t,
        }
    }

    /// The quantity the order wants at price `lambda` (for a flat curve at
    /// exactly its price, any quantity in [q_min, q_max]; this returns q_min).
    pub fn quantity_at(&self, side: Side, lambda: f64) -> f64 {
        if self.is_flat() {
            let above = lambda > self.p_max;
            return match (side, above) {
                (Side::Buy, false) | (Side::Sell, true) => {
                    if lambda == self.p_max {
                        self.q_min
                    } else {
                        self.q_max
                    }
                }
                _ => self.q_min,
            };
        }
        let width = self.q_max - self.q_min;
        let frac = match side {
            Side::Sell => (lambda - self.p_min) / (self.p_max - self.p_min),
            Side::Buy => (self.p_max - lambda) / (self.p_max - self.p_min),
        };
        self.q_min + width * frac.clamp(0.0, 1.0)
    }

    /// Consumer's gross benefit ∫_{q_min}^{q} p_d (buy) or producer's offered
    /// cost ∫_{q_min}^{q} p_s (sell): the terms of the surplus objective.
    pub fn integral(&self, side: Side, q: f64) -> f64 {
        let dq = q - self.q_min;
        let half_slope_sq = 0.5 * self.slope() * dq * dq;
        match side {
            Side::Buy => self.p_max * dq - half_slope_sq,
            Side::Sell => self.p_min * dq + half_slope_sq,
        }
    }
}

/// One order as submitted: who, where, which side, which curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The agent (or order-book row id) that submitted it, for messages and outputs.
    pub id: String,
    pub bus: String,
    pub side: Side,
    pub curve: Curve,
}

impl Order {
    pub fn new(id: impl Into<String>, bus: impl Into<String>, side: Side, curve: Curve) -> Self {
        Order { id: id.into(), bus: bus.into(), side, curve }
    }
    pub fn buy(id: &str, bus: &str, p_max: f64, p_min: f64, q_max: f64, q_min: f64) -> Self {
        Order::new(id, bus, Side::Buy, Curve::new(p_max, p_min, q_max, q_min))
    }
    pub fn sell(id: &str, bus: &str, p_max: f64, p_min: f64, q_max: f64, q_min: f64) -> Self {
        Order::new(id, bus, Side::Sell, Curve::new(p_max, p_min, q_max, q_min))
    }

    /// Rejects NaN/infinite numbers, p_max < p_min, q_max ≤ q_min, q_min < 0, naming the agent.
    pub fn validate(&self) -> Result<(), MarketError> {
        match self.curve.problem() {
            Some(reason) => Err(MarketError::InvalidOrder { agent: self.id.clone(), reason }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_follow_the_paper() {
        let c = Curve::new(10.0, 2.0, 5.0, 1.0);
        assert_eq!(c.price_at(Side::Sell, 1.0), 2.0);
        assert_eq!(c.price_at(Side::Sell, 5.0), 10.0);
        assert_eq!(c.price_at(Side::Buy, 1.0), 10.0);
        assert_eq!(c.price_at(Side::Buy, 5.0), 2.0);
        assert_eq!(c.quantity_at(Side::Sell, 6.0), 3.0);
        assert_eq!(c.quantity_at(Side::Buy, 6.0), 3.0);
        assert_eq!(c.quantity_at(Side::Buy, 100.0), 1.0);
        assert_eq!(c.quantity_at(Side::Sell, 100.0), 5.0);
    }

    #[test]
    fn bad_orders_name_the_agent() {
        let bad = [
            Order::buy("alice", "b", f64::NAN, 1.0, 2.0, 0.0),
            Order::buy("alice", "b", 1.0, 2.0, 2.0, 0.0),
            Order::sell("alice", "b", 2.0, 1.0, 2.0, 2.0),
            Order::sell("alice", "b", 2.0, 1.0, f64::INFINITY, 0.0),
            Order::sell("alice", "b", 2.0, 1.0, 1.0, -1.0),
        ];
        for o in bad {
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains("alice"), "{e}");
        }
    }
}
