//! OpenDSS's time control mode (`Set ControlMode=time`) in daily runs, against
//! OpenDSS (reference from data/make_timemode.py, both engines at tolerance
//! 1e-9): the control queue keeps simulation time across steps, so regulators
//! and capacitors act once their delays have elapsed — one tap per step with
//! hourly steps, several steps after the first sample with 1-minute steps.

mod common;

use ogg_dss::model::SolutionMode;
use ogg_dss::ControlMode;
use ogg_grid::{feeders, PowerFlow, TimeSeries};
use serde_json::Value;

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn reference() -> &'static Value {
    static REFERENCE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = data_dir().join("timemode.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

fn ieee34_all_daily_default() -> ogg_dss::Circuit {
    let mut circuit = feeders::circuit("ieee34mod2").unwrap();
    for load in &mut circuit.loads {
        load.daily = Some("default".to_string());
    }
    circuit
}

fn caps_feeder() -> ogg_dss::Circuit {
    ogg_dss::read_file(&data_dir().join("timemode_caps.dss")).unwrap()
}

/// Worst differences of one run against OpenDSS.
#[derive(Debug, Default)]
struct RunDiff {
    worst_v_pu: f64,
    worst_power_rel: f64,
    steps: usize,
}

/// Runs `key`'s steps (`stepsize_s` from `start_h`) in time control mode and
/// compares every step with OpenDSS: hour, convergence, regulator taps,
/// capacitor steps, control iterations and power-flow iterations exactly; total power within 1e-6
/// (relative); every node voltage within `v_tol` pu.
fn compare(key: &str, mut circuit: ogg_dss::Circuit, stepsize_s: f64, start_h: f64, v_tol: f64) -> RunDiff {
    circuit.options.control_mode = ControlMode::Time;
    let mut pf = PowerFlow::new(&circuit).unwrap();
    pf.settings_mut().tolerance = 1e-9;
    let mut ts = TimeSeries::new(&circuit, &pf).unwrap();
    ts.mode = SolutionMode::Daily;
    ts.stepsize_s = stepsize_s;
    ts.set_time_s(start_h * 3600.0);
    let mut diff = RunDiff::default();
    let nodes: Vec<&str> = reference()[key]["nodes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for theirs in reference()[key]["steps"].as_array().unwrap() {
        let ours = ts.advance_and_solve(&mut pf).unwrap();
        let step = ours.step;
        let at = format!("{key} step {step} (hour {:.4})", ours.hour);
        assert!(ours.report.converged, "{at}: {:?}", ours.report);
        assert!((ours.hour - theirs["hour"].as_f64().unwrap()).abs() < 1e-9, "{at}: hour");
        for (name, tap) in &ours.taps {
            assert_eq!(Some(*tap), theirs["taps"][name.as_str()].as_i64(), "{at}: tap of {name}");
        }
        assert_eq!(ours.taps.len(), theirs["taps"].as_object().unwrap().len(), "{at}: regulators");
        let caps = pf.capacitor_states();
        assert_eq!(caps.len(), theirs["caps"].as_object().unwrap().len(), "{at}: capacitors");
        for (name, states) in &caps {
            let theirs: Vec<u8> = theirs["caps"][name.as_str()].as_array().unwrap().iter().map(|s| s.as_u64().unwrap() as u8).collect();
            assert_eq!(states, &theirs, "{at}: states of {name}");
        }
        assert_eq!(
            ours.report.control_iterations as u64,
            theirs["control_iterations"].as_u64().unwrap(),
            "{at}: control iterations"
        );
        assert_eq!(ours.report.iterations as u64, theirs["iterations"].as_u64().unwrap(), "{at}: power-flow iterations");
        let p = theirs["total_power"][0].as_f64().unwrap();
        let q = theirs["total_power"][1].as_f64().unwrap();
        let rel = (ours.total_power_kw - p).abs().max((ours.total_power_kvar - q).abs()) / p.abs();
        diff.worst_power_rel = diff.worst_power_rel.max(rel);
        assert!(rel < 1e-6, "{at}: {} kW {} kvar vs {p} {q}", ours.total_power_kw, ours.total_power_kvar);
        let worst = common::assert_node_voltages(&pf, &nodes, &theirs["v_pu"], v_tol, &at);
        diff.worst_v_pu = diff.worst_v_pu.max(worst);
        diff.steps += 1;
    }
    eprintln!("{key}: {diff:?}");
    diff
}

/// 24 × 1 h: every delay (15 s, 30 s) ends within the step, so each
/// out-of-band regulator moves one tap at the *next* step (the action queued
/// at hour h runs when hour h+1 samples), the follow-up 2 s later one step on.
#[test]
fn ieee34mod2_hourly_time_mode_matches_opendss() {
    compare("ieee34_1h", ieee34_all_daily_default(), 3600.0, 0.0, 1e-6);
}

#[test]
fn ieee34mod2_quarter_hourly_time_mode_matches_opendss() {
    compare("ieee34_15m", ieee34_all_daily_default(), 900.0, 0.0, 1e-6);
}

/// 240 × 1 min from hour 6: tap changes follow the load's hourly steps one
/// tap per minute.
#[test]
fn ieee34mod2_minute_steps_time_mode_matches_opendss() {
    compare("ieee34_1min", ieee34_all_daily_default(), 60.0, 6.0, 1e-6);
}

/// Voltage CapControl (ON 120 s, OFF 300 s, DeadTime 900 s) and kvar
/// CapControl on a two-step bank (ON 60 s, OFF 240 s), 288 × 5 min.
#[test]
fn capcontrols_five_minute_steps_time_mode_match_opendss() {
    compare("caps_5min", caps_feeder(), 300.0, 0.0, 1e-6);
}

#[test]
fn capcontrols_minute_steps_time_mode_match_opendss() {
    compare("caps_1min", caps_feeder(), 60.0, 13.0, 1e-6);
}

fn reg_feeder() -> ogg_dss::Circuit {
    ogg_dss::read_file(&data_dir().join("timemode_reg.dss")).unwrap()
}

/// delay=120 s, tapdelay=5 s, 60 × 1 min: the first tap moves two steps
/// after the voltage leaves the band; the one-minute load blip at minute 11
/// is back in band before the delay ends, so its timer resets and no tap
/// moves; the 15-minute block from minute 21 moves one tap per minute from
/// minute 23 (each follow-up, 5 s later, is due at the next step).
#[test]
fn regulator_minute_steps_time_mode_matches_opendss() {
    let diff = compare("reg_1min", reg_feeder(), 60.0, 0.0, 1e-6);
    assert_eq!(diff.steps, 60);
    let taps: Vec<i64> = reference()["reg_1min"]["steps"].as_array().unwrap().iter().map(|s| s["taps"]["creg"].as_i64().unwrap()).collect();
    // Blip at step 11 (minute 11): no tap change around it.
    assert_eq!(&taps[9..20], &[4; 11]);
    // Block from step 21: first tap at step 23.
    assert_eq!((taps[21], taps[22], taps[23]), (4, 5, 6));
}

/// The same with 20 s steps: the 120 s delay spans six steps, each tap one step.
#[test]
fn regulator_twenty_second_steps_time_mode_matches_opendss() {
    compare("reg_20s", reg_feeder(), 20.0, 0.0, 1e-6);
}

/// Static mode on the same run moves taps within the step the voltage leaves
/// the band (OpenDSS's nearest-action queue ignores time): time mode's lag is
/// not the static behaviour.
#[test]
fn static_mode_moves_taps_within_the_step() {
    let circuit = reg_feeder();
    let mut pf = PowerFlow::new(&circuit).unwrap();
    pf.settings_mut().tolerance = 1e-9;
    let mut ts = TimeSeries::new(&circuit, &pf).unwrap();
    ts.mode = SolutionMode::Daily;
    ts.stepsize_s = 60.0;
    let first = ts.advance_and_solve(&mut pf).unwrap();
    assert!(first.taps[0].1 > 0, "static: {:?}", first.taps);
    assert_eq!(reference()["reg_1min"]["steps"][0]["taps"]["creg"].as_i64(), Some(0));
}

/// The script's own `Set mode=daily stepsize=1m controlmode=time` selects
/// time mode (reader → engine settings → time series): the same taps as
/// OpenDSS's `reg_1min` run.
#[test]
fn script_set_controlmode_time_drives_the_time_series() {
    let path = data_dir().join("timemode_reg.dss");
    let script = std::fs::read_to_string(&path).unwrap() + "Set mode=daily number=60 stepsize=1m controlmode=time\n";
    let circuit = ogg_dss::read_str(&script, &path.to_string_lossy(), &ogg_dss::DiskFiles).unwrap();
    assert_eq!(circuit.options.control_mode, ControlMode::Time);
    let mut pf = PowerFlow::new(&circuit).unwrap();
    pf.settings_mut().tolerance = 1e-9;
    let mut ts = TimeSeries::new(&circuit, &pf).unwrap();
    assert_eq!(ts.stepsize_s, 60.0);
    let ours: Vec<i64> = ts.run(&mut pf, 60).unwrap().iter().map(|s| s.taps[0].1).collect();
    let theirs: Vec<i64> = reference()["reg_1min"]["steps"].as_array().unwrap().iter().map(|s| s["taps"]["creg"].as_i64().unwrap()).collect();
    assert_eq!(ours, theirs);
}
