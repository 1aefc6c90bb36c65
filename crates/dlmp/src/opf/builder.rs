//! Assembles a conic program `min ½xᵀPx + qᵀx  s.t.  Ax + s = b, s ∈ K` for
//! Clarabel row by row: equality rows (zero cone) first, then inequality rows
//! (`Ax ≤ b`, non-negative cone), then second-order-cone blocks
//! (`b − Ax ∈ SOC`). Entries are kept even when their value is zero so that
//! the sparsity pattern depends only on the structure of the problem (which
//! lets a solver be updated in place for new data).

use clarabel::algebra::CscMatrix;
use clarabel::solver::SupportedConeT;

#[derive(Default)]
struct Section {
    /// (local row, column, value)
    entries: Vec<(usize, usize, f64)>,
    b: Vec<f64>,
}

impl Section {
    fn add_row(&mut self, coeffs: &[(usize, f64)], b: f64) -> usize {
        let row = self.b.len();
        for &(col, v) in coeffs {
            self.entries.push((row, col, v));
        }
        self.b.push(b);
        row
    }
}

/// Where a row ended up once the sections are stacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Zero(usize),
    NonNeg(usize),
    Soc(usize),
}

#[derive(Default)]
pub struct Builder {
    n_vars: usize,
    q: Vec<f64>,
    /// Diagonal of P: (variable, value).
    p_diag: Vec<(usize, f64)>,
    zero: Section,
    nonneg: Section,
    soc: Section,
    soc_dims: Vec<usize>,
}

/// Where each entry of a builder went in the problem it built (for
/// [`Builder::update_problem`]), and the structure it must match.
#[derive(Debug, Clone, Default)]
pub struct BuildMap {
    n_vars: usize,
    soc_dims: Vec<usize>,
    p_diag_vars: Vec<usize>,
    p_position: Vec<usize>,
    /// Per section (zero, orthant, cones): rows, and (row, column) of each entry in push order.
    coords: Vec<(usize, Vec<(usize, usize)>)>,
    /// Index in A's values of each entry, in push order over the sections.
    position: Vec<usize>,
    /// Whether two entries went into one value of A (same row and column).
    merged: bool,
}

impl BuildMap {
    /// Whether some value of A is the sum of several entries.
    pub fn merged_entries(&self) -> bool {
        self.merged
    }
}

/// The assembled data, ready for Clarabel.
pub struct Problem {
    pub p: CscMatrix<f64>,
    pub q: Vec<f64>,
    pub a: CscMatrix<f64>,
    pub b: Vec<f64>,
    pub cones: Vec<SupportedConeT<f64>>,
    pub n_zero: usize,
    pub n_nonneg: usize,
}

