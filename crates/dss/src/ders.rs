//! Distributed energy resources and the curves they use: `Generator`,
//! `PVSystem`, `Storage`, `XYcurve`, `TShape`. Property side effects follow
//! OpenDSS's `PropertySideEffects` of each class, in the order given.

use crate::classes::{Ctx, ElementState, Outcome};
use crate::lexer::Token;
use crate::model::*;
use crate::props::*;
use crate::values::*;
use Outcome::{Applied, Ignored};

fn lower(token: &Token<'_>) -> String {
    token.text.trim().to_ascii_lowercase()
}

fn default_bus(name: &str) -> BusRef {
    BusRef {
        bus: format!("{name}_1"),
        nodes: Vec::new(),
    }
}

fn unsupported(prop: &str) -> Result<Outcome, String> {
    Err(format!("property `{prop}` is not supported by this reader"))
}

/// A `daily=`/`yearly=`/`duty=` reference: the shape must exist already.
fn loadshape_ref(value: &Token<'_>, ctx: &Ctx) -> Result<Option<String>, String> {
    let name = lower(value);
    if name.is_empty() || name == "none" {
        return Ok(None);
    }
    if ctx.loadshapes.get(&name).is_none() {
        return Err(format!("load shape `{name}` is not defined"));
    }
    Ok(Some(name))
}

/// A reference to an `XYcurve` or `TShape`; checked against the circuit by the
/// engine (it names the element and its line when the curve is missing).
fn curve_ref(value: &Token<'_>) -> Option<String> {
    let name = lower(value);
    (!name.is_empty() && name != "none").then_some(name)
}

/// Peak P and Q of a `useactual` shape (OpenDSS's MaxP / MaxQ).
fn actual_peaks(value: &Token<'_>, ctx: &Ctx) -> Option<(f64, f64)> {
    let shape = ctx.loadshapes.get(&lower(value))?;
    if !shape.useactual {
        return None;
    }
    let peak = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max).max(0.0);
    Some((peak(&shape.mult), peak(&shape.qmult)))
}

/// A power factor: in [−1, 1] and not 0 (negative: kvar opposite to kW).
fn power_factor(value: &Token<'_>) -> Result<f64, String> {
    let pf = number(value)?;
    if pf == 0.0 || !(-1.0..=1.0).contains(&pf) {
        return Err(format!("pf must be in [-1, 1] and not 0 (got {pf})"));
    }
    Ok(pf)
}

fn dispatch_mode(value: &Token<'_>, storage: bool) -> Result<DispatchMode, String> {
    let words: &[&str] = if storage {
        &[
            "default",
            "loadlevel",
            "loadshape",
            "price",
            "external",
            "follow",
        ]
    } else {
        &["default", "loadlevel", "price"]
    };
    match keyword(value.text, words) {
        Some("default") => Ok(DispatchMode::Default),
        Some("loadlevel") | Some("loadshape") => Ok(DispatchMode::LoadLevel),
        Some("price") => Ok(DispatchMode::Price),
        Some("external") => Ok(DispatchMode::External),
        Some("follow") => Ok(DispatchMode::Follow),
        _ => Err(format!(
            "`{}` is not one of {}",
            value.text,
            words.join("/")
        )),
    }
}

fn model_number(value: &Token<'_>, supported: &[i64], what: &str) -> Result<u8, String> {
    let m = integer(value)?;
    if supported.contains(&m) {
        Ok(m as u8)
    } else {
        Err(format!(
            "{what} model {m} is not supported by this reader (supported: {supported:?})"
        ))
    }
}

macro_rules! identity_of {
    ($field:ident) => {
        fn name_mut(&mut self) -> &mut String {
            &mut self.$field.name
        }
        fn location_mut(&mut self) -> &mut Location {
            &mut self.$field.location
        }
        fn set_enabled(&mut self, enabled: bool) {
            self.$field.enabled = enabled;
        }
    };
}

// ---------------------------------------------------------------- generators

#[derive(Debug, Clone, Default)]
pub(crate) struct GeneratorState {
    pub g: Generator,
    kva_set: bool,
}

