//! Helpers for tests against the OpenDSS reference results in `../shared`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use num_complex::Complex64 as C;
use ogg_grid::PowerFlow;

/// `<repo root>/../shared`, or `$OGG_SHARED`; `None` (and a message) when absent.
pub fn shared() -> Option<PathBuf> {
    let p = match std::env::var_os("OGG_SHARED") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    if p.join("reference").is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: the shared reference folder is absent ({}); set OGG_SHARED to run this test", p.display());
        None
    }
}

/// Master script of each reference case, relative to `shared/feeders`.
pub fn master_of(case: &str) -> &'static str {
    match case.trim_end_matches("_tight").trim_end_matches("_fixedtaps") {
        "ieee13" => "ieee13/IEEE13Nodeckt.dss",
        "ieee34" => "ieee34/ieee34Mod1.dss",
        "ieee34mod2" => "ieee34/ieee34Mod2.dss",
        "ieee34_opengridgym" => "ieee34_opengridgym/ieee34Mod1.dss",
        "ieee37" => "ieee37/ieee37.dss",
        other => panic!("unknown case {other}"),
    }
}

/// Compiles a reference case's master as the reference run did (extra
/// settings of the case applied).
pub fn compile(shared: &Path, case: &str) -> PowerFlow {
    let path = shared.join("feeders").join(master_of(case));
    let mut circuit = ogg_dss::read_file(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    if case.starts_with("ieee34mod2") {
        circuit.options.max_control_iterations = 300;
    }
    PowerFlow::new(&circuit).unwrap_or_else(|e| panic!("compiling {case}: {e}"))
}

/// A CSV file as a list of header → value maps.
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(|s| s.trim().to_string()).collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| header.iter().cloned().zip(l.split(',').map(|s| s.trim().to_string())).collect())
        .collect()
}

pub fn f(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap_or_else(|_| panic!("{key}={} is not a number", row[key]))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Node voltage by (bus, node) from the engine.
pub fn voltages(pf: &PowerFlow) -> HashMap<(String, u32), (C, f64)> {
    pf.voltage_table().into_iter().map(|v| ((v.bus, v.node), (v.v, v.pu))).collect()
}

/// Max |V_ours − V_ref| / (kV_ln base) over every node of `voltages.csv`.
pub fn max_voltage_error(pf: &PowerFlow, refdir: &Path) -> (f64, String) {
    let ours = voltages(pf);
    let mut worst = (0.0, String::new());
    for row in read_csv(&refdir.join("voltages.csv")) {
        let key = (row["bus"].clone(), row["node"].parse::<u32>().unwrap());
        let (v, _) = ours.get(&key).unwrap_or_else(|| panic!("node {key:?} missing"));
        let vref = C::new(f(&row, "v_re"), f(&row, "v_im"));
        let base = f(&row, "kv_base_ln") * 1000.0;
        let err = (v - vref).norm() / base;
        if err > worst.0 {
            worst = (err, format!("{}.{}", key.0, key.1));
        }
    }
    worst
}

/// Same on line-to-line voltages (`voltages_ll.csv`), pu of √3·kV_ln.
pub fn max_ll_voltage_error(pf: &PowerFlow, refdir: &Path) -> (f64, String) {
    let ours: HashMap<(String, String), C> = pf
        .line_to_line_voltages()
        .into_iter()
        .map(|l| ((l.bus, format!("{}-{}", l.pair.0, l.pair.1)), l.v))
        .collect();
    let mut worst = (0.0, String::new());
    for row in read_csv(&refdir.join("voltages_ll.csv")) {
        let key = (row["bus"].clone(), row["pair"].clone());
        let v = ours.get(&key).unwrap_or_else(|| panic!("pair {key:?} missing"));
        let vref = C::new(f(&row, "v_re"), f(&row, "v_im"));
        let base = f(&row, "kv_base_ll") * 1000.0;
        let err = (v - vref).norm() / base;
        if err > worst.0 {
            worst = (err, format!("{} {}", key.0, key.1));
        }
    }
    worst
}

/// Asserts that every node OpenDSS reported (`nodes[i]` as "bus.node", its
/// per-unit voltage `v_pu[i]`) is one of ours, within `tol` pu; returns the
/// largest difference. `at` names the step in the messages.
pub fn assert_node_voltages(pf: &PowerFlow, nodes: &[&str], v_pu: &serde_json::Value, tol: f64, at: &str) -> f64 {
    let vref: HashMap<&str, f64> =
        nodes.iter().copied().zip(v_pu.as_array().unwrap().iter().map(|v| v.as_f64().unwrap())).collect();
    let (mut compared, mut worst) = (0, 0.0f64);
    for nv in pf.voltage_table() {
        let node = format!("{}.{}", nv.bus, nv.node);
        let Some(&v) = vref.get(node.as_str()) else { continue };
        compared += 1;
        worst = worst.max((nv.pu - v).abs());
        assert!((nv.pu - v).abs() < tol, "{at}: {node} {} pu vs {v}", nv.pu);
    }
    assert_eq!(compared, vref.len(), "{at}: every OpenDSS node compared");
    worst
}
