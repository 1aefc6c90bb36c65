//! `DistributionGrid` as an `ogg_core::Grid`: actions, warm-started steps,
//! failures that leave a defined state, reset, snapshots, topology.

use std::any::Any;

use ogg_core::{Agent, Grid, GridAction, MarketAction, Result, View};
use ogg_grid::{feeders, DistributionGrid, PowerFlow};

#[derive(Clone)]
struct Fixed {
    name: String,
    actions: Vec<GridAction>,
}

impl Agent for Fixed {
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

fn agents(actions: Vec<(&str, Vec<GridAction>)>) -> Vec<Box<dyn Agent>> {
    actions.into_iter().map(|(n, a)| Box::new(Fixed { name: n.into(), actions: a }) as Box<dyn Agent>).collect()
}

fn view(agents: &[Box<dyn Agent>]) -> View<'_> {
    View { grid: None, market: None, agents_before: agents, agents_after: &[], caller: None, grid_step: 0, market_round: 0 }
}

fn scale(element: &str, multiplier: f64) -> GridAction {
    GridAction::ScaleLoad { element: element.into(), multiplier }
}

fn ieee13() -> DistributionGrid {
    DistributionGrid::from_feeder("ieee13", 900.0).unwrap()
}

#[test]
fn initial_state_is_the_solved_feeder() {
    let g = ieee13();
    let s = g.state();
    assert!(s.converged);
    assert_eq!(s.buses.len(), 16);
    assert_eq!(s.buses[0], "sourcebus");
    assert!((s.total_power_kw - 3567.2118).abs() < 1e-3, "{}", s.total_power_kw);
    assert!(s.bus_voltage_pu.iter().all(|v| (0.9..1.1).contains(v)), "{:?}", s.bus_voltage_pu);
    let i = s.branches.iter().position(|b| b == "line.650632").unwrap();
    // 650632 carries the whole feeder (~590 A on its heaviest phase) against normamps 400 (default).
    assert!(s.branch_loading[i] > 1.0 && s.branch_loading[i] < 2.0, "{}", s.branch_loading[i]);
    assert_eq!(g.loads().len(), 15);
    assert!(g.loads().contains(&("671".to_string(), "671".to_string())));
}

#[test]
fn actions_apply_for_one_step_and_time_advances() {
    let mut g = ieee13();
    let base = g.state().total_power_kw;
    let a = agents(vec![("a", vec![scale("671", 1.1)])]);
    g.step(&view(&a)).unwrap();
    let s = g.state();
    assert_eq!(s.step, 1);
    assert_eq!(s.time_s, 900.0);
    let added = s.total_power_kw - base;
    assert!(added > 100.0 && added < 140.0, "671 +10% adds about 115 kW plus losses: {added}");
    // No action next step: back to the circuit's loads (671 is constant PQ).
    g.step(&view(&[])).unwrap();
    let i = g.power_flow().load_index("671").unwrap();
    assert!((g.power_flow().load_power_of(i).0 - 1155.0).abs() < 0.1);
    assert_eq!(g.state().time_s, 1800.0);
}

#[test]
fn set_load_keeps_power_factor_and_matches_a_fresh_compile() {
    let mut g = ieee13();
    g.power_flow_mut().settings_mut().tolerance = 1e-10;
    g.power_flow_mut().settings_mut().max_iterations = 100;
    let a = agents(vec![("a", vec![GridAction::SetLoad { element: "Load.675a".into(), kw: 600.0, kvar: None }])]);
    g.step(&view(&a)).unwrap();
    // The same demand compiled into the circuit (Y rebuilt with it) gives the same answer.
    let mut c = feeders::circuit("ieee13").unwrap();
    let l = c.loads.iter_mut().find(|l| l.name == "675a").unwrap();
    l.kvar = 600.0 * 190.0 / 485.0;
    l.kw = 600.0;
    c.options.tolerance = 1e-10;
    c.options.max_iterations = 100;
    let mut fresh = PowerFlow::new(&c).unwrap();
    fresh.solve().unwrap();
    assert_eq!(
        g.power_flow().regulator_taps().iter().map(|t| t.2).collect::<Vec<_>>(),
        fresh.regulator_taps().iter().map(|t| t.2).collect::<Vec<_>>()
    );
    let mut worst: f64 = 0.0;
    for (a, b) in g.power_flow().voltage_table().iter().zip(fresh.voltage_table()) {
        assert_eq!((&a.bus, a.node), (&b.bus, b.node));
        worst = worst.max((a.pu - b.pu).abs());
    }
    assert!(worst < 1e-7, "{worst}");
    let i = g.power_flow().load_index("675a").unwrap();
    let (p, q) = g.power_flow().load_power_of(i);
    assert!((p - 600.0).abs() < 1.0 && (q / p - 190.0 / 485.0).abs() < 1e-3, "{p} {q}");
}

