//! Transformer Yprim (OpenDSS `Transformer.pas`: `CalcY_Terminal`,
//! `BuildYPrimComponent`, `AddNeutralToY`, `SetTermRef`).
//!
//! Each winding has two terminals (phase conductor and neutral for wye, two
//! phase conductors for delta). The short-circuit impedances give a one-volt
//! admittance matrix between windings, Y1 = Aᵀ·ZB⁻¹·A; scaling by
//! 1/(Vbase·tap) of each winding turns it into the 2·windings terminal matrix,
//! which is stamped once per phase onto the element's conductors.
//!
//! Details that change results:
//! * `ppm_antifloat` adds −j·ppm·1e-6/(Vbase²/(VA/phases))/2 to both terminals
//!   of every winding, and once more to an ungrounded (rneut < 0) wye neutral.
//! * %noloadloss and %imag sit on the second winding (the no-load, "shunt" part).
//! * The delta–wye phase shift direction follows ANSI: the delta winding is
//!   connected 1-2 if the higher-voltage winding is wye, 1-3 if it is delta.

use num_complex::Complex64 as C;
use ogg_dss::{Connection, Transformer};

use super::{Yprims, EPSILON};
use crate::cmat::CMat;
use crate::error::GridError;

/// Voltage base of a winding in volts (the "one turn" voltage).
pub fn winding_vbase(t: &Transformer, w: usize) -> f64 {
    let wd = &t.windings[w];
    match wd.conn {
        Connection::Wye => {
            if t.phases == 2 || t.phases == 3 {
                wd.kv * 1000.0 / 3f64.sqrt()
            } else {
                wd.kv * 1000.0
            }
        }
        Connection::Delta => wd.kv * 1000.0,
    }
}

/// +1 or −1: which way delta windings are rotated (OpenDSS `DeltaDirection`).
fn delta_direction(t: &Transformer) -> i32 {
    if t.windings.len() < 2 || t.windings[0].conn == t.windings[1].conn {
        return 1;
    }
    let hv = if t.windings[0].kv >= t.windings[1].kv { 0 } else { 1 };
    // ANSI (default): delta lags when the HV side is wye, leads when it is delta.
    match (t.windings[hv].conn, t.hv_leads_lv) {
        (Connection::Wye, false) | (Connection::Delta, true) => 1,
        (Connection::Wye, true) | (Connection::Delta, false) => -1,
    }
}

/// Next phase for delta connections (1-based), OpenDSS `RotatePhases`.
pub fn rotate_phase(t: &Transformer, i: usize) -> usize {
    let dir = delta_direction(t);
    let mut r = i as i32 + dir;
    let n = t.phases as i32;
    if n > 2 {
        if r > n {
            r = 1;
        }
        if r < 1 {
            r = n;
        }
    } else if r < 1 {
        r = 3;
    }
    r as usize
}

/// Conductor (0-based, within the Yprim) of each winding terminal, per phase:
/// `term_ref[phase][2*w]`, `term_ref[phase][2*w+1]`.
fn term_refs(t: &Transformer) -> Vec<Vec<usize>> {
    let nconds = t.phases + 1;
    let nw = t.windings.len();
    let mut out = Vec::with_capacity(t.phases);
    for i in 1..=t.phases {
        let mut r = Vec::with_capacity(2 * nw);
        for (j, wd) in t.windings.iter().enumerate() {
            if t.phases == 1 {
                r.push(j * nconds);
                r.push((j + 1) * nconds - 1);
            } else {
                match wd.conn {
                    Connection::Wye => {
                        r.push(j * nconds + i - 1);
                        r.push((j + 1) * nconds - 1);
                    }
                    Connection::Delta => {
                        r.push(j * nconds + i - 1);
                        // A rotated phase beyond `phases` (2-phase open delta)
                        // would fall outside the winding; OpenDSS indexes the
                        // same way, so keep it within the winding's block.
                        let rp = rotate_phase(t, i).min(nconds);
                        r.push(j * nconds + rp - 1);
                    }
                }
            }
        }
        out.push(r);
    }
    out
}

