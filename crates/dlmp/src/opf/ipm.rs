//! Our own interior point for the OPF's conic programs (`solver = tree-ipm`):
//! the same problem Clarabel is given (`min ½xᵀPx + qᵀx s.t. Ax + s = b,
//! s ∈ K`, K = zero cone × non-negative orthant × second-order cones, from
//! [`super::builder`]), with the same dual convention (Px + q + Aᵀz = 0), so
//! prices and the decomposition are read from its z exactly as from Clarabel's.
//!
//! * **Method**: primal–dual path following from an infeasible start
//!   (CVXOPT's `coneqp` scheme), Mehrotra predictor–corrector, Nesterov–Todd
//!   scaling on the second-order cones (the |S| ≤ S_max limits and the
//!   SOCP's rotated relaxation cones, written by the builder as standard
//!   cones of dimension 3 and 4).
//! * **Newton system**: the cone rows are eliminated into the primal block
//!   (H = P + Gᵀ W⁻² G, dense only within a cone's few variables), leaving the
//!   quasi-definite system [H Aₑᵀ; Aₑ −δI] of the primal variables and the
//!   equality (balance, voltage-drop) rows. Its graph is the feeder tree of
//!   small per-bus blocks; [`super::ldl`] orders it once (minimum degree:
//!   leaves to root) and factorises it each iteration in O(buses), with no
//!   fill beyond the parent of each bus.
//! * **Accuracy**: W⁻² grows without bound near the solution, so in the last
//!   iterations every direction gets one step of iterative refinement on the
//!   full (unreduced) linearised system, whose residuals come from the
//!   original data.
//! * **Re-solves** reuse everything: the ordering, the factor's pattern, every
//!   buffer; a new interval only copies its P, q, A, b values in. A solve
//!   allocates nothing (the active-set system below is analysed with the
//!   interior point's, before the first solve). A re-solve first tries Newton on the last solution's
//!   active set (`ipm/active_set.rs`: line limits, and the SOCP's relaxation
//!   cones held tight as ‖s̄‖ − s₀ = 0 where the last solution has them all
//!   tight), accepted only at a KKT point; else the interior point starts from
//!   Newton's first point (LinDistFlow) or the last solution, centred at a small μ when
//!   the last re-solve kept its active set, pushed 1e-4 into the cones
//!   when rows changed sides — or, with no active-set attempt before it,
//!   from the last solve's iterate near the central path (the last one at
//!   relative gap ≥ 1e-2) blended 0.4 toward the last solution (the SOCP's
//!   also after a failed attempt). Near its solution (gap < 1e-5) a re-solve's
//!   interior point tries Newton on the set its iterate identifies (a
//!   crossover, same KKT test). `super` switches both off where the optimum
//!   is not unique (floating regulator ratios; there the SOCP's active set
//!   too) and the crossover for the lossless model and the SOCP.
//! * **Outcomes**: converged; primal infeasible when the primal residual
//!   stalls and the duals form a Farkas certificate (z ∈ K*, Aᵀz ≈ 0,
//!   bᵀz < 0); anything else (a stall without certificate, the iteration
//!   limit, numerical trouble) is reported as failed and the caller re-solves
//!   with Clarabel, the reference, whose homogeneous embedding decides.

use clarabel::solver::SupportedConeT;

use super::builder::Problem;
use super::ldl::Ldl;

mod active_set;
use active_set::ActiveSet;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IpmSettings {
    pub tol_gap_abs: f64,
    pub tol_gap_rel: f64,
    pub tol_feas: f64,
    pub tol_infeas: f64,
    pub max_iter: u32,
    /// Static regularisation of the primal (+) and equality (−) pivots.
    pub static_reg: f64,
    /// Dynamic regularisation: pivots below `dyn_eps` become ±`dyn_delta`.
    pub dyn_eps: f64,
    pub dyn_delta: f64,
    /// Fraction of the step to the cone boundary.
    pub step_fraction: f64,
    /// … and when the centring parameter σ is below `newton_region_sigma`.
    pub newton_region_step_fraction: f64,
    pub newton_region_sigma: f64,
    /// Refine every direction once on the full system when the relative gap is below this.
    pub refine_below_gap: f64,
    /// … unless the direction's relative error is already below this.
    pub refine_skip_below: f64,
    /// Re-solves start from the last solution, its slacks and duals moved
    /// this far into the cones' interiors (0: always a cold start).
    pub warm_start_margin: f64,
    /// … unless the last re-solve kept its active set: then every pair's
    /// smaller member is raised to μ over the larger, this μ.
    pub warm_start_center_mu: f64,
    /// Re-solves first try Newton on the last solution's active set
    /// (`ipm/active_set.rs`; the SOCP's only where its last solution has
    /// every relaxation cone tight; the crossover below is switched separately).
    pub active_set: bool,
    /// The same problems: below this relative gap the interior point tries
    /// Newton on the active set its iterate identifies (a crossover; 0: never).
    pub crossover_below_gap: f64,
    /// Keep the last iterate with a relative gap above this as a later
    /// re-solve's start (0: never).
    pub central_start_gap: f64,
    /// … blended with the last solution by this weight (0: the kept
    /// iterate itself; < 1 keeps the start strictly inside the cones).
    pub central_start_blend: f64,
    /// Print every iteration to stderr (debugging: env OGG_IPM_TRACE=1).
    pub trace: bool,
}

