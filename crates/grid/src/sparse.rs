//! Sparse factorisation of the system admittance matrix Y, behind a small
//! factor/refactor/solve API so that faer's API changes stay in this file.
//!
//! Y is complex *symmetric* (Y = Yᵀ, not Hermitian) for every element the
//! engine models, so the default is a sparse LDLᵀ factorisation without
//! pivoting (Davis' LDL algorithm, up-looking) on faer's AMD fill-reducing
//! ordering, after a symmetric diagonal scaling. It is simple, has no
//! per-call overhead worth speaking of (a 41-node feeder solves in well under
//! a microsecond) and grows linearly on radial feeders. Should Y ever be
//! unsymmetric, or a pivot vanish, the factorisation falls back to faer's
//! complex sparse LU with partial pivoting (COLAMD ordering).
//!
//! The symbolic analysis is done once per sparsity pattern and reused for
//! every numeric refactorisation (tap changes, capacitor switching), as the
//! pattern never changes for a given circuit.
//!
//! Everything runs sequentially (`Par::Seq`): callers parallelise across
//! independent engines (rayon), not inside one solve.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::sparse::linalg::lu::{factorize_symbolic_lu, LuRef, LuSymbolicParams, NumericLu, SymbolicLu};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};
use num_complex::Complex64 as C;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SparseError {
    #[error("sparse pattern is invalid: {0}")]
    Pattern(String),
    #[error("the admittance matrix is singular (a node is isolated or only connected through open elements)")]
    Singular,
    #[error("sparse solver failed: {0}")]
    Solver(String),
}

/// A square sparsity pattern in compressed sparse column form with sorted
/// row indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub n: usize,
    pub col_ptr: Vec<usize>,
    pub row_idx: Vec<usize>,
}

impl Pattern {
    /// Builds the pattern from (row, col) pairs (duplicates allowed). The
    /// diagonal is always included so that every node has a pivot candidate.
    pub fn from_entries(n: usize, entries: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let entries: Vec<(usize, usize)> = entries.into_iter().collect();
        // Counting sort by column (diagonal included), then sort and dedup each column.
        let mut count = vec![1usize; n + 1];
        for &(_, c) in &entries {
            count[c] += 1;
        }
        let mut start = vec![0usize; n + 1];
        for j in 0..n {
            start[j + 1] = start[j] + count[j];
        }
        let mut rows = vec![0usize; start[n]];
        let mut fill = start.clone();
        for j in 0..n {
            rows[fill[j]] = j;
            fill[j] += 1;
        }
        for &(r, c) in &entries {
            rows[fill[c]] = r;
            fill[c] += 1;
        }
        let mut col_ptr = Vec::with_capacity(n + 1);
        let mut row_idx = Vec::with_capacity(rows.len());
        col_ptr.push(0);
        for j in 0..n {
            let seg = &mut rows[start[j]..start[j + 1]];
            seg.sort_unstable();
            let mut last = usize::MAX;
            for &r in seg.iter() {
                if r != last {
                    row_idx.push(r);
                    last = r;
                }
            }
            col_ptr.push(row_idx.len());
        }
        Pattern { n, col_ptr, row_idx }
    }

    /// The pattern of a sum of dense blocks: every pair of entries of each
    /// clique (1-based node numbers; 0 = ground, skipped), plus the
    /// diagonal. Two passes and no intermediate list of pairs.
    pub fn from_cliques<'a, I>(n: usize, cliques: I) -> Self
    where
        I: Iterator<Item = &'a [usize]> + Clone,
    {
        let mut count = vec![1usize; n];
        for c in cliques.clone() {
            let k = c.iter().filter(|&&a| a != 0).count();
            for &b in c {
                if b != 0 {
                    count[b - 1] += k;
                }
            }
        }
        let mut start = vec![0usize; n + 1];
        for j in 0..n {
            start[j + 1] = start[j] + count[j];
        }
        // With duplicates, so 32-bit (half the memory to touch; node counts fit).
        let mut rows = vec![0u32; start[n]];
        let mut fill = start.clone();
        for j in 0..n {
            rows[fill[j]] = j as u32;
            fill[j] += 1;
        }
        for c in cliques {
            for &b in c {
                if b == 0 {
                    continue;
                }
                // The column's fill pointer in a register: through memory,
                // each store would wait for the one before (same address).
                let mut at = fill[b - 1];
                for &a in c {
                    if a != 0 {
                        rows[at] = (a - 1) as u32;
                        at += 1;
                    }
                }
                fill[b - 1] = at;
            }
        }
        // Duplicates dropped with a mark per row (a column repeats each row
        // once per element sharing it), compacting `rows` in place.
        let mut col_ptr = Vec::with_capacity(n + 1);
        col_ptr.push(0);
        let mut marked_in = fill;
        marked_in.fill(usize::MAX);
        let mut kept = 0;
        for j in 0..n {
            for t in start[j]..start[j + 1] {
                let r = rows[t];
                if marked_in[r as usize] != j {
                    marked_in[r as usize] = j;
                    rows[kept] = r;
                    kept += 1;
                }
            }
            col_ptr.push(kept);
        }
        // Sorted by one transposition instead of a sort per column: the
        // pattern is symmetric (every clique holds both (a, b) and (b, a)),
        // so row r has column r's count, and scattering the columns in
        // increasing order lists each row's columns — its column's rows —
        // in increasing order.
        let mut next = marked_in;
        next[..n].copy_from_slice(&col_ptr[..n]);
        let mut row_idx = vec![0usize; kept];
        for j in 0..n {
            for &r in &rows[col_ptr[j]..col_ptr[j + 1]] {
                row_idx[next[r as usize]] = j;
                next[r as usize] += 1;
            }
        }
        Pattern { n, col_ptr, row_idx }
    }

    /// The pattern of P·A·Pᵀ for the ordering `order` (`order[k]` = original
    /// index of the new k-th row/column): what [`Pattern::from_cliques`]
    /// gives for the renumbered cliques, without re-collecting them.
    pub fn permuted(&self, order: &[usize]) -> Pattern {
        let n = self.n;
        assert_eq!(order.len(), n, "one new position per row/column");
        let mut new_of = vec![0usize; n];
        for (k, &old) in order.iter().enumerate() {
            new_of[old] = k;
        }
        let mut col_ptr = Vec::with_capacity(n + 1);
        let mut row_idx = Vec::with_capacity(self.row_idx.len());
        col_ptr.push(0);
        for &old in order {
            let start = row_idx.len();
            row_idx.extend(self.row_idx[self.col_ptr[old]..self.col_ptr[old + 1]].iter().map(|&r| new_of[r]));
            row_idx[start..].sort_unstable();
            col_ptr.push(row_idx.len());
        }
        Pattern { n, col_ptr, row_idx }
    }

    /// Position of the transposed entry of each entry (`u32::MAX` where
    /// (col, row) is not in the pattern), and whether the pattern is symmetric.
    /// Whether the pattern is symmetric (the first pass of
    /// [`Pattern::transpose_positions`], without keeping the positions).
    pub fn is_symmetric(&self) -> bool {
        let mut cursor: Vec<usize> = self.col_ptr[..self.n].to_vec();
        for j in 0..self.n {
            for k in self.col_ptr[j]..self.col_ptr[j + 1] {
                let r = self.row_idx[k];
                let t = cursor[r];
                if t < self.col_ptr[r + 1] && self.row_idx[t] == j {
                    cursor[r] += 1;
                } else {
                    return false;
                }
            }
        }
        true
    }

    pub fn transpose_positions(&self) -> (Vec<u32>, bool) {
        // Walking the columns in order meets the entries of row r in
        // increasing column order, which for a symmetric pattern is exactly
        // the order of column r's rows: one cursor per column, O(nnz).
        // Every entry is set below (the fallback rewrites them all).
        let mut transpose_pos = vec![0u32; self.nnz()];
        let mut cursor: Vec<usize> = self.col_ptr[..self.n].to_vec();
        let mut symmetric = true;
        'columns: for j in 0..self.n {
            for k in self.col_ptr[j]..self.col_ptr[j + 1] {
                let r = self.row_idx[k];
                let t = cursor[r];
                if t < self.col_ptr[r + 1] && self.row_idx[t] == j {
                    transpose_pos[k] = t as u32;
                    cursor[r] += 1;
                } else {
                    symmetric = false;
                    break 'columns;
                }
            }
        }
        if !symmetric {
            // Entries without a mirror: look each one up.
            for j in 0..self.n {
                for k in self.col_ptr[j]..self.col_ptr[j + 1] {
                    transpose_pos[k] = self.position(j, self.row_idx[k]).map_or(u32::MAX, |t| t as u32);
                }
            }
        }
        (transpose_pos, symmetric)
    }

    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }

    /// Position of (row, col) in the value array, if it is in the pattern.
    #[inline]
    pub fn position(&self, row: usize, col: usize) -> Option<usize> {
        let (a, b) = (self.col_ptr[col], self.col_ptr[col + 1]);
        let rows = &self.row_idx[a..b];
        // Feeder columns are short (a bus's phases and its neighbours'): a
        // scan beats the branches of a binary search there.
        if rows.len() <= 16 {
            return rows.iter().position(|&r| r == row).map(|k| a + k);
        }
        rows.binary_search(&row).ok().map(|k| a + k)
    }

    /// y = A·x for values laid out on this pattern.
    pub fn mul_vec(&self, values: &[C], x: &[C], y: &mut [C]) {
        y.iter_mut().for_each(|v| *v = C::new(0.0, 0.0));
        for j in 0..self.n {
            let xj = x[j];
            for k in self.col_ptr[j]..self.col_ptr[j + 1] {
                y[self.row_idx[k]] += values[k] * xj;
            }
        }
    }
}

/// faer's symbolic + numeric sparse LU of one pattern (the fallback).
pub struct FaerLu {
    pattern: Pattern,
    symbolic: SymbolicLu<usize>,
    numeric: NumericLu<usize, C>,
    factored: bool,
    scratch_req: StackReq,
    scratch: MemBuffer,
}

impl std::fmt::Debug for FaerLu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaerLu").field("n", &self.pattern.n).field("nnz", &self.pattern.nnz()).finish()
    }
}

impl Clone for FaerLu {
    fn clone(&self) -> Self {
        FaerLu {
            pattern: self.pattern.clone(),
            symbolic: self.symbolic.clone(),
            numeric: self.numeric.clone(),
            factored: self.factored,
            scratch_req: self.scratch_req,
            scratch: MemBuffer::new(self.scratch_req),
        }
    }
}

impl FaerLu {
    /// Symbolic analysis (fill-reducing ordering) of `pattern`.
    pub fn analyse(pattern: Pattern) -> Result<Self, SparseError> {
        let sym = SymbolicSparseColMatRef::new_checked(pattern.n, pattern.n, &pattern.col_ptr, None, &pattern.row_idx);
        let symbolic = factorize_symbolic_lu(sym, LuSymbolicParams::default())
            .map_err(|e| SparseError::Solver(format!("{e:?}")))?;
        let scratch_req = StackReq::any_of(&[
            symbolic.factorize_numeric_lu_scratch::<C>(Par::Seq, Default::default()),
            symbolic.solve_in_place_scratch::<C>(1, Par::Seq),
        ]);
        Ok(FaerLu {
            pattern,
            symbolic,
            numeric: NumericLu::new(),
            factored: false,
            scratch_req,
            scratch: MemBuffer::new(scratch_req),
        })
    }

    /// Numeric (re)factorisation for new values on the same pattern.
    pub fn factor(&mut self, values: &[C]) -> Result<(), SparseError> {
        self.factored = false;
        let p = &self.pattern;
        let sym = SymbolicSparseColMatRef::new_checked(p.n, p.n, &p.col_ptr, None, &p.row_idx);
        let a = SparseColMatRef::new(sym, values);
        let stack = MemStack::new(&mut self.scratch);
        self.symbolic
            .factorize_numeric_lu(&mut self.numeric, a, Par::Seq, stack, Default::default())
            .map_err(|e| match e {
                faer::sparse::linalg::LuError::SymbolicSingular { .. } => SparseError::Singular,
                other => SparseError::Solver(format!("{other:?}")),
            })?;
        self.factored = true;
        Ok(())
    }

    /// Solves A·x = b in place (b → x).
    pub fn solve_in_place(&mut self, rhs: &mut [C]) -> Result<(), SparseError> {
        if !self.factored {
            return Err(SparseError::Solver("matrix not factored".into()));
        }
        let n = self.pattern.n;
        let lu = LuRef::new_unchecked(&self.symbolic, &self.numeric);
        let stack = MemStack::new(&mut self.scratch);
        let mat = MatMut::from_column_major_slice_mut(rhs, n, 1);
        lu.solve_in_place_with_conj(Conj::No, mat, Par::Seq, stack);
        Ok(())
    }
}

/// Sparse LDLᵀ of a complex symmetric matrix (no pivoting), on a symmetric
/// fill-reducing permutation. Algorithm of T. Davis' LDL package.
#[derive(Debug, Clone)]
struct Ldl {
    n: usize,
    /// perm[k] = original index of the k-th pivot; pinv its inverse.
    perm: Vec<usize>,
    pinv: Vec<usize>,
    parent: Vec<usize>,
    lp: Vec<usize>,
    li: Vec<usize>,
    lx: Vec<C>,
    d_inv: Vec<C>,
    // Work arrays.
    lnz: Vec<usize>,
    flag: Vec<usize>,
    pattern_buf: Vec<usize>,
    y: Vec<C>,
    x: Vec<C>,
    /// True when perm is the identity (the caller numbered the nodes in
    /// elimination order): solves then skip the permutation.
    natural: bool,
    // Solve-ready copy of the factor (`blocks`, `d_inv_solve`), refreshed by
    // `prepare_solve` after each factorisation: the symmetric scaling S is
    // folded in (A = L'·D'·L'ᵀ with L' = S⁻¹LS, D' = S⁻¹DS⁻¹, so solves need
    // no scaling passes), and both substitutions gather (dot products in
    // registers) instead of scattering into memory.
    /// The row structure of L: row r's columns are row_col[row_ptr[r]..row_ptr[r + 1]].
    row_ptr: Vec<u32>,
    row_col: Vec<u32>,
    /// Whether the row structure, `row_to_col` and `blocks` are built (once:
    /// L's pattern is the same for every factorisation of one analysis).
    structure_built: bool,
    /// Inverse of D'.
    d_inv_solve: Vec<C>,
    /// L' in the block form the substitutions use.
    blocks: Blocks,
    // For partial refactorisation (`refactor_columns`), built with the row
    // structure: the CSC position of each row-form entry, the pivots D, and
    // the lower part of A by column in elimination order (row, value index).
    row_to_col: Vec<u32>,
    d: Vec<C>,
    a_ptr: Vec<u32>,
    a_row: Vec<u32>,
    a_pos: Vec<u32>,
    /// The scaling of the last full factorisation as `refactor_columns`
    /// uses it, per entry (no gathers through `perm`, no division per entry):
    /// A's lower entry t of column j scaled by s_r·s_j (`a_scale[t]`), L's
    /// entry q = (r, j) by s_j/s_r for the solve-ready copy (`l_ratio[q]`),
    /// s_j² per pivot (`d_scale`). Empty until the first partial
    /// refactorisation after a full one.
    a_scale: Vec<f64>,
    l_ratio: Vec<f64>,
    d_scale: Vec<f64>,
    /// Block (`blocks.exact_start`) of each pivot, and `refactor_blocks`' workspace:
    /// four accumulators per row, one for each column of a block (built with `a_ptr`).
    block_of: Vec<u32>,
    w4: Vec<[C; Blocks::MAX]>,
    /// Columns to recompute (a mark per column) and their list.
    affected: Vec<bool>,
    affected_list: Vec<usize>,
    /// Whether `blocks.fwd_pre` / `bwd_pre` hold the present factor's
    /// values (`Blocks::precompute_block`). A full factorisation leaves them
    /// stale: the first `PLAIN_SOLVES` solves after it go in L's own form
    /// (the `_plain` kernels, both directions), the next computes them —
    /// computing them costs about one solve's arithmetic and pays back over
    /// a few solves, so a factorisation followed by one solve
    /// (CalcVoltageBases at compile) or by a two-iteration re-solve never
    /// pays for them. A partial refactorisation updates its blocks' when
    /// they are ready.
    pre_ready: bool,
    plain_solves: u8,
}

const NONE: usize = usize::MAX;

impl Ldl {
    /// Solves in L's own form after a full factorisation (see `pre_ready`).
    const PLAIN_SOLVES: u8 = 2;

