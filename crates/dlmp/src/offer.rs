//! What participants submit each market interval: an [`Offer`] with a convex
//! [`CostCurve`], and its validation (bad parameters are rejected naming the
//! agent, never a panic).
//!
//! Units: quantities in kW and kvar; cost curves in MATPOWER's convention,
//! dollars per hour of an output in **MW** — `c(P) = c0 + c1·P + c2·P²` with
//! `c1` in $/MWh and `c2` in $/MW²h, or piecewise-linear breakpoints
//! `(P in MW, cost in $/h)`; prices (DLMPs) in $/MWh.
//!
//! * a **generator** (a prosumer's DER) produces P ∈ [p_min, p_max] at cost c(P);
//! * a **demand-response** provider consumes P_d ∈ [p_min, p_max] where p_max
//!   is its baseline P̄_d; curtailing costs it c(P̄_d − P_d) (the curve takes
//!   the curtailment in MW);
//! * a **load** consumes p_max (= p_min) whatever the price.
//!
//! Consumption carries reactive power `q_per_p` kvar per kW (the load's power
//! factor); a generator may supply reactive power in [q_min, q_max] kvar at no
//! cost (default 0: unity power factor).

use ogg_core::MarketAction;

use crate::error::DlmpError;
use crate::network::DlmpNetwork;

/// Name of the `MarketAction::Custom` that carries an offer.
pub const ACTION_NAME: &str = "dlmp.offer";

#[derive(Debug, Clone, PartialEq)]
pub enum CostCurve {
    /// Coefficients c0, c1, c2, … of c(P) = Σ c_k P^k ($/h, P in MW).
    /// Degree ≤ 2 (a QP); c2 ≥ 0 (convex).
    Polynomial(Vec<f64>),
    /// Breakpoints (P in MW, cost in $/h), P strictly increasing, slopes
    /// non-decreasing (convex). Must cover the offer's range.
    PiecewiseLinear(Vec<(f64, f64)>),
}

impl CostCurve {
    /// c(P) = c1·P + c2·P² ($/h, P in MW).
    pub fn quadratic(c1: f64, c2: f64) -> Self {
        CostCurve::Polynomial(vec![0.0, c1, c2])
    }
    /// A constant marginal cost ($/MWh).
    pub fn linear(c1: f64) -> Self {
        CostCurve::Polynomial(vec![0.0, c1])
    }
    /// No cost (a load, or free energy).
    pub fn zero() -> Self {
        CostCurve::Polynomial(vec![])
    }

    /// Cost at P MW, $/h (PWL: linear interpolation; outside the points: extrapolated).
    pub fn cost(&self, p_mw: f64) -> f64 {
        match self {
            CostCurve::Polynomial(c) => c.iter().rev().fold(0.0, |acc, &k| acc * p_mw + k),
            CostCurve::PiecewiseLinear(pts) => {
                if pts.is_empty() {
                    return 0.0;
                }
                if pts.len() == 1 {
                    return pts[0].1;
                }
                let k = pts
                    .windows(2)
                    .position(|w| p_mw <= w[1].0)
                    .unwrap_or(pts.len() - 2);
                let (a, b) = (pts[k], pts[k + 1]);
                a.1 + (b.1 - a.1) * (p_mw - a.0) / (b.0 - a.0)
            }
        }
    }

