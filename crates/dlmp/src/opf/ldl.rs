//! A sparse LDLᵀ factorisation for the quasi-definite KKT systems of the
//! interior point ([`super::ipm`]), with the symbolic analysis done once.
//!
//! * **Ordering**: minimum degree on the graph of the matrix, computed once
//!   per sparsity pattern. On the branch-flow KKT systems (a tree of small
//!   per-bus blocks) it eliminates the feeder from the leaves to the root, so
//!   the factor has almost no fill and a factorisation costs O(buses).
//! * **Factorisation**: right-looking in place, column by column, every
//!   update's target in the factor found once at analysis (`RightLooking`;
//!   up-looking along the elimination tree, the QDLDL scheme, where columns
//!   are too long for that), no pivoting: the matrix is quasi-definite
//!   (positive block for the primal variables, negative for the equality
//!   duals) and a pivot with the wrong sign or too small is replaced by ±δ
//!   (dynamic regularisation), as interior-point codes do.
//! * **Bordered solves** (the active set's changes of its set on an older
//!   factor): [`Ldl::forward_sparse`] (L⁻¹ of a sparse vector, touching
//!   only its paths to the root of the elimination tree) and
//!   [`Ldl::solve_with`] (a correction between the forward and the backward pass).
//! * All buffers are allocated by [`Ldl::new`]; factorising and solving
//!   allocate nothing (the sparse forward pass's list grows to its largest reach once).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

const NONE: usize = usize::MAX;

/// Elimination order by minimum degree (exact elimination graph; fine for the
/// small fill of tree-structured matrices). `adj[i]` lists the neighbours of
/// node i (no self loops, any order, duplicates allowed). Returns
/// `perm[k]` = the node eliminated k-th.
pub fn minimum_degree(adj: &[Vec<usize>]) -> Vec<usize> {
    let n = adj.len();
    let mut graph: Vec<Vec<usize>> = adj
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut a: Vec<usize> = a.iter().copied().filter(|&j| j != i).collect();
            a.sort_unstable();
            a.dedup();
            a
        })
        .collect();
    let mut done = vec![false; n];
    let mut heap: BinaryHeap<Reverse<(usize, usize)>> =
        (0..n).map(|i| Reverse((graph[i].len(), i))).collect();
    let mut perm = Vec::with_capacity(n);
    let mut merged = Vec::new();
    while let Some(Reverse((degree, v))) = heap.pop() {
        if done[v] || graph[v].len() != degree {
            continue; // a stale entry
        }
        done[v] = true;
        perm.push(v);
        let neighbours = std::mem::take(&mut graph[v]);
        // Eliminating v joins its neighbours into a clique.
        for &u in &neighbours {
            merged.clear();
            let (a, b) = (&graph[u], &neighbours);
            let (mut i, mut j) = (0, 0);
            while i < a.len() || j < b.len() {
                let next = match (a.get(i), b.get(j)) {
                    (Some(&x), Some(&y)) if x == y => {
                        i += 1;
                        j += 1;
                        x
                    }
                    (Some(&x), Some(&y)) if x < y => {
                        i += 1;
                        x
                    }
                    (Some(&x), None) => {
                        i += 1;
                        x
                    }
                    (_, Some(&y)) => {
                        j += 1;
                        y
                    }
                    (None, None) => unreachable!("loop condition"),
                };
                if next != u && next != v {
                    merged.push(next);
                }
            }
            std::mem::swap(&mut graph[u], &mut merged);
            heap.push(Reverse((graph[u].len(), u)));
        }
    }
    perm
}

fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (k, &p) in perm.iter().enumerate() {
        inv[p] = k;
    }
    inv
}

/// The upper triangle of Π·K·Πᵀ (diagonal included) by column: (colptr, rows).
fn upper_pattern(
    n: usize,
    entries: &[(usize, usize)],
    iperm: &[usize],
) -> (Vec<usize>, Vec<usize>) {
    let mut coords: Vec<(usize, usize)> = entries
        .iter()
        .map(|&(i, j)| {
            let (a, b) = (iperm[i], iperm[j]);
            (a.min(b), a.max(b))
        })
        .chain((0..n).map(|k| (k, k)))
        .collect();
    coords.sort_unstable_by_key(|&(r, c)| (c, r));
    coords.dedup();
    let mut kp = vec![0; n + 1];
    let mut ki = Vec::with_capacity(coords.len());
    for &(r, c) in &coords {
        kp[c + 1] += 1;
        ki.push(r);
    }
    for c in 0..n {
        kp[c + 1] += kp[c];
    }
    (kp, ki)
}

