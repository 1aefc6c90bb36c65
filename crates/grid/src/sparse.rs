//! The one place that talks to faer's sparse LU, so that faer's API changes
//! stay here. The system admittance matrix Y is complex and structurally
//! symmetric; we factor it with faer's complex sparse LU (COLAMD ordering,
//! partial pivoting). The symbolic analysis is done once per sparsity pattern
//! and reused for every numeric refactorisation (tap changes, capacitor
//! switching), as the pattern never changes for a given circuit.
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
        let mut cols: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, c) in cols.iter_mut().enumerate() {
            c.push(i);
        }
        for (r, c) in entries {
            cols[c].push(r);
        }
        let mut col_ptr = Vec::with_capacity(n + 1);
        let mut row_idx = Vec::new();
        col_ptr.push(0);
        for mut c in cols {
            c.sort_unstable();
            c.dedup();
            row_idx.extend_from_slice(&c);
            col_ptr.push(row_idx.len());
        }
        Pattern { n, col_ptr, row_idx }
    }

    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }

    /// Position of (row, col) in the value array, if it is in the pattern.
    pub fn position(&self, row: usize, col: usize) -> Option<usize> {
        let (a, b) = (self.col_ptr[col], self.col_ptr[col + 1]);
        self.row_idx[a..b].binary_search(&row).ok().map(|k| a + k)
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

/// Symbolic + numeric sparse LU of one pattern.
pub struct SparseLu {
    pattern: Pattern,
    symbolic: SymbolicLu<usize>,
    numeric: NumericLu<usize, C>,
    factored: bool,
    /// Symmetric diagonal scaling D (A' = D·A·D), so that entries spanning
    /// many orders of magnitude (a 1e7 S switch next to a 1e-6 S load)
    /// factor accurately. Solutions are x = D·y with A'·y = D·b.
    scale: Vec<f64>,
    scaled: Vec<C>,
    scratch_req: StackReq,
    scratch: MemBuffer,
}

impl std::fmt::Debug for SparseLu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseLu").field("n", &self.pattern.n).field("nnz", &self.pattern.nnz()).finish()
    }
}

impl Clone for SparseLu {
    fn clone(&self) -> Self {
        SparseLu {
            pattern: self.pattern.clone(),
            symbolic: self.symbolic.clone(),
            numeric: self.numeric.clone(),
            factored: self.factored,
            scale: self.scale.clone(),
            scaled: self.scaled.clone(),
            scratch_req: self.scratch_req,
            scratch: MemBuffer::new(self.scratch_req),
        }
    }
}

impl SparseLu {
    /// Symbolic analysis (fill-reducing ordering) of `pattern`.
    pub fn analyse(pattern: Pattern) -> Result<Self, SparseError> {
        let sym = SymbolicSparseColMatRef::new_checked(pattern.n, pattern.n, &pattern.col_ptr, None, &pattern.row_idx);
        let symbolic = factorize_symbolic_lu(sym, LuSymbolicParams::default())
            .map_err(|e| SparseError::Solver(format!("{e:?}")))?;
        let scratch_req = StackReq::any_of(&[
            symbolic.factorize_numeric_lu_scratch::<C>(Par::Seq, Default::default()),
            symbolic.solve_in_place_scratch::<C>(1, Par::Seq),
        ]);
        Ok(SparseLu {
            pattern,
            symbolic,
            numeric: NumericLu::new(),
            factored: false,
            scale: Vec::new(),
            scaled: Vec::new(),
            scratch_req,
            scratch: MemBuffer::new(scratch_req),
        })
    }

    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Numeric (re)factorisation for new values on the same pattern.
    pub fn factor(&mut self, values: &[C]) -> Result<(), SparseError> {
        if values.len() != self.pattern.nnz() {
            return Err(SparseError::Pattern(format!(
                "{} values for a pattern of {} entries",
                values.len(),
                self.pattern.nnz()
            )));
        }
        self.factored = false;
        let p = &self.pattern;
        // D_i = 1/sqrt(max_j |a_ij|) (the pattern is structurally symmetric,
        // so column maxima are row maxima).
        self.scale.clear();
        self.scale.resize(p.n, 0.0);
        for j in 0..p.n {
            for k in p.col_ptr[j]..p.col_ptr[j + 1] {
                let a = values[k].norm();
                let r = p.row_idx[k];
                if a > self.scale[r] {
                    self.scale[r] = a;
                }
            }
        }
        for d in &mut self.scale {
            *d = if *d > 0.0 && d.is_finite() { 1.0 / d.sqrt() } else { 1.0 };
        }
        self.scaled.clear();
        self.scaled.extend_from_slice(values);
        for j in 0..p.n {
            for k in p.col_ptr[j]..p.col_ptr[j + 1] {
                self.scaled[k] *= self.scale[p.row_idx[k]] * self.scale[j];
            }
        }
        let sym = SymbolicSparseColMatRef::new_checked(p.n, p.n, &p.col_ptr, None, &p.row_idx);
        let a = SparseColMatRef::new(sym, &self.scaled);
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

    /// Solves A·x = b in place (b → x). Fails if not factored or if the
    /// result is not finite (a numerically singular matrix).
    pub fn solve_in_place(&mut self, rhs: &mut [C]) -> Result<(), SparseError> {
        if !self.factored {
            return Err(SparseError::Solver("matrix not factored".into()));
        }
        let n = self.pattern.n;
        let lu = LuRef::new_unchecked(&self.symbolic, &self.numeric);
        let stack = MemStack::new(&mut self.scratch);
        for (b, d) in rhs.iter_mut().zip(&self.scale) {
            *b *= *d;
        }
        let mat = MatMut::from_column_major_slice_mut(rhs, n, 1);
        lu.solve_in_place_with_conj(Conj::No, mat, Par::Seq, stack);
        for (x, d) in rhs.iter_mut().zip(&self.scale) {
            *x *= *d;
        }
        if rhs.iter().any(|v| !v.re.is_finite() || !v.im.is_finite()) {
            return Err(SparseError::Singular);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut lu2 = lu.clone();
        let mut b = vec![C::new(1.0, 0.0); n];
        lu2.solve_in_place(&mut b).unwrap();
    }
}
