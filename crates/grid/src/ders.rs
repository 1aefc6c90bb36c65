//! Generators, PV systems and storage in the engine: compiling them from the
//! circuit, their injection currents, and what they report. The models are
//! in [`crate::elements::der`].

use num_complex::Complex64 as C;
use ogg_dss::{Circuit, DispatchMode, ElementClass, Location, StorageState, XyCurve};

use crate::cmat::CMat;
use crate::elements::der::{Injector, Inverter, PvCalc, StorageCalc};
use crate::error::GridError;

/// Most conductors a DER can have here (3 phases + neutral).
pub const MAX_DER_CONDUCTORS: usize = 4;

/// Generator data besides the injector.
#[derive(Debug, Clone, PartialEq)]
pub struct GenCalc {
    pub kw: f64,
    pub kvar: f64,
    pub fixed: bool,
    pub forceon: bool,
    pub dispmode: DispatchMode,
    pub dispvalue: f64,
    /// Dispatched on (OpenDSS `GenON`).
    pub on: bool,
    /// Model 3: target line-to-neutral volts, var limits per phase, dQ/dV, step limit.
    pub vtarget: f64,
    pub var_min: f64,
    pub var_max: f64,
    pub dqdv: f64,
    pub delta_qmax: f64,
    pub pvfactor: f64,
    pub vpu: f64,
    /// Rating (kVA) agents' set points are clipped to.
    pub kva: f64,
}

/// What kind of DER and its own state.
#[derive(Debug, Clone, PartialEq)]
pub enum DerModel {
    Generator(GenCalc),
    Pv(PvCalc),
    Storage(StorageCalc),
}

#[derive(Debug, Clone)]
pub(crate) struct DerState {
    pub elem: usize,
    pub class: ElementClass,
    /// Index into the circuit's vector of this class.
    pub model_index: usize,
    pub nodes: [usize; MAX_DER_CONDUCTORS],
    pub nconds: usize,
    /// The Yprim stamped in the system Y.
    pub ysys: CMat,
    pub inj: Injector,
    pub model: DerModel,
    /// Generated phase currents from the last injection calculation (what
    /// results report, as for loads).
    pub last_currents: [C; 3],
    pub currents_valid: bool,
    pub location: Location,
    /// What the stamped Yprim depends on besides the ratings (storage state,
    /// generator dispatched on): OpenDSS rebuilds the Yprim when it changes.
    pub stamped_key: u8,
    /// The key after the last end-of-step storage update: a change there
    /// rebuilds the Yprim before the next solve, one made by the dispatch
    /// after the solve's first injection (see `refresh_der_yprims`).
    pub end_of_step_key: u8,
}

fn curve<'a>(c: &'a Circuit, name: &Option<String>, element: &str, location: &Location) -> Result<Option<&'a XyCurve>, GridError> {
    let Some(name) = name else { return Ok(None) };
    c.xycurves
        .iter()
        .find(|x| x.name.eq_ignore_ascii_case(name))
        .map(Some)
        .ok_or_else(|| GridError::element(element, location, format!("XYcurve '{name}' is not defined")))
}

fn check_basics(element: &str, location: &Location, phases: usize, kv: f64) -> Result<(), GridError> {
    if phases == 0 || phases > 3 || !crate::positive(kv) {
        return Err(GridError::element(element, location, "needs 1 to 3 phases and kV > 0"));
    }
    Ok(())
}

/// The injector and state of a generator at its snapshot output.
pub(crate) fn generator(g: &ogg_dss::Generator, settings: &crate::Settings) -> Result<(Injector, DerModel), GridError> {
    let name = format!("Generator.{}", g.name);
    check_basics(&name, &g.location, g.phases, g.kv)?;
    let mut inj = Injector::new(g.phases, g.conn, g.kv, g.model, g.vminpu, g.vmaxpu);
    let nph = g.phases as f64;
    inj.var_base = 1000.0 * g.kvar / nph;
    // Model 7's Balanced (the only generator model that reads it).
    inj.balanced = g.model == 7 && g.balanced;
    let var_min = 1000.0 * g.minkvar / nph;
    let var_max = 1000.0 * g.maxkvar / nph;
    let vtarget = g.vpu * 1000.0 * g.kv / if g.phases > 1 { 3f64.sqrt() } else { 1.0 };
    let mut calc = GenCalc {
        kw: g.kw,
        kvar: g.kvar,
        fixed: g.fixed,
        forceon: g.forceon,
        dispmode: g.dispmode,
        dispvalue: g.dispvalue,
        on: true,
        vtarget,
        var_min,
        var_max,
        dqdv: 0.0,
        delta_qmax: (var_max - var_min) * 0.1,
        pvfactor: g.pvfactor,
        vpu: g.vpu,
        kva: g.kva,
    };
    calc.on = dispatched_on(&calc, settings.load_mult, settings.price_signal);
    let (kw, kvar) = snapshot_output(&calc, settings.gen_mult);
    inj.set_output_kw(kw, kvar);
    Ok((inj, DerModel::Generator(calc)))
}

