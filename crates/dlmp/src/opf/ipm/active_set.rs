//! Re-solves by Newton's method on the last solution's active set, verified
//! by the KKT conditions (`TreeIpm::solve` tries it first on a re-solve; any
//! failure hands the interval back to the interior point).
//!
//! From interval to interval the data move a little and the set of binding
//! constraints (bounds at their limit, voltage limits, line limits) mostly
//! stays. With that set fixed the KKT conditions are a system of equations:
//!
//! ```text
//!   P x + q + Aₑᵀy + Σ_active g_i z_i + Σ_active cones ν_c ∇φ_c(x) = 0
//!   Aₑ x = bₑ,   g_iᵀx = b_i (active rows),   φ_c(x) = (‖s̄_c‖² − s_c0²)/2s_c0 = 0 (active cones)
//! ```
//!
//! with every other dual zero. It is linear except for the cones: limits
//! whose first entry is a constant (|S| ≤ S_max: s = (S_max, P, Q)), whose
//! curvature ν·I is positive, and the SOCP's relaxation cones, held as
//! φ_c = ‖s̄_c‖ − s_c0 instead (`norm_cone`: convex, curvature ν·Ḡᵀ(I − ûûᵀ)Ḡ/‖s̄‖
//! positive semidefinite), so
//! every Newton system is quasi-definite: [H Cᵀ; C −δI] over the primal
//! variables and *all* rows (equality, orthant, cone), an inactive row
//! decoupled (its entries zero, its pivot −1). The pattern never changes, so
//! it is ordered and analysed once, and eliminated along the feeder tree
//! like the interior point's. A QP without active cones needs one
//! factorisation; with cones Newton converges quadratically (2–3 steps, the
//! later ones chord steps on the same factor when the last gained ≥ 100×).
//! Static regularisation (±1e-8 on the pivots) is not refined away: each
//! Newton step's residuals are computed exactly, so an inexact solve costs
//! at most one more step (cheaper than refining every solve).
//!
//! A change of the set costs no factorisation: the factor K₀ of the set it
//! was built for is bordered by the rows and cones where the current set
//! differs (`Border`; a ≤ `MAX_BORDER` dense Schur complement from
//! sparse forward passes), and the steps on it are chord steps like those
//! above. The next re-solve starts on the same factor, bordered by how its
//! set differs. A step on such an older factor that gains less than
//! `CHORD_GAIN`, or stalls, refactorises at the current point and set.
//!
//! The point found is accepted only if it is a KKT point of the problem:
//! every inactive row satisfied, every active row's dual of the right sign
//! (z ≥ 0, ν ≥ 0). Otherwise the violated rows join the set and the rows
//! with wrong-signed duals leave it (a primal–dual active-set step), a few
//! times at most before the interior point takes over. A relaxation cone
//! not tight (the relaxation not exact, its optimum not unique) leaves the
//! interval to the interior point: no attempt if the last solution has one,
//! no acceptance of a KKT point without one.

mod norm_cone;

use super::{Rows, TreeIpm};
use crate::opf::ldl::Ldl;
use norm_cone::NormCone;

/// Newton steps of one attempt before giving up (with chord and bordered
/// steps, 8 → 16 and the limits below 3 → 6 and 4 → 8 took the 1k-bus
/// LinDistFlow re-solves that end in the interior point from 122 to 26 of 200).
const MAX_NEWTON: usize = 16;
/// Changes of the active set before giving up (a re-solve from the last
/// interval's solution, and a crossover from the interior point's iterate;
/// 6 → 8 with `MAX_COMEBACKS` 3 → 5: the 1k-bus SOCP's interval that cycled
/// ends at a KKT point after 10 steps, 37 → 40 of 40 re-solves without the
/// interior point).
const MAX_ROUNDS: usize = 8;
/// Rows entering or leaving the set in one change, at most.
const MAX_CHANGED_ROWS: usize = 8;
/// A step on an older factor (chord or bordered) that gains less than this
/// factor in the residuals is followed by a refactorisation (1e-1: fewer
/// factorisations but more steps, and more attempts fail).
const CHORD_GAIN: f64 = 1e-2;
/// Changes that only drop rows without halving the primal residual, at most.
const MAX_IDLE_LEAVES: usize = 3;
/// Rows or cones coming back after leaving, at most, before the attempt
/// ends (1 ends successful attempts too: 1k buses, 6 → 30 of 100 fail; 2
/// only cycling ones, but also those that the repeated-leave rule in
/// `update_active_set` then resolves; 3 was reached by one 1k SOCP
/// interval that then ends at a KKT point (see `MAX_ROUNDS`); 5 and
/// `MAX_NEWTON` guard against longer cycles).
const MAX_COMEBACKS: usize = 5;
/// A leave restores the active duals to their values before the step only
/// if the leaving dual is below minus this (a singular step's noise is
/// ±10³; at 1k buses restoring after every leave took 6.475 LinDistFlow /
/// 7.025 SOCP steps per re-solve, this 6.225 / 6.6; 0.1: 6.275, 100: 7.75).
const RESTORE_BELOW: f64 = 1.0;
/// Static regularisation of the primal (+) and row (−) pivots.
const REG: f64 = 1e-8;
/// A row counts as active when its dual exceeds its slack by this factor.
const CLEAR: f64 = 1e4;
/// `ActiveSet::in_system` of a condensed bound.
const NOT_IN_SYSTEM: usize = usize::MAX;
/// `ActiveSet::norm_of` of a limit cone.
const NOT_NORM: usize = usize::MAX;
/// Rows and cones that differ from the factorised set, at most, before a
/// change of the set refactorises instead of bordering the factor.
const MAX_BORDER: usize = 16;

/// How a row or cone differs from the set the factor was built for.
#[derive(Clone, Copy, Debug)]
enum BorderRow {
    /// Inactive in the factor, active now: a new unknown (its dual) with
    /// its constraint's gradient as column and −δ as pivot.
    EnterRow(usize),
    EnterCone(usize),
    /// Active in the factor, inactive now: its dual pinned at its value
    /// (a unit column, pivot 0), which frees its row's equation. A cone's
    /// curvature stays in the factor (a chord step: the residuals are exact).
    PinRow(usize),
    PinCone(usize),
    /// A condensed bound (see `ActiveSet::bounds`), active in the factor,
    /// inactive now: its eliminated dual dz = (g·dx_j + w − r)/δ pinned
    /// at 0 with a free w; in w' = w/δ, column g on x_j and pivot +δ.
    PinBound(usize),
}

/// The bordered system [K₀ U; Uᵀ D] that lets a change of the active set
/// reuse the factor K₀ = Π⁻¹·L·D₀·Lᵀ·Π⁻ᵀ: with V = L⁻¹·Π·U (sparse: U's
/// columns' paths to the root of the elimination tree) and f = L⁻¹·Π·r,
/// the border's unknowns solve S·w = r_b − Vᵀ·D₀⁻¹·f with the small dense
/// S = D − Vᵀ·D₀⁻¹·V, and the backward pass runs on f − V·w. A set change
/// then costs a few sparse forward passes instead of a factorisation.
#[derive(Default)]
struct Border {
    rows: Vec<BorderRow>,
    /// V's columns: (position in elimination order, value).
    v: Vec<Vec<(u32, f64)>>,
    /// S, LU-factorised with partial pivoting (row-major, k × k), its pivots.
    lu: Vec<f64>,
    pivots: Vec<usize>,
    rhs: Vec<f64>,
    /// The border's unknowns of the last solve.
    w: Vec<f64>,
    /// U's column being built.
    column: Vec<(usize, f64)>,
}

