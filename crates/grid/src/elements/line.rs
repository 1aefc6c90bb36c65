//! Line Yprim (OpenDSS `Line.pas`, `CalcYPrim` and `RecalcElementData`).
//!
//! * Impedances are per unit length of the impedance data's units; the total
//!   is Z·(length converted to those units). When either unit is `none`, no
//!   conversion is made.
//! * Sequence data: Zs = (2Z1 + Z0)/3, Zm = (Z0 − Z1)/3, likewise for C. A
//!   1-phase line uses its positive-sequence values only.
//! * Yprim = [Z⁻¹, −Z⁻¹; −Z⁻¹, Z⁻¹] plus half of the shunt capacitance
//!   (jωC·length) at each end.
//! * The series-only Yprim adds OpenDSS's `CAP_EPSILON` (j4.2e-8 S) to every
//!   diagonal instead of the capacitance.

use num_complex::Complex64 as C;
use ogg_dss::{ImpedanceData, Line};

use super::{Yprims, EPSILON};
use crate::cmat::CMat;
use crate::error::GridError;

const CAP_EPSILON: C = C::new(0.0, 4.2e-8);

/// Length of the line in the units of its impedance data.
pub fn length_in_impedance_units(line: &Line) -> f64 {
    match (line.length_units.metres(), line.impedance.units.metres()) {
        (Some(len_m), Some(imp_m)) => line.length * len_m / imp_m,
        _ => line.length,
    }
}

/// Shunt susceptance per unit length (the imaginary part of jωC), row-major.
enum ShuntPerLength<'a> {
    /// ω·C[i][j]·1e-9 of the line's matrix (none given: no capacitance).
    Matrix { w: f64, c_nf: &'a [f64] },
    /// Self and mutual terms from the sequence values.
    Sequence { ys: f64, ym: f64 },
}

impl ShuntPerLength<'_> {
    #[inline]
    fn get(&self, n: usize, i: usize, j: usize) -> f64 {
        match self {
            ShuntPerLength::Matrix { w, c_nf } => {
                if c_nf.is_empty() {
                    0.0
                } else {
                    w * c_nf[i * n + j] * 1.0e-9
                }
            }
            ShuntPerLength::Sequence { ys, ym } => {
                if i == j {
                    *ys
                } else {
                    *ym
                }
            }
        }
    }
}

/// Series impedance matrix and shunt susceptance per unit length.
fn per_unit_length(line: &Line, base_frequency: f64) -> Result<(CMat, ShuntPerLength<'_>), GridError> {
    let n = line.phases;
    let w = 2.0 * std::f64::consts::PI * base_frequency;
    let mut z = CMat::zeros(n);
    match &line.impedance.data {
        ImpedanceData::Matrix { r, x, c_nf } => {
            if r.len() != n * n || x.len() != n * n || (!c_nf.is_empty() && c_nf.len() != n * n) {
                return Err(GridError::element(
                    format!("Line.{}", line.name),
                    &line.location,
                    format!("impedance matrices do not match phases={n}"),
                ));
            }
            for i in 0..n {
                for j in 0..n {
                    z.set(i, j, C::new(r[i * n + j], x[i * n + j]));
                }
            }
            Ok((z, ShuntPerLength::Matrix { w, c_nf }))
        }
        ImpedanceData::Sequence { r1, x1, r0, x0, c1_nf, c0_nf } => {
            let (mut r0, mut x0, mut c0) = (*r0, *x0, *c0_nf);
            if n == 1 {
                r0 = *r1;
                x0 = *x1;
                c0 = *c1_nf;
            }
            let z1 = C::new(*r1, *x1);
            let z0 = C::new(r0, x0);
            let zs = (z1 * 2.0 + z0) / 3.0;
            let zm = (z0 - z1) / 3.0;
            let yc1 = w * c1_nf * 1.0e-9;
            let yc0 = w * c0 * 1.0e-9;
            // The imaginary parts of (j·yc1·2 + j·yc0)/3 and (j·yc0 − j·yc1)/3.
            let ys = (yc1 * 2.0 + yc0) / 3.0;
            let ym = (yc0 - yc1) / 3.0;
            for i in 0..n {
                z.set(i, i, zs);
                for j in 0..i {
                    z.set_sym(i, j, zm);
                }
            }
            Ok((z, ShuntPerLength::Sequence { ys, ym }))
        }
    }
}