/// A generator's snapshot output (OpenDSS `SetNominalGeneration`): kW and
/// kvar × GenMult (not for `status=fixed`), a tiny load when dispatched off.
pub(crate) fn snapshot_output(g: &GenCalc, gen_mult: f64) -> (f64, f64) {
    if !g.on {
        (-0.0001 * g.kw, 0.0)
    } else if g.fixed {
        (g.kw, g.kvar)
    } else {
        (g.kw * gen_mult, g.kvar * gen_mult)
    }
}

/// OpenDSS's dispatch check (`SetNominalGeneration`) against the dispatch
/// reference (LoadMult, × the `default` shape in time modes) or the price
/// signal (`Set PriceSignal`; price shapes are not read).
pub(crate) fn dispatched_on(g: &GenCalc, dispatch_reference: f64, price: f64) -> bool {
    if g.forceon {
        return true;
    }
    match g.dispmode {
        DispatchMode::LoadLevel => !(g.dispvalue > 0.0 && dispatch_reference < g.dispvalue),
        DispatchMode::Price => !(g.dispvalue > 0.0 && price < g.dispvalue),
        _ => true,
    }
}

pub(crate) fn pvsystem(c: &Circuit, p: &ogg_dss::PvSystem) -> Result<(Injector, DerModel), GridError> {
    let name = format!("PVSystem.{}", p.name);
    check_basics(&name, &p.location, p.phases, p.kv)?;
    if !crate::positive(p.kva) {
        return Err(GridError::element(&name, &p.location, "needs kVA > 0"));
    }
    let mut inj = Injector::new(p.phases, p.conn, p.kv, p.model, p.vminpu, p.vmaxpu);
    let mut calc = PvCalc {
        irradiance: p.irradiance,
        pmpp: p.pmpp,
        pu_pmpp: p.pct_pmpp / 100.0,
        temperature: p.temperature,
        cutin_kw: p.pct_cutin * p.kva / 100.0,
        cutout_kw: p.pct_cutout * p.kva / 100.0,
        eff_curve: curve(c, &p.eff_curve, &name, &p.location)?.cloned(),
        p_t_curve: curve(c, &p.p_t_curve, &name, &p.location)?.cloned(),
        inverter: Inverter {
            pmin_no_vars: if p.pct_pmin_no_vars <= 0.0 { -1.0 } else { p.pct_pmin_no_vars * p.pmpp / 100.0 },
            pmin_kvar_limit: if p.pct_pmin_kvar_max <= 0.0 { -1.0 } else { p.pct_pmin_kvar_max * p.pmpp / 100.0 },
            cutout_ac_kw: 0.0,
            last_kvar: 0.0,
            kva: p.kva,
            kvar_max: p.kvar_max,
            kvar_max_abs: p.kvar_max_abs,
            pf: p.pf,
            kvar_requested: p.kvar,
            var_mode: p.var_mode,
            watt_priority: p.watt_priority,
            pf_priority: p.pf_priority,
            var_follow_inverter: p.var_follow_inverter,
        },
        inverter_on: true,
        panel_kw: 0.0,
        ac_kw: 0.0,
    };
    inj.current_limit = p.limit_current.then_some(crate::elements::der::CurrentLimit::Pv);
    inj.balanced = p.balanced;
    // OpenDSS's CutOutkWAC: the cut-out through the efficiency curve.
    calc.inverter.cutout_ac_kw = match &calc.eff_curve {
        Some(c) => calc.cutout_kw * crate::elements::der::xy_value(c, calc.cutout_kw / p.kva),
        None => calc.cutout_kw,
    };
    let (kw, kvar) = calc.output(1.0, p.temperature);
    inj.set_output_kw(kw, kvar);
    Ok((inj, DerModel::Pv(calc)))
}