/// The extended KKT system's pattern, factor and work vectors.
pub(super) struct ActiveSet {
    ldl: Ldl,
    /// Where each unknown of the Newton step (n + n_eq + n_nn + cones:
    /// `rhs`, `sol`, `rd`; cone c's multiplier at n + n_eq + n_nn + c) is in
    /// the factorised system (`NOT_IN_SYSTEM`:
    /// a bound, condensed — see `bounds`).
    in_system: Vec<usize>,
    /// The bounds (orthant rows with one entry, g·x_j ≤ b): not unknowns of
    /// the factorised system. An active one's row g·dx_j − δ·dz = r gives
    /// dz = (g·dx_j − r)/δ, which adds g²/δ to x_j's pivot and g·r/δ to its
    /// right-hand side (what eliminating its pivot first would do); an
    /// inactive one is decoupled (dz = −r). (row, variable, G entry).
    /// 1k buses, LinDistFlow: 3.6k of the 10.6k unknowns.
    bounds: Vec<(usize, usize, usize)>,
    /// The bounds active in the factor (`factor_row`), in `bounds`' order.
    factor_bounds: Vec<(usize, usize, usize)>,
    /// G's rows by entries (see `g_mul`), P's non-empty columns.
    g_single: Vec<(usize, usize, usize)>,
    g_multi: Vec<usize>,
    p_columns: Vec<usize>,
    /// The other unknowns after x and the equality rows' duals: (index
    /// after n + n_eq, place in the factorised system).
    tail_in_system: Vec<(usize, usize)>,
    /// The factorised system's right-hand side and solution.
    system: Vec<f64>,
    p_slot: Vec<usize>,
    eq_slot: Vec<usize>,
    /// By G entry of the orthant rows in the system (unused for bounds).
    g_slot: Vec<usize>,
    /// By unknown of the factorised system.
    diag_slot: Vec<usize>,
    /// Per limit cone: its variables (one per row after the first), the row's G
    /// coefficient and the slot of the linearised limit in the cone's first row.
    cone_vars: Vec<Vec<(usize, usize, usize)>>,
    /// The relaxation cones (`norm_cone`), and per cone its index among
    /// them (`NOT_NORM`: a limit, handled by the loops over all cones).
    norm_cones: Vec<NormCone>,
    norm_of: Vec<usize>,
    /// Per relaxation cone: its geometry at the point of the last residuals
    /// if active (the factorisation's, at the same point).
    locals: Vec<norm_cone::Local>,
    /// Per relaxation cone: whether `locals` holds its geometry at the
    /// current x (x has not moved since: a change of the set keeps it).
    local_at_x: Vec<bool>,
    /// Which orthant rows and cones are active.
    active_row: Vec<bool>,
    active_cone: Vec<bool>,
    /// Multiplier of each active cone's limit, in the units of its dual:
    /// μ = z₀, z = (μ/s₀)·J·s.
    nu: Vec<f64>,
    /// The step of the orthant rows' duals and cone multipliers (at
    /// n + n_eq..; x's and y's stay in `system`).
    sol: Vec<f64>,
    /// Residual of stationarity and of every row, in the system's order.
    rd: Vec<f64>,
    g_x: Vec<f64>,
    /// Whether x moved since `g_x` and the equality rows' residuals (with
    /// their ∞-norm and sum) were computed, and whether the duals moved
    /// since stationarity's (with its ∞-norm and sum): a change of the set
    /// does not move x, and one that only adds rows moves no dual.
    x_moved: bool,
    stationarity_stale: bool,
    pres_eq: f64,
    eq_sum: f64,
    dres: f64,
    stationarity_sum: f64,
    /// Σ x (its finiteness), from the step's pass.
    x_sum: f64,
    /// The interior point's state before the attempt (restored on failure).
    /// (s is not touched before an accepted point: no copy of it.)
    saved_x: Vec<f64>,
    saved_z: Vec<f64>,
    /// The point after the first Newton step (the old active set's solution
    /// for the new data): the interior point's start if the set fails.
    have_first: bool,
    first_x: Vec<f64>,
    first_z: Vec<f64>,
    first_s: Vec<f64>,
    /// The orthant duals and cone multipliers before the last Newton step.
    prev_y: Vec<f64>,
    prev_z: Vec<f64>,
    prev_nu: Vec<f64>,
    have_prev: bool,
    /// The rows (false) and cones (true) that left the set in this
    /// attempt, and how often one of them came back.
    left: Vec<(usize, bool)>,
    /// The dual of the row or cone the last change took out (0 if none).
    left_dual: f64,
    comebacks: usize,
    /// Called by the interior point near its solution (a crossover).
    crossover: bool,
    /// The set the factor was built for, and how the current one differs.
    factor_row: Vec<bool>,
    factor_cone: Vec<bool>,
    /// Whether `ldl` holds a factorisation (of `factor_row`/`factor_cone`'s set).
    factor_valid: bool,
    border: Border,
    /// Since construction: factorisations, and set changes taken by the
    /// border instead (`TreeIpm::active_set_counts`).
    pub(super) factorisations: u64,
    pub(super) bordered_changes: u64,
}

impl ActiveSet {
    /// Whether the problem's cones are all limits with a constant first
    /// entry and one variable per other entry, or small enough for `norm_cone`.
    pub(super) fn eligible(ipm: &TreeIpm) -> bool {
        ipm.sc
            .socs
            .iter()
            .all(|&(a, d)| is_limit(&ipm.g, a, d) || NormCone::fits(&ipm.g, a, d))
    }