    /// Marginal cost at P MW, $/MWh (PWL: slope of the segment containing P, the right one at a breakpoint).
    pub fn marginal(&self, p_mw: f64) -> f64 {
        match self {
            CostCurve::Polynomial(c) => c
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, &v)| k as f64 * v * p_mw.powi(k as i32 - 1))
                .sum(),
            CostCurve::PiecewiseLinear(pts) => {
                if pts.len() < 2 {
                    return 0.0;
                }
                let k = pts
                    .windows(2)
                    .position(|w| p_mw < w[1].0)
                    .unwrap_or(pts.len() - 2);
                (pts[k + 1].1 - pts[k].1) / (pts[k + 1].0 - pts[k].0)
            }
        }
    }

    /// Multiplies every marginal cost by `factor` (a strategic markup): c1, c2
    /// and the PWL costs scale; the constant c0 and the first breakpoint's cost stay.
    pub fn scaled(&self, factor: f64) -> Self {
        match self {
            CostCurve::Polynomial(c) => CostCurve::Polynomial(
                c.iter()
                    .enumerate()
                    .map(|(k, &v)| if k == 0 { v } else { v * factor })
                    .collect(),
            ),
            CostCurve::PiecewiseLinear(pts) => {
                let base = pts.first().map(|p| p.1).unwrap_or(0.0);
                CostCurve::PiecewiseLinear(
                    pts.iter()
                        .map(|&(p, c)| (p, base + (c - base) * factor))
                        .collect(),
                )
            }
        }
    }

    /// Why the curve is unusable on [lo, hi] MW, if it is.
    pub fn problem(&self, lo: f64, hi: f64) -> Option<String> {
        match self {
            CostCurve::Polynomial(c) => {
                if let Some((k, v)) = c.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                    return Some(format!(
                        "cost coefficient c{k} is {v}, must be a finite number"
                    ));
                }
                if let Some((k, _)) = c.iter().enumerate().skip(3).rev().find(|(_, v)| **v != 0.0) {
                    return Some(format!(
                        "a polynomial cost of degree {k} is not supported (the OPF is a quadratic/conic program): use degree ≤ 2 or a piecewise-linear curve"
                    ));
                }
                if c.len() > 2 && c[2] < 0.0 {
                    return Some(format!("non-convex cost: c2 = {} < 0", c[2]));
                }
                None
            }
            CostCurve::PiecewiseLinear(pts) => {
                if pts.len() < 2 {
                    return Some(format!(
                        "a piecewise-linear cost needs at least 2 breakpoints, got {}",
                        pts.len()
                    ));
                }
                if let Some((p, c)) = pts.iter().find(|(p, c)| !p.is_finite() || !c.is_finite()) {
                    return Some(format!(
                        "breakpoint ({p}, {c}) is not a pair of finite numbers"
                    ));
                }
                for w in pts.windows(2) {
                    if w[1].0 <= w[0].0 {
                        return Some(format!(
                            "breakpoints must have increasing P: {} MW follows {} MW",
                            w[1].0, w[0].0
                        ));
                    }
                }
                let slopes: Vec<f64> = pts
                    .windows(2)
                    .map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
                    .collect();
                for (k, s) in slopes.windows(2).enumerate() {
                    if s[1] < s[0] - 1e-9 * s[0].abs().max(1.0) {
                        return Some(format!(
                            "non-convex cost: the slope falls from {} to {} $/MWh at P = {} MW",
                            s[0],
                            s[1],
                            pts[k + 1].0
                        ));
                    }
                }
                let tol = 1e-9 * hi.abs().max(1.0);
                if pts[0].0 > lo + tol || pts[pts.len() - 1].0 < hi - tol {
                    return Some(format!(
                        "the breakpoints cover [{}, {}] MW but the offer's range is [{lo}, {hi}] MW",
                        pts[0].0,
                        pts[pts.len() - 1].0
                    ));
                }
                None
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferKind {
    Generator,
    DemandResponse,
    Load,
}

impl OfferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::Generator => "generator",
            OfferKind::DemandResponse => "dr",
            OfferKind::Load => "load",
        }
    }
    fn code(self) -> f64 {
        match self {
            OfferKind::Generator => 0.0,
            OfferKind::DemandResponse => 1.0,
            OfferKind::Load => 2.0,
        }
    }
}

impl std::str::FromStr for OfferKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "generator" | "gen" | "producer" | "der" | "sell" => Ok(OfferKind::Generator),
            "dr" | "demand_response" | "demand-response" | "flexible" => {
                Ok(OfferKind::DemandResponse)
            }
            "load" | "consumer" | "fixed" | "buy" => Ok(OfferKind::Load),
            other => Err(format!(
                "kind must be 'generator', 'dr' or 'load', got '{other}'"
            )),
        }
    }
}

