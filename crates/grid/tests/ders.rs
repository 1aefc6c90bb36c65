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
    for theirs in r[key].as_array().unwrap() {
        let ours = ts.advance_and_solve(&mut pf).unwrap();
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
    eprintln!("{key}: worst |dV| {worst_v:.1e} pu, worst DER power {worst_p:.1e}, worst kWh {worst_kwh:.1e} (relative)");
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