    pub(super) fn new(ipm: &TreeIpm) -> ActiveSet {
        let (n, n_eq, mc) = (ipm.n, ipm.n_eq, ipm.mc);
        let (n_nn, n_cones) = (ipm.sc.n_nn, ipm.sc.socs.len());
        // Unknowns: x, the equality rows' duals, the orthant rows' and one
        // multiplier per cone (its linearised limit). A cone's other rows
        // never enter (their duals follow from ν and s), so they are not
        // in the system (1k buses, LinDistFlow: 10.5k → 8.5k unknowns).
        let dim = n + n_eq + n_nn + n_cones;
        let g = &ipm.g;
        let mut in_system = vec![NOT_IN_SYSTEM; dim];
        let mut bounds = Vec::new();
        let mut sys_dim = 0;
        for f in 0..dim {
            let row = f.checked_sub(n + n_eq).filter(|&r| r < n_nn);
            match row {
                Some(r) if g.ptr[r + 1] - g.ptr[r] == 1 => {
                    bounds.push((r, g.col[g.ptr[r]], g.ptr[r]));
                }
                _ => {
                    in_system[f] = sys_dim;
                    sys_dim += 1;
                }
            }
        }
        let mut entries: Vec<(usize, usize)> = Vec::new();
        for c in 0..n {
            for k in ipm.p_colptr[c]..ipm.p_colptr[c + 1] {
                entries.push((ipm.p_rowval[k], c));
            }
        }
        let n_p = entries.len();
        for r in 0..n_eq {
            for k in ipm.a_eq.ptr[r]..ipm.a_eq.ptr[r + 1] {
                entries.push((ipm.a_eq.col[k], n + r));
            }
        }
        let n_pe = entries.len();
        let mut g_entry = Vec::new();
        for r in 0..n_nn {
            let row = in_system[n + n_eq + r];
            if row == NOT_IN_SYSTEM {
                continue;
            }
            for k in g.ptr[r]..g.ptr[r + 1] {
                entries.push((g.col[k], row));
                g_entry.push(k);
            }
        }
        let n_peg = entries.len();
        let mut cone_vars = Vec::with_capacity(ipm.sc.socs.len());
        let mut norm_cones = Vec::new();
        let mut norm_of = vec![NOT_NORM; ipm.sc.socs.len()];
        for (c, &(a, d)) in ipm.sc.socs.iter().enumerate() {
            let multiplier = in_system[n + n_eq + n_nn + c];
            if !is_limit(g, a, d) {
                norm_of[c] = norm_cones.len();
                norm_cones.push(NormCone::new(g, c, a, d, multiplier, &mut entries));
                cone_vars.push(Vec::new());
                continue;
            }
            let vars: Vec<(usize, usize, usize)> = (1..d)
                .map(|k| {
                    let e = ipm.g.ptr[a + k];
                    entries.push((ipm.g.col[e], multiplier));
                    (ipm.g.col[e], e, 0)
                })
                .collect();
            cone_vars.push(vars);
        }
        let sign: Vec<f64> = (0..sys_dim)
            .map(|i| if i < n { 1.0 } else { -1.0 })
            .collect();
        let (ldl, slots, diag_slot) = Ldl::new(sys_dim, &entries, sign);
        let mut g_slot = vec![NOT_IN_SYSTEM; g.ptr[n_nn]];
        for (&k, &slot) in g_entry.iter().zip(&slots[n_pe..n_peg]) {
            g_slot[k] = slot;
        }
        // In the order the loop above appended them.
        let mut t = n_peg;
        for (vars, &k) in cone_vars.iter_mut().zip(&norm_of) {
            for v in vars.iter_mut() {
                v.2 = slots[t];
                t += 1;
            }
            if k != NOT_NORM {
                norm_cones[k].take_slots(&slots, &mut t);
            }
        }
        let tail_in_system = (n + n_eq..dim)
            .filter(|&f| in_system[f] != NOT_IN_SYSTEM)
            .map(|f| (f - n - n_eq, in_system[f]))
            .collect();
        let (mut g_single, mut g_multi) = (Vec::new(), Vec::new());
        for r in 0..mc {
            match g.ptr[r + 1] - g.ptr[r] {
                0 => {}
                1 => g_single.push((r, g.col[g.ptr[r]], g.ptr[r])),
                _ => g_multi.push(r),
            }
        }
        let p_columns = (0..n)
            .filter(|&c| ipm.p_colptr[c + 1] > ipm.p_colptr[c])
            .collect();
        ActiveSet {
            ldl,
            factor_bounds: Vec::new(),
            g_single,
            g_multi,
            p_columns,
            tail_in_system,
            in_system,
            bounds,
            system: vec![0.0; sys_dim],
            p_slot: slots[..n_p].to_vec(),
            eq_slot: slots[n_p..n_pe].to_vec(),
            g_slot,
            diag_slot,
            cone_vars,
            locals: vec![norm_cone::Local::default(); norm_cones.len()],
            local_at_x: vec![false; norm_cones.len()],
            norm_cones,
            norm_of,
            active_row: vec![false; ipm.sc.n_nn],
            active_cone: vec![false; ipm.sc.socs.len()],
            nu: vec![0.0; ipm.sc.socs.len()],
            sol: vec![0.0; dim],
            rd: vec![0.0; dim],
            g_x: vec![0.0; mc],
            x_moved: true,
            stationarity_stale: true,
            pres_eq: 0.0,
            eq_sum: 0.0,
            dres: 0.0,
            stationarity_sum: 0.0,
            x_sum: 0.0,
            saved_x: vec![0.0; n],
            saved_z: vec![0.0; n_eq + mc],
            have_first: false,
            first_x: vec![0.0; n],
            first_z: vec![0.0; n_eq + mc],
            first_s: vec![0.0; mc],
            prev_y: vec![0.0; n_eq],
            prev_z: vec![0.0; ipm.sc.n_nn],
            prev_nu: vec![0.0; ipm.sc.socs.len()],
            have_prev: false,
            left: Vec::new(),
            left_dual: 0.0,
            comebacks: 0,
            crossover: false,
            factor_row: vec![false; ipm.sc.n_nn],
            factor_cone: vec![false; ipm.sc.socs.len()],
            border: Border::default(),
            factor_valid: false,
            factorisations: 0,
            bordered_changes: 0,
        }
    }
}

impl TreeIpm {
    /// Newton on the last solution's active set (see the module docs).
    /// Returns whether it found the KKT point; if not, the state is the point
    /// after its first Newton step (or as before if it took none).
    /// `crossover`: called by the interior point near its solution, with
    /// the set its iterate identifies (on failure it continues from that iterate).
    pub(super) fn solve_active_set(&mut self, crossover: bool) -> bool {
        let Some(mut st) = self.active.take() else {
            return false;
        };
        st.crossover = crossover;
        st.saved_x.copy_from_slice(&self.x);
        st.saved_z.copy_from_slice(&self.z_all);
        st.have_first = false;
        st.have_prev = false;
        st.left.clear();
        st.comebacks = 0;
        st.x_moved = true;
        st.x_sum = self.x.iter().sum();
        let ok = self.active_set_rounds(&mut st);
        if !ok {
            // The old set's solution for the new data is a better start for
            // the interior point than the last interval's solution (at 1k
            // buses 8 instead of 9.4 iterations, counting the Newton steps).
            // A crossover's failure leaves the interior point where it was.
            // The SOCP's failures go back to the last solution: the interior
            // point then starts as without the attempt (blended toward its
            // central iterate; 10 iterations on the 1k-bus interval that
            // fails). From Newton's first point: 12; that point blended: 8,
            // but its prices ended 2.8e-5 from the optimum's where this
            // start's end 1.1e-5 (without the attempt 9.5e-6).
            if st.have_first {
                self.x.copy_from_slice(&st.first_x);
                self.z_all.copy_from_slice(&st.first_z);
                self.s.copy_from_slice(&st.first_s);
            } else {
                self.x.copy_from_slice(&st.saved_x);
                self.z_all.copy_from_slice(&st.saved_z);
            }
        }
        self.active = Some(st);
        ok
    }