#[test]
fn injection_at_a_bus_offsets_source_power() {
    let mut g = ieee13();
    let base = g.state().total_power_kw;
    let v675 = g.state().bus_voltage_pu[g.state().buses.iter().position(|b| b == "675").unwrap()];
    let a = agents(vec![("pv", vec![GridAction::InjectAtBus { bus: "675".into(), kw: 1000.0, kvar: 0.0 }])]);
    g.step(&view(&a)).unwrap();
    let s = g.state();
    let drop = base - s.total_power_kw;
    assert!(drop > 950.0 && drop < 1100.0, "{drop}");
    let after = s.bus_voltage_pu[s.buses.iter().position(|b| b == "675").unwrap()];
    assert!(after > v675, "{after} vs {v675}");
}

#[test]
fn injection_on_chosen_nodes() {
    let mut g = ieee13();
    let base = g.state().total_power_kw;
    let a = agents(vec![("pv", vec![GridAction::InjectAtBus { bus: "675.2".into(), kw: 100.0, kvar: 0.0 }])]);
    g.step(&view(&a)).unwrap();
    let drop = base - g.state().total_power_kw;
    assert!(drop > 90.0 && drop < 110.0, "{drop}");
    let bad = agents(vec![("pv", vec![GridAction::InjectAtBus { bus: "611.1".into(), kw: 1.0, kvar: 0.0 }])]);
    let err = g.step(&view(&bad)).unwrap_err().to_string();
    assert!(err.contains("pv") && err.contains("no node 1"), "{err}");
}

#[test]
fn unknown_elements_are_errors_naming_the_agent() {
    let mut g = ieee13();
    let before = g.state().clone();
    for (action, what) in [
        (scale("nosuchload", 1.0), "nosuchload"),
        (GridAction::SetLoad { element: "x".into(), kw: 1.0, kvar: None }, "'x'"),
        (GridAction::InjectAtBus { bus: "nowhere".into(), kw: 1.0, kvar: 0.0 }, "nowhere"),
        (GridAction::Custom { name: "warp".into(), values: vec![] }, "warp"),
        (scale("671", f64::NAN), "671"),
    ] {
        let a = agents(vec![("bob", vec![action])]);
        let err = g.step(&view(&a)).unwrap_err().to_string();
        assert!(err.contains("bob") && err.contains(what), "{err}");
        assert_eq!(g.state(), &before, "state untouched");
    }
}

#[test]
fn failed_solve_keeps_previous_voltages() {
    let mut g = ieee13();
    let before = g.state().clone();
    let taps: Vec<f64> = g.power_flow().regulator_taps().iter().map(|t| t.1).collect();
    // 200 MW on a 5 MVA feeder: the fixed-point iteration cannot converge.
    let a = agents(vec![("huge", vec![GridAction::SetLoad { element: "671".into(), kw: 200_000.0, kvar: Some(0.0) }])]);
    let err = g.step(&view(&a)).unwrap_err().to_string();
    assert!(err.contains("power flow"), "{err}");
    let s = g.state();
    assert!(!s.converged);
    assert_eq!(s.bus_voltage_pu, before.bus_voltage_pu);
    assert_eq!(s.step, before.step);
    assert_eq!(g.power_flow().regulator_taps().iter().map(|t| t.1).collect::<Vec<_>>(), taps);
    // And the grid carries on.
    g.step(&view(&[])).unwrap();
    assert!(g.state().converged);
    // Same loads and taps; at OpenDSS's default tolerance (1e-4) a warm
    // re-solve lands within ~0.2 kW of the cold-start answer.
    let d = (g.state().total_power_kw - before.total_power_kw).abs();
    assert!(d < 0.3, "{d}");
}

#[test]
fn reset_restores_loads_taps_and_time() {
    let mut g = ieee13();
    let initial = g.state().clone();
    let taps0: Vec<i64> = g.power_flow().regulator_taps().iter().map(|t| t.2).collect();
    let heavy: Vec<GridAction> = g.loads().iter().map(|(n, _)| scale(n, 1.3)).collect();
    let a = agents(vec![("heavy", heavy)]);
    g.step(&view(&a)).unwrap();
    let taps1: Vec<i64> = g.power_flow().regulator_taps().iter().map(|t| t.2).collect();
    assert_ne!(taps0, taps1, "30% more load moves the regulators");
    g.reset(&view(&[])).unwrap();
    assert_eq!(g.state(), &initial);
    assert_eq!(g.power_flow().regulator_taps().iter().map(|t| t.2).collect::<Vec<_>>(), taps0);
}

#[test]
fn clones_continue_identically() {
    let mut g = ieee13();
    let a = agents(vec![("a", vec![scale("692", 0.5)])]);
    g.step(&view(&a)).unwrap();
    let mut copy = g.clone_box();
    g.step(&view(&a)).unwrap();
    copy.step(&view(&a)).unwrap();
    assert_eq!(g.state(), copy.state());
}