impl GeneratorState {
    /// OpenDSS `SyncUpPowerQuantities`: kvar from kW and pf, limits ±2·kvar,
    /// kVA 1.2·kW unless given.
    fn sync_up(&mut self) {
        let g = &mut self.g;
        if g.pf != 0.0 {
            let kvar = g.kw * (1.0 / (g.pf * g.pf) - 1.0).max(0.0).sqrt();
            g.maxkvar = 2.0 * kvar;
            g.minkvar = -g.maxkvar;
            g.kvar = if g.pf < 0.0 { -kvar } else { kvar };
            if !self.kva_set {
                g.kva = 1.2 * g.kw;
            }
        }
    }

    /// The `kvar` side effects: pf from kW and kvar, limits ±2·kvar.
    fn set_kvar(&mut self, kvar: f64) {
        let g = &mut self.g;
        g.kvar = kvar;
        let kva = g.kw.hypot(g.kvar);
        g.pf = if kva != 0.0 { g.kw / kva } else { 1.0 };
        if g.kw * g.kvar < 0.0 {
            g.pf = -g.pf;
        }
        g.maxkvar = 2.0 * g.kvar;
        g.minkvar = -g.maxkvar;
    }

    pub fn to_model(&self) -> Generator {
        self.g.clone()
    }
}