    /// `natural`: the pattern is already in a good elimination order (see
    /// [`fill_reducing_order`]); otherwise AMD + postorder are computed here.
    fn analyse(p: &Pattern, natural: bool) -> Result<Self, SparseError> {
        let n = p.n;
        let (perm, pinv) = if natural {
            ((0..n).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>())
        } else {
            let perm = fill_reducing_order(p)?;
            let mut pinv = vec![0usize; n];
            for (k, &i) in perm.iter().enumerate() {
                pinv[i] = k;
            }
            (perm, pinv)
        };
        // Elimination tree and column counts of L (ldl_symbolic).
        let mut parent = vec![NONE; n];
        let mut lnz = vec![0usize; n];
        let mut flag = vec![0usize; n];
        for k in 0..n {
            flag[k] = k;
            let kk = perm[k];
            for q in p.col_ptr[kk]..p.col_ptr[kk + 1] {
                let mut i = pinv[p.row_idx[q]];
                if i < k {
                    while flag[i] != k {
                        if parent[i] == NONE {
                            parent[i] = k;
                        }
                        lnz[i] += 1;
                        flag[i] = k;
                        i = parent[i];
                    }
                }
            }
        }
        let mut lp = vec![0usize; n + 1];
        for k in 0..n {
            lp[k + 1] = lp[k] + lnz[k];
        }
        let nnz_l = lp[n];
        Ok(Ldl {
            n,
            perm,
            pinv,
            parent,
            lp,
            li: vec![0; nnz_l],
            lx: vec![C::new(0.0, 0.0); nnz_l],
            d_inv: vec![C::new(0.0, 0.0); n],
            lnz,
            flag,
            pattern_buf: vec![0; n],
            y: vec![C::new(0.0, 0.0); n],
            // Only the permuted solve needs this buffer.
            x: if natural { Vec::new() } else { vec![C::new(0.0, 0.0); n] },
            natural,
            row_ptr: Vec::new(),
            row_col: Vec::new(),
            structure_built: false,
            d_inv_solve: Vec::new(),
            blocks: Blocks::default(),
            row_to_col: Vec::new(),
            d: vec![C::new(0.0, 0.0); n],
            a_ptr: Vec::new(),
            a_row: Vec::new(),
            a_pos: Vec::new(),
            a_scale: Vec::new(),
            l_ratio: Vec::new(),
            d_scale: Vec::new(),
            block_of: Vec::new(),
            w4: Vec::new(),
            affected: vec![false; n],
            affected_list: Vec::new(),
            pre_ready: false,
            plain_solves: 0,
        })
    }

    /// Lower part of A by column in elimination order, for `refactor_columns`.
    fn build_lower_a(&mut self, p: &Pattern) {
        let n = self.n;
        self.a_ptr = Vec::with_capacity(n + 1);
        self.a_row.clear();
        self.a_pos.clear();
        self.a_ptr.push(0);
        for j in 0..n {
            let col = self.perm[j];
            for q in p.col_ptr[col]..p.col_ptr[col + 1] {
                let r = self.pinv[p.row_idx[q]];
                if r >= j {
                    self.a_row.push(r as u32);
                    self.a_pos.push(q as u32);
                }
            }
            self.a_ptr.push(self.a_row.len() as u32);
        }
        let starts = &self.blocks.exact_start;
        self.block_of = vec![0; n];
        for b in 0..starts.len().saturating_sub(1) {
            self.block_of[starts[b] as usize..starts[b + 1] as usize].fill(b as u32);
        }
        self.w4 = vec![[C::new(0.0, 0.0); Blocks::MAX]; n];
    }

    /// The column-by-column form of [`Ldl::refactor_blocks`] (the same
    /// operations in the same order per entry), kept as the tests' reference.
    /// Recomputes the columns of L (and pivots) marked in `self.affected`,
    /// left-looking: column j is A's column j minus the contributions of the
    /// columns k < j in row j of L, so unaffected columns are reused as they
    /// are. `scaled(q)` gives the scaled value of A's entry q. Needs the row
    /// structure (`prepare_solve` ran once); refreshes the solve-ready copies
    /// of those columns. Returns Err(j) on a zero pivot.
    #[cfg(test)]
    fn refactor_columns(&mut self, values: &[C], scale: &[f64]) -> Result<(), usize> {
        if self.d_scale.len() != self.n {
            self.build_refactor_scales(scale);
        }
        let zero = C::new(0.0, 0.0);
        let w = &mut self.y;
        for &j in &self.affected_list {
            let (a0, a1) = (self.a_ptr[j] as usize, self.a_ptr[j + 1] as usize);
            for ((&r, &pos), &s) in self.a_row[a0..a1].iter().zip(&self.a_pos[a0..a1]).zip(&self.a_scale[a0..a1]) {
                w[r as usize] = values[pos as usize] * s;
            }
            let (p0, p1) = (self.row_ptr[j] as usize, self.row_ptr[j + 1] as usize);
            for (&k, &q) in self.row_col[p0..p1].iter().zip(&self.row_to_col[p0..p1]) {
                let (k, q) = (k as usize, q as usize);
                let l_jk = self.lx[q];
                let t = l_jk * self.d[k];
                // Rows ≥ j of column k: from (j, k) on (rows are sorted).
                w[j] -= l_jk * t;
                let end = self.lp[k + 1];
                // Zipped slices: one bounds check per column, not two per entry.
                for (&r, &l) in self.li[q + 1..end].iter().zip(&self.lx[q + 1..end]) {
                    w[r] -= l * t;
                }
            }
            let dj = w[j];
            w[j] = zero;
            let mag = dj.re.abs().max(dj.im.abs());
            if mag.is_nan() || mag <= 1e-300 || !mag.is_finite() {
                return Err(j);
            }
            let d_inv = C::new(1.0, 0.0) / dj;
            self.d[j] = dj;
            self.d_inv[j] = d_inv;
            // The solve-ready copies of the column too (what
            // `prepare_solve` computes, fused into this pass).
            let (start, end) = (self.lp[j], self.lp[j + 1]);
            let cols = self.li[start..end].iter().zip(&mut self.lx[start..end]).zip(&self.l_ratio[start..end]);
            for (((&r, l), &ratio), (&qf, &qb)) in cols.zip(self.blocks.q_fwd[start..end].iter().zip(&self.blocks.q_bwd[start..end])) {
                *l = w[r] * d_inv;
                w[r] = zero;
                let v = *l * ratio;
                self.blocks.fwd_val[qf as usize] = v;
                self.blocks.bwd_val[qb as usize] = v;
            }
            self.d_inv_solve[j] = d_inv * self.d_scale[j];
        }
        if self.pre_ready {
            self.blocks.precompute_pivots(&self.affected_list);
        }
        Ok(())
    }

    /// Recomputes the blocks (`blocks.exact_start`: a bus's pivots with one
    /// structure) holding a column marked in `self.affected`, in elimination
    /// order, left-looking: column j is A's column j minus the contributions
    /// of the columns k < j in row j of L. A block's columns share the
    /// columns of its first row (then each adds the block's earlier pivots),
    /// so each shared column k is read once for the whole block: its values
    /// in the block's rows, then its rows below, each updating the block's
    /// g accumulators side by side (`w4`, four per row). Every accumulator
    /// gets the column algorithm's operations in its order (k ascending,
    /// then the block's own pivots): the same bits as
    /// [`Ldl::refactor_columns`], with a g-th of its loop overhead. (A
    /// block's unaffected leading columns are kept, not recomputed: they may
    /// hold a full factorisation's bits, which this algorithm would not
    /// reproduce.) Needs `build_lower_a`; refreshes the
    /// solve-ready copies. Returns Err(j) on a zero pivot.
    fn refactor_blocks(&mut self, values: &[C], scale: &[f64]) -> Result<(), usize> {
        if self.d_scale.len() != self.n {
            self.build_refactor_scales(scale);
        }
        let mut w = std::mem::take(&mut self.w4);
        #[cfg(target_arch = "x86_64")]
        let result = if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.refactor_blocks_avx2(values, &mut w) }
        } else {
            self.refactor_blocks_in(values, &mut w)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let result = self.refactor_blocks_in(values, &mut w);
        if result.is_err() {
            // Leave the workspace zeroed, as a successful pass does.
            w.fill([C::new(0.0, 0.0); Blocks::MAX]);
        }
        self.w4 = w;
        result
    }

    /// [`Ldl::refactor_blocks_in`] compiled for AVX2: the same source and
    /// IEEE operations (no fused multiply-adds), with `addsub` complex
    /// products and three-operand instructions.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn refactor_blocks_avx2(&mut self, values: &[C], w: &mut [[C; Blocks::MAX]]) -> Result<(), usize> {
        self.refactor_blocks_in(values, w)
    }

    #[inline(always)]
    fn refactor_blocks_in(&mut self, values: &[C], w: &mut [[C; Blocks::MAX]]) -> Result<(), usize> {
        // SAFETY (the unchecked accesses of `refactor_block`): the lengths
        // here; the entries were built in range — a_row < n and a_pos < nnz(A)
        // by `build_lower_a` (`SparseLu::refactor_columns` checked `values`
        // against the pattern), li and row_col < n, row_to_col < nnz(L) by the analysis
        // and `prepare_solve`, q_fwd/q_bwd into the value arrays by
        // `Blocks::build` — and are never rewritten.
        let n = self.n;
        let nnz = self.lp[n];
        assert!(self.a_ptr.len() == n + 1 && self.a_row.len() == self.a_pos.len() && self.a_scale.len() == self.a_row.len());
        assert!(self.a_ptr[n] as usize <= self.a_row.len());
        debug_assert!(self.a_pos.iter().all(|&p| (p as usize) < values.len()));
        assert!(w.len() == n && self.lp.len() == n + 1 && self.li.len() >= nnz && self.lx.len() >= nnz);
        assert!(self.row_ptr.len() == n + 1 && self.row_col.len() >= self.row_ptr[n] as usize && self.row_to_col.len() >= self.row_ptr[n] as usize);
        assert!(self.d.len() == n && self.d_inv.len() == n && self.d_inv_solve.len() == n && self.d_scale.len() == n);
        assert!(self.l_ratio.len() >= nnz && self.blocks.q_fwd.len() >= nnz && self.blocks.q_bwd.len() >= nnz);
        let mut last_block = u32::MAX;
        for ai in 0..self.affected_list.len() {
            let first = self.affected_list[ai];
            let b = self.block_of[first];
            if b == last_block {
                continue;
            }
            last_block = b;
            let (j0, j1) = (self.blocks.exact_start[b as usize] as usize, self.blocks.exact_start[b as usize + 1] as usize);
            // The list is sorted: `first` is the block's first affected column,
            // and every later one is affected too (each is the parent of the
            // one before).
            let u0 = first - j0;
            // Both sizes as constants: the block's loops unroll completely.
            match (j1 - j0, u0) {
                (1, _) => self.refactor_block::<1, 0>(values, w, j0)?,
                (2, 0) => self.refactor_block::<2, 0>(values, w, j0)?,
                (2, _) => self.refactor_block::<2, 1>(values, w, j0)?,
                (3, 0) => self.refactor_block::<3, 0>(values, w, j0)?,
                (3, 1) => self.refactor_block::<3, 1>(values, w, j0)?,
                (3, _) => self.refactor_block::<3, 2>(values, w, j0)?,
                (_, 0) => self.refactor_block::<4, 0>(values, w, j0)?,
                (_, 1) => self.refactor_block::<4, 1>(values, w, j0)?,
                (_, 2) => self.refactor_block::<4, 2>(values, w, j0)?,
                (_, _) => self.refactor_block::<4, 3>(values, w, j0)?,
            }
        }
        if self.pre_ready {
            self.blocks.precompute_pivots(&self.affected_list);
        }
        Ok(())
    }

    /// Columns j0 + U0 .. j0 + G of the block of `G` pivots from `j0` (see
    /// [`Ldl::refactor_blocks`]); the block's first U0 columns are kept.
    /// Every access unchecked (the loops are mostly index arithmetic
    /// otherwise: a bounds check per entry read or written), after
    /// `refactor_blocks_in` checked the arrays' lengths; their entries are in
    /// range by construction (see the SAFETY note there).
    #[inline(always)]
    fn refactor_block<const G: usize, const U0: usize>(&mut self, values: &[C], w: &mut [[C; Blocks::MAX]], j0: usize) -> Result<(), usize> {
        let u0 = U0;
        let zero = C::new(0.0, 0.0);
        // SAFETY: see `refactor_blocks_in`.
        unsafe {
            // A's lower columns, scaled.
            for u in u0..G {
                let c = j0 + u;
                let (a0, a1) = (*self.a_ptr.get_unchecked(c) as usize, *self.a_ptr.get_unchecked(c + 1) as usize);
                for t in a0..a1 {
                    let (r, pos, sc) = (*self.a_row.get_unchecked(t), *self.a_pos.get_unchecked(t), *self.a_scale.get_unchecked(t));
                    w.get_unchecked_mut(r as usize)[u] = *values.get_unchecked(pos as usize) * sc;
                }
            }
            // The shared columns k < j0 (row j0's): entries (j0 + s, k) sit at
            // q + s, then column k's rows below the block (on a tree, none: a
            // child bus's columns end in its parent's rows). The block's own
            // rows accumulate in registers across all k — through memory, each
            // update would wait for the store of the one before.
            let mut diag = [[zero; G]; G];
            for s in u0..G {
                diag[s].copy_from_slice(&w.get_unchecked(j0 + s)[..G]);
            }
            let (p0, p1) = (*self.row_ptr.get_unchecked(j0) as usize, *self.row_ptr.get_unchecked(j0 + 1) as usize);
            for e in p0..p1 {
                let (k, q) = (*self.row_col.get_unchecked(e) as usize, *self.row_to_col.get_unchecked(e) as usize);
                let dk = *self.d.get_unchecked(k);
                let end = *self.lp.get_unchecked(k + 1);
                debug_assert!((0..G).all(|s| self.li[q + s] == j0 + s));
                let mut inside = [zero; G];
                for s in 0..G {
                    inside[s] = *self.lx.get_unchecked(q + s);
                }
                let mut t = [zero; G];
                for u in u0..G {
                    t[u] = inside[u] * dk;
                }
                for s in u0..G {
                    let l = inside[s];
                    for u in u0..=s {
                        diag[s][u] -= l * t[u];
                    }
                }
                for at in q + G..end {
                    let (r, l) = (*self.li.get_unchecked(at), *self.lx.get_unchecked(at));
                    let row = w.get_unchecked_mut(r);
                    for u in u0..G {
                        row[u] -= l * t[u];
                    }
                }
            }
            for s in u0..G {
                w.get_unchecked_mut(j0 + s)[u0..G].copy_from_slice(&diag[s][u0..G]);
            }
            // The block's own pivots, one column after the other.
            for u in u0..G {
                let c = j0 + u;
                for v in 0..u {
                    let kc = j0 + v;
                    // (c, kc) is the (u − v − 1)-th entry of column kc.
                    let q = *self.lp.get_unchecked(kc) + (u - v - 1);
                    debug_assert_eq!(self.li[q], c);
                    let t = *self.lx.get_unchecked(q) * *self.d.get_unchecked(kc);
                    let end = *self.lp.get_unchecked(kc + 1);
                    for at in q..end {
                        let (r, l) = (*self.li.get_unchecked(at), *self.lx.get_unchecked(at));
                        w.get_unchecked_mut(r)[u] -= l * t;
                    }
                }
                let dj = w.get_unchecked(c)[u];
                w.get_unchecked_mut(c)[u] = zero;
                let mag = dj.re.abs().max(dj.im.abs());
                if mag.is_nan() || mag <= 1e-300 || !mag.is_finite() {
                    return Err(c);
                }
                let d_inv = C::new(1.0, 0.0) / dj;
                *self.d.get_unchecked_mut(c) = dj;
                *self.d_inv.get_unchecked_mut(c) = d_inv;
                let (start, end) = (*self.lp.get_unchecked(c), *self.lp.get_unchecked(c + 1));
                for at in start..end {
                    let r = *self.li.get_unchecked(at);
                    let acc = &mut w.get_unchecked_mut(r)[u];
                    let l = *acc * d_inv;
                    *self.lx.get_unchecked_mut(at) = l;
                    *acc = zero;
                    let v = l * *self.l_ratio.get_unchecked(at);
                    *self.blocks.fwd_val.get_unchecked_mut(*self.blocks.q_fwd.get_unchecked(at) as usize) = v;
                    *self.blocks.bwd_val.get_unchecked_mut(*self.blocks.q_bwd.get_unchecked(at) as usize) = v;
                }
                *self.d_inv_solve.get_unchecked_mut(c) = d_inv * *self.d_scale.get_unchecked(c);
            }
        }
        Ok(())
    }

    /// `a_scale`, `l_ratio` and `d_scale` for the scaling `scale` (the very
    /// products and quotients `refactor_columns` would otherwise form per
    /// entry: the same bits).
    fn build_refactor_scales(&mut self, scale: &[f64]) {
        let n = self.n;
        let s = |k: usize| scale[self.perm[k]];
        let mut a_scale = std::mem::take(&mut self.a_scale);
        a_scale.clear();
        a_scale.reserve(self.a_row.len());
        for j in 0..n {
            let sj = s(j);
            for &r in &self.a_row[self.a_ptr[j] as usize..self.a_ptr[j + 1] as usize] {
                a_scale.push(s(r as usize) * sj);
            }
        }
        let mut l_ratio = std::mem::take(&mut self.l_ratio);
        l_ratio.clear();
        l_ratio.reserve(self.lp[n]);
        for j in 0..n {
            let sj = s(j);
            l_ratio.extend(self.li[self.lp[j]..self.lp[j + 1]].iter().map(|&r| sj / s(r)));
        }
        let mut d_scale = std::mem::take(&mut self.d_scale);
        d_scale.clear();
        d_scale.extend((0..n).map(|j| s(j) * s(j)));
        self.a_scale = a_scale;
        self.l_ratio = l_ratio;
        self.d_scale = d_scale;
    }

    /// Marks `columns` (original numbering) and all their elimination-tree
    /// ancestors — the columns of L that depend on them — in `affected`.
    fn mark_affected(&mut self, columns: impl Iterator<Item = usize>) {
        self.affected_list.clear();
        for c in columns {
            let mut j = self.pinv[c];
            while j != NONE && !self.affected[j] {
                self.affected[j] = true;
                self.affected_list.push(j);
                j = self.parent[j];
            }
        }
        // Elimination order. After a tap move with loads restamped the list
        // is most of the tree: a scan of the marks is cheaper than a sort.
        if self.affected_list.len() * 8 > self.n {
            self.affected_list.clear();
            self.affected_list.extend(self.affected.iter().enumerate().filter(|&(_, &a)| a).map(|(j, _)| j));
        } else {
            self.affected_list.sort_unstable();
        }
    }

    fn clear_affected(&mut self) {
        for &j in &self.affected_list {
            self.affected[j] = false;
        }
    }

    /// Builds the solve-ready factor (see the fields) from L, D⁻¹ and the
    /// scaling `scale` (in original order). O(nnz(L)).
    #[inline(always)]
    fn prepare_solve(&mut self, scale: &[f64]) {
        let n = self.n;
        let nnz = self.lp[n];
        // Scale of each pivot, in elimination order.
        // A new scaling: the partial refactorisation's per-entry copies of it
        // are rebuilt when next needed.
        self.d_scale.clear();
        let first = !self.structure_built;
        if first {
            // First factorisation: the row structure of L.
            let li = &self.li[..nnz];
            let lp = &self.lp[..=n];
            let mut count = vec![0u32; n + 1];
            for &r in li {
                count[r + 1] += 1;
            }
            for r in 0..n {
                count[r + 1] += count[r];
            }
            let row_ptr = count.clone();
            let mut row_col = vec![0u32; nnz];
            let mut row_to_col = vec![0u32; nnz];
            // Columns in increasing order: each row's entries come out sorted.
            for j in 0..n {
                for (q, &r) in (lp[j]..lp[j + 1]).zip(&li[lp[j]..lp[j + 1]]) {
                    let at = count[r] as usize;
                    count[r] += 1;
                    row_col[at] = j as u32;
                    row_to_col[at] = q as u32;
                }
            }
            self.blocks = Blocks::build(n, lp, li, &row_ptr, &row_col, &row_to_col);
            (self.row_ptr, self.row_col, self.row_to_col) = (row_ptr, row_col, row_to_col);
            self.d_inv_solve = vec![C::new(0.0, 0.0); n];
            self.structure_built = true;
        }

        // Local slices (no reloads of the vectors through `self` after each
        // store); the same products and quotients as before, so the same bits.
        let (lp, li, lx) = (&self.lp[..=n], &self.li[..nnz], &self.lx[..nnz]);
        let (perm, d_inv) = (&self.perm[..n], &self.d_inv[..n]);
        let d_inv_solve = &mut self.d_inv_solve[..n];
        let b = &mut self.blocks;
        let (q_fwd, q_bwd) = (&b.q_fwd[..nnz], &b.q_bwd[..nnz]);
        let (fwd_val, bwd_val) = (&mut b.fwd_val[..], &mut b.bwd_val[..]);
        let s = |k: usize| scale[perm[k]];
        for j in 0..n {
            let sj = s(j);
            let (start, end) = (lp[j], lp[j + 1]);
            for (((&l, &r), &qf), &qb) in lx[start..end].iter().zip(&li[start..end]).zip(&q_fwd[start..end]).zip(&q_bwd[start..end]) {
                let v = l * (sj / s(r));
                fwd_val[qf as usize] = v;
                bwd_val[qb as usize] = v;
            }
            d_inv_solve[j] = d_inv[j] * (sj * sj);
        }
        if first {
            b.choose_forward_forms();
        }
        self.pre_ready = false;
        self.plain_solves = 0;
    }

    /// Computes every block's substitution values (see `pre_ready`).
    fn ready_substitution_values(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe { self.blocks.precompute_all_avx2() };
                self.pre_ready = true;
                return;
            }
        }
        self.blocks.precompute_all();
        self.pre_ready = true;
    }

    /// Solves A·x = b in place with the factor of [`Ldl::prepare_solve`],
    /// in elimination order (`b` permuted by the caller when not natural).
    #[inline]
    fn solve_elimination_order(&self, x: &mut [C]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe { simd::solve_avx2(self, x) };
                return;
            }
            if std::is_x86_feature_detected!("sse3") {
                // SAFETY: the CPU has SSE3 (checked just above).
                unsafe { simd::solve_sse3(self, x) };
                return;
            }
        }
        substitutions::<ScalarMac>(self, x);
    }

    /// Numeric factorisation (ldl_numeric). Returns Err(k) on a zero pivot.
    fn factor(&mut self, p: &Pattern, values: &[C]) -> Result<(), usize> {
        self.factor_with(p, |q, _, _| values[q])
    }

    /// As [`Ldl::factor`] for A' = D·A·D, each entry scaled as it is read
    /// (`values[q] · (scale[row] · scale[col])`, the bits a scaled copy
    /// would hold) instead of from a scaled copy of A.
    fn factor_scaled_and_prepare(&mut self, p: &Pattern, values: &[C], scale: &[f64]) -> Result<(), usize> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { self.factor_scaled_and_prepare_avx2(p, values, scale) };
            }
        }
        self.factor_scaled(p, values, scale)?;
        self.prepare_solve(scale);
        Ok(())
    }

    /// [`Ldl::factor_scaled`] and [`Ldl::prepare_solve`] compiled for AVX2
    /// (as `refactor_blocks_avx2`: the same IEEE operations).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn factor_scaled_and_prepare_avx2(&mut self, p: &Pattern, values: &[C], scale: &[f64]) -> Result<(), usize> {
        self.factor_scaled(p, values, scale)?;
        self.prepare_solve(scale);
        Ok(())
    }

    #[inline(always)]
    fn factor_scaled(&mut self, p: &Pattern, values: &[C], scale: &[f64]) -> Result<(), usize> {
        self.factor_with(p, |q, row, col| values[q] * (scale[row] * scale[col]))
    }

    /// Numeric factorisation with A's entry q (at row, column in the
    /// original numbering) given by `entry(q, row, col)`.
    #[inline(always)]
    fn factor_with(&mut self, p: &Pattern, entry: impl Fn(usize, usize, usize) -> C) -> Result<(), usize> {
        let n = self.n;
        let zero = C::new(0.0, 0.0);
        // Local slices: the compiler then knows a store into one array does
        // not move another's buffer (through `self`, every store made it
        // reload the vectors' pointers and lengths). The operations and
        // their order are unchanged: the same bits.
        let (perm, pinv, parent, lp) = (&self.perm[..n], &self.pinv[..n], &self.parent[..n], &self.lp[..=n]);
        let (li, lx) = (&mut self.li[..], &mut self.lx[..]);
        let (y, flag, lnz, pattern_buf) = (&mut self.y[..n], &mut self.flag[..n], &mut self.lnz[..n], &mut self.pattern_buf[..n]);
        let (d, d_inv) = (&mut self.d[..n], &mut self.d_inv[..n]);
        let (col_ptr, row_idx) = (&p.col_ptr[..=n], &p.row_idx[..]);
        for k in 0..n {
            y[k] = zero;
            let mut top = n;
            flag[k] = k;
            lnz[k] = 0;
            let kk = perm[k];
            for q in col_ptr[kk]..col_ptr[kk + 1] {
                let row = row_idx[q];
                let mut i = pinv[row];
                if i <= k {
                    y[i] += entry(q, row, kk);
                    let mut len = 0;
                    while flag[i] != k {
                        pattern_buf[len] = i;
                        len += 1;
                        flag[i] = k;
                        i = parent[i];
                    }
                    while len > 0 {
                        top -= 1;
                        len -= 1;
                        pattern_buf[top] = pattern_buf[len];
                    }
                }
            }
            let mut dk = y[k];
            y[k] = zero;
            while top < n {
                let i = pattern_buf[top];
                top += 1;
                let yi = y[i];
                y[i] = zero;
                let start = lp[i];
                let end = start + lnz[i];
                for (&r, &l) in li[start..end].iter().zip(&lx[start..end]) {
                    y[r] -= l * yi;
                }
                let l_ki = yi * d_inv[i];
                dk -= l_ki * yi;
                li[end] = k;
                lx[end] = l_ki;
                lnz[i] += 1;
            }
            let mag = dk.re.abs().max(dk.im.abs());
            if mag.is_nan() || mag <= 1e-300 || !mag.is_finite() {
                return Err(k);
            }
            d[k] = dk;
            d_inv[k] = C::new(1.0, 0.0) / dk;
        }
        Ok(())
    }

    /// Solves in place: b → x (original order).
    fn solve(&mut self, b: &mut [C]) {
        if !self.pre_ready {
            if self.plain_solves >= Self::PLAIN_SOLVES {
                self.ready_substitution_values();
            } else {
                self.plain_solves += 1;
            }
        }
        if self.natural {
            self.solve_elimination_order(b);
            return;
        }
        let mut x = std::mem::take(&mut self.x);
        for k in 0..self.n {
            x[k] = b[self.perm[k]];
        }
        self.solve_elimination_order(&mut x);
        for k in 0..self.n {
            b[self.perm[k]] = x[k];
        }
        self.x = x;
    }
}