/// Elimination tree (parent per node, NONE at roots) and column counts of L.
fn elimination_tree(n: usize, kp: &[usize], ki: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut etree = vec![NONE; n];
    let mut lnz = vec![0usize; n];
    let mut flag = vec![NONE; n];
    for j in 0..n {
        flag[j] = j;
        for &r in &ki[kp[j]..kp[j + 1]] {
            let mut i = r;
            while flag[i] != j {
                if etree[i] == NONE {
                    etree[i] = j;
                }
                lnz[i] += 1;
                flag[i] = j;
                i = etree[i];
            }
        }
    }
    (etree, lnz)
}

/// A postorder of a forest given by parents: post[k] = the k-th node.
fn postorder(parent: &[usize]) -> Vec<usize> {
    let n = parent.len();
    let mut head = vec![NONE; n];
    let mut next = vec![NONE; n];
    // Children lists, in increasing order.
    for j in (0..n).rev() {
        if parent[j] != NONE {
            next[j] = head[parent[j]];
            head[parent[j]] = j;
        }
    }
    let mut post = Vec::with_capacity(n);
    let mut stack = Vec::new();
    for root in (0..n).filter(|&j| parent[j] == NONE) {
        stack.push(root);
        while let Some(&top) = stack.last() {
            let child = head[top];
            if child == NONE {
                post.push(top);
                stack.pop();
            } else {
                head[top] = next[child];
                stack.push(child);
            }
        }
    }
    post
}

/// A symmetric matrix's factorisation L·D·Lᵀ = Π·K·Πᵀ with a fixed pattern.
///
/// Index arrays are `u32` (half the memory traffic of `usize`: factor and
/// solves are bound by loads, not arithmetic; a KKT system of 4·10⁹
/// unknowns is far beyond these feeders, and `new` checks the bound).
#[derive(Debug, Clone)]
pub struct Ldl {
    n: usize,
    /// perm[k] = original index of the k-th pivot; iperm its inverse.
    perm: Vec<usize>,
    iperm: Vec<usize>,
    /// `perm` as u32, for the solves' gather and scatter.
    perm32: Vec<u32>,
    /// Upper triangle of Π·K·Πᵀ, compressed by column; each column's last
    /// entry is its diagonal (rows sorted).
    kp: Vec<usize>,
    ki: Vec<u32>,
    /// The values of K, filled by the caller through the slots of
    /// [`Ldl::new`] (see [`Ldl::values_mut`]): in the up-looking layout,
    /// K's upper triangle as `kp`/`ki`; in the right-looking one, the
    /// factor's own layout, overwritten by [`Ldl::factor`].
    kx: Vec<f64>,
    lp: Vec<usize>,
    li: Vec<u32>,
    lx: Vec<f64>,
    d: Vec<f64>,
    dinv: Vec<f64>,
    /// Expected sign of each pivot (+1 primal, −1 dual), in elimination order.
    pivot_sign: Vec<f64>,
    y_vals: Vec<f64>,
    /// The pattern of each row k of L, in elimination order: the column c
    /// and where L_kc is stored (`row_entries[row_ptr[k]..row_ptr[k + 1]]`).
    row_ptr: Vec<usize>,
    row_entries: Vec<(u32, u32)>,
    /// The right-looking factorisation's precomputed updates (None: the
    /// up-looking one above, for patterns whose columns are too long):
    /// see [`RightLooking`].
    right: Option<RightLooking>,
    work: Vec<f64>,
    /// Parent of each column in the elimination tree (`NONE`: a root), and
    /// the marks and values of [`Ldl::forward_sparse`] (all false / zero between calls).
    etree: Vec<usize>,
    reach_mark: Vec<bool>,
    sparse_x: Vec<f64>,
    reach: Vec<usize>,
}

/// Column-by-column (right-looking) elimination in place, with every
/// update's target found once, at analysis: eliminating column c subtracts
/// L_ac·L_bc·d_c from entry (b, a) of the rest for every pair a ≤ b of its
/// rows, and that entry's place in the factor never changes. On the tree
/// KKT systems (columns of ≤ 6 entries) this is a flat loop of
/// multiply-subtracts where the up-looking scheme walks the elimination tree
/// per row. `kx` then holds [pivots (n); L's entries in `li`'s layout], K
/// is written straight into that layout (the entries of L's fill start at
/// zero) and the factor overwrites it.
#[derive(Debug, Clone)]
struct RightLooking {
    /// Where each entry of K (`kp`/`ki`'s layout) is in `kx`.
    k_target: Vec<u32>,
    /// The targets in `kx` of every column's pairs (a ≤ b, row-major),
    /// column after column; each is < n + nnz(L) (checked by `analyse`).
    pairs: Vec<u32>,
}

