//! Modules for tests and benchmarks: they log every call the environment makes
//! (into a shared [`CallLog`]), remember what their views showed, and can be
//! told to fail at a given call. Also [`RoundsMarket`], a do-nothing market
//! that clears after a fixed number of rounds.

use std::any::Any;
use std::sync::{Arc, Mutex};

use crate::{Agent, Dispatch, Error, Grid, GridAction, GridState, Market, MarketAction, Result, View};

/// A shared, ordered log of calls. Clones share the same log.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    pub fn new() -> Self {
        CallLog::default()
    }
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(entry.into());
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// Returns the entries and empties the log.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Where a test module should fail: the trait method name (`"reset"`,
/// `"step"`, `"set_market_actions"`, `"set_grid_actions"`) and optionally the
/// grid step and market round (`None` = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailAt {
    pub call: &'static str,
    pub grid_step: Option<usize>,
    pub market_round: Option<usize>,
}

impl FailAt {
    pub fn new(call: &'static str, grid_step: Option<usize>, market_round: Option<usize>) -> Self {
        FailAt { call, grid_step, market_round }
    }
    fn matches(&self, call: &str, view: &View) -> bool {
        self.call == call
            && self.grid_step.is_none_or(|t| t == view.grid_step)
            && self.market_round.is_none_or(|r| r == view.market_round)
    }
}

/// What a module's view showed at one call.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenView {
    pub call: &'static str,
    pub grid_step: usize,
    pub market_round: usize,
    pub caller: Option<usize>,
    pub has_grid: bool,
    pub has_market: bool,
    pub n_agents: usize,
    /// `(index, name)` of every agent in the view, as `View::agents` yields them.
    pub agents: Vec<(usize, String)>,
}

impl SeenView {
    fn of(call: &'static str, view: &View) -> Self {
        SeenView {
            call,
            grid_step: view.grid_step,
            market_round: view.market_round,
            caller: view.caller,
            has_grid: view.grid.is_some(),
            has_market: view.market.is_some(),
            n_agents: view.n_agents(),
            agents: view.agents().map(|(i, a)| (i, a.name().to_string())).collect(),
        }
    }
}

fn log_entry(who: &str, call: &str, view: &View) -> String {
    format!("{who}.{call}(t={},r={})", view.grid_step, view.market_round)
}

/// An agent that logs `"<name>.<call>(t=<grid step>,r=<view market_round>)"`
/// for every call, keeps what each view showed, and can fail on demand.
/// Its reward after a market round is `10 · grid_step + round`; it adds the
/// extra column `market_calls` (its number of `set_market_actions` calls).
#[derive(Debug, Clone)]
pub struct RecordingAgent {
    pub name: String,
    pub bus: Option<String>,
    pub log: CallLog,
    pub fail_at: Option<FailAt>,
    pub seen: Vec<SeenView>,
    /// The seed given by `Environment::reset(Some(..))`, if any.
    pub seed: Option<u64>,
    pub market_calls: usize,
    reward: f64,
    grid_actions: Vec<GridAction>,
}

impl RecordingAgent {
    pub fn new(name: impl Into<String>, log: &CallLog) -> Self {
        RecordingAgent {
            name: name.into(),
            bus: None,
            log: log.clone(),
            fail_at: None,
            seen: Vec::new(),
            seed: None,
            market_calls: 0,
            reward: 0.0,
            grid_actions: Vec::new(),
        }
    }
    pub fn failing_at(mut self, fail_at: FailAt) -> Self {
        self.fail_at = Some(fail_at);
        self
    }
    /// Also asks the grid to scale load `element` by `multiplier` each step.
    pub fn scaling(mut self, element: &str, multiplier: f64) -> Self {
        self.grid_actions = vec![GridAction::ScaleLoad { element: element.into(), multiplier }];
        self
    }

    fn call(&mut self, call: &'static str, view: &View) -> Result<()> {
        self.log.push(log_entry(&self.name, call, view));
        self.seen.push(SeenView::of(call, view));
        match self.fail_at {
            Some(f) if f.matches(call, view) => {
                Err(Error::module(&self.name, format!("scripted failure in {call}")))
            }
            _ => Ok(()),
        }
    }
}

impl Agent for RecordingAgent {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        self.bus.as_deref()
    }
    fn seed(&mut self, seed: u64) {
        self.log.push(format!("{}.seed", self.name));
        self.seed = Some(seed);
    }
    fn reset(&mut self, view: &View) -> Result<()> {
        self.market_calls = 0;
        self.call("reset", view)
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        self.market_calls += 1;
        self.reward = 10.0 * view.grid_step as f64 + view.market_round as f64;
        self.call("set_market_actions", view)
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        self.call("set_grid_actions", view)
    }
    fn market_actions(&self) -> &[MarketAction] {
        &[]
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.grid_actions
    }
    fn reward(&self) -> f64 {
        self.reward
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("market_calls".into(), self.market_calls as f64));
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

/// A market that logs `"market.reset(..)"`/`"market.step(..)"`, clears after
/// `clear_after` rounds (`None` = never), and dispatches to agent `i`
/// price `10 · grid_step + round` and quantity `i` once a round has run.
/// Extra columns: `market_index` per agent, `rounds_run` per grid step.
#[derive(Debug, Clone)]
pub struct RecordingMarket {
    pub log: CallLog,
    pub clear_after: Option<usize>,
    pub fail_at: Option<FailAt>,
    pub seen: Vec<SeenView>,
    pub seed: Option<u64>,
    grid_step: usize,
    rounds: usize,
}

