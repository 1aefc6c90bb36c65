//! The paper's own form of the lossless OPF: line flows f = H·p from the
//! matrix H that maps bus injections to line flows (the power transfer
//! distribution factors of the tree), one system balance, and limits on H·p.
//!
//! On a radial feeder every line carries exactly the net demand below it, so
//! H[e][j] = −1 when bus j lies below line e (an injection there reduces the
//! flow from the parent) and 0 otherwise. H is dense (lines × buses): use this
//! form to check the sparse branch-flow form on small feeders, never by default.
//!
//! DLMP_j = ∂cost/∂D_j = λ_system + Σ_e H[e][j]·(μ⁺_e − μ⁻_e)·(−1) … written
//! out from Clarabel's duals in [`solve_ptdf`].

use clarabel::solver::{DefaultSolver, IPSolver, SolverStatus};

use super::builder::{Builder, Row};
use super::{diagnose_infeasibility, settings, DlmpSolution, Formulation, OpfOptions, OpfStatus};
use crate::error::DlmpError;
use crate::network::DlmpNetwork;
use crate::offer::{OfferKind, PlacedCost, PlacedOffer};

/// The PTDF matrix of the tree: one row per edge (in `edges` order), one column per bus.
pub struct PtdfMatrix {
    pub edges: Vec<usize>,
    pub h: Vec<Vec<f64>>,
}

/// Builds H from the topology alone (see the module docs).
pub fn ptdf_matrix(net: &DlmpNetwork) -> PtdfMatrix {
    let n = net.len();
    let edges: Vec<usize> = net.edges().collect();
    let mut h = Vec::with_capacity(edges.len());
    for &e in &edges {
        let mut row = vec![0.0; n];
        row[e] = -1.0;
        // Buses in breadth-first order: a bus is below e if its parent is.
        for &i in &net.tree.order {
            if let Some(p) = net.parent(i) {
                if row[p] != 0.0 {
                    row[i] = -1.0;
                }
            }
        }
        h.push(row);
    }
    PtdfMatrix { edges, h }
}