/// Above this many updates per stored entry (long columns) the pair
/// targets would cost more memory than they save: up-looking instead.
const MAX_PAIRS_PER_ENTRY: usize = 16;

impl Ldl {
    /// Pattern of K: `entries` (i, j) in original indices (either triangle;
    /// the diagonal is always included). Returns the factorisation and, for
    /// each entry, its slot in [`Ldl::kx`] (entries at the same place share a slot);
    /// `diag_slot[i]` is the slot of K_ii.
    pub fn new(
        n: usize,
        entries: &[(usize, usize)],
        sign: Vec<f64>,
    ) -> (Ldl, Vec<usize>, Vec<usize>) {
        assert!(
            n < u32::MAX as usize && entries.len() < u32::MAX as usize / 2,
            "KKT system of {n} unknowns exceeds the factorisation's 32-bit indices"
        );
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(i, j) in entries {
            if i != j {
                adj[i].push(j);
                adj[j].push(i);
            }
        }
        // Minimum degree, then the elimination tree's postorder (the same
        // fill, each subtree's pivots contiguous in memory).
        let first = minimum_degree(&adj);
        let (kp0, ki0) = upper_pattern(n, entries, &inverse(&first));
        let (etree0, _) = elimination_tree(n, &kp0, &ki0);
        let perm: Vec<usize> = postorder(&etree0).into_iter().map(|k| first[k]).collect();
        let iperm = inverse(&perm);
        let (kp, ki) = upper_pattern(n, entries, &iperm);
        let slot_of = |i: usize, j: usize| {
            let (a, b) = (iperm[i], iperm[j]);
            let (r, c) = (a.min(b), a.max(b));
            let col = &ki[kp[c]..kp[c + 1]];
            kp[c] + col.binary_search(&r).expect("entry is in the pattern")
        };
        let slots: Vec<usize> = entries.iter().map(|&(i, j)| slot_of(i, j)).collect();
        let diag_slot: Vec<usize> = (0..n).map(|i| slot_of(i, i)).collect();
        let (etree, lnz) = elimination_tree(n, &kp, &ki);
        let mut lp = vec![0; n + 1];
        for i in 0..n {
            lp[i + 1] = lp[i] + lnz[i];
        }
        let nnz_l = lp[n];
        let nnz_k = ki.len();
        // Symbolic factorisation: each row's pattern by walking the
        // elimination tree (QDLDL's scheme), done once; L's row indices are fixed.
        let mut li = vec![0; nnz_l];
        let mut next_in_col: Vec<usize> = lp[..n].to_vec();
        let mut marker = vec![false; n];
        let mut elim = vec![0; n];
        let mut y_idx = vec![0; n];
        let mut row_ptr = Vec::with_capacity(n + 1);
        let mut row_entries: Vec<(u32, u32)> = Vec::with_capacity(nnz_l);
        row_ptr.push(0);
        for k in 0..n {
            let mut n_y = 0;
            for &b in &ki[kp[k]..kp[k + 1]] {
                if b == k || marker[b] {
                    continue;
                }
                marker[b] = true;
                elim[0] = b;
                let mut n_e = 1;
                let mut next = etree[b];
                while next != NONE && next < k && !marker[next] {
                    marker[next] = true;
                    elim[n_e] = next;
                    n_e += 1;
                    next = etree[next];
                }
                while n_e > 0 {
                    n_e -= 1;
                    y_idx[n_y] = elim[n_e];
                    n_y += 1;
                }
            }
            for t in (0..n_y).rev() {
                let c = y_idx[t];
                let pos = next_in_col[c];
                li[pos] = k;
                next_in_col[c] += 1;
                marker[c] = false;
                row_entries.push((c as u32, pos as u32));
            }
            row_ptr.push(row_entries.len());
        }
        let right = RightLooking::analyse(n, &lp, &li, &kp, &ki);
        // Right-looking: the callers' slots point into the factor's layout.
        let (slots, diag_slot, n_values) = match &right {
            Some(rl) => {
                let to_factor = |k: usize| rl.k_target[k] as usize;
                (
                    slots.into_iter().map(to_factor).collect(),
                    diag_slot.into_iter().map(to_factor).collect(),
                    n + nnz_l,
                )
            }
            None => (slots, diag_slot, nnz_k),
        };
        let lx_len = if right.is_some() { 0 } else { nnz_l };
        let pivot_sign = perm.iter().map(|&p| sign[p]).collect();
        let perm32 = perm.iter().map(|&p| p as u32).collect();
        let ldl = Ldl {
            n,
            perm,
            iperm,
            perm32,
            kp,
            ki: ki.iter().map(|&r| r as u32).collect(),
            kx: vec![0.0; n_values],
            lp,
            li: li.iter().map(|&r| r as u32).collect(),
            lx: vec![0.0; lx_len],
            d: vec![0.0; n],
            dinv: vec![0.0; n],
            pivot_sign,
            y_vals: vec![0.0; n],
            row_ptr,
            row_entries,
            right,
            work: vec![0.0; n],
            etree,
            reach_mark: vec![false; n],
            sparse_x: vec![0.0; n],
            reach: Vec::new(),
        };
        (ldl, slots, diag_slot)
    }

