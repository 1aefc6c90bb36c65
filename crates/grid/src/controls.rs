//! Controls in OpenDSS's static and time control modes (docs/opendss-semantics.md §4,
//! `RegControl.pas`, `CapControl.pas`, `ControlQueue.pas`, `Solution.pas`).
//!
//! After every converged power flow each enabled control samples the circuit
//! and, if it wants to act, queues an action at `t + delay`. A control that
//! is back in band withdraws its queued action.
//!
//! * Static mode (`CTRLSTATIC`): time stays 0; only the actions with the
//!   smallest time run (`DoNearestActions`); the controls have settled when
//!   the queue is empty. A regulator moves 70 % of the needed taps at once.
//! * Time mode (`CTRLTIME`, `Set ControlMode=time`): `t` is the time series'
//!   simulation clock and the queue survives from step to step; every action
//!   due by the present time runs (`DoActions`), and the controls have
//!   settled when none was due. A regulator moves one tap per action and, if
//!   taps remain, queues the next at `t + tapdelay` — so a long step moves one
//!   tap per step, a short one moves taps only once the delay has elapsed.
//! * Event mode (`EVENTDRIVEN`, `Set ControlMode=event`): like static mode
//!   only the earliest actions run, but the clock moves to their time and
//!   stays there (a time series continues from it); taps move one per action
//!   as in time mode.
//!
//! Reversible and cogen regulators first sense the power direction through
//! their winding and queue a reversing action `revdelay` later
//! (`sense_power_direction`); reversed, they regulate with the reverse
//! settings (README, *Reverse power and event mode*).

use num_complex::Complex64 as C;
use ogg_dss::{CapControlType, Circuit, Connection, ControlMode, ElementClass};

use crate::elements::transformer::{rotate_phase, winding_vbase};
use crate::engine::PowerFlow;
use crate::error::GridError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Owner {
    Reg(usize),
    /// A regulator's reversing action (OpenDSS `ACTION_REVERSE`).
    RegReverse(usize),
    Cap(usize),
}

#[derive(Debug, Clone, PartialEq)]
struct Action {
    time: f64,
    /// OpenDSS's (hour, seconds) of the action: event mode moves the clock there.
    clock: (i64, f64),
    handle: u64,
    owner: Owner,
    code: CapAction,
}

/// OpenDSS's control queue, ordered by action time (stable for equal times).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ControlQueue {
    actions: Vec<Action>,
    next_handle: u64,
}

impl ControlQueue {
    fn push(&mut self, due: Due, owner: Owner, code: CapAction) -> u64 {
        self.next_handle += 1;
        let handle = self.next_handle;
        let time = due.time;
        let pos = self.actions.iter().position(|a| time < a.time).unwrap_or(self.actions.len());
        self.actions.insert(pos, Action { time, clock: due.clock, handle, owner, code });
        handle
    }

    fn delete(&mut self, handle: u64) {
        self.actions.retain(|a| a.handle != handle);
    }

    /// Removes and returns the first action due by `now` (OpenDSS `Pop`).
    fn pop_due(&mut self, now: f64) -> Option<Action> {
        let pos = self.actions.iter().position(|a| a.time <= now)?;
        Some(self.actions.remove(pos))
    }

    /// Removes and returns every action with the earliest time.
    fn pop_nearest(&mut self) -> Vec<Action> {
        let Some(first) = self.actions.first() else { return Vec::new() };
        let t = first.time;
        let mut out = Vec::new();
        while let Some(pos) = self.actions.iter().position(|a| a.time <= t) {
            out.push(self.actions.remove(pos));
        }
        out
    }

