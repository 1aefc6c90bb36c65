//! A re-solve's problem update without re-assembly: what of the problem a
//! new interval can change (costs, offer ranges, demand, the LinDistFlow loss
//! factors) and where each of those values sits in the cached problem.
//!
//! [`IntervalPlan::new`] is made once per structure, from the problem
//! [`super::assemble_rows`] built; [`IntervalPlan::matches`] checks that the
//! next interval has that structure (the same network data, options and
//! offer shapes) and [`IntervalPlan::write`] writes its values in place, in
//! the order `assemble_rows` creates the variables and rows. Everything the
//! plan does not write (network impedances, limits, voltage band, regulator
//! ranges) is compared by `matches`, so the result equals a fresh assembly
//! (a test checks it entry by entry).

use clarabel::algebra::CscMatrix;

use super::builder::Problem;
use super::{
    add_fixed_injections, loss_coefficients, DualRows, Formulation, Layout, OfferShape, OpfOptions,
    NO,
};
use crate::network::{DlmpNetwork, Regulation};
use crate::offer::{PlacedCost, PlacedOffer};

/// The network data the assembly reads, as it was when the plan was made.
struct NetworkKey {
    root: usize,
    parent: Vec<usize>,
    order: Vec<usize>,
    limit_kw: Vec<f64>,
    r_pu: Vec<f64>,
    x_pu: Vec<f64>,
    tap: Vec<f64>,
    regulation: Vec<Option<Regulation>>,
    s_base_kva: f64,
    /// Buses exempt from the voltage band (resolved names).
    exempt: Vec<usize>,
}

impl NetworkKey {
    fn new(net: &DlmpNetwork, opts: &OpfOptions) -> Self {
        NetworkKey {
            root: net.root(),
            parent: net.tree.parent.clone(),
            order: net.tree.order.clone(),
            limit_kw: net.tree.limit_kw.clone(),
            r_pu: net.r_pu.clone(),
            x_pu: net.x_pu.clone(),
            tap: net.tap.clone(),
            regulation: net.regulation.clone(),
            s_base_kva: net.s_base_kva,
            exempt: exempt_buses(net, opts).collect(),
        }
    }
    fn matches(&self, net: &DlmpNetwork, opts: &OpfOptions) -> bool {
        // (Children are derived from the parents when the network is built.)
        self.root == net.root()
            && self.s_base_kva == net.s_base_kva
            && self.parent == net.tree.parent
            && self.order == net.tree.order
            && same_bits(&self.limit_kw, &net.tree.limit_kw)
            && same_bits(&self.r_pu, &net.r_pu)
            && same_bits(&self.x_pu, &net.x_pu)
            && same_bits(&self.tap, &net.tap)
            && self.regulation == net.regulation
            && exempt_buses(net, opts).eq(self.exempt.iter().copied())
    }
}

/// Whether two vectors hold the same numbers, bit for bit (a branch-free
/// loop: this runs for every interval).
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .fold(0u64, |diff, (x, y)| diff | (x.to_bits() ^ y.to_bits()))
            == 0
}

fn exempt_buses<'a>(
    net: &'a DlmpNetwork,
    opts: &'a OpfOptions,
) -> impl Iterator<Item = usize> + 'a {
    opts.v_exempt.iter().filter_map(|b| net.bus_index(b))
}

/// Whether two option sets give problems of the same structure and the same
/// values apart from those [`IntervalPlan::write`] writes (the LMP, the
/// export price, the loss base point). Every field is named, so that a new
/// option must be sorted into one group or the other.
fn same_structure_options(a: &OpfOptions, b: &OpfOptions) -> bool {
    let OpfOptions {
        formulation,
        dc_algorithm,
        conic_solver,
        lmp_source: _,
        export_price: _,
        v_source_pu,
        v_min_pu,
        v_max_pu,
        regulators,
        v_exempt,
        losses,
        loss_iterations: _,
        loss_base_kw: _,
        exactness_tol: _,
        tolerance,
    } = a;
    *formulation == b.formulation
        && *dc_algorithm == b.dc_algorithm
        && *conic_solver == b.conic_solver
        && *v_source_pu == b.v_source_pu
        && *v_min_pu == b.v_min_pu
        && *v_max_pu == b.v_max_pu
        && *regulators == b.regulators
        && *v_exempt == b.v_exempt
        && *losses == b.losses
        && *tolerance == b.tolerance
}