    /// K's values, to be filled through the slots of [`Ldl::new`] before
    /// each [`Ldl::factor`] (which may overwrite them).
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.kx
    }

    /// How many values [`Ldl::values_mut`] holds.
    pub fn n_values(&self) -> usize {
        self.kx.len()
    }

    pub fn dim(&self) -> usize {
        self.n
    }

    /// Non-zeros of L (below the diagonal).
    pub fn nnz_l(&self) -> usize {
        self.lp[self.n]
    }

    /// Factorises the current values. A pivot whose sign is not the expected
    /// one or whose size is below `eps` becomes sign·`delta`. Returns how many
    /// pivots were regularised, or None if the factor is not finite.
    pub fn factor(&mut self, eps: f64, delta: f64) -> Option<usize> {
        if self.right.is_some() {
            return self.factor_right_looking(eps, delta);
        }
        let n = self.n;
        let mut regularised = 0;
        let (kp, ki, kx) = (&self.kp, &self.ki, &self.kx);
        let (lp, li, lx) = (&self.lp, &self.li, &mut self.lx);
        let (y, dinv) = (&mut self.y_vals, &mut self.dinv);
        for k in 0..n {
            // Column k of the upper triangle: its last entry is the diagonal.
            let (lo_k, diag) = (kp[k], kp[k + 1] - 1);
            let mut dk = kx[diag];
            for (&b, &v) in ki[lo_k..diag].iter().zip(&kx[lo_k..diag]) {
                y[b as usize] = v;
            }
            for &(c, pos) in &self.row_entries[self.row_ptr[k]..self.row_ptr[k + 1]] {
                let (c, pos) = (c as usize, pos as usize);
                let yc = y[c];
                y[c] = 0.0;
                let lo = lp[c];
                for (&i, &l) in li[lo..pos].iter().zip(&lx[lo..pos]) {
                    y[i as usize] -= l * yc;
                }
                let l = yc * dinv[c];
                lx[pos] = l;
                dk -= yc * l;
            }
            let s = self.pivot_sign[k];
            if !dk.is_finite() {
                return None;
            }
            if dk * s <= eps {
                dk = s * delta;
                regularised += 1;
            }
            self.d[k] = dk;
            dinv[k] = 1.0 / dk;
        }
        Some(regularised)
    }

    /// [`Ldl::factor`] by columns with the precomputed update targets, in place.
    fn factor_right_looking(&mut self, eps: f64, delta: f64) -> Option<usize> {
        let n = self.n;
        let pairs = &self.right.as_ref()?.pairs;
        let vals = &mut self.kx[..];
        let lp = &self.lp[..=n];
        // The invariants the unchecked accesses below rely on.
        assert!(vals.len() == n + lp[n] && self.dinv.len() == n && self.pivot_sign.len() == n);
        let mut regularised = 0;
        let mut t = 0;
        let columns = (self.pivot_sign.iter().zip(self.dinv.iter_mut())).zip(lp.windows(2));
        for (c, ((&s, dinv_c), col)) in columns.enumerate() {
            // SAFETY: c < n ≤ vals.len() (asserted above; the zip stops at n).
            let mut dc = unsafe { *vals.get_unchecked(c) };
            if !dc.is_finite() {
                return None;
            }
            if dc * s <= eps {
                dc = s * delta;
                regularised += 1;
            }
            // SAFETY: as for the read above.
            unsafe { *vals.get_unchecked_mut(c) = dc };
            let dinv = 1.0 / dc;
            *dinv_c = dinv;
            let (lo, hi) = (n + col[0], n + col[1]);
            for a in lo..hi {
                // vals[a] holds L_ac·d_c until it is scaled here; the pairs
                // (a, b ≥ a) read the unscaled values of b.
                // SAFETY: a < hi ≤ n + lp[n] = vals.len() (asserted above;
                // lp is non-decreasing by construction).
                let l_a = unsafe { *vals.get_unchecked(a) } * dinv;
                for b in a..hi {
                    // SAFETY: `analyse` stored exactly one target per pair
                    // (a ≤ b) of every column, in this order, so t <
                    // pairs.len(); every target is < n + nnz(L) = vals.len()
                    // (checked there), and b < hi ≤ n + lp[n] = vals.len()
                    // (asserted above; lp is non-decreasing by construction).
                    unsafe {
                        let target = *pairs.get_unchecked(t) as usize;
                        let update = l_a * *vals.get_unchecked(b);
                        *vals.get_unchecked_mut(target) -= update;
                    }
                    t += 1;
                }
                // SAFETY: as for the read of vals[a] above.
                unsafe { *vals.get_unchecked_mut(a) = l_a };
            }
        }
        Some(regularised)
    }

    /// Solves K·x = b in place (b in original order).
    pub fn solve(&mut self, b: &mut [f64]) {
        self.solve_with(b, |_, _| {});
    }

    /// Solves K·x = b in place, calling `between(f, dinv)` between the
    /// forward and the backward pass with f = L⁻¹·Π·b (elimination order)
    /// and D⁻¹: a bordered solve corrects f there (see `ipm/active_set.rs`).
    pub fn solve_with(&mut self, b: &mut [f64], between: impl FnOnce(&mut [f64], &[f64])) {
        let n = self.n;
        let lx = if self.right.is_some() {
            &self.kx[n..]
        } else {
            &self.lx[..]
        };
        let (lp, li) = (&self.lp[..=n], &self.li[..]);
        let dinv = &self.dinv[..n];
        let x = &mut self.work[..n];
        let perm = &self.perm32[..n];
        let rows = &self.row_entries[..];
        // The invariants the unchecked accesses below rely on: column c's
        // entries are [lp[c], lp[c + 1]) with lp non-decreasing up to
        // lp[n] = nnz(L) = li.len() = lx.len(); row k's are
        // row_entries[row_ptr[k]..row_ptr[k + 1]], each (column < k, its
        // position < nnz(L)); every row index is < n (all by construction
        // in `new`).
        assert!(li.len() == lp[n] && lx.len() == lp[n] && rows.len() == lp[n]);
        assert!(self.row_ptr.len() == n + 1 && self.row_ptr[n] == rows.len());
        // perm is a permutation of 0..n (by construction in `new`): with b cut
        // to n, every b[perm[k]] is in bounds.
        let b = &mut b[..n];
        // Forward by rows, gathering b in the same pass: x_k = b_π(k) − Σ L_kc x_c.
        let mut e = 0;
        for (k, (&p, &hi)) in perm.iter().zip(&self.row_ptr[1..]).enumerate() {
            // SAFETY: p = perm[k] < n = b.len() (above).
            let mut xk = unsafe { *b.get_unchecked(p as usize) };
            while e < hi {
                // SAFETY: e < hi ≤ row_ptr[n] = rows.len(); the entry's
                // column c < k < n = x.len() and position < lp[n] = lx.len().
                unsafe {
                    let (c, pos) = *rows.get_unchecked(e);
                    xk -= *lx.get_unchecked(pos as usize) * *x.get_unchecked(c as usize);
                }
                e += 1;
            }
            // SAFETY: k < perm.len() = n = x.len().
            unsafe { *x.get_unchecked_mut(k) = xk };
        }
        between(x, dinv);
        // Backward by columns with D⁻¹ applied, scattering into b as each
        // unknown is final. Columns are contiguous: one running entry index.
        let mut e = lp[n];
        for c in (0..n).rev() {
            let lo = lp[c];
            let mut xc = x[c] * dinv[c];
            // SAFETY (all below): lo ≤ every index read < e = lp[c + 1] ≤
            // lp[n] = li.len() = lx.len(), and li[·] < n = x.len().
            let term = |e: usize| unsafe {
                *lx.get_unchecked(e) * *x.get_unchecked(*li.get_unchecked(e) as usize)
            };
            // The tree KKT systems' columns hold ≤ 6 entries: written out
            // per length, in the loop's order (the same result), they skip
            // the unrolled loop's set-up, which costs more than such a
            // column's arithmetic.
            match e - lo {
                0 => {}
                1 => xc -= term(lo),
                2 => {
                    xc -= term(lo + 1);
                    xc -= term(lo);
                }
                3 => {
                    xc -= term(lo + 2);
                    xc -= term(lo + 1);
                    xc -= term(lo);
                }
                4 => {
                    xc -= term(lo + 3);
                    xc -= term(lo + 2);
                    xc -= term(lo + 1);
                    xc -= term(lo);
                }
                5 => {
                    xc -= term(lo + 4);
                    xc -= term(lo + 3);
                    xc -= term(lo + 2);
                    xc -= term(lo + 1);
                    xc -= term(lo);
                }
                6 => {
                    xc -= term(lo + 5);
                    xc -= term(lo + 4);
                    xc -= term(lo + 3);
                    xc -= term(lo + 2);
                    xc -= term(lo + 1);
                    xc -= term(lo);
                }
                _ => {
                    while e > lo {
                        e -= 1;
                        xc -= term(e);
                    }
                }
            }
            e = lo;
            x[c] = xc;
            // SAFETY: perm[c] < n = b.len() (above).
            unsafe { *b.get_unchecked_mut(perm[c] as usize) = xc };
        }
    }

    /// y = K·x with the stored values (for iterative refinement), original order.
    /// Only before [`Ldl::factor`] in the right-looking layout (the factor overwrites K).
    pub fn multiply(&self, x: &[f64], y: &mut [f64]) {
        y.fill(0.0);
        let value = |p: usize| match &self.right {
            Some(rl) => self.kx[rl.k_target[p] as usize],
            None => self.kx[p],
        };
        for c in 0..self.n {
            let oc = self.perm[c];
            for p in self.kp[c]..self.kp[c + 1] {
                let r = self.ki[p] as usize;
                let or = self.perm[r];
                let v = value(p);
                y[or] += v * x[oc];
                if r != c {
                    y[oc] += v * x[or];
                }
            }
        }
    }

    /// (largest column of L, Σ column², the factorisation's multiply-adds).
    pub fn column_stats(&self) -> (usize, usize) {
        let counts = (0..self.n).map(|c| self.lp[c + 1] - self.lp[c]);
        counts.fold((0, 0), |(m, s), c| (m.max(c), s + c * c))
    }

    /// D⁻¹ of the last factorisation, in elimination order.
    pub fn dinv(&self) -> &[f64] {
        &self.dinv
    }

    /// Position of original index i in the elimination order (for tests).
    pub fn position(&self, i: usize) -> usize {
        self.iperm[i]
    }

    /// v = L⁻¹·Π·u for a sparse u ((original index, value) pairs; an index
    /// may repeat): v's entries (position in elimination order, value),
    /// ascending, into `out`. Only the columns on u's paths to the root of
    /// the elimination tree are touched: on the feeder's tree-shaped factor
    /// a few hundred of its thousands.
    pub fn forward_sparse(&mut self, u: &[(usize, f64)], out: &mut Vec<(u32, f64)>) {
        out.clear();
        // The reach: every ancestor of u's positions, marked once.
        let mut reach = std::mem::take(&mut self.reach);
        reach.clear();
        for &(i, _) in u {
            let mut c = self.iperm[i];
            while c != NONE && !self.reach_mark[c] {
                self.reach_mark[c] = true;
                reach.push(c);
                c = self.etree[c];
            }
        }
        reach.sort_unstable();
        for &(i, v) in u {
            self.sparse_x[self.iperm[i]] += v;
        }
        let lx = if self.right.is_some() {
            &self.kx[self.n..]
        } else {
            &self.lx[..]
        };
        // Column c's rows are c's ancestors, so all in the reach.
        for &c in &reach {
            let xc = self.sparse_x[c];
            self.sparse_x[c] = 0.0;
            self.reach_mark[c] = false;
            if xc != 0.0 {
                for e in self.lp[c]..self.lp[c + 1] {
                    self.sparse_x[self.li[e] as usize] -= lx[e] * xc;
                }
                out.push((c as u32, xc));
            }
        }
        self.reach = reach;
    }
}

