//! Reactor Yprim: a series R+jX (or R ∥ jX when `parallel`) per phase
//! between its two terminals (the second grounded for a shunt reactor);
//! delta-connected shunt reactors are stamped line to line, as capacitors.

use num_complex::Complex64 as C;
use ogg_dss::{Connection, Reactor};

use super::Yprims;
use crate::cmat::CMat;
use crate::error::GridError;

pub fn is_shunt(r: &Reactor) -> bool {
    match &r.bus2 {
        None => true,
        Some(b2) => b2.bus == r.bus1.bus && b2.nodes.iter().all(|&n| n == 0),
    }
}

pub fn yprim(r: &Reactor) -> Result<Yprims, GridError> {
    let n = r.phases;
    let name = format!("Reactor.{}", r.name);
    let value = if r.parallel {
        let mut y = C::new(0.0, 0.0);
        if r.r != 0.0 {
            y += C::new(1.0 / r.r, 0.0);
        }
        if r.x != 0.0 {
            y += C::new(0.0, -1.0 / r.x);
        }
        y
    } else {
        let z = C::new(r.r, r.x);
        if z.norm() == 0.0 {
            return Err(GridError::element(name, &r.location, "zero impedance"));
        }
        C::new(1.0, 0.0) / z
    };
    let mut y = CMat::zeros(2 * n);
    if r.conn == Connection::Delta && is_shunt(r) {
        for i in 0..n {
            let j = (i + 1) % n;
            y.add(i, i, value);
            y.add(j, j, value);
            y.add_sym(i, j, -value);
        }
    } else {
        for i in 0..n {
            y.add(i, i, value);
            y.add(i + n, i + n, value);
            y.add(i, i + n, -value);
            y.add(i + n, i, -value);
        }
    }
    Ok(Yprims { series: y.clone(), full: y })
}
