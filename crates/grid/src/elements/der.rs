//! Generators, PV systems and storage (OpenDSS `Generator.pas`,
//! `PVSystem.pas`, `Storage.pas`): each is a balanced set of per-phase
//! current injections computed from a target P and Q, with OpenDSS's
//! constant-impedance bands below `Vminpu` and above `Vmaxpu`. The system Y
//! holds −Yeq (Yeq = (P − jQ)/Vbase² per phase, generation positive; 1 % of it
//! for a model-3 generator); the injection loop adds Yprim·V plus the actual
//! generated current, exactly as OpenDSS's `InjCurrents` does.
//!
//! The power targets follow OpenDSS:
//! * Generator: kW·mult and kvar·qmult of the mode's shape (`status=fixed`:
//!   no shape), or a tiny load (−0.1·kW W per phase) when dispatched off.
//! * PVSystem: P_panel = irradiance · shape · Pmpp · PT(T); inverter on/off by
//!   %cutin/%cutout of kVA; P_ac = min(P_panel · eff(P_panel/kVA), Pmpp·%Pmpp);
//!   kvar from pf or kvar within kvarMax/kvarMaxAbs; kVA limit with kvar
//!   priority unless `WattPriority`.
//! * Storage: kW = ±kWrated·%discharge/%charge (follow mode: kWrated·shape),
//!   idling draws %IdlingkW; the same inverter limits as PV; the stored
//!   energy is updated after each time step from the actual terminal power.

use num_complex::Complex64 as C;
use ogg_dss::{Connection, StorageState, VarMode, XyCurve};

use crate::cmat::CMat;

/// Number of conductors (OpenDSS `SetNcondsForConnection`).
pub fn conductors(phases: usize, conn: Connection) -> usize {
    crate::elements::load::conductors(phases, conn)
}

/// Per-phase base voltage: line-to-neutral for 2- and 3-phase units, else kV as given.
pub fn vbase(phases: usize, kv: f64) -> f64 {
    match phases {
        2 | 3 => kv * 1000.0 / 3f64.sqrt(),
        _ => kv * 1000.0,
    }
}

/// OpenDSS `TXYcurveObj.GetYValue`: linear interpolation, points within
/// 1e-5 of x taken as they are, linear extrapolation from the end segments.
pub fn xy_value(curve: &XyCurve, x: f64) -> f64 {
    let n = curve.x.len().min(curve.y.len());
    match n {
        0 => return 0.0,
        1 => return curve.y[0],
        _ => {}
    }
    let (xs, ys) = (&curve.x, &curve.y);
    // OpenDSS `InterpolatePoints(i, j)`: through points j and i; y[i] when they share x.
    let interp = |i: usize, j: usize| -> f64 {
        let den = xs[i] - xs[j];
        if den != 0.0 {
            ys[j] + (x - xs[j]) / den * (ys[i] - ys[j])
        } else {
            ys[i]
        }
    };
    if xs[0] > x {
        return interp(0, 1);
    }
    for i in 0..n {
        if (xs[i] - x).abs() < 1e-5 {
            return ys[i];
        }
        if xs[i] > x {
            return interp(i, i - 1);
        }
    }
    interp(n - 1, n - 2)
}

/// OpenDSS `TXYcurveObj.GetCoefficients`: (a, b) of the segment y = a·x + b
/// used at x (the end segments outside the points; (0, 0) with fewer than two).
pub fn xy_coefficients(curve: &XyCurve, x: f64) -> (f64, f64) {
    let n = curve.x.len().min(curve.y.len());
    if n < 2 {
        return (0.0, 0.0);
    }
    let (xs, ys) = (&curve.x, &curve.y);
    let line = |lo: usize, hi: usize| -> (f64, f64) {
        let a = (ys[hi] - ys[lo]) / (xs[hi] - xs[lo]);
        (a, ys[hi] - a * xs[hi])
    };
    if xs[0] > x {
        return line(0, 1);
    }
    for i in 0..n {
        if xs[i] > x {
            return line(i - 1, i);
        }
    }
    line(n - 2, n - 1)
}

