//! Element options the IEEE feeders do not exercise (3-winding and
//! centre-tapped transformers, neutral impedances, %imag/%noloadloss,
//! Isc-specified source, sequence line data with unit conversions, switch,
//! series/shunt reactors, load models 3–8, fixed loads, LoadMult, a
//! two-step capacitor bank under CapControl, a regulator) against OpenDSS's
//! results for `data/features.dss` and `data/controls.dss`, stored as JSON by
//! `data/make_fixtures.py` (OpenDSS 0.14.5 through dss-python).

use std::path::Path;

use num_complex::Complex64 as C;
use ogg_grid::PowerFlow;
use serde_json::Value;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// `features.dss` (element options) and `controls.dss` (every CapControl
/// type, a ganged regulator with LDC and ptphase=max) and `regulators.dss`
/// (remote PT, inverse time, LDC_Z, TapNum, maxtapchange=1, open delta).
/// `line_constants.dss`: lines from WireData/LineSpacing/LineGeometry (every
/// earth model, Kron reduction on and off). `feeder_constructs.dss`: what the
/// IEEE 123 and 8500-node feeders use that the others do not.
const CASES: [&str; 6] = ["features", "controls", "regulators", "line_constants", "feeder_constructs", "cables"];

fn fixture(case: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data(&format!("{case}.json"))).unwrap()).unwrap()
}

fn compiled(case: &str) -> PowerFlow {
    let c = ogg_dss::read_file(&data(&format!("{case}.dss"))).unwrap();
    PowerFlow::new(&c).unwrap()
}

fn max_voltage_error(pf: &PowerFlow, expected: &Value) -> (f64, String) {
    let mut worst = (0.0, String::new());
    let bases = &expected["kv_base_ln"];
    let ours: std::collections::HashMap<String, C> =
        pf.voltage_table().into_iter().map(|v| (format!("{}.{}", v.bus, v.node), v.v)).collect();
    for (name, v) in expected["voltages"].as_object().unwrap() {
        let vref = C::new(v[0].as_f64().unwrap(), v[1].as_f64().unwrap());
        let bus = name.split('.').next().unwrap();
        let base = bases[bus].as_f64().unwrap() * 1000.0;
        let ours = ours.get(name).unwrap_or_else(|| panic!("node {name} missing"));
        let e = (ours - vref).norm() / base;
        if e > worst.0 {
            worst = (e, name.clone());
        }
    }
    worst
}

fn check_state(pf: &PowerFlow, expected: &Value, what: &str, vtol: f64) {
    let (err, at) = max_voltage_error(pf, expected);
    assert!(err < vtol, "{what}: |dV| {err:.3e} pu at {at}");
    let (p, q) = pf.total_power();
    let tp = &expected["total_power"];
    assert!((p - tp[0].as_f64().unwrap()).abs() < 0.01, "{what}: P {p} vs {}", tp[0]);
    assert!((q - tp[1].as_f64().unwrap()).abs() < 0.01, "{what}: Q {q} vs {}", tp[1]);
    let (lp, lq) = pf.losses();
    assert!((lp - expected["losses_kw"].as_f64().unwrap()).abs() < 0.01, "{what}: losses {lp} vs {}", expected["losses_kw"]);
    assert!((lq - expected["losses_kvar"].as_f64().unwrap()).abs() < 0.01, "{what}: losses {lq} kvar");
    for (name, pq) in expected["loads"].as_object().unwrap() {
        let i = pf.load_index(name).unwrap();
        let (p, q) = pf.load_power_of(i);
        let (pr, qr) = (pq[0].as_f64().unwrap(), pq[1].as_f64().unwrap());
        assert!((p - pr).abs() < 1e-3 * pr.abs().max(1.0), "{what}: load {name} P {p} vs {pr}");
        assert!((q - qr).abs() < 1e-3 * qr.abs().max(1.0), "{what}: load {name} Q {q} vs {qr}");
    }
    let caps = pf.capacitor_states();
    for (name, states) in expected["capacitors"].as_object().unwrap() {
        let want: Vec<u8> = states.as_array().unwrap().iter().map(|s| s.as_u64().unwrap() as u8).collect();
        let ours = &caps.iter().find(|c| &c.0 == name).unwrap().1;
        assert_eq!(ours, &want, "{what}: capacitor {name}");
    }
    for (name, tap) in expected["taps"].as_object().unwrap() {
        let ours = pf.regulator_taps().into_iter().find(|t| &t.0 == name).unwrap().2;
        assert_eq!(ours, tap.as_i64().unwrap(), "{what}: regulator {name}");
    }
}

#[test]
fn voltage_bases_match() {
    for case in CASES {
        let pf = compiled(case);
        let f = fixture(case);
        for (bus, kv) in pf.buses() {
            let want = f["default"]["kv_base_ln"][&bus].as_f64().unwrap();
            assert!((kv - want).abs() < 1e-9, "{case}: {bus}: {kv} vs {want}");
        }
    }
}

#[test]
fn solution_matches_opendss_at_default_and_tight_tolerance() {
    for case in CASES {
        solution_matches(case);
    }
}

fn solution_matches(case: &str) {
    let f = fixture(case);
    let mut pf = compiled(case);
    let r = pf.solve().unwrap();
    assert!(r.converged, "{r:?}");
    assert_eq!(r.control_iterations as u64, f["default"]["control_iterations"].as_u64().unwrap(), "{case}: control iterations");
    assert_eq!(r.iterations as u64, f["default"]["iterations"].as_u64().unwrap(), "{case}: iterations");
    check_state(&pf, &f["default"], "default tolerance", 1e-6);
    pf.settings_mut().tolerance = 1e-10;
    pf.settings_mut().max_iterations = 200;
    let r = pf.solve().unwrap();
    assert!(r.converged);
    check_state(&pf, &f["tight"], "tight", 1e-8);
}

#[test]
fn primitive_admittances_match() {
    for case in CASES {
        yprims_match(case);
    }
}

fn yprims_match(case: &str) {
    let f = fixture(case);
    let mut pf = compiled(case);
    pf.solve().unwrap();
    for (name, entry) in f["yprim"].as_object().unwrap() {
        let (labels, y) = pf.element_yprim(name).unwrap_or_else(|| panic!("{name} missing"));
        let buses: Vec<&str> = entry["nodes"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
        let order: Vec<u64> = entry["node_order"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
        let per_term = order.len() / buses.len();
        let want: Vec<String> = order.iter().enumerate().map(|(k, n)| format!("{}.{}", buses[k / per_term], n)).collect();
        assert_eq!(labels, want, "{name}");
        let g = entry["G"].as_array().unwrap();
        let b = entry["B"].as_array().unwrap();
        let n = want.len();
        let scale = (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| y.get(i, j).norm()).fold(0.0, f64::max);
        for i in 0..n {
            for j in 0..n {
                let r = C::new(g[i][j].as_f64().unwrap(), b[i][j].as_f64().unwrap());
                assert!((y.get(i, j) - r).norm() <= 1e-9 * scale + 1e-12, "{name} Y[{i},{j}] = {} vs {r}", y.get(i, j));
            }
        }
    }
}
