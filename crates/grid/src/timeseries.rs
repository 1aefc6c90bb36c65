//! Time-series solutions (OpenDSS `mode=daily|yearly|duty`): load shapes
//! drive each load's demand, time advances *before* each solve, and the
//! controls (static mode) re-run every step with taps carried over.

pub use ogg_dss::model::SolutionMode;
use ogg_dss::model::{Circuit, LoadShape, LoadStatus};

use crate::engine::{PowerFlow, SolveReport};
use crate::error::GridError;

/// OpenDSS `TLoadShapeObj.GetMult`: (P, Q) multipliers at hour `hr`.
///
/// * Fixed interval: point `round(hr / interval)` (1-based, Delphi's
///   round-half-even), wrapped modulo `npts`, index 0 meaning the last point —
///   so hour 1 of an hourly shape is the first point.
/// * `hour=` arrays (interval 0): linear interpolation between points, exact
///   hits within 1e-5 h, time wrapped modulo the last hour, the last value
///   held past the end.
/// * Without `qmult`, Q follows P; a shape without points is (1, 1).
pub fn shape_multiplier(shape: &LoadShape, hr: f64) -> (f64, f64) {
    let n = shape.npts.min(shape.mult.len());
    if n == 0 {
        return (1.0, 1.0);
    }
    let q_at = |i: usize| -> f64 { if shape.qmult.len() >= n { shape.qmult[i] } else { shape.mult[i] } };
    if n == 1 {
        return (shape.mult[0], q_at(0));
    }
    if shape.interval_h > 0.0 {
        let mut index = (hr / shape.interval_h).round_ties_even() as i64;
        if index > n as i64 {
            index %= n as i64;
        }
        if index <= 0 {
            index = n as i64;
        }
        let i = index as usize - 1;
        return (shape.mult[i], q_at(i));
    }
    let hours = &shape.hour;
    if hours.len() < n {
        return (shape.mult[n - 1], q_at(n - 1));
    }
    let last_hour = hours[n - 1];
    let mut hr = hr;
    if hr > last_hour && last_hour > 0.0 {
        hr -= (hr / last_hour).trunc() * last_hour;
    }
    for i in 1..n {
        if (hours[i] - hr).abs() < 1e-5 {
            return (shape.mult[i], q_at(i));
        }
        if hours[i] > hr {
            let span = hours[i] - hours[i - 1];
            let w = if span != 0.0 { (hr - hours[i - 1]) / span } else { 0.0 };
            let p = shape.mult[i - 1] + w * (shape.mult[i] - shape.mult[i - 1]);
            let q = q_at(i - 1) + w * (q_at(i) - q_at(i - 1));
            return (p, q);
        }
    }
    (shape.mult[n - 1], q_at(n - 1))
}

/// The shapes of one load, by index into `TimeSeries::shapes`.
#[derive(Debug, Clone, Default)]
struct LoadShapes {
    daily: Option<usize>,
    yearly: Option<usize>,
    duty: Option<usize>,
    status: LoadStatus,
    /// Power factor the load was defined with (for `useactual` shapes without Q).
    pf: f64,
}

/// The shapes of one generator, PV system or storage element (indices
/// into `TimeSeries::shapes`; temperatures into `TimeSeries::tshapes`).
#[derive(Debug, Clone, Default)]
struct DerShapes {
    daily: Option<usize>,
    yearly: Option<usize>,
    duty: Option<usize>,
    tdaily: Option<usize>,
    tyearly: Option<usize>,
    tduty: Option<usize>,
    /// `DutyStart` (hours added when the duty shape — for PV also the yearly one — is read).
    duty_start: f64,
}

/// A DER's power and energy after one step.
#[derive(Debug, Clone, PartialEq)]
pub struct DerStep {
    /// `Class.name`.
    pub name: String,
    /// Power into the terminals (OpenDSS sign: negative when generating).
    pub kw: f64,
    pub kvar: f64,
    /// Storage: kWh stored after the end-of-step update.
    pub kwh: Option<f64>,
    pub state: Option<ogg_dss::StorageState>,
}

/// One time step's results.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// 1-based step number.
    pub step: usize,
    /// Hour of the solve (after the increment).
    pub hour: f64,
    pub report: SolveReport,
    pub total_power_kw: f64,
    pub total_power_kvar: f64,
    pub losses_kw: f64,
    pub losses_kvar: f64,
    pub min_v_pu: f64,
    pub max_v_pu: f64,
    /// RegControl name → tap step.
    pub taps: Vec<(String, i64)>,
    /// Generators, PV systems and storage (empty without summaries).
    pub ders: Vec<DerStep>,
}