/// The complex arithmetic of the substitutions: `acc − l·x` and `a·b` with
/// exactly the operations of `num_complex` (re = a.re·b.re − a.im·b.im,
/// im = a.re·b.im + a.im·b.re, then the subtraction), so every kind gives
/// the same bits.
trait Mac {
    type Acc: Copy;
    fn load(c: &C) -> Self::Acc;
    fn zero() -> Self::Acc;
    fn mul(a: &C, b: &C) -> Self::Acc;
    fn sub_mul(acc: Self::Acc, l: &C, x: &C) -> Self::Acc;
    fn store(acc: Self::Acc, out: &mut C);
}

struct ScalarMac;

impl Mac for ScalarMac {
    type Acc = C;
    #[inline(always)]
    fn load(c: &C) -> C {
        *c
    }
    #[inline(always)]
    fn zero() -> C {
        C::new(0.0, 0.0)
    }
    #[inline(always)]
    fn mul(a: &C, b: &C) -> C {
        *a * *b
    }
    #[inline(always)]
    fn sub_mul(acc: C, l: &C, x: &C) -> C {
        acc - *l * *x
    }
    #[inline(always)]
    fn store(acc: C, out: &mut C) {
        *out = acc;
    }
}

/// L' grouped into blocks of up to [`Blocks::MAX`] consecutive pivots that
/// share their pattern — the phases of a bus, on a feeder: the rows of a
/// block have the same entries left of it, its columns the same entries
/// below it (a supernode). A block's substitution loads each shared x once
/// for all its pivots and keeps one accumulator per pivot, so the dot
/// products run side by side instead of as one latency-bound chain.
#[derive(Debug, Clone, Default)]
struct Blocks {
    /// The supernodes: pivots exact_start[b]..exact_start[b + 1] have one
    /// structure (see `build`); the partial refactorisation goes by them.
    exact_start: Vec<u32>,
    /// The substitutions' blocks: block b covers pivots start[b]..start[b + 1],
    /// consecutive supernodes merged where that costs few explicit zeros
    /// (see `build`); an entry outside L's pattern holds +0.
    start: Vec<u32>,
    /// Forward: block b's shared columns fwd_idx[fwd_ptr[b]..fwd_ptr[b + 1]];
    /// values from fwd_val_ptr[b]: for each shared column i, the block's rows
    /// t = 0..g at [i·g + t], then the strictly lower triangle inside the
    /// block, row by row ((1,0), (2,0), (2,1), …).
    fwd_ptr: Vec<u32>,
    fwd_idx: Vec<u32>,
    fwd_val_ptr: Vec<u32>,
    fwd_val: Vec<C>,
    /// Backward: the same for the block's columns and the rows they share
    /// below it; the triangle is L'[j0 + t, j0 + u], t > u, in the same order.
    bwd_ptr: Vec<u32>,
    bwd_idx: Vec<u32>,
    bwd_val_ptr: Vec<u32>,
    bwd_val: Vec<C>,
    /// Where each entry q of L (column form) lives in fwd_val and bwd_val.
    q_fwd: Vec<u32>,
    q_bwd: Vec<u32>,
    /// What the substitutions read (`precompute_block`), in the layout of
    /// fwd_val / bwd_val: the block's own triangle inverted and applied to
    /// its shared columns (rows) beforehand. A block's pivots then depend on
    /// the blocks before it through one multiply-subtract each, not also
    /// through its triangle's chain of them — the triangle is applied to the
    /// block's own right-hand side, which is known from the start.
    fwd_pre: Vec<C>,
    bwd_pre: Vec<C>,
    /// The block of each pivot.
    block_of: Vec<u32>,
    /// Blocks whose forward substitution keeps L's own form (the shared
    /// columns, then the triangle; `fwd_pre` unused): their forward runs
    /// have `g` + `PLAIN_RUN` (see `choose_forward_forms`).
    fwd_plain: Vec<bool>,
    /// The order the substitutions visit the blocks in: by level of the
    /// block dependency graph (forward: leaves first; backward: root first),
    /// so that consecutive blocks are mostly independent and the CPU overlaps
    /// them (in elimination order each block waits for the one before it: a
    /// feeder's substitution is then one long latency chain). Every block's
    /// own operations are unchanged, so are the results, bit for bit. (Large
    /// factors keep elimination order: see `LEVEL_ORDER_MAX_BLOCKS`.) Within
    /// a level the blocks go by size, and the visit is stored as runs of
    /// equal-size blocks (`Run`), each block's pointers packed in one `Step`:
    /// one size dispatch per run, one sequential 16-byte read per block
    /// instead of six scattered ones (a feeder's one-phase laterals are
    /// long runs of one-pivot blocks doing one multiply-subtract each).
    fwd_steps: Vec<Step>,
    fwd_runs: Vec<Run>,
    bwd_steps: Vec<Step>,
    bwd_runs: Vec<Run>,
}

/// One block as the substitutions visit it: its first pivot, its shared
/// index range idx[i0..i1] and where its values start.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Step {
    j0: u32,
    i0: u32,
    i1: u32,
    v: u32,
}

/// Steps steps[previous end..end] all have `g` pivots.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    g: u32,
    end: u32,
}

impl Step {
    #[inline(always)]
    fn j0(&self) -> usize {
        self.j0 as usize
    }
    #[inline(always)]
    fn v(&self) -> usize {
        self.v as usize
    }
}

/// Position of (t, u), t > u, in a block's strictly lower triangle.
#[inline(always)]
fn tri(t: usize, u: usize) -> usize {
    t * (t - 1) / 2 + u
}

impl Blocks {
    const MAX: usize = 4;
    /// The most explicit zeros (forward and backward together) a merged
    /// block may hold (see `build`).
    const MAX_PADDING: usize = 4;
    /// Up to this many blocks the substitutions visit them by level; beyond,
    /// in elimination order. Measured (release, AVX2): the level order takes
    /// the 8500-node feeder's substitution (5.9k blocks) from 49 to 37 µs,
    /// but a 100k-node one (33k blocks) from 0.54 to 0.8–1.0 ms — its vectors
    /// no longer fit in L2, and the scattered order loses the caches.
    const LEVEL_ORDER_MAX_BLOCKS: usize = 16_384;
    /// A forward run of blocks kept in L's own form has g + PLAIN_RUN.
    const PLAIN_RUN: u32 = 4;
    /// Blocks whose triangle couples two pivots more strongly than this
    /// keep the plain forward form. Measured (|ΔV| against the plain form
    /// everywhere, 96 × 15 min): with every block transformed, ieee34 /
    /// ieee34mod2 moved by up to 2.6e-14 / 4.6e-14 pu — from the two blocks
    /// whose pivots couple at 0.99–0.997 (on ieee34 the root block and one
    /// other), where T⁻¹·L'_Bc cancels; with those two plain, 2.2e-16 /
    /// 6.7e-16.
    /// A bus's phases couple at 0.24–0.3. (The backward form moves voltages
    /// by ≤ 7e-15 pu everywhere and is used for every block.)
    const TRANSFORM_MAX_COUPLING: f64 = 0.5;