/// The lossless OPF in the dense PTDF form (formulation must be `Dc`).
pub fn solve_ptdf(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    opts: &OpfOptions,
) -> Result<DlmpSolution, DlmpError> {
    if opts.formulation != Formulation::Dc {
        return Err(DlmpError::Input(
            "the PTDF form exists for the lossless (dc) formulation only".into(),
        ));
    }
    let n = net.len();
    let mw = net.s_base_kva / 1000.0;
    let kb = net.s_base_kva;
    let ptdf = ptdf_matrix(net);
    let mut b = Builder::new();
    // Injection variables per bus and fixed demand per bus, as in the branch form.
    let mut bus_terms: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    let mut demand = vec![0.0; n];
    let mut offer_vars = Vec::with_capacity(offers.len());
    let mut bounds: Vec<(usize, f64, f64)> = Vec::new();
    for o in offers {
        demand[o.bus] += o.fixed_demand;
        if o.kind == OfferKind::Load || o.hi <= o.lo {
            demand[o.bus] -= o.injection(o.lo) + o.fixed_demand;
            offer_vars.push((usize::MAX, 0));
            continue;
        }
        match &o.cost {
            PlacedCost::Quadratic { c1, c2 } => {
                let v = b.var_quadratic(*c1, 2.0 * c2);
                bus_terms[o.bus].push((v, 1.0));
                bounds.push((v, o.lo, o.hi));
                offer_vars.push((v, 1));
            }
            PlacedCost::Segments { widths, slopes } => {
                demand[o.bus] -= o.lo;
                let first = b.n_vars();
                for (w, s) in widths.iter().zip(slopes) {
                    let v = b.var(*s);
                    bus_terms[o.bus].push((v, 1.0));
                    bounds.push((v, 0.0, *w));
                }
                offer_vars.push((first, widths.len()));
            }
        }
    }
    let s_plus = b.var(opts.lmp_source * mw);
    let s_minus = b.var(-opts.effective_export_price() * mw);
    // System balance: Σ injections + s⁺ − s⁻ = Σ demand.
    let mut row: Vec<(usize, f64)> = bus_terms.iter().flatten().copied().collect();
    row.push((s_plus, 1.0));
    row.push((s_minus, -1.0));
    let balance = b.eq(&row, demand.iter().sum());
    for &(v, lo, hi) in &bounds {
        b.le(&[(v, 1.0)], hi);
        b.le(&[(v, -1.0)], -lo);
    }
    b.le(&[(s_plus, -1.0)], 0.0);
    b.le(&[(s_minus, -1.0)], 0.0);
    // Limits on f = H (injections − demand).
    let mut limit_rows: Vec<Option<(Row, Row, usize)>> = Vec::with_capacity(ptdf.edges.len());
    for (k, &e) in ptdf.edges.iter().enumerate() {
        let lim = net.limit_kw(e) / kb;
        if !lim.is_finite() {
            limit_rows.push(None);
            continue;
        }
        let h = &ptdf.h[k];
        let mut coeffs = Vec::new();
        let mut h_demand = 0.0;
        for j in 0..n {
            if h[j] != 0.0 {
                coeffs.extend(bus_terms[j].iter().map(|&(v, c)| (v, h[j] * c)));
                h_demand += h[j] * demand[j];
            }
        }
        let up = b.le(&coeffs, lim + h_demand);
        let neg: Vec<(usize, f64)> = coeffs.iter().map(|&(v, c)| (v, -c)).collect();
        let lo = b.le(&neg, lim - h_demand);
        limit_rows.push(Some((up, lo, k)));
    }
    let problem = b.build();
    let mut solver = DefaultSolver::new(
        &problem.p,
        &problem.q,
        &problem.a,
        &problem.b,
        &problem.cones,
        settings(opts.tolerance),
    )
    .map_err(|e| DlmpError::Solver(format!("Clarabel setup failed: {e:?}")))?;
    solver.solve();
    let sol = &solver.solution;
    let mut out = DlmpSolution::empty(
        n,
        offers.len(),
        Formulation::Dc,
        opts.lmp_source,
        OpfStatus::Optimal,
    );
    out.iterations = sol.iterations;
    out.solver = "clarabel (ptdf)";
    match sol.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {}
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
            let (reason, agents) = diagnose_infeasibility(net, offers, opts);
            out.status = OpfStatus::Infeasible { reason, agents };
            return Ok(out);
        }
        other => {
            out.status = OpfStatus::Failed {
                reason: format!("Clarabel stopped with status {other:?}"),
            };
            return Ok(out);
        }
    }
    let z = &sol.z;
    let x = &sol.x;
    // ∂cost/∂D_j: D_j enters the balance (coefficient 1) and each limit's
    // right-hand side (+H for the upper row, −H for the lower row).
    let lambda = -z[problem.row(balance)];
    let mut dlmp = vec![lambda; n];
    let mut net_inj = vec![0.0; n];
    for (j, terms) in bus_terms.iter().enumerate() {
        net_inj[j] = terms.iter().map(|&(v, c)| c * x[v]).sum::<f64>() - demand[j];
    }
    for (up, lo, k) in limit_rows.iter().flatten().copied() {
        let mu = z[problem.row(up)] - z[problem.row(lo)];
        for j in 0..n {
            dlmp[j] -= ptdf.h[k][j] * mu;
        }
        out.congestion_dual[ptdf.edges[k]] = mu / mw;
    }
    out.dlmp = dlmp.iter().map(|v| v / mw).collect();
    out.q_price = vec![0.0; n];
    out.voltage_pu = vec![1.0; n];
    for (k, &e) in ptdf.edges.iter().enumerate() {
        // Flow from the parent into e = −Σ_j H[e][j]·(net injection at j)·(−1)… = demand below e.
        out.flow_p_kw[e] = ptdf.h[k]
            .iter()
            .zip(&net_inj)
            .map(|(h, p)| h * p)
            .sum::<f64>()
            * kb;
    }
    let mut objective =
        (opts.lmp_source * x[s_plus] - opts.effective_export_price() * x[s_minus]) * mw;
    for (k, o) in offers.iter().enumerate() {
        let (first, count) = offer_vars[k];
        let var = if count == 0 {
            o.lo
        } else if matches!(o.cost, PlacedCost::Segments { .. }) {
            o.lo + x[first..first + count].iter().sum::<f64>()
        } else {
            x[first]
        };
        out.variable_kw[k] = var * kb;
        out.injection_kw[k] = o.injection(var) * kb;
        out.injection_kvar[k] = if o.kind == OfferKind::Generator {
            0.0
        } else {
            o.injection(var) * o.q_per_p * kb
        };
        objective += o.offered_cost(var, mw);
    }
    out.objective = objective;
    out.source_p_kw = (x[s_plus] - x[s_minus]) * kb;
    out.source_q_kvar = 0.0;
    out.decomposition.energy = out.dlmp[net.root()];
    out.decomposition.congestion = out.dlmp.iter().map(|l| l - out.dlmp[net.root()]).collect();
    out.decomposition.voltage = vec![0.0; n];
    out.decomposition.loss = vec![0.0; n];
    Ok(out)
}
