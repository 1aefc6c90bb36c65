//! [`DistributionGrid`]: the `ogg_core::Grid` module on an OpenDSS feeder.
//!
//! Each step starts from the circuit's own load and DER values (or, after
//! `use_load_shapes`, their shaped values at the step's hour), applies every
//! agent's grid actions of that step (`SetLoad`, `ScaleLoad`, `InjectAtBus`,
//! `SetGeneration`, `SetStorage`, and the custom PV irradiance action), solves the power flow warm-started from the
//! previous step's voltages (regulators and capacitor controls act as in
//! OpenDSS's static mode), updates the storage energy over the step (OpenDSS's
//! end-of-step `UpdateStorage`) and advances time. Actions do not carry over
//! to the next step: an agent that wants a load scaled, or a battery charged,
//! every step says so every step; stored energy does carry over.

use std::any::Any;

use ogg_core::{Error, Grid, GridAction, GridState, Topology, View};
use ogg_dss::{Circuit, Connection, ElementClass};

use crate::controls::ControlSnapshot;
use crate::engine::PowerFlow;
use crate::error::GridError;

/// `GridAction::Custom { name: "pv_irradiance:PVSystem.NAME", values: [kW/m²] }`:
/// a PV system's irradiance for the step, as its load shape would set it
/// (exogenous data; see [`pv_irradiance_action`]). Apply it before a
/// `SetGeneration` cap on the same PV system in the step.
pub const PV_IRRADIANCE_ACTION: &str = "pv_irradiance:";

/// The custom action setting PV system `element`'s irradiance (kW/m²) for one step.
pub fn pv_irradiance_action(element: &str, kw_per_m2: f64) -> GridAction {
    GridAction::Custom { name: format!("{PV_IRRADIANCE_ACTION}{element}"), values: vec![kw_per_m2] }
}

/// An `ogg_core::Grid` backed by the power-flow engine.
#[derive(Debug, Clone)]
pub struct DistributionGrid {
    name: String,
    step_s: f64,
    /// The compiled and solved circuit as `reset` restores it.
    initial: PowerFlow,
    pf: PowerFlow,
    state: GridState,
    topology: Topology,
    /// Element index and normal rating (A) of each branch in `state.branches`.
    branch_elements: Vec<(usize, f64)>,
    /// Extra recorder columns: (name, value) after the last step.
    extra: Vec<(String, f64)>,
    /// Load shapes driving the loads each step (`use_load_shapes`); None:
    /// loads start every step from their circuit values.
    shapes: Option<crate::timeseries::TimeSeries>,
    /// Per DER: what an agent's action applied in the last step.
    applied: Vec<Option<crate::ders::AppliedDer>>,
    /// What the recorder's extra columns hold (see [`Monitors`]).
    monitors: Monitors,
    /// Element index of each monitored branch, with its name as given.
    monitored_branches: Vec<(usize, String)>,
}

/// Which per-step quantities [`DistributionGrid`] adds to the recorder's grid
/// table (besides the base columns: source power, losses, min/max voltage).
/// The default keeps the table narrow: taps, capacitors, DERs, iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitors {
    /// One `v.<bus>` column per bus: mean per-unit magnitude over its phase nodes.
    pub voltages: bool,
    /// Branches (`Line.l1`, `Transformer.sub`, …; case-insensitive) with
    /// `<name>.kw`, `.kvar` (into terminal 1), `.amps` (largest phase current
    /// at terminal 1) and `.loading` (amps / normal rating; NaN unrated).
    pub branches: Vec<String>,
    /// Per DER: `.kw`, `.kvar` (delivered), `.kw_requested`,
    /// `.kvar_requested`, `.clipped`, and `.kwh` for storage.
    pub ders: bool,
}

impl Default for Monitors {
    fn default() -> Self {
        Monitors { voltages: false, branches: Vec::new(), ders: true }
    }
}