    /// The block structure of L (column form lp/li, row form row_ptr/row_col,
    /// with row_to_col the column-form position of each row-form entry).
    fn build(n: usize, lp: &[usize], li: &[usize], row_ptr: &[u32], row_col: &[u32], row_to_col: &[u32]) -> Self {
        let col = |j: usize| &li[lp[j]..lp[j + 1]];
        let row = |r: usize| &row_col[row_ptr[r] as usize..row_ptr[r + 1] as usize];
        // Can pivot j + g join the block j..j+g?
        let joins = |j: usize, g: usize| -> bool {
            let k = j + g;
            let f = row(j);
            let rk = row(k);
            // Row k: the block's shared columns, then every pivot j..k.
            if rk.len() != f.len() + g || rk[..f.len()] != *f || (0..g).any(|u| rk[f.len() + u] as usize != j + u) {
                return false;
            }
            // Columns j..k: (pivots below in the block) + the rows below k.
            let below = col(k);
            (0..g).all(|u| {
                let c = col(j + u);
                let inside = g - u; // rows j+u+1 ..= k
                c.len() == inside + below.len()
                    && (0..inside).all(|t| c[t] == j + u + 1 + t)
                    && c[inside..] == *below
            })
        };
        let mut b = Blocks::default();
        let mut j = 0;
        b.exact_start.push(0);
        while j < n {
            let mut g = 1;
            while g < Self::MAX && j + g < n && joins(j, g) {
                g += 1;
            }
            j += g;
            b.exact_start.push(j as u32);
        }
        // The substitutions' blocks: supernodes merged along the elimination
        // tree while the block stays within MAX pivots and its explicit zeros (`padding`) within
        // MAX_PADDING. Along a feeder's main line a three-phase bus with a
        // one-phase lateral, or a regulator bank's two buses, are split into
        // supernodes of one pivot (their rows differ by the lateral's or the
        // single-phase unit's column): merged, the substitutions' dependency
        // chain runs through one block per bus instead of two or three.
        // The candidate's shared columns and rows land in `shared`, `below`
        // (when the bound passes).
        let padding = |j0: usize, j1: usize, shared: &mut Vec<u32>, below: &mut Vec<u32>| -> usize {
            let g = j1 - j0;
            let triangle = g * (g - 1) / 2;
            // A lower bound first, from counts alone (most candidate merges
            // — siblings, leaves — fail it): entries inside the block, and
            // each row's (column's) entries left of (below) it, of which the
            // union holds at least the largest.
            let (mut inside, mut in_rows, mut in_cols, mut most_left, mut most_below) = (0, 0, 0, 0, 0);
            for t in j0..j1 {
                let (r, c) = (row(t), col(t));
                let c_inside = c.partition_point(|&x| x < j1);
                let r_left = r.partition_point(|&k| (k as usize) < j0);
                inside += c_inside;
                in_rows += r_left;
                in_cols += c.len() - c_inside;
                most_left = most_left.max(r_left);
                most_below = most_below.max(c.len() - c_inside);
            }
            let bound = 2 * (triangle - inside) + (g * most_left - in_rows) + (g * most_below - in_cols);
            if bound > Self::MAX_PADDING {
                return bound;
            }
            // The unions, sorted: the first row's (column's) list, then the
            // others' entries inserted (a few short lists: no sort needed).
            shared.clear();
            below.clear();
            for t in j0..j1 {
                for &k in row(t).iter().take_while(|&&k| (k as usize) < j0) {
                    insert_sorted_unique(shared, k);
                }
                for &r in col(t).iter().filter(|&&r| r >= j1) {
                    insert_sorted_unique(below, r as u32);
                }
            }
            let (ns, nb) = (shared.len(), below.len());
            2 * (triangle - inside) + (g * ns - in_rows) + (g * nb - in_cols)
        };
        b.start.push(0);
        let mut group_start = 0usize;
        // Per block: is it one supernode (not merged)?
        let mut one_supernode_of: Vec<bool> = Vec::with_capacity(b.exact_start.len());
        one_supernode_of.push(true);
        // The merged blocks' shared columns and rows, block after block
        // (kept from their last accepted merge, not formed again below).
        let (mut shared, mut below, mut group_shared, mut group_below) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut merged_shared, mut merged_below, mut merged_ends) = (Vec::new(), Vec::new(), Vec::new());
        let mut keep_merged = |merged: bool, group_shared: &[u32], group_below: &[u32]| {
            if merged {
                merged_shared.extend_from_slice(group_shared);
                merged_below.extend_from_slice(group_below);
                merged_ends.push((merged_shared.len(), merged_below.len()));
            }
        };
        for w in b.exact_start.windows(2).skip(1) {
            let (next_start, next_end) = (w[0] as usize, w[1] as usize);
            // Only along the elimination tree (the group's last pivot's parent
            // is the next supernode's first): siblings are independent already.
            let chained = col(next_start - 1).first() == Some(&next_start);
            if !chained || next_end - group_start > Self::MAX || padding(group_start, next_end, &mut shared, &mut below) > Self::MAX_PADDING {
                keep_merged(one_supernode_of.last() == Some(&false), &group_shared, &group_below);
                b.start.push(next_start as u32);
                group_start = next_start;
                one_supernode_of.push(true);
            } else if let Some(last) = one_supernode_of.last_mut() {
                *last = false;
                std::mem::swap(&mut shared, &mut group_shared);
                std::mem::swap(&mut below, &mut group_below);
            }
        }
        keep_merged(one_supernode_of.last() == Some(&false), &group_shared, &group_below);
        if n > 0 {
            b.start.push(n as u32);
        }
        let nnz = lp[n];
        // Every position is written below; debug builds start from a
        // sentinel to check that (release builds get zeroed memory, cheaper).
        let unset = if cfg!(debug_assertions) { u32::MAX } else { 0 };
        // Local vectors filled through slices: stores into them do not make
        // the loops reload the block structure's fields.
        let mut q_fwd = vec![unset; nnz];
        let mut q_bwd = vec![unset; nnz];
        // Every entry of L sits once in each value array; the index lists
        // hold each block's shared columns and rows. The supernodes' sizes
        // (a merged block's lists may be a little longer): reserving much
        // more would push later allocations onto fresh pages.
        let blocks = b.start.windows(2).map(|w| (w[0] as usize, w[1] as usize));
        let (shared_total, below_total) = blocks.fold((0, 0), |(f, k), (j0, j1)| (f + row(j0).len(), k + col(j1 - 1).len()));
        let nb = b.start.len() - 1;
        let mut fwd_idx: Vec<u32> = Vec::with_capacity(shared_total);
        let mut bwd_idx: Vec<u32> = Vec::with_capacity(below_total);
        let mut fwd_ptr: Vec<u32> = Vec::with_capacity(nb + 1);
        let mut bwd_ptr: Vec<u32> = Vec::with_capacity(nb + 1);
        let mut fwd_val_ptr: Vec<u32> = Vec::with_capacity(nb);
        let mut bwd_val_ptr: Vec<u32> = Vec::with_capacity(nb);
        fwd_ptr.push(0);
        bwd_ptr.push(0);
        // Running sizes of the value arrays (nnz plus the explicit zeros).
        let (mut fwd_len, mut bwd_len) = (0usize, 0usize);
        // A merged block's shared columns (rows) are the union of its rows'
        // (columns') entries left of (below) it; a supernode's are its first
        // row's (last column's), in order.
        let mut merged = merged_ends.iter();
        let (mut ms0, mut mb0) = (0, 0);
        for (w, &one_supernode) in one_supernode_of.iter().enumerate().take(nb) {
            let (j0, j1) = (b.start[w] as usize, b.start[w + 1] as usize);
            let g = j1 - j0;
            let (f0, b0) = (fwd_idx.len(), bwd_idx.len());
            if one_supernode {
                fwd_idx.extend_from_slice(row(j0));
                bwd_idx.extend(col(j1 - 1).iter().map(|&r| r as u32));
            } else if let Some(&(ms1, mb1)) = merged.next() {
                fwd_idx.extend_from_slice(&merged_shared[ms0..ms1]);
                bwd_idx.extend_from_slice(&merged_below[mb0..mb1]);
                (ms0, mb0) = (ms1, mb1);
            }
            fwd_ptr.push(fwd_idx.len() as u32);
            bwd_ptr.push(bwd_idx.len() as u32);
            let (shared, below) = (&fwd_idx[f0..], &bwd_idx[b0..]);
            let base = fwd_len;
            fwd_val_ptr.push(base as u32);
            fwd_len += g * shared.len() + g * (g - 1) / 2;
            let bbase = bwd_len;
            bwd_val_ptr.push(bbase as u32);
            bwd_len += g * below.len() + g * (g - 1) / 2;
            if one_supernode {
                // By the block property (`joins`), column j0 + u holds the
                // rows j0+u+1 .. j1 inside the block, then exactly `below`;
                // row j0 + t holds `shared`, then the columns j0 .. j0+t. So
                // an entry's place follows from its rank in its column or row.
                for u in 0..g {
                    let inside = g - 1 - u;
                    let (c0, c1) = (lp[j0 + u], lp[j0 + u + 1]);
                    for (rank, (slot, &r)) in q_bwd[c0..c1].iter_mut().zip(&li[c0..c1]).enumerate() {
                        *slot = if rank < inside {
                            debug_assert_eq!(r, j0 + u + 1 + rank);
                            (bbase + g * below.len() + tri(r - j0, u)) as u32
                        } else {
                            let i = rank - inside;
                            debug_assert_eq!(below[i] as usize, r);
                            (bbase + i * g + u) as u32
                        };
                    }
                }
                for t in 0..g {
                    let r = j0 + t;
                    let (p0, p1) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
                    for (rank, &q) in row_to_col[p0..p1].iter().enumerate() {
                        q_fwd[q as usize] = if rank < shared.len() {
                            debug_assert_eq!(shared[rank], row_col[p0 + rank]);
                            (base + rank * g + t) as u32
                        } else {
                            let u = rank - shared.len();
                            debug_assert_eq!(row_col[p0 + rank] as usize, j0 + u);
                            (base + g * shared.len() + tri(t, u)) as u32
                        };
                    }
                }
                continue;
            }
            // A merged block: inside it in the triangle, else at its shared
            // row's (column's) rank — both lists sorted, as the entries of a
            // column (row), so one cursor walks each.
            for u in 0..g {
                let (c0, c1) = (lp[j0 + u], lp[j0 + u + 1]);
                let mut i = 0;
                for (slot, &r) in q_bwd[c0..c1].iter_mut().zip(&li[c0..c1]) {
                    *slot = if r < j1 {
                        (bbase + g * below.len() + tri(r - j0, u)) as u32
                    } else {
                        while below[i] as usize != r {
                            i += 1;
                        }
                        (bbase + i * g + u) as u32
                    };
                }
            }
            for t in 0..g {
                let r = j0 + t;
                let (p0, p1) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
                let mut i = 0;
                for (&c, &q) in row_col[p0..p1].iter().zip(&row_to_col[p0..p1]) {
                    q_fwd[q as usize] = if (c as usize) >= j0 {
                        (base + g * shared.len() + tri(t, c as usize - j0)) as u32
                    } else {
                        while shared[i] != c {
                            i += 1;
                        }
                        (base + i * g + t) as u32
                    };
                }
            }
        }
        debug_assert!(fwd_len >= nnz && bwd_len >= nnz);
        // Zeroed once (every entry of L is written by each `prepare_solve`;
        // the merged blocks' explicit zeros stay +0).
        b.fwd_val = vec![C::new(0.0, 0.0); fwd_len];
        b.bwd_val = vec![C::new(0.0, 0.0); bwd_len];
        (b.q_fwd, b.q_bwd) = (q_fwd, q_bwd);
        (b.fwd_idx, b.bwd_idx, b.fwd_ptr, b.bwd_ptr) = (fwd_idx, bwd_idx, fwd_ptr, bwd_ptr);
        (b.fwd_val_ptr, b.bwd_val_ptr) = (fwd_val_ptr, bwd_val_ptr);
        debug_assert!(b.q_fwd.iter().chain(&b.q_bwd).all(|&p| p != u32::MAX));
        let mut block_of = vec![0usize; n];
        for w in 0..nb {
            block_of[b.start[w] as usize..b.start[w + 1] as usize].fill(w);
        }
        b.block_of = block_of.iter().map(|&w| w as u32).collect();
        // Forward: block w needs the blocks of its shared columns (all
        // before it); backward: those of its shared rows (all after it).
        let mut level = vec![0u32; nb];
        for w in 0..nb {
            let deps = &b.fwd_idx[b.fwd_ptr[w] as usize..b.fwd_ptr[w + 1] as usize];
            level[w] = deps.iter().map(|&c| level[block_of[c as usize]] + 1).max().unwrap_or(0);
        }
        let size = |w: usize| b.start[w + 1] - b.start[w];
        // (level, size) as one small integer, for the counting sort.
        let level_size_keys = |level: &[u32]| -> Vec<u32> {
            (0..nb).map(|w| level[w] * (Self::MAX as u32 + 1) + size(w)).collect()
        };
        let mut fwd_order: Vec<u32> = (0..nb as u32).collect();
        if nb <= Self::LEVEL_ORDER_MAX_BLOCKS {
            // Stable: blocks of one level and size stay in elimination order.
            fwd_order = by_small_key(&fwd_order, &level_size_keys(&level));
        }
        for w in (0..nb).rev() {
            let deps = &b.bwd_idx[b.bwd_ptr[w] as usize..b.bwd_ptr[w + 1] as usize];
            level[w] = deps.iter().map(|&r| level[block_of[r as usize]] + 1).max().unwrap_or(0);
        }
        let mut bwd_order: Vec<u32> = (0..nb as u32).rev().collect();
        if nb <= Self::LEVEL_ORDER_MAX_BLOCKS {
            bwd_order = by_small_key(&bwd_order, &level_size_keys(&level));
        }
        // A one-pivot block without shared columns (a leaf bus's single
        // phase) is the identity in the forward substitution: left out.
        fwd_order.retain(|&w| size(w as usize) > 1 || b.fwd_ptr[w as usize] < b.fwd_ptr[w as usize + 1]);
        (b.fwd_steps, b.fwd_runs) = Self::schedule(&b.start, &b.fwd_ptr, &b.fwd_val_ptr, &fwd_order);
        (b.bwd_steps, b.bwd_runs) = Self::schedule(&b.start, &b.bwd_ptr, &b.bwd_val_ptr, &bwd_order);
        b
    }

    /// Chooses each block's forward form from the values of the first
    /// factorisation (see `TRANSFORM_MAX_COUPLING`) and keeps it: the form
    /// changes only the rounding, and a fixed choice keeps the schedule.
    fn choose_forward_forms(&mut self) {
        let nb = self.start.len() - 1;
        let plain = (0..nb)
            .map(|w| {
                let g = (self.start[w + 1] - self.start[w]) as usize;
                let shared = (self.fwd_ptr[w + 1] - self.fwd_ptr[w]) as usize;
                let t0 = self.fwd_val_ptr[w] as usize + g * shared;
                let triangle = &self.fwd_val[t0..t0 + g * (g - 1) / 2];
                triangle.iter().any(|l| !(l.re.abs().max(l.im.abs()) <= Self::TRANSFORM_MAX_COUPLING))
            })
            .collect();
        self.set_forward_forms(plain);
    }

    /// Sets the blocks' forward forms (`fwd_plain`; a one-pivot block has
    /// no triangle, its two forms are one) and splits the forward runs where
    /// the form changes. The visiting order itself is kept.
    fn set_forward_forms(&mut self, mut plain: Vec<bool>) {
        for (w, p) in plain.iter_mut().enumerate() {
            *p &= self.start[w + 1] - self.start[w] > 1;
        }
        let mut runs: Vec<Run> = Vec::with_capacity(self.fwd_runs.len() + 4);
        for (k, s) in self.fwd_steps.iter().enumerate() {
            let w = self.block_of[s.j0()] as usize;
            let g = self.start[w + 1] - self.start[w];
            let kind = if plain[w] { g + Self::PLAIN_RUN } else { g };
            match runs.last_mut() {
                Some(run) if run.g == kind => run.end = k as u32 + 1,
                _ => runs.push(Run { g: kind, end: k as u32 + 1 }),
            }
        }
        self.fwd_runs = runs;
        self.fwd_plain = plain;
    }

    /// Block w's values as the substitutions read them (`fwd_pre`,
    /// `bwd_pre`), from L's (`fwd_val`, `bwd_val`). With T the block's unit
    /// lower triangle (T[t][u] = L'[j0 + t, j0 + u]):
    ///
    /// * forward, x_B = T⁻¹·b_B − Σ_c (T⁻¹·L'_Bc)·x_c: each shared column
    ///   holds T⁻¹·L'_Bc, the triangle N = I − T⁻¹ (so x_t = b_t − Σ_{u<t}
    ///   N[t][u]·b_u − …);
    /// * backward, x_B = Tᵀ⁻¹·(D'⁻¹ z)_B − Σ_r (Tᵀ⁻¹·L'_rBᵀ)·x_r: each shared
    ///   row holds Tᵀ⁻¹·L'_rBᵀ, the triangle at (u, t) Q[t][u] of
    ///   Q = I − Tᵀ⁻¹.
    ///
    /// Plain complex arithmetic (no fused operations in Rust): the same bits
    /// on every target. One-pivot blocks are copied unchanged.
    #[inline(always)]
    fn precompute_block(&mut self, w: usize) {
        // The block size as a constant: the small loops unroll.
        match self.start[w + 1] - self.start[w] {
            1 => self.precompute_sized::<1>(w),
            2 => self.precompute_sized::<2>(w),
            3 => self.precompute_sized::<3>(w),
            _ => self.precompute_sized::<4>(w),
        }
    }

    #[inline(always)]
    fn precompute_sized<const G: usize>(&mut self, w: usize) {
        let zero = C::new(0.0, 0.0);
        for forward in [true, false] {
            let (ptr, val_ptr, raw, pre) = if forward {
                (&self.fwd_ptr, &self.fwd_val_ptr, &self.fwd_val, &mut self.fwd_pre)
            } else {
                (&self.bwd_ptr, &self.bwd_val_ptr, &self.bwd_val, &mut self.bwd_pre)
            };
            let shared = (ptr[w + 1] - ptr[w]) as usize;
            let v = val_ptr[w] as usize;
            let len = G * shared + G * (G - 1) / 2;
            let (raw, pre) = (&raw[v..v + len], &mut pre[v..v + len]);
            if G == 1 {
                pre.copy_from_slice(raw);
                continue;
            }
            if forward && self.fwd_plain.get(w) == Some(&true) {
                continue; // read from `fwd_val`
            }
            let (raw_shared, raw_tri) = raw.split_at(G * shared);
            let (pre_shared, pre_tri) = pre.split_at_mut(G * shared);
            // T[t][u], t > u.
            let mut l = [[zero; G]; G];
            for t in 1..G {
                for u in 0..t {
                    l[t][u] = raw_tri[tri(t, u)];
                }
            }
            let mut m = [[zero; G]; G];
            if forward {
                // N[t][u] = T[t][u] − Σ_{u<k<t} T[t][k]·N[k][u]
                for t in 1..G {
                    for u in 0..t {
                        let mut a = l[t][u];
                        for k in u + 1..t {
                            a -= l[t][k] * m[k][u];
                        }
                        m[t][u] = a;
                        pre_tri[tri(t, u)] = a;
                    }
                }
                // T·y = L'_Bc by forward substitution.
                for (r, p) in raw_shared.chunks_exact(G).zip(pre_shared.chunks_exact_mut(G)) {
                    let mut y = [zero; G];
                    for t in 0..G {
                        let mut a = r[t];
                        for u in 0..t {
                            a -= l[t][u] * y[u];
                        }
                        y[t] = a;
                    }
                    p.copy_from_slice(&y);
                }
            } else {
                // Q[t][u] (stored at (u, t)) = T[u][t] − Σ_{t<k<u} T[k][t]·Q[k][u]
                for t in (0..G).rev() {
                    for u in t + 1..G {
                        let mut a = l[u][t];
                        for k in t + 1..u {
                            a -= l[k][t] * m[k][u];
                        }
                        m[t][u] = a;
                        pre_tri[tri(u, t)] = a;
                    }
                }
                // Tᵀ·y = L'_rBᵀ by backward substitution.
                for (r, p) in raw_shared.chunks_exact(G).zip(pre_shared.chunks_exact_mut(G)) {
                    let mut y = [zero; G];
                    for t in (0..G).rev() {
                        let mut a = r[t];
                        for u in t + 1..G {
                            a -= l[u][t] * y[u];
                        }
                        y[t] = a;
                    }
                    p.copy_from_slice(&y);
                }
            }
        }
    }

    /// [`Blocks::precompute_all`] compiled for AVX2 (the same IEEE
    /// operations: the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn precompute_all_avx2(&mut self) {
        self.precompute_all()
    }

    /// `precompute_block` for every block.
    #[inline(always)]
    fn precompute_all(&mut self) {
        if self.fwd_pre.len() != self.fwd_val.len() + 1 || self.bwd_pre.len() != self.bwd_val.len() + 1 {
            // First use: made here, not with the structure (see `Ldl::pre_ready`);
            // one value of padding for `simd::sub_shared_wide`.
            self.fwd_pre = vec![C::new(0.0, 0.0); self.fwd_val.len() + 1];
            self.bwd_pre = vec![C::new(0.0, 0.0); self.bwd_val.len() + 1];
        }
        for w in 0..self.start.len().saturating_sub(1) {
            self.precompute_block(w);
        }
    }

    /// `precompute_block` for the blocks of `pivots` (sorted): after a
    /// partial refactorisation of those columns — an entry of L'
    /// changes only in an affected column, and its row (an ancestor) is
    /// affected too, so no other block's values moved.
    #[inline(always)]
    fn precompute_pivots(&mut self, pivots: &[usize]) {
        let mut last = u32::MAX;
        for &j in pivots {
            let w = self.block_of[j];
            if w != last {
                last = w;
                self.precompute_block(w as usize);
            }
        }
    }

    /// The steps of the blocks in `order` (pointers `ptr`, `val_ptr`) and
    /// their runs of equal size.
    fn schedule(start: &[u32], ptr: &[u32], val_ptr: &[u32], order: &[u32]) -> (Vec<Step>, Vec<Run>) {
        let mut steps = Vec::with_capacity(order.len());
        let mut runs: Vec<Run> = Vec::new();
        for &w in order {
            let w = w as usize;
            let g = start[w + 1] - start[w];
            steps.push(Step { j0: start[w], i0: ptr[w], i1: ptr[w + 1], v: val_ptr[w] });
            match runs.last_mut() {
                Some(run) if run.g == g => run.end += 1,
                _ => runs.push(Run { g, end: steps.len() as u32 }),
            }
        }
        (steps, runs)
    }

    /// The visit's invariants (debug builds check them at every solve): the
    /// backward visit covers all `nb` blocks, the forward one all but the
    /// identity blocks, the runs end within their steps, in order, and have
    /// 1..=MAX pivots. The steps' pointers are `build`'s.
    fn checked_schedule(&self, nb: usize) -> bool {
        let ok = |steps: &[Step], runs: &[Run]| {
            runs.windows(2).all(|r| r[0].end < r[1].end)
                && runs.last().map_or(steps.is_empty(), |r| r.end as usize == steps.len())
                && runs.iter().all(|r| (1..=Self::MAX as u32).contains(&r.g) || (2 + Self::PLAIN_RUN..=Self::MAX as u32 + Self::PLAIN_RUN).contains(&r.g))
        };
        let identities = (0..nb).filter(|&w| self.start[w + 1] - self.start[w] == 1 && self.fwd_ptr[w] == self.fwd_ptr[w + 1]).count();
        let no_plain_backward = self.bwd_runs.iter().all(|r| r.g <= Self::MAX as u32);
        self.fwd_steps.len() + identities == nb && self.bwd_steps.len() == nb && ok(&self.fwd_steps, &self.fwd_runs) && ok(&self.bwd_steps, &self.bwd_runs) && no_plain_backward
    }
}

