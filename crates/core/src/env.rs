//! The Environment: the paper's two-timescale loop (Algorithm 1).
//!
//! ```text
//! reset(seed):  [seed every module]  grid.reset   agent[0..n].reset
//! step():       market.reset
//!               repeat                                   (market rounds)
//!                   agent[0..n].set_market_actions
//!                   market.step
//!                   agent[0..n].observe_market      (settle: dispatch -> reward)
//!                   record round;  callbacks(Event::MarketRound)
//!               until market.cleared() or max_market_rounds rounds ran
//!               agent[0..n].set_grid_actions
//!               grid.step
//!               record grid step;  callbacks(Event::GridStep)
//! ```
//!
//! The market runs at least one round per grid step (`cleared()` is asked
//! after each round: a market that is cleared before any bid has nothing to
//! clear), unless `max_market_rounds` is 0, which runs no rounds at all
//! (`market.reset` is still called).
//!
//! # Views
//! Every module is called with a [`View`] of all the others: the grid and the
//! market see every agent; agent *i* sees the grid, the market and the agents
//! before and after it (never itself). The agent list is split around the
//! caller with `split_at_mut`, so there is no aliasing and no interior
//! mutability.
//!
//! # Errors and the state after a failure
//! Any module error stops the step at once and is returned as
//! [`Error::Step`], naming the module (grid, market, agent index and name, or
//! callback index), the trait method, the grid step and the market round. Then:
//! * the grid step counter ([`Environment::grid_step`]) is not advanced and the
//!   rows recorded during the failed step are removed, so the recorder holds
//!   exactly the completed steps;
//! * the modules keep whatever state they reached (a market may be half-way
//!   through its rounds); calling [`Environment::step`] again re-runs the same
//!   grid step from `market.reset`, and [`Environment::reset`] always starts a
//!   fresh episode.
//! * The step is *committed* once `grid.step` has succeeded: an error from a
//!   `GridStep` callback is returned, but the step stays counted and recorded.
//!
//! Nothing in the loop panics.

use crate::error::Module;
use crate::rng::{agent_seed_index, derive_seed, GRID_SEED_INDEX, MARKET_SEED_INDEX};
use crate::{Agent, Error, Grid, Market, Recorder, Result, View};

/// Default for [`Environment::max_market_rounds`].
pub const DEFAULT_MAX_MARKET_ROUNDS: usize = 100;

/// What one completed grid step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Index (0-based) of the grid step that just completed.
    pub grid_step: usize,
    /// Grid time when the step started (markets and agents acted at this time).
    pub start_time_s: f64,
    /// Grid time after `grid.step`.
    pub time_s: f64,
    /// Market rounds that ran in this step.
    pub market_rounds: usize,
    /// Whether the market reported `cleared()` (false: the round limit was hit,
    /// or `max_market_rounds` is 0).
    pub market_cleared: bool,
    /// Whether the grid's last solve converged (`GridState::converged`).
    pub converged: bool,
}

/// What a callback is told about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// After `market.step` of round `market_round` (0-based) and its recording.
    MarketRound { grid_step: usize, market_round: usize, time_s: f64, cleared: bool },
    /// After `grid.step` and its recording; the step is complete.
    GridStep(StepInfo),
}

/// Mutable access to every part of the environment, handed to callbacks.
/// A callback may read or change any module (e.g. edit an agent's parameters,
/// replace an agent with `agents[i] = Box::new(...)`), write into the
/// recorder, or ask [`Environment::iterate`] to stop after this grid step.
/// The number of agents cannot change (the slice has a fixed length).
pub struct EnvParts<'a> {
    pub grid: &'a mut dyn Grid,
    pub market: &'a mut dyn Market,
    pub agents: &'a mut [Box<dyn Agent>],
    pub recorder: &'a mut Recorder,
    stop: &'a mut bool,
}

impl EnvParts<'_> {
    /// Makes `iterate`/`run` stop after the current grid step (it still completes).
    pub fn request_stop(&mut self) {
        *self.stop = true;
    }
    pub fn stop_requested(&self) -> bool {
        *self.stop
    }
}

/// A callback: called after each market round and each grid step, in the
/// order the callbacks were added. An error stops the step like a module error.
pub type Callback = Box<dyn FnMut(&Event, &mut EnvParts<'_>) -> Result<()> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Never reset: the first `step` resets with no seed.
    Fresh,
    /// The last `reset` failed: `step` refuses until a `reset` succeeds.
    ResetFailed,
    Ready,
}

