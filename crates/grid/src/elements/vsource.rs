//! Vsource: a Thevenin source turned into its Norton equivalent (OpenDSS
//! `VSource.pas`, `RecalcElementData`, `CalcYPrim`, `GetInjCurrents`).
//!
//! The impedance comes from whichever form was given last: short-circuit MVA
//! (MVAsc3/MVAsc1), short-circuit currents (Isc3/Isc1), or R1/X1/R0/X0. Z0 is
//! recovered from the single-phase short-circuit level by OpenDSS's quadratic.
//! The element has two terminals (bus1 and bus2, bus2 grounded by default);
//! the injection is Yprim·[Vsource; 0].

use num_complex::Complex64 as C;
use ogg_dss::{SourceImpedanceSpec, Vsource};

use super::{Yprims, EPSILON};
use crate::cmat::CMat;
use crate::error::GridError;

/// Larger root of a·x² + b·x + c (OpenDSS `QuadSolver`).
fn quad_solver(a: f64, b: f64, c: f64) -> f64 {
    if a == 0.0 {
        return if b != 0.0 { -c / b } else { 0.0 };
    }
    let d = b * b - 4.0 * a * c;
    if d < 0.0 {
        return 0.0;
    }
    let d = d.sqrt();
    let a1 = (-b + d) / (2.0 * a);
    let a2 = (-b - d) / (2.0 * a);
    a1.max(a2)
}

/// (R1, X1, R0, X0) in ohms, as OpenDSS resolves them.
pub fn sequence_impedances(v: &Vsource) -> (f64, f64, f64, f64) {
    let factor = if v.phases == 1 { 1.0 } else { 3f64.sqrt() };
    let kv = v.base_kv;
    match v.spec {
        SourceImpedanceSpec::ShortCircuitMva | SourceImpedanceSpec::ShortCircuitCurrent => {
            let (mvasc3, mvasc1) = if v.spec == SourceImpedanceSpec::ShortCircuitCurrent {
                (3f64.sqrt() * kv * v.isc3 / 1000.0, factor * kv * v.isc1 / 1000.0)
            } else {
                (v.mvasc3, v.mvasc1)
            };
            let x1 = kv * kv / mvasc3 / (1.0 + 1.0 / (v.x1r1 * v.x1r1)).sqrt();
            let r1 = x1 / v.x1r1;
            let isc1 = mvasc1 * 1000.0 / (factor * kv);
            let r0 = quad_solver(
                1.0 + v.x0r0 * v.x0r0,
                4.0 * (r1 + x1 * v.x0r0),
                4.0 * (r1 * r1 + x1 * x1) - (3.0 * kv * 1000.0 / factor / isc1).powi(2),
            );
            let x0 = r0 * v.x0r0;
            (r1, x1, r0, x0)
        }
        SourceImpedanceSpec::Impedance => {
            if v.phases == 1 {
                (v.r1, v.x1, v.r1, v.x1)
            } else {
                (v.r1, v.x1, v.r0, v.x0)
            }
        }
    }
}

/// Yprim (2·phases square) and the source's open-circuit phase voltages.
pub fn yprim(v: &Vsource) -> Result<(Yprims, Vec<C>), GridError> {
    let n = v.phases;
    let name = format!("Vsource.{}", v.name);
    if n == 0 || !crate::positive(v.base_kv) {
        return Err(GridError::element(name, &v.location, "needs phases > 0 and basekV > 0"));
    }
    let (r1, x1, r0, x0) = sequence_impedances(v);
    let (rs, xs, rm, xm) = match v.spec {
        SourceImpedanceSpec::Impedance => {
            let rs = (2.0 * r1 + r0) / 3.0;
            let xs = (2.0 * x1 + x0) / 3.0;
            (rs, xs, (r0 - r1) / 3.0, xs - x1)
        }
        _ => ((2.0 * r1 + r0) / 3.0, (2.0 * x1 + x0) / 3.0, (r0 - r1) / 3.0, (x0 - x1) / 3.0),
    };
    let mut zinv = CMat::zeros(n);
    for i in 0..n {
        zinv.set(i, i, C::new(rs, xs));
        for j in 0..i {
            zinv.set_sym(i, j, C::new(rm, xm));
        }
    }
    if zinv.invert().is_err() {
        zinv = CMat::zeros(n);
        for i in 0..n {
            zinv.set(i, i, C::new(1.0 / EPSILON, 0.0));
        }
    }
    let mut y = CMat::zeros(2 * n);
    for i in 0..n {
        for j in 0..n {
            let val = zinv.get(i, j);
            y.set(i, j, val);
            y.set(i + n, j + n, val);
            y.set(i, j + n, -val);
            y.set(i + n, j, -val);
        }
    }
    let vmag = if n == 1 {
        v.base_kv * v.pu * 1000.0
    } else {
        v.base_kv * v.pu * 1000.0 / 2.0 / (std::f64::consts::PI / n as f64).sin()
    };
    let volts = (0..n)
        .map(|i| {
            let ang = (360.0 + v.angle_deg - i as f64 * 360.0 / n as f64).to_radians();
            C::from_polar(vmag, ang)
        })
        .collect();
    Ok((Yprims { series: y.clone(), full: y }, volts))
}