/// A time-series run over a compiled circuit: which shape drives which load,
/// the solution mode, step size and the present time.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    shapes: Vec<LoadShape>,
    loads: Vec<LoadShapes>,
    /// Temperature shapes, as load shapes (looked up the same way).
    tshapes: Vec<LoadShape>,
    ders: Vec<DerShapes>,
    /// The `default` load shape (OpenDSS's generator dispatch reference).
    default_shape: Option<usize>,
    pub mode: SolutionMode,
    pub stepsize_s: f64,
    /// Present time as OpenDSS keeps it: whole hours plus seconds into the
    /// hour (`intHour`, `t`), so hour = int_hour + t/3600 is exact where a
    /// running sum of fractional hours would drift (3.75 h, not 3.7499…, after
    /// 9 × 1500 s — which decides a rounding tie of a half-hour shape).
    int_hour: i64,
    t_s: f64,
    hour: f64,
    /// Compute source power, losses and min/max voltages for each step's
    /// result (default true); off, a step's result carries zeros there and
    /// only the solve is paid for, as in an OpenDSS daily `Solve` without meters.
    pub summaries: bool,
    steps_done: usize,
    /// The first step rebuilds the loads' and DERs' Yprims at its values, as
    /// OpenDSS does after `Set mode=…` (only iteration counts depend on it).
    pub(crate) restamp_pending: bool,
    /// Distinct per `TimeSeries::new` (clones share it: same loads, same
    /// shapes), the key of `PowerFlow::loads_synced_by`.
    id: u64,
    /// Per mode, the loads a shape drives (not fixed, a shape for the mode).
    shaped_daily: Vec<u32>,
    shaped_yearly: Vec<u32>,
    shaped_duty: Vec<u32>,
}

/// Source of `TimeSeries::id` (0 is never handed out).
static NEXT_SERIES_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The circuit's definition of compiled load `i`: the model the element was
/// compiled from (its `model_index`) when that is the enabled load of that
/// name — always, for the circuit `pf` was compiled from — else the first
/// enabled load of the name (a circuit edited since). O(1) per load.
fn compiled_load<'c>(circuit: &'c Circuit, pf: &PowerFlow, i: usize) -> Option<&'c ogg_dss::model::Load> {
    let element = &pf.elements[pf.loads[i].elem];
    let name = element.name.as_str();
    match circuit.loads.get(element.model_index) {
        Some(l) if l.enabled && l.name.eq_ignore_ascii_case(name) => Some(l),
        _ => circuit.loads.iter().find(|l| l.enabled && l.name.eq_ignore_ascii_case(name)),
    }
}

/// The multipliers of the shape last looked up in one shape pass (one hour):
/// `shape_multiplier` is a pure function of the shape and the hour.
struct ShapeMemo {
    shape: usize,
    mults: (f64, f64),
}

/// Load shapes by lower-case name (the first of equal names).
struct ShapeIndex(crate::network::FastMap<String, usize>);

impl ShapeIndex {
    fn new(shapes: &[LoadShape]) -> Self {
        let mut map = crate::network::FastMap::default();
        map.reserve(shapes.len());
        for (i, s) in shapes.iter().enumerate() {
            map.entry(s.name.to_ascii_lowercase()).or_insert(i);
        }
        ShapeIndex(map)
    }

    /// `buf`: a reused buffer for the lower-cased name (no allocation per query).
    fn find(&self, name: &str, buf: &mut String) -> Option<usize> {
        buf.clear();
        buf.extend(name.chars().map(|c| c.to_ascii_lowercase()));
        self.0.get(buf.as_str()).copied()
    }
}

