//! Scripted agents for scenarios: they follow a given schedule, no learning.

use std::any::Any;

use crate::rng::SplitMix64;
use crate::{Agent, Error, GridAction, MarketAction, Result, View};

/// Scales one load each grid step by `profile[k] × (1 + noise · u)`, with `u`
/// uniform in [-1, 1) drawn from the agent's own seeded stream, via
/// [`GridAction::ScaleLoad`]. It takes no part in the market.
///
/// `k` is the grid step modulo the profile length, or, when
/// `profile_interval_s` is set, `floor(time_s / profile_interval_s)` modulo the
/// length (so an hourly 24-value daily profile works with 15-minute steps).
/// One noise value is drawn per grid step, the first time the step asks for
/// it, so a retried step (after an error) reuses it.
///
/// Without `Environment::reset(Some(seed))` the stream starts from a seed
/// derived from the agent's name; `reset(None)` continues the stream.
#[derive(Debug, Clone)]
pub struct ScriptedLoadAgent {
    name: String,
    element: String,
    bus: Option<String>,
    profile: Vec<f64>,
    profile_interval_s: Option<f64>,
    noise: f64,
    rng: SplitMix64,
    /// (grid step, multiplier) of the current step, once drawn.
    current: Option<(usize, f64)>,
    actions: Vec<GridAction>,
}

impl ScriptedLoadAgent {
    /// `element` names the load as the grid knows it (e.g. `"s860"` or
    /// `"Load.s860"`); `profile` holds load multipliers (1.0 = nominal).
    pub fn new(name: impl Into<String>, element: impl Into<String>, profile: Vec<f64>) -> Result<Self> {
        let name = name.into();
        if profile.is_empty() {
            return Err(Error::invalid(&name, "the load profile is empty"));
        }
        if let Some((i, x)) = profile.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(Error::invalid(&name, format!("profile[{i}] = {x} is not a finite number")));
        }
        let rng = SplitMix64::new(name_seed(&name));
        Ok(ScriptedLoadAgent {
            name,
            element: element.into(),
            bus: None,
            profile,
            profile_interval_s: None,
            noise: 0.0,
            rng,
            current: None,
            actions: Vec::new(),
        })
    }

    /// Relative noise amplitude: the multiplier is scaled by `1 + noise · u`, `u` in [-1, 1).
    pub fn with_noise(mut self, noise: f64) -> Result<Self> {
        if !(noise.is_finite() && noise >= 0.0) {
            return Err(Error::invalid(&self.name, format!("noise = {noise} must be a finite number >= 0")));
        }
        self.noise = noise;
        Ok(self)
    }

    /// Seconds covered by each profile entry (default: one entry per grid step).
    pub fn with_profile_interval(mut self, seconds: f64) -> Result<Self> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(Error::invalid(
                &self.name,
                format!("profile interval = {seconds} s must be a finite number > 0"),
            ));
        }
        self.profile_interval_s = Some(seconds);
        Ok(self)
    }

    pub fn at_bus(mut self, bus: impl Into<String>) -> Self {
        self.bus = Some(bus.into());
        self
    }

    pub fn element(&self) -> &str {
        &self.element
    }
    pub fn profile(&self) -> &[f64] {
        &self.profile
    }
    pub fn noise(&self) -> f64 {
        self.noise
    }
    /// The multiplier of the current grid step, once drawn.
    pub fn current_multiplier(&self) -> Option<f64> {
        self.current.map(|(_, m)| m)
    }

    fn multiplier(&mut self, view: &View) -> f64 {
        if let Some((step, m)) = self.current {
            if step == view.grid_step {
                return m;
            }
        }
        let k = match (self.profile_interval_s, view.grid) {
            (Some(dt), Some(grid)) => (grid.state().time_s / dt).floor().max(0.0) as usize,
            _ => view.grid_step,
        };
        let base = self.profile[k % self.profile.len()];
        let m = if self.noise > 0.0 { base * (1.0 + self.noise * self.rng.next_symmetric()) } else { base };
        self.current = Some((view.grid_step, m));
        m
    }
}

/// FNV-1a of the name: a stable default seed that differs between agents.
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Agent for ScriptedLoadAgent {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        self.bus.as_deref()
    }
    fn seed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        self.current = None;
        self.actions.clear();
        Ok(())
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        // Draw this step's multiplier now so the market rounds' records show it.
        self.multiplier(view);
        Ok(())
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        let multiplier = self.multiplier(view);
        self.actions.clear();
        self.actions.push(GridAction::ScaleLoad { element: self.element.clone(), multiplier });
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &[]
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.actions
    }
    fn record_extra(&self, out: &mut Vec<(String, f64)>) {
        if let Some(m) = self.current_multiplier() {
            out.push(("load_multiplier".to_string(), m));
        }
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
