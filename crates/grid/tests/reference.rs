//! The engine against OpenDSS's own results (`../shared/reference`): every
//! feeder, at OpenDSS's default tolerance and tightly converged, with
//! regulator controls and with fixed taps.

mod common;

use std::path::Path;

use common::{f, read_csv, read_json};
use num_complex::Complex64 as C;
use ogg_grid::PowerFlow;

const CASES: [&str; 5] = ["ieee13", "ieee34", "ieee34mod2", "ieee34_opengridgym", "ieee37"];

/// Compiles and solves a case exactly as the reference run did.
fn solved(shared: &Path, case: &str) -> PowerFlow {
    let mut pf = common::compile(shared, case);
    let report = pf.solve().unwrap();
    assert!(report.converged, "{case}: {report:?}");
    pf
}

/// The reference's `_tight` procedure: `set tolerance=1e-10 maxiterations=200`, Solve again.
fn tighten(pf: &mut PowerFlow) {
    pf.settings_mut().tolerance = 1e-10;
    pf.settings_mut().max_iterations = 200;
    let report = pf.solve().unwrap();
    assert!(report.converged, "{report:?}");
}

/// The fixed-taps reference: published taps forced, controls off, Solve.
fn fixed_taps(shared: &Path, case: &str) -> PowerFlow {
    let mut pf = common::compile(shared, case);
    let circuit_solves_itself = case.starts_with("ieee13");
    if circuit_solves_itself {
        pf.solve().unwrap();
    }
    let refdir = shared.join("reference").join(case);
    for row in read_csv(&refdir.join("regulators.csv")) {
        pf.set_transformer_tap(&row["transformer"], 2, f(&row, "tap_pu")).unwrap();
    }
    pf.settings_mut().control_mode = ogg_dss::ControlMode::Off;
    let report = pf.solve().unwrap();
    assert!(report.converged, "{case}: {report:?}");
    pf
}

fn check_voltages(pf: &PowerFlow, refdir: &Path, case: &str, tol_pu: f64) -> f64 {
    let (err, at) = if case.starts_with("ieee37") {
        // 3-wire delta: node-to-ground voltages are set by tiny capacitances; compare L-L.
        common::max_ll_voltage_error(pf, refdir)
    } else {
        common::max_voltage_error(pf, refdir)
    };
    assert!(err <= tol_pu, "{case}: voltage error {err:.3e} pu at {at} (allowed {tol_pu:e})");
    err
}

fn check_power(pf: &PowerFlow, refdir: &Path, case: &str, tol_kw: f64) {
    let s = read_json(&refdir.join("summary.json"));
    let (p, q) = pf.total_power();
    let (pr, qr) = (s["total_power_kw"].as_f64().unwrap(), s["total_power_kvar"].as_f64().unwrap());
    assert!((p - pr).abs() <= tol_kw, "{case}: P {p} vs {pr}");
    assert!((q - qr).abs() <= tol_kw, "{case}: Q {q} vs {qr}");
    let (lp, lq) = pf.losses();
    let (lpr, lqr) = (s["losses_kw"].as_f64().unwrap(), s["losses_kvar"].as_f64().unwrap());
    assert!((lp - lpr).abs() <= tol_kw, "{case}: losses {lp} vs {lpr}");
    assert!((lq - lqr).abs() <= tol_kw, "{case}: losses {lq} kvar vs {lqr}");
}

fn check_taps_and_caps(pf: &PowerFlow, refdir: &Path, case: &str) {
    let ours = pf.regulator_taps();
    let refs = read_csv(&refdir.join("regulators.csv"));
    assert_eq!(ours.len(), refs.len(), "{case}: number of regulators");
    for row in refs {
        let (_, tap, step) = ours.iter().find(|t| t.0 == row["regcontrol"]).unwrap_or_else(|| panic!("{case}: {}", row["regcontrol"]));
        assert_eq!(*step, row["tap_step"].parse::<i64>().unwrap(), "{case}: {} tap", row["regcontrol"]);
        assert!((tap - f(&row, "tap_pu")).abs() < 1e-12);
    }
    let caps = pf.capacitor_states();
    for row in read_csv(&refdir.join("capacitors.csv")) {
        let (_, states) = caps.iter().find(|c| c.0 == row["capacitor"]).unwrap();
        let want: Vec<u8> = row["states"].split_whitespace().map(|s| s.parse().unwrap()).collect();
        assert_eq!(states, &want, "{case}: capacitor {} states", row["capacitor"]);
    }
}