impl TimeSeries {
    /// Resolves the loads' `daily`/`yearly`/`duty` shapes of `circuit` for the
    /// loads compiled in `pf`, with the mode, step size and start hour of the
    /// script's `Set` options. An unknown shape name is an error naming the load.
    pub fn new(circuit: &Circuit, pf: &PowerFlow) -> Result<Self, GridError> {
        let shapes = circuit.loadshapes.clone();
        // Shape names → index once, so resolving every load's shapes is O(loads)
        // rather than a scan of the shapes per load (the first of equal names wins,
        // as the scan found it).
        let shape_index = ShapeIndex::new(&shapes);
        let mut lookup = String::new();
        let mut find = |name: &Option<String>, load: &ogg_dss::model::Load| -> Result<Option<usize>, GridError> {
            let Some(name) = name else { return Ok(None) };
            shape_index.find(name, &mut lookup).map(Some).ok_or_else(|| {
                GridError::element(format!("Load.{}", load.name), &load.location, format!("loadshape '{name}' is not defined"))
            })
        };
        let mut loads = Vec::with_capacity(pf.n_loads());
        for i in 0..pf.n_loads() {
            let Some(load) = compiled_load(circuit, pf, i) else {
                loads.push(LoadShapes::default());
                continue;
            };
            let daily = find(&load.daily, load)?;
            // OpenDSS: a load's yearly and duty shapes default to its daily one.
            let yearly = find(&load.yearly, load)?.or(daily);
            let duty = find(&load.duty, load)?.or(daily);
            loads.push(LoadShapes { daily, yearly, duty, status: load.status, pf: load.pf });
        }
        let tshapes: Vec<LoadShape> = circuit
            .tshapes
            .iter()
            .map(|t| LoadShape {
                name: t.name.clone(),
                npts: t.npts,
                interval_h: t.interval_h,
                mult: t.temp.clone(),
                qmult: Vec::new(),
                hour: t.hour.clone(),
                useactual: false,
                pmax: 0.0,
                qmax: 0.0,
                pbase: 0.0,
                qbase: 0.0,
                location: t.location.clone(),
            })
            .collect();
        let mut ders = Vec::with_capacity(pf.n_ders());
        for d in &pf.ders {
            let full = pf.elements[d.elem].full_name();
            let find_in = |list: &[LoadShape], name: &Option<String>, what: &str| -> Result<Option<usize>, GridError> {
                let Some(name) = name else { return Ok(None) };
                list.iter().position(|s| s.name.eq_ignore_ascii_case(name)).map(Some).ok_or_else(|| {
                    GridError::element(full.clone(), &d.location, format!("{what} '{name}' is not defined"))
                })
            };
            let ds = match d.class {
                ogg_dss::ElementClass::Generator => {
                    let g = &circuit.generators[d.model_index];
                    DerShapes {
                        daily: find_in(&shapes, &g.daily, "loadshape")?,
                        yearly: find_in(&shapes, &g.yearly, "loadshape")?,
                        duty: find_in(&shapes, &g.duty, "loadshape")?,
                        duty_start: g.duty_start,
                        ..Default::default()
                    }
                }
                ogg_dss::ElementClass::PvSystem => {
                    let p = &circuit.pvsystems[d.model_index];
                    DerShapes {
                        daily: find_in(&shapes, &p.daily, "loadshape")?,
                        yearly: find_in(&shapes, &p.yearly, "loadshape")?,
                        duty: find_in(&shapes, &p.duty, "loadshape")?,
                        tdaily: find_in(&tshapes, &p.tdaily, "TShape")?,
                        tyearly: find_in(&tshapes, &p.tyearly, "TShape")?,
                        tduty: find_in(&tshapes, &p.tduty, "TShape")?,
                        duty_start: p.duty_start,
                    }
                }
                _ => {
                    let st = &circuit.storages[d.model_index];
                    DerShapes {
                        daily: find_in(&shapes, &st.daily, "loadshape")?,
                        yearly: find_in(&shapes, &st.yearly, "loadshape")?,
                        duty: find_in(&shapes, &st.duty, "loadshape")?,
                        ..Default::default()
                    }
                }
            };
            ders.push(ds);
        }
        let default_shape = shapes.iter().position(|s| s.name.eq_ignore_ascii_case("default"));
        let o = &circuit.options;
        let mode = if o.mode == SolutionMode::Snapshot { SolutionMode::Daily } else { o.mode };
        let shaped_by = |pick: fn(&LoadShapes) -> Option<usize>| -> Vec<u32> {
            (0..loads.len() as u32).filter(|&i| loads[i as usize].status != LoadStatus::Fixed && pick(&loads[i as usize]).is_some()).collect()
        };
        let (shaped_daily, shaped_yearly, shaped_duty) = (shaped_by(|l| l.daily), shaped_by(|l| l.yearly), shaped_by(|l| l.duty));
        let id = NEXT_SERIES_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(TimeSeries {
            shapes,
            loads,
            tshapes,
            ders,
            default_shape,
            mode,
            stepsize_s: o.stepsize_s,
            int_hour: 0,
            t_s: 0.0,
            hour: 0.0,
            summaries: true,
            steps_done: 0,
            restamp_pending: true,
            id,
            shaped_daily,
            shaped_yearly,
            shaped_duty,
        }
            .starting_at(o.start_hour * 3600.0))
    }