impl std::fmt::Display for OfferKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One participant's offer for one market interval (see the module docs for units).
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub agent: String,
    pub bus: String,
    pub kind: OfferKind,
    /// Generator: output range. Demand response: consumption range, p_max =
    /// baseline. Load: p_max is the demand (p_min is ignored).
    pub p_min_kw: f64,
    pub p_max_kw: f64,
    /// Generator: reactive power range (kvar).
    pub q_min_kvar: f64,
    pub q_max_kvar: f64,
    /// Consumption: kvar per kW consumed.
    pub q_per_p: f64,
    /// Generator: production cost c(P). Demand response: curtailment cost
    /// c(P̄ − P). Load: unused.
    pub cost: CostCurve,
}

impl Offer {
    pub fn generator(
        agent: &str,
        bus: &str,
        p_min_kw: f64,
        p_max_kw: f64,
        cost: CostCurve,
    ) -> Self {
        Offer {
            agent: agent.into(),
            bus: bus.into(),
            kind: OfferKind::Generator,
            p_min_kw,
            p_max_kw,
            q_min_kvar: 0.0,
            q_max_kvar: 0.0,
            q_per_p: 0.0,
            cost,
        }
    }
    pub fn demand_response(
        agent: &str,
        bus: &str,
        p_floor_kw: f64,
        p_baseline_kw: f64,
        q_per_p: f64,
        cost: CostCurve,
    ) -> Self {
        Offer {
            agent: agent.into(),
            bus: bus.into(),
            kind: OfferKind::DemandResponse,
            p_min_kw: p_floor_kw,
            p_max_kw: p_baseline_kw,
            q_min_kvar: 0.0,
            q_max_kvar: 0.0,
            q_per_p,
            cost,
        }
    }
    pub fn load(agent: &str, bus: &str, p_kw: f64, q_per_p: f64) -> Self {
        Offer {
            agent: agent.into(),
            bus: bus.into(),
            kind: OfferKind::Load,
            p_min_kw: p_kw,
            p_max_kw: p_kw,
            q_min_kvar: 0.0,
            q_max_kvar: 0.0,
            q_per_p,
            cost: CostCurve::zero(),
        }
    }
    pub fn with_reactive(mut self, q_min_kvar: f64, q_max_kvar: f64) -> Self {
        self.q_min_kvar = q_min_kvar;
        self.q_max_kvar = q_max_kvar;
        self
    }

    /// The range of the variable the cost curve takes, MW: output for a
    /// generator, curtailment for demand response.
    pub fn cost_domain_mw(&self) -> (f64, f64) {
        match self.kind {
            OfferKind::Generator => (self.p_min_kw / 1000.0, self.p_max_kw / 1000.0),
            OfferKind::DemandResponse => (0.0, (self.p_max_kw - self.p_min_kw) / 1000.0),
            OfferKind::Load => (0.0, 0.0),
        }
    }

    /// Rejects NaN/infinite numbers, reversed bounds, negative demand and
    /// non-convex or unsupported cost curves, naming the agent.
    pub fn validate(&self) -> Result<(), DlmpError> {
        let bad = |reason: String| {
            Err(DlmpError::InvalidOffer {
                agent: self.agent.clone(),
                reason,
            })
        };
        for (name, v) in [
            ("p_min_kw", self.p_min_kw),
            ("p_max_kw", self.p_max_kw),
            ("q_min_kvar", self.q_min_kvar),
            ("q_max_kvar", self.q_max_kvar),
            ("q_per_p", self.q_per_p),
        ] {
            if !v.is_finite() {
                return bad(format!("{name} is {v}, must be a finite number"));
            }
        }
        match self.kind {
            OfferKind::Load => {
                if self.p_max_kw < 0.0 {
                    return bad(format!(
                        "demand {} kW must be ≥ 0 (use a generator for production)",
                        self.p_max_kw
                    ));
                }
                return Ok(());
            }
            OfferKind::DemandResponse => {
                if self.p_min_kw < 0.0 {
                    return bad(format!(
                        "minimum consumption {} kW must be ≥ 0",
                        self.p_min_kw
                    ));
                }
            }
            OfferKind::Generator => {
                if self.q_max_kvar < self.q_min_kvar {
                    return bad(format!(
                        "q_max {} kvar < q_min {} kvar",
                        self.q_max_kvar, self.q_min_kvar
                    ));
                }
            }
        }
        if self.p_max_kw < self.p_min_kw {
            return bad(format!(
                "p_max {} kW < p_min {} kW",
                self.p_max_kw, self.p_min_kw
            ));
        }
        let (lo, hi) = self.cost_domain_mw();
        if let Some(reason) = self.cost.problem(lo, hi) {
            return bad(reason);
        }
        Ok(())
    }

