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
        // Orders 1–4 (lines, sources, most Yprims' blocks) with the order as
        // a constant: the same operations in the same order, unrolled and
        // without bounds checks.
        match self.n {
            1 => invert_fixed::<1>(&mut self.data),
            2 => invert_fixed::<2>(&mut self.data),
            3 => invert_fixed::<3>(&mut self.data),
            4 => invert_fixed::<4>(&mut self.data),
            _ => self.invert_any(),
        }
    }

    /// [`CMat::invert`] for any order.
    fn invert_any(&mut self) -> Result<(), Singular> {
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

/// The row of the pivot in column `k` at or below the diagonal: the first
/// entry of largest modulus, as `|a|` (`hypot`) would pick it. Squared
/// moduli decide when they are clearly apart and in range; a near tie, an
/// overflow or an underflow is decided by `hypot` itself, so the choice and
/// the singularity test are always `hypot`'s. Returns None for a zero or
/// non-finite pivot (singular).
#[inline(always)]
fn pivot_row<const N: usize>(a: &[C; 16], k: usize) -> Option<usize> {
    // Relative gap above which squared moduli order as the moduli do (far
    // beyond the few ulps of rounding in either).
    const CLEAR: f64 = 1e-9;
    // A squared modulus that neither overflowed nor underflowed (an exact
    // zero is one; a tiny entry squared to zero is not).
    let in_range = |v: C, q: f64| (v.re == 0.0 && v.im == 0.0) || (1e-290..1e290).contains(&q);
    let mut p = k;
    let mut best = a[k * N + k].norm_sqr();
    let mut exact = in_range(a[k * N + k], best);
    for i in k + 1..N {
        let q = a[i * N + k].norm_sqr();
        exact &= in_range(a[i * N + k], q) && (q - best).abs() > CLEAR * q.max(best);
        if q > best {
            best = q;
            p = i;
        }
    }
    if !exact {
        // hypot decides, exactly as the general loop does.
        p = k;
        let mut best = a[k * N + k].norm();
        for i in k + 1..N {
            let v = a[i * N + k].norm();
            if v > best {
                best = v;
                p = i;
            }
        }
        return (best != 0.0 && best.is_finite()).then_some(p);
    }
    (best != 0.0).then_some(p)
}

/// Gauss–Jordan inversion of an order-`N` matrix (N ≤ 4) stored row-major in
/// `data`: the operations of [`CMat::invert_any`] in the same order, so the
/// same bits.
fn invert_fixed<const N: usize>(data: &mut [C]) -> Result<(), Singular> {
    let zero = C::new(0.0, 0.0);
    let one = C::new(1.0, 0.0);
    let mut a = [zero; 16];
    a[..N * N].copy_from_slice(&data[..N * N]);
    let mut perm = [0usize, 1, 2, 3];
    let mut swapped = false;
    for k in 0..N {
        let p = pivot_row::<N>(&a, k).ok_or(Singular)?;
        if p != k {
            for j in 0..N {
                a.swap(k * N + j, p * N + j);
            }
            perm.swap(k, p);
            swapped = true;
        }
        let inv = one / a[k * N + k];
        a[k * N + k] = one;
        for j in 0..N {
            a[k * N + j] *= inv;
        }
        for i in 0..N {
            if i == k {
                continue;
            }
            let f = a[i * N + k];
            if f == zero {
                continue;
            }
            a[i * N + k] = zero;
            for j in 0..N {
                let t = a[k * N + j];
                a[i * N + j] -= f * t;
            }
        }
    }
    if swapped {
        for i in 0..N {
            for k in 0..N {
                data[i * N + perm[k]] = a[i * N + k];
            }
        }
    } else {
        data[..N * N].copy_from_slice(&a[..N * N]);
    }
    Ok(())
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

    /// The fixed-order inversions give the general loop's bits, pivot
    /// choices included (ties, near ties, zeros, huge and tiny entries).
    #[test]
    fn fixed_orders_invert_as_the_general_loop_does() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for trial in 0..4000 {
            let n = 1 + trial % 4;
            let mut m = CMat::zeros(n);
            for i in 0..n {
                for j in 0..n {
                    let v = match trial % 7 {
                        // Equal moduli in a column: ties decided by hypot.
                        0 => C::new(if (i + j) % 2 == 0 { 3.0 } else { -3.0 }, 4.0 * (j as f64 + 1.0)),
                        1 => C::new(next(), next()) * 1e200,
                        2 => C::new(next(), next()) * 1e-200,
                        3 if i != j => C::new(0.0, 0.0),
                        _ => C::new(next(), next()),
                    };
                    m.set(i, j, v);
                }
            }
            let (mut fixed, mut general) = (m.clone(), m.clone());
            let fixed_result = fixed.invert();
            let general_result = general.invert_any();
            assert_eq!(fixed_result, general_result, "trial {trial}");
            if fixed_result.is_ok() {
                let bits = |m: &CMat| m.as_slice().iter().map(|v| (v.re.to_bits(), v.im.to_bits())).collect::<Vec<_>>();
                assert_eq!(bits(&fixed), bits(&general), "trial {trial}");
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
