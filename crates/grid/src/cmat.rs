//! Small dense complex matrices: the primitive admittance matrices (Yprim) of
//! circuit elements and the impedance matrices they are inverted from. Orders
//! are tiny (a transformer has at most 2·windings·(phases+1) terminals), so a
//! plain row-major Vec and Gauss–Jordan inversion are the right tools.

use num_complex::Complex64 as C;

#[derive(Debug, Clone, PartialEq)]
pub struct CMat {
    n: usize,
    data: Vec<C>,
}

/// The matrix could not be inverted (a zero pivot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Singular;

impl CMat {
    pub fn zeros(n: usize) -> Self {
        CMat { n, data: vec![C::new(0.0, 0.0); n * n] }
    }

    pub fn order(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn get(&self, i: usize, j: usize) -> C {
        self.data[i * self.n + j]
    }

    #[inline]
    pub fn set(&mut self, i: usize, j: usize, v: C) {
        self.data[i * self.n + j] = v;
    }

    #[inline]
    pub fn add(&mut self, i: usize, j: usize, v: C) {
        self.data[i * self.n + j] += v;
    }

    /// Sets (i, j) and (j, i).
    pub fn set_sym(&mut self, i: usize, j: usize, v: C) {
        self.set(i, j, v);
        self.set(j, i, v);
    }

    /// Adds to (i, j) and, if off-diagonal, to (j, i).
    pub fn add_sym(&mut self, i: usize, j: usize, v: C) {
        self.add(i, j, v);
        if i != j {
            self.add(j, i, v);
        }
    }

    pub fn add_from(&mut self, other: &CMat) {
        debug_assert_eq!(self.n, other.n);
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a += *b;
        }
    }

    pub fn scale(&mut self, f: C) {
        for a in &mut self.data {
            *a *= f;
        }
    }

    /// y = self · x
    pub fn mul_vec(&self, x: &[C], y: &mut [C]) {
        for i in 0..self.n {
            let row = &self.data[i * self.n..(i + 1) * self.n];
            let mut s = C::new(0.0, 0.0);
            for (a, b) in row.iter().zip(x) {
                s += a * b;
            }
            y[i] = s;
        }
    }

    /// In-place inverse by Gauss–Jordan elimination with partial pivoting.
    pub fn invert(&mut self) -> Result<(), Singular> {
        let n = self.n;
        // Row interchanges, on the stack for the small orders of Yprims.
        let mut perm_small = [0usize; 16];
        let mut perm_large = Vec::new();
        let perm: &mut [usize] = if n <= perm_small.len() {
            &mut perm_small[..n]
        } else {
            perm_large.resize(n, 0);
            &mut perm_large
        };
        for (k, p) in perm.iter_mut().enumerate() {
            *p = k;
        }
        let mut swapped = false;
        let a = &mut self.data;
        for k in 0..n {
            // pivot search in column k
            let mut p = k;
            let mut best = a[k * n + k].norm();
            for i in k + 1..n {
                let v = a[i * n + k].norm();
                if v > best {
                    best = v;
                    p = i;
                }
            }
            if best == 0.0 || !best.is_finite() {
                return Err(Singular);
            }
            if p != k {
                for j in 0..n {
                    a.swap(k * n + j, p * n + j);
                }
                perm.swap(k, p);
                swapped = true;
            }
            let inv = C::new(1.0, 0.0) / a[k * n + k];
            a[k * n + k] = C::new(1.0, 0.0);
            for j in 0..n {
                a[k * n + j] *= inv;
            }
            for i in 0..n {
                if i == k {
                    continue;
                }
                let f = a[i * n + k];
                if f == C::new(0.0, 0.0) {
                    continue;
                }
                a[i * n + k] = C::new(0.0, 0.0);
                for j in 0..n {
                    let t = a[k * n + j];
                    a[i * n + j] -= f * t;
                }
            }
        }
        // Undo the row interchanges as column interchanges, in reverse order.
        // perm[k] = original row now at position k; the inverse of P·A is
        // A⁻¹·Pᵀ, so columns must be permuted back (nothing to do without interchanges).
        if !swapped {
            return Ok(());
        }
        let mut out = vec![C::new(0.0, 0.0); n * n];
        for i in 0..n {
            for k in 0..n {
                out[i * n + perm[k]] = a[i * n + k];
            }
        }
        self.data = out;
        Ok(())
    }

    /// Copies `other` (of the same order) into this matrix.
    pub fn copy_from(&mut self, other: &CMat) {
        debug_assert_eq!(self.n, other.n);
        self.data.copy_from_slice(&other.data);
    }

    /// Sets every entry to zero (keeps the allocation).
    pub fn clear(&mut self) {
        self.data.fill(C::new(0.0, 0.0));
    }

    pub fn as_slice(&self) -> &[C] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity() {
        let mut m = CMat::zeros(3);
        let vals = [
            (0, 0, C::new(0.0, 1.0)), // forces a pivot swap (row 0 small after scaling)
            (0, 1, C::new(4.0, -2.0)),
            (0, 2, C::new(1.0, 0.5)),
            (1, 0, C::new(3.0, 0.0)),
            (1, 1, C::new(0.1, 0.2)),
            (1, 2, C::new(-1.0, 0.0)),
            (2, 0, C::new(0.5, 0.5)),
            (2, 1, C::new(2.0, 2.0)),
            (2, 2, C::new(5.0, -1.0)),
        ];
        for (i, j, v) in vals {
            m.set(i, j, v);
        }
        let orig = m.clone();
        m.invert().unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let mut s = C::new(0.0, 0.0);
                for k in 0..3 {
                    s += orig.get(i, k) * m.get(k, j);
                }
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((s - C::new(e, 0.0)).norm() < 1e-13, "({i},{j}) = {s}");
            }
        }
    }

    #[test]
    fn singular_is_reported() {
        let mut m = CMat::zeros(2);
        m.set(0, 0, C::new(1.0, 0.0));
        m.set(0, 1, C::new(2.0, 0.0));
        m.set(1, 0, C::new(2.0, 0.0));
        m.set(1, 1, C::new(4.0, 0.0));
        assert_eq!(m.invert(), Err(Singular));
    }
}
