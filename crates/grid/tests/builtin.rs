//! The built-in feeders solve to OpenDSS's published results (numbers in
//! crates/grid/feeders/README.md; checked against `../shared` when present).

mod common;

use ogg_grid::{feeders, PowerFlow};

/// (feeder, reference case, taps, source kW) as OpenDSS solves them at its default tolerance.
const EXPECTED: [(&str, &[i64], f64); 5] = [
    ("ieee13", &[9, 6, 9], 3567.212),
    ("ieee34", &[14, 4, 5, 13, 13, 13], 2047.039),
    ("ieee34mod2", &[13, 5, 5, 12, 12, 12], 2047.026),
    ("ieee34_opengridgym", &[14, 4, 5, 13, 13, 12], 2039.858),
    ("ieee37", &[16, 14], 2588.453),
];

#[test]
fn builtin_feeders_reproduce_opendss() {
    assert_eq!(feeders::names().len(), EXPECTED.len());
    for (name, taps, kw) in EXPECTED {
        let circuit = feeders::circuit(name).unwrap();
        let mut pf = PowerFlow::new(&circuit).unwrap();
        let report = pf.solve().unwrap();
        assert!(report.converged, "{name}: {report:?}");
        let ours: Vec<i64> = pf.regulator_taps().iter().map(|t| t.2).collect();
        assert_eq!(ours, taps, "{name}: taps");
        let (p, _) = pf.total_power();
        assert!((p - kw).abs() < 0.0015, "{name}: {p} kW vs {kw}");
        if let Some(shared) = common::shared() {
            let refdir = shared.join("reference").join(name);
            let (err, at) = if name == "ieee37" {
                common::max_ll_voltage_error(&pf, &refdir)
            } else {
                common::max_voltage_error(&pf, &refdir)
            };
            assert!(err < 1e-6, "{name}: {err:e} pu at {at}");
        }
    }
}

#[test]
fn unknown_feeder_names_the_known_ones() {
    let err = feeders::circuit("ieee999").unwrap_err().to_string();
    assert!(err.contains("ieee999") && err.contains("ieee13"), "{err}");
}

#[test]
fn powerflow_command_writes_voltages_and_summary() {
    let dir = std::env::temp_dir().join(format!("ogg-grid-pf-{}", std::process::id()));
    let summary = ogg_grid::powerflow_command("ieee13", Some(1e-10), None, &dir).unwrap();
    assert!(summary.converged);
    assert_eq!(summary.taps.values().copied().collect::<Vec<_>>(), vec![9, 6, 9]);
    assert!((summary.total_power_kw - 3567.0504).abs() < 0.01, "{}", summary.total_power_kw);
    let csv = std::fs::read_to_string(dir.join("voltages.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "bus,node,v_re,v_im,v_mag,v_ang_deg,v_pu");
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&first[..2], &["sourcebus", "1"]);
    let pu: f64 = first[6].parse().unwrap();
    assert!((pu - 0.99997).abs() < 1e-4, "{pu}");
    assert_eq!(csv.lines().count(), 1 + 41);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["taps"]["reg2"], 6);
    assert_eq!(json["converged"], true);
    let _ = std::fs::remove_dir_all(&dir);
    // A bad input is an error naming it.
    let err = ogg_grid::powerflow_command("/nonexistent/x.dss", None, None, &dir).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/x.dss"), "{err}");
}

/// `powerflow_command` with a tight tolerance lands on the `_tight`
/// references (same taps as OpenDSS's default-tolerance run, fully converged).
#[test]
fn powerflow_command_tight_matches_tight_references() {
    let Some(shared) = common::shared() else { return };
    for (name, _, _) in EXPECTED {
        let dir = std::env::temp_dir().join(format!("ogg-grid-pft-{}-{name}", std::process::id()));
        let summary = ogg_grid::powerflow_command(name, Some(1e-10), None, &dir).unwrap();
        assert!(summary.converged, "{name}");
        let refdir = shared.join("reference").join(format!("{name}_tight"));
        let s = common::read_json(&refdir.join("summary.json"));
        assert!((summary.total_power_kw - s["total_power_kw"].as_f64().unwrap()).abs() < 0.01, "{name}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