/// The grid, the market and the agents, run by Algorithm 1 (see the module docs).
///
/// ```
/// use ogg_core::{DoNothingAgent, DoNothingGrid, DoNothingMarket, Environment, Agent};
/// let agents: Vec<Box<dyn Agent>> = vec![Box::new(DoNothingAgent::new("a0"))];
/// let mut env = Environment::new(Box::new(DoNothingGrid::new(900.0)), Box::new(DoNothingMarket), agents);
/// env.reset(Some(7)).unwrap();
/// for step in env.iterate(4) {
///     let step = step.unwrap();
///     println!("step {} ended at t = {} s after {} market rounds", step.grid_step, step.time_s, step.market_rounds);
/// }
/// assert_eq!(env.grid_step(), 4);
/// assert_eq!(env.recorder().grid().time_s, vec![0.0, 900.0, 1800.0, 2700.0]);
/// ```
pub struct Environment {
    grid: Box<dyn Grid>,
    market: Box<dyn Market>,
    agents: Vec<Box<dyn Agent>>,
    max_market_rounds: usize,
    recorder: Recorder,
    callbacks: Vec<Callback>,
    grid_step: usize,
    status: Status,
    seed: Option<u64>,
    stop_requested: bool,
}

impl Environment {
    /// An environment that records, with `max_market_rounds` =
    /// [`DEFAULT_MAX_MARKET_ROUNDS`]. Nothing is called until `reset`/`step`.
    pub fn new(grid: Box<dyn Grid>, market: Box<dyn Market>, agents: Vec<Box<dyn Agent>>) -> Self {
        Environment {
            grid,
            market,
            agents,
            max_market_rounds: DEFAULT_MAX_MARKET_ROUNDS,
            recorder: Recorder::new(),
            callbacks: Vec::new(),
            grid_step: 0,
            status: Status::Fresh,
            seed: None,
            stop_requested: false,
        }
    }

    /// Sets the round limit of each grid step's market negotiation (0 runs no rounds).
    pub fn with_max_market_rounds(mut self, rounds: usize) -> Self {
        self.max_market_rounds = rounds;
        self
    }
    pub fn set_max_market_rounds(&mut self, rounds: usize) {
        self.max_market_rounds = rounds;
    }
    pub fn max_market_rounds(&self) -> usize {
        self.max_market_rounds
    }

    /// Switches recording on or off (see [`Recorder::set_enabled`]).
    pub fn with_recording(mut self, on: bool) -> Self {
        self.recorder.set_enabled(on);
        self
    }
    pub fn set_recording(&mut self, on: bool) {
        self.recorder.set_enabled(on);
    }

    /// Adds a callback, called after every market round and grid step (see [`Callback`]).
    /// Callbacks are called in the order they were added.
    pub fn add_callback<F>(&mut self, callback: F)
    where
        F: FnMut(&Event, &mut EnvParts<'_>) -> Result<()> + Send + 'static,
    {
        self.callbacks.push(Box::new(callback));
    }
    /// Removes every callback.
    pub fn clear_callbacks(&mut self) {
        self.callbacks.clear();
    }

    pub fn grid(&self) -> &dyn Grid {
        self.grid.as_ref()
    }
    pub fn grid_mut(&mut self) -> &mut dyn Grid {
        self.grid.as_mut()
    }
    pub fn market(&self) -> &dyn Market {
        self.market.as_ref()
    }
    pub fn market_mut(&mut self) -> &mut dyn Market {
        self.market.as_mut()
    }
    pub fn agents(&self) -> &[Box<dyn Agent>] {
        &self.agents
    }
    /// The agents, to change or replace in place (the count is fixed).
    pub fn agents_mut(&mut self) -> &mut [Box<dyn Agent>] {
        &mut self.agents
    }
    /// The agent named `name`, if any.
    pub fn agent(&self, name: &str) -> Option<&dyn Agent> {
        self.agents.iter().find(|a| a.name() == name).map(|a| a.as_ref())
    }
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
    pub fn recorder_mut(&mut self) -> &mut Recorder {
        &mut self.recorder
    }
    /// Completed grid steps since the last `reset` (= index of the next step).
    pub fn grid_step(&self) -> usize {
        self.grid_step
    }
    /// The seed of the last `reset`, if it had one.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }
    /// Whether a callback asked to stop during the last step.
    pub fn stop_requested(&self) -> bool {
        self.stop_requested
    }
    /// Every part at once, mutably (what callbacks get).
    pub fn parts(&mut self) -> EnvParts<'_> {
        EnvParts {
            grid: self.grid.as_mut(),
            market: self.market.as_mut(),
            agents: &mut self.agents,
            recorder: &mut self.recorder,
            stop: &mut self.stop_requested,
        }
    }