pub(crate) fn storage(c: &Circuit, s: &ogg_dss::Storage) -> Result<(Injector, DerModel), GridError> {
    let name = format!("Storage.{}", s.name);
    let eff_curve = curve(c, &s.eff_curve, &name, &s.location)?;
    check_basics(&name, &s.location, s.phases, s.kv)?;
    if !crate::positive(s.kva) || !crate::positive(s.kw_rated) || !crate::positive(s.kwh_rated) {
        return Err(GridError::element(&name, &s.location, "needs kVA, kWrated and kWhrated > 0"));
    }
    if !(crate::positive(s.pct_eff_charge) && crate::positive(s.pct_eff_discharge)) {
        return Err(GridError::element(&name, &s.location, "needs %EffCharge and %EffDischarge > 0"));
    }
    let mut inj = Injector::new(s.phases, s.conn, s.kv, s.model, s.vminpu, s.vmaxpu);
    let mut calc = StorageCalc {
        state: s.state,
        kw_rated: s.kw_rated,
        pu_kw_rated: s.pu_kw_rated,
        kwh_rated: s.kwh_rated,
        kwh_stored: s.kwh_stored,
        kwh_reserve: s.kwh_rated * s.pct_reserve / 100.0,
        pct_discharge: s.pct_discharge,
        pct_charge: s.pct_charge,
        charge_eff: s.pct_eff_charge / 100.0,
        discharge_eff: s.pct_eff_discharge / 100.0,
        p_idling: s.pct_idling_kw * s.kw_rated / 100.0,
        kw_out_idling: 0.0,
        eff_curve: eff_curve.cloned(),
        cutin_kw: s.pct_cutin * s.kva / 100.0,
        cutout_kw: s.pct_cutout * s.kva / 100.0,
        inverter: Inverter {
            pmin_no_vars: if s.pct_pmin_no_vars <= 0.0 { -1.0 } else { s.pct_pmin_no_vars * s.kw_rated / 100.0 },
            pmin_kvar_limit: if s.pct_pmin_kvar_max <= 0.0 { -1.0 } else { s.pct_pmin_kvar_max * s.kw_rated / 100.0 },
            cutout_ac_kw: s.pct_cutout * s.kva / 100.0,
            last_kvar: 0.0,
            kva: s.kva,
            kvar_max: s.kvar_max,
            kvar_max_abs: s.kvar_max_abs,
            pf: s.pf,
            kvar_requested: s.kvar,
            var_mode: s.var_mode,
            watt_priority: s.watt_priority,
            pf_priority: s.pf_priority,
            var_follow_inverter: s.var_follow_inverter,
        },
        inverter_on: true,
        dispmode: s.dispmode,
        charge_trigger: s.charge_trigger,
        discharge_trigger: s.discharge_trigger,
        time_charge_trig: s.time_charge_trig,
        defined_state: s.state,
        defined_pct_charge: s.pct_charge,
        defined_pct_discharge: s.pct_discharge,
    };
    // OpenDSS kWOutIdling: the idling losses through the efficiency curve.
    calc.kw_out_idling = match &calc.eff_curve {
        Some(e) => calc.p_idling / crate::elements::der::xy_value(e, calc.p_idling / s.kva),
        None => calc.p_idling,
    };
    inj.current_limit = s.limit_current.then_some(crate::elements::der::CurrentLimit::Storage);
    inj.balanced = s.balanced;
    let (kw, kvar) = calc.output(1.0);
    inj.set_output_kw(kw, kvar);
    Ok((inj, DerModel::Storage(calc)))
}

/// The admittance a DER puts in the system Y (OpenDSS `CalcYPrimMatrix`):
/// −Yeq for generators and PV (1 % of it for a model-3 generator); for
/// storage ±kWrated/Vbase²/phases by state (0 when idling).
pub(crate) fn stamp(inj: &Injector, model: &DerModel, kw_rated: f64) -> CMat {
    let y = match model {
        DerModel::Generator(_) if inj.model == 3 => -inj.yeq / 100.0,
        DerModel::Generator(_) | DerModel::Pv(_) => -inj.yeq,
        DerModel::Storage(s) => {
            let y = C::new(kw_rated * 1000.0 / (inj.vbase * inj.vbase) / inj.phases as f64, 0.0);
            match s.state {
                StorageState::Charging => y,
                StorageState::Idling => C::new(0.0, 0.0),
                StorageState::Discharging => -y,
            }
        }
    };
    inj.yprim(y)
}