impl DistributionGrid {
    /// Compiles the circuit and solves its initial state (as OpenDSS's
    /// `Solve` would). `step_s` is the time one grid step represents.
    pub fn new(circuit: &Circuit, step_s: f64) -> Result<Self, GridError> {
        if step_s.is_nan() || step_s < 0.0 || !step_s.is_finite() {
            return Err(GridError::Invalid(format!("step length must be a finite number ≥ 0 s (got {step_s})")));
        }
        if circuit.options.control_mode == ogg_dss::ControlMode::Event {
            // Event mode moves the solution clock to each action's time and
            // the next step starts from there (OpenDSS); grid steps are at
            // fixed times, so that cannot be matched here.
            return Err(GridError::Invalid(
                "ControlMode=event is not supported in grid steps (fixed step times); use static or time, or run a TimeSeries".into(),
            ));
        }
        let mut pf = PowerFlow::new(circuit)?;
        if pf.buses().iter().all(|b| b.1 == 0.0) {
            // The script never ran CalcVoltageBases: per-unit voltages need
            // bases, so derive them from OpenDSS's default list.
            pf.calc_voltage_bases()?;
        }
        let report = pf.solve()?;
        if let Some(nc) = report.non_convergence.filter(|nc| !nc.controls_exhausted) {
            return Err(GridError::NotConverged(nc));
        }
        let (topology, branch_elements) = build_topology(&pf);
        let mut grid = DistributionGrid {
            name: if circuit.name.is_empty() { "feeder".into() } else { circuit.name.clone() },
            step_s,
            initial: pf.clone(),
            pf,
            state: GridState::default(),
            topology,
            branch_elements,
            extra: Vec::new(),
            shapes: None,
            applied: Vec::new(),
            monitors: Monitors::default(),
            monitored_branches: Vec::new(),
        };
        grid.applied = vec![None; grid.pf.n_ders()];
        grid.state.buses = grid.pf.buses().into_iter().map(|b| b.0).collect();
        grid.state.branches = grid.topology_branch_names();
        grid.refresh_state(true);
        Ok(grid)
    }

    /// Drives the loads with their `daily` (or, by `mode`, `yearly`/`duty`)
    /// shapes from `circuit` (the circuit this grid was built from): grid step
    /// k (0-based) solves at hour (k + 1)·step_s/3600, as OpenDSS's step k + 1
    /// (time advances before each solve). Agents' load actions apply on top of
    /// the shaped demand. Loads without a shape, and fixed loads, stay constant.
    pub fn use_load_shapes(&mut self, circuit: &Circuit, mode: ogg_dss::model::SolutionMode) -> Result<(), GridError> {
        let mut ts = crate::timeseries::TimeSeries::new(circuit, &self.pf)?;
        ts.mode = mode;
        ts.stepsize_s = self.step_s;
        ts.summaries = false;
        self.shapes = Some(ts);
        Ok(())
    }

    /// Chooses the per-step quantities recorded (see [`Monitors`]). An unknown
    /// branch is an error naming it; the columns change from the next step on.
    pub fn set_monitors(&mut self, monitors: Monitors) -> Result<(), GridError> {
        let mut resolved = Vec::with_capacity(monitors.branches.len());
        for name in &monitors.branches {
            let found = self.branch_elements.iter().find(|&&(e, _)| self.pf.elements[e].full_name().eq_ignore_ascii_case(name));
            match found {
                Some(&(e, _)) => resolved.push((e, name.clone())),
                None => {
                    let known: Vec<String> = self.topology_branch_names().into_iter().take(8).collect();
                    return Err(GridError::Invalid(format!(
                        "monitor: no branch `{name}` in this grid (give `Class.name`, e.g. {})",
                        known.join(", ")
                    )));
                }
            }
        }
        self.monitors = monitors;
        self.monitored_branches = resolved;
        let converged = self.state.converged;
        self.refresh_state(converged);
        Ok(())
    }

