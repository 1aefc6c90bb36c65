//! Small scripts exercising the language's side effects, checked against what
//! OpenDSS itself reports after running them (`tests/data/opendss_semantics.json`,
//! generated with dss-python 0.15.7 / DSS C-API 0.14.5; see tests/data/README.md).
//! Lines are checked by their total series impedance and shunt capacitance,
//! taken from OpenDSS's primitive Y after a solve.

use ogg_dss::{Circuit, Connection, ImpedanceData, MemoryFiles};

fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '(' | ')' | '|'))
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("`{s}` in `{text}` is not a number"))
        })
        .collect()
}

enum Value {
    Numbers(Vec<f64>),
    Text(String),
}

fn yes_no(b: bool) -> Value {
    Value::Text(if b { "Yes" } else { "No" }.into())
}

fn conn(c: Connection) -> &'static str {
    match c {
        Connection::Wye => "wye",
        Connection::Delta => "delta",
    }
}

/// Our value for an OpenDSS query such as `transformer.t1.kvas`.
fn query(c: &Circuit, q: &str) -> Value {
    let parts: Vec<&str> = q.split('.').collect();
    let (class, name, prop) = (parts[0], parts[1], parts[2]);
    let n = |v: f64| Value::Numbers(vec![v]);
    let list = |v: Vec<f64>| Value::Numbers(v);
    match class {
        "load" => {
            let l = c.loads.iter().find(|l| l.name == name).expect(q);
            match prop {
                "kw" => n(l.kw),
                "kvar" => n(l.kvar),
                "pf" => n(l.pf),
                "kv" => n(l.kv),
                "phases" => n(l.phases as f64),
                "model" => n(l.model as f64),
                "vminpu" => n(l.vminpu),
                "vmaxpu" => n(l.vmaxpu),
                "cvrwatts" => n(l.cvrwatts),
                "cvrvars" => n(l.cvrvars),
                "zipv" => list(l.zipv.map(|z| z.to_vec()).unwrap_or_default()),
                _ => panic!("no query for {q}"),
            }
        }
        "transformer" => {
            let t = c.transformers.iter().find(|t| t.name == name).expect(q);
            let per =
                |f: &dyn Fn(&ogg_dss::Winding) -> f64| list(t.windings.iter().map(f).collect());
            match prop {
                "kvs" => per(&|w| w.kv),
                "kvas" => per(&|w| w.kva),
                "%rs" => per(&|w| w.pct_r),
                "taps" => per(&|w| w.tap),
                "xscarray" => list(t.xsc.clone()),
                "xhl" => n(t.xhl),
                "phases" => n(t.phases as f64),
                "windings" => n(t.windings.len() as f64),
                "%noloadloss" => n(t.pct_noload_loss),
                "%imag" => n(t.pct_imag),
                "buses" => {
                    let names: Vec<String> = t
                        .windings
                        .iter()
                        .map(|w| {
                            let mut s = w.bus.bus.clone();
                            w.bus
                                .nodes
                                .iter()
                                .for_each(|n| s.push_str(&format!(".{n}")));
                            s
                        })
                        .collect();
                    Value::Text(format!("[{}, ]", names.join(", ")))
                }
                "conns" => Value::Text(format!(
                    "[{}, ]",
                    t.windings
                        .iter()
                        .map(|w| conn(w.conn))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => panic!("no query for {q}"),
            }
        }
        "line" => {
            let l = c.lines.iter().find(|l| l.name == name).expect(q);
            match prop {
                "normamps" => n(l.normamps),
                "linecode" => Value::Text(l.linecode.clone().unwrap_or_default()),
                "length" => n(l.length),
                "units" => Value::Text(format!("{:?}", l.length_units).to_lowercase()),
                "enabled" => yes_no(l.enabled),
                _ => panic!("no query for {q}"),
            }
        }
        "capacitor" => {
            let k = c.capacitors.iter().find(|k| k.name == name).expect(q);
            match prop {
                "kvar" => list(k.kvar.clone()),
                "states" => list(k.states.iter().map(|&s| s as f64).collect()),
                "numsteps" => n(k.kvar.len() as f64),
                "kv" => n(k.kv),
                "phases" => n(k.phases as f64),
                _ => panic!("no query for {q}"),
            }
        }
        "reactor" => {
            let r = c.reactors.iter().find(|r| r.name == name).expect(q);
            match prop {
                "r" => n(r.r),
                "x" => n(r.x),
                _ => panic!("no query for {q}"),
            }
        }
        "regcontrol" => {
            let r = c.regcontrols.iter().find(|r| r.name == name).expect(q);
            match prop {
                "winding" => n(r.winding as f64),
                "vreg" => n(r.vreg),
                "band" => n(r.band),
                "ptratio" => n(r.ptratio),
                "ctprim" => n(r.ctprim),
                "r" => n(r.r),
                "x" => n(r.x),
                "tapwinding" => n(r.tapwinding as f64),
                "delay" => n(r.delay),
                "tapdelay" => n(r.tapdelay),
                "maxtapchange" => n(r.maxtapchange as f64),
                "reversible" => yes_no(r.reversible),
                "revvreg" => n(r.revvreg),
                "revband" => n(r.revband),
                "revr" => n(r.rev_r),
                "revx" => n(r.rev_x),
                "vlimit" => n(r.vlimit),
                "ptphase" => Value::Text(match r.ptphase {
                    ogg_dss::PHASE_MAX => "max".into(),
                    ogg_dss::PHASE_MIN => "min".into(),
                    p => p.to_string(),
                }),
                _ => panic!("no query for {q}"),
            }
        }
        "loadshape" => {
            let s = c.loadshapes.iter().find(|s| s.name == name).expect(q);
            match prop {
                "npts" => n(s.npts as f64),
                "mult" => list(s.mult.clone()),
                "qmult" => list(s.qmult.clone()),
                "interval" => n(s.interval_h),
                _ => panic!("no query for {q}"),
            }
        }
        "vsource" => {
            let v = c.vsources.iter().find(|v| v.name == name).expect(q);
            match prop {
                "basekv" => n(v.base_kv),
                "phases" => n(v.phases as f64),
                "pu" => n(v.pu),
                "angle" => n(v.angle_deg),
                "mvasc3" => n(v.mvasc3),
                "mvasc1" => n(v.mvasc1),
                "isc3" => n(v.isc3),
                "isc1" => n(v.isc1),
                "r1" => n(v.r1),
                "x1" => n(v.x1),
                "r0" => n(v.r0),
                "x0" => n(v.x0),
                _ => panic!("no query for {q}"),
            }
        }
        _ => panic!("no query for {q}"),
    }
}

/// Total series impedance and shunt capacitance (nF) of a line, n×n row-major.
fn line_totals(line: &ogg_dss::Line) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
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
    let per_length = match (line.impedance.units.metres(), line.length_units.metres()) {
        (Some(data), Some(length)) => length / data,
        _ => 1.0,
    };
    let total = |v: Vec<f64>| {
        v.into_iter()
            .map(|e| e * line.length * per_length)
            .collect()
    };
    (total(r), total(x), total(c))
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-9 * (scale + b.abs())
}

#[test]
fn small_scripts_match_opendss() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("data/opendss_semantics.json")).expect("fixture");
    assert!(check_fixture(&fixture) > 200);
}