    fn starting_at(mut self, total_s: f64) -> Self {
        self.set_time_s(total_s);
        self
    }

    /// Present time in hours (OpenDSS `dblHour`).
    pub fn hour(&self) -> f64 {
        self.hour
    }

    /// Sets the present time, in seconds from hour 0 (the next step adds the step size).
    /// The solution clock (OpenDSS `intHour`, `t` in seconds): in event
    /// control mode a step leaves it at its last control action's time.
    pub fn clock(&self) -> (i64, f64) {
        (self.int_hour, self.t_s)
    }

    pub fn set_time_s(&mut self, total_s: f64) {
        self.int_hour = (total_s / 3600.0).floor() as i64;
        self.t_s = total_s - self.int_hour as f64 * 3600.0;
        self.hour = self.int_hour as f64 + self.t_s / 3600.0;
    }

    /// Sets each load's demand for the present hour (OpenDSS `SetNominalLoad`
    /// in daily/yearly/duty mode). Fixed loads keep their nominal demand;
    /// loads without a shape for the mode stay constant.
    pub fn apply_shapes(&self, pf: &mut PowerFlow) {
        pf.time_series_mode = true;
        let load_mult = pf.settings.load_mult;
        // A load without a shape for the mode (or fixed) is set to its defined
        // demand; once a pass of this series in this mode did so, only another
        // edit of the loads (which clears `loads_synced_by`) can move it, so
        // the following passes visit just the shaped loads.
        let key = (self.id, self.mode);
        let shaped: &[u32] = match self.mode {
            SolutionMode::Daily | SolutionMode::Snapshot => &self.shaped_daily,
            SolutionMode::Yearly => &self.shaped_yearly,
            SolutionMode::Duty => &self.shaped_duty,
        };
        // Loads mostly share a shape (ieee34mod2: all on `default`), and the
        // hour is fixed for the pass: the last shape's multipliers are reused.
        let mut memo = ShapeMemo { shape: usize::MAX, mults: (1.0, 1.0) };
        // (When every load is shaped, the plain pass is that list.)
        if pf.loads_synced_by == Some(key) && shaped.len() < self.loads.len() {
            for &i in shaped {
                self.apply_load_shape(pf, i as usize, load_mult, &mut memo);
            }
            // As a full pass does: every load's cached currents are stale.
            for state in &mut pf.loads[..self.loads.len()] {
                state.currents_valid = false;
            }
        } else {
            for i in 0..self.loads.len() {
                self.apply_load_shape(pf, i, load_mult, &mut memo);
            }
            pf.loads_synced_by = Some(key);
        }
        self.apply_der_shapes(pf);
    }

    /// Sets load `i`'s nominal demand for the present hour.
    #[inline(always)]
    fn apply_load_shape(&self, pf: &mut PowerFlow, i: usize, load_mult: f64, memo: &mut ShapeMemo) {
        let ls = &self.loads[i];
        let shape = match self.mode {
            SolutionMode::Daily | SolutionMode::Snapshot => ls.daily,
            SolutionMode::Yearly => ls.yearly,
            SolutionMode::Duty => ls.duty,
        };
        let state = &mut pf.loads[i];
        let (kw0, kvar0) = (state.defined_kw, state.defined_kvar);
        let (kw, kvar, mult) = match (ls.status, shape) {
            (LoadStatus::Fixed, _) | (_, None) => (kw0, kvar0, load_mult),
            (_, Some(s)) => {
                let shape = &self.shapes[s];
                if memo.shape != s {
                    *memo = ShapeMemo { shape: s, mults: shape_multiplier(shape, self.hour) };
                }
                let (pm, qm) = memo.mults;
                if shape.useactual {
                    // Actual kW (and kvar when given; else from the pf), no LoadMult.
                    let q = if !shape.qmult.is_empty() && qm != 0.0 {
                        qm
                    } else if ls.pf != 0.0 && ls.pf.abs() != 1.0 {
                        let q = pm * (1.0 / (ls.pf * ls.pf) - 1.0).sqrt();
                        if ls.pf < 0.0 { -q } else { q }
                    } else {
                        0.0
                    };
                    (pm, q, 1.0)
                } else {
                    (kw0 * pm, kvar0 * qm, load_mult)
                }
            }
        };
        // set_nominal applies LoadMult only to variable loads; with an
        // actual-value shape, pass 1 so nothing multiplies the values.
        state.calc.set_nominal_if_changed(kw, kvar, mult);
        state.currents_valid = false;
    }