    fn active_set_rounds(&mut self, st: &mut ActiveSet) -> bool {
        let (n_eq, n_nn) = (self.n_eq, self.sc.n_nn);
        // The active set of the last solution: the larger of slack and dual.
        {
            let z = &self.z_all[n_eq..];
            // A pair without a clear winner (a weakly active row) starts
            // inactive: if it binds, the check below brings it in. Starting
            // it active could make the set redundant (two rows fixing the
            // same quantity), which Newton cannot resolve.
            for i in 0..n_nn {
                st.active_row[i] = z[i] > CLEAR * self.s[i];
            }
            for (c, &(a, d)) in self.sc.socs.iter().enumerate() {
                let s_bar = norm(&self.s[a + 1..a + d]);
                let active = z[a] > CLEAR * (self.s[a] - s_bar) && self.s[a] > 0.0;
                st.active_cone[c] = active;
                st.nu[c] = if active { z[a] } else { 0.0 };
            }
        }
        let set = self.settings;
        let norm_b = inf_norm(&self.b_eq).max(inf_norm(&self.b_c));
        let norm_q = inf_norm(&self.q);
        let primal_tol = set.tol_feas * 0.1 * (1.0 + norm_b);
        let dual_tol = set.tol_feas * 0.1 * (1.0 + norm_q);
        self.iterations = 0;
        let mut changes = 0;
        let mut last_progress = f64::INFINITY;
        // The last attempt's factor (the last interval's, or an earlier
        // round's of a crossover) serves as a chord start if the border can
        // take the difference of the sets.
        let mut factored = st.factor_valid && self.border_active_set(st);
        let mut pres_at_leave = f64::INFINITY;
        let mut idle_leaves = 0;
        // Whether the last step's factor was built at its point.
        let mut fresh = false;
        loop {
            let Some((pres, dres, kkt_violated)) =
                self.active_set_residuals(st, primal_tol, dual_tol)
            else {
                return false;
            };
            // (Only where a failure starts the interior point there: not
            // after a crossover, nor for the SOCP.)
            if self.iterations == 1 && !st.have_first && !st.crossover && st.norm_cones.is_empty() {
                st.have_first = true;
                st.first_x.copy_from_slice(&self.x);
                st.first_z.copy_from_slice(&self.z_all);
                for i in 0..self.mc {
                    st.first_s[i] = self.b_c[i] - st.g_x[i];
                }
            }
            // KKT check: inactive rows feasible, active duals of the right
            // sign; a violated row joins the set, a wrong-signed one leaves.
            // (Skipped when the residuals' pass saw no row that would change.)
            let (changed, left) = if kkt_violated {
                self.update_active_set(st, primal_tol, dual_tol)
            } else {
                (0, 0)
            };
            // A leaving row's dual went to zero (and a restore below moves
            // the others): stationarity changed. Entering rows and cones
            // join with zero duals, so it did not for them.
            st.stationarity_stale |= left > 0;
            if left > 0 && st.have_prev && st.left_dual < -RESTORE_BELOW {
                // (Only after a leave whose dual is below −`RESTORE_BELOW`: a
                // slightly wrong-signed one is no singular step's noise, and
                // restoring then undoes a good step.)
                // A row that entered and pins the same quantity as an active
                // one makes the system singular; the regularised solve splits
                // their common dual into ±r/δ. The wrong-signed one (the
                // looser limit) has left; the huge dual of its partner is
                // noise: every active dual goes back to its value before the
                // step (stationarity is linear in them, so Newton restores
                // the right ones in one step).
                let (y, z) = self.z_all.split_at_mut(n_eq);
                y.copy_from_slice(&st.prev_y);
                for i in 0..n_nn {
                    if st.active_row[i] {
                        z[i] = st.prev_z[i];
                    }
                }
                for c in 0..st.nu.len() {
                    if st.active_cone[c] {
                        st.nu[c] = st.prev_nu[c];
                    }
                }
            }
            if set.trace {
                let on = st.active_row.iter().filter(|&&a| a).count();
                let cones = st.active_cone.iter().filter(|&&a| a).count();
                eprintln!("active-set: pres {pres:.2e} dres {dres:.2e}; {on} rows, {cones} cones active, changed {changed}");
            }
            if changed > 0 {
                // Small corrections only: many rows changing at once make
                // a set that is over- or under-determined more often than
                // not; the interior point is the better tool then.
                changes += 1;
                if changes > MAX_ROUNDS || changed > MAX_CHANGED_ROWS {
                    return false;
                }
                // A cycle: rows of a dependent group leave and come back in
                // turn, and the attempt would end at `MAX_ROUNDS` anyway; the
                // interior point starts from the same first point, a few
                // Newton steps earlier.
                if st.comebacks >= MAX_COMEBACKS {
                    if set.trace {
                        eprintln!(
                            "active-set: rows that left came back {} times",
                            st.comebacks
                        );
                    }
                    return false;
                }
                // Rows leaving one by one while the primal residual stays
                // (a dependent set shedding its rows: 10k buses) do not end
                // at a KKT point: give up at the second such change.
                if changed == left {
                    if pres > 0.5 * pres_at_leave {
                        idle_leaves += 1;
                        if idle_leaves >= MAX_IDLE_LEAVES {
                            return false;
                        }
                    }
                    pres_at_leave = pres;
                }
                last_progress = f64::INFINITY;
                // A small change borders the factor instead (its chord
                // steps then run on the bordered system).
                factored = factored && self.border_active_set(st);
                continue;
            }
            if pres <= primal_tol && dres <= dual_tol {
                if !self.relaxation_held(st) {
                    // A KKT point with a relaxation cone not tight: the
                    // relaxation is not exact, and its optimum is not unique
                    // (which line burns the phantom power): the interior
                    // point's centre of it, as before, not Newton's end.
                    return false;
                }
                if set.trace {
                    eprintln!(
                        "active-set: KKT point after {} Newton steps",
                        self.iterations
                    );
                }
                self.finish_active_set(st);
                return true;
            }
            // Newton on a well-posed set converges quadratically; a set
            // that is not (redundant rows, a direction nothing bounds) shows
            // as a residual that falls slowly: leave it to the interior point.
            let progress = (pres / primal_tol).max(dres / dual_tol);
            if self.iterations as usize >= MAX_NEWTON {
                return false;
            }
            // A stall after a step on an older factor (a chord step, or a
            // bordered one) may be the factor's: refactorise once before
            // giving up.
            let stalled = progress > 0.9 * last_progress;
            if stalled && fresh {
                return false;
            }
            // A new factorisation after a change of the set that the border
            // cannot take, or when the last step gained less than
            // `CHORD_GAIN`; else the last one serves (a chord step).
            if !factored || stalled || progress > CHORD_GAIN * last_progress {
                if !self.factor_active_set(st) {
                    return false;
                }
                factored = true;
                fresh = true;
            } else {
                fresh = false;
            }
            last_progress = progress;
            self.iterations += 1;
            Self::solve_step(st, self.n, self.n_eq, self.sc.n_nn, &self.g.val);
            // The step, saving the duals it moves in the same passes (what
            // a leave restores: the orthant duals and cone multipliers; the
            // cones' other duals follow from ν at the next residuals).
            st.have_prev = true;
            st.x_moved = true;
            let (n, n_eq, n_nn) = (self.n, self.n_eq, self.sc.n_nn);
            // x and y are the system's first unknowns, in order.
            let (dx, dy) = st.system[..n + n_eq].split_at(n);
            let mut x_sum = 0.0;
            for (x, &dx) in self.x.iter_mut().zip(dx) {
                *x += dx;
                x_sum += *x;
            }
            st.x_sum = x_sum;
            let (y, z) = self.z_all.split_at_mut(n_eq);
            for ((y, prev), &dy) in y.iter_mut().zip(&mut st.prev_y).zip(dy) {
                *prev = *y;
                *y += dy;
            }
            // (An inactive row's dual is zero here: the residuals cleared it.)
            let dz = &st.sol[n + n_eq..n + n_eq + n_nn];
            let rows = z[..n_nn].iter_mut().zip(&mut st.prev_z).zip(dz);
            for (((z, prev), &dz), &active) in rows.zip(&st.active_row) {
                *prev = *z;
                if active {
                    *z += dz;
                }
            }
            let dnu = &st.sol[n + n_eq + n_nn..];
            let cones = st.nu.iter_mut().zip(&mut st.prev_nu).zip(dnu);
            for (((nu, prev), &dnu), &active) in cones.zip(&st.active_cone) {
                *prev = *nu;
                if active {
                    *nu += dnu;
                }
            }
        }
    }

