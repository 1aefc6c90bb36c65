use std::any::Any;

use crate::{Result, Topology, View};

/// What an agent asks of the grid. The grid applies these in `step` and reports
/// what it actually applied (it enforces physical limits).
#[derive(Debug, Clone, PartialEq)]
pub enum GridAction {
    /// Set a load's demand (kW, and kvar if given; otherwise keep its power factor).
    SetLoad { element: String, kw: f64, kvar: Option<f64> },
    /// Multiply a load's nominal demand.
    ScaleLoad { element: String, multiplier: f64 },
    /// Net injection at a bus, spread over its phases (kW, kvar; positive = generation).
    InjectAtBus { bus: String, kw: f64, kvar: f64 },
    /// Set a generator's or PV system's output for this step: `kw` is the
    /// active power (for a PV system a cap on what its panels give:
    /// curtailment), `kvar` or `pf` the reactive power (at most one; `None`
    /// keeps the element's own setting). The grid clips to the element's
    /// limits (kVA, kvar limits, available power) and reports what it applied.
    SetGeneration { element: String, kw: Option<f64>, kvar: Option<f64>, pf: Option<f64> },
    /// Discharge (`kw` > 0) or charge (`kw` < 0) a storage element this step;
    /// `kvar` optional. The grid clips to kWrated, kVA and the energy between
    /// the reserve and full over the step, and reports what it applied.
    SetStorage { element: String, kw: f64, kvar: Option<f64> },
    /// Anything a user-written grid understands.
    Custom { name: String, values: Vec<f64> },
}

impl GridAction {
    /// Sets slot `k` of `actions` (k ≤ len) to `ScaleLoad { element, multiplier }`,
    /// reusing the slot's string: agents that send the same actions every
    /// step then allocate nothing. Truncate to the number of slots used after.
    pub fn put_scale_load(actions: &mut Vec<GridAction>, k: usize, element: &str, multiplier: f64) {
        if let Some(GridAction::ScaleLoad { element: e, multiplier: m }) = actions.get_mut(k) {
            if e != element {
                e.clear();
                e.push_str(element);
            }
            *m = multiplier;
            return;
        }
        Self::put(actions, k, GridAction::ScaleLoad { element: element.to_string(), multiplier });
    }

    /// As [`GridAction::put_scale_load`], for `InjectAtBus { bus, kw, kvar }`.
    pub fn put_inject_at_bus(actions: &mut Vec<GridAction>, k: usize, bus: &str, kw: f64, kvar: f64) {
        if let Some(GridAction::InjectAtBus { bus: b, kw: p, kvar: q }) = actions.get_mut(k) {
            if b != bus {
                b.clear();
                b.push_str(bus);
            }
            *p = kw;
            *q = kvar;
            return;
        }
        Self::put(actions, k, GridAction::InjectAtBus { bus: bus.to_string(), kw, kvar });
    }

    fn put(actions: &mut Vec<GridAction>, k: usize, action: GridAction) {
        if k < actions.len() {
            actions[k] = action;
        } else {
            actions.push(action);
        }
    }
}

/// What every module can read about the grid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridState {
    /// Seconds since the start of the episode.
    pub time_s: f64,
    /// Grid step counter (number of completed `step` calls since `reset`).
    pub step: usize,
    /// Bus names, in the order of the per-bus arrays.
    pub buses: Vec<String>,
    /// Per-unit voltage magnitude per bus (mean over its phase nodes).
    pub bus_voltage_pu: Vec<f64>,
    /// Branch names, in the order of the per-branch arrays.
    pub branches: Vec<String>,
    /// Loading of each branch as a fraction of its rating (NaN where unrated).
    pub branch_loading: Vec<f64>,
    /// Total power drawn from the source(s), kW and kvar.
    pub total_power_kw: f64,
    pub total_power_kvar: f64,
    pub losses_kw: f64,
    /// Whether the last solve converged.
    pub converged: bool,
}

/// The physical grid (paper §3.1). `reset` restores the initial state, `step`
/// applies every agent's grid actions (read through the view), solves and
/// advances time.
pub trait Grid: Send {
    fn name(&self) -> &str {
        "grid"
    }
    /// Called by `Environment::reset(Some(seed))` before `reset`, with a seed
    /// derived for the grid alone. The default ignores it.
    fn seed(&mut self, _seed: u64) {}
    fn reset(&mut self, view: &View) -> Result<()>;
    fn step(&mut self, view: &View) -> Result<()>;
    fn state(&self) -> &GridState;
    /// Extra columns for the recorder's grid table (name, value), one row per
    /// grid step, e.g. a regulator's tap. Called after every grid step.
    fn record_extra(&self, _out: &mut Vec<(String, f64)>) {}
    /// The network the grid models, for markets that need it (none for the do-nothing grid).
    fn topology(&self) -> Option<&Topology> {
        None
    }
    /// A deep copy, for snapshots: the copy continues exactly as the original would.
    fn clone_box(&self) -> Box<dyn Grid>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The paper's do-nothing grid: time advances by `step_s`, nothing else changes.
#[derive(Debug, Clone)]
pub struct DoNothingGrid {
    pub step_s: f64,
    state: GridState,
}

impl DoNothingGrid {
    pub fn new(step_s: f64) -> Self {
        DoNothingGrid { step_s, state: GridState { converged: true, ..Default::default() } }
    }
}

impl Default for DoNothingGrid {
    fn default() -> Self {
        Self::new(3600.0)
    }
}

impl Grid for DoNothingGrid {
    fn name(&self) -> &str {
        "do-nothing grid"
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        self.state.time_s = 0.0;
        self.state.step = 0;
        Ok(())
    }
    fn step(&mut self, _view: &View) -> Result<()> {
        self.state.time_s += self.step_s;
        self.state.step += 1;
        Ok(())
    }
    fn state(&self) -> &GridState {
        &self.state
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