    /// Sets each generator's, PV system's and storage element's output for
    /// the present hour (OpenDSS `SetNominalGeneration`,
    /// `SetNominalPVSystemOuput`, `SetNominalStorageOutput`).
    fn apply_der_shapes(&self, pf: &mut PowerFlow) {
        use crate::ders::DerModel;
        // (Without DERs nothing below is used: not even the dispatch reference's shape lookup.)
        if pf.ders.is_empty() {
            return;
        }
        let hour = self.hour;
        let mode = self.mode;
        let mult = |s: Option<usize>| s.map(|i| shape_multiplier(&self.shapes[i], hour));
        let mult_at = |s: Option<usize>, h: f64| s.map(|i| shape_multiplier(&self.shapes[i], h));
        let temp = |s: Option<usize>| s.map(|i| shape_multiplier(&self.tshapes[i], hour).0);
        let load_mult = pf.settings.load_mult;
        let price = pf.settings.price_signal;
        let gen_mult = pf.settings.gen_mult;
        let default_mult = self.default_shape.map_or(1.0, |i| shape_multiplier(&self.shapes[i], hour).0);
        // OpenDSS's GeneratorDispatchReference (growth factor 1).
        let dispatch_reference = match mode {
            SolutionMode::Yearly => default_mult,
            _ => load_mult * default_mult,
        };
        let step_h = self.stepsize_s / 3600.0;
        // Time of day (OpenDSS NormalizeToTOD).
        let tod = {
            let h = self.int_hour.rem_euclid(24) as f64 + self.t_s / 3600.0;
            if h > 24.0 { h - 24.0 } else { h }
        };
        for (d, shapes) in pf.ders.iter_mut().zip(&self.ders) {
            let daily = mult(shapes.daily);
            match &mut d.model {
                DerModel::Generator(g) => {
                    g.on = crate::ders::dispatched_on(g, dispatch_reference, price);
                    let (kw, kvar) = if !g.on {
                        (-0.0001 * g.kw, 0.0)
                    } else if g.fixed {
                        (g.kw, g.kvar)
                    } else {
                        let (shape, index) = match mode {
                            SolutionMode::Daily | SolutionMode::Snapshot => (daily, shapes.daily),
                            SolutionMode::Yearly => (mult(shapes.yearly), shapes.yearly),
                            SolutionMode::Duty => {
                                if shapes.duty.is_some() {
                                    (mult_at(shapes.duty, hour + shapes.duty_start), shapes.duty)
                                } else {
                                    (daily, shapes.daily)
                                }
                            }
                        };
                        let (pm, qm) = shape.unwrap_or((1.0, 1.0));
                        if index.is_some_and(|i| self.shapes[i].useactual) {
                            (pm, qm)
                        } else {
                            (g.kw * gen_mult * pm, g.kvar * gen_mult * qm)
                        }
                    };
                    if d.inj.model == 3 {
                        // Vars are the regulator's; only keep them within the limits.
                        let q = if d.inj.q_phase > g.var_max {
                            g.var_max
                        } else if d.inj.q_phase < g.var_min {
                            g.var_min
                        } else {
                            d.inj.q_phase
                        };
                        d.inj.set_output_kw(kw, q * d.inj.phases as f64 / 1000.0);
                    } else {
                        d.inj.set_output_kw(kw, kvar);
                    }
                }
                DerModel::Pv(p) => {
                    let (shape, t) = match mode {
                        SolutionMode::Daily | SolutionMode::Snapshot => (daily, temp(shapes.tdaily)),
                        // OpenDSS reads the PV's yearly shape with DutyStart too.
                        SolutionMode::Yearly => (
                            if shapes.yearly.is_some() { mult_at(shapes.yearly, hour + shapes.duty_start) } else { daily },
                            if shapes.tyearly.is_some() { temp(shapes.tyearly) } else { temp(shapes.tdaily) },
                        ),
                        SolutionMode::Duty => (
                            if shapes.duty.is_some() { mult_at(shapes.duty, hour + shapes.duty_start) } else { daily },
                            if shapes.tduty.is_some() { temp(shapes.tduty) } else { temp(shapes.tdaily) },
                        ),
                    };
                    let t = t.unwrap_or(p.temperature);
                    let (kw, kvar) = p.output(shape.map_or(1.0, |s| s.0), t);
                    d.inj.set_output_kw(kw, kvar);
                }
                DerModel::Storage(s) => {
                    let mut level = 1.0;
                    match s.dispmode {
                        ogg_dss::DispatchMode::External => {}
                        ogg_dss::DispatchMode::LoadLevel => s.check_trigger(dispatch_reference, tod, step_h),
                        ogg_dss::DispatchMode::Price => s.check_trigger(price, tod, step_h),
                        _ => {
                            let own = match mode {
                                SolutionMode::Yearly if shapes.yearly.is_some() => mult(shapes.yearly),
                                SolutionMode::Duty if shapes.duty.is_some() => mult(shapes.duty),
                                _ => daily,
                            };
                            level = own.map_or(1.0, |m| m.0);
                            s.check_trigger(level, tod, step_h);
                        }
                    }
                    let (kw, kvar) = s.output(level);
                    d.inj.set_output_kw(kw, kvar);
                }
            }
            d.currents_valid = false;
        }
    }

