//! Primitive admittance matrices (Yprim) of every element, computed exactly
//! as OpenDSS computes them (see the notes in each module). Conductor order
//! within a Yprim is OpenDSS's: terminal 1's conductors, then terminal 2's.
//!
//! Each builder returns the full Yprim (what goes into the system Y) and the
//! "series" Yprim OpenDSS uses for its no-load solution (CalcVoltageBases).

pub mod capacitor;
pub mod der;
pub mod line;
pub mod load;
pub mod reactor;
pub mod transformer;
pub mod vsource;

use crate::cmat::CMat;

/// Full and series-only primitive admittance of one element.
#[derive(Debug, Clone)]
pub struct Yprims {
    pub full: CMat,
    pub series: CMat,
}

/// OpenDSS's `EPSILON` (DSSGlobals): the tiny value used when a matrix fails to invert.
pub(crate) const EPSILON: f64 = 1.0e-12;

/// The series part OpenDSS uses for shunt PC elements and shunt capacitors:
/// the diagonal of the full Yprim scaled by 1e-10 ("so that CalcVoltages does
/// not fail").
pub(crate) fn tiny_diagonal(full: &CMat) -> CMat {
    let mut s = CMat::zeros(full.order());
    tiny_diagonal_into(full, &mut s);
    s
}

/// [`tiny_diagonal`] written into `s` (of the same order).
pub(crate) fn tiny_diagonal_into(full: &CMat, s: &mut CMat) {
    s.clear();
    for i in 0..full.order() {
        s.set(i, i, full.get(i, i) * 1.0e-10);
    }
}
