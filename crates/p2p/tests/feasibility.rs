//! The grid-feasibility report on a constructed case where a trade must
//! overload a line: a 12.47 kV feeder whose 10 km branch a–b is rated 20 A
//! (≈ 430 kVA); a producer at b sells 1 MW to a consumer at c.

use std::any::Any;

use ogg_core::{Agent, Grid, GridAction, MarketAction, Result, View};
use ogg_dss::MemoryFiles;
use ogg_grid::DistributionGrid;
use ogg_p2p::feasibility::{check_step, Limits, TradeFootprint, ViolationKind};

const FEEDER: &str = "
Clear
New Circuit.weak basekv=12.47 pu=1.0 phases=3 bus1=src mvasc3=200000
New Line.trunk bus1=src bus2=a phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 c1=0 c0=0 length=1 units=km normamps=400
New Line.weak  bus1=a bus2=b phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 c1=0 c0=0 length=10 units=km normamps=20
New Line.side  bus1=a bus2=c phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 c1=0 c0=0 length=1 units=km normamps=400
New Load.lb bus1=b phases=3 kv=12.47 kw=100 pf=0.95
New Load.lc bus1=c phases=3 kv=12.47 kw=1500 pf=0.95
Set voltagebases=[12.47]
Calcvoltagebases
";

/// An agent that only applies fixed grid actions.
#[derive(Clone)]
struct Fixed(String, Vec<GridAction>);

impl Agent for Fixed {
    fn name(&self) -> &str {
        &self.0
    }
    fn set_market_actions(&mut self, _: &View) -> Result<()> {
        Ok(())
    }
    fn set_grid_actions(&mut self, _: &View) -> Result<()> {
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &[]
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.1
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

fn stepped(actions: &[(String, Vec<GridAction>)]) -> DistributionGrid {
    let circuit = ogg_dss::read_str(FEEDER, "weak.dss", &MemoryFiles::new()).unwrap();
    let mut grid = DistributionGrid::new(&circuit, 900.0).unwrap();
    let agents: Vec<Box<dyn Agent>> = actions.iter().map(|(n, a)| Box::new(Fixed(n.clone(), a.clone())) as Box<dyn Agent>).collect();
    let view = View { grid: None, market: None, agents_before: &agents, agents_after: &[], caller: None, grid_step: 0, market_round: 0 };
    grid.step(&view).unwrap();
    grid
}

fn loading(grid: &DistributionGrid, branch: &str) -> f64 {
    let st = grid.state();
    let i = st.branches.iter().position(|b| b == branch).unwrap_or_else(|| panic!("no branch {branch} in {:?}", st.branches));
    st.branch_loading[i]
}

#[test]
fn a_trade_that_overloads_a_line_is_reported() {
    // Without trades: 100 kW at b is ≈ 5 A, well within 20 A.
    let quiet = stepped(&[]);
    assert!(loading(&quiet, "line.weak") < 0.5, "{}", loading(&quiet, "line.weak"));

    // Trade 0: the producer at b exports 1 MW (its load of 100 kW stays) to the
    // consumer at c. Trade 1: a small producer at c sells 50 kW to a neighbour at c.
    let actions = vec![
        ("producer-b".to_string(), vec![GridAction::InjectAtBus { bus: "b".into(), kw: 1100.0, kvar: 0.0 }]),
        ("producer-c".to_string(), vec![GridAction::InjectAtBus { bus: "c".into(), kw: 50.0, kvar: 0.0 }]),
    ];
    let grid = stepped(&actions);
    let l = loading(&grid, "line.weak");
    // 1000 kW net at 12.47 kV: ≈ 46 A on a 20 A line.
    assert!(l > 2.0 && l < 2.6, "loading of line.weak with the trade: {l}");
    let trades = [
        TradeFootprint { id: 0, producer_bus: "b".into(), producer_kw: 1000.0, consumer_bus: "c".into(), consumer_kw: 0.0 },
        TradeFootprint { id: 1, producer_bus: "c".into(), producer_kw: 50.0, consumer_bus: "c".into(), consumer_kw: 0.0 },
    ];
    let check = check_step(&grid, &actions, &trades, &Limits::default()).unwrap();
    assert_eq!(check.violations.len(), 1, "{:?}", check.violations);
    assert_eq!(check.violations[0].element, "line.weak");
    assert_eq!(check.violations[0].kind, ViolationKind::Overload);
    let big = &check.verdicts[0];
    assert!(!big.feasible && big.decisive, "{big:?}");
    assert_eq!(big.element.as_deref(), Some("line.weak"));
    assert!((big.value - l).abs() < 1e-12);
    // Removing the trade brings the line back to its 100 kW load: the relief is the whole excess.
    assert!((big.relief - (l - 1.0)).abs() < 1e-9, "relief {} vs excess {}", big.relief, l - 1.0);
    let small = &check.verdicts[1];
    assert!(small.feasible, "a trade away from the weak line is feasible: {small:?}");
    assert_eq!(check.infeasible().count(), 1);
    assert_eq!(check.solves, 2);
}

#[test]
fn a_consumer_storing_energy_can_push_a_voltage_out_of_limits() {
    // A consumer at b stores 6 MW worth of heat (its draw rises): undervoltage
    // below 0.95 pu at b is blamed on the trade; the line overload too.
    let actions = vec![("consumer-b".to_string(), vec![GridAction::SetLoad { element: "lb".into(), kw: 6100.0, kvar: Some(0.0) }])];
    let grid = stepped(&actions);
    let trades = [TradeFootprint { id: 7, producer_bus: "c".into(), producer_kw: 0.0, consumer_bus: "b".into(), consumer_kw: 6000.0 }];
    let check = check_step(&grid, &actions, &trades, &Limits { v_min_pu: 0.99, ..Default::default() }).unwrap();
    assert!(check.violations.iter().any(|v| v.kind == ViolationKind::Undervoltage && v.element == "b"), "{:?}", check.violations);
    let v = &check.verdicts[0];
    assert!(!v.feasible && v.decisive, "{v:?}");
}

#[test]
fn no_violation_no_counterfactual() {
    let actions = vec![("producer-c".to_string(), vec![GridAction::InjectAtBus { bus: "c".into(), kw: 50.0, kvar: 0.0 }])];
    let grid = stepped(&actions);
    let trades = [TradeFootprint { id: 0, producer_bus: "c".into(), producer_kw: 50.0, consumer_bus: "a".into(), consumer_kw: 0.0 }];
    let check = check_step(&grid, &actions, &trades, &Limits::default()).unwrap();
    assert!(check.violations.is_empty() && check.verdicts[0].feasible && check.solves == 0);
}
