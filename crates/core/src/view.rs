use crate::{Agent, Grid, Market};

/// A read-only view of the environment handed to the module being called.
///
/// It holds every module except the caller: when the grid steps, `grid` is
/// `None`; when the market steps, `market` is `None`; when agent *i* acts,
/// `agents()` yields every agent but *i* (and `caller` is `Some(i)`).
pub struct View<'a> {
    pub grid: Option<&'a dyn Grid>,
    pub market: Option<&'a dyn Market>,
    /// Agents before the caller, and after it.
    pub agents_before: &'a [Box<dyn Agent>],
    pub agents_after: &'a [Box<dyn Agent>],
    /// Index of the calling agent, if an agent is calling.
    pub caller: Option<usize>,
    /// Grid time step (0-based) at the call.
    pub grid_step: usize,
    /// During the market rounds (`Market::step`, `Agent::set_market_actions`):
    /// the round (0-based). During `Agent::set_grid_actions` and `Grid::step`:
    /// the number of rounds that ran. In resets: 0.
    pub market_round: usize,
}

impl<'a> View<'a> {
    /// Every agent visible to the caller, with its index in the environment.
    pub fn agents(&self) -> impl Iterator<Item = (usize, &'a dyn Agent)> + 'a {
        let offset = self.agents_before.len() + usize::from(self.caller.is_some());
        let before = self.agents_before.iter().enumerate().map(|(i, a)| (i, a.as_ref()));
        let after = self
            .agents_after
            .iter()
            .enumerate()
            .map(move |(i, a)| (i + offset, a.as_ref()));
        before.chain(after)
    }

    /// The agent with environment index `index`, unless it is the caller.
    pub fn agent(&self, index: usize) -> Option<&'a dyn Agent> {
        let nb = self.agents_before.len();
        if index < nb {
            return Some(self.agents_before[index].as_ref());
        }
        let offset = nb + usize::from(self.caller.is_some());
        index.checked_sub(offset).and_then(|i| self.agents_after.get(i)).map(|a| a.as_ref())
    }

    /// Number of agents in the environment (including the caller).
    pub fn n_agents(&self) -> usize {
        self.agents_before.len() + self.agents_after.len() + usize::from(self.caller.is_some())
    }
}
