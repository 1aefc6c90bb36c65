//! `[[timeseries]]` (exogenous agents replaying CSV data) and `[monitors]`:
//! a CSV holding a load shape's multipliers reproduces OpenDSS's daily mode
//! (`TimeSeries`, what `ogg powerflow --mode daily` runs) on the same feeder;
//! bad files are located errors; monitor columns equal the grid's state.

use std::path::{Path, PathBuf};

use ogg_dss::model::{LoadShape, SolutionMode};
use ogg_grid::{DistributionGrid, Monitors, PowerFlow};
use opengridgym::scenario::FeederSource;
use opengridgym::{Builders, BuiltGrid, DoNothingMarket, Environment, LoadInfo, Scenario, ScenarioError, Table};

/// A residential day, hourly (the multipliers of the CSV and of the shape).
const DAY: [f64; 24] = [
    0.55, 0.50, 0.47, 0.45, 0.46, 0.52, 0.63, 0.74, 0.78, 0.77, 0.76, 0.75, 0.74, 0.73, 0.74, 0.78, 0.86, 0.95, 1.00,
    0.98, 0.92, 0.82, 0.70, 0.60,
];

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("opengridgym-timeseries-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `day.csv` (hour, mult) and `s.toml` into `dir`; returns the scenario path.
fn write_scenario(dir: &Path, csv: &str, toml: &str) -> PathBuf {
    std::fs::write(dir.join("day.csv"), csv).unwrap();
    let path = dir.join("s.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn day_csv() -> String {
    let mut text = String::from("hour,mult\n");
    for (h, m) in DAY.iter().enumerate() {
        text.push_str(&format!("{h},{m}\n"));
    }
    text
}

const ALL_LOADS: &str = r#"
steps = 24
step_s = 3600
[grid]
type = "feeder"
feeder = "ieee13"
[[timeseries]]
file = "day.csv"
column = "mult"
all_loads = true
quantity = "multiplier"
interval = "1h"
[monitors]
voltages = true
"#;

/// The built-in IEEE 13 circuit solved to `tolerance`, with `DAY` as every
/// load's daily shape when `shaped`.
fn ieee13(tolerance: f64, shaped: bool) -> ogg_dss::Circuit {
    let mut circuit = ogg_grid::feeders::circuit("ieee13").unwrap();
    circuit.options.tolerance = tolerance;
    circuit.options.max_iterations = 200;
    if shaped {
        circuit.loadshapes.push(LoadShape {
            name: "day".into(),
            npts: DAY.len(),
            interval_h: 1.0,
            mult: DAY.to_vec(),
            qmult: Vec::new(),
            hour: Vec::new(),
            useactual: false,
            pmax: 1.0,
            qmax: 1.0,
            pbase: 0.0,
            qbase: 0.0,
            location: Default::default(),
        });
        for load in &mut circuit.loads {
            load.daily = Some("day".into());
        }
    }
    circuit
}

fn float_column(table: &dyn Table, name: &str) -> Vec<f64> {
    table.column(name).unwrap_or_else(|| panic!("no column {name}")).as_float().unwrap().to_vec()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn tight_feeder(_source: &FeederSource, step_s: f64) -> Result<BuiltGrid, String> {
    build_ieee13(1e-10, step_s)
}

fn default_feeder(_source: &FeederSource, step_s: f64) -> Result<BuiltGrid, String> {
    build_ieee13(1e-4, step_s)
}

fn build_ieee13(tolerance: f64, step_s: f64) -> Result<BuiltGrid, String> {
    let grid = DistributionGrid::new(&ieee13(tolerance, false), step_s).map_err(|e| e.to_string())?;
    let loads = grid.loads().into_iter().map(|(name, bus)| LoadInfo { name, bus: Some(bus) }).collect();
    Ok(BuiltGrid { grid: Box::new(grid), loads })
}

/// Largest differences of the CSV-driven scenario from (1) `TimeSeries` in
/// daily mode and (2) the grid module on the shaped circuit, at `tolerance`.
struct Differences {
    source_kw: f64,
    source_kvar: f64,
    losses_kw: f64,
    /// Against (2): any bus's per-unit voltage.
    bus_v_pu: f64,
    peak_kw: f64,
}

fn compare_with_daily_mode(tolerance: f64, builders: &Builders) -> Differences {
    let dir = tmp(&format!("daily-{tolerance}"));
    let scenario = Scenario::from_file(&write_scenario(&dir, &day_csv(), ALL_LOADS)).unwrap();
    let mut env = scenario.build_with(builders).unwrap();
    env.reset(None).unwrap();
    env.run(24).unwrap();
    let table = env.recorder().grid();
    let kw = float_column(table, "total_power_kw");
    let kvar = float_column(table, "total_power_kvar");
    let losses = float_column(table, "losses_kw");

    // (1) OpenDSS daily mode as the engine runs it (`ogg powerflow --mode
    // daily`), after the snapshot `Solve` the grid module starts from.
    let circuit = ieee13(tolerance, true);
    let mut pf = PowerFlow::new(&circuit).unwrap();
    pf.solve().unwrap();
    let steps = pf.solve_time_series(&circuit, 24, 3600.0, SolutionMode::Daily).unwrap();
    for (k, step) in steps.iter().enumerate() {
        for (name, tap) in &step.taps {
            let recorded = float_column(table, &format!("tap.{name}"))[k];
            assert!(((recorded - 1.0) / 0.00625 - *tap as f64).abs() < 1e-9, "hour {k}: {name} {recorded} vs step {tap}");
        }
    }
    let ref_kw: Vec<f64> = steps.iter().map(|s| s.total_power_kw).collect();
    let ref_kvar: Vec<f64> = steps.iter().map(|s| s.total_power_kvar).collect();
    let ref_losses: Vec<f64> = steps.iter().map(|s| s.losses_kw).collect();

    // (2) The same grid module on the shaped circuit (`use_load_shapes`), no agents.
    let mut grid = DistributionGrid::new(&circuit, 3600.0).unwrap();
    grid.use_load_shapes(&circuit, SolutionMode::Daily).unwrap();
    grid.set_monitors(Monitors { voltages: true, ..Monitors::default() }).unwrap();
    let mut shaped = Environment::new(Box::new(grid), Box::new(DoNothingMarket), Vec::new());
    shaped.reset(None).unwrap();
    shaped.run(24).unwrap();
    let shaped_table = shaped.recorder().grid();
    let mut bus_v_pu: f64 = 0.0;
    let voltage_columns: Vec<String> = table.column_names().into_iter().filter(|n| n.starts_with("v.")).collect();
    assert_eq!(voltage_columns.len(), env.grid().state().buses.len());
    for name in &voltage_columns {
        bus_v_pu = bus_v_pu.max(max_abs_diff(&float_column(table, name), &float_column(shaped_table, name)));
    }
    // The data moved the feeder: the peak hour (19) draws far more than hour 4.
    assert!(kw[18] > 1.8 * kw[3], "{} {}", kw[18], kw[3]);
    Differences {
        source_kw: max_abs_diff(&kw, &ref_kw),
        source_kvar: max_abs_diff(&kvar, &ref_kvar),
        losses_kw: max_abs_diff(&losses, &ref_losses),
        bus_v_pu,
        peak_kw: ref_kw.iter().cloned().fold(0.0, f64::max),
    }
}

#[test]
fn csv_multipliers_reproduce_the_daily_load_shape() {
    // Same loads every hour and the same taps; the solutions differ only by
    // the solver's iterates (the shaped runs rebuild the loads' Y at the
    // first step, as OpenDSS does after `Set mode=daily`).
    // Measured: at 1e-4, 8.7e-2 kW of 3567 kW and 7.1e-6 pu; at 1e-10,
    // 5.5e-5 kW and 1.5e-9 pu — the gap shrinks with the tolerance.
    for (tolerance, builders, kw_bound, v_bound) in [
        (1e-4, Builders { feeder: default_feeder }, 1e-4, 1e-4),
        (1e-10, Builders { feeder: tight_feeder }, 1e-7, 1e-8),
    ] {
        let d = compare_with_daily_mode(tolerance, &builders);
        eprintln!(
            "tolerance {tolerance:e}: CSV vs TimeSeries daily max |Δ| source kW {:.3e} (peak {:.1} kW), kvar {:.3e}, \
             losses kW {:.3e}; vs use_load_shapes max |Δ| bus voltage {:.3e} pu",
            d.source_kw, d.peak_kw, d.source_kvar, d.losses_kw, d.bus_v_pu
        );
        let relative = kw_bound * d.peak_kw;
        assert!(d.source_kw < relative && d.source_kvar < relative && d.losses_kw < relative, "tolerance {tolerance}");
        assert!(d.bus_v_pu < v_bound, "tolerance {tolerance}: {}", d.bus_v_pu);
    }
}

#[test]
fn monitor_columns_equal_the_grid_state() {
    let mut scenario = Scenario::built_in("ieee13-data").unwrap().unwrap();
    scenario.steps = 20;
    let mut env = scenario.build().unwrap();
    env.reset(None).unwrap();
    env.run(20).unwrap();
    let table = env.recorder().grid();
    assert_eq!(table.n_rows(), 20);
    let last = 19;
    let state = env.grid().state().clone();
    for (bus, v) in state.buses.iter().zip(&state.bus_voltage_pu) {
        assert_eq!(float_column(table, &format!("v.{bus}"))[last].to_bits(), v.to_bits(), "bus {bus}");
    }
    assert_eq!(float_column(table, "losses_kw")[last], state.losses_kw);
    assert_eq!(float_column(table, "total_power_kw")[last], state.total_power_kw);
    let grid = env.grid().as_any().downcast_ref::<DistributionGrid>().unwrap();
    let pf = grid.power_flow();
    for branch in ["Line.650632", "Transformer.xfm1"] {
        let k = state.branches.iter().position(|b| b.eq_ignore_ascii_case(branch)).unwrap();
        assert_eq!(float_column(table, &format!("{branch}.loading"))[last], state.branch_loading[k], "{branch}");
        let e = pf.element_position(branch).unwrap();
        let flows = pf.element_flows(e);
        assert_eq!(float_column(table, &format!("{branch}.kw"))[last], flows.p1_kw);
        assert_eq!(float_column(table, &format!("{branch}.kvar"))[last], flows.q1_kvar);
        assert_eq!(float_column(table, &format!("{branch}.amps"))[last], flows.imax_t1);
    }
    // The substation line carries the feeder's load plus the losses below it.
    let sub_kw = float_column(table, "Line.650632.kw")[last];
    assert!(sub_kw > 0.5 * state.total_power_kw && sub_kw < state.total_power_kw, "{sub_kw}");
    // The exogenous agents set the loads: 671 at the kW of row 19, 670a at row 19's multiplier × 17 kW.
    let l671 = pf.load_index("Load.671").unwrap();
    assert_eq!(pf.load_nominal(l671).0, 640.0);
    let l670a = pf.load_index("670a").unwrap();
    assert!((pf.load_nominal(l670a).0 - 0.98 * 17.0).abs() < 1e-12);
    // The agents' rows carry the value they replayed.
    let records = env.recorder().records();
    let agents = records.column("agent").unwrap().text_values().unwrap();
    let values = float_column(records, "series_value");
    let steps = records.column("grid_step").unwrap().as_uint().unwrap();
    for ((agent, value), step) in agents.iter().zip(&values).zip(steps) {
        let expected = match *agent {
            "residential-data" => [0.55, 0.50][..].get(*step as usize).copied(),
            "commercial-data" => [420.0, 400.0][..].get(*step as usize).copied(),
            other => panic!("agent {other}"),
        };
        if let Some(expected) = expected {
            assert_eq!(*value, expected, "{agent} step {step}");
        }
    }

    // Default monitors: no per-bus columns.
    let mut plain = Scenario::built_in("ieee34-day").unwrap().unwrap();
    plain.steps = 1;
    let mut env = plain.build().unwrap();
    env.reset(None).unwrap();
    env.run(1).unwrap();
    assert!(!env.recorder().grid().column_names().iter().any(|n| n.starts_with("v.")));
}

#[test]
fn past_end_is_checked_when_built_and_when_stepped() {
    let dir = tmp("past-end");
    let short = "hour,mult\n0,0.5\n1,0.6\n";
    let toml = |steps: usize, past_end: &str| {
        format!(
            "steps = {steps}\n[grid]\ntype = \"feeder\"\nfeeder = \"ieee13\"\n[[timeseries]]\nfile = \"day.csv\"\ncolumn = \"mult\"\n\
             elements = [\"Load.671\"]\nquantity = \"multiplier\"\n{past_end}\n"
        )
    };
    let e = Scenario::from_file(&write_scenario(&dir, short, &toml(3, ""))).unwrap().build().err().unwrap();
    assert!(e.to_string().contains("s.toml:5:1: ") && e.message.contains("day.csv (column `mult`): 2 data rows, but the scenario's 3 steps of 3600 s need 3"), "{e}");

    // Built for its 2 steps; a third step fails naming the agent and the file.
    let mut env = Scenario::from_file(&write_scenario(&dir, short, &toml(2, ""))).unwrap().build().unwrap();
    env.reset(None).unwrap();
    env.run(2).unwrap();
    let e = env.step().unwrap_err().to_string();
    assert!(e.contains("timeseries0") && e.contains("needs data row 3 but the file has 2 rows"), "{e}");

    // Wrap and hold go on.
    for (rule, expected) in [("wrap", 0.5), ("hold", 0.6)] {
        let mut env = Scenario::from_file(&write_scenario(&dir, short, &toml(3, &format!("past_end = \"{rule}\""))))
            .unwrap()
            .build()
            .unwrap();
        env.reset(None).unwrap();
        env.run(3).unwrap();
        let grid = env.grid().as_any().downcast_ref::<DistributionGrid>().unwrap();
        let pf = grid.power_flow();
        let kw = pf.load_nominal(pf.load_index("671").unwrap()).0;
        assert!((kw - expected * 1155.0).abs() < 1e-9, "{rule}: {kw}");
    }
}

fn scenario_error(dir: &Path, csv: &str, toml: &str) -> ScenarioError {
    let path = write_scenario(dir, csv, toml);
    match Scenario::from_file(&path).and_then(|s| s.build().map(|_| s)) {
        Ok(_) => panic!("expected an error for {toml}"),
        Err(e) => e,
    }
}

#[test]
fn bad_data_files_are_located_errors() {
    let dir = tmp("bad");
    let entry = |extra: &str| {
        format!(
            "steps = 2\n[grid]\ntype = \"feeder\"\nfeeder = \"ieee13\"\n[[timeseries]]\nfile = \"day.csv\"\n{extra}\n"
        )
    };
    let standard = "elements = [\"Load.671\"]\nquantity = \"multiplier\"\ncolumn = \"mult\"";
    let cases: Vec<(String, &str, &str)> = vec![
        (entry(standard), "hour,mult\n0,0.5\n1,abc\n", "day.csv:3: column `mult`: `abc` is not a finite number"),
        (entry(standard), "hour,mult\n0,0.5\n1\n", "day.csv:3: 1 fields where the header has 2"),
        (entry(standard), "hour,mult\n0,0.5\n1,\n", "day.csv:3: column `mult`: empty value"),
        (entry(standard), "hour,kw\n0,0.5\n", "day.csv: no column `mult` (columns: hour, kw)"),
        (entry(standard), "hour,mult\n", "day.csv: column `mult` has no data rows"),
        (
            entry("elements = [\"Load.671\"]\nquantity = \"multiplier\""),
            "hour,mult\n0,0.5\n",
            "2 columns (hour, mult); say which one with `column = \"NAME\"`",
        ),
        (entry("elements = [\"Load.nope\"]\nquantity = \"kw\"\ncolumn = \"mult\""), "hour,mult\n0,1\n1,1\n", "the grid has no load or DER `Load.nope`"),
        (entry("elements = [\"Load.671\"]\nquantity = \"volts\"\ncolumn = \"mult\""), "hour,mult\n0,1\n", "unknown `timeseries[0].quantity` `volts`"),
        (entry("elements = [\"Load.671\"]\nquantity = \"kw\"\ninterval = \"1 fortnight\""), "kw\n1\n", "`timeseries[0].interval` `1 fortnight` is not a duration"),
        (entry("elements = [\"Load.671\"]\nquantity = \"kw\"\ncolumn = \"mult\"\nsmoothing = 3"), "hour,mult\n0,1\n", "unknown key `timeseries[0].smoothing`"),
        (entry("all_loads = true\nelements = [\"671\"]\nquantity = \"kw\""), "kw\n1\n", "give either `elements` or `all_loads = true`"),
    ];
    for (toml, csv, expected) in cases {
        let e = scenario_error(&dir, csv, &toml);
        assert!(e.to_string().contains(expected), "expected `{expected}` in: {e}");
        assert!(e.file.ends_with("s.toml") && e.line.is_some(), "{e:?}");
    }
    // A missing file names the resolved path at the `file` key (line 6).
    std::fs::remove_file(dir.join("day.csv")).unwrap();
    let path = dir.join("s.toml");
    std::fs::write(&path, entry(standard)).unwrap();
    let e = Scenario::from_file(&path).unwrap_err();
    assert_eq!(e.line, Some(6));
    assert!(e.message.contains("`timeseries[0].file`: file not found") && e.message.contains("day.csv"), "{e}");
    // Unknown monitor branch.
    std::fs::write(dir.join("day.csv"), "hour,mult\n0,1\n1,1\n").unwrap();
    std::fs::write(&path, format!("{}\n[monitors]\nbranches = [\"Line.nowhere\"]\n", entry(standard))).unwrap();
    let e = Scenario::from_file(&path).unwrap().build().err().unwrap();
    assert!(e.message.contains("no branch `Line.nowhere`"), "{e}");
}

/// IEEE 13 with a PV system, a battery and a generator, solved tightly (so
/// the solved terminal powers equal the set points to ~1e-9).
fn write_der_feeder(dir: &Path) {
    let master = Path::new(env!("CARGO_MANIFEST_DIR")).join("../grid/feeders/ieee13/master.dss");
    let script = format!(
        "Redirect \"{}\"\n\
         New PVSystem.pv bus1=675 phases=3 kv=4.16 pmpp=500 kva=500 irradiance=1\n\
         New Storage.bat bus1=680 phases=3 kv=4.16 kwrated=200 kva=220 kwhrated=400 %stored=50 %reserve=20 dispmode=external\n\
         New Generator.gen bus1=634 phases=3 kv=0.48 kw=100 pf=1\n\
         Set tolerance=1e-10\nSet maxiterations=100\n",
        master.display()
    );
    std::fs::write(dir.join("feeder.dss"), script).unwrap();
}

#[test]
fn series_drive_pv_irradiance_storage_and_generators() {
    let dir = tmp("ders");
    write_der_feeder(&dir);
    let csv = "hour,sun,battery_kw,gen_kw\n0,0.1,50,20\n1,0.5,-80,60\n2,0.9,0,90\n3,0.3,100,0\n";
    let toml = r#"
steps = 4
[grid]
type = "feeder"
path = "feeder.dss"
[[timeseries]]
file = "day.csv"
column = "sun"
elements = ["PVSystem.pv"]
quantity = "irradiance"
[[timeseries]]
file = "day.csv"
column = "battery_kw"
elements = ["bat"]
quantity = "kw"
[[timeseries]]
file = "day.csv"
column = "gen_kw"
elements = ["Generator.gen"]
quantity = "kw"
"#;
    let mut env = Scenario::from_file(&write_scenario(&dir, csv, toml)).unwrap().build().unwrap();
    env.reset(None).unwrap();
    env.run(4).unwrap();
    let g = env.recorder().grid();
    let (pv, bat, gen, kwh) =
        (float_column(g, "PVSystem.pv.kw"), float_column(g, "Storage.bat.kw"), float_column(g, "Generator.gen.kw"), float_column(g, "Storage.bat.kwh"));
    let sun = [0.1, 0.5, 0.9, 0.3];
    let battery = [50.0, -80.0, 0.0, 100.0];
    let generator = [20.0, 60.0, 90.0, 0.0];
    for k in 0..4 {
        // Panels: irradiance · Pmpp, nothing below the inverter's 20 % cut-in of kVA.
        let panel = 500.0 * sun[k];
        let expected_pv = if panel >= 100.0 { panel } else { 0.0 };
        assert!((pv[k] - expected_pv).abs() < 1e-6 * expected_pv.max(1.0), "hour {k}: PV {} vs {expected_pv}", pv[k]);
        assert!((gen[k] - generator[k]).abs() < 1e-6, "hour {k}: generator {}", gen[k]);
        // An idle battery draws its idling losses (%IdlingkW 1 of 200 kW).
        let expected_bat = if battery[k] == 0.0 { -2.0 } else { battery[k] };
        assert!((bat[k] - expected_bat).abs() < 1e-6, "hour {k}: battery {}", bat[k]);
    }
    // Storage energy is the engine's own end-of-step update (tested in ogg-grid); it moved the right way.
    assert!(kwh[1] > kwh[0] && kwh[3] < kwh[2], "{kwh:?}");

    // `ders = false` drops the DER columns; a multiplier on a PV system is refused.
    let quiet = format!("{toml}[monitors]\nders = false\n");
    let mut env = Scenario::from_file(&write_scenario(&dir, csv, &quiet)).unwrap().build().unwrap();
    env.reset(None).unwrap();
    env.run(1).unwrap();
    assert!(!env.recorder().grid().column_names().iter().any(|n| n.starts_with("PVSystem.")));
    let bad = toml.replacen("quantity = \"irradiance\"", "quantity = \"multiplier\"", 1);
    let e = scenario_error(&dir, csv, &bad);
    assert!(e.message.contains("`PVSystem.pv` is a generator, PV system or storage element"), "{e}");
    let bad = toml.replacen("elements = [\"bat\"]", "elements = [\"Load.671\"]", 1).replacen("column = \"sun\"\nelements = [\"PVSystem.pv\"]", "column = \"sun\"\nelements = [\"Storage.bat\"]", 1);
    let e = scenario_error(&dir, csv, &bad);
    assert!(e.message.contains("`Storage.bat` is not a PV system"), "{e}");
}

#[test]
fn hourly_data_interpolates_onto_quarter_hour_steps() {
    let dir = tmp("linear");
    let toml = |interpolation: &str| {
        format!(
            "steps = 4\nstep_s = 900\n[grid]\ntype = \"feeder\"\nfeeder = \"ieee13\"\n[[timeseries]]\nfile = \"day.csv\"\n\
             column = \"mult\"\nelements = [\"Load.671\"]\nquantity = \"multiplier\"\ninterval = \"60min\"\n\
             interpolation = \"{interpolation}\"\npast_end = \"hold\"\n"
        )
    };
    for (interpolation, expected) in [("linear", [0.5, 0.6, 0.7, 0.8, 0.9]), ("hold", [0.5, 0.5, 0.5, 0.5, 0.9])] {
        let mut env =
            Scenario::from_file(&write_scenario(&dir, "hour,mult\n0,0.5\n1,0.9\n", &toml(interpolation))).unwrap().build().unwrap();
        env.reset(None).unwrap();
        for (k, m) in expected.iter().enumerate() {
            env.step().unwrap();
            let grid = env.grid().as_any().downcast_ref::<DistributionGrid>().unwrap();
            let pf = grid.power_flow();
            let kw = pf.load_nominal(pf.load_index("671").unwrap()).0;
            assert!((kw - m * 1155.0).abs() < 1e-9, "{interpolation} step {k}: {kw} vs {}", m * 1155.0);
        }
    }
}

/// Parquet data files (with the `parquet` feature, as `ogg` is built):
/// the recorder's own Parquet output read back equals its CSV twin.
#[cfg(feature = "parquet")]
#[test]
fn parquet_columns_read_as_their_csv_twins() {
    use opengridgym::exogenous::read_data_file;
    let dir = tmp("parquet");
    let mut scenario = Scenario::built_in("ieee13-data").unwrap().unwrap();
    scenario.output.csv = true;
    scenario.output.parquet = true;
    opengridgym::run_scenario(&scenario, Some(&dir), &mut |_| {}).unwrap();
    let (_, from_parquet) = read_data_file(&dir.join("grid.parquet"), Some("total_power_kw")).unwrap();
    let (_, from_csv) = read_data_file(&dir.join("grid.csv"), Some("total_power_kw")).unwrap();
    assert_eq!(from_parquet.len(), 24);
    assert_eq!(from_parquet, from_csv);
    let (_, steps) = read_data_file(&dir.join("grid.parquet"), Some("grid_step")).unwrap();
    assert_eq!(steps, (0..24).map(f64::from).collect::<Vec<_>>());
    let records = dir.join("records.parquet");
    let e = read_data_file(&records, Some("price")).unwrap_err();
    assert!(e.ends_with("records.parquet: row 1: column `price`: missing value (null)"), "{e}");
    let e = read_data_file(&records, Some("agent")).unwrap_err();
    assert!(e.contains("column `agent` holds Utf8, not numbers"), "{e}");
    assert!(read_data_file(&records, Some("nope")).unwrap_err().contains("no column `nope` (columns: time_s, grid_step"));
    std::fs::write(dir.join("not.parquet"), "hour,kw\n").unwrap();
    assert!(read_data_file(&dir.join("not.parquet"), None).unwrap_err().contains("not a readable Parquet file"));

    // A scenario replays it: load 671 at the recorded source kW of hour 2.
    let toml = "steps = 2\n[grid]\ntype = \"feeder\"\nfeeder = \"ieee13\"\n[[timeseries]]\nfile = \"grid.parquet\"\n\
                column = \"total_power_kw\"\nelements = [\"Load.671\"]\nquantity = \"kw\"\n";
    std::fs::write(dir.join("replay.toml"), toml).unwrap();
    let mut env = Scenario::from_file(&dir.join("replay.toml")).unwrap().build().unwrap();
    env.reset(None).unwrap();
    env.run(2).unwrap();
    let grid = env.grid().as_any().downcast_ref::<DistributionGrid>().unwrap();
    let pf = grid.power_flow();
    assert_eq!(pf.load_nominal(pf.load_index("671").unwrap()).0, from_parquet[1]);
}