/// The part of a DER's state its Yprim depends on (see `DerState::stamped_key`).
pub(crate) fn y_key(model: &DerModel) -> u8 {
    match model {
        DerModel::Generator(g) => u8::from(g.on),
        DerModel::Pv(_) => 0,
        DerModel::Storage(s) => match s.state {
            StorageState::Charging => 0,
            StorageState::Idling => 1,
            StorageState::Discharging => 2,
        },
    }
}

impl DerState {
    /// Voltage across phase i and the conductor the current returns on.
    #[inline]
    pub fn phase_voltage(&self, vt: &[C; MAX_DER_CONDUCTORS], i: usize) -> (usize, C) {
        let nc = self.nconds;
        match self.inj.conn {
            ogg_dss::Connection::Wye => (nc - 1, vt[i] - vt[nc - 1]),
            ogg_dss::Connection::Delta => {
                let j = if i + 1 >= nc { 0 } else { i + 1 };
                (j, vt[i] - vt[j])
            }
        }
    }

    /// Each phase's voltage and return conductor, balanced when asked.
    fn phase_voltages(&self, vt: &[C; MAX_DER_CONDUCTORS]) -> ([usize; 3], [C; 3]) {
        let mut returns = [0usize; 3];
        let mut v = [C::new(0.0, 0.0); 3];
        for i in 0..self.inj.phases {
            (returns[i], v[i]) = self.phase_voltage(vt, i);
        }
        if self.inj.balanced && self.inj.phases == 3 {
            Injector::balance(&mut v);
        }
        (returns, v)
    }

    /// Adds Yprim·V plus the generated currents into `out` (system nodes).
    /// A model-3 generator first moves its vars towards its voltage target
    /// (OpenDSS `DoPVTypeGen`).
    pub fn inject(&mut self, v: &[C], out: &mut [C]) {
        let nc = self.nconds;
        let mut vt = [C::new(0.0, 0.0); MAX_DER_CONDUCTORS];
        for k in 0..nc {
            vt[k] = v[self.nodes[k]];
        }
        let mut yv = [C::new(0.0, 0.0); MAX_DER_CONDUCTORS];
        self.ysys.mul_vec(&vt[..nc], &mut yv[..nc]);
        let phases = self.inj.phases;
        if self.inj.model == 3 {
            if let DerModel::Generator(g) = &self.model {
                let mut vavg = 0.0;
                for i in 0..phases {
                    vavg += self.phase_voltage(&vt, i).1.norm();
                }
                vavg /= phases as f64 * if self.inj.conn == ogg_dss::Connection::Delta { 3f64.sqrt() } else { 1.0 };
                let mut dq = g.pvfactor * g.dqdv * (g.vtarget - vavg);
                if dq.abs() > g.delta_qmax {
                    dq = if dq < 0.0 { -g.delta_qmax } else { g.delta_qmax };
                }
                let mut q = self.inj.q_phase + dq;
                if q > g.var_max {
                    q = g.var_max;
                } else if q < g.var_min {
                    q = g.var_min;
                }
                self.inj.q_phase = q;
            }
        }
        let (returns, vph) = self.phase_voltages(&vt);
        for i in 0..phases {
            let cur = self.inj.phase_current(vph[i]);
            self.last_currents[i] = cur;
            yv[i] += cur;
            yv[returns[i]] -= cur;
        }
        self.currents_valid = true;
        for k in 0..nc {
            out[self.nodes[k]] += yv[k];
        }
    }

    /// Currents into each conductor (OpenDSS's terminal currents).
    pub fn terminal_currents(&self, v: &[C]) -> Vec<C> {
        let nc = self.nconds;
        let mut vt = [C::new(0.0, 0.0); MAX_DER_CONDUCTORS];
        for k in 0..nc {
            vt[k] = v[self.nodes[k]];
        }
        let mut cur = vec![C::new(0.0, 0.0); nc];
        let (returns, vph) = self.phase_voltages(&vt);
        for i in 0..self.inj.phases {
            let g = if self.currents_valid { self.last_currents[i] } else { self.inj.phase_current(vph[i]) };
            cur[i] -= g;
            cur[returns[i]] += g;
        }
        cur
    }
}

