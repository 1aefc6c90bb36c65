//! The same auction as a sparse QP solved by Clarabel (interior point), in the
//! branch-flow form: variables are the order quantities and one flow per edge,
//! one balance row per bus. Nodal prices are the balance rows' duals.
//!
//! Kept as an independent reference for the tree algorithm and for users who
//! want a general solver. The solver object is built once per network and
//! order placement and then updated in place for new curves (presolve is off
//! so that Clarabel accepts the updates).

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};

use super::{PlacedOrder, Side, Status};
use crate::error::MarketError;
use crate::network::RadialNetwork;

/// A Clarabel problem for one network and one order pattern (same buses and
/// sides in the same order); curves may change between solves.
pub struct QpAuction {
    solver: DefaultSolver<f64>,
    n_orders: usize,
    n_buses: usize,
    /// Edge ids with a finite limit, in the order of their limit rows.
    limited_edges: Vec<usize>,
    /// Variable index of each edge's flow (by child bus id; unused at the root).
    flow_var: Vec<usize>,
    pattern: Vec<(usize, Side)>,
    limits: Vec<f64>,
}

pub(crate) struct QpSolution {
    pub quantity: Vec<f64>,
    pub flow: Vec<f64>,
    pub bus_price: Vec<f64>,
    pub iterations: u32,
}

fn settings() -> DefaultSettings<f64> {
    DefaultSettingsBuilder::default()
        .verbose(false)
        .presolve_enable(false)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .tol_ktratio(1e-8)
        .build()
        .expect("static Clarabel settings are valid")
}

impl QpAuction {
    pub fn new(net: &RadialNetwork, orders: &[PlacedOrder]) -> Result<Self, MarketError> {
        let k = orders.len();
        let n = net.len();
        let mut flow_var = vec![usize::MAX; n];
        let mut nv = k;
        for e in net.edges() {
            flow_var[e] = nv;
            nv += 1;
        }
        let limited_edges: Vec<usize> = net.edges().filter(|&e| net.limit_kw[e].is_finite()).collect();
        // Rows: n balances (zero cone), then 2k quantity bounds, then 2 per limited edge.
        let m = n + 2 * k + 2 * limited_edges.len();
        let mut cols: Vec<Vec<(usize, f64)>> = vec![Vec::new(); nv];
        for (j, o) in orders.iter().enumerate() {
            cols[j].push((o.bus, o.side.sign()));
            cols[j].push((n + 2 * j, -1.0)); // −q ≤ −q_min
            cols[j].push((n + 2 * j + 1, 1.0)); // q ≤ q_max
        }
        for e in net.edges() {
            let v = flow_var[e];
            // Flow leaves the parent's balance and enters the child's: the
            // balance of bus i is  Σ buys − Σ sells + Σ_children f_c − f_i = 0.
            let mut entries = vec![(net.parent[e], 1.0), (e, -1.0)];
            if let Some(r) = limited_edges.iter().position(|&x| x == e) {
                let row = n + 2 * k + 2 * r;
                entries.push((row, 1.0));
                entries.push((row + 1, -1.0));
            }
            entries.sort_by_key(|&(r, _)| r);
            cols[v] = entries;
        }
        let a = csc_from_columns(m, &cols);
        let p = CscMatrix::new(nv, nv, (0..=nv).map(|j| j.min(k)).collect(), (0..k).collect(), vec![0.0; k]);
        let cones = [SupportedConeT::ZeroConeT(n), SupportedConeT::NonnegativeConeT(m - n)];
        let q = vec![0.0; nv];
        let b = vec![0.0; m];
        let solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings())
            .map_err(|e| MarketError::Solver(format!("Clarabel setup failed: {e:?}")))?;
        let limits = limited_edges.iter().map(|&e| net.limit_kw[e]).collect();
        Ok(QpAuction {
            solver,
            n_orders: k,
            n_buses: n,
            limited_edges,
            flow_var,
            pattern: orders.iter().map(|o| (o.bus, o.side)).collect(),
            limits,
        })
    }

    /// Whether `orders` have the pattern this problem was built for.
    pub fn fits(&self, net: &RadialNetwork, orders: &[PlacedOrder]) -> bool {
        self.n_buses == net.len()
            && self.pattern.len() == orders.len()
            && self.pattern.iter().zip(orders).all(|(&(b, s), o)| b == o.bus && s == o.side)
            && self.limited_edges.iter().zip(&self.limits).all(|(&e, &l)| net.limit_kw[e] == l)
            && net.edges().filter(|&e| net.limit_kw[e].is_finite()).count() == self.limited_edges.len()
    }

    pub(crate) fn solve(&mut self, orders: &[PlacedOrder]) -> Result<Result<QpSolution, Status>, MarketError> {
        let k = self.n_orders;
        let n = self.n_buses;
        let mut p_diag = Vec::with_capacity(k);
        let mut q = vec![0.0; self.solver.data.q.len()];
        let mut b = vec![0.0; self.solver.data.b.len()];
        for (j, o) in orders.iter().enumerate() {
            let c = &o.curve;
            let s = c.slope();
            p_diag.push(s);
            // Minimise −benefit (buy) or +cost (sell), each ½ s (q − q_min)² ∓ …
            q[j] = match o.side {
                Side::Buy => -c.p_max - s * c.q_min,
                Side::Sell => c.p_min - s * c.q_min,
            };
            b[n + 2 * j] = -c.q_min;
            b[n + 2 * j + 1] = c.q_max;
        }
        for (r, &lim) in self.limits.iter().enumerate() {
            b[n + 2 * k + 2 * r] = lim;
            b[n + 2 * k + 2 * r + 1] = lim;
        }
        self.solver
            .update_P(&p_diag)
            .and_then(|_| self.solver.update_q(&q))
            .and_then(|_| self.solver.update_b(&b))
            .map_err(|e| MarketError::Solver(format!("Clarabel update failed: {e:?}")))?;
        self.solver.solve();
        let sol = &self.solver.solution;
        match sol.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => {}
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
                return Ok(Err(Status::Infeasible {
                    reason: "Clarabel: primal infeasible (demand or supply minimums cannot be met within the line limits)"
                        .into(),
                }))
            }
            other => return Err(MarketError::Solver(format!("Clarabel stopped with status {other:?}"))),
        }
        let quantity = sol.x[..k].to_vec();
        let mut flow = vec![0.0; n];
        for (e, &v) in self.flow_var.iter().enumerate() {
            if v != usize::MAX {
                flow[e] = sol.x[v];
            }
        }
        // Stationarity for a buy at bus i: s(q − q_min) − p_max + z_i = 0, so
        // z_i is the marginal benefit: the nodal price (checked by finite differences in tests).
        let bus_price = sol.z[..n].to_vec();
        Ok(Ok(QpSolution { quantity, flow, bus_price, iterations: sol.iterations }))
    }
}

fn csc_from_columns(m: usize, cols: &[Vec<(usize, f64)>]) -> CscMatrix<f64> {
    let mut colptr = Vec::with_capacity(cols.len() + 1);
    let mut rowval = Vec::new();
    let mut nzval = Vec::new();
    colptr.push(0);
    for c in cols {
        for &(r, v) in c {
            rowval.push(r);
            nzval.push(v);
        }
        colptr.push(rowval.len());
    }
    CscMatrix::new(m, cols.len(), colptr, rowval, nzval)
}