    /// Whether the last solution holds every relaxation cone tight (by the
    /// test that starts the set, dual above slack); if not, the relaxation
    /// is not exact there and the re-solve is left to the interior point
    /// (see `relaxation_held`).
    pub(super) fn relaxation_tight(&self) -> bool {
        let Some(st) = &self.active else {
            return false;
        };
        let z = &self.z_all[self.n_eq..];
        st.norm_cones.iter().all(|cone| {
            let (a, d) = self.sc.socs[cone.cone];
            z[a] > CLEAR * (self.s[a] - norm(&self.s[a + 1..a + d]))
        })
    }

    /// Whether the active set holds relaxation cones (the SOCP).
    pub(super) fn has_relaxation_cones(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|st| !st.norm_cones.is_empty())
    }

    /// Whether every relaxation cone is in the set.
    fn relaxation_held(&self, st: &ActiveSet) -> bool {
        st.norm_cones.iter().all(|cone| st.active_cone[cone.cone])
    }

    /// Moves rows into the set whose constraint the point violates and out
    /// of it those whose dual has the wrong sign; how many changed, and how
    /// many of those left.
    fn update_active_set(
        &mut self,
        st: &mut ActiveSet,
        primal_tol: f64,
        dual_tol: f64,
    ) -> (usize, usize) {
        let (n_eq, n_nn) = (self.n_eq, self.sc.n_nn);
        let mut changed = 0;
        // Of the rows with a wrong-signed dual only the most negative leaves:
        // after a singular step (dependent rows, duals ±r/δ) the others'
        // signs are noise, and dropping all of them can leave a direction
        // that nothing bounds.
        let mut worst: Option<(f64, usize, bool)> = None;
        let z = &mut self.z_all[n_eq..];
        for i in 0..n_nn {
            if st.active_row[i] {
                if z[i] < -dual_tol && worst.is_none_or(|w| z[i] < w.0) {
                    worst = Some((z[i], i, false));
                }
            } else if self.b_c[i] - st.g_x[i] < -primal_tol {
                st.active_row[i] = true;
                st.comebacks += usize::from(st.left.contains(&(i, false)));
                changed += 1;
            }
        }
        let worst_row = worst;
        for (c, &(a, d)) in self.sc.socs.iter().enumerate() {
            if st.active_cone[c] {
                if st.nu[c] < -dual_tol && worst.is_none_or(|w| st.nu[c] < w.0) {
                    worst = Some((st.nu[c], c, true));
                }
            } else if slack_norm(&self.b_c, &st.g_x, a, d) > self.b_c[a] - st.g_x[a] + primal_tol {
                st.active_cone[c] = true;
                st.comebacks += usize::from(st.left.contains(&(c, true)));
                st.nu[c] = 0.0;
                changed += 1;
            }
        }
        // A cone about to leave a second time: it left once and came back,
        // so its wrong sign is the noise of a dependent group's singular
        // step (1k buses: two line limits and three bounds, duals ±10³),
        // not its own, and leaving it again cycles. The most negative row
        // leaves instead (1k buses: the 13 of 200 intervals that cycled
        // end at a KKT point; 7.05 → 6.6 steps per re-solve).
        let worst = match worst {
            Some((_, c, true)) if st.left.contains(&(c, true)) && worst_row.is_some() => worst_row,
            w => w,
        };
        if let Some((_, i, cone)) = worst {
            st.left.push((i, cone));
        }
        st.left_dual = worst.map_or(0.0, |w| w.0);
        let left = match worst {
            Some((_, c, true)) => {
                st.active_cone[c] = false;
                st.nu[c] = 0.0;
                1
            }
            Some((_, i, false)) => {
                st.active_row[i] = false;
                z[i] = 0.0;
                1
            }
            None => 0,
        };
        (changed + left, left)
    }

    /// The slacks and cone duals of the accepted point.
    fn finish_active_set(&mut self, st: &ActiveSet) {
        let n_eq = self.n_eq;
        for i in 0..self.mc {
            self.s[i] = self.b_c[i] - st.g_x[i];
        }
        for i in 0..self.sc.n_nn {
            if st.active_row[i] {
                self.s[i] = 0.0;
            } else {
                self.s[i] = self.s[i].max(0.0);
                self.z_all[n_eq + i] = 0.0;
            }
        }
        for (c, &(a, d)) in self.sc.socs.iter().enumerate() {
            if st.active_cone[c] {
                // On the boundary exactly (the residual is below tolerance).
                let s_bar = norm(&self.s[a + 1..a + d]);
                self.s[a] = self.s[a].max(s_bar);
            } else {
                let s_bar = norm(&self.s[a + 1..a + d]);
                self.s[a] = self.s[a].max(s_bar);
            }
        }
    }

    /// The residuals of the KKT equations of the current active set at x
    /// (into `st.rd`, G·x into `st.g_x`): (primal, dual) ∞-norms and whether
    /// some row or cone fails `update_active_set`'s KKT test (an inactive
    /// one violated, an active one's dual below −`dual_tol`); None if not finite.
    /// What neither x nor the duals changed since the last call is kept:
    /// after a change of the set x has not moved (G·x, the equality rows),
    /// and after one that only added rows no dual has (stationarity).
    fn active_set_residuals(
        &mut self,
        st: &mut ActiveSet,
        primal_tol: f64,
        dual_tol: f64,
    ) -> Option<(f64, f64, bool)> {
        let (n, n_eq, n_nn) = (self.n, self.n_eq, self.sc.n_nn);
        let (y, z) = self.z_all.split_at_mut(n_eq);
        let (r_stat, r_rest) = st.rd.split_at_mut(n);
        let r_eq = &mut r_rest[..n_eq];
        if st.x_moved {
            g_mul(&self.g, &st.g_single, &st.g_multi, &self.x, &mut st.g_x);
            // With x, the duals moved (a step): stationarity's Aᵀy in the
            // same pass as A·x − b (−b + A·x: the same value as A·x − b).
            for (r, &b) in r_eq.iter_mut().zip(&self.b_eq) {
                *r = -b;
            }
            q_plus_p_x(
                &self.q,
                (&self.p_colptr, &self.p_rowval, &self.p_val),
                &st.p_columns,
                &self.x,
                r_stat,
            );
            self.a_eq.mul_and_mul_t(&self.x, y, r_eq, r_stat);
            // (A NaN is caught by the finiteness test of the sums below.)
            (st.pres_eq, st.eq_sum) = abs_max_and_sum(r_eq);
        } else if st.stationarity_stale {
            q_plus_p_x(
                &self.q,
                (&self.p_colptr, &self.p_rowval, &self.p_val),
                &st.p_columns,
                &self.x,
                r_stat,
            );
            self.a_eq.mul_t_add(y, r_stat);
        }
        let mut pres = st.pres_eq;
        // Duals implied by the set (zero off it, ν·J·s on active cones) and
        // the active rows' and cones' residuals, in one pass.
        let mut rows_sum = 0.0;
        let mut kkt_violated = false;
        {
            let rows = &mut r_rest[n_eq..];
            let orthant = z[..n_nn].iter_mut().zip(&mut rows[..n_nn]);
            for (i, (z, r)) in orthant.enumerate() {
                if st.active_row[i] {
                    *r = st.g_x[i] - self.b_c[i];
                    pres = pres.max(r.abs());
                    rows_sum += *r;
                    kkt_violated |= *z < -dual_tol;
                } else {
                    kkt_violated |= self.b_c[i] - st.g_x[i] < -primal_tol;
                    *z = 0.0;
                    *r = 0.0;
                }
            }
            // The relaxation cones: their geometry at x (kept from the last
            // call if x did not move since: a third of the calls, after a
            // change of the set), dual ν·(1, −û) and row ‖s̄‖ − s₀.
            let x_moved = st.x_moved;
            let cones = st.norm_cones.iter().zip(&mut st.locals);
            for ((cone, loc), at_x) in cones.zip(&mut st.local_at_x) {
                let c = cone.cone;
                let (a, d) = self.sc.socs[c];
                let r = &mut rows[n_nn + c];
                if x_moved {
                    *at_x = false;
                }
                if st.active_cone[c] {
                    if !*at_x {
                        if !cone.local(&self.b_c, &st.g_x, loc) {
                            return None;
                        }
                        *at_x = true;
                    }
                    cone.dual(loc, st.nu[c], z);
                    // ‖s̄‖ − s₀, already in the units of s.
                    *r = loc.phi;
                    pres = pres.max(loc.phi.abs());
                    rows_sum += loc.phi;
                    kkt_violated |= st.nu[c] < -dual_tol;
                } else {
                    z[a..a + d].fill(0.0);
                    kkt_violated |=
                        slack_norm(&self.b_c, &st.g_x, a, d) > self.b_c[a] - st.g_x[a] + primal_tol;
                    *r = 0.0;
                }
            }
            for (c, &(a, d)) in self.sc.socs.iter().enumerate() {
                if st.norm_of[c] != NOT_NORM {
                    continue;
                }
                let s0 = self.b_c[a];
                let nu = if st.active_cone[c] {
                    st.nu[c] / s0
                } else {
                    0.0
                };
                z[a] = nu * (s0 - st.g_x[a]);
                for k in a + 1..a + d {
                    z[k] = -nu * (self.b_c[k] - st.g_x[k]);
                }
                let r = &mut rows[n_nn + c];
                if st.active_cone[c] {
                    let s_bar = slack_norm(&self.b_c, &st.g_x, a, d);
                    // Scaled by 1/s₀ (units of s, a gradient of order 1): a
                    // small limit's row would otherwise drown in the regularisation.
                    *r = 0.5 * (s_bar * s_bar - s0 * s0) / s0;
                    // As a violation of |s̄| ≤ s₀, in the units of s.
                    pres = pres.max((s_bar - s0).abs());
                    rows_sum += *r;
                    kkt_violated |= st.nu[c] < -dual_tol;
                } else {
                    kkt_violated |= slack_norm(&self.b_c, &st.g_x, a, d) > s0 + primal_tol;
                    *r = 0.0;
                }
            }
        }
        if st.x_moved || st.stationarity_stale {
            let r = r_stat;
            // Gᵀz over the rows whose dual can be nonzero (the active ones:
            // ~640 of the 3.6k orthant rows at 1k buses); the others' are
            // exactly zero, so the sums are the same.
            let g = &self.g;
            for i in 0..n_nn {
                if st.active_row[i] {
                    for e in g.ptr[i]..g.ptr[i + 1] {
                        r[g.col[e]] += g.val[e] * z[i];
                    }
                }
            }
            for (c, &(a, d)) in self.sc.socs.iter().enumerate() {
                if st.active_cone[c] {
                    for k in a..a + d {
                        for e in g.ptr[k]..g.ptr[k + 1] {
                            r[g.col[e]] += g.val[e] * z[k];
                        }
                    }
                }
            }
            (st.dres, st.stationarity_sum) = abs_max_and_sum(r);
            st.stationarity_stale = false;
            st.x_moved = false;
        }
        let dres = st.dres;
        // `max` skips NaN: test the sums for finiteness too.
        let sum = st.stationarity_sum + st.eq_sum + rows_sum + st.x_sum;
        (pres.is_finite() && dres.is_finite() && sum.is_finite()).then_some((
            pres,
            dres,
            kkt_violated,
        ))
    }

    /// Fills the extended KKT matrix for the active set at x and factorises it.
    fn factor_active_set(&mut self, st: &mut ActiveSet) -> bool {
        let (n, n_eq, n_nn) = (self.n, self.n_eq, self.sc.n_nn);
        let kx = st.ldl.values_mut();
        kx.fill(0.0);
        for (k, &slot) in st.p_slot.iter().enumerate() {
            kx[slot] += self.p_val[k];
        }
        for (k, &slot) in st.eq_slot.iter().enumerate() {
            kx[slot] += self.a_eq.val[k];
        }
        // x and the equality rows are the system's first unknowns, in order.
        for i in 0..n {
            kx[st.diag_slot[i]] += REG;
        }
        for i in 0..n_eq {
            kx[st.diag_slot[n + i]] -= REG;
        }
        st.factor_bounds.clear();
        for &(i, var, e) in &st.bounds {
            if st.active_row[i] {
                let gi = self.g.val[e];
                kx[st.diag_slot[var]] += gi * gi / REG;
                st.factor_bounds.push((i, var, e));
            }
        }
        for i in 0..n_nn {
            let row = st.in_system[n + n_eq + i];
            if row == NOT_IN_SYSTEM {
                continue;
            }
            let diag = st.diag_slot[row];
            if st.active_row[i] {
                for k in self.g.ptr[i]..self.g.ptr[i + 1] {
                    kx[st.g_slot[k]] += self.g.val[k];
                }
                kx[diag] -= REG;
            } else {
                kx[diag] -= 1.0;
            }
        }
        for (c, &(a, _)) in self.sc.socs.iter().enumerate() {
            let diag = st.diag_slot[st.in_system[n + n_eq + n_nn + c]];
            if !st.active_cone[c] {
                kx[diag] -= 1.0;
                continue;
            }
            kx[diag] -= REG;
            let k = st.norm_of[c];
            if k != NOT_NORM {
                // `locals` is at this point: the residuals were computed
                // here, and a set change goes back to them before a factorisation.
                st.norm_cones[k].fill(&self.g, &st.locals[k], st.nu[c], kx);
                continue;
            }
            let s0 = self.b_c[a];
            let nu = st.nu[c] / s0;
            for (k, &(var, e, slot)) in st.cone_vars[c].iter().enumerate() {
                let gk = self.g.val[e];
                let s_k = self.b_c[a + 1 + k] - st.g_x[a + 1 + k];
                // φ = (‖s̄‖² − s₀²)/2s₀: ∇φ = −g_k·s̄_k/s₀ on its variable; curvature (μ/s₀)·g_k².
                kx[slot] += -gk * s_k / s0;
                kx[st.diag_slot[var]] += nu * gk * gk;
            }
        }
        st.factor_row.copy_from_slice(&st.active_row);
        st.factor_cone.copy_from_slice(&st.active_cone);
        st.border.rows.clear();
        if self.settings.trace {
            eprintln!("active-set: factorisation");
        }
        st.factorisations += 1;
        st.factor_valid = st.ldl.factor(1e-13, REG).is_some();
        st.factor_valid
    }

    /// Borders the factor with the rows and cones where the current set
    /// differs from the factorised one (see [`Border`]); false if it cannot
    /// (a condensed bound left the set, too many changes, S singular): then
    /// the caller refactorises.
    fn border_active_set(&mut self, st: &mut ActiveSet) -> bool {
        let (n, n_eq, n_nn) = (self.n, self.n_eq, self.sc.n_nn);
        let b = &mut st.border;
        b.rows.clear();
        for i in 0..n_nn {
            match (st.factor_row[i], st.active_row[i]) {
                (false, true) => b.rows.push(BorderRow::EnterRow(i)),
                (true, false) if st.in_system[n + n_eq + i] == NOT_IN_SYSTEM => {
                    b.rows.push(BorderRow::PinBound(i));
                }
                (true, false) => b.rows.push(BorderRow::PinRow(i)),
                _ => {}
            }
        }
        for c in 0..st.active_cone.len() {
            match (st.factor_cone[c], st.active_cone[c]) {
                (false, true) => b.rows.push(BorderRow::EnterCone(c)),
                (true, false) => b.rows.push(BorderRow::PinCone(c)),
                _ => {}
            }
        }
        let k = b.rows.len();
        if k > MAX_BORDER {
            return false;
        }
        b.v.resize_with(k, Vec::new);
        let mut diag = [0.0; MAX_BORDER];
        for (j, &row) in b.rows.iter().enumerate() {
            b.column.clear();
            match row {
                BorderRow::EnterRow(i) => {
                    for e in self.g.ptr[i]..self.g.ptr[i + 1] {
                        // x is the system's first n unknowns, in order.
                        b.column.push((self.g.col[e], self.g.val[e]));
                    }
                    diag[j] = -REG;
                }
                BorderRow::EnterCone(c) if st.norm_of[c] != NOT_NORM => {
                    // ∇φ at the current point (no curvature yet, as below).
                    let cone = &st.norm_cones[st.norm_of[c]];
                    let mut loc = norm_cone::Local::default();
                    if !cone.local(&self.b_c, &st.g_x, &mut loc) {
                        return false;
                    }
                    cone.column(&self.g, &loc, &mut b.column);
                    diag[j] = -REG;
                }
                BorderRow::EnterCone(c) => {
                    // The linearised limit at the current point (ν = 0 on
                    // entry: no curvature yet), as `factor_active_set` builds it.
                    let a = self.sc.socs[c].0;
                    let s0 = self.b_c[a];
                    for (t, &(var, e, _)) in st.cone_vars[c].iter().enumerate() {
                        let s_k = self.b_c[a + 1 + t] - st.g_x[a + 1 + t];
                        b.column.push((var, -self.g.val[e] * s_k / s0));
                    }
                    diag[j] = -REG;
                }
                BorderRow::PinRow(i) => b.column.push((st.in_system[n + n_eq + i], 1.0)),
                BorderRow::PinBound(i) => {
                    let e = self.g.ptr[i];
                    b.column.push((self.g.col[e], self.g.val[e]));
                    diag[j] = REG;
                }
                BorderRow::PinCone(c) => {
                    b.column.push((st.in_system[n + n_eq + n_nn + c], 1.0));
                }
            }
            st.ldl.forward_sparse(&b.column, &mut b.v[j]);
        }
        // S = D − Vᵀ·D₀⁻¹·V (symmetric; k ≤ MAX_BORDER).
        let dinv = st.ldl.dinv();
        b.lu.clear();
        b.lu.resize(k * k, 0.0);
        for a in 0..k {
            for c in a..k {
                let s = diag[a] * f64::from(a == c) - sparse_dot_scaled(&b.v[a], &b.v[c], dinv);
                b.lu[a * k + c] = s;
                b.lu[c * k + a] = s;
            }
        }
        b.rhs.resize(k, 0.0);
        b.w.resize(k, 0.0);
        let ok = lu_factor(&mut b.lu, k, &mut b.pivots);
        st.bordered_changes += u64::from(ok && k > 0);
        ok
    }

    /// Solves the factorised system for −`st.rd`: x's and y's steps into
    /// `st.system[..n + n_eq]`, the rows' and cones' into `st.sol[n + n_eq..]`
    /// (of the bounds only those active now).
    fn solve_step(st: &mut ActiveSet, n: usize, n_eq: usize, n_nn: usize, g: &[f64]) {
        // x and the equality rows are the system's first unknowns, in order.
        // The right-hand side is −rd: its first n + n_eq entries (x and the
        // equality rows) are the system's first unknowns, in order.
        let rows = n + n_eq;
        for (s, &r) in st.system[..rows].iter_mut().zip(&st.rd[..rows]) {
            *s = -r;
        }
        for &(t, f) in &st.tail_in_system {
            st.system[f] = -st.rd[rows + t];
        }
        // The factor's active bounds' rows folded into their variables'
        // (x_j is unknown j of both); a bound that entered since is in the border.
        for &(i, var, e) in &st.factor_bounds {
            st.system[var] -= g[e] * st.rd[rows + i] / REG;
        }
        let border = &mut st.border;
        if border.rows.is_empty() {
            st.ldl.solve(&mut st.system);
        } else {
            for (r, &row) in border.rhs.iter_mut().zip(&border.rows) {
                *r = match row {
                    BorderRow::EnterRow(i) => -st.rd[rows + i],
                    BorderRow::EnterCone(c) => -st.rd[rows + n_nn + c],
                    // The pinned dual's step: zero (it left at zero).
                    BorderRow::PinRow(_) | BorderRow::PinCone(_) | BorderRow::PinBound(_) => 0.0,
                };
            }
            let Border {
                v,
                lu,
                pivots,
                rhs,
                w,
                ..
            } = border;
            st.ldl.solve_with(&mut st.system, |f, dinv| {
                for (wj, (vj, &rj)) in w.iter_mut().zip(v.iter().zip(rhs.iter())) {
                    let mut t = rj;
                    for &(p, val) in vj {
                        t -= val * dinv[p as usize] * f[p as usize];
                    }
                    *wj = t;
                }
                lu_solve(lu, pivots, w);
                for (vj, &wj) in v.iter().zip(w.iter()) {
                    for &(p, val) in vj {
                        f[p as usize] -= val * wj;
                    }
                }
            });
        }
        // x's and y's steps stay in `system` (the caller reads them there).
        for &(t, f) in &st.tail_in_system {
            st.sol[rows + t] = st.system[f];
        }
        // The other bounds' steps are never read: an inactive row's dual
        // stays zero, and one that entered since the factorisation is in
        // the border (its step set below).
        for &(i, var, e) in &st.factor_bounds {
            st.sol[rows + i] = (g[e] * st.system[var] + st.rd[rows + i]) / REG;
        }
        let border = &st.border;
        for (&row, &wj) in border.rows.iter().zip(&border.w) {
            match row {
                BorderRow::EnterRow(i) => st.sol[rows + i] = wj,
                BorderRow::EnterCone(c) => st.sol[rows + n_nn + c] = wj,
                BorderRow::PinRow(i) | BorderRow::PinBound(i) => st.sol[rows + i] = 0.0,
                BorderRow::PinCone(c) => st.sol[rows + n_nn + c] = 0.0,
            }
        }
    }
}