impl crate::PowerFlow {
    /// Recomputes DER `i`'s Yprim from its present output and state (OpenDSS
    /// `CalcYPrim`) and marks Y for refactoring.
    fn restamp_der(&mut self, i: usize) {
        let d = &mut self.ders[i];
        let kw_rated = match &d.model {
            DerModel::Storage(s) => s.kw_rated,
            _ => 0.0,
        };
        let full = stamp(&d.inj, &d.model, kw_rated);
        d.stamped_key = y_key(&d.model);
        d.end_of_step_key = d.stamped_key;
        let e = &mut self.elements[d.elem];
        e.yprim_series = crate::elements::tiny_diagonal(&full);
        e.yprim = full.clone();
        d.ysys = full;
        let elem = d.elem;
        self.yprim_changed(elem);
    }

    /// Before a solve: OpenDSS builds a DER's Yprim when the system Y is
    /// first built (with the output of that moment), and rebuilds it before
    /// the solve when the last end-of-step storage update changed the state
    /// (`UpdateStorage` invalidates the Yprim). The solution does not depend
    /// on it, the iteration count does.
    pub(crate) fn refresh_der_yprims(&mut self) {
        let first_build = !self.y_factored;
        for i in 0..self.ders.len() {
            if first_build || self.ders[i].end_of_step_key != self.ders[i].stamped_key {
                self.restamp_der(i);
            }
        }
    }

    /// After an iteration's injections: a state the dispatch changed this
    /// step (storage state, generator on/off — OpenDSS decides them inside
    /// the first `InjCurrents`) rebuilds the Yprim there, so that iteration
    /// solved with the injections of the old one, as in OpenDSS's
    /// `DoNormalSolution` (`if SystemYChanged then BuildYMatrix`). Returns
    /// whether Y changed.
    pub(crate) fn restamp_changed_ders(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.ders.len() {
            if self.ders[i].stamped_key != y_key(&self.ders[i].model) {
                self.restamp_der(i);
                changed = true;
            }
        }
        changed
    }

    /// Rebuilds every load's and DER's Yprim from its present demand or
    /// output, as OpenDSS does when the solution mode changes (its
    /// `Set mode=daily` invalidates every PC element; the next solve, the time
    /// series' first step, builds them at that step's values). The solution
    /// does not depend on it; the iteration counts then equal OpenDSS's.
    /// After a static control action changed Y: the loads whose values moved
    /// since they were stamped get their Yprim rebuilt, as OpenDSS's Y rebuild
    /// recomputes the invalidated PC elements' Yprims; only their columns are
    /// refactored (with the tap's or capacitor's).
    pub(crate) fn restamp_changed_loads(&mut self) {
        // One scratch matrix per conductor count: the comparison with the
        // stamped Yprim allocates nothing for the loads that did not move.
        let mut scratch: Vec<Option<CMat>> = Vec::new();
        for l in 0..self.loads.len() {
            let elem = self.loads[l].elem;
            let calc = &self.loads[l].calc;
            // Nothing the Yprim depends on moved since it was last checked
            // (a load without a shape, or a second tap move in a step).
            if calc.verified_stamp.is_some_and(|k| crate::elements::load::same_key(&k, &calc.yprim_key(&self.elements[elem].yprim))) {
                continue;
            }
            let n = calc.nconds;
            if scratch.len() <= n {
                scratch.resize_with(n + 1, || None);
            }
            let full = scratch[n].get_or_insert_with(|| CMat::zeros(n));
            calc.yprim_into(full);
            let stamped = &self.elements[elem].yprim;
            let same_bits = stamped.as_slice().len() == full.as_slice().len()
                && stamped.as_slice().iter().zip(full.as_slice()).all(|(a, b)| a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits());
            if same_bits {
                let key = calc.yprim_key(stamped);
                self.loads[l].calc.verified_stamp = Some(key);
                continue;
            }
            if let Some(y) = crate::elements::load::LoadY::from_yprim(&self.loads[l].calc, full) {
                self.loads[l].ysys = y;
                let e = &mut self.elements[elem];
                // In place (same order): no allocation per restamped load.
                if e.yprim.order() == n && e.yprim_series.order() == n {
                    e.yprim.copy_from(full);
                    crate::elements::tiny_diagonal_into(full, &mut e.yprim_series);
                } else {
                    e.yprim_series = crate::elements::tiny_diagonal(full);
                    e.yprim = full.clone();
                }
                let key = self.loads[l].calc.yprim_key(&self.elements[elem].yprim);
                self.loads[l].calc.verified_stamp = Some(key);
                self.yprim_changed(elem);
            }
        }
    }