/// Where a new interval's values go in the cached problem (see the module docs).
pub(super) struct IntervalPlan {
    /// The layout of the cached problem (its loss factors are rewritten
    /// with every interval).
    pub(super) layout: Layout,
    /// Its rows as indices into the duals (for `extract`).
    pub(super) rows: DualRows,
    options: OpfOptions,
    network: NetworkKey,
    shapes: Vec<OfferShape>,
    /// Global row of the first single-variable bound (two per variable, in order).
    first_bound_row: usize,
    /// Global balance rows per bus (reactive: NO for the lossless model).
    p_row: Vec<usize>,
    q_row: Vec<usize>,
    /// Index in A's values of each curtailment's reactive-balance entry, in variable order.
    dr_q_entries: Vec<usize>,
    /// LinDistFlow with losses, per edge: A's entries (P row: P, Q; Q row: Q, P) of the loss factors.
    loss_entries: Vec<[usize; 4]>,
    /// Balance right-hand sides, per unit (buffers kept between intervals).
    p_demand: Vec<f64>,
    q_demand: Vec<f64>,
}

/// Index in A's values of entry (row, col), if A holds it.
fn entry_index(a: &CscMatrix<f64>, row: usize, col: usize) -> Option<usize> {
    let (lo, hi) = (*a.colptr.get(col)?, *a.colptr.get(col + 1)?);
    let rows = a.rowval.get(lo..hi)?;
    rows.binary_search(&row).ok().map(|k| lo + k)
}

/// Where the plan's values sit in the problem (see [`IntervalPlan`]).
struct Positions {
    first_bound_row: usize,
    p_row: Vec<usize>,
    q_row: Vec<usize>,
    dr_q_entries: Vec<usize>,
    loss_entries: Vec<[usize; 4]>,
}

impl Positions {
    fn new(
        net: &DlmpNetwork,
        offers: &[PlacedOffer],
        opts: &OpfOptions,
        problem: &Problem,
        layout: &Layout,
    ) -> Option<Self> {
        let f = opts.formulation;
        let branch = f != Formulation::Dc;
        let n = net.len();
        let p_row: Vec<usize> = layout.p_bal.iter().map(|&r| problem.row(r)).collect();
        let q_row: Vec<usize> = layout
            .q_bal
            .iter()
            .map(|r| r.map_or(NO, |r| problem.row(r)))
            .collect();
        if p_row.len() != n || q_row.len() != n || layout.offer_vars.len() != offers.len() {
            return None;
        }
        let first_bound_row = problem.row(layout.first_bound_row?);
        let mut dr_q_entries = Vec::new();
        for (o, &(first, count)) in offers.iter().zip(&layout.offer_vars) {
            let shape = OfferShape::of(o, branch);
            if shape.p_var && shape.q_term {
                for v in first..first + count {
                    dr_q_entries.push(entry_index(&problem.a, q_row[o.bus], v)?);
                }
            }
        }
        let mut loss_entries = Vec::new();
        if f == Formulation::LinDistFlow && opts.losses {
            loss_entries = vec![[NO; 4]; n];
            for e in net.edges() {
                let (fp, fq) = (layout.flow_p[e], layout.flow_q[e]);
                loss_entries[e] = [
                    entry_index(&problem.a, p_row[e], fp)?,
                    entry_index(&problem.a, p_row[e], fq)?,
                    entry_index(&problem.a, q_row[e], fq)?,
                    entry_index(&problem.a, q_row[e], fp)?,
                ];
            }
        }
        Some(Positions {
            first_bound_row,
            p_row,
            q_row,
            dr_q_entries,
            loss_entries,
        })
    }
}

impl IntervalPlan {
    /// The plan of `problem`, built by `assemble_rows` from these inputs with
    /// `layout`; gives the layout back when some value it would write does
    /// not sit in one entry of its own (re-solves then keep assembling).
    pub(super) fn new(
        net: &DlmpNetwork,
        offers: &[PlacedOffer],
        opts: &OpfOptions,
        problem: &Problem,
        layout: Layout,
        entries_merged: bool,
    ) -> Result<Self, Layout> {
        let branch = opts.formulation != Formulation::Dc;
        let Some(positions) = (!entries_merged)
            .then(|| Positions::new(net, offers, opts, problem, &layout))
            .flatten()
        else {
            return Err(layout);
        };
        let n = net.len();
        Ok(IntervalPlan {
            rows: DualRows::new(problem, &layout),
            layout,
            options: opts.clone(),
            network: NetworkKey::new(net, opts),
            shapes: offers.iter().map(|o| OfferShape::of(o, branch)).collect(),
            first_bound_row: positions.first_bound_row,
            p_row: positions.p_row,
            q_row: positions.q_row,
            dr_q_entries: positions.dr_q_entries,
            loss_entries: positions.loss_entries,
            p_demand: vec![0.0; n],
            q_demand: vec![0.0; n],
        })
    }