    /// On the first step after `new` (OpenDSS's `Set mode=…`): rebuilds the
    /// loads' and DERs' Yprims at the step's values.
    pub(crate) fn restamp_if_pending(&mut self, pf: &mut PowerFlow) {
        if std::mem::take(&mut self.restamp_pending) {
            pf.restamp_pc_elements();
        }
    }

    /// Advances time by one step, applies the shapes and solves (with the
    /// controls of the circuit's control mode; taps carry over between steps).
    pub fn advance_and_solve(&mut self, pf: &mut PowerFlow) -> Result<StepResult, GridError> {
        // OpenDSS Increment_Time: t += h, whole hours carried into intHour.
        self.t_s += self.stepsize_s;
        while self.t_s >= 3600.0 {
            self.int_hour += 1;
            self.t_s -= 3600.0;
        }
        self.hour = self.int_hour as f64 + self.t_s / 3600.0;
        self.steps_done += 1;
        self.apply_shapes(pf);
        self.restamp_if_pending(pf);
        pf.control_clock = (self.int_hour, self.t_s);
        let report = pf.solve()?;
        if pf.settings.control_mode == ogg_dss::ControlMode::Event {
            // Event mode moved the solution's clock to the last action run
            // (OpenDSS `DoNearestActions(intHour, t)`); the next step starts
            // from there, as OpenDSS's `Increment_Time` does. The step's
            // reported hour stays the one its shapes were evaluated at.
            (self.int_hour, self.t_s) = pf.control_clock;
        }
        // OpenDSS EndOfTimeStepCleanup: storage energy from the solved step.
        pf.update_storage_energy(self.stepsize_s / 3600.0);
        if !self.summaries {
            return Ok(StepResult {
                step: self.steps_done,
                hour: self.hour,
                report,
                total_power_kw: 0.0,
                total_power_kvar: 0.0,
                losses_kw: 0.0,
                losses_kvar: 0.0,
                min_v_pu: 0.0,
                max_v_pu: 0.0,
                taps: Vec::new(),
                ders: Vec::new(),
            });
        }
        Ok(step_result(pf, self.steps_done, self.hour, report))
    }

    /// `steps` successive steps.
    pub fn run(&mut self, pf: &mut PowerFlow, steps: usize) -> Result<Vec<StepResult>, GridError> {
        // Reserved up front: collecting a `Result` iterator cannot size the
        // vector, which then grows (and copies itself) about log2(steps) times.
        let mut out = Vec::with_capacity(steps);
        for _ in 0..steps {
            out.push(self.advance_and_solve(pf)?);
        }
        Ok(out)
    }
}