    pub fn clear(&mut self) {
        self.actions.clear();
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegControlState {
    /// Shared so that snapshots and samples clone without allocating.
    pub name: std::sync::Arc<str>,
    /// Index into the engine's transformers.
    pub(crate) xfmr: usize,
    /// 0-based winding whose voltage is sampled (OpenDSS `ElementTerminal`).
    pub winding: usize,
    /// 0-based winding whose tap moves.
    pub tap_winding: usize,
    pub vreg: f64,
    pub band: f64,
    pub ptratio: f64,
    pub ctprim: f64,
    pub r: f64,
    pub x: f64,
    pub delay: f64,
    /// Time mode: seconds between successive taps of one tap change.
    pub tap_delay: f64,
    pub maxtapchange: usize,
    pub ptphase: i32,
    pub vlimit: f64,
    pub enabled: bool,
    /// Delay shortened in proportion to the voltage error (`inversetime=yes`).
    pub inverse_time: bool,
    /// Beckwith-style LDC: |Vc| = |Vpt| − |I|·ldc_z (volts), when > 0.
    pub ldc_z: f64,
    /// Node sampled instead of the winding (`bus=`), with its PT ratio.
    pub(crate) regulated_node: Option<usize>,
    pub remote_ptratio: f64,
    /// Reverse-power settings (`reversible`, `cogen`, `revneutral`, `revvreg`,
    /// `revband`, `revR`/`revX`, `rev_Z`, `revThreshold` in W, `revDelay`).
    pub reverse: ReverseSettings,
    /// Regulating in the reverse direction (OpenDSS `InReverseMode`).
    pub in_reverse: bool,
    /// Cogen mode: looking forward with the reverse settings (`InCogenMode`).
    pub in_cogen: bool,
    /// `reversible` or `cogen` on a regulator sampling its own winding:
    /// each sample first senses the power direction.
    senses_power_direction: bool,
    /// The settings of the present mode (forward, reverse or cogen), so that
    /// sampling picks none: band centre and width, LDC R+jX and LDC_Z.
    active: ActiveSettings,
    reverse_pending: bool,
    rev_handle: u64,
    rev_back_handle: u64,
    armed: bool,
    pending: f64,
    handle: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ActiveSettings {
    vreg: f64,
    band: f64,
    ldc: C,
    ldc_z: f64,
}

impl RegControlState {
    /// Reverse and cogen modes regulate to `revvreg`/`revband` with the
    /// reverse LDC settings (`RegControl.Sample`).
    fn refresh_active_settings(&mut self) {
        let rev = &self.reverse;
        self.active = if self.in_reverse || self.in_cogen {
            ActiveSettings { vreg: rev.vreg, band: rev.band, ldc: C::new(rev.r, rev.x), ldc_z: rev.ldc_z }
        } else {
            ActiveSettings { vreg: self.vreg, band: self.band, ldc: C::new(self.r, self.x), ldc_z: self.ldc_z }
        };
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReverseSettings {
    pub reversible: bool,
    pub cogen: bool,
    pub neutral: bool,
    pub vreg: f64,
    pub band: f64,
    pub r: f64,
    pub x: f64,
    pub ldc_z: f64,
    /// Reverse-power threshold in watts (the script gives kW).
    pub threshold_w: f64,
    pub delay: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CapAction {
    None,
    Open,
    Close,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CapControlState {
    pub name: std::sync::Arc<str>,
    /// Index into the engine's capacitors.
    pub(crate) cap: usize,
    /// Index into the engine's elements (monitored element).
    pub(crate) monitored: usize,
    pub(crate) terminal: usize,
    pub kind: CapControlType,
    pub ptratio: f64,
    pub ctratio: f64,
    pub on: f64,
    pub off: f64,
    pub on_delay: f64,
    pub off_delay: f64,
    pub dead_time: f64,
    pub volt_override: bool,
    pub vmax: f64,
    pub vmin: f64,
    pub ptphase: i32,
    pub enabled: bool,
    armed: bool,
    pending: CapAction,
    handle: u64,
    last_open_time: f64,
}

pub(crate) fn build_regcontrols(c: &Circuit, pf: &PowerFlow) -> Result<Vec<RegControlState>, GridError> {
    let mut out = Vec::new();
    for rc in &c.regcontrols {
        let who = format!("RegControl.{}", rc.name);
        let tname = rc.transformer.strip_prefix("transformer.").unwrap_or(&rc.transformer).to_ascii_lowercase();
        let xfmr = pf
            .transformers
            .iter()
            .position(|t| pf.elements[t.elem].name == tname)
            .ok_or_else(|| GridError::element(&who, &rc.location, format!("transformer '{}' not found (or disabled)", rc.transformer)))?;
        let nw = pf.transformers[xfmr].model.windings.len();
        if rc.winding == 0 || rc.winding > nw {
            return Err(GridError::element(&who, &rc.location, format!("winding {} does not exist", rc.winding)));
        }
        let tap_winding = if rc.tapwinding == 0 || rc.tapwinding > nw { rc.winding } else { rc.tapwinding };
        if !crate::positive(rc.ptratio) {
            return Err(GridError::element(&who, &rc.location, format!("ptratio must be positive (got {})", rc.ptratio)));
        }
        if (rc.reversible || rc.cogen) && !(rc.rev_threshold.is_finite() && rc.rev_delay.is_finite() && rc.rev_delay >= 0.0) {
            return Err(GridError::element(
                &who,
                &rc.location,
                format!("revthreshold and revdelay must be finite, revdelay ≥ 0 (got {} kW, {} s)", rc.rev_threshold, rc.rev_delay),
            ));
        }
        if (rc.reversible || rc.cogen) && !(rc.revband.is_finite() && rc.revvreg.is_finite()) {
            return Err(GridError::element(&who, &rc.location, format!("revvreg and revband must be finite (got {}, {})", rc.revvreg, rc.revband)));
        }
        if (rc.r != 0.0 || rc.x != 0.0 || rc.ldc_z > 0.0) && !crate::positive(rc.ctprim) {
            return Err(GridError::element(&who, &rc.location, format!("line-drop compensation needs ctprim > 0 (got {})", rc.ctprim)));
        }
        let nph = pf.transformers[xfmr].model.phases as i32;
        let ptphase = if rc.ptphase > nph { 1 } else { rc.ptphase };
        // `bus=`: OpenDSS samples that bus's first listed node (or node 1).
        let regulated_node = match &rc.bus {
            None => None,
            Some(spec) => {
                let mut parts = spec.split('.');
                let bus = parts.next().unwrap_or("").to_ascii_lowercase();
                let node: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
                let b = pf.nodes.find_bus(&bus).ok_or_else(|| {
                    GridError::element(&who, &rc.location, format!("regulated bus '{spec}' does not exist"))
                })?;
                let idx = pf.nodes.buses[b].nodes.iter().find(|(n, _)| *n == node).map(|&(_, i)| i).ok_or_else(|| {
                    GridError::element(&who, &rc.location, format!("regulated bus '{spec}' has no node {node}"))
                })?;
                Some(idx)
            }
        };
        out.push(RegControlState {
            name: rc.name.as_str().into(),
            xfmr,
            winding: rc.winding - 1,
            tap_winding: tap_winding - 1,
            vreg: rc.vreg,
            band: rc.band,
            ptratio: rc.ptratio,
            ctprim: rc.ctprim,
            r: rc.r,
            x: rc.x,
            delay: rc.delay,
            tap_delay: rc.tapdelay,
            maxtapchange: rc.maxtapchange,
            ptphase,
            vlimit: rc.vlimit,
            enabled: rc.enabled,
            inverse_time: rc.inverse_time,
            ldc_z: rc.ldc_z,
            regulated_node,
            remote_ptratio: if rc.remote_ptratio > 0.0 { rc.remote_ptratio } else { rc.ptratio },
            reverse: ReverseSettings {
                reversible: rc.reversible,
                cogen: rc.cogen,
                neutral: rc.rev_neutral,
                vreg: rc.revvreg,
                band: rc.revband,
                r: rc.rev_r,
                x: rc.rev_x,
                ldc_z: rc.rev_z,
                threshold_w: rc.rev_threshold * 1000.0,
                delay: rc.rev_delay,
            },
            in_reverse: false,
            in_cogen: false,
            senses_power_direction: (rc.reversible || rc.cogen) && regulated_node.is_none(),
            active: ActiveSettings { vreg: rc.vreg, band: rc.band, ldc: C::new(rc.r, rc.x), ldc_z: rc.ldc_z },
            reverse_pending: false,
            rev_handle: 0,
            rev_back_handle: 0,
            armed: false,
            pending: 0.0,
            handle: 0,
        });
    }
    Ok(out)
}

/// Taps forced by `TapNum=` in the script: (transformer index, winding, tap pu).
pub(crate) fn forced_taps(c: &Circuit, pf: &PowerFlow) -> Vec<(usize, usize, f64)> {
    let mut out = Vec::new();
    for (rc, st) in c.regcontrols.iter().zip(&pf.regs) {
        if let Some(n) = rc.tapnum {
            let t = &pf.transformers[st.xfmr].model;
            let w = &t.windings[st.tap_winding];
            let tap = n as f64 * tap_increment(t, st.tap_winding) + (w.max_tap + w.min_tap) / 2.0;
            out.push((st.xfmr, st.tap_winding, tap.clamp(w.min_tap, w.max_tap)));
        }
    }
    out
}

pub(crate) fn build_capcontrols(c: &Circuit, pf: &PowerFlow) -> Result<Vec<CapControlState>, GridError> {
    let mut out = Vec::new();
    for cc in &c.capcontrols {
        let who = format!("CapControl.{}", cc.name);
        let cname = cc.capacitor.strip_prefix("capacitor.").unwrap_or(&cc.capacitor).to_ascii_lowercase();
        let cap = pf
            .capacitors
            .iter()
            .position(|k| pf.elements[k.elem].name == cname)
            .ok_or_else(|| GridError::element(&who, &cc.location, format!("capacitor '{}' not found (or disabled)", cc.capacitor)))?;
        let (class, name) = cc
            .element
            .split_once('.')
            .ok_or_else(|| GridError::element(&who, &cc.location, format!("element '{}' must be Class.name", cc.element)))?;
        let class = match class.to_ascii_lowercase().as_str() {
            "line" => ElementClass::Line,
            "transformer" => ElementClass::Transformer,
            "capacitor" => ElementClass::Capacitor,
            "reactor" => ElementClass::Reactor,
            "load" => ElementClass::Load,
            "vsource" => ElementClass::Vsource,
            _ => return Err(GridError::element(&who, &cc.location, format!("unsupported monitored element '{}'", cc.element))),
        };
        let monitored = pf
            .find_element(class, &name.to_ascii_lowercase())
            .ok_or_else(|| GridError::element(&who, &cc.location, format!("element '{}' not found", cc.element)))?;
        let terminal = cc.terminal.max(1) - 1;
        if terminal >= pf.elements[monitored].nterms {
            return Err(GridError::element(&who, &cc.location, format!("terminal {} does not exist", cc.terminal)));
        }
        if !crate::positive(cc.ptratio) || !crate::positive(cc.ctratio) {
            return Err(GridError::element(&who, &cc.location, "ptratio and ctratio must be positive"));
        }
        // PF settings are given in −1..1 (negative = leading); OpenDSS maps them to 0..2.
        let (on, off) = if cc.kind == CapControlType::PowerFactor {
            let f = |v: f64| if v < 0.0 { 2.0 + v } else { v };
            (f(cc.on_setting), f(cc.off_setting))
        } else {
            (cc.on_setting, cc.off_setting)
        };
        out.push(CapControlState {
            name: cc.name.as_str().into(),
            cap,
            monitored,
            terminal,
            kind: cc.kind,
            ptratio: cc.ptratio,
            ctratio: cc.ctratio,
            on,
            off,
            on_delay: cc.delay,
            off_delay: cc.delay_off,
            dead_time: cc.dead_time,
            volt_override: cc.volt_override,
            vmax: cc.vmax,
            vmin: cc.vmin,
            ptphase: cc.ptphase,
            enabled: cc.enabled,
            armed: false,
            pending: CapAction::None,
            handle: 0,
            last_open_time: -cc.dead_time,
        });
    }
    Ok(out)
}

/// Currents into an element's conductors for the present voltages (PD elements: Yprim·V).
fn element_currents(pf: &PowerFlow, e: usize) -> Vec<C> {
    crate::results::element_currents(pf, e)
}

fn tap_increment(t: &ogg_dss::Transformer, w: usize) -> f64 {
    let wd = &t.windings[w];
    if wd.num_taps > 0 {
        (wd.max_tap - wd.min_tap) / wd.num_taps as f64
    } else {
        0.0
    }
}

fn time_mode(pf: &PowerFlow) -> bool {
    pf.settings.control_mode == ControlMode::Time
}

fn event_mode(pf: &PowerFlow) -> bool {
    pf.settings.control_mode == ControlMode::Event
}

/// Time and event modes keep a clock; static mode's time stays 0.
fn clocked(pf: &PowerFlow) -> bool {
    time_mode(pf) || event_mode(pf)
}

/// An action's due time: total seconds (queue order) and OpenDSS's (hour, s).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Due {
    time: f64,
    clock: (i64, f64),
}

/// The present time in seconds as the controls see it (0 in static mode).
fn now_s(pf: &PowerFlow) -> f64 {
    if clocked(pf) {
        let (hour, sec) = pf.control_clock;
        hour as f64 * 3600.0 + sec
    } else {
        0.0
    }
}

/// Queue time of an action `delay` seconds from now: OpenDSS `Push` carries
/// whole hours out of the seconds before forming hour·3600 + s (the same
/// rounding as OpenDSS's, which decides ties with the present time).
fn action_time(pf: &PowerFlow, delay: f64) -> Due {
    if !clocked(pf) {
        return Due { time: delay, clock: (0, delay) };
    }
    let (mut hour, sec) = pf.control_clock;
    let mut s = sec + delay;
    while s > 3600.0 {
        hour += 1;
        s -= 3600.0;
    }
    Due { time: hour as f64 * 3600.0 + s, clock: (hour, s) }
}

/// OpenDSS's `Cabs`: sqrt(re² + im²), as the regulator's Pascal computes
/// its voltages (`num_complex`'s `norm` is `hypot`, a slow libm call that
/// may differ in the last bit).
#[inline]
fn cabs(z: C) -> f64 {
    (z.re * z.re + z.im * z.im).sqrt()
}

#[inline(always)]
fn sample_reg(pf: &mut PowerFlow, i: usize) {
    let reg = &pf.regs[i];
    if reg.maxtapchange == 0 {
        pf.regs[i].pending = 0.0;
        return;
    }
    // Power direction (not with a regulated bus, as in OpenDSS).
    if reg.senses_power_direction && sense_power_direction(pf, i) {
        return;
    }
    let reg = &pf.regs[i];
    let ts = &pf.transformers[reg.xfmr];
    let t = &ts.model;
    let e = &pf.elements[ts.elem];
    let nph = t.phases.min(8);
    let nconds = t.phases + 1;
    let k = reg.winding * nconds;
    let v = |cond: usize| pf.v[e.nodes[cond]];
    let mut vbuf = [C::new(0.0, 0.0); 8];
    for (p, slot) in vbuf.iter_mut().enumerate().take(nph) {
        *slot = match t.windings[reg.winding].conn {
            Connection::Wye => v(k + p) - v(k + nconds - 1),
            Connection::Delta => {
                let q = rotate_phase(t, p + 1).min(nconds) - 1;
                v(k + p) - v(k + q)
            }
        };
    }
    let (mut vcontrol, controlled_phase) = if let Some(node) = reg.regulated_node {
        (pf.v[node] / reg.remote_ptratio, 0)
    } else {
        match reg.ptphase {
        0 | -1 => {
            let mut best = 0;
            for p in 1..nph {
                let better = if reg.ptphase == 0 {
                    cabs(vbuf[p]) > cabs(vbuf[best])
                } else {
                    cabs(vbuf[p]) < cabs(vbuf[best])
                };
                if better {
                    best = p;
                }
            }
            (vbuf[best] / reg.ptratio, best)
        }
        p => {
            let p = (p.max(1) as usize - 1).min(nph - 1);
            (vbuf[p] / reg.ptratio, p)
        }
        }
    };
    let vlocal = if reg.vlimit > 0.0 {
        if reg.regulated_node.is_some() {
            cabs(vbuf[0] / reg.ptratio)
        } else {
            cabs(vcontrol)
        }
    } else {
        0.0
    };
    if reg.regulated_node.is_none() && (reg.r != 0.0 || reg.x != 0.0 || reg.ldc_z > 0.0) {
        // Current into the sampled conductor: one row of Yprim·V.
        let row = nconds * reg.winding + controlled_phase;
        let mut cur = C::new(0.0, 0.0);
        for (j, &node) in e.nodes.iter().enumerate() {
            cur += e.yprim.get(row, j) * pf.v[node];
        }
        let ildc = cur / reg.ctprim;
        // (The forward LDC_Z decides the kind, as in OpenDSS.)
        if reg.ldc_z == 0.0 {
            vcontrol += reg.active.ldc * ildc;
        } else {
            vcontrol = C::new(cabs(vcontrol) - cabs(ildc) * reg.active.ldc_z, 0.0);
        }
    }
    let mut vactual = cabs(vcontrol);
    // Reverse mode: the sampled winding's voltage over the tap approximates
    // the other side's (OpenDSS samples the same winding); cogen mode looks
    // forward with the reverse setpoint.
    if reg.in_reverse {
        vactual /= ts.taps[reg.tap_winding];
    }
    let (vreg_test, band_test) = (reg.active.vreg, reg.active.band);
    if pf.settings.trace {
        eprintln!("reg {} tap {:.5} vactual {vactual:.4} vpt {:.4}", reg.name, ts.taps[reg.tap_winding], (vbuf[controlled_phase] / reg.ptratio).norm());
    }
    let mut needed = (vreg_test - vactual).abs() > band_test / 2.0;
    let over_limit = reg.vlimit > 0.0 && vlocal > reg.vlimit;
    if over_limit {
        needed = true;
    }
    if !needed {
        // In band (most samples of a time series): nothing below the test is
        // needed, so the tap range, increment, base voltage and due time are
        // left uncomputed.
        let st = &mut pf.regs[i];
        st.pending = 0.0;
        if st.armed {
            let h = st.handle;
            st.armed = false;
            st.handle = 0;
            pf.queue.delete(h);
        }
        return;
    }
    let tap = ts.taps[reg.tap_winding];
    let wd = &t.windings[reg.tap_winding];
    let (min_tap, max_tap) = (wd.min_tap, wd.max_tap);
    let increment = tap_increment(t, reg.tap_winding);
    let base_v = winding_vbase(t, reg.winding);
    let delay = if reg.inverse_time && reg.band > 0.0 {
        reg.delay / (2.0 * (reg.vreg - vactual).abs() / reg.band).min(10.0)
    } else {
        reg.delay
    };
    let (vlimit, ptratio) = (reg.vlimit, reg.ptratio);
    // Another winding's tap, or reverse mode, moves the other way.
    let reverse = reg.tap_winding != reg.winding || reg.in_reverse;
    let due = action_time(pf, delay);
    let st = &mut pf.regs[i];
    let vboost = if over_limit { vlimit - vlocal } else { vreg_test - vactual };
    let boost = vboost * ptratio / base_v;
    st.pending = if increment > 0.0 { (boost / increment).round_ties_even() * increment } else { 0.0 };
    if reverse {
        st.pending = -st.pending;
    }
    if st.pending != 0.0 && !st.armed {
        let can_move = if st.pending > 0.0 { tap < max_tap } else { tap > min_tap };
        if can_move {
            st.handle = pf.queue.push(due, Owner::Reg(i), CapAction::None);
            st.armed = true;
        }
    }
}

/// Real power in watts flowing *forward* through the sampled winding: minus
/// the power into its terminal (OpenDSS `-Power[ElementTerminal].re`, summed
/// over the terminal's conductors, neutral included).
fn forward_power_w(pf: &PowerFlow, i: usize) -> f64 {
    let reg = &pf.regs[i];
    let e = &pf.elements[pf.transformers[reg.xfmr].elem];
    let nconds = pf.transformers[reg.xfmr].model.phases + 1;
    let first = reg.winding * nconds;
    let cur = element_currents(pf, pf.transformers[reg.xfmr].elem);
    let into: C = (first..first + nconds).map(|k| pf.v[e.nodes[k]] * cur[k].conj()).sum();
    -into.re
}

/// OpenDSS's reverse-power sensing at the top of `RegControl.Sample`:
/// looking forward, power below −threshold queues a reversing action
/// `revdelay` later (withdrawn if the power comes back to ≥ −threshold
/// first); reversed (or in cogen mode), power above +threshold queues the
/// switch back (withdrawn at ≤ +threshold). The hysteresis is the band
/// between the two thresholds. With `revneutral=yes`, a reversed regulator
/// only heads for the neutral tap (one queued action `tapdelay` later) and
/// does not regulate: returns true when the sample ends there.
#[inline(never)]
fn sense_power_direction(pf: &mut PowerFlow, i: usize) -> bool {
    let looking_forward = !pf.regs[i].in_reverse || pf.regs[i].in_cogen;
    let fwd = forward_power_w(pf, i);
    let threshold = pf.regs[i].reverse.threshold_w;
    let rev_delay = pf.regs[i].reverse.delay;
    if looking_forward && !pf.regs[i].in_cogen {
        if !pf.regs[i].reverse_pending && fwd < -threshold {
            let due = action_time(pf, rev_delay);
            let st = &mut pf.regs[i];
            st.reverse_pending = true;
            st.rev_handle = pf.queue.push(due, Owner::RegReverse(i), CapAction::None);
        }
        let st = &mut pf.regs[i];
        if st.reverse_pending && fwd >= -threshold {
            st.reverse_pending = false;
            if st.rev_handle > 0 {
                let h = st.rev_handle;
                st.rev_handle = 0;
                pf.queue.delete(h);
            }
        }
        return false;
    }
    if !pf.regs[i].reverse_pending && fwd > threshold {
        let due = action_time(pf, rev_delay);
        let st = &mut pf.regs[i];
        st.reverse_pending = true;
        st.rev_back_handle = pf.queue.push(due, Owner::RegReverse(i), CapAction::None);
    }
    let st = &mut pf.regs[i];
    if st.reverse_pending && fwd <= threshold {
        st.reverse_pending = false;
        if st.rev_back_handle > 0 {
            let h = st.rev_back_handle;
            st.rev_back_handle = 0;
            pf.queue.delete(h);
        }
    }
    if !pf.regs[i].reverse.neutral {
        return false;
    }
    if !pf.regs[i].armed {
        pf.regs[i].pending = 0.0;
        let (xfmr, tw) = (pf.regs[i].xfmr, pf.regs[i].tap_winding);
        let tap = pf.transformers[xfmr].taps[tw];
        // OpenDSS's Epsilon (1e-12).
        if (tap - 1.0).abs() > 1e-12 {
            let increment = tap_increment(&pf.transformers[xfmr].model, tw);
            let pending = if increment > 0.0 { ((1.0 - tap) / increment).round_ties_even() * increment } else { 0.0 };
            pf.regs[i].pending = pending;
            if pending != 0.0 {
                // Not the control's handle: back in forward mode, an
                // in-band sample withdraws only its own earlier action.
                let due = action_time(pf, pf.regs[i].tap_delay);
                pf.queue.push(due, Owner::Reg(i), CapAction::None);
                pf.regs[i].armed = true;
            }
        }
    }
    true
}

/// OpenDSS `ACTION_REVERSE`: if the reversal is still pending, toggles
/// cogen mode (when `cogen=yes`) or reverse mode.
fn act_reverse(pf: &mut PowerFlow, i: usize) {
    let st = &mut pf.regs[i];
    if st.reverse_pending {
        if st.reverse.cogen {
            st.in_cogen = !st.in_cogen;
        } else {
            st.in_reverse = !st.in_reverse;
        }
        st.reverse_pending = false;
        st.refresh_active_settings();
    }
}

/// Time-mode tap action (OpenDSS `OneInDirectionOf`): one tap toward the
/// pending change; while taps remain, the next action is queued `tapdelay`
/// later. That follow-up is not the control's handle, so a control that
/// returns into band leaves it queued, to find nothing pending when it runs.
/// Returns whether the tap moved.
fn act_reg_one_tap(pf: &mut PowerFlow, i: usize) -> bool {
    let (xfmr, tw, pending) = (pf.regs[i].xfmr, pf.regs[i].tap_winding, pf.regs[i].pending);
    if pending == 0.0 {
        pf.regs[i].armed = false;
        return false;
    }
    let t = &pf.transformers[xfmr].model;
    let increment = tap_increment(t, tw);
    let (change, mut remaining) = if pending > 0.0 { (increment, pending - increment) } else { (-increment, pending + increment) };
    if remaining.abs() < 0.9 * increment {
        remaining = 0.0;
    }
    let wd = &t.windings[tw];
    let new_tap = (pf.transformers[xfmr].taps[tw] + change).clamp(wd.min_tap, wd.max_tap);
    let moved = new_tap != pf.transformers[xfmr].taps[tw];
    if moved {
        pf.transformers[xfmr].taps[tw] = new_tap;
        // The Yprim of a valid transformer cannot fail to rebuild with a new tap.
        let _ = pf.update_transformer(xfmr);
    }
    pf.regs[i].pending = remaining;
    if remaining != 0.0 {
        let due = action_time(pf, pf.regs[i].tap_delay);
        pf.queue.push(due, Owner::Reg(i), CapAction::None);
    } else {
        pf.regs[i].armed = false;
    }
    moved
}

/// Static-mode tap action: 70% of the needed taps, at least one, at most `maxtapchange`.
fn act_reg(pf: &mut PowerFlow, i: usize) {
    let st = &mut pf.regs[i];
    if st.pending == 0.0 {
        st.armed = false;
        return;
    }
    let (xfmr, tw, pending, limit) = (st.xfmr, st.tap_winding, st.pending, st.maxtapchange);
    st.pending = 0.0;
    st.armed = false;
    let t = &pf.transformers[xfmr].model;
    let increment = tap_increment(t, tw);
    let mut ntaps = (0.7 * pending.abs() / increment).trunc() as usize;
    if ntaps == 0 {
        ntaps = 1;
    }
    if ntaps > limit {
        ntaps = limit;
    }
    let change = if pending > 0.0 { ntaps as f64 * increment } else { -(ntaps as f64) * increment };
    let wd = &t.windings[tw];
    let mut new_tap = pf.transformers[xfmr].taps[tw] + change;
    if new_tap < wd.min_tap {
        new_tap = wd.min_tap;
    } else if new_tap > wd.max_tap {
        new_tap = wd.max_tap;
    }
    if new_tap != pf.transformers[xfmr].taps[tw] {
        pf.transformers[xfmr].taps[tw] = new_tap;
        // The Yprim of a valid transformer cannot fail to rebuild with a new tap.
        let _ = pf.update_transformer(xfmr);
    }
}

fn cap_closed(pf: &PowerFlow, cap: usize) -> bool {
    pf.capacitors[cap].states.contains(&1)
}

fn sample_cap(pf: &mut PowerFlow, i: usize) {
    let t_now = now_s(pf);
    let cc = pf.capcontrols[i].clone();
    let closed = cap_closed(pf, cc.cap);
    let e = &pf.elements[cc.monitored];
    let off = cc.terminal * e.nconds;
    let nph = e.nconds.min(pf.elements[pf.capacitors[cc.cap].elem].nconds.max(1));
    let cap_delta = pf.capacitors[cc.cap].model.conn == Connection::Delta;
    let term_v: Vec<C> = (0..e.nconds).map(|k| pf.v[e.nodes[off + k]]).collect();
    let control_voltage = |ptphase: i32| -> f64 {
        let n = nph.min(term_v.len()).max(1);
        match ptphase {
            -1 => term_v[..n].iter().map(|v| v.norm()).fold(1e50, f64::min) / cc.ptratio,
            0 => term_v[..n].iter().map(|v| v.norm()).fold(0.0, f64::max) / cc.ptratio,
            p if p < -1 => term_v[..n].iter().map(|v| v.norm()).sum::<f64>() / n as f64 / cc.ptratio,
            p => {
                let p = (p as usize).clamp(1, n) - 1;
                if cap_delta {
                    let q = if p + 1 >= n { 0 } else { p + 1 };
                    (term_v[p] - term_v[q]).norm() / cc.ptratio
                } else {
                    term_v[p].norm() / cc.ptratio
                }
            }
        }
    };
    let mut should_switch = false;
    let mut pending = cc.pending;
    if cc.volt_override && cc.kind != CapControlType::Voltage {
        let vt = control_voltage(cc.ptphase);
        if !closed && vt < cc.vmin {
            pending = CapAction::Close;
            should_switch = true;
        } else if closed && vt > cc.vmax {
            pending = CapAction::Open;
            should_switch = true;
        }
    }
    let cap = &pf.capacitors[cc.cap];
    // OpenDSS AvailableSteps = NumSteps − LastStepInService.
    let last_in_service = cap.states.iter().rposition(|&s| s == 1).map(|k| k + 1).unwrap_or(0);
    let available = cap.states.len() > last_in_service;
    let total_kvar: f64 = cap.model.kvar.iter().sum();
    let nsteps = cap.model.kvar.len().max(1) as f64;
    if !should_switch {
        let (test, lower_closes) = match cc.kind {
            CapControlType::Current => {
                let cur = element_currents(pf, cc.monitored);
                // ctphase defaults to 1 (the model has no ctphase).
                (cur[off].norm() / cc.ctratio, false)
            }
            CapControlType::Voltage => (control_voltage(cc.ptphase), true),
            CapControlType::Kvar => {
                let cur = element_currents(pf, cc.monitored);
                let s: C = (0..e.nconds).map(|k| pf.v[e.nodes[off + k]] * cur[off + k].conj()).sum();
                (s.im * 0.001, false)
            }
            CapControlType::PowerFactor => {
                let cur = element_currents(pf, cc.monitored);
                let s: C = (0..e.nconds).map(|k| pf.v[e.nodes[off + k]] * cur[off + k].conj()).sum();
                let sabs = s.norm();
                let mut pfv = if sabs != 0.0 { s.re.abs() / sabs } else { 1.0 };
                if s.im < 0.0 {
                    pfv = 2.0 - pfv;
                }
                // Encode as (value, special) below.
                let q_kvar = s.im * 0.001;
                match closed {
                    false => {
                        if pfv < cc.on && q_kvar > total_kvar * 50.0 * 0.01 {
                            pending = CapAction::Close;
                            should_switch = true;
                        } else {
                            pending = CapAction::None;
                        }
                    }
                    true => {
                        if pfv > cc.off {
                            pending = CapAction::Open;
                            should_switch = true;
                        } else if available {
                            if pfv < cc.on && q_kvar > total_kvar / nsteps * 0.5 {
                                pending = CapAction::Close;
                                should_switch = true;
                            }
                        } else {
                            pending = CapAction::None;
                        }
                    }
                }
                (f64::NAN, false)
            }
            CapControlType::Time => (f64::NAN, false),
        };
        if !test.is_nan() {
            // Voltage control closes on low values; current and kvar on high ones.
            let wants_close = if lower_closes { test < cc.on } else { test > cc.on };
            let wants_open = if lower_closes { test > cc.off } else { test < cc.off };
            if !closed {
                if wants_close {
                    pending = CapAction::Close;
                    should_switch = true;
                } else {
                    pending = CapAction::None;
                }
            } else {
                if lower_closes {
                    pending = CapAction::None;
                }
                if wants_open {
                    pending = CapAction::Open;
                    should_switch = true;
                } else if available {
                    if wants_close {
                        pending = CapAction::Close;
                        should_switch = true;
                    }
                } else {
                    pending = CapAction::None;
                }
            }
        }
    }
    let st = &mut pf.capcontrols[i];
    st.pending = pending;
    if should_switch && !st.armed {
        let delay = if pending == CapAction::Close {
            if t_now - st.last_open_time < st.dead_time {
                st.on_delay.max(st.dead_time + st.on_delay - (t_now - st.last_open_time))
            } else {
                st.on_delay
            }
        } else {
            st.off_delay
        };
        let due = action_time(pf, delay);
        let st = &mut pf.capcontrols[i];
        st.handle = pf.queue.push(due, Owner::Cap(i), pending);
        st.armed = true;
    }
    let st = &mut pf.capcontrols[i];
    if st.armed && st.pending == CapAction::None {
        let h = st.handle;
        st.armed = false;
        pf.queue.delete(h);
    }
}

/// Returns whether a step switched.
fn act_cap(pf: &mut PowerFlow, i: usize) -> bool {
    let time_mode_open_time = clocked(pf);
    let now = now_s(pf);
    let cap = pf.capcontrols[i].cap;
    let nsteps = pf.capacitors[cap].states.len();
    let pending = pf.capcontrols[i].pending;
    let closed = cap_closed(pf, cap);
    let states = &mut pf.capacitors[cap].states;
    let last_in_service = states.iter().rposition(|&s| s == 1);
    let mut changed = false;
    match pending {
        CapAction::Open => {
            if closed {
                if let Some(k) = last_in_service {
                    states[k] = 0;
                    changed = true;
                }
                if time_mode_open_time {
                    // OpenDSS records the opening time of single-step banks only.
                    if nsteps == 1 {
                        pf.capcontrols[i].last_open_time = now;
                    }
                } else if !states.contains(&1) {
                    pf.capcontrols[i].last_open_time = 0.0;
                }
            }
        }
        CapAction::Close => {
            let next = last_in_service.map(|k| k + 1).unwrap_or(0);
            if next < states.len() {
                states[next] = 1;
                changed = true;
            }
        }
        CapAction::None => {}
    }
    let st = &mut pf.capcontrols[i];
    st.armed = false;
    if changed {
        let _ = pf.update_capacitor(cap);
    }
    changed
}

/// Samples every control and runs the nearest queued actions. Returns
/// whether any action ran (i.e. the controls have not settled).
pub(crate) fn sample_and_act(pf: &mut PowerFlow) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { sample_and_act_avx2(pf) };
        }
    }
    sample_and_act_body(pf)
}

/// [`sample_and_act`] compiled for AVX2 (the regulators' sampling inlined):
/// the same IEEE operations — Rust never fuses a multiply and an add — with
/// `addsub` complex products and three-operand forms.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sample_and_act_avx2(pf: &mut PowerFlow) -> bool {
    sample_and_act_body(pf)
}

#[inline(always)]
fn sample_and_act_body(pf: &mut PowerFlow) -> bool {
    for i in 0..pf.regs.len() {
        if pf.regs[i].enabled {
            sample_reg(pf, i);
        }
    }
    for i in 0..pf.capcontrols.len() {
        if pf.capcontrols[i].enabled {
            sample_cap(pf, i);
        }
    }
    if time_mode(pf) {
        return do_due_actions(pf);
    }
    if event_mode(pf) {
        return do_nearest_actions_advancing_time(pf);
    }
    let actions = pf.queue.pop_nearest();
    if pf.settings.trace {
        eprintln!("actions: {:?}", actions.iter().map(|a| (a.owner, a.time)).collect::<Vec<_>>());
        for r in &pf.regs { eprintln!("  {} pending {:.5} armed {}", r.name, r.pending, r.armed); }
    }
    let acted = !actions.is_empty();
    for a in actions {
        match a.owner {
            Owner::Reg(i) => act_reg(pf, i),
            Owner::RegReverse(i) => act_reverse(pf, i),
            Owner::Cap(i) => {
                pf.capcontrols[i].pending = a.code;
                act_cap(pf, i);
            }
        }
    }
    // In a time series OpenDSS rebuilds Y before the next solve, and with it
    // the Yprims of the loads whose shape values moved since they were
    // stamped: with this every step's iteration count is OpenDSS's (IEEE 34
    // Mod 2 daily). (Snapshot re-solves after API edits keep the stamped Y:
    // restamping there too gives OpenDSS's counts on the 8500-node feeder as
    // well, but costs a refactorisation of nearly every column per tap move
    // — re-solves 1.3–1.7× slower.)
    if acted && pf.y_dirty && pf.time_series_mode {
        pf.restamp_changed_loads();
    }
    acted
}

/// Time mode (OpenDSS `DoActions`): runs every action due by the present
/// time, including any an action queues for a time already past. A
/// capacitor acts on its control's latest pending change, not on the one it
/// queued. Returns whether any action ran.
///
/// When an action changed Y, OpenDSS rebuilds it before the next solve and
/// with it the Yprims of the loads and DERs whose values changed since they
/// were stamped (`ReCalcInvalidYPrims`): restamping them here at their
/// present values makes every step's iteration count OpenDSS's.
fn do_due_actions(pf: &mut PowerFlow) -> bool {
    let now = now_s(pf);
    let mut acted = false;
    let mut y_changed = false;
    while let Some(a) = pf.queue.pop_due(now) {
        if pf.settings.trace {
            eprintln!("time {now} s: action {:?} due {}", a.owner, a.time);
        }
        acted = true;
        y_changed |= act_timed(pf, a.owner);
    }
    if y_changed {
        pf.restamp_pc_elements();
    }
    acted
}

/// Runs one queued action in time or event mode (a regulator moves one
/// tap); returns whether it changed Y.
fn act_timed(pf: &mut PowerFlow, owner: Owner) -> bool {
    match owner {
        Owner::Reg(i) => act_reg_one_tap(pf, i),
        Owner::RegReverse(i) => {
            act_reverse(pf, i);
            false
        }
        Owner::Cap(i) => act_cap(pf, i),
    }
}

/// Event mode (OpenDSS `EVENTDRIVEN`, `DoNearestActions(intHour, t)`): runs
/// the actions with the earliest queued time, whatever the present time, and
/// moves the clock to that time — later samples queue from there, and a
/// time series continues from there (OpenDSS advances the same `intHour`,
/// `t`). A regulator moves one tap per action, as in time mode; a
/// capacitor acts on its control's latest pending change.
fn do_nearest_actions_advancing_time(pf: &mut PowerFlow) -> bool {
    let actions = pf.queue.pop_nearest();
    let Some(first) = actions.first() else { return false };
    pf.control_clock = first.clock;
    if pf.settings.trace {
        eprintln!("event: clock {:?}, actions {:?}", pf.control_clock, actions.iter().map(|a| a.owner).collect::<Vec<_>>());
    }
    let mut y_changed = false;
    for a in actions {
        y_changed |= act_timed(pf, a.owner);
    }
    if y_changed {
        pf.restamp_pc_elements();
    }
    true
}

impl PowerFlow {
    /// Regulator taps as (RegControl name, tap in pu, step number
    /// round((tap − 1)/step)).
    pub fn regulator_taps(&self) -> Vec<(String, f64, i64)> {
        self.regs
            .iter()
            .map(|r| {
                let t = &self.transformers[r.xfmr];
                let tap = t.taps[r.tap_winding];
                let inc = tap_increment(&t.model, r.tap_winding);
                let step = if inc > 0.0 { ((tap - 1.0) / inc).round() as i64 } else { 0 };
                // `String::from`, not `to_string`: `Arc<str>` would go through `Display`.
                (String::from(&*r.name), tap, step)
            })
            .collect()
    }

    /// How many RegControls are regulating in reverse or cogen mode.
    pub fn regulators_reversed(&self) -> usize {
        self.regs.iter().filter(|r| r.in_reverse || r.in_cogen).count()
    }

    /// Sets a transformer winding's tap (pu), clamped to its range, and marks Y for refactoring.
    pub fn set_transformer_tap(&mut self, transformer: &str, winding: usize, tap: f64) -> Result<(), GridError> {
        let name = transformer.strip_prefix("transformer.").unwrap_or(transformer).to_ascii_lowercase();
        let t = self
            .transformers
            .iter()
            .position(|t| self.elements[t.elem].name == name)
            .ok_or_else(|| GridError::Unknown { kind: "transformer", name: transformer.to_string() })?;
        let w = winding.checked_sub(1).filter(|&w| w < self.transformers[t].taps.len()).ok_or_else(|| {
            GridError::Invalid(format!("transformer '{transformer}' has no winding {winding}"))
        })?;
        let wd = &self.transformers[t].model.windings[w];
        self.transformers[t].taps[w] = tap.clamp(wd.min_tap, wd.max_tap);
        self.update_transformer(t)
    }

    /// Capacitor step states (capacitor name, states).
    pub fn capacitor_states(&self) -> Vec<(String, Vec<u8>)> {
        self.capacitors.iter().map(|c| (self.elements[c.elem].name.clone(), c.states.clone())).collect()
    }

    /// Sets the simulation time (seconds from hour 0) that controls in time
    /// mode see at the next solve; a time series sets it before each step.
    pub fn set_control_time_s(&mut self, total_s: f64) {
        let hour = (total_s / 3600.0).floor() as i64;
        self.control_clock = (hour, total_s - hour as f64 * 3600.0);
    }

    /// The controls' clock (hour, seconds): a time series sets it before each
    /// step; in event mode a solve leaves it at its last action's time.
    pub fn control_clock(&self) -> (i64, f64) {
        self.control_clock
    }

    /// Forgets pending control actions.
    pub fn reset_controls(&mut self) {
        self.queue.clear();
        for r in &mut self.regs {
            r.armed = false;
            r.pending = 0.0;
            r.reverse_pending = false;
            r.rev_handle = 0;
            r.rev_back_handle = 0;
        }
        for c in &mut self.capcontrols {
            c.armed = false;
            c.pending = CapAction::None;
            c.last_open_time = -c.dead_time;
        }
    }
}

/// Taps, capacitor steps and control state, to undo a failed solve.
#[derive(Debug, Clone)]
pub(crate) struct ControlSnapshot {
    taps: Vec<Vec<f64>>,
    caps: Vec<Vec<u8>>,
    regs: Vec<RegControlState>,
    capcontrols: Vec<CapControlState>,
    queue: ControlQueue,
}

impl ControlSnapshot {
    pub fn take(pf: &PowerFlow) -> Self {
        ControlSnapshot {
            taps: pf.transformers.iter().map(|t| t.taps.clone()).collect(),
            caps: pf.capacitors.iter().map(|c| c.states.clone()).collect(),
            regs: pf.regs.clone(),
            capcontrols: pf.capcontrols.clone(),
            queue: pf.queue.clone(),
        }
    }

    pub fn restore(self, pf: &mut PowerFlow) {
        for (t, taps) in self.taps.into_iter().enumerate() {
            if pf.transformers[t].taps != taps {
                pf.transformers[t].taps = taps;
                let _ = pf.update_transformer(t);
            }
        }
        for (c, states) in self.caps.into_iter().enumerate() {
            if pf.capacitors[c].states != states {
                pf.capacitors[c].states = states;
                let _ = pf.update_capacitor(c);
            }
        }
        pf.regs = self.regs;
        pf.capcontrols = self.capcontrols;
        pf.queue = self.queue;
    }
}

/// The AVX2 copy of the control sampling against its baseline build on the
/// same (randomly moved) voltages: the same decisions and state, bit for bit.
#[cfg(all(test, target_arch = "x86_64"))]
mod dispatched_kernel_tests {
    use super::*;
    use crate::engine::dispatched_kernel_tests::perturbed_feeders;

    #[test]
    fn sample_and_act_avx2_gives_the_baseline_bits() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let mut acted = 0;
        for (name, pf) in perturbed_feeders(0x5eed_0003) {
            let (mut base, mut wide) = (pf.clone(), pf);
            let ran_base = sample_and_act_body(&mut base);
            // SAFETY: AVX2 checked above.
            let ran_wide = unsafe { sample_and_act_avx2(&mut wide) };
            assert_eq!(ran_base, ran_wide, "{name}: whether an action ran");
            acted += ran_base as usize;
            // Debug prints f64s round-trip exact: equal text, equal bits.
            let state = |pf: &PowerFlow| format!("{:?}", (&pf.regs, &pf.capcontrols, &pf.queue, &pf.transformers, &pf.capacitors, &pf.elements));
            assert_eq!(state(&base), state(&wide), "{name}: control state");
        }
        assert!(acted > 0, "the moved voltages make some control act");
    }
}