/// OpenDSS `QuadSolver`: the root (−b + √(b² − 4ac)) / 2a (−c/b when a = 0; 0 without a real root).
fn quad_solver(a: f64, b: f64, c: f64) -> f64 {
    if a == 0.0 {
        return if b != 0.0 { -c / b } else { 0.0 };
    }
    let hold = b * b - 4.0 * a * c;
    if hold >= 0.0 {
        (-b + hold.sqrt()) / (2.0 * a)
    } else {
        0.0
    }
}

/// OpenDSS's `LimitCurrent=yes`: the current is capped at what the target
/// power needs at Vminpu. PV systems use it instead of the impedance bands,
/// storage after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentLimit {
    Pv,
    Storage,
}

/// The per-phase current source shared by the three classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Injector {
    pub current_limit: Option<CurrentLimit>,
    /// `Balanced=yes` (3-phase only): currents from the positive-sequence voltage.
    pub balanced: bool,
    /// Generator models 4 and 5: the fixed vars per phase (from the defined
    /// kvar, not shaped) and their admittance −var/Vbase².
    pub var_base: f64,
    pub phases: usize,
    pub nconds: usize,
    pub conn: Connection,
    /// 1 constant PQ (with the bands), 2 constant Z, 3 constant P and |V| (generators).
    pub model: u8,
    pub vbase: f64,
    vbase_min: f64,
    vbase_max: f64,
    /// Target W and var per phase, generation positive.
    pub p_phase: f64,
    pub q_phase: f64,
    pub yeq: C,
    yeq_min: C,
    yeq_max: C,
}

impl Injector {
    pub fn new(phases: usize, conn: Connection, kv: f64, model: u8, vminpu: f64, vmaxpu: f64) -> Self {
        let vb = vbase(phases, kv);
        Injector {
            current_limit: None,
            balanced: false,
            var_base: 0.0,
            phases,
            nconds: conductors(phases, conn),
            conn,
            model,
            vbase: vb,
            vbase_min: vminpu * vb,
            vbase_max: vmaxpu * vb,
            p_phase: 0.0,
            q_phase: 0.0,
            yeq: C::new(0.0, 0.0),
            yeq_min: C::new(0.0, 0.0),
            yeq_max: C::new(0.0, 0.0),
        }
    }

    /// Sets the total output (kW, kvar; generation positive) and Yeq and the
    /// band admittances from it.
    pub fn set_output_kw(&mut self, kw: f64, kvar: f64) {
        let nph = self.phases as f64;
        self.p_phase = 1000.0 * kw / nph;
        self.q_phase = 1000.0 * kvar / nph;
        self.refresh_yeq();
    }

    fn refresh_yeq(&mut self) {
        let vb = self.vbase;
        self.yeq = C::new(self.p_phase, -self.q_phase) / (vb * vb);
        let vmin = self.vbase_min / vb;
        let vmax = self.vbase_max / vb;
        self.yeq_min = if vmin != 0.0 { self.yeq / (vmin * vmin) } else { self.yeq };
        self.yeq_max = if vmax != 0.0 { self.yeq / (vmax * vmax) } else { self.yeq };
    }

    /// Total output at nominal voltage (kW, kvar).
    pub fn output_kw(&self) -> (f64, f64) {
        let nph = self.phases as f64;
        (self.p_phase * nph / 1000.0, self.q_phase * nph / 1000.0)
    }