/// 200 random scripts (seed 100 of `tests/data/generate_random.py`) against the engine.
#[test]
fn random_scripts_match_opendss() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("data/opendss_random.json")).expect("fixture");
    assert!(check_fixture(&fixture) > 2000);
}

/// `OGG_DSS_EXTRA_FIXTURE=file.json` checks another fixture of the same shape
/// (e.g. randomly generated scripts, `tests/data/generate_random.py`).
#[test]
fn extra_fixture_matches_opendss() {
    let Some(path) = std::env::var_os("OGG_DSS_EXTRA_FIXTURE") else {
        return;
    };
    let text = std::fs::read_to_string(&path).expect("extra fixture");
    let fixture: serde_json::Value = serde_json::from_str(&text).expect("json");
    let checked = check_fixture(&fixture);
    eprintln!("{checked} values checked");
}

fn check_fixture(fixture: &serde_json::Value) -> usize {
    let mut checked = 0;
    for case in fixture["cases"].as_array().expect("cases") {
        let title = case["title"].as_str().unwrap_or("");
        let script = case["script"].as_str().expect("script");
        let circuit = ogg_dss::read_str(script, "fixture.dss", &MemoryFiles::new())
            .unwrap_or_else(|e| panic!("{title}: {e}"));
        for (q, expected) in case["expect"].as_object().expect("expect") {
            let expected = expected.as_str().unwrap_or("");
            match query(&circuit, q) {
                Value::Numbers(ours) => {
                    let theirs = numbers(expected);
                    assert_eq!(
                        ours.len(),
                        theirs.len(),
                        "{title}: {q}: ours {ours:?}, OpenDSS {expected}"
                    );
                    for (a, b) in ours.iter().zip(&theirs) {
                        assert!(
                            close(*a, *b, 1e-12),
                            "{title}: {q}: ours {ours:?}, OpenDSS {expected}"
                        );
                    }
                }
                Value::Text(ours) => {
                    assert_eq!(ours.to_lowercase(), expected.to_lowercase(), "{title}: {q}")
                }
            }
            checked += 1;
        }
        for (name, totals) in case["line_totals"].as_object().expect("line_totals") {
            let line = circuit
                .lines
                .iter()
                .find(|l| &l.name == name)
                .unwrap_or_else(|| panic!("{title}: line {name}"));
            let (r, x, c) = line_totals(line);
            let get = |key: &str| -> Vec<f64> {
                totals[key]
                    .as_array()
                    .expect(key)
                    .iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect()
            };
            let scale = get("z_re")
                .iter()
                .chain(get("z_im").iter())
                .fold(0.0f64, |m, v| m.max(v.abs()));
            for (ours, key) in [(r, "z_re"), (x, "z_im")] {
                let theirs = get(key);
                for (a, b) in ours.iter().zip(&theirs) {
                    assert!(
                        (a - b).abs() <= 1e-7 * scale,
                        "{title}: line {name} {key}: ours {ours:?}, OpenDSS {theirs:?}"
                    );
                }
            }
            // C comes out of Y11 − Yseries, so for very short lines (switches) it is
            // below what the primitive Y resolves: allow 0.01 nF absolute.
            let theirs = get("c_total_nf");
            let cscale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in c.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 1e-6 * cscale + 0.01,
                    "{title}: line {name} C: ours {c:?}, OpenDSS {theirs:?}"
                );
            }
            checked += 1;
        }
    }
    checked
}