fn y_ppm(t: &Transformer, w: usize) -> f64 {
    let va_base = t.windings[0].kva * 1000.0;
    let vb = winding_vbase(t, w);
    -(t.ppm_antifloat * 1.0e-6) / (vb * vb / (va_base / t.phases as f64)) / 2.0
}

/// Everything [`yprim`] reads, as bits: transformers with equal keys have
/// equal Yprims (a feeder's service transformers mostly share a few
/// XfmrCodes, so compiling computes each distinct one once). Keep it in step
/// with `yprim`: a field read there must be listed here.
pub fn yprim_key(t: &Transformer, taps: &[f64]) -> Vec<u64> {
    let mut key = Vec::with_capacity(8 + 8 * t.windings.len() + taps.len() + t.xsc.len());
    key.extend([
        t.phases as u64,
        t.windings.len() as u64,
        t.xhl.to_bits(),
        t.xht.to_bits(),
        t.xlt.to_bits(),
        t.pct_noload_loss.to_bits(),
        t.pct_imag.to_bits(),
        t.ppm_antifloat.to_bits(),
        u64::from(t.hv_leads_lv),
    ]);
    for w in &t.windings {
        key.extend([
            w.kv.to_bits(),
            w.kva.to_bits(),
            w.pct_r.to_bits(),
            u64::from(w.conn == Connection::Delta),
            w.rneut.to_bits(),
            w.xneut.to_bits(),
        ]);
    }
    key.push(taps.len() as u64);
    key.extend(taps.iter().map(|x| x.to_bits()));
    key.push(t.xsc.len() as u64);
    key.extend(t.xsc.iter().map(|x| x.to_bits()));
    key
}