impl RecordingMarket {
    pub fn new(log: &CallLog, clear_after: Option<usize>) -> Self {
        RecordingMarket {
            log: log.clone(),
            clear_after,
            fail_at: None,
            seen: Vec::new(),
            seed: None,
            grid_step: 0,
            rounds: 0,
        }
    }
    pub fn failing_at(mut self, fail_at: FailAt) -> Self {
        self.fail_at = Some(fail_at);
        self
    }
    fn call(&mut self, call: &'static str, view: &View) -> Result<()> {
        self.log.push(log_entry("market", call, view));
        self.seen.push(SeenView::of(call, view));
        match self.fail_at {
            Some(f) if f.matches(call, view) => {
                Err(Error::module("recording market", format!("scripted failure in {call}")))
            }
            _ => Ok(()),
        }
    }
}

impl Market for RecordingMarket {
    fn name(&self) -> &str {
        "recording market"
    }
    fn seed(&mut self, seed: u64) {
        self.log.push("market.seed");
        self.seed = Some(seed);
    }
    fn reset(&mut self, view: &View) -> Result<()> {
        self.grid_step = view.grid_step;
        self.rounds = 0;
        self.call("reset", view)
    }
    fn step(&mut self, view: &View) -> Result<()> {
        self.call("step", view)?;
        self.rounds += 1;
        Ok(())
    }
    fn cleared(&self) -> bool {
        self.clear_after.is_some_and(|k| self.rounds >= k)
    }
    fn dispatch(&self, index: usize) -> Option<Dispatch> {
        (self.rounds > 0).then(|| Dispatch {
            price: 10.0 * self.grid_step as f64 + (self.rounds - 1) as f64,
            quantity: index as f64,
        })
    }
    fn record_extra(&self, index: usize, out: &mut Vec<(String, f64)>) {
        out.push(("market_index".into(), index as f64));
    }
    fn record_step_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("rounds_run".into(), self.rounds as f64));
    }
    fn clone_box(&self) -> Box<dyn Market> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A grid that logs `"grid.reset(..)"`/`"grid.step(..)"`, advances time by
/// `step_s`, and reports as total power the sum of every `ScaleLoad`
/// multiplier the agents asked for (read through its view), with bus voltages
/// `[1.0, 1.0 - 0.01 · step]`. Extra column: `n_actions`.
#[derive(Debug, Clone)]
pub struct RecordingGrid {
    pub log: CallLog,
    pub step_s: f64,
    pub fail_at: Option<FailAt>,
    pub seen: Vec<SeenView>,
    pub seed: Option<u64>,
    state: GridState,
    n_actions: usize,
}

impl RecordingGrid {
    pub fn new(log: &CallLog, step_s: f64) -> Self {
        RecordingGrid {
            log: log.clone(),
            step_s,
            fail_at: None,
            seen: Vec::new(),
            seed: None,
            state: GridState { converged: true, ..Default::default() },
            n_actions: 0,
        }
    }
    pub fn failing_at(mut self, fail_at: FailAt) -> Self {
        self.fail_at = Some(fail_at);
        self
    }
    fn call(&mut self, call: &'static str, view: &View) -> Result<()> {
        self.log.push(log_entry("grid", call, view));
        self.seen.push(SeenView::of(call, view));
        match self.fail_at {
            Some(f) if f.matches(call, view) => {
                Err(Error::module("recording grid", format!("scripted failure in {call}")))
            }
            _ => Ok(()),
        }
    }
}

impl Grid for RecordingGrid {
    fn name(&self) -> &str {
        "recording grid"
    }
    fn seed(&mut self, seed: u64) {
        self.log.push("grid.seed");
        self.seed = Some(seed);
    }
    fn reset(&mut self, view: &View) -> Result<()> {
        self.call("reset", view)?;
        self.state = GridState { converged: true, ..Default::default() };
        Ok(())
    }
    fn step(&mut self, view: &View) -> Result<()> {
        self.call("step", view)?;
        let mut total = 0.0;
        self.n_actions = 0;
        for (_, agent) in view.agents() {
            for action in agent.grid_actions() {
                self.n_actions += 1;
                if let GridAction::ScaleLoad { multiplier, .. } = action {
                    total += multiplier;
                }
            }
        }
        self.state.total_power_kw = total;
        self.state.bus_voltage_pu = vec![1.0, 1.0 - 0.01 * self.state.step as f64];
        self.state.time_s += self.step_s;
        self.state.step += 1;
        Ok(())
    }
    fn state(&self) -> &GridState {
        &self.state
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        out.push(("n_actions".into(), self.n_actions as f64));
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

/// A do-nothing market that clears after exactly `rounds` rounds (for
/// measuring the loop's overhead with several rounds per grid step).
#[derive(Debug, Clone)]
pub struct RoundsMarket {
    pub rounds: usize,
    done: usize,
}

impl RoundsMarket {
    pub fn new(rounds: usize) -> Self {
        RoundsMarket { rounds, done: 0 }
    }
}

impl Market for RoundsMarket {
    fn name(&self) -> &str {
        "rounds market"
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        self.done = 0;
        Ok(())
    }
    fn step(&mut self, _view: &View) -> Result<()> {
        self.done += 1;
        Ok(())
    }
    fn cleared(&self) -> bool {
        self.done >= self.rounds
    }
    fn dispatch(&self, _index: usize) -> Option<Dispatch> {
        None
    }
    fn clone_box(&self) -> Box<dyn Market> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
