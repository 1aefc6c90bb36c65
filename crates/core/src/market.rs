use std::any::Any;

use crate::{Result, View};

/// What an agent submits to the market in one round.
#[derive(Debug, Clone, PartialEq)]
pub enum MarketAction {
    /// A bid (demand) or offer (supply) as the paper's quadruple.
    Bid { p_max: f64, p_min: f64, q_max: f64, q_min: f64 },
    Offer { p_max: f64, p_min: f64, q_max: f64, q_min: f64 },
    /// A single price (e.g. a P2P bargaining bid).
    Price(f64),
    /// Anything a user-written market understands.
    Custom { name: String, values: Vec<f64> },
}

/// What the market dispatched to one agent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dispatch {
    /// Price the agent pays or receives (per unit of quantity).
    pub price: f64,
    /// Quantity: positive = bought (consumed), negative = sold (produced).
    pub quantity: f64,
}

/// The market mechanism (paper §3.2). `reset` derives what it needs from the
/// grid at the start of each grid step; `step` runs one negotiation round from
/// the agents' market actions; `cleared` ends the negotiation episode.
pub trait Market: Send {
    fn name(&self) -> &str {
        "market"
    }
    /// Called by `Environment::reset(Some(seed))` before the first grid step,
    /// with a seed derived for the market alone. The default ignores it.
    fn seed(&mut self, _seed: u64) {}
    fn reset(&mut self, view: &View) -> Result<()>;
    fn step(&mut self, view: &View) -> Result<()>;
    /// True once the negotiation episode of this grid step is over.
    fn cleared(&self) -> bool;
    /// The dispatch of agent `index` after the last round, if any.
    fn dispatch(&self, index: usize) -> Option<Dispatch>;
    /// Extra per-agent columns for the recorder (name, value), e.g. congestion rent.
    fn record_extra(&self, _index: usize, _out: &mut Vec<(String, f64)>) {}
    /// Extra market-level columns for the recorder's grid table (name, value),
    /// e.g. the clearing price. Called once per grid step, after `grid.step`.
    fn record_step_extra(&self, _out: &mut Vec<(String, f64)>) {}
    fn clone_box(&self) -> Box<dyn Market>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The paper's do-nothing market: clears at once and dispatches nothing.
#[derive(Debug, Clone, Default)]
pub struct DoNothingMarket;

impl Market for DoNothingMarket {
    fn name(&self) -> &str {
        "do-nothing market"
    }
    fn reset(&mut self, _view: &View) -> Result<()> {
        Ok(())
    }
    fn step(&mut self, _view: &View) -> Result<()> {
        Ok(())
    }
    fn cleared(&self) -> bool {
        true
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
