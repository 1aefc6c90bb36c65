use std::any::Any;

use crate::{GridAction, MarketAction, Result, View};

/// A decision-maker (paper §3.3). The environment calls `set_market_actions`
/// once per market round and `set_grid_actions` once per grid step; the agent
/// reads the market's dispatch and the grid's state through the view and keeps
/// its own reward.
pub trait Agent: Send {
    fn name(&self) -> &str;
    /// The bus the agent sits at, if any.
    fn bus(&self) -> Option<&str> {
        None
    }
    /// Called by `Environment::reset(Some(seed))` before `reset`, with a seed
    /// derived for this agent alone (see [`crate::rng::derive_seed`]). An agent
    /// with randomness re-seeds its generator here; the default ignores it.
    fn seed(&mut self, _seed: u64) {}
    fn reset(&mut self, _view: &View) -> Result<()> {
        Ok(())
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()>;
    /// Called after every `market.step`, before the round is recorded: read the
    /// market's dispatch through the view and settle (update the reward). An
    /// extension of the paper's Algorithm 1 so that recorded rewards belong to
    /// the round they are recorded with; the default does nothing.
    fn observe_market(&mut self, _view: &View) -> Result<()> {
        Ok(())
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()>;
    /// The actions set by the last `set_market_actions`.
    fn market_actions(&self) -> &[MarketAction];
    /// The actions set by the last `set_grid_actions`.
    fn grid_actions(&self) -> &[GridAction];
    /// Reward of the last market round or grid step, as the agent computes it.
    fn reward(&self) -> f64 {
        0.0
    }
    /// Extra columns for this agent's rows in the recorder (name, value),
    /// e.g. a battery's state of charge. Called after every market round.
    fn record_extra(&self, _out: &mut Vec<(String, f64)>) {}
    /// A deep copy, for snapshots: the copy continues exactly as the original would.
    fn clone_box(&self) -> Box<dyn Agent>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The paper's do-nothing agent.
#[derive(Debug, Clone)]
pub struct DoNothingAgent {
    pub name: String,
    pub bus: Option<String>,
}

impl DoNothingAgent {
    pub fn new(name: impl Into<String>) -> Self {
        DoNothingAgent { name: name.into(), bus: None }
    }
    pub fn at_bus(mut self, bus: impl Into<String>) -> Self {
        self.bus = Some(bus.into());
        self
    }
}

impl Agent for DoNothingAgent {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        self.bus.as_deref()
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
        &[]
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
