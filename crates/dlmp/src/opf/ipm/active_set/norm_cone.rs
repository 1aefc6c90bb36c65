//! The SOCP relaxation's cones in the active-set re-solve.
//!
//! A relaxation cone s = b − G x = (ℓ + t²w, 2P, 2Q, ℓ − t²w) ∈ K has
//! variables in every entry, the first included, and entries with several
//! variables. The line limits' form (‖s̄‖² − s₀²)/2s₀ would be indefinite
//! here (s₀ varies), so a tight cone is held as
//!
//! ```text
//!   φ(x) = ‖s̄‖ − s₀ = 0,   ∇φ = Gᵀ(1, −û),   ∇²φ = Ḡᵀ (I − ûûᵀ) Ḡ / ‖s̄‖,   û = s̄/‖s̄‖
//! ```
//!
//! (a norm minus a linear function: convex, its Hessian positive
//! semidefinite, so ν·∇²φ with ν ≥ 0 keeps the Newton system
//! quasi-definite). Its dual is z = ν·(1, −û), on the dual cone's boundary:
//! Gᵀz = ν∇φ is the stationarity term, and ν = z₀ is the cone's multiplier.
//! ‖s̄‖ ≥ |ℓ − t²w| ≈ 1 for the relaxation cones, far from the kink at 0
//! (a cone whose ‖s̄‖ is not fails the attempt: the interior point takes it).
//!
//! The gradient row touches every variable of the cone and the Hessian
//! block every pair of them (ℓ and w appear in two entries each): the
//! pattern holds a dense block over the cone's ≤ `MAX_VARS` variables.

use super::super::Rows;

/// Largest cone (entries) and number of distinct variables handled here
/// (the relaxation cones: 4 entries, ℓ, w, P, Q; larger cones are not
/// eligible). Small fixed sizes keep a cone's geometry on the stack.
const MAX_DIM: usize = 4;
const MAX_VARS: usize = 4;
/// ‖s̄‖ below this (relative to the cone's scale) is too close to the
/// kink of the norm for Newton: the attempt fails.
const MIN_NORM: f64 = 1e-8;

/// One cone held as ‖s̄‖ − s₀ ≤ 0: its variables and their slots in the
/// active-set system.
pub(super) struct NormCone {
    /// The cone's index (in `Scaling::socs`).
    pub(super) cone: usize,
    /// The cone's first row in G and its dimension.
    first: usize,
    dim: usize,
    /// Its distinct variables.
    vars: Vec<usize>,
    /// For each G entry of rows first..first + dim (in G's order): its row
    /// within the cone and the index of its variable in `vars`.
    entry: Vec<(usize, usize)>,
    /// Slot of ∇φ's entry of each variable (the multiplier's column).
    grad_slot: Vec<usize>,
    /// Slots of the Hessian block's upper triangle: (i, j), i ≤ j, row-major.
    hess_slot: Vec<usize>,
}

/// The cone's geometry at a point: û, ‖s̄‖ and φ (computed with the
/// residuals, read again by the factorisation at the same point; ∇φ only
/// there: most residuals are followed by a step on an older factor).
#[derive(Clone, Copy, Default)]
pub(super) struct Local {
    u_hat: [f64; MAX_DIM],
    norm: f64,
    pub(super) phi: f64,
}

impl NormCone {
    /// Whether the cone at rows first..first + dim fits this module's sizes.
    pub(super) fn fits(g: &Rows, first: usize, dim: usize) -> bool {
        if !(2..=MAX_DIM).contains(&dim) {
            return false;
        }
        let mut vars: Vec<usize> = g.col[g.ptr[first]..g.ptr[first + dim]].to_vec();
        vars.sort_unstable();
        vars.dedup();
        vars.len() <= MAX_VARS
    }

    /// The cone's pattern: appends its gradient entries (variable,
    /// `multiplier`) and its Hessian block's pairs to `entries`, in the
    /// order `take_slots` reads them back.
    pub(super) fn new(
        g: &Rows,
        cone: usize,
        first: usize,
        dim: usize,
        multiplier: usize,
        entries: &mut Vec<(usize, usize)>,
    ) -> NormCone {
        let mut vars: Vec<usize> = Vec::new();
        let mut entry = Vec::new();
        for k in 0..dim {
            for e in g.ptr[first + k]..g.ptr[first + k + 1] {
                let var = g.col[e];
                let idx = vars.iter().position(|&v| v == var).unwrap_or_else(|| {
                    vars.push(var);
                    vars.len() - 1
                });
                entry.push((k, idx));
            }
        }
        for &v in &vars {
            entries.push((v, multiplier));
        }
        for i in 0..vars.len() {
            for j in i..vars.len() {
                entries.push((vars[i], vars[j]));
            }
        }
        NormCone {
            cone,
            first,
            dim,
            vars,
            entry,
            grad_slot: Vec::new(),
            hess_slot: Vec::new(),
        }
    }