/// Inserts `x` into the sorted, repeat-free `v` unless it is there already.
#[inline]
fn insert_sorted_unique(v: &mut Vec<u32>, x: u32) {
    match v.last() {
        // Entries mostly come in increasing order: appended without a search.
        None => v.push(x),
        Some(&last) if last < x => v.push(x),
        _ => {
            if let Err(at) = v.binary_search(&x) {
                v.insert(at, x);
            }
        }
    }
}

/// `order` stably sorted by `key` of its entries — what `sort_by_key`
/// gives — as a counting sort: keys are small integers (a block's level and
/// size, at most (MAX + 1) × the number of blocks), and a comparison sort of
/// a feeder's blocks was about a tenth of the factor's structure build.
fn by_small_key(order: &[u32], key: &[u32]) -> Vec<u32> {
    let nkeys = order.iter().map(|&w| key[w as usize] as usize + 1).max().unwrap_or(0);
    let mut start = vec![0u32; nkeys + 1];
    for &w in order {
        start[key[w as usize] as usize + 1] += 1;
    }
    for l in 0..nkeys {
        start[l + 1] += start[l];
    }
    let mut sorted = vec![0u32; order.len()];
    for &w in order {
        let slot = &mut start[key[w as usize] as usize];
        sorted[*slot as usize] = w;
        *slot += 1;
    }
    sorted
}

/// Forward (L'·z = b) and backward (L'ᵀ·x = D'⁻¹·z, the diagonal folded in)
/// substitution, block by block ([`Blocks`]).
#[inline(always)]
fn substitutions<M: Mac>(ldl: &Ldl, x: &mut [C]) {
    let n = ldl.n;
    let x = &mut x[..n];
    let b = &ldl.blocks;
    let nb = b.start.len() - 1;
    assert!(b.start[nb] as usize == n && ldl.d_inv_solve.len() == n);
    assert!(b.fwd_ptr.len() == nb + 1 && b.bwd_ptr.len() == nb + 1 && b.fwd_val_ptr.len() == nb && b.bwd_val_ptr.len() == nb);
    // SAFETY (every unchecked access, here and in the block kernels): the
    // block arrays were built together by `Blocks::build` from L's structure
    // — pointers monotone and within their arrays, shared indices < n,
    // blocks of 1..=MAX pivots covering 0..n — and are only ever rewritten
    // value by value.
    debug_assert!(b.checked_schedule(nb));
    assert!(!ldl.pre_ready || (b.fwd_pre.len() == b.fwd_val.len() + 1 && b.bwd_pre.len() == b.bwd_val.len() + 1));
    let d = &ldl.d_inv_solve;
    unsafe {
        if !ldl.pre_ready {
            // L's own form throughout (see `Ldl::pre_ready`).
            visit_runs!(b.fwd_runs, b.fwd_steps, |s| forward_block_plain::<M, 1>(b, s, x), forward_block_plain::<M, 2>(b, s, x), forward_block_plain::<M, 3>(b, s, x), forward_block_plain::<M, 4>(b, s, x));
            visit_runs!(b.bwd_runs, b.bwd_steps, |s| backward_block_plain::<M, 1>(b, d, s, x), backward_block_plain::<M, 2>(b, d, s, x), backward_block_plain::<M, 3>(b, d, s, x), backward_block_plain::<M, 4>(b, d, s, x));
            return;
        }
        visit_runs!(
            b.fwd_runs,
            b.fwd_steps,
            |s| forward_block::<M, 1>(b, s, x),
            forward_block::<M, 2>(b, s, x),
            forward_block::<M, 3>(b, s, x),
            forward_block::<M, 4>(b, s, x);
            forward_block_plain::<M, 2>(b, s, x),
            forward_block_plain::<M, 3>(b, s, x),
            forward_block_plain::<M, 4>(b, s, x)
        );
        visit_runs!(b.bwd_runs, b.bwd_steps, |s| backward_block::<M, 1>(b, d, s, x), backward_block::<M, 2>(b, d, s, x), backward_block::<M, 3>(b, d, s, x), backward_block::<M, 4>(b, d, s, x));
    }
}

/// Runs each step of each run through the kernel of the run's size (the
/// size dispatched once per run). A macro, not a function taking closures:
/// closures would not inherit the caller's target features. The kernels
/// are unsafe: see [`substitutions`] (and `Blocks::checked_schedule`).
macro_rules! visit_runs {
    ($runs:expr, $steps:expr, |$s:ident| $k1:expr, $k2:expr, $k3:expr, $k4:expr) => {
        visit_runs!($runs, $steps, |$s| $k1, $k2, $k3, $k4; $k2, $k3, $k4)
    };
    // With the plain forward kernels of runs g + `Blocks::PLAIN_RUN` (6, 7, 8).
    ($runs:expr, $steps:expr, |$s:ident| $k1:expr, $k2:expr, $k3:expr, $k4:expr; $p2:expr, $p3:expr, $p4:expr) => {{
        let mut at = 0usize;
        for run in $runs.iter() {
            let end = run.end as usize;
            let steps = &$steps[at..end]; // one bounds check per run
            at = end;
            match run.g {
                1 => {
                    for $s in steps {
                        $k1
                    }
                }
                2 => {
                    for $s in steps {
                        $k2
                    }
                }
                3 => {
                    for $s in steps {
                        $k3
                    }
                }
                4 => {
                    for $s in steps {
                        $k4
                    }
                }
                6 => {
                    for $s in steps {
                        $p2
                    }
                }
                7 => {
                    for $s in steps {
                        $p3
                    }
                }
                _ => {
                    for $s in steps {
                        $p4
                    }
                }
            }
        }
    }};
}
use visit_runs;
const _: () = assert!(Blocks::PLAIN_RUN == 4, "visit_runs! matches the plain runs as 6, 7, 8");

/// Subtracts one block's shared columns (forward) or rows (backward) from its
/// accumulators, acc[t] −= vals[v + k·G + t]·x[idx[k]] for k in i0..i1 in
/// order, two per pass (half the loop overhead; each accumulator still takes
/// them one after the other). Returns the value offset after them. Unsafe:
/// see [`substitutions`].
#[inline(always)]
unsafe fn sub_shared_scalar<M: Mac, const G: usize>(acc: &mut [M::Acc; G], idx: &[u32], vals: &[C], s: &Step, x: &[C]) -> usize {
    let mut v = s.v();
    let (mut k, end) = (s.i0 as usize, s.i1 as usize);
    while k + 1 < end {
        let xc = x.get_unchecked(*idx.get_unchecked(k) as usize);
        let xd = x.get_unchecked(*idx.get_unchecked(k + 1) as usize);
        for (t, a) in acc.iter_mut().enumerate() {
            *a = M::sub_mul(M::sub_mul(*a, vals.get_unchecked(v + t), xc), vals.get_unchecked(v + G + t), xd);
        }
        v += 2 * G;
        k += 2;
    }
    if k < end {
        let xc = x.get_unchecked(*idx.get_unchecked(k) as usize);
        for (t, a) in acc.iter_mut().enumerate() {
            *a = M::sub_mul(*a, vals.get_unchecked(v + t), xc);
        }
        v += G;
    }
    v
}

/// Rows j0..j0+G of the forward substitution (one block), from the values
/// of `Blocks::precompute_block`: x_t = b_t − Σ_{u<t} N[t][u]·b_u, then
/// minus the shared columns in order. Unsafe: see [`substitutions`].
#[inline(always)]
unsafe fn forward_block<M: Mac, const G: usize>(b: &Blocks, s: &Step, x: &mut [C]) {
    let j0 = s.j0();
    let vals = &b.fwd_pre;
    let t0 = s.v() + (s.i1 - s.i0) as usize * G;
    // The triangle on the block's own right-hand side (not yet overwritten).
    let mut acc = [M::zero(); G];
    for (t, a) in acc.iter_mut().enumerate() {
        *a = M::load(x.get_unchecked(j0 + t));
        for u in 0..t {
            *a = M::sub_mul(*a, vals.get_unchecked(t0 + tri(t, u)), x.get_unchecked(j0 + u));
        }
    }
    sub_shared_scalar::<M, G>(&mut acc, &b.fwd_idx, vals, s, x);
    for (t, a) in acc.iter().enumerate() {
        M::store(*a, x.get_unchecked_mut(j0 + t));
    }
}

/// Rows j0..j0+G of the forward substitution (one block) in L's own form
/// (`Blocks::fwd_plain`): the shared columns, then the triangle. Unsafe:
/// see [`substitutions`].
#[inline(always)]
unsafe fn forward_block_plain<M: Mac, const G: usize>(b: &Blocks, s: &Step, x: &mut [C]) {
    let j0 = s.j0();
    let mut acc = [M::zero(); G];
    for (t, a) in acc.iter_mut().enumerate() {
        *a = M::load(x.get_unchecked(j0 + t));
    }
    let v = sub_shared_scalar::<M, G>(&mut acc, &b.fwd_idx, &b.fwd_val, s, x);
    for t in 0..G {
        let mut a = acc[t];
        for u in 0..t {
            a = M::sub_mul(a, b.fwd_val.get_unchecked(v + tri(t, u)), x.get_unchecked(j0 + u));
        }
        M::store(a, x.get_unchecked_mut(j0 + t));
    }
}

/// Columns j0..j0+G of the backward substitution (one block), from the
/// values of `Blocks::precompute_block`: with y = D'⁻¹·z on the block,
/// x_t = y_t − Σ_{u>t} Q[t][u]·y_u, then minus the shared rows in order.
/// Unsafe: see [`substitutions`].
#[inline(always)]
unsafe fn backward_block<M: Mac, const G: usize>(b: &Blocks, d_inv: &[C], s: &Step, x: &mut [C]) {
    let j0 = s.j0();
    let vals = &b.bwd_pre;
    let t0 = s.v() + (s.i1 - s.i0) as usize * G;
    let mut y = [C::new(0.0, 0.0); G];
    for (t, y) in y.iter_mut().enumerate() {
        M::store(M::mul(x.get_unchecked(j0 + t), d_inv.get_unchecked(j0 + t)), y);
    }
    let mut acc = [M::zero(); G];
    for (t, a) in acc.iter_mut().enumerate() {
        *a = M::load(&y[t]);
        for u in t + 1..G {
            *a = M::sub_mul(*a, vals.get_unchecked(t0 + tri(u, t)), &y[u]);
        }
    }
    sub_shared_scalar::<M, G>(&mut acc, &b.bwd_idx, vals, s, x);
    for (t, a) in acc.iter().enumerate() {
        M::store(*a, x.get_unchecked_mut(j0 + t));
    }
}

/// Columns j0..j0+G of the backward substitution (one block) in L's own
/// form: the shared rows, then the triangle. Unsafe: see [`substitutions`].
#[inline(always)]
unsafe fn backward_block_plain<M: Mac, const G: usize>(b: &Blocks, d_inv: &[C], s: &Step, x: &mut [C]) {
    let j0 = s.j0();
    let mut acc = [M::zero(); G];
    for (t, a) in acc.iter_mut().enumerate() {
        *a = M::mul(x.get_unchecked(j0 + t), d_inv.get_unchecked(j0 + t));
    }
    let v = sub_shared_scalar::<M, G>(&mut acc, &b.bwd_idx, &b.bwd_val, s, x);
    for t in (0..G).rev() {
        let mut a = acc[t];
        for u in t + 1..G {
            a = M::sub_mul(a, b.bwd_val.get_unchecked(v + tri(u, t)), x.get_unchecked(j0 + u));
        }
        M::store(a, x.get_unchecked_mut(j0 + t));
    }
}