    /// Generated current of one phase (out of the element into the network at
    /// the phase conductor) for the voltage across that phase.
    pub fn phase_current(&self, v: C) -> C {
        let delta = self.conn == Connection::Delta;
        let div = if delta { 3.0 } else { 1.0 };
        match self.model {
            2 => self.yeq / div * v,
            3 => (C::new(self.p_phase, self.q_phase) / v).conj(),
            4 | 5 => {
                // OpenDSS DoFixedQGen / DoFixedQZGen.
                let yq_fixed = -self.var_base / (self.vbase * self.vbase);
                let mut vmag = v.norm_sqr().sqrt();
                if delta && self.phases > 1 {
                    vmag /= 3f64.sqrt();
                }
                if vmag <= self.vbase_min {
                    C::new(self.yeq_min.re / div, yq_fixed / div) * v
                } else if vmag > self.vbase_max {
                    C::new(self.yeq_max.re / div, yq_fixed / div) * v
                } else if self.model == 4 {
                    (C::new(self.p_phase, self.var_base) / v).conj()
                } else {
                    (C::new(self.p_phase, 0.0) / v).conj() + C::new(0.0, yq_fixed / div) * v
                }
            }
            7 => {
                // OpenDSS DoCurrentLimitedPQ: the current capped at what the
                // power needs at Vminpu (its PhaseCurrentLimit uses P − jQ).
                let limit = C::new(self.p_phase, -self.q_phase) / self.vbase_min;
                let cur = (C::new(self.p_phase, self.q_phase) / v).conj();
                let vmag = v.norm_sqr().sqrt();
                let sqrt3 = 3f64.sqrt();
                if !delta {
                    if cur.norm() > limit.norm() { (limit / (v / vmag)).conj() } else { cur }
                } else if self.phases > 1 {
                    if cur.norm() * sqrt3 > limit.norm() { (limit / (v / (vmag / sqrt3))).conj() } else { cur }
                } else if cur.norm() > limit.norm() {
                    (limit / (v / vmag)).conj()
                } else {
                    cur
                }
            }
            _ => {
                let s = C::new(self.p_phase, self.q_phase);
                let vmag_ll = v.norm_sqr().sqrt();
                let sqrt3 = 3f64.sqrt();
                // OpenDSS's PhaseCurrentLimit: the target power at Vminpu.
                let limit = s / self.vbase_min;
                if self.current_limit == Some(CurrentLimit::Pv) {
                    let cur = (s / v).conj();
                    return if !delta && cur.norm() > limit.norm() {
                        (limit / (v / vmag_ll)).conj()
                    } else if delta && cur.norm() * sqrt3 > limit.norm() {
                        (limit / (v / (vmag_ll / sqrt3))).conj()
                    } else {
                        cur
                    };
                }
                let vmag = if delta && self.phases > 1 { vmag_ll / sqrt3 } else { vmag_ll };
                let cur = if vmag <= self.vbase_min {
                    self.yeq_min / div * v
                } else if vmag > self.vbase_max {
                    self.yeq_max / div * v
                } else {
                    (s / v).conj()
                };
                if self.current_limit == Some(CurrentLimit::Storage) {
                    if !delta && cur.norm() > limit.norm() {
                        return (limit / (v / vmag_ll)).conj();
                    }
                    if delta && cur.norm() * sqrt3 > limit.norm() {
                        return (limit / (v / vmag)).conj();
                    }
                }
                cur
            }
        }
    }

    /// `Balanced=yes`: the three phase voltages replaced by their positive
    /// sequence (zero and negative sequence dropped), as OpenDSS does before
    /// computing the currents.
    pub fn balance(v: &mut [C; 3]) {
        let a = C::from_polar(1.0, 2.0 * std::f64::consts::PI / 3.0);
        let v1 = (v[0] + a * v[1] + a * a * v[2]) / 3.0;
        v[0] = v1;
        v[1] = a * a * v1;
        v[2] = a * v1;
    }

    /// Yprim of admittance `y` per phase (negative for generation), OpenDSS's
    /// `CalcYPrimMatrix` layout: wye phases to the neutral conductor, delta
    /// phase i to i+1 with y/3.
    pub fn yprim(&self, y: C) -> CMat {
        let n = self.nconds;
        let mut m = CMat::zeros(n);
        match self.conn {
            Connection::Wye => {
                let nn = n - 1;
                for i in 0..self.phases {
                    m.set(i, i, y);
                    m.add(nn, nn, y);
                    m.set_sym(i, nn, -y);
                }
            }
            Connection::Delta => {
                let y3 = y / 3.0;
                for i in 0..self.phases {
                    let j = if i + 1 >= n { 0 } else { i + 1 };
                    m.add(i, i, y3);
                    m.add(j, j, y3);
                    m.add_sym(i, j, -y3);
                }
            }
        }
        m
    }
}