    /// Starts a new episode: clears the recorder and the step counter; with
    /// `Some(seed)` first gives every module its seed (`Grid::seed`,
    /// `Market::seed`, `Agent::seed` with [`derive_seed`]`(seed, k)`, k = 0 for
    /// the grid, 1 for the market, 2 + i for agent i); then `grid.reset` and
    /// every agent's `reset`, in order. With `None` the modules keep their
    /// random state, so episodes differ. The same seed gives bit-identical
    /// records when every module is deterministic given its seed.
    ///
    /// On error the environment must be reset again before it can step.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<()> {
        self.recorder.clear();
        self.grid_step = 0;
        self.stop_requested = false;
        self.status = Status::ResetFailed;
        self.seed = seed;
        if let Some(seed) = seed {
            self.grid.seed(derive_seed(seed, GRID_SEED_INDEX));
            self.market.seed(derive_seed(seed, MARKET_SEED_INDEX));
            for (i, agent) in self.agents.iter_mut().enumerate() {
                agent.seed(derive_seed(seed, agent_seed_index(i)));
            }
        }
        let view = View {
            grid: None,
            market: Some(self.market.as_ref()),
            agents_before: &self.agents,
            agents_after: &[],
            caller: None,
            grid_step: 0,
            market_round: 0,
        };
        self.grid.reset(&view).map_err(|e| step_error(self.grid_module(), "reset", 0, None, e))?;
        self.for_each_agent("reset", None, 0, |agent, view| agent.reset(view))?;
        self.status = Status::Ready;
        Ok(())
    }

    /// Runs one grid step (see the module docs for the exact sequence and
    /// for the state after an error). Before the first `reset` it resets
    /// with no seed; after a failed `reset` it returns [`Error::NotReady`].
    pub fn step(&mut self) -> Result<StepInfo> {
        match self.status {
            Status::Ready => {}
            Status::Fresh => self.reset(None)?,
            Status::ResetFailed => {
                return Err(Error::NotReady(
                    "the last reset failed; call reset again before stepping".into(),
                ))
            }
        }
        self.stop_requested = false;
        let mark = self.recorder.mark();
        let committed_before = self.grid_step;
        let result = self.run_step();
        if result.is_err() && self.grid_step == committed_before {
            self.recorder.rollback(mark);
        }
        result
    }

    /// An iterator running up to `n` grid steps, yielding each step's
    /// [`StepInfo`]. It ends early after an error (yielded as `Err`) or when a
    /// callback requested a stop.
    pub fn iterate(&mut self, n: usize) -> Iterate<'_> {
        Iterate { env: self, remaining: n, done: false }
    }

    /// Runs up to `n` grid steps (fewer if a callback requests a stop) and
    /// returns how many completed.
    pub fn run(&mut self, n: usize) -> Result<usize> {
        let mut done = 0;
        for step in self.iterate(n) {
            step?;
            done += 1;
        }
        Ok(done)
    }

    /// A deep copy of the environment (every module via `clone_box`, the
    /// recorder, the counters and the settings) that continues exactly as this
    /// one would. Callbacks are *not* copied (closures cannot be cloned): add
    /// them again to the copy if it needs them.
    pub fn snapshot(&self) -> Environment {
        Environment {
            grid: self.grid.clone_box(),
            market: self.market.clone_box(),
            agents: self.agents.iter().map(|a| a.clone_box()).collect(),
            max_market_rounds: self.max_market_rounds,
            recorder: self.recorder.clone(),
            callbacks: Vec::new(),
            grid_step: self.grid_step,
            status: self.status,
            seed: self.seed,
            stop_requested: self.stop_requested,
        }
    }

    /// Algorithm 1, one grid step. Increments `grid_step` once `grid.step`
    /// succeeded (the commit point).
    fn run_step(&mut self) -> Result<StepInfo> {
        let t = self.grid_step;
        let start_time_s = self.grid.state().time_s;

        // Market negotiation episode.
        {
            let view = View {
                grid: Some(self.grid.as_ref()),
                market: None,
                agents_before: &self.agents,
                agents_after: &[],
                caller: None,
                grid_step: t,
                market_round: 0,
            };
            self.market
                .reset(&view)
                .map_err(|e| step_error(self.market_module(), "reset", t, None, e))?;
        }
        let mut rounds = 0;
        let mut cleared = false;
        while rounds < self.max_market_rounds {
            let round = rounds;
            self.for_each_agent("set_market_actions", Some(round), round, |agent, view| {
                agent.set_market_actions(view)
            })?;
            let view = View {
                grid: Some(self.grid.as_ref()),
                market: None,
                agents_before: &self.agents,
                agents_after: &[],
                caller: None,
                grid_step: t,
                market_round: round,
            };
            self.market
                .step(&view)
                .map_err(|e| step_error(self.market_module(), "step", t, Some(round), e))?;
            // Agents settle against this round's dispatch before it is recorded,
            // so the recorded reward belongs to the round it is recorded with.
            self.for_each_agent("observe_market", Some(round), round, |agent, view| {
                agent.observe_market(view)
            })?;
            rounds += 1;
            self.recorder.record_market_round(start_time_s, t, round, self.market.as_ref(), &self.agents);
            cleared = self.market.cleared();
            let event = Event::MarketRound { grid_step: t, market_round: round, time_s: start_time_s, cleared };
            self.call_back(&event, Some(round))?;
            if cleared {
                break;
            }
        }

        // Grid step.
        self.for_each_agent("set_grid_actions", None, rounds, |agent, view| {
            agent.set_grid_actions(view)
        })?;
        {
            let view = View {
                grid: None,
                market: Some(self.market.as_ref()),
                agents_before: &self.agents,
                agents_after: &[],
                caller: None,
                grid_step: t,
                market_round: rounds,
            };
            self.grid.step(&view).map_err(|e| step_error(self.grid_module(), "step", t, None, e))?;
        }
        let info = StepInfo {
            grid_step: t,
            start_time_s,
            time_s: self.grid.state().time_s,
            market_rounds: rounds,
            market_cleared: cleared,
            converged: self.grid.state().converged,
        };
        self.recorder.record_grid_step(
            start_time_s,
            t,
            rounds,
            cleared,
            self.grid.as_ref(),
            self.market.as_ref(),
        );
        self.grid_step += 1;
        self.call_back(&Event::GridStep(info), None)?;
        Ok(info)
    }

    fn grid_module(&self) -> Module {
        Module::Grid { name: self.grid.name().to_string() }
    }
    fn market_module(&self) -> Module {
        Module::Market { name: self.market.name().to_string() }
    }

    /// Calls `call` on every agent in order, each with a view that excludes it.
    /// `market_round` names the round in errors (`None` outside the rounds);
    /// `view_round` is the view's `market_round`: the round during the rounds,
    /// the number of rounds that ran during `set_grid_actions`, 0 on reset.
    fn for_each_agent(
        &mut self,
        name: &'static str,
        market_round: Option<usize>,
        view_round: usize,
        mut call: impl FnMut(&mut dyn Agent, &View) -> Result<()>,
    ) -> Result<()> {
        let t = self.grid_step;
        for i in 0..self.agents.len() {
            let (before, rest) = self.agents.split_at_mut(i);
            let Some((agent, after)) = rest.split_first_mut() else { break };
            let view = View {
                grid: Some(self.grid.as_ref()),
                market: Some(self.market.as_ref()),
                agents_before: before,
                agents_after: after,
                caller: Some(i),
                grid_step: t,
                market_round: view_round,
            };
            call(agent.as_mut(), &view).map_err(|e| {
                let module = Module::Agent { index: i, name: agent.name().to_string() };
                step_error(module, name, t, market_round, e)
            })?;
        }
        Ok(())
    }

    fn call_back(&mut self, event: &Event, market_round: Option<usize>) -> Result<()> {
        let grid_step = match event {
            Event::MarketRound { grid_step, .. } => *grid_step,
            Event::GridStep(info) => info.grid_step,
        };
        for (index, callback) in self.callbacks.iter_mut().enumerate() {
            let mut parts = EnvParts {
                grid: self.grid.as_mut(),
                market: self.market.as_mut(),
                agents: &mut self.agents,
                recorder: &mut self.recorder,
                stop: &mut self.stop_requested,
            };
            callback(event, &mut parts).map_err(|e| {
                step_error(Module::Callback { index }, "callback", grid_step, market_round, e)
            })?;
        }
        Ok(())
    }
}

fn step_error(
    module: Module,
    call: &'static str,
    grid_step: usize,
    market_round: Option<usize>,
    source: Error,
) -> Error {
    Error::Step { module, call, grid_step, market_round, source: Box::new(source) }
}

/// Iterator returned by [`Environment::iterate`].
pub struct Iterate<'e> {
    env: &'e mut Environment,
    remaining: usize,
    done: bool,
}

impl Iterate<'_> {
    /// The environment being iterated (e.g. to read the recorder between steps).
    pub fn env(&mut self) -> &mut Environment {
        self.env
    }
}

impl Iterator for Iterate<'_> {
    type Item = Result<StepInfo>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let result = self.env.step();
        if result.is_err() || self.env.stop_requested {
            self.done = true;
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(if self.done { 0 } else { self.remaining }))
    }
}
