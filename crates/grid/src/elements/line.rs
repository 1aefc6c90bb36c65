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

/// Everything [`yprim`] reads, as bits, into `key` (cleared first): lines
/// with equal keys have equal Yprims — a feeder's service drops and
/// laterals often share a line code and a length, so compiling computes each
/// distinct one once. Keep it in step with `yprim`: a field read there must
/// be listed here.
pub fn yprim_key(line: &Line, base_frequency: f64, key: &mut Vec<u64>) {
    key.clear();
    key.extend([line.phases as u64, length_in_impedance_units(line).to_bits(), base_frequency.to_bits()]);
    match &line.impedance.data {
        ImpedanceData::Matrix { r, x, c_nf } => {
            key.extend([0, r.len() as u64, x.len() as u64, c_nf.len() as u64]);
            key.extend(r.iter().chain(x).chain(c_nf).map(|v| v.to_bits()));
        }
        ImpedanceData::Sequence { r1, x1, r0, x0, c1_nf, c0_nf } => {
            key.push(1);
            key.extend([r1, x1, r0, x0, c1_nf, c0_nf].map(|v| v.to_bits()));
        }
    }
}

pub fn yprim(line: &Line, base_frequency: f64) -> Result<Yprims, GridError> {
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
    let mut full = series.clone();
    for i in 0..n {
        for j in 0..n {
            let v = C::new(0.0, yc.get(n, i, j) * len / 2.0);
            full.add(i, j, v);
            full.add(i + n, j + n, v);
        }
    }
    for i in 0..2 * n {
        series.add(i, i, CAP_EPSILON);
    }
    Ok(Yprims { full, series })
}