/// Inverter settings shared by PV systems and storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Inverter {
    pub kva: f64,
    pub kvar_max: f64,
    pub kvar_max_abs: f64,
    pub pf: f64,
    pub kvar_requested: f64,
    pub var_mode: VarMode,
    pub watt_priority: bool,
    pub pf_priority: bool,
    pub var_follow_inverter: bool,
    /// No vars below this |kW| (`%PminNoVars`; −1: off).
    pub pmin_no_vars: f64,
    /// Below this |kW| the var limits ramp from 0 (`%PminkvarMax`; −1: off).
    pub pmin_kvar_limit: f64,
    /// Cut-out on the AC side (where the ramp starts).
    pub cutout_ac_kw: f64,
    /// The last kvar computed: OpenDSS keeps it where the ramp leaves kvar unset.
    pub last_kvar: f64,
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Inverter {
    /// kvar for an AC active power (OpenDSS `ComputeInverterPower` without
    /// the Pmin ramps, which are off by default), then the kVA limit.
    /// `idling` is the storage idling state (P priority is forced there).
    pub fn limit(&mut self, mut kw: f64, inverter_on: bool, idling: bool) -> (f64, f64) {
        let (lim, lim_neg) = (self.kvar_max, self.kvar_max_abs);
        let mut kvar;
        if idling {
            kvar = match self.var_mode {
                VarMode::Pf => {
                    let q = kw * (1.0 / (self.pf * self.pf) - 1.0).max(0.0).sqrt() * sign(self.pf);
                    if q > 0.0 && q.abs() > lim {
                        lim
                    } else if q < 0.0 && q.abs() > lim_neg {
                        // OpenDSS takes the sign of the kvar request here
                        // (0 unless a kvar was given): kept as it is.
                        lim_neg * sign(self.kvar_requested)
                    } else {
                        q
                    }
                }
                VarMode::Kvar => {
                    let r = self.kvar_requested;
                    if r > 0.0 && r.abs() > lim {
                        lim
                    } else if r < 0.0 && r.abs() > lim_neg {
                        lim_neg * sign(r)
                    } else {
                        r
                    }
                }
            };
        } else if kw.abs() < self.pmin_no_vars {
            kvar = 0.0;
        } else {
            let ramp_start = self.pmin_no_vars.max(self.cutout_ac_kw);
            let ramped = kw.abs() < self.pmin_kvar_limit;
            match self.var_mode {
                VarMode::Pf => {
                    if self.pf == 1.0 {
                        kvar = 0.0;
                    } else {
                        kvar = kw * (1.0 / (self.pf * self.pf) - 1.0).max(0.0).sqrt() * sign(self.pf);
                        if ramped {
                            if kw.abs() >= ramp_start {
                                let limit = if kvar > 0.0 {
                                    lim
                                } else if kvar < 0.0 {
                                    lim_neg
                                } else {
                                    0.0
                                };
                                let q_ramp = limit / self.pmin_kvar_limit * kw.abs();
                                if kvar.abs() > q_ramp {
                                    kvar = q_ramp * sign(kw) * sign(self.pf);
                                }
                            }
                        } else if kvar.abs() > lim || kvar.abs() > lim_neg {
                            kvar = if kvar > 0.0 { lim } else { lim_neg } * sign(kw) * sign(self.pf);
                            if self.pf_priority {
                                kw = kvar * (1.0 / (1.0 - self.pf * self.pf) - 1.0).sqrt() * sign(self.pf);
                            }
                        }
                    }
                }
                VarMode::Kvar => {
                    let r = self.kvar_requested;
                    if ramped {
                        // Below the ramp's start OpenDSS leaves kvar as it was.
                        kvar = self.last_kvar;
                        if kw.abs() >= ramp_start {
                            let limit = if r > 0.0 {
                                lim
                            } else if r < 0.0 {
                                lim_neg
                            } else {
                                0.0
                            };
                            let q_ramp = limit / self.pmin_kvar_limit * kw.abs();
                            kvar = if r.abs() > q_ramp { q_ramp * sign(r) } else { r };
                        }
                    } else if (r > 0.0 && r.abs() >= lim) || (r < 0.0 && r.abs() >= lim_neg) {
                        kvar = if r > 0.0 { lim } else { lim_neg } * sign(r);
                        if self.pf_priority && r.abs() > 0.0 {
                            let temp_pf = (r / kw).abs().atan().cos();
                            kw = kvar.abs() * (1.0 / (1.0 - temp_pf * temp_pf) - 1.0).sqrt() * sign(kw);
                        }
                    } else {
                        kvar = r;
                    }
                }
            }
        }
        if !inverter_on && self.var_follow_inverter {
            kvar = 0.0;
        }
        let kva = self.kva;
        if kw.hypot(kvar) > kva {
            if idling {
                kvar = (kva * kva - kw * kw).max(0.0).sqrt() * sign(kvar);
            } else if self.var_mode == VarMode::Pf && self.pf_priority {
                let s = if kw < 0.0 { -1.0 } else { 1.0 };
                kw = kva * self.pf.abs() * s;
                kvar = kva * (1.0 - self.pf * self.pf).sqrt() * s * sign(self.pf);
            } else if self.watt_priority {
                if kw > kva {
                    kw = kva;
                    kvar = 0.0;
                } else {
                    kvar = (kva * kva - kw * kw).max(0.0).sqrt() * sign(kvar);
                }
            } else {
                kw = (kva * kva - kvar * kvar).max(0.0).sqrt() * sign(kw);
            }
        }
        if !inverter_on && self.var_follow_inverter {
            kvar = 0.0;
        }
        self.last_kvar = kvar;
        (kw, kvar)
    }
}