    pub(crate) fn restamp_pc_elements(&mut self) {
        for l in 0..self.loads.len() {
            let full = self.loads[l].calc.yprim();
            // A load stamped at these very values (no shape, or a shape value
            // that did not move) leaves Y as it is, bit for bit: no refactorisation.
            let stamped = &self.elements[self.loads[l].elem].yprim;
            let same_bits = stamped.as_slice().len() == full.as_slice().len()
                && stamped.as_slice().iter().zip(full.as_slice()).all(|(a, b)| a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits());
            if same_bits {
                continue;
            }
            if let Some(y) = crate::elements::load::LoadY::from_yprim(&self.loads[l].calc, &full) {
                self.loads[l].ysys = y;
                let e = &mut self.elements[self.loads[l].elem];
                e.yprim_series = crate::elements::tiny_diagonal(&full);
                e.yprim = full;
                // Every load at once: a full refactorisation.
                self.lu_holds_full_y = false;
                self.y_dirty = true;
            }
        }
        for i in 0..self.ders.len() {
            self.restamp_der(i);
        }
    }

    /// Generators, PV systems and storage, as `Class.name`, in definition order.
    pub fn der_names(&self) -> Vec<String> {
        self.ders.iter().map(|d| self.elements[d.elem].full_name()).collect()
    }

    pub fn n_ders(&self) -> usize {
        self.ders.len()
    }

    /// Index of a DER given as `Class.name` (case-insensitive).
    pub fn der_index(&self, full_name: &str) -> Option<usize> {
        let lower = full_name.to_ascii_lowercase();
        self.ders.iter().position(|d| self.elements[d.elem].full_name().to_ascii_lowercase() == lower)
    }

    /// Power into the DER's terminals (kW, kvar), OpenDSS's sign: negative
    /// when it generates.
    pub fn der_power(&self, i: usize) -> (f64, f64) {
        let f = self.element_flows(self.ders[i].elem);
        (f.p1_kw, f.q1_kvar)
    }

    /// The output the DER is set to deliver at nominal voltage (kW, kvar; generation positive).
    pub fn der_target(&self, i: usize) -> (f64, f64) {
        self.ders[i].inj.output_kw()
    }

    /// Stored energy (kWh) of a storage element, `None` for other DERs.
    pub fn storage_kwh(&self, i: usize) -> Option<f64> {
        match &self.ders[i].model {
            DerModel::Storage(s) => Some(s.kwh_stored),
            _ => None,
        }
    }

    pub fn storage_state(&self, i: usize) -> Option<StorageState> {
        match &self.ders[i].model {
            DerModel::Storage(s) => Some(s.state),
            _ => None,
        }
    }

    /// The DER's model state (generator dispatch, PV inverter, storage energy).
    pub fn der_model(&self, i: usize) -> &DerModel {
        &self.ders[i].model
    }
}

/// What an agent's `SetGeneration` / `SetStorage` asked for and what the
/// element was set to (output, generation / discharge positive, kW and kvar
/// at nominal voltage).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppliedDer {
    pub requested_kw: f64,
    /// NaN when no reactive power was asked for.
    pub requested_kvar: f64,
    pub kw: f64,
    pub kvar: f64,
    /// The request was cut back to the element's limits.
    pub clipped: bool,
}

fn differs(a: f64, b: f64) -> bool {
    (a - b).abs() > 1e-9 * a.abs().max(b.abs()).max(1.0)
}

impl crate::PowerFlow {
    /// Index of a DER by `Class.name` or, if unique among the DERs, its bare name.
    pub fn find_der(&self, name: &str) -> Option<usize> {
        if let Some(i) = self.der_index(name) {
            return Some(i);
        }
        let lower = name.to_ascii_lowercase();
        let mut found = self.ders.iter().enumerate().filter(|(_, d)| self.elements[d.elem].name == lower);
        let first = found.next()?.0;
        found.next().is_none().then_some(first)
    }

    /// Puts every DER back at the output its circuit defines for a snapshot
    /// (generators at kW/kvar, PV at its irradiance and temperature, storage
    /// in its scripted state); stored energy is kept.
    pub fn reset_ders(&mut self) {
        let dispatch_reference = self.settings.load_mult;
        let price = self.settings.price_signal;
        let gen_mult = self.settings.gen_mult;
        for d in &mut self.ders {
            let (kw, kvar) = match &mut d.model {
                DerModel::Generator(g) => {
                    g.on = dispatched_on(g, dispatch_reference, price);
                    let (kw, kvar) = snapshot_output(g, gen_mult);
                    if d.inj.model == 3 && g.on {
                        (kw, d.inj.output_kw().1)
                    } else {
                        (kw, kvar)
                    }
                }
                DerModel::Pv(p) => {
                    let t = p.temperature;
                    p.output(1.0, t)
                }
                DerModel::Storage(s) => {
                    s.pct_charge = s.defined_pct_charge;
                    s.pct_discharge = s.defined_pct_discharge;
                    s.set_state(s.defined_state);
                    s.output(1.0)
                }
            };
            d.inj.set_output_kw(kw, kvar);
            d.currents_valid = false;
        }
    }