#[test]
fn default_tolerance_matches_opendss_step_by_step() {
    let Some(shared) = common::shared() else { return };
    for case in CASES {
        let refdir = shared.join("reference").join(case);
        let pf = solved(&shared, case);
        check_taps_and_caps(&pf, &refdir, case);
        // Same iteration path as OpenDSS: same counts, same (unconverged) answer.
        let s = read_json(&refdir.join("summary.json"));
        assert_eq!(pf.last_report().iterations as u64, s["iterations"].as_u64().unwrap(), "{case}: iterations");
        assert_eq!(pf.last_report().control_iterations as u64, s["control_iterations"].as_u64().unwrap(), "{case}: control iterations");
        let err = check_voltages(&pf, &refdir, case, 1e-6);
        eprintln!("{case}: default tolerance, max |dV| = {err:.2e} pu");
        check_power(&pf, &refdir, case, 0.01);
    }
}

#[test]
fn tight_solution_matches_tight_references() {
    let Some(shared) = common::shared() else { return };
    for case in CASES {
        let refdir = shared.join("reference").join(format!("{case}_tight"));
        let mut pf = solved(&shared, case);
        tighten(&mut pf);
        // Converging from 1e-4 to 1e-10 takes OpenDSS 7 or 8 iterations; so it
        // does us only if every linear solve is accurate to ~1e-12.
        let s = read_json(&refdir.join("summary.json"));
        assert_eq!(pf.last_report().iterations as u64, s["iterations"].as_u64().unwrap(), "{case}_tight: iterations");
        check_taps_and_caps(&pf, &refdir, case);
        let err = check_voltages(&pf, &refdir, case, 1e-6);
        eprintln!("{case}_tight: max |dV| = {err:.2e} pu");
        check_power(&pf, &refdir, case, 0.01);
    }
}

#[test]
fn fixed_taps_match_references() {
    let Some(shared) = common::shared() else { return };
    for case in ["ieee13_fixedtaps", "ieee34_fixedtaps"] {
        let refdir = shared.join("reference").join(case);
        let mut pf = fixed_taps(&shared, case);
        check_taps_and_caps(&pf, &refdir, case);
        let err = check_voltages(&pf, &refdir, case, 1e-6);
        check_power(&pf, &refdir, case, 0.01);
        tighten(&mut pf);
        let refdir = shared.join("reference").join(format!("{case}_tight"));
        let err_t = check_voltages(&pf, &refdir, case, 1e-6);
        check_power(&pf, &refdir, case, 0.01);
        eprintln!("{case}: max |dV| = {err:.2e} pu, tight {err_t:.2e} pu");
    }
}

