//! Can the grid carry the trades that were agreed?
//!
//! The trades of a grid step are settled without regard to the network. Here
//! they meet the AC power flow ([`ogg_grid::DistributionGrid`]):
//!
//! 1. The grid has been stepped with every agent's actions, i.e. with every
//!    trade applied (producers inject what they deliver, consumers draw what
//!    they store). Every branch above its rating and every bus outside
//!    [`Limits`] is a *violation*.
//! 2. For each trade, the same step is solved again *without that trade* —
//!    its producer's export removed and its consumer's extra draw removed —
//!    with the regulator and capacitor controls frozen where the real step
//!    left them (so that only the trade changes). A trade is *physically
//!    infeasible* if removing it relieves some violation (reduces how far a
//!    branch is over its rating or a voltage is outside the band) by more
//!    than `tolerance`. It is *decisive* if removing it alone clears that
//!    violation.
//!
//! A violation that removing any single trade leaves as it is (e.g. the
//! feeder's own undervoltage at the end of a long line) is reported but
//! blamed on no trade.

use std::any::Any;

use ogg_core::{Agent, Grid, GridAction, MarketAction, Result, View};
use ogg_dss::ControlMode;
use ogg_grid::DistributionGrid;

/// The operating limits a trade must respect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    /// Branch loading (fraction of the normal rating) above which a branch is overloaded.
    pub max_loading: f64,
    /// Relief below this (pu of voltage or of loading) does not count.
    pub tolerance: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { v_min_pu: 0.95, v_max_pu: 1.05, max_loading: 1.0, tolerance: 1e-5 }
    }
}

/// What a trade adds to the grid at one step (kW; 0 = nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct TradeFootprint {
    /// The caller's identifier of the trade (e.g. the pair index).
    pub id: usize,
    pub producer_bus: String,
    /// Export of the producer because of the trade (otherwise curtailed).
    pub producer_kw: f64,
    pub consumer_bus: String,
    /// Extra draw of the consumer because of the trade (energy stored).
    pub consumer_kw: f64,
}

/// What is wrong with one element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ViolationKind {
    Overvoltage,
    Undervoltage,
    Overload,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Overvoltage => "overvoltage",
            ViolationKind::Undervoltage => "undervoltage",
            ViolationKind::Overload => "overload",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Bus name (voltage) or branch name (overload).
    pub element: String,
    pub kind: ViolationKind,
    /// Voltage (pu) or loading (fraction of rating).
    pub value: f64,
    /// How far outside the limit.
    pub excess: f64,
}

/// The verdict on one trade.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeVerdict {
    pub id: usize,
    pub feasible: bool,
    /// The violation the trade relieves most when removed, if any.
    pub element: Option<String>,
    pub kind: Option<ViolationKind>,
    /// Value of that element with all trades (pu or loading).
    pub value: f64,
    /// By how much removing the trade reduces that violation's excess.
    pub relief: f64,
    /// Removing the trade alone clears that violation.
    pub decisive: bool,
}

/// The check of one grid step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCheck {
    pub violations: Vec<Violation>,
    pub verdicts: Vec<TradeVerdict>,
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    pub max_loading: f64,
    /// Counterfactual power flows solved.
    pub solves: usize,
}

impl StepCheck {
    pub fn infeasible(&self) -> impl Iterator<Item = &TradeVerdict> {
        self.verdicts.iter().filter(|v| !v.feasible)
    }
}

/// The violations of a grid state.
pub fn violations(state: &ogg_core::GridState, limits: &Limits) -> Vec<Violation> {
    let mut out = Vec::new();
    for (bus, &v) in state.buses.iter().zip(&state.bus_voltage_pu) {
        if !(v.is_finite() && v > 0.0) {
            continue; // de-energised or without a voltage base
        }
        if v > limits.v_max_pu {
            out.push(Violation { element: bus.clone(), kind: ViolationKind::Overvoltage, value: v, excess: v - limits.v_max_pu });
        } else if v < limits.v_min_pu {
            out.push(Violation { element: bus.clone(), kind: ViolationKind::Undervoltage, value: v, excess: limits.v_min_pu - v });
        }
    }
    for (branch, &l) in state.branches.iter().zip(&state.branch_loading) {
        if l.is_finite() && l > limits.max_loading {
            out.push(Violation { element: branch.clone(), kind: ViolationKind::Overload, value: l, excess: l - limits.max_loading });
        }
    }
    out
}