    /// OpenDSS `UpdateStorage` for every storage element after a solved step of `hours`.
    pub fn update_storage_energy(&mut self, hours: f64) {
        for i in 0..self.ders.len() {
            if !matches!(self.ders[i].model, DerModel::Storage(_)) {
                continue;
            }
            let (kw, _) = self.der_power(i);
            let d = &mut self.ders[i];
            if let DerModel::Storage(s) = &mut d.model {
                s.update_energy(kw, hours);
            }
            d.end_of_step_key = y_key(&d.model);
        }
    }

    /// Sets PV system `i`'s irradiance for this step (kW/m², as its
    /// `irradiance` property times its load shape would): the panels give
    /// irradiance · Pmpp · P-T factor at the element's temperature, through
    /// its inverter (cut-in/out, kVA, var mode). Returns (kW, kvar) out.
    pub fn set_pv_irradiance(&mut self, i: usize, kw_per_m2: f64) -> Result<(f64, f64), GridError> {
        let name = self.elements[self.ders[i].elem].full_name();
        let bad = |m: String| GridError::Invalid(format!("irradiance on {name}: {m}"));
        if !(kw_per_m2.is_finite() && kw_per_m2 >= 0.0) {
            return Err(bad(format!("{kw_per_m2} kW/m² must be a finite number >= 0")));
        }
        let d = &mut self.ders[i];
        let DerModel::Pv(pv) = &mut d.model else {
            return Err(bad("not a PV system".into()));
        };
        if pv.irradiance <= 0.0 {
            return Err(bad("its `irradiance` property is 0, so no shape can scale it".into()));
        }
        let t = pv.temperature;
        let (kw, kvar) = pv.output(kw_per_m2 / pv.irradiance, t);
        d.inj.set_output_kw(kw, kvar);
        d.currents_valid = false;
        Ok((kw, kvar))
    }

    /// An agent's `SetGeneration` on DER `i` (a generator or PV system).
    /// Generators: kW within [0, kVA], kvar within [minkvar, maxkvar] and
    /// the kVA circle (kW first); without kvar/pf the power factor is kept.
    /// A model-3 generator regulates its own vars (a kvar/pf request is
    /// refused as clipped). PV: kW caps the available power; kvar/pf go
    /// through the inverter's limits as the element's own settings would.
    pub fn set_generation(&mut self, i: usize, kw: Option<f64>, kvar: Option<f64>, pf: Option<f64>) -> Result<AppliedDer, GridError> {
        let name = self.elements[self.ders[i].elem].full_name();
        let bad = |m: &str| GridError::Invalid(format!("SetGeneration on {name}: {m}"));
        if kvar.is_some() && pf.is_some() {
            return Err(bad("give kvar or pf, not both"));
        }
        if kw.is_some_and(|x| !x.is_finite()) || kvar.is_some_and(|x| !x.is_finite()) {
            return Err(bad("kW and kvar must be finite"));
        }
        if pf.is_some_and(|x| !(x.is_finite() && x != 0.0 && (-1.0..=1.0).contains(&x))) {
            return Err(bad("pf must be in [-1, 1] and not 0"));
        }
        let q_of = |p: f64, pf: f64| p * (1.0 / (pf * pf) - 1.0).max(0.0).sqrt() * pf.signum();
        let d = &mut self.ders[i];
        let (p0, q0) = d.inj.output_kw();
        let applied = match &mut d.model {
            DerModel::Generator(g) => {
                let nph = d.inj.phases as f64;
                let requested_kw = kw.unwrap_or(p0);
                let p = requested_kw.max(0.0).min(g.kva);
                let mut clipped = differs(p, requested_kw);
                let requested_q = kvar.or(pf.map(|f| q_of(requested_kw, f)));
                let q = if d.inj.model == 3 {
                    clipped |= requested_q.is_some();
                    q0
                } else {
                    let want = requested_q.unwrap_or(if p0 != 0.0 { p * q0 / p0 } else { q0 });
                    let (a, b) = (g.var_min * nph / 1000.0, g.var_max * nph / 1000.0);
                    let room = (g.kva * g.kva - p * p).max(0.0).sqrt();
                    let q = want.clamp(a.min(b), a.max(b)).clamp(-room, room);
                    if requested_q.is_some() {
                        clipped |= differs(q, want);
                    }
                    q
                };
                AppliedDer { requested_kw, requested_kvar: requested_q.unwrap_or(f64::NAN), kw: p, kvar: q, clipped }
            }
            DerModel::Pv(pv) => {
                let available = pv.ac_kw;
                let requested_kw = kw.unwrap_or(available);
                let cap = requested_kw.max(0.0);
                let mut inverter = pv.inverter.clone();
                if let Some(q) = kvar {
                    inverter.var_mode = ogg_dss::VarMode::Kvar;
                    inverter.kvar_requested = q;
                }
                if let Some(f) = pf {
                    inverter.var_mode = ogg_dss::VarMode::Pf;
                    inverter.pf = f;
                }
                let (p, q) = inverter.limit(available.min(cap), pv.inverter_on, false);
                let requested_q = kvar.or(pf.map(|f| q_of(p, f)));
                let clipped = differs(p, requested_kw) || requested_q.is_some_and(|r| differs(q, r));
                AppliedDer { requested_kw, requested_kvar: requested_q.unwrap_or(f64::NAN), kw: p, kvar: q, clipped }
            }
            DerModel::Storage(_) => return Err(bad("this is a storage element: use SetStorage")),
        };
        d.inj.set_output_kw(applied.kw, applied.kvar);
        d.currents_valid = false;
        Ok(applied)
    }