    /// The offer as a market action (what an agent submits to [`crate::DlmpMarket`]).
    /// Values: kind, p_min_kw, p_max_kw, q_min_kvar, q_max_kvar, q_per_p,
    /// then 0, c0, c1, … (polynomial) or 1, P1, C1, P2, C2, … (piecewise-linear).
    pub fn to_action(&self) -> MarketAction {
        let mut values = vec![
            self.kind.code(),
            self.p_min_kw,
            self.p_max_kw,
            self.q_min_kvar,
            self.q_max_kvar,
            self.q_per_p,
        ];
        match &self.cost {
            CostCurve::Polynomial(c) => {
                values.push(0.0);
                values.extend(c);
            }
            CostCurve::PiecewiseLinear(pts) => {
                values.push(1.0);
                for &(p, c) in pts {
                    values.push(p);
                    values.push(c);
                }
            }
        }
        MarketAction::Custom {
            name: ACTION_NAME.into(),
            values,
        }
    }

    /// Reads an offer from a market action of `agent` at `bus`: `Ok(None)` if
    /// the action is not a DLMP offer, an error naming the agent if it is malformed.
    pub fn from_action(
        agent: &str,
        bus: &str,
        action: &MarketAction,
    ) -> Result<Option<Offer>, DlmpError> {
        let MarketAction::Custom { name, values } = action else {
            return Ok(None);
        };
        if name != ACTION_NAME {
            return Ok(None);
        }
        let bad = |reason: &str| DlmpError::InvalidOffer {
            agent: agent.into(),
            reason: reason.into(),
        };
        if values.len() < 7 {
            return Err(bad("a dlmp.offer action needs at least 7 values (kind, p_min, p_max, q_min, q_max, q_per_p, curve type)"));
        }
        let kind = if values[0] == 0.0 {
            OfferKind::Generator
        } else if values[0] == 1.0 {
            OfferKind::DemandResponse
        } else if values[0] == 2.0 {
            OfferKind::Load
        } else {
            return Err(bad(&format!(
                "unknown offer kind code {} (0 generator, 1 dr, 2 load)",
                values[0]
            )));
        };
        let rest = &values[7..];
        let cost = if values[6] == 0.0 {
            CostCurve::Polynomial(rest.to_vec())
        } else if values[6] == 1.0 {
            if rest.len() % 2 != 0 {
                return Err(bad(
                    "piecewise-linear breakpoints must come in (P, cost) pairs",
                ));
            }
            CostCurve::PiecewiseLinear(rest.chunks(2).map(|c| (c[0], c[1])).collect())
        } else {
            return Err(bad(&format!(
                "unknown cost curve type {} (0 polynomial, 1 piecewise-linear)",
                values[6]
            )));
        };
        Ok(Some(Offer {
            agent: agent.into(),
            bus: bus.into(),
            kind,
            p_min_kw: values[1],
            p_max_kw: values[2],
            q_min_kvar: values[3],
            q_max_kvar: values[4],
            q_per_p: values[5],
            cost,
        }))
    }
}

/// The cost of an offer's variable in per unit: `Σ slope·x + c2·x²` where x
/// is the variable in per unit (MW when the base is 1 MVA).
#[derive(Debug, Clone, PartialEq)]
pub enum PlacedCost {
    /// c1·x + c2·x² (per-unit coefficients).
    Quadratic { c1: f64, c2: f64 },
    /// x = Σ segments, segment k ∈ [0, width_k] at marginal cost slope_k.
    Segments { widths: Vec<f64>, slopes: Vec<f64> },
}