/// out = G·x for G's rows of one entry (`single`: (row, column, entry))
/// and of more (`multi`); the empty rows' stay zero. As `Rows::mul`, by
/// row (LinDistFlow at 1k buses: 4.1k single rows of 4.3k, none multi;
/// the generic loop costs ~23 instructions per such row, this one ~10).
fn g_mul(
    g: &super::Rows,
    single: &[(usize, usize, usize)],
    multi: &[usize],
    x: &[f64],
    out: &mut [f64],
) {
    for &(r, c, e) in single {
        out[r] = g.val[e] * x[c];
    }
    for &r in multi {
        let mut sum = 0.0;
        for e in g.ptr[r]..g.ptr[r + 1] {
            sum += g.val[e] * x[g.col[e]];
        }
        out[r] = sum;
    }
}

/// out = q + P·x (P symmetric, its upper triangle by columns), as
/// `super::p_mul_add` on a copy of q (the same operations in the same order).
/// `p_columns`: P's non-empty columns (1k buses: 574 entries in 3.8k columns).
fn q_plus_p_x(
    q: &[f64],
    p: (&[usize], &[usize], &[f64]),
    p_columns: &[usize],
    x: &[f64],
    out: &mut [f64],
) {
    let (colptr, rowval, val) = p;
    out.copy_from_slice(q);
    for &c in p_columns {
        let xc = x[c];
        for k in colptr[c]..colptr[c + 1] {
            let r = rowval[k];
            out[r] += val[k] * xc;
            if r != c {
                out[c] += val[k] * x[r];
            }
        }
    }
}