    pub fn monitors(&self) -> &Monitors {
        &self.monitors
    }

    /// Every generator, PV system and storage element, as `Class.name`.
    pub fn der_names(&self) -> Vec<String> {
        self.pf.der_names()
    }

    /// A built-in feeder by name, or an OpenDSS master script by path.
    pub fn from_feeder(name_or_path: &str, step_s: f64) -> Result<Self, GridError> {
        Self::new(&crate::feeders::circuit_from(name_or_path)?, step_s)
    }

    pub fn power_flow(&self) -> &PowerFlow {
        &self.pf
    }

    pub fn power_flow_mut(&mut self) -> &mut PowerFlow {
        &mut self.pf
    }

    pub fn step_s(&self) -> f64 {
        self.step_s
    }

    /// Every load: (name as `SetLoad`/`ScaleLoad` address it, its bus).
    pub fn loads(&self) -> Vec<(String, String)> {
        (0..self.pf.n_loads())
            .map(|i| {
                let e = &self.pf.elements[self.pf.loads[i].elem];
                (e.name.clone(), self.pf.nodes.buses[e.terminal_bus[0]].name.clone())
            })
            .collect()
    }

    fn topology_branch_names(&self) -> Vec<String> {
        self.branch_elements.iter().map(|&(e, _)| self.pf.elements[e].full_name().to_ascii_lowercase()).collect()
    }

    fn refresh_state(&mut self, converged: bool) {
        let pf = &self.pf;
        self.state.bus_voltage_pu = (0..self.state.buses.len()).map(|b| pf.bus_voltage_pu(b)).collect();
        self.state.branch_loading = self
            .branch_elements
            .iter()
            .map(|&(e, amps)| if amps > 0.0 { pf.element_flows(e).imax_t1 / amps } else { f64::NAN })
            .collect();
        let (p, q) = pf.total_power();
        self.state.total_power_kw = p;
        self.state.total_power_kvar = q;
        self.state.losses_kw = pf.losses().0;
        self.state.converged = converged;
        self.extra.clear();
        for (name, tap, _) in pf.regulator_taps() {
            self.extra.push((format!("tap.{name}"), tap));
        }
        for (name, states) in pf.capacitor_states() {
            self.extra.push((format!("capacitor.{name}"), states.iter().map(|&s| s as f64).sum()));
        }
        if self.monitors.voltages {
            for (bus, v) in self.state.buses.iter().zip(&self.state.bus_voltage_pu) {
                self.extra.push((format!("v.{bus}"), *v));
            }
        }
        for (e, name) in &self.monitored_branches {
            let flows = pf.element_flows(*e);
            let amps = self.branch_elements.iter().find(|(b, _)| b == e).map_or(0.0, |&(_, a)| a);
            self.extra.push((format!("{name}.kw"), flows.p1_kw));
            self.extra.push((format!("{name}.kvar"), flows.q1_kvar));
            self.extra.push((format!("{name}.amps"), flows.imax_t1));
            self.extra.push((format!("{name}.loading"), if amps > 0.0 { flows.imax_t1 / amps } else { f64::NAN }));
        }
        // DERs: delivered output (generation / discharge positive), what an
        // agent asked for (NaN: nothing) and whether it was clipped.
        let der_count = if self.monitors.ders { pf.n_ders() } else { 0 };
        for i in 0..der_count {
            let name = pf.elements[pf.ders[i].elem].full_name();
            let (p, q) = pf.der_power(i);
            let a = self.applied.get(i).copied().flatten();
            self.extra.push((format!("{name}.kw"), -p));
            self.extra.push((format!("{name}.kvar"), -q));
            self.extra.push((format!("{name}.kw_requested"), a.map_or(f64::NAN, |a| a.requested_kw)));
            self.extra.push((format!("{name}.kvar_requested"), a.map_or(f64::NAN, |a| a.requested_kvar)));
            self.extra.push((format!("{name}.clipped"), a.map_or(0.0, |a| f64::from(u8::from(a.clipped)))));
            if let Some(kwh) = pf.storage_kwh(i) {
                self.extra.push((format!("{name}.kwh"), kwh));
            }
        }
        self.extra.push(("iterations".into(), pf.last_report().iterations as f64));
        let settled = pf.last_report().non_convergence.as_ref().is_none_or(|nc| !nc.controls_exhausted);
        self.extra.push(("controls_settled".into(), if settled { 1.0 } else { 0.0 }));
    }