impl Problem {
    /// Global row index.
    pub fn row(&self, r: Row) -> usize {
        match r {
            Row::Zero(i) => i,
            Row::NonNeg(i) => self.n_zero + i,
            Row::Soc(i) => self.n_zero + self.n_nonneg + i,
        }
    }
    /// Whether another problem has the same structure (so a solver can be updated in place).
    pub fn same_pattern(&self, other: &Problem) -> bool {
        self.p.colptr == other.p.colptr
            && self.p.rowval == other.p.rowval
            && self.a.colptr == other.a.colptr
            && self.a.rowval == other.a.rowval
            && self.a.m == other.a.m
            && self.cones == other.cones
    }
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Empties the builder for the next interval, keeping its buffers (a
    /// re-solve's assembly then allocates none of them again).
    pub fn recycle(&mut self) {
        self.n_vars = 0;
        self.q.clear();
        self.p_diag.clear();
        for sec in [&mut self.zero, &mut self.nonneg, &mut self.soc] {
            sec.entries.clear();
            sec.b.clear();
        }
        self.soc_dims.clear();
    }
    /// A new variable with linear cost `q`.
    pub fn var(&mut self, q: f64) -> usize {
        self.q.push(q);
        self.n_vars += 1;
        self.n_vars - 1
    }
    /// A new variable with cost `q·x + ½·p·x²` (the entry is kept even if p = 0).
    pub fn var_quadratic(&mut self, q: f64, p: f64) -> usize {
        let v = self.var(q);
        self.p_diag.push((v, p));
        v
    }
    pub fn n_vars(&self) -> usize {
        self.n_vars
    }
    /// `Σ coeffs·x = b`.
    pub fn eq(&mut self, coeffs: &[(usize, f64)], b: f64) -> Row {
        Row::Zero(self.zero.add_row(coeffs, b))
    }
    /// `Σ coeffs·x ≤ b`.
    pub fn le(&mut self, coeffs: &[(usize, f64)], b: f64) -> Row {
        Row::NonNeg(self.nonneg.add_row(coeffs, b))
    }
    /// `(b_k − Σ coeffs_k·x)_k ∈ SOC` (first component bounds the norm of the rest).
    /// Returns the first row of the block.
    pub fn soc(&mut self, rows: &[(&[(usize, f64)], f64)]) -> Row {
        let first = self.soc.b.len();
        for (coeffs, b) in rows {
            self.soc.add_row(coeffs, *b);
        }
        self.soc_dims.push(rows.len());
        Row::Soc(first)
    }

    pub fn build(self) -> Problem {
        self.build_with_map().0
    }

    /// Writes this builder's values into `problem`, built earlier by
    /// [`Builder::build_with_map`] from a builder with the same rows,
    /// columns and entries (only values differ): no sorting, no allocation.
    /// Returns false (and leaves `problem` untouched) if the structure differs.
    pub fn update_problem(&self, problem: &mut Problem, map: &BuildMap) -> bool {
        let same = self.n_vars == map.n_vars
            && self.soc_dims == map.soc_dims
            && self.p_diag.len() == map.p_diag_vars.len()
            && self
                .p_diag
                .iter()
                .zip(&map.p_diag_vars)
                .all(|(a, &v)| a.0 == v)
            && [&self.zero, &self.nonneg, &self.soc]
                .iter()
                .zip(&map.coords)
                .all(|(sec, coords)| {
                    sec.b.len() == coords.0
                        && sec.entries.len() == coords.1.len()
                        && sec
                            .entries
                            .iter()
                            .zip(&coords.1)
                            .all(|(e, c)| (e.0, e.1) == *c)
                });
        if !same {
            return false;
        }
        problem.a.nzval.fill(0.0);
        let mut k = 0;
        for sec in [&self.zero, &self.nonneg, &self.soc] {
            for &(_, _, v) in &sec.entries {
                problem.a.nzval[map.position[k]] += v;
                k += 1;
            }
        }
        problem.p.nzval.fill(0.0);
        for (&(_, v), &pos) in self.p_diag.iter().zip(&map.p_position) {
            problem.p.nzval[pos] += v;
        }
        problem.q.copy_from_slice(&self.q);
        let (z, nn) = (self.zero.b.len(), self.nonneg.b.len());
        problem.b[..z].copy_from_slice(&self.zero.b);
        problem.b[z..z + nn].copy_from_slice(&self.nonneg.b);
        problem.b[z + nn..].copy_from_slice(&self.soc.b);
        true
    }

    /// Builds the problem and the map [`Builder::update_problem`] needs.
    pub fn build_with_map(self) -> (Problem, BuildMap) {
        let n = self.n_vars;
        let (n_zero, n_nonneg) = (self.zero.b.len(), self.nonneg.b.len());
        let m = n_zero + n_nonneg + self.soc.b.len();
        // Compressed columns by a counting sort (no per-column allocation:
        // this runs for every interval), rows sorted, duplicates merged.
        let total = self.zero.entries.len() + self.nonneg.entries.len() + self.soc.entries.len();
        let mut start = vec![0usize; n + 1];
        for sec in [&self.zero, &self.nonneg, &self.soc] {
            for &(_, c, _) in &sec.entries {
                start[c + 1] += 1;
            }
        }
        for c in 0..n {
            start[c + 1] += start[c];
        }
        let mut fill = start.clone();
        // (row, value, the entry's index in push order).
        let mut scattered = vec![(0usize, 0.0f64, 0usize); total];
        let mut id = 0;
        for (offset, sec) in [
            (0, &self.zero),
            (n_zero, &self.nonneg),
            (n_zero + n_nonneg, &self.soc),
        ] {
            for &(r, c, v) in &sec.entries {
                scattered[fill[c]] = (offset + r, v, id);
                fill[c] += 1;
                id += 1;
            }
        }
        let mut position = vec![0usize; total];
        let mut merged = false;
        let mut colptr = Vec::with_capacity(n + 1);
        let mut rowval = Vec::with_capacity(total);
        let mut nzval = Vec::with_capacity(total);
        colptr.push(0);
        for c in 0..n {
            let col = &mut scattered[start[c]..start[c + 1]];
            col.sort_unstable_by_key(|&(r, _, _)| r);
            let mut last: Option<usize> = None;
            for &(r, v, id) in col.iter() {
                if last == Some(r) {
                    merged = true;
                    if let Some(x) = nzval.last_mut() {
                        *x += v;
                    }
                } else {
                    rowval.push(r);
                    nzval.push(v);
                    last = Some(r);
                }
                position[id] = rowval.len() - 1;
            }
            colptr.push(rowval.len());
        }
        let coords: Vec<(usize, Vec<(usize, usize)>)> = [&self.zero, &self.nonneg, &self.soc]
            .iter()
            .map(|sec| {
                (
                    sec.b.len(),
                    sec.entries.iter().map(|e| (e.0, e.1)).collect(),
                )
            })
            .collect();
        let a = CscMatrix::new(m, n, colptr, rowval, nzval);
        // P: diagonal, upper triangular CSC.
        let mut diag: Vec<Option<f64>> = vec![None; n];
        let p_diag_vars: Vec<usize> = self.p_diag.iter().map(|&(v, _)| v).collect();
        for &(v, p) in &self.p_diag {
            diag[v] = Some(diag[v].unwrap_or(0.0) + p);
        }
        let mut pcol = Vec::with_capacity(n + 1);
        let mut prow = Vec::new();
        let mut pval = Vec::new();
        pcol.push(0);
        for (j, d) in diag.iter().enumerate() {
            if let Some(v) = d {
                prow.push(j);
                pval.push(*v);
            }
            pcol.push(prow.len());
        }
        let p = CscMatrix::new(n, n, pcol, prow, pval);
        // P is diagonal: the entry of variable v is its rank among the variables with one.
        let p_position: Vec<usize> = p_diag_vars.iter().map(|&v| p.colptr[v]).collect();
        let soc_dims = self.soc_dims.clone();
        let mut b = self.zero.b;
        b.extend(self.nonneg.b);
        b.extend(self.soc.b);
        let mut cones = Vec::new();
        if n_zero > 0 {
            cones.push(SupportedConeT::ZeroConeT(n_zero));
        }
        if n_nonneg > 0 {
            cones.push(SupportedConeT::NonnegativeConeT(n_nonneg));
        }
        for d in self.soc_dims {
            cones.push(SupportedConeT::SecondOrderConeT(d));
        }
        let map = BuildMap {
            n_vars: n,
            soc_dims,
            p_diag_vars,
            p_position,
            coords,
            position,
            merged,
        };
        let problem = Problem {
            p,
            q: self.q,
            a,
            b,
            cones,
            n_zero,
            n_nonneg,
        };
        (problem, map)
    }
}