#[test]
fn primitive_admittances_match_opendss() {
    let Some(shared) = common::shared() else { return };
    for case in CASES {
        let refdir = shared.join("reference").join(case);
        let pf = solved(&shared, case);
        let json = read_json(&refdir.join("yprim.json"));
        let mut checked = 0;
        for (name, entry) in json.as_object().unwrap() {
            if name.starts_with("RegControl") || name.starts_with("CapControl") {
                continue;
            }
            let (labels, y) = pf.element_yprim(name).unwrap_or_else(|| panic!("{case}: {name} missing"));
            let want: Vec<String> = entry["nodes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
            assert_eq!(labels, want, "{case}: {name} node labels");
            let g = entry["G"].as_array().unwrap();
            let b = entry["B"].as_array().unwrap();
            let n = want.len();
            let mut scale: f64 = 0.0;
            for i in 0..n {
                for j in 0..n {
                    scale = scale.max(y.get(i, j).norm());
                }
            }
            for i in 0..n {
                for j in 0..n {
                    let r = C::new(g[i][j].as_f64().unwrap(), b[i][j].as_f64().unwrap());
                    let d = (y.get(i, j) - r).norm();
                    assert!(d <= 1e-9 * scale + 1e-12, "{case}: {name} Y[{i},{j}] = {} vs {r} (scale {scale})", y.get(i, j));
                }
            }
            checked += 1;
        }
        assert_eq!(checked, pf.n_elements(), "{case}: every element checked");
    }
}

#[test]
fn load_powers_match_opendss() {
    let Some(shared) = common::shared() else { return };
    for case in CASES {
        let refdir = shared.join("reference").join(case);
        let pf = solved(&shared, case);
        for row in read_csv(&refdir.join("loads.csv")) {
            let i = pf.load_index(&row["load"]).unwrap();
            let (p, q) = pf.load_power_of(i);
            let (pr, qr) = (f(&row, "p_kw_solved"), f(&row, "q_kvar_solved"));
            assert!((p - pr).abs() < 1e-4 * pr.abs().max(1.0), "{case}: load {} P {p} vs {pr}", row["load"]);
            assert!((q - qr).abs() < 1e-4 * qr.abs().max(1.0), "{case}: load {} Q {q} vs {qr}", row["load"]);
        }
    }
}

#[test]
fn branch_flows_match_opendss() {
    let Some(shared) = common::shared() else { return };
    for case in CASES {
        let refdir = shared.join("reference").join(case);
        let pf = solved(&shared, case);
        let rows = read_csv(&refdir.join("branch_flows_t1.csv"));
        let mut by_element: std::collections::BTreeMap<String, Vec<_>> = Default::default();
        for r in rows {
            by_element.entry(r["element"].clone()).or_default().push(r);
        }
        for (name, rows) in by_element {
            let e = pf.element_position(&name).unwrap_or_else(|| panic!("{case}: {name}"));
            let flows = pf.element_flows(e);
            let t1: Vec<_> = flows.conductors.iter().filter(|c| c.terminal == 1 && c.node != 0).collect();
            assert_eq!(t1.len(), rows.len(), "{case}: {name} conductors");
            for (c, r) in t1.iter().zip(&rows) {
                assert_eq!(c.node.to_string(), r["node"], "{case}: {name}");
                let (p, q) = (f(r, "p_kw"), f(r, "q_kvar"));
                let imag = C::new(c.current.0, c.current.1).norm();
                let tol = 1e-4 * (p.abs() + q.abs()).max(1.0);
                assert!((c.p_kw - p).abs() < tol && (c.q_kvar - q).abs() < tol, "{case}: {name} node {}: {} {} vs {p} {q}", c.node, c.p_kw, c.q_kvar);
                assert!((imag - f(r, "i_mag")).abs() < 1e-4 * f(r, "i_mag").max(1.0), "{case}: {name} |I|");
            }
        }
    }
}

#[test]
fn voltage_bases_match_calcvoltagebases() {
    let Some(shared) = common::shared() else { return };
    for case in CASES {
        let refdir = shared.join("reference").join(case);
        let pf = common::compile(&shared, case);
        let ours: std::collections::HashMap<String, f64> = pf.buses().into_iter().collect();
        for row in read_csv(&refdir.join("voltages.csv")) {
            let kv = ours[&row["bus"]];
            assert!((kv - f(&row, "kv_base_ln")).abs() < 1e-7, "{case}: bus {} base {kv} vs {}", row["bus"], row["kv_base_ln"]);
        }
        // Bus order as OpenDSS lists it.
        let mut ref_order: Vec<String> = Vec::new();
        for row in read_csv(&refdir.join("voltages.csv")) {
            if ref_order.last() != Some(&row["bus"]) {
                ref_order.push(row["bus"].clone());
            }
        }
        let our_order: Vec<String> = pf.buses().into_iter().map(|b| b.0).collect();
        assert_eq!(our_order, ref_order, "{case}: bus order");
    }
}
