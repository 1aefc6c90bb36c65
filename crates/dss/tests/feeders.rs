//! Every reference feeder in `../shared` parses, and what the reader makes of it
//! matches OpenDSS's own account of the same script (`../shared/reference/<case>/`):
//! element counts, every load, every transformer winding, every regulator and
//! capacitor, and the solver settings.

use ogg_dss::{Circuit, Connection, DiskFiles, ImpedanceData, LengthUnit};
use std::collections::HashMap;
use std::path::PathBuf;

fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("OGG_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    if dir.join("reference").is_dir() && dir.join("feeders").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: shared reference folder not found at {} (set OGG_SHARED)",
            dir.display()
        );
        None
    }
}

/// A CSV file as rows of column → text (the reference files have no quoted commas).
fn read_csv(path: &std::path::Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("column {column}: `{}` is not a number", row[column]))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

fn conn_name(c: Connection) -> &'static str {
    match c {
        Connection::Wye => "wye",
        Connection::Delta => "delta",
    }
}

fn bus_text(bus: &ogg_dss::BusRef) -> String {
    let mut s = bus.bus.clone();
    for n in &bus.nodes {
        s.push_str(&format!(".{n}"));
    }
    s
}

/// Reads the case's master with its post commands appended, as the reference run did.
fn read_case(shared: &std::path::Path, case: &str) -> (Circuit, serde_json::Value) {
    let dir = shared.join("reference").join(case);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("summary.json")).expect("summary.json"),
    )
    .expect("json");
    let master = shared.join(summary["master"].as_str().expect("master"));
    let mut script = std::fs::read_to_string(&master).expect("master script");
    for command in summary["post_commands"].as_array().expect("post_commands") {
        script.push('\n');
        script.push_str(command.as_str().unwrap_or(""));
    }
    if case.ends_with("_tight") {
        script.push_str("\nset tolerance=1e-10 maxiterations=200");
    }
    let circuit = ogg_dss::read_str(&script, &master.to_string_lossy(), &DiskFiles)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    (circuit, summary)
}