/// A PV system's panel and inverter state.
#[derive(Debug, Clone, PartialEq)]
pub struct PvCalc {
    pub irradiance: f64,
    pub pmpp: f64,
    pub pu_pmpp: f64,
    pub temperature: f64,
    pub cutin_kw: f64,
    pub cutout_kw: f64,
    pub eff_curve: Option<XyCurve>,
    pub p_t_curve: Option<XyCurve>,
    pub inverter: Inverter,
    /// The inverter's on/off state carries over between solutions (hysteresis).
    pub inverter_on: bool,
    /// Last computed panel power (kW), for reports.
    pub panel_kw: f64,
    /// Last AC power before the kvar and kVA limits (kW): what is available.
    pub ac_kw: f64,
}

impl PvCalc {
    /// OpenDSS `ComputekWkvar` for irradiance multiplier `shape` and
    /// temperature `temp`: returns the AC (kW, kvar).
    pub fn output(&mut self, shape: f64, temp: f64) -> (f64, f64) {
        let temp_factor = self.p_t_curve.as_ref().map_or(1.0, |c| xy_value(c, temp));
        let panel = self.irradiance * shape * self.pmpp * temp_factor;
        self.panel_kw = panel;
        if self.inverter_on {
            if panel < self.cutout_kw {
                self.inverter_on = false;
            }
        } else if panel >= self.cutin_kw {
            self.inverter_on = true;
        }
        let kw = if self.inverter_on {
            let eff = self.eff_curve.as_ref().map_or(1.0, |c| xy_value(c, panel / self.inverter.kva));
            (panel * eff).min(self.pmpp * self.pu_pmpp)
        } else {
            0.0
        };
        self.ac_kw = kw;
        self.inverter.limit(kw, self.inverter_on, false)
    }
}

/// A storage element's energy state and dispatch.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageCalc {
    pub state: StorageState,
    pub kw_rated: f64,
    pub pu_kw_rated: f64,
    pub kwh_rated: f64,
    pub kwh_stored: f64,
    pub kwh_reserve: f64,
    pub pct_discharge: f64,
    pub pct_charge: f64,
    pub charge_eff: f64,
    pub discharge_eff: f64,
    /// Idling losses in kW (%IdlingkW of kWrated).
    pub p_idling: f64,
    /// What idling draws at the terminals (OpenDSS `kWOutIdling`: the losses
    /// through the inverter's efficiency curve, if any).
    pub kw_out_idling: f64,
    /// Inverter efficiency vs per-unit power (`EffCurve`).
    pub eff_curve: Option<XyCurve>,
    pub cutin_kw: f64,
    pub cutout_kw: f64,
    pub inverter: Inverter,
    pub inverter_on: bool,
    pub dispmode: ogg_dss::DispatchMode,
    pub charge_trigger: f64,
    pub discharge_trigger: f64,
    pub time_charge_trig: f64,
    /// State and rates as the script left them (what a step without an
    /// agent's action starts from).
    pub defined_state: StorageState,
    pub defined_pct_charge: f64,
    pub defined_pct_discharge: f64,
}