/// The substitutions on SSE3 (`addsub`): one complex multiply-subtract in six
/// vector instructions instead of a dozen scalar ones, same bits.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{substitutions, Ldl, Mac, C};
    use std::arch::x86_64::*;

    struct Sse3Mac;

    impl Mac for Sse3Mac {
        type Acc = __m128d;
        #[inline(always)]
        fn load(c: &C) -> __m128d {
            // SAFETY: C is #[repr(C)] {re, im}: two contiguous f64.
            unsafe { _mm_loadu_pd(c as *const C as *const f64) }
        }
        #[inline(always)]
        fn zero() -> __m128d {
            unsafe { _mm_setzero_pd() }
        }
        #[inline(always)]
        fn mul(a: &C, b: &C) -> __m128d {
            // [b.re·a.re − b.im·a.im, b.re·a.im + b.im·a.re]: the products
            // and sums of a·b (IEEE products and sums commute: the same bits).
            // b's parts are broadcast by loads and a is swapped as it is
            // loaded, so a's value needs no shuffle of its own.
            unsafe {
                let av = Self::load(a);
                let a_swapped = _mm_shuffle_pd::<0b01>(av, av);
                let re = _mm_loaddup_pd(&b.re);
                let im = _mm_loaddup_pd(&b.im);
                _mm_addsub_pd(_mm_mul_pd(re, av), _mm_mul_pd(im, a_swapped))
            }
        }
        #[inline(always)]
        fn sub_mul(acc: __m128d, l: &C, x: &C) -> __m128d {
            unsafe { _mm_sub_pd(acc, Self::mul(l, x)) }
        }
        #[inline(always)]
        fn store(acc: __m128d, out: &mut C) {
            // SAFETY: as in `load`.
            unsafe { _mm_storeu_pd(out as *mut C as *mut f64, acc) }
        }
    }

    /// # Safety
    /// The CPU must support SSE3.
    #[target_feature(enable = "sse3")]
    pub(super) unsafe fn solve_sse3(ldl: &Ldl, x: &mut [C]) {
        substitutions::<Sse3Mac>(ldl, x);
    }

    // AVX2: a block's rows (forward) or columns (backward) two by two in one
    // 256-bit register — two complex multiply-subtracts per six instructions,
    // lane by lane the very operations of `Sse3Mac` (same bits). One-pivot
    // blocks keep the SSE3 kernel.

    /// `l · xv` for one complex in a register, as `Sse3Mac::mul`.
    #[inline(always)]
    unsafe fn mul1(l: *const C, xv: __m128d) -> __m128d {
        let re = _mm_loaddup_pd(l as *const f64);
        let im = _mm_loaddup_pd((l as *const f64).add(1));
        _mm_addsub_pd(_mm_mul_pd(re, xv), _mm_mul_pd(im, _mm_shuffle_pd::<0b01>(xv, xv)))
    }

    /// `l[0..2] · x` with x's parts broadcast (`xre`, `xim`): per lane
    /// [x.re·l.re − x.im·l.im, x.re·l.im + x.im·l.re] — the products and
    /// sums of `Sse3Mac::mul` (IEEE products and sums commute: the same bits), with
    /// l swapped as it is loaded instead of two shuffles of it.
    #[inline(always)]
    unsafe fn mul2b(l: *const C, xre: __m256d, xim: __m256d) -> __m256d {
        let lv = _mm256_loadu_pd(l as *const f64);
        let ls = _mm256_permute_pd::<0b0101>(lv);
        _mm256_addsub_pd(_mm256_mul_pd(xre, lv), _mm256_mul_pd(xim, ls))
    }

    /// `l · x` for one complex, x's parts broadcast, as `mul2b` per lane.
    #[inline(always)]
    unsafe fn mul1b(l: *const C, xre: __m128d, xim: __m128d) -> __m128d {
        let lv = _mm_loadu_pd(l as *const f64);
        let ls = _mm_permute_pd::<0b01>(lv);
        _mm_addsub_pd(_mm_mul_pd(xre, lv), _mm_mul_pd(xim, ls))
    }

    /// The shared columns (forward, `idx` = `fwd_idx`) or rows (backward,
    /// `bwd_idx`) of step `s`, in order, two per pass (half the loop
    /// overhead); returns the offset of the block's own triangle in `vals`.
    #[inline(always)]
    unsafe fn sub_shared<const G: usize>(
        idx: &[u32],
        s: &super::Step,
        vals: *const C,
        xp: *const C,
        a01: &mut __m256d,
        a23: &mut __m256d,
        a2: &mut __m128d,
    ) -> usize {
        let mut v = s.v();
        let (mut k, end) = (s.i0 as usize, s.i1 as usize);
        while k + 1 < end {
            let xc = xp.add(*idx.get_unchecked(k) as usize);
            let xd = xp.add(*idx.get_unchecked(k + 1) as usize);
            sub_column::<G>(a01, a23, a2, vals.add(v), xc);
            sub_column::<G>(a01, a23, a2, vals.add(v + G), xd);
            v += 2 * G;
            k += 2;
        }
        if k < end {
            let xc = xp.add(*idx.get_unchecked(k) as usize);
            sub_column::<G>(a01, a23, a2, vals.add(v), xc);
            v += G;
        }
        v
    }

    /// `sub_shared` for the precomputed values (`fwd_pre`, `bwd_pre`): a
    /// three-pivot block's third row (column) goes in the low lanes of a
    /// 256-bit accumulator, the high lanes taking the value after it (of no
    /// use, never stored; the arrays hold one value of padding at the end) —
    /// every product then uses x's parts broadcast from memory, without
    /// 128-bit copies of them (two instructions fewer per shared column).
    #[inline(always)]
    unsafe fn sub_shared_wide<const G: usize>(idx: &[u32], s: &super::Step, vals: *const C, xp: *const C, a01: &mut __m256d, a23: &mut __m256d) {
        let mut v = s.v();
        let (mut k, end) = (s.i0 as usize, s.i1 as usize);
        while k + 1 < end {
            let xc = xp.add(*idx.get_unchecked(k) as usize);
            let xd = xp.add(*idx.get_unchecked(k + 1) as usize);
            sub_column_wide::<G>(a01, a23, vals.add(v), xc);
            sub_column_wide::<G>(a01, a23, vals.add(v + G), xd);
            v += 2 * G;
            k += 2;
        }
        if k < end {
            let xc = xp.add(*idx.get_unchecked(k) as usize);
            sub_column_wide::<G>(a01, a23, vals.add(v), xc);
        }
    }

    /// As `sub_column`, a three-pivot block's third value in `a23`'s low lanes.
    #[inline(always)]
    unsafe fn sub_column_wide<const G: usize>(a01: &mut __m256d, a23: &mut __m256d, l: *const C, x: *const C) {
        let xre = _mm256_broadcast_sd(&(*x).re);
        let xim = _mm256_broadcast_sd(&(*x).im);
        *a01 = _mm256_sub_pd(*a01, mul2b(l, xre, xim));
        if G >= 3 {
            *a23 = _mm256_sub_pd(*a23, mul2b(l.add(2), xre, xim));
        }
    }

    /// One shared column (forward) or row (backward) of a block of G ≥ 2
    /// pivots: its G values from `l`, x's parts broadcast.
    #[inline(always)]
    unsafe fn sub_column<const G: usize>(a01: &mut __m256d, a23: &mut __m256d, a2: &mut __m128d, l: *const C, x: *const C) {
        let xre = _mm256_broadcast_sd(&(*x).re);
        let xim = _mm256_broadcast_sd(&(*x).im);
        *a01 = _mm256_sub_pd(*a01, mul2b(l, xre, xim));
        if G == 4 {
            *a23 = _mm256_sub_pd(*a23, mul2b(l.add(2), xre, xim));
        }
        if G == 3 {
            *a2 = _mm_sub_pd(*a2, mul1b(l.add(2), _mm256_castpd256_pd128(xre), _mm256_castpd256_pd128(xim)));
        }
    }

    /// Rows j0..j0+G (2 ≤ G ≤ 4) of the forward substitution, as
    /// `super::forward_block` lane by lane. Unsafe: see [`substitutions`].
    #[inline(always)]
    unsafe fn forward_block_avx<const G: usize>(b: &super::Blocks, s: &super::Step, x: &mut [C]) {
        let j0 = s.j0();
        let xp = x.as_mut_ptr();
        let vals = b.fwd_pre.as_ptr();
        let t0 = s.v() + (s.i1 - s.i0) as usize * G;
        // The block's right-hand side and the triangle on it: off the chain
        // through the blocks before (they write other entries of x).
        let b01 = _mm256_loadu_pd(xp.add(j0) as *const f64);
        let b23 = if G == 4 { _mm256_loadu_pd(xp.add(j0 + 2) as *const f64) } else { _mm256_setzero_pd() };
        let rhs = [
            _mm256_castpd256_pd128(b01),
            _mm256_extractf128_pd::<1>(b01),
            if G == 3 { _mm_loadu_pd(xp.add(j0 + 2) as *const f64) } else { _mm256_castpd256_pd128(b23) },
            _mm256_extractf128_pd::<1>(b23),
        ];
        let mut acc = rhs;
        for t in 1..G {
            for u in 0..t {
                acc[t] = _mm_sub_pd(acc[t], mul1(vals.add(t0 + super::tri(t, u)), rhs[u]));
            }
        }
        let mut a01 = _mm256_set_m128d(acc[1], acc[0]);
        let mut a23 = _mm256_set_m128d(acc[3], acc[2]);
        sub_shared_wide::<G>(&b.fwd_idx, s, vals, xp, &mut a01, &mut a23);
        _mm256_storeu_pd(xp.add(j0) as *mut f64, a01);
        if G == 4 {
            _mm256_storeu_pd(xp.add(j0 + 2) as *mut f64, a23);
        }
        if G == 3 {
            _mm_storeu_pd(xp.add(j0 + 2) as *mut f64, _mm256_castpd256_pd128(a23));
        }
    }

    /// A block's G ≤ 4 accumulators as four 128-bit values.
    #[inline(always)]
    unsafe fn lanes<const G: usize>(a01: __m256d, a23: __m256d, a2: __m128d) -> [__m128d; 4] {
        // (No closures here: they would not inherit the caller's target features.)
        [
            _mm256_castpd256_pd128(a01),
            _mm256_extractf128_pd::<1>(a01),
            if G == 3 { a2 } else { _mm256_castpd256_pd128(a23) },
            _mm256_extractf128_pd::<1>(a23),
        ]
    }

    /// Rows j0..j0+G (2 ≤ G ≤ 4) of the forward substitution in L's own
    /// form, as `super::forward_block_plain` lane by lane. Unsafe: see
    /// [`substitutions`].
    #[inline(always)]
    unsafe fn forward_block_avx_plain<const G: usize>(b: &super::Blocks, s: &super::Step, x: &mut [C]) {
        let j0 = s.j0();
        let xp = x.as_mut_ptr();
        let vals = b.fwd_val.as_ptr();
        let mut a01 = _mm256_loadu_pd(xp.add(j0) as *const f64);
        let mut a23 = if G == 4 { _mm256_loadu_pd(xp.add(j0 + 2) as *const f64) } else { _mm256_setzero_pd() };
        let mut a2 = if G == 3 { _mm_loadu_pd(xp.add(j0 + 2) as *const f64) } else { _mm_setzero_pd() };
        let v = sub_shared::<G>(&b.fwd_idx, s, vals, xp, &mut a01, &mut a23, &mut a2);
        let mut acc = lanes::<G>(a01, a23, a2);
        for t in 0..G {
            let mut a = acc[t];
            for u in 0..t {
                a = _mm_sub_pd(a, mul1(vals.add(v + super::tri(t, u)), acc[u]));
            }
            acc[t] = a;
            _mm_storeu_pd(xp.add(j0 + t) as *mut f64, a);
        }
    }

    /// x[0..2]·d⁻¹[0..2] per lane, as `Sse3Mac::mul(x, d⁻¹)`.
    #[inline(always)]
    unsafe fn scaled2(x: *const C, d_inv: *const C) -> __m256d {
        let xv = _mm256_loadu_pd(x as *const f64);
        let dv = _mm256_loadu_pd(d_inv as *const f64);
        let re = _mm256_movedup_pd(xv);
        let im = _mm256_permute_pd::<0b1111>(xv);
        _mm256_addsub_pd(_mm256_mul_pd(re, dv), _mm256_mul_pd(im, _mm256_permute_pd::<0b0101>(dv)))
    }

    /// Columns j0..j0+G (2 ≤ G ≤ 4) of the backward substitution, as
    /// `super::backward_block` lane by lane. Unsafe: see [`substitutions`].
    #[inline(always)]
    unsafe fn backward_block_avx<const G: usize>(b: &super::Blocks, d_inv: &[C], s: &super::Step, x: &mut [C]) {
        let j0 = s.j0();
        let xp = x.as_mut_ptr();
        let dp = d_inv.as_ptr();
        let vals = b.bwd_pre.as_ptr();
        let t0 = s.v() + (s.i1 - s.i0) as usize * G;
        let y01 = scaled2(xp.add(j0), dp.add(j0));
        let y23 = if G == 4 { scaled2(xp.add(j0 + 2), dp.add(j0 + 2)) } else { _mm256_setzero_pd() };
        let y2 = if G == 3 {
            let xv = _mm_loadu_pd(xp.add(j0 + 2) as *const f64);
            let dv = _mm_loadu_pd(dp.add(j0 + 2) as *const f64);
            let re = _mm_movedup_pd(xv);
            let im = _mm_unpackhi_pd(xv, xv);
            _mm_addsub_pd(_mm_mul_pd(re, dv), _mm_mul_pd(im, _mm_shuffle_pd::<0b01>(dv, dv)))
        } else {
            _mm256_castpd256_pd128(y23)
        };
        let y = [_mm256_castpd256_pd128(y01), _mm256_extractf128_pd::<1>(y01), y2, _mm256_extractf128_pd::<1>(y23)];
        let mut acc = y;
        for t in 0..G - 1 {
            for u in t + 1..G {
                acc[t] = _mm_sub_pd(acc[t], mul1(vals.add(t0 + super::tri(u, t)), y[u]));
            }
        }
        let mut a01 = _mm256_set_m128d(acc[1], acc[0]);
        let mut a23 = _mm256_set_m128d(acc[3], acc[2]);
        sub_shared_wide::<G>(&b.bwd_idx, s, vals, xp, &mut a01, &mut a23);
        _mm256_storeu_pd(xp.add(j0) as *mut f64, a01);
        if G == 4 {
            _mm256_storeu_pd(xp.add(j0 + 2) as *mut f64, a23);
        }
        if G == 3 {
            _mm_storeu_pd(xp.add(j0 + 2) as *mut f64, _mm256_castpd256_pd128(a23));
        }
    }

    /// Columns j0..j0+G (2 ≤ G ≤ 4) of the backward substitution in L's
    /// own form, as `super::backward_block_plain` lane by lane. Unsafe: see
    /// [`substitutions`].
    #[inline(always)]
    unsafe fn backward_block_avx_plain<const G: usize>(b: &super::Blocks, d_inv: &[C], s: &super::Step, x: &mut [C]) {
        let j0 = s.j0();
        let xp = x.as_mut_ptr();
        let dp = d_inv.as_ptr();
        let vals = b.bwd_val.as_ptr();
        let mut a01 = scaled2(xp.add(j0), dp.add(j0));
        let mut a23 = if G == 4 { scaled2(xp.add(j0 + 2), dp.add(j0 + 2)) } else { _mm256_setzero_pd() };
        let mut a2 = if G == 3 {
            let xv = _mm_loadu_pd(xp.add(j0 + 2) as *const f64);
            let dv = _mm_loadu_pd(dp.add(j0 + 2) as *const f64);
            let re = _mm_movedup_pd(xv);
            let im = _mm_unpackhi_pd(xv, xv);
            _mm_addsub_pd(_mm_mul_pd(re, dv), _mm_mul_pd(im, _mm_shuffle_pd::<0b01>(dv, dv)))
        } else {
            _mm_setzero_pd()
        };
        let v = sub_shared::<G>(&b.bwd_idx, s, vals, xp, &mut a01, &mut a23, &mut a2);
        let mut acc = lanes::<G>(a01, a23, a2);
        for t in (0..G).rev() {
            let mut a = acc[t];
            for u in t + 1..G {
                a = _mm_sub_pd(a, mul1(vals.add(v + super::tri(u, t)), acc[u]));
            }
            acc[t] = a;
            _mm_storeu_pd(xp.add(j0 + t) as *mut f64, a);
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn solve_avx2(ldl: &Ldl, x: &mut [C]) {
        let n = ldl.n;
        let x = &mut x[..n];
        let b = &ldl.blocks;
        let nb = b.start.len() - 1;
        assert!(b.start[nb] as usize == n && ldl.d_inv_solve.len() == n);
        assert!(b.fwd_ptr.len() == nb + 1 && b.bwd_ptr.len() == nb + 1 && b.fwd_val_ptr.len() == nb && b.bwd_val_ptr.len() == nb);
        debug_assert!(b.checked_schedule(nb));
        let d = &ldl.d_inv_solve;
        // SAFETY: as in `substitutions`.
        if !ldl.pre_ready {
            // L's own form throughout (see `Ldl::pre_ready`).
            visit_runs!(
                b.fwd_runs,
                b.fwd_steps,
                |s| super::forward_block_plain::<Sse3Mac, 1>(b, s, x),
                forward_block_avx_plain::<2>(b, s, x),
                forward_block_avx_plain::<3>(b, s, x),
                forward_block_avx_plain::<4>(b, s, x)
            );
            visit_runs!(
                b.bwd_runs,
                b.bwd_steps,
                |s| super::backward_block_plain::<Sse3Mac, 1>(b, d, s, x),
                backward_block_avx_plain::<2>(b, d, s, x),
                backward_block_avx_plain::<3>(b, d, s, x),
                backward_block_avx_plain::<4>(b, d, s, x)
            );
            return;
        }
        // SAFETY (`sub_shared_wide` reads one value past a block's last):
        // the arrays' padding value.
        assert!(b.fwd_pre.len() == b.fwd_val.len() + 1 && b.bwd_pre.len() == b.bwd_val.len() + 1);
        visit_runs!(
            b.fwd_runs,
            b.fwd_steps,
            |s| super::forward_block::<Sse3Mac, 1>(b, s, x),
            forward_block_avx::<2>(b, s, x),
            forward_block_avx::<3>(b, s, x),
            forward_block_avx::<4>(b, s, x);
            forward_block_avx_plain::<2>(b, s, x),
            forward_block_avx_plain::<3>(b, s, x),
            forward_block_avx_plain::<4>(b, s, x)
        );
        visit_runs!(
            b.bwd_runs,
            b.bwd_steps,
            |s| super::backward_block::<Sse3Mac, 1>(b, d, s, x),
            backward_block_avx::<2>(b, d, s, x),
            backward_block_avx::<3>(b, d, s, x),
            backward_block_avx::<4>(b, d, s, x)
        );
    }
}

/// A fill-reducing elimination order for LDLᵀ: AMD, then a postorder of
/// the elimination tree (same fill, but every subtree becomes contiguous,
/// which keeps large solves cache-friendly). `order[k]` = original index of
/// the k-th pivot.
pub fn fill_reducing_order(p: &Pattern) -> Result<Vec<usize>, SparseError> {
    let n = p.n;
    let mut perm = vec![0usize; n];
    let mut pinv = vec![0usize; n];
    if n == 0 {
        return Ok(perm);
    }
    let sym = SymbolicSparseColMatRef::new_checked(n, n, &p.col_ptr, None, &p.row_idx);
    let req = faer::sparse::linalg::amd::order_scratch::<usize>(n, p.nnz());
    let mut mem = MemBuffer::new(req);
    faer::sparse::linalg::amd::order(&mut perm, &mut pinv, sym, Default::default(), MemStack::new(&mut mem))
        .map_err(|e| SparseError::Solver(format!("AMD ordering: {e:?}")))?;
    let parent = etree(p, &perm, &pinv);
    let post = postorder(&parent);
    Ok(post.iter().map(|&k| perm[k]).collect())
}

/// Elimination tree of the permuted matrix (parent of each pivot, NONE at roots).
fn etree(p: &Pattern, perm: &[usize], pinv: &[usize]) -> Vec<usize> {
    let n = p.n;
    let mut parent = vec![NONE; n];
    let mut ancestor = vec![NONE; n];
    for k in 0..n {
        let kk = perm[k];
        for q in p.col_ptr[kk]..p.col_ptr[kk + 1] {
            let mut i = pinv[p.row_idx[q]];
            // Walk up from i to the root of its current subtree, compressing the path.
            while i != NONE && i < k {
                let next = ancestor[i];
                ancestor[i] = k;
                if next == NONE {
                    parent[i] = k;
                    break;
                }
                i = next;
            }
        }
    }
    parent
}

/// Postorder of a forest given by parent pointers: post[k] = k-th node visited.
fn postorder(parent: &[usize]) -> Vec<usize> {
    let n = parent.len();
    // Children lists (kept in increasing order).
    let mut head = vec![NONE; n];
    let mut next = vec![NONE; n];
    for j in (0..n).rev() {
        if parent[j] != NONE {
            next[j] = head[parent[j]];
            head[parent[j]] = j;
        }
    }
    let mut post = Vec::with_capacity(n);
    let mut stack = Vec::new();
    for root in 0..n {
        if parent[root] != NONE {
            continue;
        }
        stack.push(root);
        while let Some(&top) = stack.last() {
            let child = head[top];
            if child == NONE {
                stack.pop();
                post.push(top);
            } else {
                head[top] = next[child];
                stack.push(child);
            }
        }
    }
    post
}

#[derive(Debug, Clone)]
enum Backend {
    Ldl(Box<Ldl>),
    Lu(Box<FaerLu>),
}

/// Factorisation of the system Y: LDLᵀ when symmetric, faer's LU otherwise.
#[derive(Debug, Clone)]
pub struct SparseLu {
    pattern: Pattern,
    /// Position of the transposed entry of each value (for the symmetry
    /// test; empty until the first test).
    transpose_pos: Vec<u32>,
    backend: Backend,
    /// Symmetric diagonal scaling D (A' = D·A·D): entries spanning many
    /// orders of magnitude (a 1e7 S switch next to a 1e-6 S load) then factor
    /// accurately. Solutions are x = D·y with A'·y = D·b.
    scale: Vec<f64>,
    scaled: Vec<C>,
    factored: bool,
    /// Set by `factor_symmetric` for one factorisation: skip the symmetry test.
    trust_symmetry: bool,
}

impl SparseLu {
    /// Symbolic analysis of `pattern` (which must be structurally symmetric
    /// for the LDLᵀ path; otherwise faer's LU is used).
    pub fn analyse(pattern: Pattern) -> Result<Self, SparseError> {
        Self::analyse_with(pattern, false, None)
    }

    /// As [`SparseLu::analyse`] for a pattern already numbered in
    /// [`fill_reducing_order`] (no reordering).
    pub fn analyse_natural(pattern: Pattern) -> Result<Self, SparseError> {
        Self::analyse_with(pattern, true, None)
    }

    /// As [`SparseLu::analyse_natural`] for a pattern symmetric by
    /// construction ([`Pattern::from_cliques`], or one permuted): no
    /// symmetry test of the pattern (checked in debug builds).
    pub fn analyse_natural_symmetric(pattern: Pattern) -> Result<Self, SparseError> {
        debug_assert!(pattern.is_symmetric(), "the pattern is symmetric by construction");
        Self::analyse_with(pattern, true, Some(true))
    }

    /// `symmetric`: whether the pattern is known to be symmetric (None: test it).
    fn analyse_with(pattern: Pattern, natural: bool, symmetric: Option<bool>) -> Result<Self, SparseError> {
        // The transpose positions serve only the symmetry test of values not
        // known to be symmetric: made at the first such test.
        let symmetric = symmetric.unwrap_or_else(|| pattern.is_symmetric());
        let backend = if symmetric {
            Backend::Ldl(Box::new(Ldl::analyse(&pattern, natural)?))
        } else {
            Backend::Lu(Box::new(FaerLu::analyse(pattern.clone())?))
        };
        Ok(SparseLu {
            pattern,
            transpose_pos: Vec::new(),
            backend,
            scale: Vec::new(),
            scaled: Vec::new(),
            factored: false,
            trust_symmetry: false,
        })
    }

    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// (order, non-zeros of A, non-zeros of the factor L (LDLᵀ) or 0 for LU).
    pub fn stats(&self) -> (usize, usize, usize) {
        let l = match &self.backend {
            Backend::Ldl(ldl) => ldl.lp[ldl.n],
            Backend::Lu(_) => 0,
        };
        (self.pattern.n, self.pattern.nnz(), l)
    }

    /// True while the LDLᵀ path is in use.
    pub fn is_ldl(&self) -> bool {
        matches!(self.backend, Backend::Ldl(_))
    }

    /// As [`SparseLu::factor`] for values the caller knows to be symmetric
    /// (skips the O(nnz) symmetry test).
    pub fn factor_symmetric(&mut self, values: &[C]) -> Result<(), SparseError> {
        self.trust_symmetry = true;
        self.factor(values)
    }

    /// Refactorisation after a change of the (symmetric) values in the given
    /// columns only — their rows change with them — such as one
    /// transformer's Yprim after a tap move: recomputes just those columns of
    /// L and their elimination-tree ancestors (on a feeder, a path towards
    /// the root), keeping the scaling of the last full factorisation. Falls
    /// back to [`SparseLu::factor`] when there is no LDLᵀ factor to update.
    pub fn refactor_columns(&mut self, values: &[C], columns: &[usize]) -> Result<(), SparseError> {
        let ready = self.factored
            && values.len() == self.pattern.nnz()
            && matches!(&self.backend, Backend::Ldl(l) if l.structure_built);
        if !ready || columns.iter().any(|&c| c >= self.pattern.n) {
            return self.factor_symmetric(values);
        }
        let Backend::Ldl(ldl) = &mut self.backend else { unreachable!("checked above") };
        if ldl.a_ptr.is_empty() {
            ldl.build_lower_a(&self.pattern);
        }
        ldl.mark_affected(columns.iter().copied());
        self.factored = false;
        let result = ldl.refactor_blocks(values, &self.scale);
        ldl.clear_affected();
        match result {
            Ok(()) => {
                self.factored = true;
                Ok(())
            }
            // A vanishing pivot: the full path decides (it may pivot).
            Err(_) => self.factor_symmetric(values),
        }
    }

    /// Numeric (re)factorisation for new values on the same pattern.
    pub fn factor(&mut self, values: &[C]) -> Result<(), SparseError> {
        let p = &self.pattern;
        if values.len() != p.nnz() {
            return Err(SparseError::Pattern(format!("{} values for a pattern of {} entries", values.len(), p.nnz())));
        }
        self.factored = false;
        // D_i = 1/sqrt(max_j |a_ij|) (structurally symmetric: column maxima
        // are row maxima); squared magnitudes avoid a hypot per entry.
        self.scale.clear();
        self.scale.resize(p.n, 0.0);
        for (v, &r) in values.iter().zip(&p.row_idx) {
            let a2 = v.norm_sqr();
            let s = &mut self.scale[r];
            if a2 > *s {
                *s = a2;
            }
        }
        for d in &mut self.scale {
            // (max |a|²)^(-1/4) = 1/sqrt(max |a|)
            *d = if *d > 0.0 && d.is_finite() { 1.0 / d.sqrt().sqrt() } else { 1.0 };
        }
        // Known-symmetric values on the LDLᵀ path are scaled as the
        // factorisation reads them: no scaled copy of A (on large feeders,
        // megabytes of fresh memory per compile).
        if self.trust_symmetry {
            self.trust_symmetry = false;
            if let Backend::Ldl(ldl) = &mut self.backend {
                if ldl.factor_scaled_and_prepare(&self.pattern, values, &self.scale).is_ok() {
                    self.factored = true;
                    return Ok(());
                }
                // A vanishing pivot: the pivoting LU below decides.
                self.trust_symmetry = true;
            }
        }
        let p = &self.pattern;
        self.scaled.clear();
        self.scaled.extend_from_slice(values);
        for (j, w) in p.col_ptr.windows(2).enumerate() {
            let dj = self.scale[j];
            for (x, &r) in self.scaled[w[0]..w[1]].iter_mut().zip(&p.row_idx[w[0]..w[1]]) {
                *x *= self.scale[r] * dj;
            }
        }
        if let Backend::Ldl(ldl) = &mut self.backend {
            // Callers that know Y is symmetric (every element's Yprim is)
            // skip the check through `factor_symmetric`.
            if !self.trust_symmetry && self.transpose_pos.len() != self.pattern.nnz() {
                self.transpose_pos = self.pattern.transpose_positions().0;
            }
            let symmetric = self.trust_symmetry || {
                let v = &self.scaled;
                let tp = &self.transpose_pos;
                let mut max: f64 = 0.0;
                for x in v {
                    max = max.max(x.re.abs().max(x.im.abs()));
                }
                v.iter().zip(tp).all(|(x, &t)| {
                    t != u32::MAX && {
                        let d = *x - v[t as usize];
                        d.re.abs() <= 1e-14 * max && d.im.abs() <= 1e-14 * max
                    }
                })
            };
            self.trust_symmetry = false;
            if symmetric && ldl.factor(&self.pattern, &self.scaled).is_ok() {
                ldl.prepare_solve(&self.scale);
                self.factored = true;
                return Ok(());
            }
            // Unsymmetric values or a vanishing pivot: pivoting LU from now on.
            self.backend = Backend::Lu(Box::new(FaerLu::analyse(self.pattern.clone())?));
        }
        if let Backend::Lu(lu) = &mut self.backend {
            lu.factor(&self.scaled)?;
        }
        self.factored = true;
        Ok(())
    }

    /// Solves A·x = b in place (b → x). Fails if not factored or if the
    /// result is not finite (a numerically singular matrix).
    pub fn solve_in_place(&mut self, rhs: &mut [C]) -> Result<(), SparseError> {
        self.solve_in_place_unchecked(rhs)?;
        if rhs.iter().any(|v| !v.re.is_finite() || !v.im.is_finite()) {
            return Err(SparseError::Singular);
        }
        Ok(())
    }

    /// As [`SparseLu::solve_in_place`] without the finiteness test of the
    /// result, for callers that test it themselves (the power-flow iteration
    /// checks every voltage for NaN in its convergence test anyway).
    pub fn solve_in_place_unchecked(&mut self, rhs: &mut [C]) -> Result<(), SparseError> {
        if !self.factored {
            return Err(SparseError::Solver("matrix not factored".into()));
        }
        match &mut self.backend {
            Backend::Ldl(ldl) => ldl.solve(rhs),
            Backend::Lu(lu) => {
                for (b, d) in rhs.iter_mut().zip(&self.scale) {
                    *b *= *d;
                }
                lu.solve_in_place(rhs)?;
                for (x, d) in rhs.iter_mut().zip(&self.scale) {
                    *x *= *d;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random tree of 3×3 blocks (a three-phase radial feeder's Y shape).
    fn tree_matrix(buses: usize, seed: u64) -> (Pattern, Vec<C>) {
        let mut state = seed;
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 3 * buses;
        let mut blocks = Vec::new();
        for b in 1..buses {
            blocks.push(((rnd() * b as f64) as usize, b));
        }
        let mut entries = Vec::new();
        for &(a, b) in &blocks {
            for i in 0..3 {
                for j in 0..3 {
                    entries.extend([(3 * a + i, 3 * b + j), (3 * b + j, 3 * a + i)]);
                }
            }
        }
        for b in 0..buses {
            for i in 0..3 {
                for j in 0..3 {
                    entries.push((3 * b + i, 3 * b + j));
                }
            }
        }
        let pattern = Pattern::from_entries(n, entries);
        let mut vals = vec![C::new(0.0, 0.0); pattern.nnz()];
        let mut add = |r: usize, c: usize, v: C| {
            let q = pattern.position(r, c).unwrap();
            vals[q] += v;
        };
        for &(a, b) in &blocks {
            let y = C::new(1.0 + rnd(), -3.0 - rnd());
            for i in 0..3 {
                for j in 0..3 {
                    let m = if i == j { y } else { y * 0.3 };
                    add(3 * a + i, 3 * a + j, m);
                    add(3 * b + i, 3 * b + j, m);
                    add(3 * a + i, 3 * b + j, -m);
                    add(3 * b + j, 3 * a + i, -m);
                }
            }
        }
        for k in 0..3 {
            add(k, k, C::new(50.0, -200.0)); // the source
        }
        (pattern, vals)
    }

    /// A random tree of buses with 1 to 4 nodes each (blocks of every size).
    fn mixed_tree_matrix(buses: usize, seed: u64) -> (Pattern, Vec<C>) {
        mixed_matrix(buses, seed, 0)
    }

    /// As [`mixed_tree_matrix`], with `loops` extra branches closing loops
    /// (fill-in: L's columns then reach rows below their parent's).
    fn mixed_matrix(buses: usize, seed: u64, loops: usize) -> (Pattern, Vec<C>) {
        let mut state = seed;
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut first = vec![0usize];
        for _ in 0..buses {
            let size = 1 + (rnd() * 4.0) as usize;
            first.push(first.last().unwrap() + size);
        }
        let n = first[buses];
        let nodes = |b: usize| first[b]..first[b + 1];
        let mut edges: Vec<(usize, usize)> = (1..buses).map(|b| ((rnd() * b as f64) as usize, b)).collect();
        for _ in 0..loops {
            let a = (rnd() * buses as f64) as usize % buses;
            let b = (a + 2 + (rnd() * (buses - 3) as f64) as usize) % buses;
            if a != b && !edges.contains(&(a.min(b), a.max(b))) {
                edges.push((a.min(b), a.max(b)));
            }
        }
        let mut entries: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
        let couple = |a: usize, b: usize, entries: &mut Vec<(usize, usize)>| {
            for i in nodes(a) {
                for j in nodes(b) {
                    entries.extend([(i, j), (j, i)]);
                }
            }
        };
        for b in 0..buses {
            couple(b, b, &mut entries);
        }
        for &(a, b) in &edges {
            couple(a, b, &mut entries);
        }
        let pattern = Pattern::from_entries(n, entries);
        let mut vals = vec![C::new(0.0, 0.0); pattern.nnz()];
        for &(a, b) in &edges {
            let y = C::new(1.0 + rnd(), -3.0 - rnd());
            for (i, j) in nodes(a).zip(nodes(b)) {
                for (r, c, v) in [(i, i, y), (j, j, y), (i, j, -y), (j, i, -y)] {
                    vals[pattern.position(r, c).unwrap()] += v;
                }
            }
            // Weak coupling between every pair, so every block is dense.
            for i in nodes(a) {
                for j in nodes(b) {
                    for (r, c) in [(i, j), (j, i)] {
                        vals[pattern.position(r, c).unwrap()] += y * 0.01;
                    }
                }
            }
        }
        for i in 0..n {
            vals[pattern.position(i, i).unwrap()] += C::new(5.0 + rnd(), -20.0);
        }
        (pattern, vals)
    }

    #[test]
    fn the_counting_sort_by_key_is_the_stable_sort() {
        let level: Vec<u32> = (0..500u32).map(|w| (w * 7919) % 13).collect();
        for order in [(0..500u32).collect::<Vec<_>>(), (0..500u32).rev().collect()] {
            let mut stable = order.clone();
            stable.sort_by_key(|&w| level[w as usize]);
            assert_eq!(by_small_key(&order, &level), stable);
        }
        assert!(by_small_key(&[], &level).is_empty());
    }

    #[test]
    fn vector_substitutions_give_the_scalar_bits() {
        for plain_every in [0, 1, 2, 3] {
            vector_kernels_match_scalar(tree_matrix(80, 3), plain_every);
            let sizes = vector_kernels_match_scalar(mixed_tree_matrix(120, 5), plain_every);
            assert_eq!(sizes, [true; 4], "blocks of 1, 2, 3 and 4 pivots");
        }
    }

    /// Both forward forms, and L's own form throughout (the first solve
    /// after a factorisation), solve the system: residuals at rounding level.
    #[test]
    fn both_forward_forms_solve() {
        for (pattern, vals) in [tree_matrix(80, 3), mixed_tree_matrix(120, 5), mixed_matrix(60, 5, 8)] {
            let mut lu = SparseLu::analyse(pattern.clone()).unwrap();
            lu.factor_symmetric(&vals).unwrap();
            let b: Vec<C> = (0..pattern.n).map(|i| C::new((i as f64).sin(), (i as f64 * 0.3).cos())).collect();
            for (plain, ready) in [(false, true), (true, true), (false, false)] {
                let mut lu = lu.clone();
                let Backend::Ldl(ldl) = &mut lu.backend else { panic!("LDL expected") };
                let nb = ldl.blocks.start.len() - 1;
                ldl.blocks.set_forward_forms(vec![plain; nb]);
                if ready {
                    ldl.ready_substitution_values();
                }
                assert_eq!(ldl.pre_ready, ready);
                let mut x = b.clone();
                lu.solve_in_place(&mut x).unwrap();
                let mut ax = vec![C::new(0.0, 0.0); pattern.n];
                pattern.mul_vec(&vals, &x, &mut ax);
                let worst = ax.iter().zip(&b).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
                assert!(worst < 1e-10, "plain {plain}: residual {worst:e}");
            }
        }
    }

    /// Every block in elimination order (forward), then in reverse (backward),
    /// with the scalar kernels.
    fn substitutions_block_by_block(ldl: &Ldl, x: &mut [C]) {
        let b = &ldl.blocks;
        let d = &ldl.d_inv_solve;
        let step = |w: usize, ptr: &[u32], val_ptr: &[u32]| Step { j0: b.start[w], i0: ptr[w], i1: ptr[w + 1], v: val_ptr[w] };
        let nb = b.start.len() - 1;
        // SAFETY: the blocks' own pointers, as `substitutions` uses them.
        unsafe {
            for w in 0..nb {
                let s = step(w, &b.fwd_ptr, &b.fwd_val_ptr);
                match (b.start[w + 1] - b.start[w], b.fwd_plain[w] || !ldl.pre_ready) {
                    (1, true) => forward_block_plain::<ScalarMac, 1>(b, &s, x),
                    (1, _) => forward_block::<ScalarMac, 1>(b, &s, x),
                    (2, false) => forward_block::<ScalarMac, 2>(b, &s, x),
                    (3, false) => forward_block::<ScalarMac, 3>(b, &s, x),
                    (_, false) => forward_block::<ScalarMac, 4>(b, &s, x),
                    (2, true) => forward_block_plain::<ScalarMac, 2>(b, &s, x),
                    (3, true) => forward_block_plain::<ScalarMac, 3>(b, &s, x),
                    (_, true) => forward_block_plain::<ScalarMac, 4>(b, &s, x),
                }
            }
            for w in (0..nb).rev() {
                let s = step(w, &b.bwd_ptr, &b.bwd_val_ptr);
                match (b.start[w + 1] - b.start[w], ldl.pre_ready) {
                    (1, true) => backward_block::<ScalarMac, 1>(b, d, &s, x),
                    (2, true) => backward_block::<ScalarMac, 2>(b, d, &s, x),
                    (3, true) => backward_block::<ScalarMac, 3>(b, d, &s, x),
                    (_, true) => backward_block::<ScalarMac, 4>(b, d, &s, x),
                    (1, false) => backward_block_plain::<ScalarMac, 1>(b, d, &s, x),
                    (2, false) => backward_block_plain::<ScalarMac, 2>(b, d, &s, x),
                    (3, false) => backward_block_plain::<ScalarMac, 3>(b, d, &s, x),
                    (_, false) => backward_block_plain::<ScalarMac, 4>(b, d, &s, x),
                }
            }
        }
    }

    /// Checks every substitution kernel against the scalar one; returns which
    /// block sizes (1..=4) occurred.
    /// `plain_every` > 0: every such block (of several pivots) takes the
    /// plain forward form.
    fn vector_kernels_match_scalar((pattern, vals): (Pattern, Vec<C>), plain_every: usize) -> [bool; 4] {
        let mut lu = SparseLu::analyse(pattern.clone()).unwrap();
        lu.factor_symmetric(&vals).unwrap();
        let Backend::Ldl(ldl) = &mut lu.backend else { panic!("LDL expected") };
        if plain_every > 0 {
            let nb = ldl.blocks.start.len() - 1;
            ldl.blocks.set_forward_forms((0..nb).map(|w| w % plain_every == 0).collect());
            assert!(ldl.blocks.fwd_runs.iter().any(|r| r.g > Blocks::MAX as u32), "plain runs");
        }
        // L's own form (right after the factorisation), then the
        // precomputed one.
        let sizes = kernels_match_scalar(ldl, pattern.n);
        ldl.ready_substitution_values();
        kernels_match_scalar(ldl, pattern.n);
        sizes
    }

    fn kernels_match_scalar(ldl: &Ldl, n: usize) -> [bool; 4] {
        let b: Vec<C> = (0..n).map(|i| C::new((i as f64).sin() * 1e3, (i as f64 * 0.7).cos())).collect();
        let mut scalar = b.clone();
        substitutions::<ScalarMac>(ldl, &mut scalar);
        let mut dispatched = b.clone();
        ldl.solve_elimination_order(&mut dispatched);
        // The schedule (level and size order, identity blocks left out)
        // against every block in plain elimination order.
        let mut in_order = b.clone();
        substitutions_block_by_block(ldl, &mut in_order);
        let mut kernels = vec![dispatched, in_order];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("sse3") {
                let mut x = b.clone();
                unsafe { simd::solve_sse3(ldl, &mut x) };
                kernels.push(x);
            }
            if std::is_x86_feature_detected!("avx2") {
                let mut x = b.clone();
                unsafe { simd::solve_avx2(ldl, &mut x) };
                kernels.push(x);
            }
        }
        for x in &kernels {
            for (s, d) in scalar.iter().zip(x) {
                assert_eq!((s.re.to_bits(), s.im.to_bits()), (d.re.to_bits(), d.im.to_bits()));
            }
        }
        let mut sizes = [false; 4];
        for w in ldl.blocks.start.windows(2) {
            sizes[(w[1] - w[0]) as usize - 1] = true;
        }
        sizes
    }

    #[test]
    fn a_diagonal_matrix_solves_and_refactors() {
        // L has no entries below the diagonal (a one-node circuit).
        let pattern = Pattern::from_entries(2, [(0, 0), (1, 1)]);
        let mut lu = SparseLu::analyse(pattern.clone()).unwrap();
        let vals = [C::new(2.0, 1.0), C::new(0.5, -3.0)];
        lu.factor_symmetric(&vals).unwrap();
        lu.refactor_columns(&vals, &[1]).unwrap();
        let mut b = vec![C::new(2.0, 1.0) * C::new(1.0, 2.0), C::new(0.5, -3.0) * C::new(-1.0, 0.5)];
        lu.solve_in_place(&mut b).unwrap();
        assert!((b[0] - C::new(1.0, 2.0)).norm() < 1e-14 && (b[1] - C::new(-1.0, 0.5)).norm() < 1e-14);
    }

    #[test]
    fn blocked_refactorisation_gives_the_column_algorithms_bits() {
        let bits = |v: &[C]| v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect::<Vec<_>>();
        let cases = [tree_matrix(40, 3), mixed_matrix(50, 11, 0), mixed_matrix(60, 5, 8)];
        for (case, (pattern, vals0)) in cases.into_iter().enumerate() {
            let mut lu = SparseLu::analyse(pattern.clone()).unwrap();
            lu.factor_symmetric(&vals0).unwrap();
            let Backend::Ldl(ldl) = &mut lu.backend else { panic!("case {case}: LDLᵀ expected") };
            ldl.ready_substitution_values();
            for (round, cols) in [vec![1, pattern.n / 2], vec![pattern.n - 2], (0..pattern.n).step_by(3).collect()].into_iter().enumerate() {
                let mut vals = vals0.clone();
                for &c in &cols {
                    vals[pattern.position(c, c).unwrap()] *= 1.0 + 0.05 * (round + 1) as f64;
                }
                // The reference: the column-by-column kernel on a copy.
                let mut reference = lu.clone();
                let Backend::Ldl(want) = &mut reference.backend else { panic!("case {case}: LDLᵀ expected") };
                if want.a_ptr.is_empty() {
                    want.build_lower_a(&pattern);
                }
                want.mark_affected(cols.iter().copied());
                want.refactor_columns(&vals, &reference.scale).unwrap();
                want.clear_affected();
                lu.refactor_columns(&vals, &cols).unwrap();
                let Backend::Ldl(got) = &lu.backend else { panic!("case {case}: LDLᵀ expected") };
                assert!(got.blocks.start.windows(2).any(|w| w[1] - w[0] > 1), "case {case}: blocks of several pivots");
                assert_eq!(bits(&got.lx), bits(&want.lx), "case {case} round {round}: L");
                assert_eq!(bits(&got.d), bits(&want.d), "case {case} round {round}: D");
                assert_eq!(bits(&got.d_inv_solve), bits(&want.d_inv_solve), "case {case} round {round}: D⁻¹");
                assert_eq!(bits(&got.blocks.fwd_val), bits(&want.blocks.fwd_val), "case {case} round {round}");
                assert_eq!(bits(&got.blocks.bwd_val), bits(&want.blocks.bwd_val), "case {case} round {round}");
                assert_eq!(bits(&got.blocks.fwd_pre), bits(&want.blocks.fwd_pre), "case {case} round {round}");
                assert_eq!(bits(&got.blocks.bwd_pre), bits(&want.blocks.bwd_pre), "case {case} round {round}");
                // Only the affected columns' blocks were recomputed: the same
                // as recomputing every block.
                let mut all = got.blocks.clone();
                all.precompute_all();
                assert_eq!(bits(&got.blocks.fwd_pre), bits(&all.fwd_pre), "case {case} round {round}: affected blocks");
                assert_eq!(bits(&got.blocks.bwd_pre), bits(&all.bwd_pre), "case {case} round {round}: affected blocks");
                assert!(got.w4.iter().flatten().all(|c| *c == C::new(0.0, 0.0)), "case {case}: workspace left zeroed");
            }
        }
    }

    /// The AVX2 copies of the full factorisation (with the solve-ready
    /// copies) and of the blocked refactorisation against their baseline
    /// build on the same inputs: the same bits.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_factorisations_give_the_baseline_bits() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let bits = |v: &[C]| v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect::<Vec<_>>();
        let same = |a: &Ldl, b: &Ldl, what: &str| {
            assert_eq!(bits(&a.lx), bits(&b.lx), "{what}: L");
            assert_eq!(bits(&a.d), bits(&b.d), "{what}: D");
            assert_eq!(bits(&a.d_inv_solve), bits(&b.d_inv_solve), "{what}: D⁻¹");
            assert_eq!(bits(&a.blocks.fwd_val), bits(&b.blocks.fwd_val), "{what}: forward values");
            assert_eq!(bits(&a.blocks.bwd_val), bits(&b.blocks.bwd_val), "{what}: backward values");
            assert_eq!(bits(&a.blocks.fwd_pre), bits(&b.blocks.fwd_pre), "{what}: forward substitution values");
            assert_eq!(bits(&a.blocks.bwd_pre), bits(&b.blocks.bwd_pre), "{what}: backward substitution values");
        };
        let cases = [tree_matrix(40, 3), mixed_tree_matrix(120, 5), mixed_matrix(50, 11, 0), mixed_matrix(60, 5, 8)];
        for (case, (pattern, vals0)) in cases.into_iter().enumerate() {
            let mut lu = SparseLu::analyse(pattern.clone()).unwrap();
            lu.factor_symmetric(&vals0).unwrap();
            let scale = lu.scale.clone();
            let Backend::Ldl(ldl) = &mut lu.backend else { panic!("case {case}: LDLᵀ expected") };
            ldl.build_lower_a(&pattern);
            ldl.build_refactor_scales(&scale);
            // Full factorisation of other values.
            let vals: Vec<C> = vals0.iter().enumerate().map(|(q, v)| v * (1.0 + 0.01 * (q % 7) as f64)).collect();
            let (mut base, mut wide) = (ldl.clone(), ldl.clone());
            base.factor_scaled(&pattern, &vals, &scale).unwrap();
            base.prepare_solve(&scale);
            // SAFETY: AVX2 checked above.
            unsafe { wide.factor_scaled_and_prepare_avx2(&pattern, &vals, &scale) }.unwrap();
            // The substitution values, baseline against AVX2.
            base.blocks.precompute_all();
            // SAFETY: AVX2 checked above.
            unsafe { wide.blocks.precompute_all_avx2() };
            assert!(!base.blocks.fwd_pre.is_empty());
            same(&base, &wide, &format!("case {case}: full factorisation"));
            // The refactorisation below updates ready substitution values.
            ldl.ready_substitution_values();
            // Blocked refactorisation of a third of the columns.
            let mut vals = vals0.clone();
            let cols: Vec<usize> = (0..pattern.n).step_by(3).collect();
            for &c in &cols {
                vals[pattern.position(c, c).unwrap()] *= 1.07;
            }
            let (mut base, mut wide) = (ldl.clone(), ldl.clone());
            for l in [&mut base, &mut wide] {
                l.mark_affected(cols.iter().copied());
                assert!(l.pre_ready);
            }
            let mut w = std::mem::take(&mut base.w4);
            base.refactor_blocks_in(&vals, &mut w).unwrap();
            let mut w = std::mem::take(&mut wide.w4);
            // SAFETY: AVX2 checked above.
            unsafe { wide.refactor_blocks_avx2(&vals, &mut w) }.unwrap();
            same(&base, &wide, &format!("case {case}: refactorisation"));
        }
    }

    #[test]
    fn partial_refactorisation_equals_a_full_one() {
        let (pattern, mut vals) = tree_matrix(60, 7);
        let mut lu = SparseLu::analyse(pattern.clone()).unwrap();
        lu.factor_symmetric(&vals).unwrap();
        let x_true: Vec<C> = (0..pattern.n).map(|i| C::new(1.0 + 0.01 * i as f64, -0.5)).collect();
        for (round, bus) in [17usize, 3, 59, 0, 31].into_iter().enumerate() {
            // A "tap move": scale the block of one bus (both triangles).
            let cols: Vec<usize> = (3 * bus..3 * bus + 3).collect();
            for &c in &cols {
                for &r in &cols {
                    let q = pattern.position(r, c).unwrap();
                    vals[q] *= 1.0 + 0.01 * (round + 1) as f64;
                }
            }
            lu.refactor_columns(&vals, &cols).unwrap();
            let mut full = SparseLu::analyse(pattern.clone()).unwrap();
            full.factor_symmetric(&vals).unwrap();
            let mut b = vec![C::new(0.0, 0.0); pattern.n];
            pattern.mul_vec(&vals, &x_true, &mut b);
            let mut b_full = b.clone();
            lu.solve_in_place(&mut b).unwrap();
            full.solve_in_place(&mut b_full).unwrap();
            for i in 0..pattern.n {
                assert!((b[i] - x_true[i]).norm() < 1e-11, "round {round}: x[{i}] = {} vs {}", b[i], x_true[i]);
                assert!((b[i] - b_full[i]).norm() < 1e-12 * x_true[i].norm());
            }
        }
        assert!(lu.is_ldl());
    }

    #[test]
    fn solves_a_small_complex_system_and_refactors() {
        // Tridiagonal complex matrix, n = 5.
        let n = 5;
        let mut entries = Vec::new();
        for i in 0..n {
            entries.push((i, i));
            if i + 1 < n {
                entries.push((i, i + 1));
                entries.push((i + 1, i));
            }
        }
        let pattern = Pattern::from_entries(n, entries);
        let mut vals = vec![C::new(0.0, 0.0); pattern.nnz()];
        for i in 0..n {
            vals[pattern.position(i, i).unwrap()] = C::new(4.0, 1.0 + i as f64);
            if i + 1 < n {
                vals[pattern.position(i, i + 1).unwrap()] = C::new(-1.0, 0.5);
                vals[pattern.position(i + 1, i).unwrap()] = C::new(-1.0, 0.5);
            }
        }
        let mut lu = SparseLu::analyse(pattern.clone()).unwrap();
        for round in 0..2 {
            if round == 1 {
                for v in &mut vals {
                    *v *= C::new(2.0, -1.0);
                }
            }
            lu.factor(&vals).unwrap();
            let x_true: Vec<C> = (0..n).map(|i| C::new(i as f64, 1.0 - i as f64)).collect();
            let mut b = vec![C::new(0.0, 0.0); n];
            pattern.mul_vec(&vals, &x_true, &mut b);
            lu.solve_in_place(&mut b).unwrap();
            for i in 0..n {
                assert!((b[i] - x_true[i]).norm() < 1e-12);
            }
        }
        assert!(lu.is_ldl());
        // Unsymmetric values switch to the pivoting LU and still solve.
        vals[pattern.position(0, 1).unwrap()] += C::new(0.3, 0.0);
        lu.factor(&vals).unwrap();
        assert!(!lu.is_ldl());
        let x_true: Vec<C> = (0..n).map(|i| C::new(1.0, i as f64)).collect();
        let mut b = vec![C::new(0.0, 0.0); n];
        pattern.mul_vec(&vals, &x_true, &mut b);
        lu.solve_in_place(&mut b).unwrap();
        for i in 0..n {
            assert!((b[i] - x_true[i]).norm() < 1e-12);
        }
        let mut lu2 = lu.clone();
        let mut b = vec![C::new(1.0, 0.0); n];
        lu2.solve_in_place(&mut b).unwrap();
    }

    /// The pattern of element cliques (ground skipped, shared nodes, an
    /// element repeating a node) is the one of their pairs listed one by one.
    #[test]
    fn clique_patterns_are_the_listed_pairs() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for n in [1usize, 2, 7, 40, 300] {
            let cliques: Vec<Vec<usize>> = (0..2 * n).map(|_| (0..1 + next(8)).map(|_| next(n + 1)).collect()).collect();
            let pairs = cliques.iter().flat_map(|c| {
                c.iter().flat_map(move |&a| c.iter().filter(move |&&b| a != 0 && b != 0).map(move |&b| (a - 1, b - 1)))
            });
            let listed = Pattern::from_entries(n, pairs);
            let built = Pattern::from_cliques(n, cliques.iter().map(|c| c.as_slice()));
            assert_eq!(built, listed, "n = {n}");
            assert!(built.is_symmetric());
        }
    }
}