impl IpmSettings {
    /// Tolerances matching Clarabel's accuracy at `tol` (`super::settings`):
    /// Clarabel measures its gap on an equilibrated, homogeneous problem; on
    /// these OPFs a 10× tighter gap here gives prices as close to the exact
    /// ones as Clarabel's (≈ 1e-7 relative at 1e-9).
    pub fn with_tolerance(tol: f64) -> Self {
        let tol = if tol.is_finite() && tol > 0.0 {
            tol
        } else {
            1e-9
        };
        IpmSettings {
            tol_gap_abs: tol / 10.0,
            tol_gap_rel: tol / 10.0,
            tol_feas: tol,
            tol_infeas: 1e-8,
            max_iter: 80,
            static_reg: 1e-8,
            dyn_eps: 1e-13,
            dyn_delta: 2e-7,
            step_fraction: 0.99,
            newton_region_step_fraction: 0.9999,
            newton_region_sigma: 1e-6,
            refine_below_gap: 1e-7,
            refine_skip_below: 1e-4,
            warm_start_margin: std::env::var("OGG_IPM_WARM")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1e-4),
            warm_start_center_mu: 1e-5,
            active_set: std::env::var("OGG_IPM_ACTIVE_SET").map_or(true, |v| v != "0"),
            crossover_below_gap: if std::env::var("OGG_IPM_CROSSOVER").is_ok_and(|v| v == "0") {
                0.0
            } else {
                1e-5
            },
            central_start_gap: if std::env::var("OGG_IPM_CENTRAL").is_ok_and(|v| v == "0") {
                0.0
            } else {
                1e-2
            },
            central_start_blend: 0.4,
            trace: std::env::var_os("OGG_IPM_TRACE").is_some(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IpmStatus {
    Solved,
    PrimalInfeasible,
    /// No answer (the reason); the caller falls back to Clarabel.
    Failed(String),
}

/// Rows of a sparse matrix (cone rows G, or equality rows Aₑ).
#[derive(Debug, Clone, Default)]
struct Rows {
    ptr: Vec<usize>,
    col: Vec<usize>,
    val: Vec<f64>,
    /// Index of each entry in the problem's A values (for updates).
    src: Vec<usize>,
    /// Every column index is below this (the problem's variables).
    n_cols: usize,
}

impl Rows {
    fn n_rows(&self) -> usize {
        self.ptr.len() - 1
    }
    // The products below walk the entries with one running index (rows are
    // contiguous): on the OPFs most rows are single bounds, and per-row
    // slices cost more than their one entry. Their inner loops index
    // unchecked (four bounds checks per entry otherwise), on the invariants
    // `checked` asserts once per call.

    /// The entries' columns and values, after asserting what the unchecked
    /// loops rely on: ptr non-decreasing from 0 to col.len() = val.len()
    /// (by construction in `TreeIpm::new`, never resized), every column
    /// < n_cols (the same), and the vectors indexed by column at least
    /// n_cols long.
    #[inline(always)]
    fn checked(&self, by_column: &[usize]) -> (&[usize], &[f64]) {
        assert!(self.col.len() == self.val.len() && self.ptr.last() == Some(&self.col.len()));
        assert!(by_column.iter().all(|&len| len >= self.n_cols));
        (&self.col, &self.val)
    }
    /// out = M x
    fn mul(&self, x: &[f64], out: &mut [f64]) {
        let (col, val) = self.checked(&[x.len()]);
        let mut e = 0;
        for (o, &hi) in out[..self.n_rows()].iter_mut().zip(&self.ptr[1..]) {
            let mut sum = 0.0;
            while e < hi {
                // SAFETY: e < hi ≤ col.len() = val.len(); col[e] < n_cols ≤ x.len() (`checked`).
                unsafe {
                    sum += val.get_unchecked(e) * x.get_unchecked(*col.get_unchecked(e));
                }
                e += 1;
            }
            *o = sum;
        }
    }
    /// out −= Mᵀ v
    fn mul_t_sub(&self, v: &[f64], out: &mut [f64]) {
        self.mul_t_acc::<true>(v, out);
    }
    /// out += Mᵀ v
    fn mul_t_add(&self, v: &[f64], out: &mut [f64]) {
        self.mul_t_acc::<false>(v, out);
    }
    /// out ∓= Mᵀ v (subtracting when `SUB`), entry by entry in row order.
    #[inline(always)]
    fn mul_t_acc<const SUB: bool>(&self, v: &[f64], out: &mut [f64]) {
        let (col, val) = self.checked(&[out.len()]);
        let mut e = 0;
        for (&vr, &hi) in v[..self.n_rows()].iter().zip(&self.ptr[1..]) {
            while e < hi {
                // SAFETY: e < hi ≤ col.len() = val.len(); col[e] < n_cols ≤ out.len() (`checked`).
                unsafe {
                    let o = out.get_unchecked_mut(*col.get_unchecked(e));
                    let p = val.get_unchecked(e) * vr;
                    if SUB {
                        *o -= p;
                    } else {
                        *o += p;
                    }
                }
                e += 1;
            }
        }
    }
    /// out[r] += (M x)[r], and acc += Mᵀ v, in one pass.
    fn mul_and_mul_t(&self, x: &[f64], v: &[f64], out: &mut [f64], acc: &mut [f64]) {
        let (col, val) = self.checked(&[x.len(), acc.len()]);
        let mut e = 0;
        for ((o, &vr), &hi) in out[..self.n_rows()].iter_mut().zip(v).zip(&self.ptr[1..]) {
            let mut sum = 0.0;
            while e < hi {
                // SAFETY: e < hi ≤ col.len() = val.len(); col[e] < n_cols ≤
                // x.len(), acc.len() (`checked`).
                unsafe {
                    let (c, a) = (*col.get_unchecked(e), *val.get_unchecked(e));
                    sum += a * x.get_unchecked(c);
                    *acc.get_unchecked_mut(c) += a * vr;
                }
                e += 1;
            }
            *o += sum;
        }
    }
}

/// The cones and their Nesterov–Todd scaling: rows [0, n_nn) are the
/// non-negative orthant (W = √(s/z)); then the second-order cones, each
/// W = η·H(w̄) with H the hyperbolic rotation [w₀ w̄ᵀ; w̄ I + w̄w̄ᵀ/(1 + w₀)]
/// (wᵀJw = 1, W² = η²(2wwᵀ − J)), and W⁻¹ = H(Jw)/η.
#[derive(Debug, Clone)]
struct Scaling {
    n_nn: usize,
    /// (first row, dimension) of each second-order cone.
    socs: Vec<(usize, usize)>,
    /// √(s/z) on the orthant rows, w̄ on the cone rows.
    w: Vec<f64>,
    /// 1/w on the orthant rows.
    w_inv: Vec<f64>,
    eta: Vec<f64>,
    lambda: Vec<f64>,
}

impl Scaling {
    fn degree(&self) -> f64 {
        (self.n_nn + self.socs.len()) as f64
    }

    /// out = W v (inverse: W⁻¹ v).
    fn apply(&self, v: &[f64], out: &mut [f64], inverse: bool) {
        let w = &self.w;
        if inverse {
            for i in 0..self.n_nn {
                out[i] = v[i] * self.w_inv[i];
            }
        } else {
            for i in 0..self.n_nn {
                out[i] = v[i] * w[i];
            }
        }
        self.apply_socs(v, out, inverse);
    }

    /// NT scaling at (s, z) and λ = W z; `identity`: W = I (the start).
    fn update(&mut self, s: &[f64], z: &[f64], identity: bool) {
        let nn = self.n_nn;
        let orthant = self.w[..nn]
            .iter_mut()
            .zip(&mut self.w_inv[..nn])
            .zip(&mut self.lambda[..nn])
            .zip(&s[..nn])
            .zip(&z[..nn]);
        if identity {
            for ((((w, w_inv), lambda), _), &zi) in orthant {
                *w = 1.0;
                *w_inv = 1.0;
                *lambda = zi;
            }
        } else {
            for ((((w, w_inv), lambda), &si), &zi) in orthant {
                let wi = (si / zi).sqrt();
                *w = wi;
                *w_inv = 1.0 / wi;
                *lambda = si * *w_inv;
            }
        }
        for (c, &(a, d)) in self.socs.iter().enumerate() {
            let (w, eta) = (&mut self.w, &mut self.eta[c]);
            with_cone_dim(d, |d| {
                let w = &mut w[a..a + d];
                if identity {
                    w[0] = 1.0;
                    w[1..].fill(0.0);
                    *eta = 1.0;
                } else {
                    let (s, z) = (&s[a..a + d], &z[a..a + d]);
                    let (s_nrm, z_nrm) = (soc_norm(s), soc_norm(z));
                    let dot: f64 = s.iter().zip(z).map(|(x, y)| x * y).sum();
                    let two_gamma = 2.0 * ((1.0 + dot / (s_nrm * z_nrm)) / 2.0).sqrt();
                    w[0] = (s[0] / s_nrm + z[0] / z_nrm) / two_gamma;
                    for k in 1..d {
                        w[k] = (s[k] / s_nrm - z[k] / z_nrm) / two_gamma;
                    }
                    *eta = (s_nrm / z_nrm).sqrt();
                }
            });
        }
        // λ = W z on the second-order cones (the orthant's is set above).
        let mut lambda = std::mem::take(&mut self.lambda);
        self.apply_socs(z, &mut lambda, false);
        self.lambda = lambda;
    }

    /// W v (or W⁻¹ v) on the second-order cones only.
    fn apply_socs(&self, v: &[f64], out: &mut [f64], inverse: bool) {
        let sign = if inverse { -1.0 } else { 1.0 };
        for (c, &(a, d)) in self.socs.iter().enumerate() {
            let scale = if inverse {
                1.0 / self.eta[c]
            } else {
                self.eta[c]
            };
            with_cone_dim(d, |d| {
                scale_block(
                    &self.w[a..a + d],
                    scale,
                    sign,
                    &v[a..a + d],
                    &mut out[a..a + d],
                );
            });
        }
    }

    /// The corrector's right-hand side u = λ \ (−λ∘λ − (W⁻¹ds)∘(W dz) + σμe)
    /// in one pass over the rows (the same operations as `apply`, `product`
    /// and `divide` in turn, so the same values); `ds_w`, `dz_w` and `target`
    /// are scratch.
    fn corrector_rhs(
        &self,
        ds: &[f64],
        dz: &[f64],
        sigma_mu: f64,
        scratch: (&mut [f64], &mut [f64], &mut [f64]),
        out: &mut [f64],
    ) {
        let (ds_w, dz_w, target) = scratch;
        let nn = self.n_nn;
        for ((((o, &l), (&dsi, &wi_inv)), &dzi), &wi) in out[..nn]
            .iter_mut()
            .zip(&self.lambda[..nn])
            .zip(ds[..nn].iter().zip(&self.w_inv[..nn]))
            .zip(&dz[..nn])
            .zip(&self.w[..nn])
        {
            let t = (dsi * wi_inv) * (dzi * wi);
            *o = (-(l * l) - t + sigma_mu) / l;
        }
        for (c, &(a, d)) in self.socs.iter().enumerate() {
            let eta = self.eta[c];
            with_cone_dim(d, |d| {
                let r = a..a + d;
                let (w, l) = (&self.w[r.clone()], &self.lambda[r.clone()]);
                let (ds_w, dz_w) = (&mut ds_w[r.clone()], &mut dz_w[r.clone()]);
                scale_block(w, 1.0 / eta, -1.0, &ds[r.clone()], ds_w);
                scale_block(w, eta, 1.0, &dz[r.clone()], dz_w);
                let t = &mut target[r.clone()];
                // t = −λ∘λ − (W⁻¹ds)∘(W dz) (+ σμ on the head).
                let t0: f64 = ds_w.iter().zip(dz_w.iter()).map(|(x, y)| x * y).sum();
                let l2_0: f64 = l.iter().zip(l).map(|(x, y)| x * y).sum();
                t[0] = -l2_0 - t0 + 0.0 + sigma_mu;
                for k in 1..d {
                    let tk = ds_w[0] * dz_w[k] + dz_w[0] * ds_w[k];
                    let l2_k = l[0] * l[k] + l[k] * l[0];
                    t[k] = -l2_k - tk + 0.0;
                }
                divide_block(l, t, &mut out[r]);
            });
        }
    }

    /// out = W⁻² v on the second-order cones: (2·Jw (Jw)ᵀv − Jv)/η² (one
    /// pass instead of applying W⁻¹ twice).
    fn apply_winv2_socs(&self, v: &[f64], out: &mut [f64]) {
        for (c, &(a, d)) in self.socs.iter().enumerate() {
            let inv_eta2 = 1.0 / (self.eta[c] * self.eta[c]);
            with_cone_dim(d, |d| {
                let (w, v, out) = (&self.w[a..a + d], &v[a..a + d], &mut out[a..a + d]);
                let mut jw_v = w[0] * v[0];
                for k in 1..d {
                    jw_v -= w[k] * v[k];
                }
                let f = 2.0 * jw_v;
                out[0] = (f * w[0] - v[0]) * inv_eta2;
                for k in 1..d {
                    out[k] = (-f * w[k] + v[k]) * inv_eta2;
                }
            });
        }
    }

    /// out = a ∘ v (Jordan product).
    /// (The iteration uses the fused `corrector_rhs`; kept as its test reference.)
    #[cfg(test)]
    fn product(&self, a: &[f64], v: &[f64], out: &mut [f64]) {
        for i in 0..self.n_nn {
            out[i] = a[i] * v[i];
        }
        for &(s, d) in &self.socs {
            with_cone_dim(d, |d| {
                let (a, v, out) = (&a[s..s + d], &v[s..s + d], &mut out[s..s + d]);
                out[0] = a.iter().zip(v).map(|(x, y)| x * y).sum();
                for k in 1..d {
                    out[k] = a[0] * v[k] + v[0] * a[k];
                }
            });
        }
    }

    /// out = λ \ v (the solution of λ ∘ out = v).
    /// (The iteration uses the fused `corrector_rhs`; kept as its test reference.)
    #[cfg(test)]
    fn divide(&self, v: &[f64], out: &mut [f64]) {
        let l = &self.lambda;
        for i in 0..self.n_nn {
            out[i] = v[i] / l[i];
        }
        for &(s, d) in &self.socs {
            with_cone_dim(d, |d| {
                divide_block(&l[s..s + d], &v[s..s + d], &mut out[s..s + d]);
            });
        }
    }

    /// min(cap, largest α with (s + α ds, z + α dz) in the cones); `cap` = ∞
    /// for the unbounded step.
    fn max_step(&self, s: &[f64], ds: &[f64], z: &[f64], dz: &[f64], cap: f64) -> f64 {
        // Plain comparisons instead of f64::min (whose NaN rule costs five
        // instructions each); both skip a NaN candidate.
        let mut alpha = cap;
        let n_nn = self.n_nn;
        for (((&si, &dsi), &zi), &dzi) in s[..n_nn]
            .iter()
            .zip(&ds[..n_nn])
            .zip(&z[..n_nn])
            .zip(&dz[..n_nn])
        {
            if dsi < 0.0 {
                let r = -si / dsi;
                if r < alpha {
                    alpha = r;
                }
            }
            if dzi < 0.0 {
                let r = -zi / dzi;
                if r < alpha {
                    alpha = r;
                }
            }
        }
        for &(a, d) in &self.socs {
            let step = match d {
                // The common sizes as arrays: their loops unroll.
                3 => soc_pair_step::<3>(s, ds, z, dz, a, alpha),
                4 => soc_pair_step::<4>(s, ds, z, dz, a, alpha),
                _ => {
                    soc_step(&s[a..a + d], &ds[a..a + d]).min(soc_step(&z[a..a + d], &dz[a..a + d]))
                }
            };
            if step < alpha {
                alpha = step;
            }
        }
        alpha
    }

    /// Each orthant entry at least `margin`, each cone's v₀ at least ‖v̄‖ + margin.
    fn push_into_cone(&self, v: &mut [f64], margin: f64) {
        for x in &mut v[..self.n_nn] {
            *x = x.max(margin);
        }
        for &(a, d) in &self.socs {
            let bar = v[a + 1..a + d].iter().map(|x| x * x).sum::<f64>().sqrt();
            v[a] = v[a].max(bar + margin);
        }
    }

    /// Moves a previous solution's (s, z) into the interior so that every
    /// pair's complementarity is about `mu`: the smaller of the two is raised
    /// to μ / (the larger) (both to √μ when both are below it); on a
    /// second-order cone the same with v₀ − ‖v̄‖ as the margin.
    fn center_pairs(&self, s: &mut [f64], z: &mut [f64], mu: f64) {
        let root = mu.sqrt();
        for i in 0..self.n_nn {
            let (si, zi) = (s[i].max(0.0), z[i].max(0.0));
            s[i] = si.max(mu / zi.max(root));
            z[i] = zi.max(mu / si.max(root));
        }
        for &(a, d) in &self.socs {
            let s_bar = s[a + 1..a + d].iter().map(|x| x * x).sum::<f64>().sqrt();
            let z_bar = z[a + 1..a + d].iter().map(|x| x * x).sum::<f64>().sqrt();
            let (s0, z0) = (s[a].max(s_bar), z[a].max(z_bar));
            s[a] = s0.max(s_bar + mu / z0.max(root));
            z[a] = z0.max(z_bar + mu / s0.max(root));
        }
    }

    /// v += (1 + t)·e if v is not in the interior (t: how far outside).
    fn shift_into_cone(&self, v: &mut [f64]) {
        let mut t = f64::NEG_INFINITY;
        for i in 0..self.n_nn {
            t = t.max(-v[i]);
        }
        for &(a, d) in &self.socs {
            let bar = v[a + 1..a + d].iter().map(|x| x * x).sum::<f64>().sqrt();
            t = t.max(bar - v[a]);
        }
        if t >= -1e-8 {
            for i in 0..self.n_nn {
                v[i] += 1.0 + t;
            }
            for &(a, _) in &self.socs {
                v[a] += 1.0 + t;
            }
        }
    }
}

/// A second-order cone block's share of the KKT matrix.
#[derive(Debug, Clone)]
struct SocBlock {
    /// Its G entries: (local row, local column, index into G's values).
    g: Vec<(usize, usize, usize)>,
    n_cols: usize,
    /// Slots of the upper triangle of its k×k block of H, row-major over (a ≤ b).
    slots: Vec<usize>,
    /// G_bᵀ J G_b in the same layout (fixed by the data: W⁻² = (2·Jw(Jw)ᵀ − J)/η²
    /// makes the block (2uuᵀ − G_bᵀJG_b)/η² with u = G_bᵀJw).
    gjg: Vec<f64>,
}

/// Work vectors of one Newton direction.
#[derive(Debug, Clone, Default)]
struct Direction {
    dx: Vec<f64>,
    dy: Vec<f64>,
    dz: Vec<f64>,
    ds: Vec<f64>,
}

impl Direction {
    fn new(n: usize, n_eq: usize, mc: usize) -> Self {
        Direction {
            dx: vec![0.0; n],
            dy: vec![0.0; n_eq],
            dz: vec![0.0; mc],
            ds: vec![0.0; mc],
        }
    }
    fn add(&mut self, other: &Direction) {
        for (a, b) in [
            (&mut self.dx, &other.dx),
            (&mut self.dy, &other.dy),
            (&mut self.dz, &other.dz),
            (&mut self.ds, &other.ds),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// Right-hand side of a Newton system: residuals (dual, equality, cone) and
/// the complementarity target u (W dz + W⁻¹ ds = u).
#[derive(Debug, Clone, Default)]
struct Residuals {
    rd: Vec<f64>,
    r_eq: Vec<f64>,
    r_c: Vec<f64>,
    u: Vec<f64>,
}

impl Residuals {
    fn new(n: usize, n_eq: usize, mc: usize) -> Self {
        Residuals {
            rd: vec![0.0; n],
            r_eq: vec![0.0; n_eq],
            r_c: vec![0.0; mc],
            u: vec![0.0; mc],
        }
    }
}

/// The KKT matrix, its factorisation, and how the data fill it.
struct Kkt {
    ldl: Ldl,
    base: Vec<f64>,
    p_slot: Vec<usize>,
    eq_slot: Vec<usize>,
    diag_slot: Vec<usize>,
    /// Orthant rows: slots of the upper pairs of each row's entries.
    nn_ptr: Vec<usize>,
    nn_slot: Vec<usize>,
    socs: Vec<SocBlock>,
    rhs: Vec<f64>,
    t1: Vec<f64>,
    g: Vec<f64>,
    dense: Vec<f64>,
}

/// The interior point's data, factorisation and iterates for one problem
/// structure (see the module docs).
pub struct TreeIpm {
    settings: IpmSettings,
    n: usize,
    n_eq: usize,
    mc: usize,
    p_colptr: Vec<usize>,
    p_rowval: Vec<usize>,
    p_val: Vec<f64>,
    q: Vec<f64>,
    b_eq: Vec<f64>,
    b_c: Vec<f64>,
    a_eq: Rows,
    g: Rows,
    sc: Scaling,
    kkt: Kkt,
    x: Vec<f64>,
    /// Duals of every row in Clarabel's order: [y (equality rows); z (cone rows)].
    z_all: Vec<f64>,
    s: Vec<f64>,
    res: Residuals,
    aux: Residuals,
    dir: Direction,
    corr: Direction,
    ds_scaled: Vec<f64>,
    dz_scaled: Vec<f64>,
    /// Whether (x, z, s) hold the last problem's solution (a warm start).
    solved: bool,
    pub iterations: u32,
    /// Whether the last solve started from the previous solution.
    pub warm_started: bool,
    /// Whether the last solve was Newton on the previous active set (no interior point).
    pub active_set_used: bool,
    /// Whether the problem's cones allow the active-set re-solve, and its state once built.
    active_set_eligible: bool,
    active: Option<ActiveSet>,
    /// Consecutive failures of the active-set re-solve, and re-solves to skip it.
    active_set_failures: u32,
    active_set_skip: u32,
    /// Binding rows and cones of the last solution, and how many changed
    /// from the solution before (usize::MAX: unknown).
    active_pattern: Vec<bool>,
    pattern_known: bool,
    pattern_switches: usize,
    /// An iterate of the last interior-point solve near the central path
    /// (the last with relative gap ≥ `central_start_gap`): a re-solve's
    /// start when rows changed sides and no active-set attempt preceded.
    central_x: Vec<f64>,
    central_z: Vec<f64>,
    central_s: Vec<f64>,
    have_central: bool,
    /// Newton steps of a crossover that failed (counted in `iterations`).
    crossover_steps: u32,
    /// Whether the last solve ended with a crossover (Newton on the active
    /// set the interior point's iterate identified).
    pub crossover_used: bool,
}

impl TreeIpm {
    /// Analyses the problem's structure (ordering, factor pattern) and copies its values.
    pub fn new(problem: &Problem, settings: IpmSettings) -> Result<TreeIpm, String> {
        let a = &problem.a;
        let (n, m) = (a.n, a.m);
        let n_eq = problem.n_zero;
        let mc = m - n_eq;
        // Cones after the zero cone: the orthant, then second-order cones.
        let mut n_nn = 0;
        let mut socs = Vec::new();
        let mut row = 0usize;
        for cone in &problem.cones {
            match cone {
                SupportedConeT::ZeroConeT(d) => {
                    if row != 0 || *d != n_eq {
                        return Err("the zero cone must come first".into());
                    }
                    row += d;
                }
                SupportedConeT::NonnegativeConeT(d) => {
                    if !socs.is_empty() || row != n_eq {
                        return Err("the orthant must follow the zero cone".into());
                    }
                    n_nn = *d;
                    row += d;
                }
                SupportedConeT::SecondOrderConeT(d) => {
                    socs.push((row - n_eq, *d));
                    row += d;
                }
                other => return Err(format!("cone {other:?} is not supported by tree-ipm")),
            }
        }
        if row != m {
            return Err(format!("cones cover {row} of {m} rows"));
        }
        // Row-wise copies of A's equality and cone rows.
        let mut by_row: Vec<Vec<(usize, usize)>> = vec![Vec::new(); m];
        for c in 0..n {
            for k in a.colptr[c]..a.colptr[c + 1] {
                by_row[a.rowval[k]].push((c, k));
            }
        }
        let rows_of = |range: std::ops::Range<usize>| {
            let mut r = Rows {
                ptr: vec![0],
                n_cols: n,
                ..Default::default()
            };
            for i in range {
                for &(c, k) in &by_row[i] {
                    r.col.push(c);
                    r.val.push(a.nzval[k]);
                    r.src.push(k);
                }
                r.ptr.push(r.col.len());
            }
            r
        };
        let a_eq = rows_of(0..n_eq);
        let g = rows_of(n_eq..m);
        // The KKT pattern: P, Aₑ, the orthant rows' and the cones' blocks of H.
        let mut entries: Vec<(usize, usize)> = Vec::new();
        let p = &problem.p;
        for c in 0..n {
            for k in p.colptr[c]..p.colptr[c + 1] {
                entries.push((p.rowval[k], c));
            }
        }
        let n_p = entries.len();
        for r in 0..n_eq {
            for k in a_eq.ptr[r]..a_eq.ptr[r + 1] {
                entries.push((a_eq.col[k], n + r));
            }
        }
        let n_pe = entries.len();
        let mut nn_ptr = vec![0];
        for r in 0..n_nn {
            let cols = &g.col[g.ptr[r]..g.ptr[r + 1]];
            for ia in 0..cols.len() {
                for ib in ia..cols.len() {
                    entries.push((cols[ia], cols[ib]));
                }
            }
            nn_ptr.push(entries.len() - n_pe);
        }
        let n_pen = entries.len();
        let mut soc_blocks = Vec::with_capacity(socs.len());
        let mut soc_entry_start = Vec::with_capacity(socs.len());
        for &(start, dim) in &socs {
            let mut cols: Vec<usize> = Vec::new();
            let mut ge = Vec::new();
            for lr in 0..dim {
                let r = start + lr;
                for k in g.ptr[r]..g.ptr[r + 1] {
                    let c = g.col[k];
                    let local = match cols.iter().position(|&x| x == c) {
                        Some(l) => l,
                        None => {
                            cols.push(c);
                            cols.len() - 1
                        }
                    };
                    ge.push((lr, local, k));
                }
            }
            soc_entry_start.push(entries.len());
            for ia in 0..cols.len() {
                for ib in ia..cols.len() {
                    entries.push((cols[ia], cols[ib]));
                }
            }
            soc_blocks.push(SocBlock {
                g: ge,
                n_cols: cols.len(),
                slots: Vec::new(),
                gjg: vec![0.0; cols.len() * (cols.len() + 1) / 2],
            });
        }
        let dim = n + n_eq;
        let sign: Vec<f64> = (0..dim).map(|i| if i < n { 1.0 } else { -1.0 }).collect();
        let (ldl, slots, diag_slot) = Ldl::new(dim, &entries, sign);
        for (bi, blk) in soc_blocks.iter_mut().enumerate() {
            let count = blk.n_cols * (blk.n_cols + 1) / 2;
            let first = soc_entry_start[bi];
            blk.slots = slots[first..first + count].to_vec();
        }
        let max_dim = socs
            .iter()
            .zip(&soc_blocks)
            .map(|(&(_, d), b)| d.max(b.n_cols))
            .max()
            .unwrap_or(1);
        let nk = ldl.n_values();
        let kkt = Kkt {
            ldl,
            base: vec![0.0; nk],
            p_slot: slots[..n_p].to_vec(),
            eq_slot: slots[n_p..n_pe].to_vec(),
            diag_slot,
            nn_ptr,
            nn_slot: slots[n_pe..n_pen].to_vec(),
            socs: soc_blocks,
            rhs: vec![0.0; dim],
            t1: vec![0.0; mc],
            g: vec![0.0; mc],
            dense: vec![0.0; 3 * max_dim * max_dim],
        };
        let degree_blocks = socs.len();
        let mut ipm = TreeIpm {
            settings,
            n,
            n_eq,
            mc,
            p_colptr: p.colptr.clone(),
            p_rowval: p.rowval.clone(),
            p_val: p.nzval.clone(),
            q: problem.q.clone(),
            b_eq: problem.b[..n_eq].to_vec(),
            b_c: problem.b[n_eq..].to_vec(),
            a_eq,
            g,
            sc: Scaling {
                n_nn,
                socs,
                w: vec![1.0; mc],
                w_inv: vec![1.0; mc],
                eta: vec![1.0; degree_blocks],
                lambda: vec![0.0; mc],
            },
            kkt,
            x: vec![0.0; n],
            z_all: vec![0.0; m],
            s: vec![0.0; mc],
            res: Residuals::new(n, n_eq, mc),
            aux: Residuals::new(n, n_eq, mc),
            dir: Direction::new(n, n_eq, mc),
            corr: Direction::new(n, n_eq, mc),
            ds_scaled: vec![0.0; mc],
            dz_scaled: vec![0.0; mc],
            solved: false,
            iterations: 0,
            warm_started: false,
            active_set_used: false,
            active_set_eligible: false,
            active: None,
            active_set_failures: 0,
            active_set_skip: 0,
            active_pattern: vec![false; n_nn + degree_blocks],
            pattern_known: false,
            pattern_switches: usize::MAX,
            central_x: vec![0.0; n],
            central_z: vec![0.0; m],
            central_s: vec![0.0; mc],
            have_central: false,
            crossover_steps: 0,
            crossover_used: false,
        };
        ipm.active_set_eligible = ActiveSet::eligible(&ipm);
        // Its system is analysed here, with the interior point's: a one-time
        // cost (at 10k buses a minimum-degree ordering of 110k unknowns) that
        // belongs to the first solve, not to a re-solve.
        let crossover = ipm.settings.crossover_below_gap > 0.0;
        if ipm.active_set_eligible && (ipm.settings.active_set || crossover) {
            ipm.active = Some(ActiveSet::new(&ipm));
        }
        ipm.refresh_base();
        Ok(ipm)
    }

    /// Copies a new problem's values (the same structure: `Problem::same_pattern`).
    pub fn update(&mut self, problem: &Problem) {
        // The matrices' fixed parts of the KKT system are recomputed only if
        // P or A moved (the SOCP's stay; LinDistFlow's loss factors move).
        let mut matrices_changed = self.p_val != problem.p.nzval;
        self.p_val.copy_from_slice(&problem.p.nzval);
        self.q.copy_from_slice(&problem.q);
        let a = &problem.a.nzval;
        for rows in [&mut self.a_eq, &mut self.g] {
            for (v, &k) in rows.val.iter_mut().zip(&rows.src) {
                matrices_changed |= *v != a[k];
                *v = a[k];
            }
        }
        self.b_eq.copy_from_slice(&problem.b[..self.n_eq]);
        self.b_c.copy_from_slice(&problem.b[self.n_eq..]);
        if matrices_changed {
            self.refresh_base();
        }
    }

    fn refresh_base(&mut self) {
        let k = &mut self.kkt;
        k.base.fill(0.0);
        for (i, &slot) in k.p_slot.iter().enumerate() {
            k.base[slot] += self.p_val[i];
        }
        for (i, &slot) in k.eq_slot.iter().enumerate() {
            k.base[slot] += self.a_eq.val[i];
        }
        // Static regularisation of the primal (+) and equality (−) pivots.
        let reg = self.settings.static_reg;
        for (i, &slot) in k.diag_slot.iter().enumerate() {
            k.base[slot] += if i < self.n { reg } else { -reg };
        }
        for blk in &mut k.socs {
            let kc = blk.n_cols;
            blk.gjg.fill(0.0);
            for &(ra, ca, ea) in &blk.g {
                for &(rb, cb, eb) in &blk.g {
                    if ra != rb || ca > cb {
                        continue;
                    }
                    // Upper-triangle index of (ca, cb), row-major over a ≤ b.
                    let t = ca * kc - ca * (ca + 1) / 2 + cb;
                    let j = if ra == 0 { 1.0 } else { -1.0 };
                    blk.gjg[t] += j * self.g.val[ea] * self.g.val[eb];
                }
            }
        }
    }

    /// The active-set re-solve's factorisations, and its changes of the set
    /// taken on an older factor through its border, since construction.
    pub fn active_set_counts(&self) -> (u64, u64) {
        self.active
            .as_ref()
            .map_or((0, 0), |st| (st.factorisations, st.bordered_changes))
    }

    /// The primal solution.
    pub fn x(&self) -> &[f64] {
        &self.x
    }
    /// The duals of all rows, in Clarabel's order and sign.
    pub fn z(&self) -> &[f64] {
        &self.z_all
    }
    /// Non-zeros of the factor L (for benchmarks and tests).
    pub fn factor_nnz(&self) -> usize {
        self.kkt.ldl.nnz_l()
    }
    /// The KKT system's dimension and the factor's (largest column, Σ column²).
    pub fn factor_stats(&self) -> (usize, usize, usize) {
        let (m, s) = self.kkt.ldl.column_stats();
        (self.kkt.ldl.dim(), m, s)
    }

    /// Fills the KKT matrix for the current scaling and factorises it.
    fn factor(&mut self) -> Result<(), String> {
        let k = &mut self.kkt;
        let kx = k.ldl.values_mut();
        // The base holds P, Aₑ and the static regularisation.
        kx.copy_from_slice(&k.base);
        let g = &self.g;
        let sc = &self.sc;
        // Orthant rows: (z/s)·a aᵀ.
        for r in 0..sc.n_nn {
            let h = sc.w_inv[r] * sc.w_inv[r];
            let (lo, hi) = (g.ptr[r], g.ptr[r + 1]);
            let mut t = k.nn_ptr[r];
            for ia in lo..hi {
                let ha = h * g.val[ia];
                for ib in ia..hi {
                    kx[k.nn_slot[t]] += ha * g.val[ib];
                    t += 1;
                }
            }
        }
        // Second-order cones: G_bᵀ W⁻² G_b = (2uuᵀ − G_bᵀJG_b)/η², u = G_bᵀ·Jw.
        for (c, (&(a, _), blk)) in sc.socs.iter().zip(&k.socs).enumerate() {
            let kc = blk.n_cols;
            let u = &mut k.dense[..kc];
            u.fill(0.0);
            let w = &sc.w[a..];
            for &(lr, lc, e) in &blk.g {
                let jw = if lr == 0 { w[0] } else { -w[lr] };
                u[lc] += g.val[e] * jw;
            }
            let inv_eta2 = 1.0 / (sc.eta[c] * sc.eta[c]);
            let mut t = 0;
            for ia in 0..kc {
                let two_ua = 2.0 * u[ia];
                for ib in ia..kc {
                    kx[blk.slots[t]] += (two_ua * u[ib] - blk.gjg[t]) * inv_eta2;
                    t += 1;
                }
            }
        }
        match k.ldl.factor(self.settings.dyn_eps, self.settings.dyn_delta) {
            Some(_) => Ok(()),
            None => Err("the KKT factorisation is not finite".into()),
        }
    }

    /// Solves the factorised Newton system for right-hand side `rhs` into `out`:
    ///   P dx + Aₑᵀdy + Gᵀdz = −rd,  Aₑdx = −r_eq,  G dx + ds = −r_c,  W dz + W⁻¹ds = u.
    fn direction(
        sc: &Scaling,
        g: &Rows,
        kkt: &mut Kkt,
        n: usize,
        rhs: &Residuals,
        out: &mut Direction,
    ) {
        // t1 = W⁻²·r_c + W⁻¹·u = W⁻¹(W⁻¹ r_c + u).
        let t1 = &mut kkt.t1;
        let gv = &mut kkt.g;
        let nn = sc.n_nn;
        for (((t, &wi), &rc), &u) in t1[..nn].iter_mut().zip(&sc.w_inv).zip(&rhs.r_c).zip(&rhs.u) {
            *t = (rc * wi + u) * wi;
        }
        if !sc.socs.is_empty() {
            sc.apply_winv2_socs(&rhs.r_c, t1);
            sc.apply_socs(&rhs.u, gv, true);
            // The cones' rows are the contiguous rows after the orthant's.
            for (t, &x) in t1[nn..].iter_mut().zip(&gv[nn..]) {
                *t += x;
            }
        }
        // rhs = [−rd − Gᵀt1; −r_eq]
        let k = &mut kkt.rhs;
        let (k_primal, k_eq) = k.split_at_mut(n);
        for (k, &r) in k_primal.iter_mut().zip(&rhs.rd) {
            *k = -r;
        }
        for (k, &r) in k_eq.iter_mut().zip(&rhs.r_eq) {
            *k = -r;
        }
        g.mul_t_sub(t1, &mut k[..n]);
        kkt.ldl.solve(k);
        out.dx.copy_from_slice(&k[..n]);
        out.dy.copy_from_slice(&k[n..]);
        // g = G dx;  dz = W⁻² g + t1;  ds = −r_c − g.
        g.mul(&out.dx, gv);
        for (((((dz, ds), &wi), &gi), &t), &rc) in out.dz[..nn]
            .iter_mut()
            .zip(&mut out.ds[..nn])
            .zip(&sc.w_inv)
            .zip(&gv[..])
            .zip(&t1[..])
            .zip(&rhs.r_c)
        {
            *dz = gi * wi * wi + t;
            *ds = -rc - gi;
        }
        if !sc.socs.is_empty() {
            sc.apply_winv2_socs(gv, &mut out.dz);
            for (dz, &t) in out.dz[nn..].iter_mut().zip(&t1[nn..]) {
                *dz += t;
            }
            for ((ds, &r), &x) in out.ds[nn..].iter_mut().zip(&rhs.r_c[nn..]).zip(&gv[nn..]) {
                *ds = -r - x;
            }
        }
    }

    /// The Newton direction for `self.res` into `self.dir`, with one step of
    /// iterative refinement on the full system when `refine`.
    fn newton(&mut self, refine: bool) {
        let n = self.n;
        Self::direction(
            &self.sc,
            &self.g,
            &mut self.kkt,
            n,
            &self.res,
            &mut self.dir,
        );
        if !refine {
            return;
        }
        // Residuals of the unreduced equations at the direction:
        // e_d = P dx + Aₑᵀdy + Gᵀdz + rd, e_eq = Aₑdx + r_eq,
        // e_c = G dx + ds + r_c (zero by construction), e_u = W dz + W⁻¹ds − u.
        let (d, e) = (&self.dir, &mut self.aux);
        e.rd.copy_from_slice(&self.res.rd);
        self.a_eq.mul_t_add(&d.dy, &mut e.rd);
        self.g.mul_t_add(&d.dz, &mut e.rd);
        p_mul_add(
            &self.p_colptr,
            &self.p_rowval,
            &self.p_val,
            &d.dx,
            &mut e.rd,
        );
        self.a_eq.mul(&d.dx, &mut e.r_eq);
        for i in 0..self.n_eq {
            e.r_eq[i] += self.res.r_eq[i];
        }
        e.r_c.fill(0.0);
        self.sc.apply(&d.dz, &mut e.u, false);
        self.sc.apply(&d.ds, &mut self.ds_scaled, true);
        for i in 0..self.mc {
            e.u[i] = self.res.u[i] - e.u[i] - self.ds_scaled[i];
        }
        // Skip the correction when the direction is already accurate
        // (relative to its right-hand side): it would cost a second solve.
        let error = inf_norm(&e.rd).max(inf_norm(&e.r_eq)).max(inf_norm(&e.u));
        let size = inf_norm(&self.res.rd)
            .max(inf_norm(&self.res.r_eq))
            .max(inf_norm(&self.res.u));
        if error <= self.settings.refine_skip_below * size {
            return;
        }
        Self::direction(
            &self.sc,
            &self.g,
            &mut self.kkt,
            n,
            &self.aux,
            &mut self.corr,
        );
        self.dir.add(&self.corr);
    }

    /// Residuals at the iterate; returns (‖primal‖∞, ‖dual‖∞, primal cost).
    fn residuals(&mut self) -> (f64, f64, f64) {
        let (n_eq, r) = (self.n_eq, &mut self.res);
        let (y, z) = self.z_all.split_at(n_eq);
        // r_eq = Aₑx − bₑ, r_c = Gx + s − b_c, rd = Px + q + Aₑᵀy + Gᵀz.
        r.rd.copy_from_slice(&self.q);
        for (r, &b) in r.r_eq.iter_mut().zip(&self.b_eq) {
            *r = -b;
        }
        for ((r, &s), &b) in r.r_c.iter_mut().zip(&self.s).zip(&self.b_c) {
            *r = s - b;
        }
        self.a_eq.mul_and_mul_t(&self.x, y, &mut r.r_eq, &mut r.rd);
        self.g.mul_and_mul_t(&self.x, z, &mut r.r_c, &mut r.rd);
        let qx = dot(&self.q, &self.x);
        let before: f64 = dot(&r.rd, &self.x);
        p_mul_add(
            &self.p_colptr,
            &self.p_rowval,
            &self.p_val,
            &self.x,
            &mut r.rd,
        );
        let xpx = dot(&r.rd, &self.x) - before;
        let pres = inf_norm(&r.r_eq).max(inf_norm(&r.r_c));
        (pres, inf_norm(&r.rd), 0.5 * xpx + qx)
    }

    /// Solves; after a solved problem of the same structure, from its
    /// solution (and from a cold start if that fails).
    pub fn solve(&mut self) -> IpmStatus {
        let margin = self.settings.warm_start_margin;
        self.active_set_used = false;
        let mut newton_steps = 0;
        // (Not where the last solution has a relaxation cone that is not
        // tight: see `ActiveSet::relaxation_held`.)
        let try_active_set = self.solved
            && self.settings.active_set
            && self.active_set_eligible
            && self.relaxation_tight();
        if try_active_set && self.active_set_skip > 0 {
            self.active_set_skip -= 1;
        } else if try_active_set {
            if self.solve_active_set(false) {
                self.record_active_pattern();
                self.warm_started = true;
                self.active_set_used = true;
                self.active_set_failures = 0;
                return IpmStatus::Solved;
            }
            // Where the active set changes at every interval (10k buses) the
            // attempt only costs: after two failures in a row, skip it for
            // 2, 4, … 16 re-solves.
            self.active_set_failures += 1;
            if self.active_set_failures >= 2 {
                self.active_set_skip = 1 << (self.active_set_failures - 1).min(4);
            }
            // The interior point starts where Newton left off; the set changed.
            newton_steps = self.iterations;
            self.pattern_switches = usize::MAX;
            if self.settings.trace {
                eprintln!("tree-ipm: the active-set re-solve failed; interior point");
            }
        }
        if self.solved && margin > 0.0 {
            self.warm_started = true;
            // After a failed attempt on the SOCP's relaxation cones too
            // (the last solution blended toward the central iterate, as
            // without the attempt: 1k buses, 12 → 10 iterations after
            // Newton's, 37.9 → 37.1 M instructions per re-solve).
            let use_central = self.pattern_switches != 0
                && self.have_central
                && (newton_steps == 0 || self.has_relaxation_cones())
                && self.settings.central_start_gap > 0.0;
            if use_central {
                // Rows changed sides, and no active-set attempt gave a
                // point for the new data: the last solve's iterate near the
                // central path (1k buses, SOCP: 10.3 → 7.4 iterations;
                // LinDistFlow: after a failed attempt Newton's first point
                // alone is better).
                // Halfway-ish back to the last solution (x, s, z =
                // θ·last + (1 − θ)·central, θ = `central_start_blend`): still
                // strictly inside the cones and centred enough, at a smaller
                // gap (1k buses: 7.405 → 7.045 iterations; 10k: 7.9 → 7.7).
                let theta = self.settings.central_start_blend;
                for (v, c) in [
                    (&mut self.x, &self.central_x),
                    (&mut self.z_all, &self.central_z),
                    (&mut self.s, &self.central_s),
                ] {
                    for (v, &c) in v.iter_mut().zip(c) {
                        *v = theta * *v + (1.0 - theta) * c;
                    }
                }
            } else if self.pattern_switches == 0 {
                // The last interval kept its active set: a start close to
                // the solution and centred at a small μ converges in ~3 steps.
                let (_, z) = self.z_all.split_at_mut(self.n_eq);
                self.sc
                    .center_pairs(&mut self.s, z, self.settings.warm_start_center_mu);
            } else {
                // Rows changed sides last time: a start further inside lets
                // the pairs that must cross over move (centring alone makes
                // them block the steps: 14 instead of 10 iterations at 1k buses).
                self.sc.push_into_cone(&mut self.s, margin);
                self.sc.push_into_cone(&mut self.z_all[self.n_eq..], margin);
            }
            let status = self.iterate(true);
            self.iterations += newton_steps;
            if status == IpmStatus::Solved {
                self.record_active_pattern();
                return status;
            }
            if self.settings.trace {
                eprintln!("tree-ipm: the warm start ended {status:?}; cold start");
            }
        }
        self.warm_started = false;
        self.cold_start();
        // No crossover from a cold start: where the optimum is not unique
        // (voltages free within a regulator's band) Newton ends at another
        // optimal point than the interior point's centre, and the first
        // interval's answer is what a run of one interval reports.
        let status = self.iterate(false);
        self.solved = status == IpmStatus::Solved;
        if self.solved {
            self.record_active_pattern();
        } else {
            self.pattern_switches = usize::MAX;
        }
        status
    }

    /// Which rows and cones bind at the solution (dual above slack), and
    /// how many changed since the last solution.
    fn record_active_pattern(&mut self) {
        let z = &self.z_all[self.n_eq..];
        let n_nn = self.sc.n_nn;
        let mut switches = 0;
        for i in 0..n_nn {
            let on = z[i] > self.s[i];
            switches += usize::from(on != self.active_pattern[i]);
            self.active_pattern[i] = on;
        }
        for (c, &(a, d)) in self.sc.socs.iter().enumerate() {
            let margin = self.s[a]
                - self.s[a + 1..a + d]
                    .iter()
                    .map(|x| x * x)
                    .sum::<f64>()
                    .sqrt();
            let on = z[a] > margin;
            switches += usize::from(on != self.active_pattern[n_nn + c]);
            self.active_pattern[n_nn + c] = on;
        }
        self.pattern_switches = if self.pattern_known {
            switches
        } else {
            usize::MAX
        };
        self.pattern_known = true;
    }

    /// The start point (as CVXOPT's coneqp).
    fn cold_start(&mut self) {
        let (n, n_eq, mc) = (self.n, self.n_eq, self.mc);
        // Start (as CVXOPT's coneqp): with W = I, the least-squares primal
        // point and the dual point of the same system, shifted into the cones.
        self.s.fill(1.0);
        self.sc.update(&self.s, &self.s, true);
        if self.factor().is_err() {
            // Not expected (W = I); the iterations report it.
            return;
        }
        {
            let r = &mut self.aux;
            r.rd.fill(0.0);
            for i in 0..n_eq {
                r.r_eq[i] = -self.b_eq[i];
            }
            for i in 0..mc {
                r.r_c[i] = -self.b_c[i];
            }
            r.u.fill(0.0);
        }
        // Primal: P x + Gᵀ(Gx − b_c) + Aₑᵀy = 0, Aₑx = bₑ  (W = I, u = 0).
        Self::direction(
            &self.sc,
            &self.g,
            &mut self.kkt,
            n,
            &self.aux,
            &mut self.dir,
        );
        self.x.copy_from_slice(&self.dir.dx);
        self.s.copy_from_slice(&self.dir.ds);
        // Dual: P x + Gᵀz + Aₑᵀy = −q, Aₑx = 0, z = G x.
        {
            let r = &mut self.aux;
            r.rd.copy_from_slice(&self.q);
            r.r_eq.fill(0.0);
            r.r_c.fill(0.0);
        }
        Self::direction(
            &self.sc,
            &self.g,
            &mut self.kkt,
            n,
            &self.aux,
            &mut self.dir,
        );
        self.z_all[..n_eq].copy_from_slice(&self.dir.dy);
        self.z_all[n_eq..].copy_from_slice(&self.dir.dz);
        self.sc.shift_into_cone(&mut self.s);
        self.sc.shift_into_cone(&mut self.z_all[n_eq..]);
    }

    /// The interior-point iterations from the current point (counting the
    /// Newton steps of a failed crossover).
    fn iterate(&mut self, crossover: bool) -> IpmStatus {
        self.crossover_steps = 0;
        self.crossover_used = false;
        let status = self.interior_point_iterations(crossover);
        self.iterations += self.crossover_steps;
        status
    }

    fn interior_point_iterations(&mut self, crossover: bool) -> IpmStatus {
        let n_eq = self.n_eq;
        self.iterations = 0;
        let norm_b = inf_norm(&self.b_eq).max(inf_norm(&self.b_c));
        let norm_q = inf_norm(&self.q);
        let set = self.settings;
        let degree = self.sc.degree().max(1.0);
        // Primal residuals of the last iterations (stall detection).
        let mut pres_history = [f64::INFINITY; 6];
        let mut crossover_tried = false;
        for it in 0..set.max_iter {
            self.iterations = it;
            let (pres, dres, pcost) = self.residuals();
            let gap = dot(&self.s, &self.z_all[n_eq..]);
            let dcost = pcost - gap;
            let norm_x = inf_norm(&self.x);
            let norm_z = inf_norm(&self.z_all);
            let norm_s = inf_norm(&self.s);
            let gap_rel = gap / 1f64.max(pcost.abs().min(dcost.abs()));
            if set.trace {
                eprintln!(
                    "tree-ipm {it:3}: pcost {pcost:+.9e} gap {gap:.2e} pres {pres:.2e} dres {dres:.2e}"
                );
            }
            // The last iterate still above that gap: the first one below
            // it, kept before, drifted (a solve started from it is below
            // it after one step, and the kept point moved closer to the
            // boundary each interval: 1k buses, SOCP, 9.1 iterations over
            // 32 re-solves but 10.4 over 200; 7.4 so). From iteration 1 on:
            // a start taken from the last solve is not an iterate of this problem.
            if it >= 1 && set.central_start_gap > 0.0 && gap_rel >= set.central_start_gap {
                self.have_central = true;
                self.central_x.copy_from_slice(&self.x);
                self.central_z.copy_from_slice(&self.z_all);
                self.central_s.copy_from_slice(&self.s);
            }
            if !(pres.is_finite() && dres.is_finite() && gap.is_finite()) {
                return IpmStatus::Failed(format!("iterates are not finite at iteration {it}"));
            }
            let primal_scale = 1f64.max(norm_b + norm_x + norm_s);
            if pres <= set.tol_feas * primal_scale
                && dres <= set.tol_feas * 1f64.max(norm_q + norm_x + norm_z)
                && (gap <= set.tol_gap_abs || gap_rel <= set.tol_gap_rel)
            {
                return IpmStatus::Solved;
            }
            // Crossover: near the solution the iterate tells the binding
            // rows apart (dual ≫ slack), and Newton on that set ends in a
            // KKT point in 1–3 steps where the interior point needs 3–5
            // more iterations (1k buses, LinDistFlow: 106 of 122 interior-point
            // solves end so). Once per solve; if it fails, on from here.
            if crossover
                && !crossover_tried
                && it >= 1
                && gap_rel < set.crossover_below_gap
                && self.active.is_some()
            {
                crossover_tried = true;
                if set.trace {
                    eprintln!("tree-ipm: crossover at iteration {it}");
                }
                let ok = self.solve_active_set(true);
                let steps = self.iterations;
                self.iterations = it;
                if ok {
                    self.iterations += steps;
                    self.crossover_used = true;
                    return IpmStatus::Solved;
                }
                self.crossover_steps = steps;
            }
            // An infeasible-start method on an infeasible problem converges
            // everything but the primal residual: stop early; infeasible if
            // the duals are a Farkas certificate, else let the caller decide.
            pres_history.rotate_right(1);
            pres_history[0] = pres;
            if it >= 8
                && pres > 1e3 * set.tol_feas * primal_scale
                && pres > 0.5 * pres_history[5]
                && gap_rel < 1e-5
            {
                if self.farkas_certificate() < set.tol_infeas {
                    return IpmStatus::PrimalInfeasible;
                }
                return IpmStatus::Failed(format!(
                    "the primal residual stalls at {pres:.1e} (likely infeasible)"
                ));
            }
            self.sc.update(&self.s, &self.z_all[n_eq..], false);
            if let Err(e) = self.factor() {
                return IpmStatus::Failed(e);
            }
            let refine = gap_rel < set.refine_below_gap;
            // Predictor: u = λ \ (−λ∘λ) = −λ. (The loops over the vectors
            // here go through local slices: indexing self's Vecs reloads
            // their pointers and bounds at every entry.)
            for (u, &l) in self.res.u.iter_mut().zip(&self.sc.lambda) {
                *u = -l;
            }
            self.newton(refine);
            let z = &self.z_all[n_eq..];
            let alpha_aff = self
                .sc
                .max_step(&self.s, &self.dir.ds, z, &self.dir.dz, 1.0);
            let mut gap_aff = 0.0;
            for (((&si, &dsi), &zi), &dzi) in
                self.s.iter().zip(&self.dir.ds).zip(z).zip(&self.dir.dz)
            {
                gap_aff += (si + alpha_aff * dsi) * (zi + alpha_aff * dzi);
            }
            let sigma = (gap_aff / gap).clamp(0.0, 1.0).powi(3);
            let mu = gap / degree;
            // Corrector: λ∘(W dz + W⁻¹ ds) = −λ∘λ − (W⁻¹Δs_a)∘(WΔz_a) + σμe.
            self.sc.corrector_rhs(
                &self.dir.ds,
                &self.dir.dz,
                sigma * mu,
                (&mut self.ds_scaled, &mut self.dz_scaled, &mut self.aux.u),
                &mut self.res.u,
            );
            self.newton(refine);
            let z = &self.z_all[n_eq..];
            // When the predictor alone closes almost all of the gap (σ tiny:
            // the iterate is in the Newton region of the solution), 0.99 of
            // the step would cap every iteration at a 100× gain: go nearer.
            let fraction = if sigma < set.newton_region_sigma {
                set.newton_region_step_fraction
            } else {
                set.step_fraction
            };
            // Any step to the boundary beyond 1/fraction gives the full step.
            let unblocked = 1.0 / fraction;
            let to_boundary = self
                .sc
                .max_step(&self.s, &self.dir.ds, z, &self.dir.dz, unblocked);
            let alpha = if to_boundary >= unblocked {
                1.0
            } else {
                (fraction * to_boundary).min(1.0)
            };
            if set.trace {
                eprintln!(
                    "            alpha_aff {alpha_aff:.3} sigma {sigma:.2e} alpha {alpha:.3}"
                );
            }
            if alpha.is_nan() || alpha <= 1e-10 {
                return IpmStatus::Failed(format!("step length {alpha:e} at iteration {it}"));
            }
            for (x, &d) in self.x.iter_mut().zip(&self.dir.dx) {
                *x += alpha * d;
            }
            let (y, z) = self.z_all.split_at_mut(n_eq);
            for (y, &d) in y.iter_mut().zip(&self.dir.dy) {
                *y += alpha * d;
            }
            for (z, &d) in z.iter_mut().zip(&self.dir.dz) {
                *z += alpha * d;
            }
            for (s, &d) in self.s.iter_mut().zip(&self.dir.ds) {
                *s += alpha * d;
            }
        }
        self.iterations = set.max_iter;
        IpmStatus::Failed(format!("no convergence in {} iterations", set.max_iter))
    }

    /// ‖Aᵀz‖∞ / −bᵀz for the current duals (∞ unless bᵀz < 0): below
    /// `tol_infeas`, z (in K*) certifies that no primal point exists.
    fn farkas_certificate(&mut self) -> f64 {
        let (y, z) = self.z_all.split_at(self.n_eq);
        let bz = dot(&self.b_eq, y) + dot(&self.b_c, z);
        if bz.is_nan() || bz >= 0.0 {
            return f64::INFINITY;
        }
        let atz = &mut self.aux.rd;
        atz.fill(0.0);
        self.a_eq.mul_t_add(y, atz);
        self.g.mul_t_add(z, atz);
        inf_norm(atz) / -bz
    }
}

/// out += P x for an upper-triangular P.
fn p_mul_add(colptr: &[usize], rowval: &[usize], val: &[f64], x: &[f64], out: &mut [f64]) {
    for c in 0..x.len() {
        for k in colptr[c]..colptr[c + 1] {
            let r = rowval[k];
            out[r] += val[k] * x[c];
            if r != c {
                out[c] += val[k] * x[r];
            }
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// max |aᵢ|, NaN entries skipped as by f64::max (a plain comparison: the
/// NaN rule of f64::max costs five instructions per entry).
fn inf_norm(a: &[f64]) -> f64 {
    a.iter()
        .fold(0.0, |m, v| if v.abs() > m { v.abs() } else { m })
}

/// √(v₀² − ‖v̄‖²), computed as √((v₀ − ‖v̄‖)(v₀ + ‖v̄‖)).
#[inline(always)]
fn soc_norm(v: &[f64]) -> f64 {
    let bar = v[1..].iter().map(|x| x * x).sum::<f64>().sqrt();
    ((v[0] - bar) * (v[0] + bar)).max(0.0).sqrt()
}

/// out = η·H(w̄)·v on one cone block (sign −1, scale 1/η: W⁻¹v).
#[inline(always)]
fn scale_block(w: &[f64], scale: f64, sign: f64, v: &[f64], out: &mut [f64]) {
    let d = w.len();
    let mut wv = 0.0;
    for k in 1..d {
        wv += w[k] * v[k];
    }
    out[0] = scale * (w[0] * v[0] + sign * wv);
    let f = sign * v[0] + wv / (1.0 + w[0]);
    for k in 1..d {
        out[k] = scale * (v[k] + f * w[k]);
    }
}

/// out = l \ v (l ∘ out = v) on one cone block.
#[inline(always)]
fn divide_block(l: &[f64], v: &[f64], out: &mut [f64]) {
    let d = l.len();
    let (mut lv, mut ll) = (0.0, 0.0);
    for k in 1..d {
        lv += l[k] * v[k];
        ll += l[k] * l[k];
    }
    let w0 = (l[0] * v[0] - lv) / (l[0] * l[0] - ll);
    out[0] = w0;
    for k in 1..d {
        out[k] = (v[k] - w0 * l[k]) / l[0];
    }
}

/// Calls `kernel(d)` with the common cone dimensions as constants (3: the
/// |S| ≤ S_max limits, 4: the SOCP's relaxation cones), so that an inlined
/// per-cone kernel's loops over the cone's entries unroll; `d` otherwise.
#[inline(always)]
fn with_cone_dim(d: usize, kernel: impl FnOnce(usize)) {
    match d {
        3 => kernel(3),
        4 => kernel(4),
        _ => kernel(d),
    }
}

/// min(`bound`, [`soc_step`] for s and z) on the cone of dimension D at row a.
#[inline(always)]
fn soc_pair_step<const D: usize>(
    s: &[f64],
    ds: &[f64],
    z: &[f64],
    dz: &[f64],
    a: usize,
    bound: f64,
) -> f64 {
    let block = |v: &[f64]| -> [f64; D] {
        let mut out = [0.0; D];
        out.copy_from_slice(&v[a..a + D]);
        out
    };
    // Most cones do not block the step found so far: when v + bound·d is in
    // the cone, so is the whole segment from v (a convex set), and the
    // cone's own step (a square root and divisions) cannot lower the minimum.
    let step = |v: [f64; D], d: [f64; D]| {
        if in_cone_at(&v, &d, bound) {
            bound
        } else {
            soc_step(&v, &d)
        }
    };
    let (s_step, z_step) = (step(block(s), block(ds)), step(block(z), block(dz)));
    if z_step < s_step {
        z_step
    } else {
        s_step
    }
}

/// Whether v + α·d is in the second-order cone (false for α = ∞ or NaN).
#[inline(always)]
fn in_cone_at(v: &[f64], d: &[f64], alpha: f64) -> bool {
    let head = v[0] + alpha * d[0];
    let mut margin = head * head;
    for k in 1..v.len() {
        let x = v[k] + alpha * d[k];
        margin -= x * x;
    }
    head >= 0.0 && margin >= 0.0
}

/// Largest α with v + α·d in the second-order cone (∞ if unbounded).
#[inline(always)]
fn soc_step(v: &[f64], d: &[f64]) -> f64 {
    // f(α) = (v₀ + αd₀)² − ‖v̄ + αd̄‖² = aα² + 2bα + c, c > 0.
    let mut a = d[0] * d[0];
    let mut b = v[0] * d[0];
    let mut c = v[0] * v[0];
    for k in 1..v.len() {
        a -= d[k] * d[k];
        b -= v[k] * d[k];
        c -= v[k] * v[k];
    }
    let c = c.max(0.0);
    let disc = b * b - a * c;
    let along_axis = if d[0] < 0.0 {
        -v[0] / d[0]
    } else {
        f64::INFINITY
    };
    let quad = if disc < 0.0 {
        f64::INFINITY
    } else if b < 0.0 {
        c / (disc.sqrt() - b)
    } else if a < 0.0 {
        (b + disc.sqrt()) / -a
    } else {
        f64::INFINITY
    };
    quad.min(along_axis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opf::builder::Builder;

    #[test]
    fn cone_steps() {
        // (1, 0) + α(0, 1) leaves the cone at α = 1; (1, 0) + α(−1, 1) at α = 1/2.
        assert!((soc_step(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-15);
        let a = soc_step(&[1.0, 0.0], &[-1.0, 1.0]);
        assert!((a - 0.5).abs() < 1e-14, "{a}");
    }

    /// min x₀ s.t. x₁ = 1, x₂ = 2, (x₀, x₁, x₂) ∈ SOC, x₀ ≤ 10: x₀ = √5.
    fn small_soc() -> Problem {
        let mut b = Builder::new();
        let x: Vec<usize> = (0..3)
            .map(|k| b.var(if k == 0 { 1.0 } else { 0.0 }))
            .collect();
        b.eq(&[(x[1], 1.0)], 1.0);
        b.eq(&[(x[2], 1.0)], 2.0);
        b.le(&[(x[0], 1.0)], 10.0);
        b.soc(&[
            (&[(x[0], -1.0)], 0.0),
            (&[(x[1], -1.0)], 0.0),
            (&[(x[2], -1.0)], 0.0),
        ]);
        b.build()
    }

    #[test]
    fn nesterov_todd_scaling_identities() {
        let mut ipm = TreeIpm::new(&small_soc(), IpmSettings::with_tolerance(1e-9)).unwrap();
        let s = [3.0, 2.0, 0.5, -1.0];
        let z = [0.7, 1.5, -0.3, 0.6];
        ipm.sc.update(&s, &z, false);
        let mut winv_s = vec![0.0; 4];
        ipm.sc.apply(&s, &mut winv_s, true);
        let mut w_z = vec![0.0; 4];
        ipm.sc.apply(&z, &mut w_z, false);
        for k in 0..4 {
            assert!(
                (winv_s[k] - ipm.sc.lambda[k]).abs() < 1e-12,
                "W⁻¹s {winv_s:?} vs λ {:?}",
                ipm.sc.lambda
            );
            assert!(
                (w_z[k] - ipm.sc.lambda[k]).abs() < 1e-12,
                "Wz {w_z:?} vs λ {:?}",
                ipm.sc.lambda
            );
        }
        let v = vec![0.3, -1.0, 2.0, 0.25];
        let (mut a, mut b) = (vec![0.0; 4], vec![0.0; 4]);
        ipm.sc.apply(&v, &mut a, false);
        ipm.sc.apply(&a, &mut b, true);
        for k in 0..4 {
            assert!((b[k] - v[k]).abs() < 1e-12);
        }
        let lambda = ipm.sc.lambda.clone();
        ipm.sc.product(&lambda, &v, &mut a);
        ipm.sc.divide(&a, &mut b);
        for k in 0..4 {
            assert!((b[k] - v[k]).abs() < 1e-12, "λ \\ (λ∘v) = v: {b:?}");
        }
    }

    #[test]
    fn fused_corrector_matches_its_parts() {
        let mut ipm = TreeIpm::new(&small_soc(), IpmSettings::with_tolerance(1e-9)).unwrap();
        ipm.sc
            .update(&[3.0, 2.0, 0.5, -1.0], &[0.7, 1.5, -0.3, 0.6], false);
        let (ds, dz, sigma_mu) = ([-0.4, 0.9, 0.2, -0.7], [0.1, -0.3, 0.8, 0.5], 0.37);
        let (mut a, mut b, mut t, mut fused) =
            (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
        ipm.sc
            .corrector_rhs(&ds, &dz, sigma_mu, (&mut a, &mut b, &mut t), &mut fused);
        // The unfused sequence: −λ∘λ − (W⁻¹ds)∘(W dz) + σμe, then λ \ ·.
        ipm.sc.apply(&ds, &mut a, true);
        ipm.sc.apply(&dz, &mut b, false);
        ipm.sc.product(&a, &b, &mut t);
        let lambda = ipm.sc.lambda.clone();
        ipm.sc.product(&lambda, &lambda, &mut a);
        for k in 0..4 {
            let centring = if k < ipm.sc.n_nn { sigma_mu } else { 0.0 };
            t[k] = -a[k] - t[k] + centring;
        }
        for &(head, _) in &ipm.sc.socs {
            t[head] += sigma_mu;
        }
        ipm.sc.divide(&t, &mut b);
        assert_eq!(fused, b, "bit for bit");
        // The step bound: a cap above the cone's own step changes nothing.
        let (s, z) = ([3.0, 2.0, 0.5, -1.0], [0.7, 1.5, -0.3, 0.6]);
        let free = ipm.sc.max_step(&s, &ds, &z, &dz, f64::INFINITY);
        assert!(free.is_finite() && free > 0.0);
        assert_eq!(ipm.sc.max_step(&s, &ds, &z, &dz, 2.0 * free), free);
        assert_eq!(ipm.sc.max_step(&s, &ds, &z, &dz, 0.5 * free), 0.5 * free);
    }

    #[test]
    fn solves_a_small_second_order_cone_program() {
        let mut ipm = TreeIpm::new(&small_soc(), IpmSettings::with_tolerance(1e-9)).unwrap();
        assert_eq!(ipm.solve(), IpmStatus::Solved);
        assert!((ipm.x()[0] - 5f64.sqrt()).abs() < 1e-7, "{:?}", ipm.x());
        assert!(!ipm.warm_started);
        // Again: a re-solve starts from the last solution, in fewer iterations.
        let cold_iterations = ipm.iterations;
        assert_eq!(ipm.solve(), IpmStatus::Solved);
        assert!(ipm.warm_started);
        assert!(
            ipm.iterations < cold_iterations,
            "{} vs {cold_iterations}",
            ipm.iterations
        );
        assert!((ipm.x()[0] - 5f64.sqrt()).abs() < 1e-7, "{:?}", ipm.x());
    }
}