impl StorageCalc {
    /// OpenDSS `Set_StorageState`: refuses to charge when full or discharge at the reserve.
    pub fn set_state(&mut self, s: StorageState) {
        self.state = match s {
            StorageState::Charging if self.kwh_stored < self.kwh_rated => s,
            StorageState::Discharging if self.kwh_stored > self.kwh_reserve => s,
            _ => StorageState::Idling,
        };
    }

    /// OpenDSS `CheckStateTriggerLevel` for the level of the shape (or the
    /// dispatch reference). `tod_h` is the time of day, `step_h` the step.
    pub fn check_trigger(&mut self, level: f64, tod_h: f64, step_h: f64) {
        if self.dispmode == ogg_dss::DispatchMode::Follow {
            let s = if level > 0.0 && self.kwh_stored > self.kwh_reserve {
                StorageState::Discharging
            } else if level < 0.0 && self.kwh_stored < self.kwh_rated {
                StorageState::Charging
            } else {
                StorageState::Idling
            };
            self.set_state(s);
            return;
        }
        let (ct, dt) = (self.charge_trigger, self.discharge_trigger);
        if ct == 0.0 && dt == 0.0 {
            return;
        }
        match self.state {
            StorageState::Charging => {
                if ct != 0.0 && (ct < level || self.kwh_stored >= self.kwh_rated) {
                    self.state = StorageState::Idling;
                }
            }
            StorageState::Discharging => {
                if dt != 0.0 && (dt > level || self.kwh_stored <= self.kwh_reserve) {
                    self.state = StorageState::Idling;
                }
            }
            StorageState::Idling => {}
        }
        if self.state == StorageState::Idling {
            if dt != 0.0 && dt < level && self.kwh_stored > self.kwh_reserve {
                self.state = StorageState::Discharging;
            } else if ct != 0.0 && ct > level && self.kwh_stored < self.kwh_rated {
                self.state = StorageState::Charging;
            }
            if self.state != StorageState::Charging
                && self.time_charge_trig > 0.0
                && (tod_h - self.time_charge_trig).abs() < step_h
            {
                self.state = StorageState::Charging;
            }
        }
    }

    /// OpenDSS `ComputekWkvar` (`ComputePresentkW` then `ComputeInverterPower`)
    /// with the shape value `shape` (used by the follow mode).
    pub fn output(&mut self, shape: f64) -> (f64, f64) {
        let follow = self.dispmode == ogg_dss::DispatchMode::Follow;
        let mut kw = 0.0;
        match self.state {
            StorageState::Charging => {
                if self.kwh_stored < self.kwh_rated {
                    kw = if follow {
                        self.pct_charge = shape.abs() * 100.0;
                        self.kw_rated * shape
                    } else {
                        -self.kw_rated * self.pct_charge / 100.0
                    };
                } else {
                    self.state = StorageState::Idling;
                }
            }
            StorageState::Discharging => {
                if self.kwh_stored > self.kwh_reserve {
                    kw = if follow {
                        self.pct_discharge = shape.abs() * 100.0;
                        self.kw_rated * shape
                    } else {
                        self.kw_rated * self.pct_discharge / 100.0
                    };
                } else {
                    self.state = StorageState::Idling;
                }
            }
            StorageState::Idling => {}
        }
        if self.state == StorageState::Idling {
            kw = -self.kw_out_idling;
        }
        // Cut-in / cut-out on the AC side: through the efficiency curve
        // (× when discharging, ÷ otherwise), as OpenDSS's CutOutkWAC/CutInkWAC.
        let kva = self.inverter.kva;
        let (cutin_ac, cutout_ac) = match &self.eff_curve {
            Some(c) => {
                let e_in = xy_value(c, self.cutin_kw.abs() / kva);
                let e_out = xy_value(c, self.cutout_kw.abs() / kva);
                if self.state == StorageState::Discharging {
                    (self.cutin_kw * e_in, self.cutout_kw * e_out)
                } else {
                    (self.cutin_kw / e_in, self.cutout_kw / e_out)
                }
            }
            None => (self.cutin_kw, self.cutout_kw),
        };
        if self.inverter_on {
            if kw.abs() < cutout_ac {
                self.inverter_on = false;
                self.state = StorageState::Idling;
            }
        } else if kw.abs() >= cutin_ac {
            self.inverter_on = true;
        } else {
            self.state = StorageState::Idling;
        }
        if self.inverter_on {
            // kWOut_Calc: |kW| limited to %kWrated of kWrated.
            let limit = self.kw_rated * self.pu_kw_rated;
            match self.state {
                StorageState::Discharging if kw > limit => kw = limit,
                StorageState::Charging | StorageState::Idling if kw < -limit => kw = -limit,
                _ => {}
            }
        } else {
            kw = -self.kw_out_idling;
        }
        let idling = self.state == StorageState::Idling;
        self.inverter.limit(kw, self.inverter_on, idling)
    }

