//! Capacitor Yprim (OpenDSS `Capacitor.pas`, `RecalcElementData`,
//! `MakeYprimWork`). Every closed step adds its admittance. Note OpenDSS
//! computes the capacitance of *every* step from the first step's kvar; that
//! is reproduced here.

use num_complex::Complex64 as C;
use ogg_dss::{Capacitor, Connection};

use super::{tiny_diagonal, Yprims};
use crate::cmat::CMat;
use crate::error::GridError;

pub fn is_shunt(c: &Capacitor) -> bool {
    match &c.bus2 {
        None => true,
        Some(b2) => b2.bus == c.bus1.bus && b2.nodes.iter().all(|&n| n == 0),
    }
}

/// Yprim with the given step states (1 = closed).
pub fn yprim(c: &Capacitor, states: &[u8], base_frequency: f64) -> Result<Yprims, GridError> {
    let n = c.phases;
    let name = format!("Capacitor.{}", c.name);
    if n == 0 || c.kvar.is_empty() || !crate::positive(c.kv) {
        return Err(GridError::element(name, &c.location, "needs phases > 0, kV > 0 and at least one kvar step"));
    }
    let w = 2.0 * std::f64::consts::PI * base_frequency;
    let phase_kv = match c.conn {
        Connection::Delta => c.kv,
        Connection::Wye => {
            if n == 2 || n == 3 {
                c.kv / 3f64.sqrt()
            } else {
                c.kv
            }
        }
    };
    // As OpenDSS: every step's C from the first step's kvar.
    let cap = 1.0 / (w * phase_kv * phase_kv * 1000.0 / (c.kvar[0] / n as f64));
    let mut total = CMat::zeros(2 * n);
    for (step, &state) in states.iter().enumerate().take(c.kvar.len()) {
        if state != 1 {
            continue;
        }
        let r = c.r.get(step).copied().unwrap_or(0.0);
        let xl = c.xl.get(step).copied().unwrap_or(0.0);
        let has_zl = r + xl.abs() > 0.0;
        let mut value = C::new(0.0, cap * w);
        match c.conn {
            Connection::Delta => {
                let mut work = CMat::zeros(n);
                for i in 0..n {
                    work.set(i, i, value * 2.0);
                    for j in 0..i {
                        work.set_sym(i, j, -value);
                    }
                }
                if has_zl {
                    for i in 0..n {
                        let d = work.get(i, i) * 1.000001;
                        work.set(i, i, d);
                    }
                    if work.invert().is_ok() {
                        for i in 0..n {
                            work.add(i, i, C::new(r, xl));
                        }
                        let _ = work.invert();
                    }
                }
                for i in 0..n {
                    for j in 0..n {
                        total.add(i, j, work.get(i, j));
                    }
                }
            }
            Connection::Wye => {
                if has_zl {
                    value = C::new(1.0, 0.0) / (C::new(r, xl) + C::new(1.0, 0.0) / value);
                }
                for i in 0..n {
                    total.add(i, i, value);
                    total.add(i + n, i + n, value);
                    total.add(i, i + n, -value);
                    total.add(i + n, i, -value);
                }
            }
        }
    }
    let series = if is_shunt(c) { tiny_diagonal(&total) } else { total.clone() };
    Ok(Yprims { full: total, series })
}