    /// Applies one agent action to the engine (loads start from their circuit values each step).
    fn apply(&mut self, who: &str, action: &GridAction) -> Result<(), Error> {
        if let GridAction::Custom { name, values } = action {
            if let Some(element) = name.strip_prefix(PV_IRRADIANCE_ACTION) {
                let i = self.pf.find_der(element).ok_or_else(|| {
                    Error::invalid(who, format!("{name}: unknown PV system '{element}' in grid '{}'", self.name))
                })?;
                let [kw_per_m2] = values.as_slice() else {
                    return Err(Error::invalid(who, format!("{name}: one value (kW/m²) expected, got {}", values.len())));
                };
                self.pf.set_pv_irradiance(i, *kw_per_m2).map_err(|e| Error::invalid(who, e.to_string()))?;
                return Ok(());
            }
        }
        if let Some((i, applied)) = apply_der_action(&mut self.pf, self.step_s / 3600.0, who, action)? {
            self.applied[i] = Some(applied);
            return Ok(());
        }
        apply_action(&mut self.pf, |pf, element| pf.load_index(element), &self.name, who, action)
    }

    /// What the agents' `SetGeneration` / `SetStorage` of the last step
    /// applied, per DER (in `PowerFlow::der_names` order; `None`: no request).
    pub fn applied_der_actions(&self) -> &[Option<crate::ders::AppliedDer>] {
        &self.applied
    }

}