    /// OpenDSS `ComputeDCkW`: the DC power behind an AC power of `ac_kw`
    /// (magnitude) through the efficiency curve — discharging solves
    /// ac = (a·dc/kVA + b)·dc, charging/idling dc = ac·b / (1 − a·ac/kVA) —
    /// repeated while the curve segment moves. OpenDSS's loop condition can
    /// spin forever after 10 tries; this stops there.
    pub fn dc_kw(&self, ac_kw: f64) -> f64 {
        let Some(curve) = &self.eff_curve else { return ac_kw };
        let kva = self.inverter.kva;
        let mut dc = ac_kw;
        let (mut guess, mut coef) = ((0.0, 0.0), (1.0, 1.0));
        let mut tries = 0;
        while coef.0 != guess.0 && coef.1 != guess.1 && tries < 10 {
            tries += 1;
            guess = xy_coefficients(curve, dc.abs() / kva);
            dc = match self.state {
                StorageState::Discharging => quad_solver(guess.0 / kva, guess.1, -ac_kw),
                _ => dc.abs() * guess.1 / (1.0 - guess.0 * dc.abs() / kva),
            };
            coef = xy_coefficients(curve, dc.abs() / kva);
        }
        dc.abs()
    }

    /// OpenDSS `UpdateStorage` at the end of a time step, from the actual
    /// terminal power `terminal_kw` (into the element) over `hours`.
    pub fn update_energy(&mut self, terminal_kw: f64, hours: f64) {
        let dc_kw = self.dc_kw(terminal_kw.abs());
        match self.state {
            StorageState::Discharging => {
                self.kwh_stored -= (dc_kw + self.p_idling) / self.discharge_eff * hours;
                if self.kwh_stored < self.kwh_reserve {
                    self.kwh_stored = self.kwh_reserve;
                    self.state = StorageState::Idling;
                }
            }
            StorageState::Charging => {
                let net = dc_kw - self.p_idling;
                if net >= 0.0 {
                    self.kwh_stored += net * self.charge_eff * hours;
                    if self.kwh_stored > self.kwh_rated {
                        self.kwh_stored = self.kwh_rated;
                        self.state = StorageState::Idling;
                    }
                } else {
                    self.kwh_stored += net / self.discharge_eff * hours;
                    if self.kwh_stored < self.kwh_reserve {
                        self.kwh_stored = self.kwh_reserve;
                        self.state = StorageState::Idling;
                    }
                }
            }
            StorageState::Idling => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xy_curve_interpolates_and_extrapolates() {
        let c = XyCurve { name: "c".into(), x: vec![0.0, 1.0, 2.0], y: vec![0.0, 10.0, 30.0], location: Default::default() };
        assert_eq!(xy_value(&c, 0.5), 5.0);
        assert_eq!(xy_value(&c, 1.0), 10.0);
        assert_eq!(xy_value(&c, 1.5), 20.0);
        assert_eq!(xy_value(&c, 3.0), 50.0);
        assert_eq!(xy_value(&c, -1.0), -10.0);
    }
}
