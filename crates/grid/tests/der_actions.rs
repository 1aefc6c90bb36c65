//! Agents driving generators, PV systems and storage through the
//! Environment: what each asked for, what the grid applied after clipping
//! to the element's limits, and the storage energy over a day.

#![allow(clippy::needless_range_loop)] // one step index reads several columns

use std::any::Any;

use ogg_core::{Agent, DoNothingMarket, Environment, GridAction, MarketAction, Result, View};
use ogg_dss::model::SolutionMode;
use ogg_grid::{DistributionGrid, PowerFlow};

const EXTRA: &str = "
New Loadshape.solar npts=24 interval=1 mult=[0 0 0 0 0 0.05 0.15 0.3 0.5 0.7 0.85 0.95 1 0.95 0.85 0.7 0.5 0.3 0.15 0.05 0 0 0 0]
New PVSystem.pv bus1=675 phases=3 kv=4.16 pmpp=500 kva=500 irradiance=1 daily=solar
New Storage.bat bus1=680 phases=3 kv=4.16 kwrated=200 kva=220 kwhrated=400 %stored=50 %reserve=20 dispmode=external
New Generator.gen bus1=634 phases=3 kv=0.48 kw=100 pf=0.9
";

/// Asks for the same things every hour: PV capped at 300 kW, the storage
/// charging hard in the morning and discharging in the evening, the
/// generator at 200 kvar (beyond its kVA).
#[derive(Clone)]
struct Operator {
    actions: Vec<GridAction>,
}

fn storage_request(step: usize) -> f64 {
    match step {
        0..=5 => 120.0,
        6..=13 => -260.0, // beyond kWrated: clipped to −200
        _ => 180.0,       // until the reserve stops it
    }
}

impl Agent for Operator {
    fn name(&self) -> &str {
        "operator"
    }
    fn set_market_actions(&mut self, _view: &View) -> Result<()> {
        Ok(())
    }
    fn set_grid_actions(&mut self, view: &View) -> Result<()> {
        self.actions = vec![
            GridAction::SetGeneration { element: "PVSystem.pv".into(), kw: Some(300.0), kvar: None, pf: None },
            GridAction::SetStorage { element: "bat".into(), kw: storage_request(view.grid_step), kvar: None },
            GridAction::SetGeneration { element: "Generator.gen".into(), kw: None, kvar: Some(200.0), pf: None },
        ];
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

fn circuit() -> ogg_dss::Circuit {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let master = dir.join("feeders/ieee13/master.dss");
    let script = format!("Redirect \"{}\"\n{EXTRA}\n", master.display());
    ogg_dss::read_str(&script, &dir.join("tests/data/agent_case.dss").to_string_lossy(), &ogg_dss::DiskFiles).unwrap()
}

#[test]
fn agent_driven_day_applies_clipped_set_points_and_tracks_storage_energy() {
    let mut c = circuit();
    // Tight, so the solved terminal powers equal the set points to ~1e-9.
    c.options.tolerance = 1e-10;
    c.options.max_iterations = 100;
    let mut grid = DistributionGrid::new(&c, 3600.0).unwrap();
    grid.use_load_shapes(&c, SolutionMode::Daily).unwrap();
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(Operator { actions: Vec::new() })];
    let mut env = Environment::new(Box::new(grid), Box::new(DoNothingMarket), agents).with_max_market_rounds(0);
    env.reset(Some(1)).unwrap();
    assert_eq!(env.run(24).unwrap(), 24);
    let g = env.recorder().grid();
    let col = |name: &str| g.extra(name).unwrap_or_else(|| panic!("no column {name}: {:?}", g.extra_names())).to_vec();
    let solar: [f64; 24] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0, 0.95, 0.85, 0.7, 0.5, 0.3, 0.15, 0.05, 0.0, 0.0, 0.0, 0.0];
    let (pv_kw, pv_clipped) = (col("PVSystem.pv.kw"), col("PVSystem.pv.clipped"));
    let (bat_kw, bat_req, bat_clipped, kwh) = (col("Storage.bat.kw"), col("Storage.bat.kw_requested"), col("Storage.bat.clipped"), col("Storage.bat.kwh"));
    let (gen_kw, gen_kvar, gen_clipped) = (col("Generator.gen.kw"), col("Generator.gen.kvar"), col("Generator.gen.clipped"));
    // Row k is grid step k, solved at hour k + 1.
    assert_eq!(pv_kw.len(), 24);
    let mut previous_kwh: f64 = 200.0;
    let (p_idling, eff): (f64, f64) = (2.0, 0.9); // %IdlingkW 1 of 200 kW; 90 % each way
    let mut hit_reserve = false;
    for k in 0..24 {
        let row = k;
        // PV: what the panels give (irradiance · shape · Pmpp; the hourly
        // shape's point k at hour k + 1), nothing below the 20 % cut-in of
        // kVA, capped at 300 kW; clipped when that is less than asked.
        let panel = 500.0 * solar[k];
        let available = if panel >= 100.0 { panel } else { 0.0 };
        let expected = available.min(300.0);
        assert!((pv_kw[row] - expected).abs() < 1e-6 * expected.max(1.0), "step {k}: PV {} vs {expected}", pv_kw[row]);
        assert_eq!(pv_clipped[row] == 1.0, available < 300.0, "step {k}: PV clipped flag");
        // Generator: 200 kvar asked, the kVA circle (1.2 · 100 kW) leaves √(120² − 100²).
        assert!((gen_kw[row] - 100.0).abs() < 1e-6 && (gen_kvar[row] - (120f64 * 120.0 - 100.0 * 100.0).sqrt()).abs() < 1e-6, "step {k}: gen {} {}", gen_kw[row], gen_kvar[row]);
        assert_eq!(gen_clipped[row], 1.0);
        // Storage: kWrated, then the energy between the reserve (80 kWh) and full (400 kWh).
        let requested = storage_request(k);
        assert_eq!(bat_req[row], requested);
        let max_discharge = ((previous_kwh - 80.0) * eff - p_idling).max(0.0);
        let max_charge = (400.0 - previous_kwh) / eff + p_idling;
        let expected = requested.clamp(-200.0, 200.0).clamp(-max_charge, max_discharge);
        let delivered = bat_kw[row];
        if expected == 0.0 {
            // Idle: the element draws its idling losses.
            assert!((delivered + p_idling).abs() < 1e-6, "step {k}: idle storage {delivered}");
        } else {
            assert!((delivered - expected).abs() < 1e-6 * expected.abs().max(1.0), "step {k}: storage {delivered} vs {expected}");
        }
        assert_eq!(bat_clipped[row] == 1.0, (expected - requested).abs() > 1e-9, "step {k}: storage clipped flag");
        // OpenDSS's UpdateStorage on the delivered power.
        let next = if expected > 0.0 {
            previous_kwh - (delivered + p_idling) / eff
        } else if expected < 0.0 {
            previous_kwh + (-delivered - p_idling) * eff
        } else {
            previous_kwh
        };
        assert!((kwh[row] - next).abs() < 1e-6 * next, "step {k}: {} kWh vs {next}", kwh[row]);
        assert!((80.0 - 1e-9..=400.0 + 1e-9).contains(&kwh[row]), "step {k}: {} kWh outside reserve..full", kwh[row]);
        hit_reserve |= (kwh[row] - 80.0).abs() < 1e-6;
        previous_kwh = kwh[row];
    }
    assert!(hit_reserve, "the evening discharge reaches the reserve: {kwh:?}");
    assert!(kwh.iter().any(|&e| (e - 400.0).abs() < 1e-6), "the morning charge fills it: {kwh:?}");
}