    /// Whether this interval's problem has the plan's structure and fixed values.
    pub(super) fn matches(
        &self,
        net: &DlmpNetwork,
        offers: &[PlacedOffer],
        opts: &OpfOptions,
    ) -> bool {
        let branch = opts.formulation != Formulation::Dc;
        same_structure_options(&self.options, opts)
            && offers.len() == self.shapes.len()
            && offers
                .iter()
                .zip(&self.shapes)
                .all(|(o, s)| OfferShape::of(o, branch) == *s)
            && self.network.matches(net, opts)
    }

    /// Writes this interval's values into `problem` (which must be the plan's,
    /// and [`IntervalPlan::matches`] true): the same values `assemble_rows`
    /// computes, in the same order of operations.
    pub(super) fn write(
        &mut self,
        net: &DlmpNetwork,
        offers: &[PlacedOffer],
        opts: &OpfOptions,
        loss_base: &[(f64, f64)],
        problem: &mut Problem,
    ) {
        let f = opts.formulation;
        let branch = f != Formulation::Dc;
        let mw = net.s_base_kva / 1000.0;
        self.p_demand.fill(0.0);
        self.q_demand.fill(0.0);
        let (q, b) = (&mut problem.q, &mut problem.b);
        let mut bound = self.first_bound_row;
        let mut dr_entries = self.dr_q_entries.iter();
        for (k, (o, shape)) in offers.iter().zip(&self.shapes).enumerate() {
            add_fixed_injections(o, *shape, branch, &mut self.p_demand, &mut self.q_demand);
            if shape.p_var {
                let (first, _) = self.layout.offer_vars[k];
                let q_coef = shape.q_coef(o);
                let mut v = first;
                let mut set_var = |cost: f64, hi: f64, neg_lo: f64| {
                    q[v] = cost;
                    b[bound] = hi;
                    b[bound + 1] = neg_lo;
                    bound += 2;
                    if shape.q_term {
                        if let Some(&entry) = dr_entries.next() {
                            problem.a.nzval[entry] = 0.0 + q_coef;
                        }
                    }
                    v += 1;
                };
                match &o.cost {
                    PlacedCost::Quadratic { c1, c2 } => {
                        set_var(*c1, o.hi, -o.lo);
                        problem.p.nzval[problem.p.colptr[first]] = 0.0 + 2.0 * c2;
                    }
                    PlacedCost::Segments { widths, slopes } => {
                        for (w, s) in widths.iter().zip(slopes) {
                            set_var(*s, *w, 0.0);
                        }
                    }
                }
            }
            if let Some(v) = self.layout.offer_q_var[k] {
                q[v] = 0.0;
                b[bound] = o.q_hi;
                b[bound + 1] = -o.q_lo;
                bound += 2;
            }
        }
        q[self.layout.s_plus] = opts.lmp_source * mw;
        q[self.layout.s_minus] = -opts.effective_export_price() * mw;
        let lay = &mut self.layout;
        let ldf_losses = f == Formulation::LinDistFlow && opts.losses;
        if ldf_losses {
            let a = &mut problem.a.nzval;
            for e in net.edges() {
                let c = loss_coefficients(net, loss_base, e);
                lay.loss_coef[e] = c;
                let [pp, pq, qq, qp] = self.loss_entries[e];
                // (0 + v: the sign of a zero as `Builder::update_problem` leaves it.)
                a[pp] = 0.0 + (1.0 - c[0]);
                a[pq] = 0.0 + -c[1];
                a[qq] = 0.0 + (1.0 - c[3]);
                a[qp] = 0.0 + -c[2];
            }
        }
        for j in 0..net.len() {
            let mut rhs = self.p_demand[j];
            if f == Formulation::LinDistFlow && net.parent(j).is_some() {
                rhs += lay.loss_coef[j][4];
            }
            b[self.p_row[j]] = rhs;
        }
        if branch {
            for j in 0..net.len() {
                let mut rhs = self.q_demand[j];
                if f == Formulation::LinDistFlow && net.parent(j).is_some() {
                    rhs += lay.loss_coef[j][5];
                }
                b[self.q_row[j]] = rhs;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Regulation;
    use crate::offer::{CostCurve, Offer};
    use crate::opf::{assemble, demand_flows, Builder};
    use crate::testutil::random_case;

    /// A random feeder with every kind of offer shape the assembly knows:
    /// quadratic and segmented costs, fixed outputs, reactive ranges and a
    /// fixed reactive output, curtailment with reactive demand, a regulator.
    fn case() -> (DlmpNetwork, Vec<Offer>) {
        let (mut net, mut offers) = random_case(60, 7, 0.3);
        net.regulation[5] = Some(Regulation {
            v_low_pu: 0.98,
            v_high_pu: 1.02,
            tap_min: 0.9,
            tap_max: 1.1,
        });
        net.tap[5] = 1.01;
        let pwl = CostCurve::PiecewiseLinear(vec![(0.0, 0.0), (0.05, 1.0), (0.1, 3.0)]);
        offers.push(
            Offer::generator("seg", "b12", 0.0, 100.0, pwl.clone()).with_reactive(-30.0, 40.0),
        );
        offers.push(Offer::generator("seg_lo", "b3", 20.0, 100.0, pwl));
        offers.push(Offer::generator(
            "fixed",
            "b20",
            30.0,
            30.0,
            CostCurve::quadratic(20.0, 0.0),
        ));
        offers.push(
            Offer::generator("fixed_q", "b21", 0.0, 50.0, CostCurve::linear(25.0))
                .with_reactive(10.0, 10.0),
        );
        offers.push(
            Offer::generator("q_gen", "b30", 0.0, 60.0, CostCurve::quadratic(15.0, 50.0))
                .with_reactive(-20.0, 20.0),
        );
        (net, offers)
    }

    fn place(net: &DlmpNetwork, offers: &[Offer]) -> Vec<PlacedOffer> {
        offers
            .iter()
            .map(|o| PlacedOffer::place(net, o).expect("test offers are valid"))
            .collect()
    }

    /// A new interval: every value the plan writes moves, the structure stays.
    fn next_interval(offers: &[Offer], k: usize) -> Vec<Offer> {
        let s = 1.0 + 0.01 * k as f64;
        offers
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if o.p_min_kw == o.p_max_kw {
                    o.p_min_kw *= s;
                } else if o.p_min_kw > 0.0 {
                    o.p_min_kw *= 1.0 + 0.005 * k as f64;
                }
                o.p_max_kw *= s;
                if o.q_per_p != 0.0 {
                    o.q_per_p *= s;
                }
                if o.q_max_kvar > o.q_min_kvar {
                    o.q_max_kvar *= s;
                }
                o.cost = match &o.cost {
                    CostCurve::Polynomial(c) => {
                        CostCurve::Polynomial(c.iter().map(|c| c * s).collect())
                    }
                    CostCurve::PiecewiseLinear(p) => CostCurve::PiecewiseLinear(
                        p.iter().map(|&(x, y)| (x * s, y * s * s)).collect(),
                    ),
                };
                o
            })
            .collect()
    }

    #[test]
    fn a_planned_update_equals_a_fresh_assembly() {
        let (net, offers) = case();
        for f in Formulation::ALL {
            let mut opts = OpfOptions::default().with_formulation(f).with_lmp(42.0);
            opts.v_exempt = vec!["b4".into()];
            let placed = place(&net, &offers);
            let base = demand_flows(&net, &placed);
            let (builder, layout) =
                super::super::assemble_rows(&net, &placed, &opts, &base, Builder::new());
            let (mut problem, map) = builder.build_with_map();
            let mut plan = match IntervalPlan::new(
                &net,
                &placed,
                &opts,
                &problem,
                layout,
                map.merged_entries(),
            ) {
                Ok(plan) => plan,
                Err(_) => panic!("{f}: no plan"),
            };
            for k in 1..4 {
                let interval = place(&net, &next_interval(&offers, k));
                let mut o = opts.clone();
                o.lmp_source = 42.0 + k as f64;
                o.export_price = 10.0 * k as f64;
                let base = demand_flows(&net, &interval);
                assert!(
                    plan.matches(&net, &interval, &o),
                    "{f}: interval {k} should match"
                );
                plan.write(&net, &interval, &o, &base, &mut problem);
                let (fresh, fresh_layout) = assemble(&net, &interval, &o, &base);
                assert!(problem.same_pattern(&fresh), "{f}");
                assert_eq!(problem.q, fresh.q, "{f}: q, interval {k}");
                assert_eq!(problem.b, fresh.b, "{f}: b, interval {k}");
                assert_eq!(problem.p.nzval, fresh.p.nzval, "{f}: P, interval {k}");
                assert_eq!(problem.a.nzval, fresh.a.nzval, "{f}: A, interval {k}");
                assert_eq!(plan.layout.loss_coef, fresh_layout.loss_coef, "{f}");
            }
        }
    }

    #[test]
    fn planned_re_solves_equal_assembled_re_solves() {
        use crate::opf::OpfSolver;
        let (net, offers) = case();
        for f in Formulation::ALL {
            let opts = OpfOptions::default().with_formulation(f).with_lmp(42.0);
            let (mut planned, mut assembled) = (OpfSolver::new(), OpfSolver::new());
            for k in 0..4 {
                let interval = place(&net, &next_interval(&offers, k));
                let mut o = opts.clone();
                o.lmp_source += k as f64;
                // Without its plan the solver assembles the problem (the old path).
                assembled.ipm_plan = None;
                let mut a = planned.solve(&net, &interval, &o).expect("solves");
                let mut b = assembled.solve(&net, &interval, &o).expect("solves");
                assert!(a.is_optimal(), "{f}: interval {k}: {:?}", a.status);
                assert_eq!(planned.ipm_plan.is_some(), true, "{f}");
                (a.solve_seconds, b.solve_seconds) = (0.0, 0.0);
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{f}: interval {k}");
            }
            // An offer changes shape (a new structure), a line's impedance (the
            // structure stays: assembled into the cached problem), a load
            // moves to another bus (another shape, the same structure).
            let mut changed = next_interval(&offers, 5);
            let last = changed.len() - 1;
            changed[last].q_max_kvar = changed[last].q_min_kvar;
            let mut other_net = net.clone();
            other_net.r_pu[9] *= 1.2;
            let mut moved = changed.clone();
            let load = moved
                .iter()
                .rposition(|o| o.kind == crate::offer::OfferKind::Load)
                .expect("the case has loads");
            moved[load].bus = "b1".into();
            for (net, offers) in [
                (&net, &changed),
                (&other_net, &changed),
                (&other_net, &moved),
            ] {
                let interval = place(net, offers);
                assembled.ipm_plan = None;
                let mut a = planned.solve(net, &interval, &opts).expect("solves");
                let mut b = assembled.solve(net, &interval, &opts).expect("solves");
                (a.solve_seconds, b.solve_seconds) = (0.0, 0.0);
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{f}: changed interval");
            }
        }
    }

    #[test]
    fn a_plan_rejects_other_structures_and_fixed_values() {
        let (net, offers) = case();
        let opts = OpfOptions::default().with_formulation(Formulation::Socp);
        let placed = place(&net, &offers);
        let base = demand_flows(&net, &placed);
        let (builder, layout) =
            super::super::assemble_rows(&net, &placed, &opts, &base, Builder::new());
        let (problem, map) = builder.build_with_map();
        let Ok(plan) =
            IntervalPlan::new(&net, &placed, &opts, &problem, layout, map.merged_entries())
        else {
            panic!("no plan");
        };
        assert!(plan.matches(&net, &placed, &opts));
        // An offer without its range (no variable), a reactive range closed, a new offer.
        let mut fewer = offers.clone();
        let last = fewer.len() - 1;
        fewer[last].q_max_kvar = fewer[last].q_min_kvar;
        assert!(!plan.matches(&net, &place(&net, &fewer), &opts));
        let mut more = offers.clone();
        more.push(Offer::load("extra", "b2", 1.0, 0.3));
        assert!(!plan.matches(&net, &place(&net, &more), &opts));
        // Network values and options the plan does not write.
        let mut other = net.clone();
        other.r_pu[9] *= 1.5;
        assert!(!plan.matches(&other, &placed, &opts));
        let mut other = net.clone();
        other.tree.limit_kw[9] = 55.0;
        assert!(!plan.matches(&other, &placed, &opts));
        let mut o = opts.clone();
        o.v_max_pu = 1.04;
        assert!(!plan.matches(&net, &placed, &o));
        let mut o = opts.clone();
        o.v_exempt = vec!["b4".into()];
        assert!(!plan.matches(&net, &placed, &o));
        // The values it writes do not matter.
        let mut o = opts.clone();
        o.lmp_source = 80.0;
        o.export_price = 5.0;
        assert!(plan.matches(&net, &place(&net, &next_interval(&offers, 2)), &o));
    }
}