fn check_case(shared: &std::path::Path, case: &str) {
    let (circuit, summary) = read_case(shared, case);
    let dir = shared.join("reference").join(case);

    let counts = &summary["class_counts"];
    let count = |class: &str| counts[class].as_u64().unwrap_or(0) as usize;
    assert_eq!(circuit.lines.len(), count("Line"), "{case}: lines");
    assert_eq!(circuit.loads.len(), count("Load"), "{case}: loads");
    assert_eq!(
        circuit.transformers.len(),
        count("Transformer"),
        "{case}: transformers"
    );
    assert_eq!(
        circuit.capacitors.len(),
        count("Capacitor"),
        "{case}: capacitors"
    );
    assert_eq!(
        circuit.regcontrols.len(),
        count("RegControl"),
        "{case}: regcontrols"
    );
    assert_eq!(circuit.vsources.len(), count("Vsource"), "{case}: vsources");
    assert_eq!(
        circuit.loadshapes.len(),
        count("LoadShape"),
        "{case}: load shapes"
    );

    // Solver settings.
    let settings = &summary["settings"];
    let setting = |name: &str| settings[name].as_str().unwrap_or("").to_string();
    let o = &circuit.options;
    assert!(
        close(
            o.tolerance,
            setting("tolerance").parse().expect("tolerance")
        ),
        "{case}: tolerance"
    );
    assert_eq!(
        o.max_iterations.to_string(),
        setting("maxiterations"),
        "{case}: maxiterations"
    );
    assert_eq!(
        o.max_control_iterations.to_string(),
        setting("maxcontroliter"),
        "{case}: maxcontroliter"
    );
    assert_eq!(
        format!("{:?}", o.control_mode),
        setting("controlmode"),
        "{case}: controlmode"
    );
    assert!(
        close(
            o.base_frequency,
            setting("defaultbasefrequency").parse().expect("freq")
        ),
        "{case}"
    );
    let bases: Vec<f64> = setting("voltagebases")
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    assert_eq!(
        circuit.voltage_bases.len(),
        bases.len(),
        "{case}: voltage bases"
    );
    for (a, b) in circuit.voltage_bases.iter().zip(&bases) {
        assert!(close(*a, *b), "{case}: voltage base {a} vs {b}");
    }
    assert!(circuit.calc_voltage_bases, "{case}: CalcVoltageBases ran");

    // Loads.
    let loads: HashMap<&str, &ogg_dss::Load> =
        circuit.loads.iter().map(|l| (l.name.as_str(), l)).collect();
    for row in read_csv(&dir.join("loads.csv")) {
        let name = row["load"].as_str();
        let load = loads
            .get(name)
            .unwrap_or_else(|| panic!("{case}: load {name} missing"));
        assert_eq!(bus_text(&load.bus1), row["bus"], "{case}: load {name} bus");
        assert_eq!(
            load.phases as f64,
            num(&row, "phases"),
            "{case}: load {name} phases"
        );
        assert_eq!(
            conn_name(load.conn),
            row["conn"],
            "{case}: load {name} conn"
        );
        assert_eq!(
            load.model as f64,
            num(&row, "model"),
            "{case}: load {name} model"
        );
        for (ours, column) in [
            (load.kv, "kv"),
            (load.kw, "kw"),
            (load.kvar, "kvar"),
            (load.pf, "pf"),
            (load.vminpu, "vminpu"),
            (load.vmaxpu, "vmaxpu"),
            (load.cvrwatts, "cvrwatts"),
            (load.cvrvars, "cvrvars"),
        ] {
            assert!(
                (ours - num(&row, column)).abs() < 1e-8 * (1.0 + ours.abs()),
                "{case}: load {name} {column}: {ours} vs {}",
                row[column]
            );
        }
        assert_eq!(
            load.daily.clone().unwrap_or_default(),
            row["daily"],
            "{case}: load {name} daily"
        );
        assert_eq!(
            load.yearly.clone().unwrap_or_default(),
            row["yearly"],
            "{case}: load {name} yearly"
        );
    }

    // Transformer windings; a regulated winding's tap is the solved one unless controls are off.
    let controls_off = o.control_mode == ogg_dss::ControlMode::Off;
    let regulated: Vec<(String, usize)> = circuit
        .regcontrols
        .iter()
        .map(|r| (r.transformer.clone(), r.tapwinding))
        .collect();
    let transformers: HashMap<&str, &ogg_dss::Transformer> = circuit
        .transformers
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let rows = read_csv(&dir.join("transformers.csv"));
    assert_eq!(
        rows.len(),
        circuit
            .transformers
            .iter()
            .map(|t| t.windings.len())
            .sum::<usize>(),
        "{case}: windings"
    );
    for row in rows {
        let name = row["transformer"].as_str();
        let t = transformers
            .get(name)
            .unwrap_or_else(|| panic!("{case}: transformer {name} missing"));
        let w_index = num(&row, "wdg") as usize;
        let w = &t.windings[w_index - 1];
        let what = format!("{case}: transformer {name} winding {w_index}");
        assert_eq!(t.phases as f64, num(&row, "phases"), "{what} phases");
        assert_eq!(
            t.windings.len() as f64,
            num(&row, "windings"),
            "{what} windings"
        );
        assert_eq!(bus_text(&w.bus), row["bus"], "{what} bus");
        assert_eq!(conn_name(w.conn), row["conn"], "{what} conn");
        for (ours, column) in [
            (w.kv, "kv"),
            (w.kva, "kva"),
            (w.pct_r, "pct_r"),
            (w.min_tap, "mintap"),
            (w.max_tap, "maxtap"),
            (w.num_taps as f64, "numtaps"),
            (t.xhl, "xhl"),
            (t.xht, "xht"),
            (t.xlt, "xlt"),
        ] {
            assert!(
                close(ours, num(&row, column)),
                "{what} {column}: {ours} vs {}",
                row[column]
            );
        }
        if controls_off || !regulated.contains(&(name.to_string(), w_index)) {
            assert!(
                close(w.tap, num(&row, "tap")),
                "{what} tap: {} vs {}",
                w.tap,
                row["tap"]
            );
        }
        assert_eq!(
            t.xfmrcode.clone().unwrap_or_default(),
            row["xfmrcode"],
            "{what} xfmrcode"
        );
    }

    // Regulators.
    let regs: HashMap<&str, &ogg_dss::RegControl> = circuit
        .regcontrols
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    for row in read_csv(&dir.join("regulators.csv")) {
        let name = row["regcontrol"].as_str();
        let r = regs
            .get(name)
            .unwrap_or_else(|| panic!("{case}: regcontrol {name} missing"));
        assert_eq!(
            r.transformer, row["transformer"],
            "{case}: {name} transformer"
        );
        for (ours, column) in [
            (r.winding as f64, "winding"),
            (r.vreg, "vreg"),
            (r.band, "band"),
            (r.ptratio, "ptratio"),
            (r.ctprim, "ctprim"),
            (r.r, "R"),
            (r.x, "X"),
            (r.delay, "delay"),
            (r.tapdelay, "tapdelay"),
            (r.maxtapchange as f64, "maxtapchange"),
        ] {
            assert!(
                close(ours, num(&row, column)),
                "{case}: regcontrol {name} {column}: {ours} vs {}",
                row[column]
            );
        }
        assert_eq!(
            r.reversible.to_string(),
            row["reversible"].to_lowercase(),
            "{case}: {name} reversible"
        );
    }

    // Capacitors.
    let caps: HashMap<&str, &ogg_dss::Capacitor> = circuit
        .capacitors
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    for row in read_csv(&dir.join("capacitors.csv")) {
        let name = row["capacitor"].as_str();
        let c = caps
            .get(name)
            .unwrap_or_else(|| panic!("{case}: capacitor {name} missing"));
        assert_eq!(
            bus_text(&c.bus1),
            row["bus"],
            "{case}: capacitor {name} bus"
        );
        assert_eq!(c.phases as f64, num(&row, "phases"));
        assert_eq!(conn_name(c.conn), row["conn"]);
        assert!(close(c.kv, num(&row, "kv")));
        let kvar: Vec<f64> = row["kvar"]
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(c.kvar, kvar, "{case}: capacitor {name} kvar");
        let states: Vec<u8> = row["states"]
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(c.states, states, "{case}: capacitor {name} states");
    }
}