/// Yprim at the given per-unit taps (one per winding).
pub fn yprim(t: &Transformer, taps: &[f64]) -> Result<Yprims, GridError> {
    // For messages only: built when one is needed.
    let name = || format!("Transformer.{}", t.name);
    let nw = t.windings.len();
    if nw < 2 {
        return Err(GridError::element(name(), &t.location, "a transformer needs at least 2 windings"));
    }
    if t.phases == 0 {
        return Err(GridError::element(name(), &t.location, "phases=0"));
    }
    for (w, wd) in t.windings.iter().enumerate() {
        if !crate::positive(wd.kv) || !crate::positive(wd.kva) {
            return Err(GridError::element(
                name(),
                &t.location,
                format!("winding {} needs kV > 0 and kVA > 0 (kV={}, kVA={})", w + 1, wd.kv, wd.kva),
            ));
        }
    }
    let nph = t.phases as f64;
    let va_base = t.windings[0].kva * 1000.0;
    let zbase = 1.0 / (va_base / nph);
    let rpu: Vec<f64> = t.windings.iter().map(|w| w.pct_r / 100.0).collect();
    // Pairwise reactances in OpenDSS's XscArray order (X12, X13, …, X23, …).
    let npairs = nw * (nw - 1) / 2;
    let xsc: Vec<f64> = match nw {
        2 => vec![t.xhl / 100.0],
        3 => vec![t.xhl / 100.0, t.xht / 100.0, t.xlt / 100.0],
        _ if t.xsc.len() >= npairs => t.xsc[..npairs].iter().map(|x| x / 100.0).collect(),
        _ => {
            return Err(GridError::element(
                name(),
                &t.location,
                format!("{nw} windings need {npairs} short-circuit reactances (XscArray)"),
            ))
        }
    };

    // Short-circuit impedance matrix between winding 1 and the others, one-volt base.
    let m = nw - 1;
    let mut zb = CMat::zeros(m);
    for i in 0..m {
        zb.set(i, i, C::new(rpu[0] + rpu[i + 1], xsc[i]) * zbase);
    }
    let mut k = nw - 1;
    for i in 0..m {
        for j in i + 1..m {
            let v = (zb.get(i, i) + zb.get(j, j) - C::new(rpu[i + 1] + rpu[j + 1], xsc[k]) * zbase) * 0.5;
            zb.set_sym(i, j, v);
            k += 1;
        }
    }
    if zb.invert().is_err() {
        zb = CMat::zeros(m);
        for i in 0..m {
            zb.set(i, i, C::new(EPSILON, 0.0));
        }
    }
    // Y1 = Aᵀ·ZB⁻¹·A with Aᵀ (nw × m): row 0 all −1, row i+1 has 1 in column i.
    let at = |row: usize, col: usize| -> f64 {
        if row == 0 {
            -1.0
        } else if row == col + 1 {
            1.0
        } else {
            0.0
        }
    };
    let mut y1 = CMat::zeros(nw);
    for r in 0..nw {
        for c in 0..nw {
            let mut s = C::new(0.0, 0.0);
            for a in 0..m {
                for b in 0..m {
                    let f = at(r, a) * at(c, b);
                    if f != 0.0 {
                        s += zb.get(a, b) * f;
                    }
                }
            }
            y1.set(r, c, s);
        }
    }
    let mut y1_nl = CMat::zeros(nw);
    y1_nl.add(1, 1, C::new(t.pct_noload_loss / 100.0 / zbase, -t.pct_imag / 100.0 / zbase));

    // Terminal matrices: N (2nw × nw) with ±1/(Vbase·tap).
    let scale: Vec<f64> = (0..nw)
        .map(|w| {
            let tap = taps.get(w).copied().unwrap_or(1.0);
            let tap = if tap == 0.0 { 0.0001 } else { tap };
            1.0 / (winding_vbase(t, w) * tap)
        })
        .collect();
    let nw2 = 2 * nw;
    let nfac = |term: usize| -> f64 {
        if term.is_multiple_of(2) {
            scale[term / 2]
        } else {
            -scale[term / 2]
        }
    };
    let mut y_term = CMat::zeros(nw2);
    let mut y_term_nl = CMat::zeros(nw2);
    for a in 0..nw2 {
        for b in 0..nw2 {
            let f = nfac(a) * nfac(b);
            y_term.set(a, b, y1.get(a / 2, b / 2) * f);
            y_term_nl.set(a, b, y1_nl.get(a / 2, b / 2) * f);
        }
    }
    if t.ppm_antifloat != 0.0 {
        for w in 0..nw {
            let add = C::new(0.0, y_ppm(t, w));
            y_term.add(2 * w, 2 * w, add);
            y_term.add(2 * w + 1, 2 * w + 1, add);
        }
    }

    let nconds = t.phases + 1;
    let order = nw * nconds;
    let refs = term_refs(t);
    let stamp = |target: &mut CMat, yt: &CMat| {
        for r in &refs {
            for i in 0..nw2 {
                for j in 0..=i {
                    target.add_sym(r[i], r[j], yt.get(i, j));
                }
            }
        }
    };
    let mut series = CMat::zeros(order);
    stamp(&mut series, &y_term);
    let mut shunt = CMat::zeros(order);
    stamp(&mut shunt, &y_term_nl);

    // Neutral impedances of wye windings.
    for (w, wd) in t.windings.iter().enumerate() {
        if wd.conn != Connection::Wye {
            continue;
        }
        let j = (w + 1) * nconds - 1;
        if wd.rneut >= 0.0 {
            let v = if wd.rneut == 0.0 && wd.xneut == 0.0 {
                C::new(1.0e6, 0.0)
            } else {
                C::new(1.0, 0.0) / C::new(wd.rneut, wd.xneut)
            };
            series.add(j, j, v);
        } else if t.ppm_antifloat != 0.0 {
            series.add(j, j, C::new(0.0, y_ppm(t, w)));
        }
    }
    let mut full = series.clone();
    full.add_from(&shunt);
    Ok(Yprims { full, series })
}