impl RightLooking {
    /// The update targets of the factor with columns `lp`/`li` (rows sorted
    /// ascending, in elimination order) of the matrix `kp`/`ki` (upper
    /// triangle by column, diagonal last); None if the columns are too long.
    fn analyse(
        n: usize,
        lp: &[usize],
        li: &[usize],
        kp: &[usize],
        ki: &[usize],
    ) -> Option<RightLooking> {
        let nnz_l = lp[n];
        let count = |c: usize| {
            let k = lp[c + 1] - lp[c];
            k * (k + 1) / 2
        };
        let n_pairs: usize = (0..n).map(count).sum();
        let stored = n + nnz_l;
        if n_pairs > MAX_PAIRS_PER_ENTRY * stored.max(1) || stored >= u32::MAX as usize {
            return None;
        }
        // Entry (row r, column c) of L, r > c, is at n + its index; r == c is the pivot r.
        let place = |r: usize, c: usize| -> Option<u32> {
            if r == c {
                return Some(r as u32);
            }
            let col = &li[lp[c]..lp[c + 1]];
            let at = col.binary_search(&r).ok()?;
            Some((n + lp[c] + at) as u32)
        };
        let mut k_target = Vec::with_capacity(ki.len());
        for c in 0..n {
            for &r in &ki[kp[c]..kp[c + 1]] {
                // K's (r, c), r ≤ c, is L's (c, r).
                k_target.push(place(c, r)?);
            }
        }
        let mut pairs = Vec::with_capacity(n_pairs);
        for c in 0..n {
            let rows = &li[lp[c]..lp[c + 1]];
            for (a, &ra) in rows.iter().enumerate() {
                for &rb in &rows[a..] {
                    // The symbolic factorisation closed the pattern under these updates.
                    pairs.push(place(rb, ra)?);
                }
            }
        }
        Some(RightLooking { k_target, pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_quasi_definite_system() {
        // K = [[4, 1, 1], [1, 3, 0], [1, 0, -2]]: two primal, one dual.
        let entries = [(0, 0), (1, 1), (2, 2), (0, 1), (2, 0)];
        let values = [4.0, 3.0, -2.0, 1.0, 1.0];
        let (mut ldl, slots, _) = Ldl::new(3, &entries, vec![1.0, 1.0, -1.0]);
        for (s, v) in slots.iter().zip(values) {
            ldl.values_mut()[*s] += v;
        }
        let x_true = [1.0, -2.0, 0.5];
        let mut b = vec![0.0; 3];
        ldl.multiply(&x_true, &mut b);
        assert_eq!(ldl.factor(1e-13, 1e-7), Some(0));
        assert_eq!(b, vec![4.0 - 2.0 + 0.5, 1.0 - 6.0, 1.0 - 1.0]);
        ldl.solve(&mut b);
        for (a, e) in b.iter().zip(x_true) {
            assert!((a - e).abs() < 1e-14, "{a} vs {e}");
        }
    }

    /// The bordered solve the active set uses: [K u; uᵀ d]·(x, w) = (b, β)
    /// through K's factor, `forward_sparse` (v = L⁻¹·Π·u) and `solve_with`
    /// (w = (β − vᵀD⁻¹f)/(d − vᵀD⁻¹v), then the backward pass on f − v·w),
    /// against a solution fixed in advance; and v against the dense forward pass.
    #[test]
    fn a_bordered_solve_through_the_factor() {
        // A path (tree) of 12 unknowns, every third one a dual.
        let n = 12;
        let mut entries: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
        entries.extend((1..n).map(|i| (i - 1, i)));
        let sign: Vec<f64> = (0..n)
            .map(|i| if i % 3 == 2 { -1.0 } else { 1.0 })
            .collect();
        let value = |i: usize, j: usize| {
            if i == j {
                sign[i] * (3.0 + i as f64 * 0.25)
            } else {
                0.5 + 0.1 * j as f64
            }
        };
        let (mut ldl, slots, _) = Ldl::new(n, &entries, sign.clone());
        for (&slot, &(i, j)) in slots.iter().zip(&entries) {
            ldl.values_mut()[slot] += value(i, j);
        }
        let mut k_dense = vec![vec![0.0; n]; n];
        for &(i, j) in &entries {
            k_dense[i][j] = value(i, j);
            k_dense[j][i] = value(i, j);
        }
        assert_eq!(ldl.factor(1e-13, 1e-7), Some(0));
        let u = [(3, 1.5), (9, -0.75), (3, 0.5)]; // index 3 twice: they add
        let u_dense: Vec<f64> = (0..n)
            .map(|i| u.iter().filter(|e| e.0 == i).map(|e| e.1).sum())
            .collect();
        let d = -0.4;
        let (x_true, w_true): (Vec<f64>, f64) =
            ((0..n).map(|i| 1.0 - 0.3 * i as f64).collect(), 2.5);
        let mut b: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| k_dense[i][j] * x_true[j]).sum::<f64>() + u_dense[i] * w_true)
            .collect();
        let beta = (0..n).map(|i| u_dense[i] * x_true[i]).sum::<f64>() + d * w_true;
        let mut v = Vec::new();
        ldl.forward_sparse(&u, &mut v);
        // v is L⁻¹·Π·u: the forward pass on u itself.
        let mut u_copy = u_dense.clone();
        let mut f_dense = Vec::new();
        ldl.solve_with(&mut u_copy, |f, _| f_dense = f.to_vec());
        let mut v_dense = vec![0.0; n];
        for &(p, val) in &v {
            v_dense[p as usize] = val;
        }
        for (a, e) in v_dense.iter().zip(&f_dense) {
            assert!((a - e).abs() < 1e-14, "{a} vs {e}");
        }
        let mut w = 0.0;
        ldl.solve_with(&mut b, |f, dinv| {
            let vdv: f64 = v.iter().map(|&(p, x)| x * x * dinv[p as usize]).sum();
            let vdf: f64 = v
                .iter()
                .map(|&(p, x)| x * dinv[p as usize] * f[p as usize])
                .sum();
            w = (beta - vdf) / (d - vdv);
            for &(p, x) in &v {
                f[p as usize] -= x * w;
            }
        });
        assert!((w - w_true).abs() < 1e-13, "{w} vs {w_true}");
        for (a, e) in b.iter().zip(&x_true) {
            assert!((a - e).abs() < 1e-13, "{a} vs {e}");
        }
    }

    #[test]
    fn right_looking_matches_up_looking() {
        // A random tree with a few extra couplings (fill), quasi-definite.
        let n = 120;
        let mut entries: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for i in 1..n {
            entries.push((next() % i, i));
            if i % 7 == 0 {
                entries.push((next() % i, i));
            }
        }
        let sign: Vec<f64> = (0..n)
            .map(|i| if i % 3 == 2 { -1.0 } else { 1.0 })
            .collect();
        let values: Vec<f64> = entries
            .iter()
            .map(|&(i, j)| {
                if i == j {
                    sign[i] * (4.0 + (i % 5) as f64)
                } else {
                    0.3 + (next() % 7) as f64 * 0.1
                }
            })
            .collect();
        let (mut right, slots, _) = Ldl::new(n, &entries, sign.clone());
        assert!(right.right.is_some());
        assert!(right.nnz_l() > entries.len() - n, "the pattern has fill");
        // The same analysis with the up-looking factorisation.
        let mut up = right.clone();
        up.right = None;
        up.kx = vec![0.0; up.kp[n]];
        up.lx = vec![0.0; up.nnz_l()];
        // The slots in K's layout: k_target inverted.
        let rl = right.right.as_ref().unwrap();
        let mut k_of = vec![usize::MAX; right.kx.len()];
        for (k, &t) in rl.k_target.iter().enumerate() {
            k_of[t as usize] = k;
        }
        for (&s, v) in slots.iter().zip(&values) {
            right.kx[s] += v;
            up.kx[k_of[s]] += v;
        }
        let x_true: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let (mut b_right, mut b_up) = (vec![0.0; n], vec![0.0; n]);
        right.multiply(&x_true, &mut b_right);
        up.multiply(&x_true, &mut b_up);
        assert_eq!(b_right, b_up);
        assert_eq!(right.factor(1e-13, 1e-7), Some(0));
        assert_eq!(up.factor(1e-13, 1e-7), Some(0));
        for (a, b) in right.kx[n..].iter().zip(&up.lx) {
            assert!((a - b).abs() <= 1e-13 * (1.0 + b.abs()), "{a} vs {b}");
        }
        for (a, b) in right.kx[..n].iter().zip(&up.d) {
            assert!((a - b).abs() <= 1e-13 * (1.0 + b.abs()), "{a} vs {b}");
        }
        for ldl in [&mut right, &mut up] {
            let mut b = b_up.clone();
            ldl.solve(&mut b);
            for (a, e) in b.iter().zip(&x_true) {
                assert!((a - e).abs() < 1e-12, "{a} vs {e}");
            }
        }
    }

    #[test]
    fn a_path_has_no_fill() {
        // Tridiagonal (a path graph): minimum degree eliminates from the ends.
        let n = 50;
        let mut entries: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
        entries.extend((1..n).map(|i| (i - 1, i)));
        let (ldl, _, _) = Ldl::new(n, &entries, vec![1.0; n]);
        assert_eq!(ldl.nnz_l(), n - 1);
    }
}