/// How far `element` is outside its limit in `state` (0 inside).
fn excess_of(state: &ogg_core::GridState, v: &Violation, limits: &Limits) -> f64 {
    match v.kind {
        ViolationKind::Overvoltage | ViolationKind::Undervoltage => {
            let Some(i) = state.buses.iter().position(|b| *b == v.element) else { return 0.0 };
            let x = state.bus_voltage_pu[i];
            match v.kind {
                ViolationKind::Overvoltage => (x - limits.v_max_pu).max(0.0),
                _ => (limits.v_min_pu - x).max(0.0),
            }
        }
        ViolationKind::Overload => {
            let Some(i) = state.branches.iter().position(|b| *b == v.element) else { return 0.0 };
            (state.branch_loading[i] - limits.max_loading).max(0.0)
        }
    }
}

/// An agent that only replays fixed grid actions (to re-solve a step).
#[derive(Debug, Clone)]
struct Replay {
    name: String,
    actions: Vec<GridAction>,
}

impl Agent for Replay {
    fn name(&self) -> &str {
        &self.name
    }
    fn set_market_actions(&mut self, _view: &View) -> Result<()> {
        Ok(())
    }
    fn set_grid_actions(&mut self, _view: &View) -> Result<()> {
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &[]
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.actions
    }
    fn clone_box(&self) -> Box<dyn Agent> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Checks one grid step. `grid` is the grid right after the step (solved
/// with `actions`, every agent's grid actions of the step, as (agent name,
/// actions)); `trades` are the trades that were delivered in it.
pub fn check_step(grid: &DistributionGrid, actions: &[(String, Vec<GridAction>)], trades: &[TradeFootprint], limits: &Limits) -> Result<StepCheck> {
    let state = grid.state();
    let found = violations(state, limits);
    let energised: Vec<f64> = state.bus_voltage_pu.iter().cloned().filter(|v| v.is_finite() && *v > 0.0).collect();
    let mut check = StepCheck {
        violations: found.clone(),
        verdicts: Vec::with_capacity(trades.len()),
        v_min_pu: energised.iter().cloned().fold(f64::INFINITY, f64::min),
        v_max_pu: energised.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        max_loading: state.branch_loading.iter().cloned().filter(|l| l.is_finite()).fold(0.0, f64::max),
        solves: 0,
    };
    let feasible = |id: usize| TradeVerdict { id, feasible: true, element: None, kind: None, value: f64::NAN, relief: 0.0, decisive: false };
    if found.is_empty() {
        check.verdicts = trades.iter().map(|t| feasible(t.id)).collect();
        return Ok(check);
    }
    let base: Vec<Box<dyn Agent>> =
        actions.iter().map(|(name, a)| Box::new(Replay { name: name.clone(), actions: a.clone() }) as Box<dyn Agent>).collect();
    let mut frozen = grid.clone();
    frozen.power_flow_mut().settings_mut().control_mode = ControlMode::Off;
    for trade in trades {
        if trade.producer_kw <= 0.0 && trade.consumer_kw <= 0.0 {
            check.verdicts.push(feasible(trade.id));
            continue;
        }
        let mut undo = Vec::new();
        if trade.producer_kw > 0.0 {
            undo.push(GridAction::InjectAtBus { bus: trade.producer_bus.clone(), kw: -trade.producer_kw, kvar: 0.0 });
        }
        if trade.consumer_kw > 0.0 {
            undo.push(GridAction::InjectAtBus { bus: trade.consumer_bus.clone(), kw: trade.consumer_kw, kvar: 0.0 });
        }
        let extra: Vec<Box<dyn Agent>> = vec![Box::new(Replay { name: format!("without trade {}", trade.id), actions: undo })];
        let mut counterfactual = frozen.clone();
        let view = View {
            grid: None,
            market: None,
            agents_before: &base,
            agents_after: &extra,
            caller: None,
            grid_step: state.step,
            market_round: 0,
        };
        counterfactual.step(&view)?;
        check.solves += 1;
        let after = counterfactual.state();
        let mut best: Option<(f64, &Violation, bool)> = None;
        for v in &found {
            let relief = v.excess - excess_of(after, v, limits);
            if relief > limits.tolerance && match best {
                None => true,
                Some(b) => relief > b.0,
            } {
                best = Some((relief, v, excess_of(after, v, limits) == 0.0));
            }
        }
        check.verdicts.push(match best {
            Some((relief, v, decisive)) => TradeVerdict {
                id: trade.id,
                feasible: false,
                element: Some(v.element.clone()),
                kind: Some(v.kind),
                value: v.value,
                relief,
                decisive,
            },
            None => feasible(trade.id),
        });
    }
    Ok(check)
}