    /// An agent's `SetStorage` on DER `i`: discharge (kW > 0) or charge
    /// (kW < 0) over a step of `step_h` hours, clipped to kWrated·%kWrated
    /// and to the energy between the reserve and full (with the
    /// efficiencies and idling losses OpenDSS charges), then to the kVA
    /// rating (kvar priority, as the element's own settings).
    pub fn set_storage(&mut self, i: usize, kw: f64, kvar: Option<f64>, step_h: f64) -> Result<AppliedDer, GridError> {
        let name = self.elements[self.ders[i].elem].full_name();
        let bad = |m: &str| GridError::Invalid(format!("SetStorage on {name}: {m}"));
        if !kw.is_finite() || kvar.is_some_and(|q| !q.is_finite()) {
            return Err(bad("kW and kvar must be finite"));
        }
        let d = &mut self.ders[i];
        let DerModel::Storage(s) = &mut d.model else {
            return Err(bad("not a storage element: use SetGeneration"));
        };
        let limit = s.kw_rated * s.pu_kw_rated;
        let mut p = kw.clamp(-limit, limit);
        if step_h > 0.0 {
            // Energy the step may take out / put in (UpdateStorage's formulas).
            let max_discharge = ((s.kwh_stored - s.kwh_reserve) * s.discharge_eff / step_h - s.p_idling).max(0.0);
            let max_charge = ((s.kwh_rated - s.kwh_stored) / (s.charge_eff * step_h) + s.p_idling).max(0.0);
            p = p.clamp(-max_charge, max_discharge);
        }
        let state = if p > 0.0 {
            StorageState::Discharging
        } else if p < 0.0 {
            StorageState::Charging
        } else {
            StorageState::Idling
        };
        s.set_state(state);
        match s.state {
            StorageState::Discharging => s.pct_discharge = p / s.kw_rated * 100.0,
            StorageState::Charging => s.pct_charge = -p / s.kw_rated * 100.0,
            StorageState::Idling => {}
        }
        let saved = s.inverter.clone();
        if let Some(q) = kvar {
            s.inverter.var_mode = ogg_dss::VarMode::Kvar;
            s.inverter.kvar_requested = q;
        }
        let (p_out, q_out) = s.output(1.0);
        s.inverter = saved;
        // Idling draws its losses; that is not a clip of a zero request.
        let applied_p = if s.state == StorageState::Idling { 0.0 } else { p_out };
        let clipped = differs(applied_p, kw) || kvar.is_some_and(|r| differs(q_out, r));
        d.inj.set_output_kw(p_out, q_out);
        d.currents_valid = false;
        Ok(AppliedDer { requested_kw: kw, requested_kvar: kvar.unwrap_or(f64::NAN), kw: p_out, kvar: q_out, clipped })
    }
}