/// An offer validated and resolved to a bus, in per unit.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOffer {
    pub agent: String,
    pub bus: usize,
    pub kind: OfferKind,
    /// Fixed consumption (loads: the demand; demand response: the baseline), per unit.
    pub fixed_demand: f64,
    /// Range of the variable (generator output or DR curtailment), per unit.
    pub lo: f64,
    pub hi: f64,
    /// Generator reactive range, per unit.
    pub q_lo: f64,
    pub q_hi: f64,
    pub q_per_p: f64,
    pub cost: PlacedCost,
    /// Whether the offer has a decision variable (not a load, not a zero-width range).
    pub has_variable: bool,
    /// The original offer.
    pub offer: Offer,
}

impl PlacedOffer {
    /// Validates `offer` and resolves its bus.
    pub fn place(net: &DlmpNetwork, offer: &Offer) -> Result<Self, DlmpError> {
        offer.validate()?;
        let bus = net
            .bus_index(&offer.bus)
            .ok_or_else(|| DlmpError::UnknownBus {
                agent: offer.agent.clone(),
                bus: offer.bus.clone(),
                hint: net.tree.unknown_bus_hint(&offer.bus),
            })?;
        let kw_per_pu = net.s_base_kva;
        let mw_per_pu = net.s_base_kva / 1000.0;
        let (fixed_demand, lo, hi) = match offer.kind {
            OfferKind::Generator => (0.0, offer.p_min_kw / kw_per_pu, offer.p_max_kw / kw_per_pu),
            OfferKind::DemandResponse => (
                offer.p_max_kw / kw_per_pu,
                0.0,
                (offer.p_max_kw - offer.p_min_kw) / kw_per_pu,
            ),
            OfferKind::Load => (offer.p_max_kw / kw_per_pu, 0.0, 0.0),
        };
        let (q_lo, q_hi) = match offer.kind {
            OfferKind::Generator => (offer.q_min_kvar / kw_per_pu, offer.q_max_kvar / kw_per_pu),
            _ => (0.0, 0.0),
        };
        let cost = match &offer.cost {
            CostCurve::Polynomial(c) => {
                let c1 = c.get(1).copied().unwrap_or(0.0);
                let c2 = c.get(2).copied().unwrap_or(0.0);
                PlacedCost::Quadratic {
                    c1: c1 * mw_per_pu,
                    c2: c2 * mw_per_pu * mw_per_pu,
                }
            }
            CostCurve::PiecewiseLinear(pts) => {
                // Segments of the curve clipped to the variable's range [lo, hi] (MW).
                let (lo_mw, hi_mw) = (lo * mw_per_pu, hi * mw_per_pu);
                let mut widths = Vec::new();
                let mut slopes = Vec::new();
                for w in pts.windows(2) {
                    let a = w[0].0.max(lo_mw);
                    let b = w[1].0.min(hi_mw);
                    if b > a {
                        widths.push((b - a) / mw_per_pu);
                        slopes.push((w[1].1 - w[0].1) / (w[1].0 - w[0].0) * mw_per_pu);
                    }
                }
                PlacedCost::Segments { widths, slopes }
            }
        };
        let has_variable = offer.kind != OfferKind::Load && (hi > lo || q_hi > q_lo);
        Ok(PlacedOffer {
            agent: offer.agent.clone(),
            bus,
            kind: offer.kind,
            fixed_demand,
            lo,
            hi,
            q_lo,
            q_hi,
            q_per_p: offer.q_per_p,
            cost,
            has_variable,
            offer: offer.clone(),
        })
    }

    /// Net active injection (per unit) for a value of the variable.
    pub fn injection(&self, x: f64) -> f64 {
        match self.kind {
            OfferKind::Generator => x,
            OfferKind::DemandResponse => x - self.fixed_demand,
            OfferKind::Load => -self.fixed_demand,
        }
    }

    /// Cost of the offered curve at variable value x (pu), $/h.
    pub fn offered_cost(&self, x_pu: f64, mw_per_pu: f64) -> f64 {
        match self.kind {
            OfferKind::Load => 0.0,
            _ => self.offer.cost.cost(x_pu * mw_per_pu),
        }
    }
}