#[test]
fn bad_der_actions_are_errors_naming_the_agent() {
    let c = circuit();
    let mut pf = PowerFlow::new(&c).unwrap();
    for (action, expected) in [
        (GridAction::SetStorage { element: "nosuch".into(), kw: 1.0, kvar: None }, "unknown generator, PV system or storage element 'nosuch'"),
        (GridAction::SetStorage { element: "PVSystem.pv".into(), kw: 1.0, kvar: None }, "use SetGeneration"),
        (GridAction::SetGeneration { element: "bat".into(), kw: Some(1.0), kvar: None, pf: None }, "use SetStorage"),
        (GridAction::SetGeneration { element: "gen".into(), kw: Some(f64::NAN), kvar: None, pf: None }, "finite"),
        (GridAction::SetGeneration { element: "gen".into(), kw: None, kvar: Some(1.0), pf: Some(0.9) }, "not both"),
    ] {
        let e = ogg_grid::grid::apply_der_action(&mut pf, 1.0, "agent7", &action).unwrap_err().to_string();
        assert!(e.contains("agent7") && e.contains(expected), "{e}");
    }
}

#[test]
fn snapshot_mid_day_continues_exactly_and_reset_restores_the_energy() {
    let mut c = circuit();
    c.options.tolerance = 1e-10;
    c.options.max_iterations = 100;
    let mut grid = DistributionGrid::new(&c, 3600.0).unwrap();
    grid.use_load_shapes(&c, SolutionMode::Daily).unwrap();
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(Operator { actions: Vec::new() })];
    let mut env = Environment::new(Box::new(grid), Box::new(DoNothingMarket), agents).with_max_market_rounds(0);
    env.reset(Some(3)).unwrap();
    env.run(12).unwrap();
    let mut copy = env.snapshot();
    env.run(12).unwrap();
    copy.run(12).unwrap();
    let kwh = |e: &Environment| e.recorder().grid().extra("Storage.bat.kwh").unwrap().to_vec();
    assert_eq!(kwh(&env), kwh(&copy));
    assert_eq!(env.recorder().grid().total_power_kw, copy.recorder().grid().total_power_kw);
    // A new episode starts from the scripted 50 %.
    env.reset(Some(3)).unwrap();
    env.run(1).unwrap();
    let first = kwh(&env)[0];
    let g = env.grid().as_any().downcast_ref::<DistributionGrid>().unwrap();
    let i = g.power_flow().find_der("bat").unwrap();
    assert_eq!(g.power_flow().storage_kwh(i), Some(first));
    // From 200 kWh, 120 kW for an hour would go below the 80 kWh reserve:
    // clipped to (200 − 80)·0.9 − 2 = 106 kW, which ends exactly at the reserve.
    assert!((first - 80.0).abs() < 1e-6, "{first}");
    let bat_kw = env.recorder().grid().extra("Storage.bat.kw").unwrap()[0];
    assert!((bat_kw - 106.0).abs() < 1e-6, "{bat_kw}");
}