fn step_result(pf: &PowerFlow, step: usize, hour: f64, report: SolveReport) -> StepResult {
    let (p, q) = pf.total_power();
    let (lp, lq) = pf.losses();
    // Phase nodes (1..=3) of buses with a voltage base; no per-node
    // allocation, and squared magnitudes (no hypot per node: one square
    // root for each extreme).
    let (mut min_sq, mut max_sq) = (f64::INFINITY, f64::NEG_INFINITY);
    for bus in &pf.nodes.buses {
        let base = bus.kv_base_ln * 1000.0;
        if base <= 0.0 {
            continue;
        }
        let inv_sq = 1.0 / (base * base);
        for &(n, idx) in &bus.nodes {
            if (1..=3).contains(&n) {
                let pu_sq = pf.v[idx].norm_sqr() * inv_sq;
                min_sq = min_sq.min(pu_sq);
                max_sq = max_sq.max(pu_sq);
            }
        }
    }
    let (vmin, vmax) = (min_sq.sqrt(), if max_sq >= 0.0 { max_sq.sqrt() } else { max_sq });
    StepResult {
        step,
        hour,
        report,
        total_power_kw: p,
        total_power_kvar: q,
        losses_kw: lp,
        losses_kvar: lq,
        min_v_pu: vmin,
        max_v_pu: vmax,
        taps: pf.regulator_taps().into_iter().map(|(n, _, s)| (n, s)).collect(),
        ders: (0..pf.n_ders())
            .map(|i| {
                let (kw, kvar) = pf.der_power(i);
                DerStep { name: pf.elements[pf.ders[i].elem].full_name(), kw, kvar, kwh: pf.storage_kwh(i), state: pf.storage_state(i) }
            })
            .collect(),
    }
}

impl PowerFlow {
    /// Runs `steps` time steps of `stepsize_s` seconds in `mode` from the
    /// script's start hour, with the load shapes of `circuit` (the circuit
    /// this engine was compiled from).
    pub fn solve_time_series(
        &mut self,
        circuit: &Circuit,
        steps: usize,
        stepsize_s: f64,
        mode: SolutionMode,
    ) -> Result<Vec<StepResult>, GridError> {
        let mut ts = TimeSeries::new(circuit, self)?;
        ts.mode = mode;
        ts.stepsize_s = stepsize_s;
        ts.run(self, steps)
    }
}