/// Z⁻¹ of the whole line, its shunt data and its length in impedance units.
fn series_admittance(line: &Line, base_frequency: f64) -> Result<(CMat, ShuntPerLength<'_>, f64), GridError> {
    let n = line.phases;
    if n == 0 {
        return Err(GridError::element(format!("Line.{}", line.name), &line.location, "phases=0"));
    }
    let (z, yc) = per_unit_length(line, base_frequency)?;
    let len = length_in_impedance_units(line);
    let mut zinv = z;
    zinv.scale(C::new(len, 0.0));
    if zinv.invert().is_err() {
        // OpenDSS replaces a singular series impedance by a tiny conductance.
        zinv = CMat::zeros(n);
        for i in 0..n {
            zinv.set(i, i, C::new(EPSILON, 0.0));
        }
    }
    Ok((zinv, yc, len))
}

/// [Z⁻¹, −Z⁻¹; −Z⁻¹, Z⁻¹].
fn series_blocks(zinv: &CMat) -> CMat {
    let n = zinv.order();
    let mut series = CMat::zeros(2 * n);
    for i in 0..n {
        for j in 0..n {
            let v = zinv.get(i, j);
            series.set(i, j, v);
            series.set(i + n, j + n, v);
            series.set(i, j + n, -v);
            series.set(j + n, i, -v);
        }
    }
    series
}

/// Adds half the shunt capacitance at each end.
fn add_shunt(full: &mut CMat, yc: &ShuntPerLength<'_>, len: f64) {
    let n = full.order() / 2;
    for i in 0..n {
        for j in 0..n {
            let v = C::new(0.0, yc.get(n, i, j) * len / 2.0);
            full.add(i, j, v);
            full.add(i + n, j + n, v);
        }
    }
}

pub fn yprim(line: &Line, base_frequency: f64) -> Result<Yprims, GridError> {
    let (zinv, yc, len) = series_admittance(line, base_frequency)?;
    let mut series = series_blocks(&zinv);
    let mut full = series.clone();
    add_shunt(&mut full, &yc, len);
    for i in 0..series.order() {
        series.add(i, i, CAP_EPSILON);
    }
    Ok(Yprims { full, series })
}

/// The full Yprim of [`yprim`] alone, the same bits: the compile keeps no
/// series Yprim for lines but derives its entries with [`series_entry`].
pub fn full_yprim(line: &Line, base_frequency: f64) -> Result<CMat, GridError> {
    let (zinv, yc, len) = series_admittance(line, base_frequency)?;
    let mut full = series_blocks(&zinv);
    add_shunt(&mut full, &yc, len);
    Ok(full)
}

/// Entry `flat` (row-major) of the series Yprim of [`yprim`], from the full
/// one: the shunt sits only on the diagonal blocks, whose series part is the
/// negated off-diagonal block (exact), plus `CAP_EPSILON` on the diagonal —
/// the very operations of [`yprim`], so the same bits.
#[inline]
pub fn series_entry(full: &CMat, flat: usize) -> C {
    let k = full.order();
    let n = k / 2;
    let (r, c) = (flat / k, flat % k);
    match (r < n, c < n) {
        (true, true) => {
            let v = -full.get(r, c + n);
            if r == c {
                v + CAP_EPSILON
            } else {
                v
            }
        }
        (false, false) => {
            let v = -full.get(r - n, c);
            if r == c {
                v + CAP_EPSILON
            } else {
                v
            }
        }
        _ => full.get(r, c),
    }
}