/// Whether the cone at rows a..a+d is a limit: a constant first entry and
/// one variable in each other (a cone's first row index counts the orthant
/// rows before it).
fn is_limit(g: &Rows, a: usize, d: usize) -> bool {
    g.ptr[a + 1] == g.ptr[a] && (1..d).all(|k| g.ptr[a + k + 1] - g.ptr[a + k] == 1)
}

/// Σ a_p·b_p·d_p over the positions p of two sparse vectors sorted by position.
fn sparse_dot_scaled(a: &[(u32, f64)], b: &[(u32, f64)], d: &[f64]) -> f64 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1 * d[a[i].0 as usize];
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// LU with partial pivoting of the k × k row-major `a` in place; false if singular.
fn lu_factor(a: &mut [f64], k: usize, pivots: &mut Vec<usize>) -> bool {
    pivots.clear();
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for c in 0..k {
        let p = (c..k)
            .max_by(|&x, &y| a[x * k + c].abs().total_cmp(&a[y * k + c].abs()))
            .unwrap_or(c);
        // (total_cmp ranks a NaN above every number: it is caught here too.)
        let pivot = a[p * k + c].abs();
        if pivot.is_nan() || pivot <= 1e-14 * scale {
            return false;
        }
        pivots.push(p);
        if p != c {
            for t in 0..k {
                a.swap(p * k + t, c * k + t);
            }
        }
        for r in c + 1..k {
            let l = a[r * k + c] / a[c * k + c];
            a[r * k + c] = l;
            for t in c + 1..k {
                a[r * k + t] -= l * a[c * k + t];
            }
        }
    }
    true
}