    /// Reads the slots of the entries `new` appended, from `slots[*t..]`.
    pub(super) fn take_slots(&mut self, slots: &[usize], t: &mut usize) {
        let m = self.vars.len();
        self.grad_slot = slots[*t..*t + m].to_vec();
        *t += m;
        let pairs = m * (m + 1) / 2;
        self.hess_slot = slots[*t..*t + pairs].to_vec();
        *t += pairs;
    }

    /// The cone's geometry at s = b − G x (`g_x` = G x) into `loc`; false
    /// where ‖s̄‖ is too small for the gradient to be defined well, or not finite.
    pub(super) fn local(&self, b: &[f64], g_x: &[f64], loc: &mut Local) -> bool {
        let (a, d) = (self.first, self.dim);
        let mut sq = 0.0;
        let mut scale = 1f64;
        for k in 1..d {
            let s = b[a + k] - g_x[a + k];
            loc.u_hat[k] = s;
            sq += s * s;
            scale = scale.max(b[a + k].abs());
        }
        let norm = sq.sqrt();
        if !norm.is_finite() || norm <= MIN_NORM * scale {
            return false;
        }
        let inv = 1.0 / norm;
        for u in &mut loc.u_hat[1..d] {
            *u *= inv;
        }
        loc.norm = norm;
        loc.phi = norm - (b[a] - g_x[a]);
        true
    }

    /// ∇φ = G₀ − Ḡᵀû over the cone's variables.
    fn gradient(&self, g: &Rows, loc: &Local) -> [f64; MAX_VARS] {
        let mut grad = [0.0; MAX_VARS];
        let entries = g.ptr[self.first]..g.ptr[self.first + self.dim];
        for (&(k, idx), &val) in self.entry.iter().zip(&g.val[entries]) {
            if k == 0 {
                grad[idx] += val;
            } else {
                grad[idx] -= val * loc.u_hat[k];
            }
        }
        grad
    }

    /// Adds the cone's gradient column and ν·∇²φ to the system's values.
    /// ν < 0 (a step on the way to the set's solution) adds no curvature:
    /// a negative one would break the quasi-definite structure.
    pub(super) fn fill(&self, g: &Rows, loc: &Local, nu: f64, kx: &mut [f64]) {
        let m = self.vars.len();
        let grad = self.gradient(g, loc);
        for (&slot, &gr) in self.grad_slot.iter().zip(&grad[..m]) {
            kx[slot] += gr;
        }
        if nu <= 0.0 {
            return;
        }
        // M = Ḡ over the cone's variables, ûᵀM, then (ν/‖s̄‖)(MᵀM − (ûᵀM)ᵀ(ûᵀM)).
        let mut gm = [[0.0; MAX_VARS]; MAX_DIM];
        let mut um = [0.0; MAX_VARS];
        let entries = g.ptr[self.first]..g.ptr[self.first + self.dim];
        for (&(k, idx), &val) in self.entry.iter().zip(&g.val[entries]) {
            if k > 0 {
                gm[k][idx] += val;
                um[idx] += loc.u_hat[k] * val;
            }
        }
        let scale = nu / loc.norm;
        let mut t = 0;
        for i in 0..m {
            for j in i..m {
                let mut h = -um[i] * um[j];
                for row in &gm[1..self.dim] {
                    h += row[i] * row[j];
                }
                kx[self.hess_slot[t]] += scale * h;
                t += 1;
            }
        }
    }

    /// The gradient as a sparse column over x (a cone entering the set on
    /// an older factor: its border column).
    pub(super) fn column(&self, g: &Rows, loc: &Local, out: &mut Vec<(usize, f64)>) {
        for (&v, &gr) in self.vars.iter().zip(&self.gradient(g, loc)) {
            out.push((v, gr));
        }
    }

