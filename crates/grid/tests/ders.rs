//! Generators, PV systems and storage against OpenDSS (dss-python): the
//! IEEE 13 feeder with DERs added, snapshot cases per model and daily runs
//! (24 × 1 h and 96 × 15 min). References from data/make_ders.py.

use num_complex::Complex64 as C;
use ogg_dss::model::SolutionMode;
use ogg_grid::{PowerFlow, TimeSeries};
use serde_json::Value;

fn reference() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ders.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The feeder's master, the case's lines and the fixed-tap tight settings,
/// as the generator ran them.
fn circuit(extra: &str, tight: &str) -> ogg_dss::Circuit {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let master = dir.join("feeders/ieee13/master.dss");
    let script = format!("Redirect \"{}\"\n{extra}\n{tight}\n", master.display());
    let name = dir.join("tests/data/ders_case.dss");
    ogg_dss::read_str(&script, &name.to_string_lossy(), &ogg_dss::DiskFiles).unwrap()
}

fn pair(v: &Value) -> (f64, f64) {
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

/// Worst relative power error of every DER, asserting each within `rel`
/// (of the larger of |S| and 1 kVA).
fn compare_ders(pf: &PowerFlow, theirs: &Value, rel: f64, what: &str) -> f64 {
    let theirs = theirs.as_object().unwrap();
    assert_eq!(pf.n_ders(), theirs.len(), "{what}: DER count");
    let mut worst = 0.0f64;
    for (name, p) in theirs {
        let i = pf.der_index(name).unwrap_or_else(|| panic!("{what}: no {name}"));
        let (kw, kvar) = pf.der_power(i);
        let (p_ref, q_ref) = pair(p);
        let scale = p_ref.hypot(q_ref).max(1.0);
        let err = (kw - p_ref).abs().max((kvar - q_ref).abs()) / scale;
        worst = worst.max(err);
        assert!(err <= rel, "{what}: {name} {kw:.6} + j{kvar:.6} vs OpenDSS {p_ref:.6} + j{q_ref:.6}");
    }
    worst
}

#[test]
fn snapshot_cases_match_opendss() {
    let r = reference();
    let tight = r["tight"].as_str().unwrap();
    for (case, data) in r["snapshot"].as_object().unwrap() {
        let c = circuit(data["script"].as_str().unwrap(), tight);
        let mut pf = PowerFlow::new(&c).unwrap();
        let report = pf.solve().unwrap();
        assert!(report.converged, "{case}: {report:?}");
        let mut worst_v = 0.0f64;
        let theirs = data["v"].as_object().unwrap();
        let mut compared = 0;
        for nv in pf.voltage_table() {
            let node = format!("{}.{}", nv.bus, nv.node);
            let Some(v) = theirs.get(&node) else { continue };
            let (re, im) = pair(v);
            let base = nv.kv_base_ln * 1000.0;
            let err = (nv.v - C::new(re, im)).norm() / base;
            worst_v = worst_v.max(err);
            compared += 1;
        }
        assert_eq!(compared, theirs.len(), "{case}: every node compared");
        let worst_p = compare_ders(&pf, &data["ders"], 1e-3, case);
        eprintln!(
            "{case}: worst |dV| {worst_v:.1e} pu, worst DER power {worst_p:.1e} (relative), iterations {} (OpenDSS {})",
            report.iterations, data["iterations"]
        );
        assert!(worst_v < 1e-6, "{case}: worst voltage error {worst_v:e} pu");
        assert_eq!(Some(report.iterations as u64), data["iterations"].as_u64(), "{case}: iterations");
    }
}

fn daily(key: &str, stepsize_s: f64) {
    run(key, "daily_script", SolutionMode::Daily, stepsize_s);
}

/// Runs the script `script_key` in `mode` step by step and compares every
/// step of `key` with OpenDSS: voltages within 1e-5 pu, DER powers within
/// 0.1 %, stored energy within 1e-6 relative, storage states equal.
fn run(key: &str, script_key: &str, mode: SolutionMode, stepsize_s: f64) {
    let r = reference();
    let mut c = circuit(r[script_key].as_str().unwrap(), r["tight"].as_str().unwrap());
    for load in &mut c.loads {
        load.daily = Some("default".to_string());
    }
    let mut pf = PowerFlow::new(&c).unwrap();
    let mut ts = TimeSeries::new(&c, &pf).unwrap();
    ts.mode = mode;
    ts.stepsize_s = stepsize_s;
    let (mut worst_v, mut worst_p, mut worst_kwh) = (0.0f64, 0.0f64, 0.0f64);
    let mut same_iterations = 0;
    let steps = r[key].as_array().unwrap();
    for theirs in steps {
        let ours = ts.advance_and_solve(&mut pf).unwrap();
        if std::env::var_os("OGG_DER_ITER").is_some() {
            eprintln!("{key} step {}: iterations {} vs OpenDSS {} {:?}", ours.step, ours.report.iterations, theirs["iterations"], theirs["storage"]);
        }
        if Some(ours.report.iterations as u64) == theirs["iterations"].as_u64() {
            same_iterations += 1;
        }
        let step = ours.step;
        assert!(ours.report.converged, "{key} step {step}");
        assert_eq!(ours.hour, theirs["hour"].as_f64().unwrap(), "{key} step {step}: hour");
        let vref = theirs["v_pu"].as_object().unwrap();
        for nv in pf.voltage_table() {
            let node = format!("{}.{}", nv.bus, nv.node);
            let Some(v) = vref.get(&node).and_then(Value::as_f64) else { continue };
            worst_v = worst_v.max((nv.pu - v).abs());
            assert!((nv.pu - v).abs() < 1e-5, "{key} step {step}: {node} {} pu vs {v}", nv.pu);
        }
        worst_p = worst_p.max(compare_ders(&pf, &theirs["ders"], 1e-3, &format!("{key} step {step}")));
        for (name, st) in theirs["storage"].as_object().unwrap() {
            let i = pf.der_index(&format!("Storage.{name}")).unwrap();
            let kwh = pf.storage_kwh(i).unwrap();
            let kwh_ref = st["kwh"].as_f64().unwrap();
            let rel = (kwh - kwh_ref).abs() / kwh_ref.abs().max(1.0);
            worst_kwh = worst_kwh.max(rel);
            assert!(rel < 1e-6, "{key} step {step}: storage {name} {kwh} kWh vs OpenDSS {kwh_ref}");
            let state = format!("{:?}", pf.storage_state(i).unwrap()).to_ascii_lowercase();
            assert_eq!(state, st["state"].as_str().unwrap(), "{key} step {step}: storage {name} state");
        }
    }
    eprintln!(
        "{key}: worst |dV| {worst_v:.1e} pu, worst DER power {worst_p:.1e}, worst kWh {worst_kwh:.1e} (relative); iterations equal to OpenDSS's at {same_iterations} of {} steps",
        steps.len()
    );
}

#[test]
fn daily_hourly_run_matches_opendss() {
    daily("daily_1h", 3600.0);
}

#[test]
fn daily_quarter_hour_run_matches_opendss() {
    daily("daily_15m", 900.0);
}

/// Shape fallbacks (yearly → none for generators, → daily for PV; duty →
/// daily), loadlevel / price / external dispatch and a `useactual` shape.
#[test]
fn dispatch_modes_and_shape_fallbacks_match_opendss() {
    run("modes_daily", "modes_script", SolutionMode::Daily, 3600.0);
    run("modes_yearly", "modes_script", SolutionMode::Yearly, 3600.0);
    run("modes_duty", "modes_script", SolutionMode::Duty, 900.0);
}

/// Writes the IEEE 13 master plus `extra` to a temporary script (the
/// master's own files are found through an absolute Redirect).
fn temp_script(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let master = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("feeders/ieee13/master.dss");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("case.dss");
    std::fs::write(&path, format!("Redirect \"{}\"\n{extra}\n", master.display())).unwrap();
    path
}

#[test]
fn timeseries_csv_and_summary_carry_der_powers_and_energy() {
    let r = reference();
    let dir = std::env::temp_dir().join(format!("ogg-ders-{}", std::process::id()));
    let script = temp_script(&dir, &format!("{}\n{}", r["daily_script"].as_str().unwrap(), r["tight"].as_str().unwrap()));
    let steps = ogg_grid::timeseries_command(script.to_str().unwrap(), SolutionMode::Daily, Some(24), Some(3600.0), None, &dir).unwrap();
    let csv = std::fs::read_to_string(dir.join("timeseries.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for column in ["Generator.gd_kw", "PVSystem.pv675_kvar", "Storage.follow_kw", "Storage.follow_kwh", "Storage.small_kwh"] {
        assert!(header.split(',').any(|c| c == column), "no column {column} in {header}");
    }
    assert!(!header.contains("PVSystem.pv675_kwh"), "PV has no energy column");
    assert_eq!(csv.lines().count(), 25);
    // Storage energy in the table is the end-of-step value.
    let follow = steps[0].ders.iter().find(|d| d.name == "Storage.follow").unwrap();
    assert!(follow.kwh.unwrap() > 500.0, "charging at hour 1: {follow:?}");

    let summary = ogg_grid::powerflow_command(script.to_str().unwrap(), None, None, &dir).unwrap();
    let pv = &summary.ders["PVSystem.pv675"];
    assert!(pv.kw < 0.0 && pv.kwh.is_none(), "{pv:?}");
    assert_eq!(summary.ders["Storage.follow"].kwh, Some(500.0));
    let json = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(json.contains("\"Storage.follow\""), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_curves_and_shapes_are_located_errors() {
    let c = circuit("New PVSystem.pv bus1=675 kv=4.16 effcurve=nosuch", "");
    let e = PowerFlow::new(&c).unwrap_err().to_string();
    assert!(e.contains("PVSystem.pv") && e.contains("nosuch") && e.contains("ders_case.dss:2"), "{e}");
    let c = circuit("New PVSystem.pv bus1=675 kv=4.16 tdaily=nosuch", "");
    let pf = PowerFlow::new(&c).unwrap();
    let e = TimeSeries::new(&c, &pf).unwrap_err().to_string();
    assert!(e.contains("PVSystem.pv") && e.contains("TShape 'nosuch'") && e.contains("ders_case.dss:2"), "{e}");
    let c = circuit("New Storage.s bus1=675 kv=4.16 effcurve=nope", "");
    let e = PowerFlow::new(&c).unwrap_err().to_string();
    assert!(e.contains("Storage.s") && e.contains("XYcurve 'nope'") && e.contains("ders_case.dss:2"), "{e}");
    let c = circuit("New Storage.s bus1=675 kv=4.16 kwhrated=0", "");
    let e = PowerFlow::new(&c).unwrap_err().to_string();
    assert!(e.contains("Storage.s") && e.contains("kWhrated"), "{e}");
    let c = circuit("New Generator.g bus1=675 kv=0 kw=10", "");
    let e = PowerFlow::new(&c).unwrap_err().to_string();
    assert!(e.contains("Generator.g") && e.contains("kV > 0"), "{e}");
}


/// Odd but readable DER data compiles, solves and steps through a day
/// without a panic (an error or a non-converged report is fine), and what
/// is reported stays finite when the solve converged.
#[test]
fn odd_der_data_never_panics() {
    let cases = [
        "New Generator.g bus1=675 kv=4.16 kw=0",
        "New Generator.g bus1=675 kv=4.16 kw=-200 kvar=50",
        "New Generator.g bus1=675 kv=4.16 kw=500 vminpu=0 vmaxpu=0",
        "New Generator.g bus1=675 kv=4.16 kw=500 model=3 maxkvar=0 minkvar=0",
        "New Generator.g bus1=675 kv=4.16 kw=500 model=3 maxkvar=-10 minkvar=10",
        "New Generator.g bus1=675.1.2 phases=2 kv=4.16 kw=50 conn=delta",
        "New Generator.g bus1=652.1 phases=1 kv=2.4 kw=50 conn=delta model=2",
        "New Generator.g bus1=675 kv=4.16 kw=100 dispmode=price dispvalue=30",
        "New PVSystem.p bus1=675 kv=4.16 irradiance=-1",
        "New PVSystem.p bus1=675 kv=4.16 pmpp=0 %cutin=0 %cutout=0",
        "New PVSystem.p bus1=675 kv=4.16 kvar=1e6 kvarmax=0 kvarmaxabs=0",
        "New XYcurve.e npts=1 xarray=[0.5] yarray=[0.9]\nNew PVSystem.p bus1=675 kv=4.16 effcurve=e",
        "New XYcurve.e npts=0\nNew PVSystem.p bus1=675 kv=4.16 effcurve=e p-tcurve=e",
        "New XYcurve.e npts=2 xarray=[1 1] yarray=[0.9 0.8]\nNew PVSystem.p bus1=675 kv=4.16 effcurve=e",
        "New TShape.t npts=0\nNew PVSystem.p bus1=675 kv=4.16 tdaily=t",
        "New PVSystem.p bus1=675 kv=4.16 pf=-0.01 pfpriority=yes",
        "New Storage.s bus1=675 kv=4.16 kwhrated=0.001 state=discharging",
        "New Storage.s bus1=675 kv=4.16 %reserve=100 state=discharging",
        "New Storage.s bus1=675 kv=4.16 %reserve=150 state=charging",
        "New Storage.s bus1=675 kv=4.16 %idlingkw=500 state=charging",
        "New Storage.s bus1=675 kv=4.16 dispmode=follow %kwrated=0",
        "New Storage.s bus1=675 kv=4.16 %cutin=90 %cutout=95 state=discharging",
        "New Storage.s bus1=675 kv=4.16 dispmode=loadlevel chargetrigger=2 dischargetrigger=-1",
        "New Storage.s bus1=675 kv=4.16 timechargetrig=24.5",
    ];
    for case in cases {
        let c = circuit(case, "set maxiterations=30");
        let Ok(mut pf) = PowerFlow::new(&c) else { continue };
        let _ = pf.solve();
        let Ok(mut ts) = TimeSeries::new(&c, &pf) else { continue };
        ts.stepsize_s = 900.0;
        for _ in 0..96 {
            let Ok(step) = ts.advance_and_solve(&mut pf) else { break };
            if step.report.converged {
                for d in &step.ders {
                    assert!(d.kw.is_finite() && d.kvar.is_finite(), "{case}: {d:?}");
                    assert!(d.kwh.is_none_or(f64::is_finite), "{case}: {d:?}");
                }
            }
        }
    }
}

/// OpenDSS rebuilds every load's and DER's Yprim at the first step after
/// `Set mode=daily` (at that step's values) and keeps it (storage aside);
/// so does `TimeSeries`, and the iteration counts are then OpenDSS's at
/// every step, without DERs and with the PV systems and generators.
#[test]
fn daily_iteration_counts_equal_opendss_without_storage() {
    let r = reference();
    daily_iterations_equal(&r, "", "plain_daily");
    daily_iterations_equal(&r, r["daily_no_storage_script"].as_str().unwrap(), "daily_no_storage");
}

fn daily_iterations_equal(r: &Value, script: &str, key: &str) {
    let mut c = circuit(script, r["tight"].as_str().unwrap());
    for load in &mut c.loads {
        load.daily = Some("default".to_string());
    }
    let mut pf = PowerFlow::new(&c).unwrap();
    let mut ts = TimeSeries::new(&c, &pf).unwrap();
    ts.mode = SolutionMode::Daily;
    for theirs in r[key].as_array().unwrap() {
        let ours = ts.advance_and_solve(&mut pf).unwrap();
        assert_eq!(Some(ours.report.iterations as u64), theirs["iterations"].as_u64(), "{key} step {}", ours.step);
    }
}