#[test]
fn topology_collapses_regulator_banks() {
    let g = ieee13();
    let t = g.topology().unwrap();
    assert_eq!(t.buses[t.root], "sourcebus");
    let reg = t.branches.iter().find(|b| b.name.contains("transformer.reg1")).unwrap();
    assert_eq!(reg.name, "transformer.reg1+transformer.reg2+transformer.reg3");
    assert_eq!(reg.phases, 3);
    assert!((reg.rating_kva - 3.0 * 1666.0).abs() < 1e-9);
    assert!((t.bus_kv[t.bus_index("650").unwrap()] - 4.16).abs() < 1e-9);
    // Every bus but the source is reached by some branch.
    for (i, _) in t.buses.iter().enumerate().filter(|(i, _)| *i != t.root) {
        assert!(t.branches.iter().any(|b| b.to == i || b.from == i), "bus {} isolated", t.buses[i]);
    }
}

#[test]
fn engines_solve_in_parallel_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PowerFlow>();
    send_sync::<DistributionGrid>();
    let base = {
        let mut pf = PowerFlow::new(&feeders::circuit("ieee34").unwrap()).unwrap();
        pf.solve().unwrap();
        pf
    };
    let results: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let mut pf = base.clone();
                s.spawn(move || {
                    pf.scale_loads(1.0 + 0.05 * k as f64);
                    pf.solve().unwrap();
                    pf.total_power().0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.windows(2).all(|w| w[1] > w[0]), "{results:?}");
}

#[test]
fn controls_still_acting_at_max_control_iterations_is_not_a_failure() {
    // ieee13 needs 3 control iterations; allow 2.
    let mut c = feeders::circuit("ieee13").unwrap();
    c.options.max_control_iterations = 2;
    let mut g = DistributionGrid::new(&c, 60.0).unwrap();
    assert!(g.state().converged);
    let mut extra = Vec::new();
    g.record_extra(&mut extra);
    assert!(extra.contains(&("controls_settled".to_string(), 0.0)), "{extra:?}");
    g.step(&view(&[])).unwrap();
    let mut extra = Vec::new();
    g.record_extra(&mut extra);
    // The regulators finish their moves over the following steps.
    assert!(extra.iter().any(|(n, _)| n == "tap.reg1"));
}

/// With `use_load_shapes`, grid step k solves at hour k + 1 of the loads'
/// daily shapes: the same source power as the engine's time series run from
/// the same solved start, step by step.
#[test]
fn daily_shapes_drive_the_loads_per_grid_step() {
    let circuit = feeders::circuit("ieee34mod2").unwrap();
    let mut grid = DistributionGrid::new(&circuit, 3600.0).unwrap();
    grid.use_load_shapes(&circuit, ogg_dss::model::SolutionMode::Daily).unwrap();
    let mut engine = grid.power_flow().clone();
    let expected = engine.solve_time_series(&circuit, 24, 3600.0, ogg_dss::model::SolutionMode::Daily).unwrap();
    let no_agents = agents(vec![]);
    for want in &expected {
        grid.step(&view(&no_agents)).unwrap();
        let (p, q) = grid.power_flow().total_power();
        assert!((p - want.total_power_kw).abs() < 1e-9 && (q - want.total_power_kvar).abs() < 1e-9, "step {}", want.step);
        let taps: Vec<i64> = grid.power_flow().regulator_taps().iter().map(|t| t.2).collect();
        assert_eq!(taps, want.taps.iter().map(|t| t.1).collect::<Vec<_>>(), "step {}", want.step);
    }
    // The default shape peaks at hour 17 and bottoms out at hour 5.
    assert!(expected[16].total_power_kw > 1.5 * expected[4].total_power_kw);
}

/// In time control mode the grid's steps give the controls the simulation
/// clock (step k at (k + 1)·step_s), as the engine's time series does: the
/// same taps and source power step by step from the same solved start
/// (OpenDSS's own time-mode taps are checked in tests/timemode.rs).
#[test]
fn time_control_mode_grid_steps_follow_the_time_series_clock() {
    let mut circuit = feeders::circuit("ieee34mod2").unwrap();
    circuit.options.control_mode = ogg_dss::ControlMode::Time;
    let mut grid = DistributionGrid::new(&circuit, 3600.0).unwrap();
    grid.use_load_shapes(&circuit, ogg_dss::model::SolutionMode::Daily).unwrap();
    let mut engine = grid.power_flow().clone();
    let expected = engine.solve_time_series(&circuit, 24, 3600.0, ogg_dss::model::SolutionMode::Daily).unwrap();
    let no_agents = agents(vec![]);
    for want in &expected {
        grid.step(&view(&no_agents)).unwrap();
        let (p, q) = grid.power_flow().total_power();
        assert!((p - want.total_power_kw).abs() < 1e-9 && (q - want.total_power_kvar).abs() < 1e-9, "step {}", want.step);
        let taps: Vec<i64> = grid.power_flow().regulator_taps().iter().map(|t| t.2).collect();
        assert_eq!(taps, want.taps.iter().map(|t| t.1).collect::<Vec<_>>(), "step {}", want.step);
    }
    // The grid's initial solve (t = 0) queued the regulators' first moves;
    // they are due at step 1, so step 1 moves one tap, not the static run's several.
    assert!(expected[0].taps.iter().all(|t| t.1 <= 1), "{:?}", expected[0].taps);
}