    /// The cone's dual z = ν·(1, −û) into its rows of `z` (the cone rows).
    pub(super) fn dual(&self, loc: &Local, nu: f64, z: &mut [f64]) {
        z[self.first] = nu;
        for k in 1..self.dim {
            z[self.first + k] = -nu * loc.u_hat[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A relaxation cone s = b − G x = (ℓ + t²w, 2P, 2Q, ℓ − t²w) over
    /// x = (ℓ, w, P, Q), as `opf::assemble` writes it (t² = 1.1).
    fn relaxation_rows() -> Rows {
        let t2 = 1.1;
        Rows {
            ptr: vec![0, 2, 3, 4, 6],
            col: vec![0, 1, 2, 3, 0, 1],
            val: vec![-1.0, -t2, -2.0, -2.0, -1.0, t2],
            src: vec![0; 6],
            n_cols: 4,
        }
    }

    fn g_times(g: &Rows, x: &[f64]) -> Vec<f64> {
        (0..4)
            .map(|r| {
                (g.ptr[r]..g.ptr[r + 1])
                    .map(|e| g.val[e] * x[g.col[e]])
                    .sum()
            })
            .collect()
    }

    /// φ = ‖s̄‖ − s₀ at x, straight from its definition.
    fn phi(g: &Rows, x: &[f64]) -> f64 {
        let s: Vec<f64> = g_times(g, x).iter().map(|v| -v).collect();
        (s[1] * s[1] + s[2] * s[2] + s[3] * s[3]).sqrt() - s[0]
    }

    /// The cone with the variables' slots 0..4 and the Hessian's after them.
    fn cone(g: &Rows) -> NormCone {
        let mut entries = Vec::new();
        let mut cone = NormCone::new(g, 0, 0, 4, 99, &mut entries);
        let slots: Vec<usize> = (0..entries.len()).collect();
        let mut t = 0;
        cone.take_slots(&slots, &mut t);
        assert_eq!(t, 4 + 10);
        cone
    }

    /// ∇φ and ν·∇²φ against central differences of φ's definition, and the
    /// dual ν·(1, −û) on the dual cone's boundary.
    #[test]
    fn gradient_and_curvature_match_finite_differences() {
        let g = relaxation_rows();
        let cone = cone(&g);
        assert_eq!(cone.vars, vec![0, 1, 2, 3]);
        let x = [0.013, 0.97, 0.08, 0.05];
        let b = [0.0; 4];
        let local_at = |x: &[f64]| {
            let mut loc = Local::default();
            assert!(cone.local(&b, &g_times(&g, x), &mut loc));
            loc
        };
        let loc = local_at(&x);
        assert!((loc.phi - phi(&g, &x)).abs() < 1e-15);
        let nu = 2.5;
        let mut kx = vec![0.0; 14];
        cone.fill(&g, &loc, nu, &mut kx);
        let h = 1e-6;
        let shifted = |i: usize, by: f64| {
            let mut y = x;
            y[i] += by;
            y
        };
        for i in 0..4 {
            let fd = (phi(&g, &shifted(i, h)) - phi(&g, &shifted(i, -h))) / (2.0 * h);
            assert!((kx[i] - fd).abs() < 1e-8, "∂φ/∂x{i}: {} vs {fd}", kx[i]);
        }
        // Row-major upper triangle after the gradient's 4 slots.
        let mut t = 4;
        for i in 0..4 {
            for j in i..4 {
                let grad_j = |y: &[f64]| cone.gradient(&g, &local_at(y))[j];
                let fd = nu * (grad_j(&shifted(i, h)) - grad_j(&shifted(i, -h))) / (2.0 * h);
                assert!(
                    (kx[t] - fd).abs() < 1e-6,
                    "ν∂²φ/∂x{i}∂x{j}: {} vs {fd}",
                    kx[t]
                );
                t += 1;
            }
        }
        // No curvature for a negative multiplier (only the gradient column).
        let mut kx_neg = vec![0.0; 14];
        cone.fill(&g, &loc, -1.0, &mut kx_neg);
        assert!(kx_neg[4..].iter().all(|&v| v == 0.0));
        assert_eq!(&kx_neg[..4], &kx[..4]);
        // z = ν·(1, −û): z₀ = ‖z̄‖ (the dual cone's boundary), zᵀs = ν·φ.
        let mut z = [0.0; 4];
        cone.dual(&loc, nu, &mut z);
        let z_bar = (z[1] * z[1] + z[2] * z[2] + z[3] * z[3]).sqrt();
        assert!((z[0] - nu).abs() < 1e-15 && (z_bar - nu).abs() < 1e-12);
        let s: Vec<f64> = g_times(&g, &x).iter().map(|v| -v).collect();
        let zs: f64 = z.iter().zip(&s).map(|(a, b)| a * b).sum();
        assert!(
            (zs + nu * loc.phi).abs() < 1e-12,
            "zᵀs {zs} vs −νφ {}",
            -nu * loc.phi
        );
    }

    /// Too close to the norm's kink (s̄ = 0), the geometry is refused.
    #[test]
    fn a_cone_at_the_kink_is_refused() {
        let g = relaxation_rows();
        let cone = cone(&g);
        // ℓ = t²w and P = Q = 0: s̄ = 0.
        let x = [1.1, 1.0, 0.0, 0.0];
        let mut loc = Local::default();
        assert!(!cone.local(&[0.0; 4], &g_times(&g, &x), &mut loc));
    }
}
