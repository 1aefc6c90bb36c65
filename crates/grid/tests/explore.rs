mod common;

#[test]
#[ignore]
fn explore() {
    let Some(shared) = common::shared() else { return };
    for case in ["ieee13", "ieee34", "ieee34mod2", "ieee34_opengridgym", "ieee37"] {
        let mut pf = common::compile(&shared, case);
        let rep = pf.solve().unwrap();
        let refdir = shared.join("reference").join(case);
        let summ = common::read_json(&refdir.join("summary.json"));
        let (p, q) = pf.total_power();
        let (e, w) = common::max_voltage_error(&pf, &refdir);
        println!("{case}: {rep:?}\n  P={p:.4} Q={q:.4} ref P={} Q={} it ref={} ctrl ref={}", summ["total_power_kw"], summ["total_power_kvar"], summ["iterations"], summ["control_iterations"]);
        println!("  taps {:?}", pf.regulator_taps().iter().map(|t| t.2).collect::<Vec<_>>());
        println!("  max dV {e:.3e} at {w}; ll {:?}", common::max_ll_voltage_error(&pf, &refdir));
    }
}

#[test]
#[ignore]
fn explore_loads() {
    let Some(shared) = common::shared() else { return };
    let case = std::env::var("CASE").unwrap_or("ieee34".into());
    let mut pf = common::compile(&shared, &case);
    pf.solve().unwrap();
    let refdir = shared.join("reference").join(&case);
    for row in common::read_csv(&refdir.join("loads.csv")) {
        let i = pf.load_index(&row["load"]).unwrap();
        let (p, q) = pf.load_power_of(i);
        let (pr, qr) = (common::f(&row, "p_kw_solved"), common::f(&row, "q_kvar_solved"));
        if (p - pr).abs() > 1e-3 || (q - qr).abs() > 1e-3 {
            println!("{} {} model {} : ours {p:.4} {q:.4} ref {pr:.4} {qr:.4} nominal {:?} vmin {}", row["load"], row["bus"], row["model"], pf.load_nominal(i), row["vminpu"]);
        }
    }
    for row in common::read_csv(&refdir.join("capacitors.csv")) {
        println!("cap {:?}", row);
    }
    println!("{:?}", pf.capacitor_states());
}

#[test]
#[ignore]
fn explore_fixed() {
    let Some(shared) = common::shared() else { return };
    for case in ["ieee13_fixedtaps", "ieee34_fixedtaps"] {
        let mut pf = common::compile(&shared, case);
        let refdir = shared.join("reference").join(case);
        for row in common::read_csv(&refdir.join("regulators.csv")) {
            pf.set_transformer_tap(&row["transformer"], 2, common::f(&row, "tap_pu")).unwrap();
        }
        pf.settings_mut().control_mode = ogg_dss::ControlMode::Off;
        let rep = pf.solve().unwrap();
        let summ = common::read_json(&refdir.join("summary.json"));
        let (p, q) = pf.total_power();
        let (e, w) = common::max_voltage_error(&pf, &refdir);
        println!("{case}: {rep:?}\n  P={p:.4} Q={q:.4} ref P={} Q={} it ref={}", summ["total_power_kw"], summ["total_power_kvar"], summ["iterations"]);
        println!("  max dV {e:.3e} at {w}");
    }
}