/// Writes the per-step table: `step,hour,total_power_kw,total_power_kvar,
/// losses_kw,min_v_pu,max_v_pu,converged,taps` (taps as `name=step` joined by `;`).
pub fn write_timeseries_csv(steps: &[StepResult], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    write!(out, "step,hour,total_power_kw,total_power_kvar,losses_kw,min_v_pu,max_v_pu,converged,taps")?;
    // One kW and kvar column per DER (into its terminals), and kWh for storage.
    let der_columns = steps.first().map(|s| s.ders.as_slice()).unwrap_or(&[]);
    for d in der_columns {
        write!(out, ",{0}_kw,{0}_kvar", d.name)?;
        if d.kwh.is_some() {
            write!(out, ",{}_kwh", d.name)?;
        }
    }
    writeln!(out)?;
    for s in steps {
        let taps: Vec<String> = s.taps.iter().map(|(n, t)| format!("{n}={t}")).collect();
        write!(
            out,
            "{},{},{:.6},{:.6},{:.6},{:.8},{:.8},{},{}",
            s.step,
            s.hour,
            s.total_power_kw,
            s.total_power_kvar,
            s.losses_kw,
            s.min_v_pu,
            s.max_v_pu,
            s.report.converged,
            taps.join(";")
        )?;
        for d in &s.ders {
            write!(out, ",{:.6},{:.6}", d.kw, d.kvar)?;
            if let Some(kwh) = d.kwh {
                write!(out, ",{kwh:.6}")?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Parses an OpenDSS solution-mode name (`snapshot`, `daily`, `yearly`, `duty`).
pub fn parse_mode(name: &str) -> Result<SolutionMode, GridError> {
    match name.to_ascii_lowercase().as_str() {
        "snapshot" | "snap" => Ok(SolutionMode::Snapshot),
        "daily" => Ok(SolutionMode::Daily),
        "yearly" => Ok(SolutionMode::Yearly),
        "duty" | "dutycycle" => Ok(SolutionMode::Duty),
        _ => Err(GridError::Invalid(format!("unknown mode '{name}' (snapshot, daily, yearly, duty)"))),
    }
}

/// `ogg powerflow FILE --mode daily --steps N`: runs `steps` time steps
/// (default: the script's `number=`, else 24 for daily/duty and 8760 for
/// yearly) of `stepsize_s` seconds (default: the script's) and writes
/// `timeseries.csv` into `out_dir`. Steps that do not converge are kept
/// (`converged=false` in the table); read errors and singular systems are errors.
pub fn timeseries_command(
    input: &str,
    mode: SolutionMode,
    steps: Option<usize>,
    stepsize_s: Option<f64>,
    tolerance: Option<f64>,
    out_dir: &std::path::Path,
) -> Result<Vec<StepResult>, GridError> {
    let circuit = crate::feeders::circuit_from(input)?;
    let mut pf = PowerFlow::new(&circuit)?;
    if let Some(t) = tolerance {
        if !crate::positive(t) {
            return Err(GridError::Invalid(format!("tolerance must be positive (got {t})")));
        }
        pf.settings_mut().tolerance = t;
    }
    let mut ts = TimeSeries::new(&circuit, &pf)?;
    ts.mode = mode;
    if let Some(h) = stepsize_s {
        if !crate::positive(h) {
            return Err(GridError::Invalid(format!("step size must be positive (got {h} s)")));
        }
        ts.stepsize_s = h;
    }
    let script_steps = (circuit.options.mode == mode && circuit.options.number > 1).then_some(circuit.options.number);
    let default_steps = if mode == SolutionMode::Yearly { 8760 } else { 24 };
    let n = steps.or(script_steps).unwrap_or(default_steps);
    let results = ts.run(&mut pf, n)?;
    std::fs::create_dir_all(out_dir).map_err(|source| GridError::Io { path: out_dir.display().to_string(), source })?;
    let path = out_dir.join("timeseries.csv");
    let mut w = crate::output::create(&path)?;
    write_timeseries_csv(&results, &mut w)
        .and_then(|_| std::io::Write::flush(&mut w))
        .map_err(|source| GridError::Io { path: path.display().to_string(), source })?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(interval_h: f64, mult: &[f64], qmult: &[f64], hour: &[f64]) -> LoadShape {
        LoadShape {
            name: "s".into(),
            npts: mult.len(),
            interval_h,
            mult: mult.to_vec(),
            qmult: qmult.to_vec(),
            hour: hour.to_vec(),
            useactual: false,
            pmax: 1.0,
            qmax: 1.0,
            pbase: 0.0,
            qbase: 0.0,
            location: Default::default(),
        }
    }

    #[test]
    fn fixed_interval_points_wrap_and_round_half_even() {
        let s = shape(1.0, &[0.1, 0.2, 0.3], &[], &[]);
        // hour 1 is the first point, hour 0 (and 3, 6) the last; wrap modulo npts.
        assert_eq!(shape_multiplier(&s, 1.0), (0.1, 0.1));
        assert_eq!(shape_multiplier(&s, 0.0), (0.3, 0.3));
        assert_eq!(shape_multiplier(&s, 3.0), (0.3, 0.3));
        assert_eq!(shape_multiplier(&s, 4.0), (0.1, 0.1));
        assert_eq!(shape_multiplier(&s, 5.0).0, 0.2);
        // Delphi's Round: 1.5 → 2, 2.5 → 2.
        assert_eq!(shape_multiplier(&s, 1.5).0, 0.2);
        assert_eq!(shape_multiplier(&s, 2.5).0, 0.2);
        // 15-minute shape: hour 0.25 is the first point.
        let q = shape(0.25, &[0.1, 0.2, 0.3, 0.4], &[0.5, 0.6, 0.7, 0.8], &[]);
        assert_eq!(shape_multiplier(&q, 0.25), (0.1, 0.5));
        assert_eq!(shape_multiplier(&q, 1.0), (0.4, 0.8));
    }

    #[test]
    fn hour_arrays_interpolate_and_wrap_at_the_last_hour() {
        let s = shape(0.0, &[1.0, 2.0, 4.0], &[], &[0.0, 2.0, 4.0]);
        assert_eq!(shape_multiplier(&s, 0.0).0, 1.0);
        assert_eq!(shape_multiplier(&s, 1.0).0, 1.5);
        assert_eq!(shape_multiplier(&s, 2.0).0, 2.0);
        assert_eq!(shape_multiplier(&s, 3.0).0, 3.0);
        assert_eq!(shape_multiplier(&s, 4.0).0, 4.0);
        // 5 h wraps to 1 h.
        assert_eq!(shape_multiplier(&s, 5.0).0, 1.5);
        assert_eq!(shape_multiplier(&shape(0.0, &[], &[], &[]), 3.0), (1.0, 1.0));
    }
}