#[test]
fn every_reference_case_matches_opendss() {
    let Some(shared) = shared_dir() else { return };
    let mut cases: Vec<String> = std::fs::read_dir(shared.join("reference"))
        .expect("reference dir")
        .flatten()
        .filter(|e| e.path().join("summary.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "expected the reference cases, found {cases:?}"
    );
    for case in &cases {
        check_case(&shared, case);
    }
}

#[test]
fn ieee13_details() {
    let Some(shared) = shared_dir() else { return };
    let c = ogg_dss::read_file(&shared.join("feeders/ieee13/IEEE13Nodeckt.dss")).expect("ieee13");
    assert_eq!(c.name, "ieee13nodeckt");
    let v = &c.vsources[0];
    assert_eq!(
        (v.name.as_str(), v.bus1.bus.as_str()),
        ("source", "sourcebus")
    );
    assert_eq!(
        (v.base_kv, v.pu, v.angle_deg, v.mvasc3, v.mvasc1),
        (115.0, 1.0001, 30.0, 20000.0, 21000.0)
    );
    assert_eq!(v.spec, ogg_dss::SourceImpedanceSpec::ShortCircuitMva);
    // XHL=(8 1000 /) and %r=(.5 1000 /) through the RPN calculator.
    let sub = &c.transformers[0];
    assert!(close(sub.xhl, 0.008) && close(sub.windings[0].pct_r, 0.0005));
    // %LoadLoss=0.01 splits into 0.005 per winding.
    assert!(close(c.transformers[1].windings[1].pct_r, 0.005));
    assert_eq!(c.transformers[1].bank.as_deref(), Some("reg1"));
    // The switch: switch=y then r1=1e-4 etc. override the side effects; length stays 0.001.
    let sw = c.lines.iter().find(|l| l.name == "671692").expect("switch");
    assert!(sw.switch);
    assert_eq!(sw.length, 0.001);
    assert_eq!(
        sw.impedance.data,
        ImpedanceData::Sequence {
            r1: 1e-4,
            x1: 0.0,
            r0: 1e-4,
            x0: 0.0,
            c1_nf: 0.0,
            c0_nf: 0.0
        }
    );
    // Line codes expand into the line with their units; the line's own units stay.
    let l = c.lines.iter().find(|l| l.name == "650632").expect("650632");
    assert_eq!(
        (l.length, l.length_units, l.impedance.units),
        (2000.0, LengthUnit::Ft, LengthUnit::Mi)
    );
    assert_eq!(l.linecode.as_deref(), Some("mtx601"));
    let ImpedanceData::Matrix { r, x, c_nf } = &l.impedance.data else {
        panic!("matrix expected")
    };
    assert_eq!(r[1], 0.1560);
    assert_eq!(r[3], 0.1560);
    assert_eq!(x[8], 1.0348);
    // mtx601 has no cmatrix: OpenDSS's default sequence capacitances (3.4, 1.6 nF) fill it.
    assert!(close(c_nf[0], (2.0 * 3.4 + 1.6) / 3.0) && close(c_nf[1], (1.6 - 3.4) / 3.0));
    let l = c.lines.iter().find(|l| l.name == "684652").expect("684652");
    let ImpedanceData::Matrix { c_nf, .. } = &l.impedance.data else {
        panic!("matrix expected")
    };
    assert_eq!(c_nf, &vec![236.0]);
    assert_eq!(c.bus_coords.get("650"), Some(&(200.0, 350.0)));
    assert_eq!(c.solve_count, 1);
    assert_eq!(c.options.base_frequency, 60.0);
}

#[test]
fn ieee34_run_script_fixes_taps_with_rpn() {
    let Some(shared) = shared_dir() else { return };
    let c = ogg_dss::read_file(&shared.join("feeders/ieee34/Run_IEEE34Mod1.dss"))
        .expect("Run_IEEE34Mod1");
    // The second Compile starts over (the master begins with Clear).
    assert_eq!(c.lines.len(), 32);
    assert_eq!(c.options.control_mode, ogg_dss::ControlMode::Off);
    let tap = |name: &str| {
        c.transformers
            .iter()
            .find(|t| t.name == name)
            .expect(name)
            .windings[1]
            .tap
    };
    for (name, step) in [
        ("reg1a", 12.0),
        ("reg1b", 5.0),
        ("reg1c", 5.0),
        ("reg2a", 13.0),
        ("reg2b", 11.0),
        ("reg2c", 12.0),
    ] {
        assert!(close(tap(name), 1.0 + 0.00625 * step), "{name}");
    }
    // And they match OpenDSS's fixed-tap reference.
    let rows = read_csv(&shared.join("reference/ieee34_fixedtaps/transformers.csv"));
    for row in rows
        .iter()
        .filter(|r| r["transformer"].starts_with("reg") && r["wdg"] == "2")
    {
        assert!(close(tap(&row["transformer"]), num(row, "tap")));
    }
    // Show/Plot/Interpolate and Set MarkTransformers are accepted and reported.
    assert!(
        c.ignored.iter().any(|i| i.what.contains("show")),
        "{:#?}",
        c.ignored
    );
    assert!(c
        .ignored
        .iter()
        .any(|i| i.what.to_lowercase().contains("marktransformers")));
    assert_eq!(
        c.bus_coords.len(),
        0,
        "the BusCoords before the second Compile were cleared"
    );
    let m2 = ogg_dss::read_file(&shared.join("feeders/ieee34/Run_IEEE34Mod2.dss"))
        .expect("Run_IEEE34Mod2");
    assert_eq!(m2.options.max_control_iterations, 300);
    assert_eq!(m2.lines.len(), 51);
    // Length=(1.73 2 /)
    let l = m2.lines.iter().find(|l| l.name == "l2a").expect("l2a");
    assert!(close(l.length, 0.865));
    assert!(m2
        .loads
        .iter()
        .all(|l| l.daily.as_deref() == Some("default")));
}

#[test]
fn opengridgym_copy_needs_case_insensitive_redirect() {
    let Some(shared) = shared_dir() else { return };
    let c = ogg_dss::read_file(&shared.join("feeders/ieee34_opengridgym/ieee34Mod1.dss"))
        .expect("ogg copy");
    assert_eq!(c.lines.len(), 32);
    // `Redirect IEEELineCodes.dss` in a folder that only has `.DSS` works through the fallback.
    let dir = std::env::temp_dir().join(format!("ogg-dss-case-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    std::fs::copy(
        shared.join("feeders/ieee34/IEEELineCodes.DSS"),
        dir.join("IEEELineCodes.DSS"),
    )
    .expect("copy");
    std::fs::copy(
        shared.join("feeders/ieee34_opengridgym/ieee34Mod1.dss"),
        dir.join("master.dss"),
    )
    .expect("copy");
    let c = ogg_dss::read_file(&dir.join("master.dss")).expect("case-insensitive");
    assert_eq!(c.lines.len(), 32);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ieee37_like_and_open_delta() {
    let Some(shared) = shared_dir() else { return };
    let c = ogg_dss::read_file(&shared.join("feeders/ieee37/ieee37.dss")).expect("ieee37");
    let reg1c = c
        .transformers
        .iter()
        .find(|t| t.name == "reg1c")
        .expect("reg1c");
    // like=reg1a copies everything, then buses are overridden.
    assert_eq!(bus_text(&reg1c.windings[0].bus), "799.3.2");
    assert_eq!(reg1c.windings[0].conn, Connection::Delta);
    assert_eq!(
        (reg1c.windings[0].kv, reg1c.windings[0].kva, reg1c.xhl),
        (4.8, 2000.0, 1.0)
    );
    let creg1c = c
        .regcontrols
        .iter()
        .find(|r| r.name == "creg1c")
        .expect("creg1c");
    assert_eq!(
        (
            creg1c.transformer.as_str(),
            creg1c.ptratio,
            creg1c.ctprim,
            creg1c.r
        ),
        ("reg1c", 40.0, 350.0, 2.799)
    );
    assert_eq!(c.options.max_iterations, 100);
    assert_eq!(c.bus_coords.len(), 39);
}

fn unit_code(u: LengthUnit) -> u32 {
    match u {
        LengthUnit::None => 0,
        LengthUnit::Mi => 1,
        LengthUnit::Kft => 2,
        LengthUnit::Km => 3,
        LengthUnit::M => 4,
        LengthUnit::Ft => 5,
        LengthUnit::In => 6,
        LengthUnit::Cm => 7,
        LengthUnit::Mm => 8,
    }
}

/// The line's per-length matrices in its own length unit, as OpenDSS reports them.
fn per_line_unit(line: &ogg_dss::Line) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = line.phases;
    let (r, x, c) = match &line.impedance.data {
        ImpedanceData::Matrix { r, x, c_nf } => (r.clone(), x.clone(), c_nf.clone()),
        ImpedanceData::Sequence {
            r1,
            x1,
            r0,
            x0,
            c1_nf,
            c0_nf,
        } => {
            let build = |s1: f64, s0: f64| -> Vec<f64> {
                let (diag, off) = if n == 1 {
                    (s1, 0.0)
                } else {
                    ((2.0 * s1 + s0) / 3.0, (s0 - s1) / 3.0)
                };
                (0..n * n)
                    .map(|k| if k / n == k % n { diag } else { off })
                    .collect()
            };
            (build(*r1, *r0), build(*x1, *x0), build(*c1_nf, *c0_nf))
        }
    };
    let factor = match (line.impedance.units.metres(), line.length_units.metres()) {
        (Some(data), Some(length)) => length / data,
        _ => 1.0,
    };
    let scale = |v: Vec<f64>| v.into_iter().map(|e| e * factor).collect();
    (scale(r), scale(x), scale(c))
}

#[test]
fn every_line_matches_opendss() {
    let Some(shared) = shared_dir() else { return };
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/opendss_lines.csv"
    ))
    .expect("fixture");
    let mut circuits: HashMap<String, Circuit> = HashMap::new();
    let mut checked = 0;
    for row in fixture.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let circuit = circuits.entry(f[0].to_string()).or_insert_with(|| {
            ogg_dss::read_file(&shared.join("feeders").join(f[0])).unwrap_or_else(|e| panic!("{e}"))
        });
        let line = circuit
            .lines
            .iter()
            .find(|l| l.name == f[1])
            .unwrap_or_else(|| panic!("{}: line {}", f[0], f[1]));
        let what = format!("{} line {}", f[0], f[1]);
        assert_eq!(line.phases.to_string(), f[2], "{what} phases");
        assert!(
            close(line.length, f[3].parse().expect("length")),
            "{what} length"
        );
        assert_eq!(
            unit_code(line.length_units).to_string(),
            f[4],
            "{what} units"
        );
        assert_eq!(
            line.linecode.clone().unwrap_or_default(),
            f[5],
            "{what} linecode"
        );
        let (r, x, c) = per_line_unit(line);
        for (ours, theirs, name) in [(r, f[6], "r"), (x, f[7], "x"), (c, f[8], "c")] {
            let theirs: Vec<f64> = theirs
                .split(' ')
                .map(|v| v.parse().expect("number"))
                .collect();
            assert_eq!(ours.len(), theirs.len(), "{what} {name} size");
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 1e-9 * (1e-6 + b.abs()),
                    "{what} {name}: {ours:?} vs {theirs:?}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 163);
}