/// Solves with `lu_factor`'s result in place.
fn lu_solve(a: &[f64], pivots: &[usize], x: &mut [f64]) {
    let k = x.len();
    // The row swaps moved whole rows (L's part too): all of them first.
    for (c, &p) in pivots.iter().enumerate() {
        x.swap(c, p);
    }
    for c in 0..k {
        for r in c + 1..k {
            x[r] -= a[r * k + c] * x[c];
        }
    }
    for c in (0..k).rev() {
        for t in c + 1..k {
            x[c] -= a[c * k + t] * x[t];
        }
        x[c] /= a[c * k + c];
    }
}

/// The largest |v_i| and Σ v_i (a NaN leaves the first alone and shows in the sum).
fn abs_max_and_sum(v: &[f64]) -> (f64, f64) {
    let (mut max, mut sum) = (0f64, 0.0);
    for &x in v {
        if x.abs() > max {
            max = x.abs();
        }
        sum += x;
    }
    (max, sum)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// ‖s̄‖ of the cone at rows a..a+d for s = b − G x.
fn slack_norm(b: &[f64], g_x: &[f64], a: usize, d: usize) -> f64 {
    (a + 1..a + d)
        .map(|k| (b[k] - g_x[k]) * (b[k] - g_x[k]))
        .sum::<f64>()
        .sqrt()
}

/// As `super::inf_norm`.
fn inf_norm(a: &[f64]) -> f64 {
    a.iter()
        .fold(0.0, |m, v| if v.abs() > m { v.abs() } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opf::builder::Builder;
    use crate::opf::ipm::IpmSettings;

    /// The residuals' own products give the generic ones' values bit for
    /// bit: G·x by single-entry rows, q + P·x over P's non-empty columns.
    #[test]
    fn residual_products_match_the_generic_ones() {
        let mut b = Builder::new();
        let x: Vec<usize> = (0..4)
            .map(|k| {
                if k % 2 == 0 {
                    b.var_quadratic(0.3 * k as f64 - 1.0, 0.7 + k as f64)
                } else {
                    b.var(1.5 - k as f64)
                }
            })
            .collect();
        b.eq(&[(x[0], 1.0), (x[1], -2.0), (x[3], 0.5)], 1.0);
        b.le(&[(x[0], 1.0)], 4.0);
        b.le(&[(x[1], -1.0)], 3.0);
        b.le(&[(x[2], 0.25), (x[3], 1.0)], 2.0);
        // A line limit: constant first entry, one variable per other entry.
        b.soc(&[(&[], 5.0), (&[(x[2], -1.0)], 0.0), (&[(x[3], -1.0)], 0.5)]);
        let mut ipm = TreeIpm::new(&b.build(), IpmSettings::with_tolerance(1e-9)).unwrap();
        assert!(ActiveSet::eligible(&ipm));
        let st = ActiveSet::new(&ipm);
        assert_eq!((st.g_single.len(), st.g_multi.len()), (4, 1));
        ipm.x.copy_from_slice(&[0.37, -1.9, 2.6, 1e-3]);
        let mut generic = vec![0.0; ipm.mc];
        ipm.g.mul(&ipm.x, &mut generic);
        let mut ours = vec![f64::NAN; ipm.mc];
        // (g_mul leaves the empty rows as they are: zero in `g_x`.)
        for (r, v) in ours.iter_mut().enumerate() {
            if ipm.g.ptr[r + 1] == ipm.g.ptr[r] {
                *v = 0.0;
            }
        }
        g_mul(&ipm.g, &st.g_single, &st.g_multi, &ipm.x, &mut ours);
        assert_eq!(ours, generic);
        let mut generic = ipm.q.clone();
        crate::opf::ipm::p_mul_add(
            &ipm.p_colptr,
            &ipm.p_rowval,
            &ipm.p_val,
            &ipm.x,
            &mut generic,
        );
        let mut ours = vec![f64::NAN; ipm.n];
        let p = (&ipm.p_colptr[..], &ipm.p_rowval[..], &ipm.p_val[..]);
        q_plus_p_x(&ipm.q, p, &st.p_columns, &ipm.x, &mut ours);
        assert_eq!(ours, generic);
    }
}
