//! [`RlFeederGrid`]: the feeder grid for learning loops — the same AC power
//! flow as `ogg_grid::DistributionGrid` (same engine, same per-step actions,
//! same warm start and controls, hence the same voltages), reporting only what
//! learners observe: bus voltages and convergence.
//!
//! `DistributionGrid::step` also computes every branch's loading, the losses
//! and the source power after each solve and keeps a copy of the state to
//! restore after a failed solve; on IEEE 34 that is about as much work as the
//! power flow itself. Here a failed solve ends the episode (the learning
//! environment truncates it) and `reset` restores the compiled state, so none
//! of that is needed. `branch_loading`, `losses_kw` and `total_power_*` stay
//! empty/0: use `grid = "ac-full"` (the `DistributionGrid`) to record them.
//! Load names are looked up once, not every step.

use std::any::Any;

use ogg_core::{Error, Grid, GridAction, GridState, Topology, View};
use ogg_grid::network::FastMap;
use ogg_grid::{DistributionGrid, PowerFlow};

#[derive(Debug, Clone)]
pub struct RlFeederGrid {
    name: String,
    step_s: f64,
    initial: PowerFlow,
    pf: PowerFlow,
    state: GridState,
    topology: Topology,
    /// Lower-case load name (with and without "load.") → load index.
    loads: FastMap<String, usize>,
}

impl RlFeederGrid {
    /// From a compiled and solved feeder grid (its initial state).
    pub fn from_distribution_grid(grid: &DistributionGrid) -> Self {
        let pf = grid.power_flow().clone();
        let mut loads = FastMap::default();
        for i in 0..pf.n_loads() {
            let name = pf.load_name(i).to_ascii_lowercase();
            loads.insert(format!("load.{name}"), i);
            loads.insert(name, i);
        }
        let state = GridState {
            buses: grid.state().buses.clone(),
            bus_voltage_pu: grid.state().bus_voltage_pu.clone(),
            converged: true,
            ..Default::default()
        };
        RlFeederGrid {
            name: grid.name().to_string(),
            step_s: grid.step_s(),
            initial: pf.clone(),
            pf,
            state,
            topology: grid.topology().cloned().unwrap_or_else(|| Topology { buses: vec![], root: 0, branches: vec![], bus_kv: vec![] }),
            loads,
        }
    }

    pub fn power_flow(&self) -> &PowerFlow {
        &self.pf
    }

    /// Same meaning of every action as `DistributionGrid` (one shared function);
    /// loads resolve through the precomputed name map.
    fn apply(&mut self, who: &str, action: &GridAction) -> Result<(), Error> {
        let loads = &self.loads;
        ogg_grid::grid::apply_action(
            &mut self.pf,
            |_, element| loads.get(element).or_else(|| loads.get(&element.to_ascii_lowercase())).copied(),
            &self.name,
            who,
            action,
        )
    }

    fn refresh_voltages(&mut self) {
        for (b, v) in self.state.bus_voltage_pu.iter_mut().enumerate() {
            *v = self.pf.bus_voltage_pu(b);
        }
    }
}

impl Grid for RlFeederGrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self, _view: &View) -> Result<(), Error> {
        self.pf.clone_from(&self.initial);
        self.state.time_s = 0.0;
        self.state.step = 0;
        self.state.converged = true;
        // OpenDSS's end-of-step storage update, as DistributionGrid does.
        self.pf.update_storage_energy(self.step_s / 3600.0);
        self.refresh_voltages();
        Ok(())
    }

    fn step(&mut self, view: &View) -> Result<(), Error> {
        self.pf.reset_loads();
        self.pf.clear_bus_injections();
        for (_, agent) in view.agents() {
            for action in agent.grid_actions() {
                self.apply(agent.name(), action)?;
            }
        }
        let failure = match self.pf.solve() {
            Ok(report) => report.non_convergence.map(|nc| nc.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = failure {
            self.state.converged = false;
            return Err(Error::module(
                self.name.clone(),
                format!("power flow at step {} (t = {} s): {message}", self.state.step, self.state.time_s),
            ));
        }
        self.state.converged = true;
        self.refresh_voltages();
        self.state.time_s += self.step_s;
        self.state.step += 1;
        Ok(())
    }

    fn state(&self) -> &GridState {
        &self.state
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