impl ElementState for GeneratorState {
    const CLASS: &'static str = "Generator";
    const PROPS: &'static [&'static str] = GENERATOR_PROPS;
    identity_of!(g);

    fn keep_own_connections(&mut self, own: &Self) {
        self.g.bus1 = own.g.bus1.clone();
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        GeneratorState {
            g: Generator {
                name: name.to_string(),
                bus1: default_bus(name),
                phases: 3,
                conn: Connection::Wye,
                kv: 12.47,
                kw: 1000.0,
                kvar: 60.0,
                pf: 0.88,
                model: 1,
                balanced: false,
                vminpu: 0.9,
                vmaxpu: 1.1,
                vpu: 1.0,
                maxkvar: 120.0,
                minkvar: -120.0,
                pvfactor: 0.1,
                kva: 1200.0,
                daily: None,
                yearly: None,
                duty: None,
                dispmode: DispatchMode::Default,
                dispvalue: 0.0,
                duty_start: 0.0,
                fixed: false,
                forceon: false,
                enabled: true,
                location: location.clone(),
            },
            kva_set: false,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        let g = &mut self.g;
        match prop {
            "phases" => g.phases = count(value, 1, 100)?,
            "bus1" => g.bus1 = bus(value.text)?,
            "kv" => g.kv = number(value)?,
            "kw" => {
                g.kw = number(value)?;
                self.sync_up();
            }
            "pf" => {
                g.pf = power_factor(value)?;
                self.sync_up();
            }
            "kvar" => {
                let kvar = number(value)?;
                self.set_kvar(kvar);
            }
            "model" => g.model = model_number(value, &[1, 2, 3, 4, 5, 7], "generator")?,
            "balanced" => g.balanced = boolean(value)?,
            "vminpu" => g.vminpu = number(value)?,
            "vmaxpu" => g.vmaxpu = number(value)?,
            "yearly" | "daily" | "duty" => {
                let shape = loadshape_ref(value, ctx)?;
                if let Some((p, q)) = actual_peaks(value, ctx) {
                    // OpenDSS `SetkWkvar(MaxP, MaxQ)`.
                    g.kw = p;
                    self.sync_up();
                    self.set_kvar(q);
                }
                let g = &mut self.g;
                match prop {
                    "yearly" => g.yearly = shape,
                    "daily" => g.daily = shape,
                    _ => g.duty = shape,
                }
            }
            "dispmode" => g.dispmode = dispatch_mode(value, false)?,
            "dispvalue" => g.dispvalue = number(value)?,
            "conn" => g.conn = connection(value.text)?,
            "status" => {
                g.fixed = match keyword(value.text, &["variable", "fixed"]) {
                    Some("fixed") => true,
                    Some(_) => false,
                    None => return Err(format!("`{}` is not variable/fixed", value.text)),
                }
            }
            "vpu" => g.vpu = number(value)?,
            "maxkvar" => g.maxkvar = number(value)?,
            "minkvar" => g.minkvar = number(value)?,
            "pvfactor" => g.pvfactor = number(value)?,
            "forceon" => g.forceon = boolean(value)?,
            "dutystart" => g.duty_start = number(value)?,
            "kva" => {
                g.kva = number(value)?;
                self.kva_set = true;
            }
            "mva" => {
                g.kva = number(value)? * 1000.0;
                self.kva_set = true;
            }
            "enabled" => g.enabled = boolean(value)?,
            "usermodel" | "shaftmodel" | "usefuel" | "dynamiceq" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- PV systems

#[derive(Debug, Clone, Default)]
pub(crate) struct PvSystemState {
    pub p: PvSystem,
    kvar_max_set: bool,
    kvar_max_abs_set: bool,
}

impl PvSystemState {
    pub fn to_model(&self) -> PvSystem {
        self.p.clone()
    }
}

impl ElementState for PvSystemState {
    const CLASS: &'static str = "PVSystem";
    const PROPS: &'static [&'static str] = PVSYSTEM_PROPS;
    identity_of!(p);

    fn keep_own_connections(&mut self, own: &Self) {
        self.p.bus1 = own.p.bus1.clone();
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        PvSystemState {
            p: PvSystem {
                name: name.to_string(),
                bus1: default_bus(name),
                phases: 3,
                conn: Connection::Wye,
                kv: 12.47,
                irradiance: 1.0,
                pmpp: 500.0,
                pct_pmpp: 100.0,
                temperature: 25.0,
                pf: 1.0,
                kvar: 0.0,
                var_mode: VarMode::Pf,
                kva: 500.0,
                kvar_max: 500.0,
                kvar_max_abs: 500.0,
                pct_cutin: 20.0,
                pct_cutout: 20.0,
                pct_pmin_no_vars: 0.0,
                pct_pmin_kvar_max: 0.0,
                eff_curve: None,
                p_t_curve: None,
                daily: None,
                yearly: None,
                duty: None,
                tdaily: None,
                tyearly: None,
                tduty: None,
                duty_start: 0.0,
                model: 1,
                vminpu: 0.9,
                vmaxpu: 1.1,
                watt_priority: false,
                pf_priority: false,
                var_follow_inverter: false,
                limit_current: false,
                balanced: false,
                enabled: true,
                location: location.clone(),
            },
            kvar_max_set: false,
            kvar_max_abs_set: false,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        let p = &mut self.p;
        match prop {
            "phases" => p.phases = count(value, 1, 100)?,
            "bus1" => p.bus1 = bus(value.text)?,
            "kv" => p.kv = number(value)?,
            "irradiance" => p.irradiance = number(value)?,
            "pmpp" => p.pmpp = number(value)?,
            "%pmpp" => p.pct_pmpp = number(value)?,
            "temperature" => p.temperature = number(value)?,
            "pf" => {
                p.pf = power_factor(value)?;
                p.var_mode = VarMode::Pf;
            }
            "conn" => p.conn = connection(value.text)?,
            "kvar" => {
                p.kvar = number(value)?;
                p.var_mode = VarMode::Kvar;
            }
            "kva" => {
                p.kva = number(value)?;
                if !self.kvar_max_set {
                    p.kvar_max = p.kva;
                    if !self.kvar_max_abs_set {
                        p.kvar_max_abs = p.kva;
                    }
                }
            }
            "%cutin" => p.pct_cutin = number(value)?,
            "%cutout" => p.pct_cutout = number(value)?,
            "%pminnovars" => p.pct_pmin_no_vars = number(value)?,
            "%pminkvarmax" => p.pct_pmin_kvar_max = number(value)?,
            "effcurve" => p.eff_curve = curve_ref(value),
            "p-tcurve" => p.p_t_curve = curve_ref(value),
            "model" => p.model = model_number(value, &[1, 2], "PVSystem")?,
            "vminpu" => p.vminpu = number(value)?,
            "vmaxpu" => p.vmaxpu = number(value)?,
            "yearly" => p.yearly = loadshape_ref(value, ctx)?,
            "daily" => p.daily = loadshape_ref(value, ctx)?,
            "duty" => p.duty = loadshape_ref(value, ctx)?,
            "tyearly" => p.tyearly = curve_ref(value),
            "tdaily" => p.tdaily = curve_ref(value),
            "tduty" => p.tduty = curve_ref(value),
            "varfollowinverter" => p.var_follow_inverter = boolean(value)?,
            "dutystart" => p.duty_start = number(value)?,
            "limitcurrent" => p.limit_current = boolean(value)?,
            "balanced" => p.balanced = boolean(value)?,
            "wattpriority" => p.watt_priority = boolean(value)?,
            "pfpriority" => p.pf_priority = boolean(value)?,
            "kvarmax" => {
                p.kvar_max = number(value)?;
                self.kvar_max_set = true;
                if !self.kvar_max_abs_set {
                    p.kvar_max_abs = p.kvar_max.abs();
                }
            }
            "kvarmaxabs" => {
                p.kvar_max_abs = number(value)?;
                self.kvar_max_abs_set = true;
            }
            "enabled" => p.enabled = boolean(value)?,
            "usermodel" | "dynamiceq" | "controlmode" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- storage

#[derive(Debug, Clone, Default)]
pub(crate) struct StorageElemState {
    pub s: Storage,
    kva_set: bool,
    kvar_max_set: bool,
    kvar_max_abs_set: bool,
}

impl StorageElemState {
    pub fn to_model(&self) -> Storage {
        self.s.clone()
    }
}

impl ElementState for StorageElemState {
    const CLASS: &'static str = "Storage";
    const PROPS: &'static [&'static str] = STORAGE_PROPS;
    identity_of!(s);

    fn keep_own_connections(&mut self, own: &Self) {
        self.s.bus1 = own.s.bus1.clone();
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        StorageElemState {
            s: Storage {
                name: name.to_string(),
                bus1: default_bus(name),
                phases: 3,
                conn: Connection::Wye,
                kv: 12.47,
                kw_rated: 25.0,
                pu_kw_rated: 1.0,
                kwh_rated: 50.0,
                kwh_stored: 50.0,
                pct_reserve: 20.0,
                state: StorageState::Idling,
                pct_discharge: 100.0,
                pct_charge: 100.0,
                pct_eff_charge: 90.0,
                pct_eff_discharge: 90.0,
                pct_idling_kw: 1.0,
                kva: 25.0,
                kvar_max: 25.0,
                kvar_max_abs: 25.0,
                pf: 1.0,
                kvar: 0.0,
                var_mode: VarMode::Pf,
                pct_cutin: 0.0,
                pct_cutout: 0.0,
                eff_curve: None,
                pct_pmin_no_vars: 0.0,
                pct_pmin_kvar_max: 0.0,
                model: 1,
                vminpu: 0.9,
                vmaxpu: 1.1,
                daily: None,
                yearly: None,
                duty: None,
                dispmode: DispatchMode::Default,
                discharge_trigger: 0.0,
                charge_trigger: 0.0,
                time_charge_trig: 2.0,
                watt_priority: false,
                pf_priority: false,
                var_follow_inverter: false,
                limit_current: false,
                balanced: false,
                enabled: true,
                location: location.clone(),
            },
            kva_set: false,
            kvar_max_set: false,
            kvar_max_abs_set: false,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        let s = &mut self.s;
        match prop {
            "phases" => s.phases = count(value, 1, 100)?,
            "bus1" => s.bus1 = bus(value.text)?,
            "kv" => s.kv = number(value)?,
            "conn" => s.conn = connection(value.text)?,
            // OpenDSS `Set_kW`: the sign picks the state, the size the %.
            "kw" => {
                let kw = number(value)?;
                if kw > 0.0 {
                    s.state = StorageState::Discharging;
                    s.pct_discharge = kw / s.kw_rated * 100.0;
                } else if kw < 0.0 {
                    s.state = StorageState::Charging;
                    s.pct_charge = -kw / s.kw_rated * 100.0;
                } else {
                    s.state = StorageState::Idling;
                }
            }
            "kvar" => {
                s.kvar = number(value)?;
                s.var_mode = VarMode::Kvar;
            }
            "pf" => {
                s.pf = power_factor(value)?;
                s.var_mode = VarMode::Pf;
            }
            "kva" => {
                s.kva = number(value)?;
                self.kva_set = true;
                if !self.kvar_max_set {
                    s.kvar_max = s.kva;
                    if !self.kvar_max_abs_set {
                        s.kvar_max_abs = s.kva;
                    }
                }
            }
            "%cutin" => s.pct_cutin = number(value)?,
            "%cutout" => s.pct_cutout = number(value)?,
            "%pminnovars" => s.pct_pmin_no_vars = number(value)?,
            "%pminkvarmax" => s.pct_pmin_kvar_max = number(value)?,
            "varfollowinverter" => s.var_follow_inverter = boolean(value)?,
            "limitcurrent" => s.limit_current = boolean(value)?,
            "balanced" => s.balanced = boolean(value)?,
            "effcurve" => s.eff_curve = curve_ref(value),
            "kvarmax" => {
                s.kvar_max = number(value)?;
                self.kvar_max_set = true;
                if !self.kvar_max_abs_set {
                    s.kvar_max_abs = s.kvar_max.abs();
                }
            }
            "kvarmaxabs" => {
                s.kvar_max_abs = number(value)?;
                self.kvar_max_abs_set = true;
            }
            "wattpriority" => s.watt_priority = boolean(value)?,
            "pfpriority" => s.pf_priority = boolean(value)?,
            "kwrated" => {
                s.kw_rated = number(value)?;
                if !self.kva_set {
                    s.kva = s.kw_rated;
                }
            }
            "%kwrated" => s.pu_kw_rated = number(value)? / 100.0,
            "kwhrated" => {
                s.kwh_rated = number(value)?;
                s.kwh_stored = s.kwh_rated; // OpenDSS: assume fully charged
            }
            "kwhstored" => s.kwh_stored = number(value)?,
            "%stored" => s.kwh_stored = number(value)? * 0.01 * s.kwh_rated,
            "%reserve" => s.pct_reserve = number(value)?,
            "state" => {
                s.state = match keyword(value.text, &["charging", "idling", "discharging"]) {
                    Some("charging") => StorageState::Charging,
                    Some("discharging") => StorageState::Discharging,
                    Some(_) => StorageState::Idling,
                    None => {
                        return Err(format!(
                            "`{}` is not charging/idling/discharging",
                            value.text
                        ))
                    }
                }
            }
            "%discharge" => s.pct_discharge = number(value)?,
            "%charge" => s.pct_charge = number(value)?,
            "%effcharge" => s.pct_eff_charge = number(value)?,
            "%effdischarge" => s.pct_eff_discharge = number(value)?,
            "%idlingkw" => s.pct_idling_kw = number(value)?,
            "model" => s.model = model_number(value, &[1, 2], "Storage")?,
            "vminpu" => s.vminpu = number(value)?,
            "vmaxpu" => s.vmaxpu = number(value)?,
            "yearly" => s.yearly = loadshape_ref(value, ctx)?,
            "daily" => s.daily = loadshape_ref(value, ctx)?,
            "duty" => s.duty = loadshape_ref(value, ctx)?,
            "dispmode" => s.dispmode = dispatch_mode(value, true)?,
            "dischargetrigger" => s.discharge_trigger = number(value)?,
            "chargetrigger" => s.charge_trigger = number(value)?,
            "timechargetrig" => s.time_charge_trig = number(value)?,
            "enabled" => s.enabled = boolean(value)?,
            "dynadll" | "usermodel" | "dynamiceq" | "controlmode" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- XY curves

#[derive(Debug, Clone, Default)]
pub(crate) struct XyCurveState {
    pub c: XyCurve,
    npts: usize,
    enabled: bool,
}

impl XyCurveState {
    pub fn to_model(&self) -> XyCurve {
        let n = self.npts.min(self.c.x.len()).min(self.c.y.len());
        XyCurve {
            name: self.c.name.clone(),
            x: self.c.x[..n].to_vec(),
            y: self.c.y[..n].to_vec(),
            location: self.c.location.clone(),
        }
    }
}

fn fill_to(values: &[f64], n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().take(n).collect();
    v.resize(n, 0.0);
    v
}

impl ElementState for XyCurveState {
    const CLASS: &'static str = "XYcurve";
    const PROPS: &'static [&'static str] = XYCURVE_PROPS;

    fn name_mut(&mut self) -> &mut String {
        &mut self.c.name
    }
    fn location_mut(&mut self) -> &mut Location {
        &mut self.c.location
    }
    fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        XyCurveState {
            c: XyCurve {
                name: name.to_string(),
                x: Vec::new(),
                y: Vec::new(),
                location: location.clone(),
            },
            npts: 0,
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        match prop {
            "npts" => {
                self.npts = count(value, 0, crate::classes::MAX_SHAPE_POINTS)?;
                self.c.x.resize(self.npts, 0.0);
                self.c.y.resize(self.npts, 0.0);
            }
            "points" => {
                let v = numbers(value)?;
                if self.npts == 0 {
                    self.npts = v.len() / 2;
                }
                let pairs = fill_to(&v, 2 * self.npts);
                self.c.x = pairs.iter().step_by(2).copied().collect();
                self.c.y = pairs.iter().skip(1).step_by(2).copied().collect();
            }
            "xarray" | "yarray" => {
                let v = numbers(value)?;
                if self.npts == 0 {
                    self.npts = v.len();
                    self.c.x.resize(self.npts, 0.0);
                    self.c.y.resize(self.npts, 0.0);
                }
                let filled = fill_to(&v, self.npts);
                if prop == "xarray" {
                    self.c.x = filled;
                } else {
                    self.c.y = filled;
                }
            }
            // OpenDSS applies these only to its curve-query interface; PVSystem's
            // curves are read without them (checked: no effect on the output).
            "xshift" | "yshift" | "xscale" | "yscale" => return Ok(Ignored),
            "csvfile" | "sngfile" | "dblfile" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- temperature shapes

#[derive(Debug, Clone, Default)]
pub(crate) struct TShapeState {
    pub t: TShape,
    enabled: bool,
}

impl TShapeState {
    pub fn to_model(&self) -> TShape {
        let n = self.t.npts;
        let mut t = self.t.clone();
        t.temp = fill_to(&self.t.temp, n);
        if !t.hour.is_empty() {
            t.hour = fill_to(&self.t.hour, n);
        }
        t
    }
}

impl ElementState for TShapeState {
    const CLASS: &'static str = "TShape";
    const PROPS: &'static [&'static str] = TSHAPE_PROPS;

    fn name_mut(&mut self) -> &mut String {
        &mut self.t.name
    }
    fn location_mut(&mut self) -> &mut Location {
        &mut self.t.location
    }
    fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        TShapeState {
            t: TShape {
                name: name.to_string(),
                npts: 0,
                interval_h: 1.0,
                temp: Vec::new(),
                hour: Vec::new(),
                location: location.clone(),
            },
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        let t = &mut self.t;
        match prop {
            "npts" => t.npts = count(value, 0, crate::classes::MAX_SHAPE_POINTS)?,
            "interval" => t.interval_h = number(value)?,
            "sinterval" => t.interval_h = number(value)? / 3600.0,
            "minterval" => t.interval_h = number(value)? / 60.0,
            "temp" => {
                let v = numbers(value)?;
                if t.npts == 0 {
                    t.npts = v.len();
                }
                t.temp = v;
            }
            "hour" => {
                t.hour = numbers(value)?;
                t.interval_h = 0.0;
            }
            "csvfile" | "sngfile" | "dblfile" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}