impl Grid for DistributionGrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self, _view: &View) -> Result<(), Error> {
        self.pf = self.initial.clone();
        if let Some(ts) = &mut self.shapes {
            ts.restamp_pending = true;
        }
        self.applied.iter_mut().for_each(|a| *a = None);
        self.state.time_s = 0.0;
        self.state.step = 0;
        self.refresh_state(true);
        Ok(())
    }

    fn step(&mut self, view: &View) -> Result<(), Error> {
        let who = self.name.clone();
        let saved = self.pf.save_state();
        let controls = ControlSnapshot::take(&self.pf);
        match &mut self.shapes {
            Some(ts) => {
                ts.set_time_s((self.state.step + 1) as f64 * self.step_s);
                ts.apply_shapes(&mut self.pf);
                ts.restamp_if_pending(&mut self.pf);
            }
            None => {
                self.pf.reset_loads();
                self.pf.reset_ders();
            }
        }
        self.pf.clear_bus_injections();
        self.applied.iter_mut().for_each(|a| *a = None);
        for (_, agent) in view.agents() {
            for action in agent.grid_actions() {
                self.apply(agent.name(), action)?;
            }
        }
        // The clock time-mode controls queue their delays against.
        self.pf.set_control_time_s((self.state.step + 1) as f64 * self.step_s);
        let outcome = self.pf.solve();
        // A power flow that converged while the controls were still acting at
        // MaxControlIter is a valid solution (OpenDSS only warns); recorded
        // as `controls_settled = 0`.
        let failure = match outcome {
            Ok(report) => report.non_convergence.filter(|nc| !nc.controls_exhausted).map(|nc| nc.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = failure {
            // Keep the previous solution: voltages, taps, capacitor steps.
            self.pf.restore_state(saved);
            controls.restore(&mut self.pf);
            self.state.converged = false;
            return Err(Error::module(
                who,
                format!("power flow at step {} (t = {} s): {message}", self.state.step, self.state.time_s),
            ));
        }
        // OpenDSS's end-of-step storage update, over this step's length.
        self.pf.update_storage_energy(self.step_s / 3600.0);
        self.refresh_state(true);
        self.state.time_s += self.step_s;
        self.state.step += 1;
        Ok(())
    }

    fn state(&self) -> &GridState {
        &self.state
    }

    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.extend(self.extra.iter().cloned());
    }

    fn topology(&self) -> Option<&Topology> {
        Some(&self.topology)
    }

    fn clone_box(&self) -> Box<dyn Grid> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Normal current rating of a branch element in amps (0 = unrated).
fn normal_amps(pf: &PowerFlow, e: usize) -> f64 {
    let el = &pf.elements[e];
    match el.class {
        ElementClass::Line => pf.line_normamps(e),
        ElementClass::Transformer => {
            let Some(t) = pf.transformers.iter().find(|t| t.elem == e) else { return 0.0 };
            let t = &t.model;
            let w = &t.windings[0];
            let vbase = crate::elements::transformer::winding_vbase(t, 0);
            let vfactor = match (w.conn, t.phases) {
                (Connection::Wye, _) | (Connection::Delta, 1) => vbase * 0.001,
                (Connection::Delta, _) => vbase * 0.001 / 3f64.sqrt(),
            };
            // OpenDSS's default NormHkVA is 110% of winding 1's kVA.
            let norm_hkva = 1.1 * w.kva;
            norm_hkva / t.phases as f64 / vfactor
        }
        _ => 0.0,
    }
}

/// Buses and bus-to-bus edges (parallel single-phase units such as a
/// regulator bank collapse into one edge) for markets.
fn build_topology(pf: &PowerFlow) -> (Topology, Vec<(usize, f64)>) {
    let buses: Vec<String> = pf.nodes.buses.iter().map(|b| b.name.clone()).collect();
    let bus_kv: Vec<f64> = pf.nodes.buses.iter().map(|b| b.kv_base_ln * 3f64.sqrt()).collect();
    let root = pf.sources.first().map(|s| pf.elements[s.elem].terminal_bus[0]).unwrap_or(0);
    let mut branch_elements = Vec::new();
    let mut edges: Vec<ogg_core::Branch> = Vec::new();
    for (e, el) in pf.elements.iter().enumerate() {
        let series = match el.class {
            ElementClass::Line | ElementClass::Transformer => true,
            ElementClass::Capacitor | ElementClass::Reactor => !pf.is_shunt(e),
            _ => false,
        };
        if !series {
            continue;
        }
        let amps = normal_amps(pf, e);
        branch_elements.push((e, amps));
        let phases = match el.class {
            ElementClass::Transformer => el.nconds - 1,
            _ => el.nconds,
        };
        let from = el.terminal_bus[0];
        for &to in &el.terminal_bus[1..] {
            if to == from {
                continue;
            }
            let rating_kva = match el.class {
                ElementClass::Transformer => pf
                    .transformers
                    .iter()
                    .find(|t| t.elem == e)
                    .map(|t| t.model.windings[0].kva)
                    .unwrap_or(f64::INFINITY),
                _ if amps > 0.0 => {
                    let kv_ln = pf.nodes.buses[from].kv_base_ln;
                    if kv_ln > 0.0 {
                        amps * kv_ln * phases as f64
                    } else {
                        f64::INFINITY
                    }
                }
                _ => f64::INFINITY,
            };
            let name = el.full_name().to_ascii_lowercase();
            if let Some(b) = edges.iter_mut().find(|b| (b.from, b.to) == (from, to) || (b.from, b.to) == (to, from)) {
                b.name = format!("{}+{}", b.name, name);
                b.phases += phases;
                b.rating_kva += rating_kva;
            } else {
                edges.push(ogg_core::Branch { name, from, to, phases, rating_kva });
            }
        }
    }
    (Topology { buses, root, branches: edges, bus_kv }, branch_elements)
}

/// Applies one agent's grid action to a power flow: the one place that says what
/// `SetLoad`, `ScaleLoad` and `InjectAtBus` mean, shared by every grid built on
/// [`PowerFlow`] (e.g. ogg-vector's voltages-only grid). `load_index` resolves a
/// load name; `grid` names the grid in errors; `who` is the acting agent.
pub fn apply_action(
    pf: &mut PowerFlow,
    load_index: impl Fn(&PowerFlow, &str) -> Option<usize>,
    grid: &str,
    who: &str,
    action: &GridAction,
) -> Result<(), Error> {
    let load = |pf: &PowerFlow, element: &str| {
        load_index(pf, element).ok_or_else(|| Error::invalid(who, format!("unknown load '{element}' in grid '{grid}'")))
    };
    match action {
        GridAction::SetLoad { element, kw, kvar } => {
            let i = load(pf, element)?;
            if !kw.is_finite() || kvar.is_some_and(|q| !q.is_finite()) {
                return Err(Error::invalid(who, format!("SetLoad '{element}': kW/kvar must be finite")));
            }
            let kvar = match kvar {
                Some(q) => *q,
                None => {
                    // Keep the load's power factor.
                    let (p0, q0) = pf.load_nominal(i);
                    if p0 != 0.0 {
                        kw * q0 / p0
                    } else {
                        q0
                    }
                }
            };
            pf.set_load(i, *kw, kvar);
        }
        GridAction::ScaleLoad { element, multiplier } => {
            let i = load(pf, element)?;
            if !multiplier.is_finite() {
                return Err(Error::invalid(who, format!("ScaleLoad '{element}': multiplier {multiplier} is not finite")));
            }
            let (p, q) = pf.load_nominal(i);
            pf.set_load(i, p * multiplier, q * multiplier);
        }
        GridAction::InjectAtBus { bus, kw, kvar } => {
            if !kw.is_finite() || !kvar.is_finite() {
                return Err(Error::invalid(who, format!("InjectAtBus '{bus}': kW/kvar must be finite")));
            }
            pf.add_bus_injection(bus, *kw, *kvar).map_err(|e| Error::invalid(who, e.to_string()))?;
        }
        GridAction::SetGeneration { .. } | GridAction::SetStorage { .. } => {
            // No step length here: storage is clipped to its state of charge only.
            apply_der_action(pf, 0.0, who, action)?;
        }
        GridAction::Custom { name, .. } => {
            return Err(Error::invalid(who, format!("the grid '{grid}' does not understand the custom action '{name}'")));
        }
    }
    Ok(())
}

/// Applies `SetGeneration` / `SetStorage` (other actions: `Ok(None)`):
/// resolves the element (`Class.name` or a unique bare name), clips the
/// request to the element's limits over a step of `step_h` hours (0: no
/// energy limit within the step) and returns what was applied.
pub fn apply_der_action(
    pf: &mut PowerFlow,
    step_h: f64,
    who: &str,
    action: &GridAction,
) -> Result<Option<(usize, crate::ders::AppliedDer)>, Error> {
    let find = |pf: &PowerFlow, element: &str| {
        pf.find_der(element).ok_or_else(|| {
            Error::invalid(who, format!("unknown generator, PV system or storage element '{element}'"))
        })
    };
    let (i, applied) = match action {
        GridAction::SetGeneration { element, kw, kvar, pf: power_factor } => {
            let i = find(pf, element)?;
            (i, pf.set_generation(i, *kw, *kvar, *power_factor))
        }
        GridAction::SetStorage { element, kw, kvar } => {
            let i = find(pf, element)?;
            (i, pf.set_storage(i, *kw, *kvar, step_h))
        }
        _ => return Ok(None),
    };
    let applied = applied.map_err(|e| Error::invalid(who, e.to_string()))?;
    Ok(Some((i, applied)))
}
