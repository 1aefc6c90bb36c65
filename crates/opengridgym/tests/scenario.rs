//! Scenario files: the built-ins, strict errors naming key/line/file, agent
//! expansion, and running a scenario to files.

use std::path::PathBuf;

use ogg_core::testing::RecordingGrid;
use ogg_core::testing::CallLog;
use opengridgym::scenario::{AgentKind, FeederSource, GridSpec, LoadTarget};
use opengridgym::{run_scenario, Builders, BuiltGrid, LoadInfo, Scenario, ScenarioError, Table};

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("opengridgym-scenario-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_text(text, "test.toml", None, "test")
}

fn parse_err(text: &str) -> ScenarioError {
    match parse(text) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e,
    }
}

const MINIMAL: &str = "[grid]\ntype = \"do-nothing\"\n";

#[test]
fn built_in_scenarios_parse() {
    assert_eq!(opengridgym::scenario::built_in_names(), ["ieee34-day", "do-nothing", "ieee13-data"]);
    let default = Scenario::built_in("ieee34-day").unwrap().unwrap();
    assert_eq!(default.name, "ieee34-day");
    assert_eq!((default.steps, default.step_s, default.seed), (24, 3600.0, Some(42)));
    assert_eq!(default.grid, GridSpec::Feeder(FeederSource::BuiltIn("ieee34".into())));
    match &default.agents[0].kind {
        AgentKind::ScriptedLoad { target, profile, noise, profile_interval_s, .. } => {
            assert_eq!(target, &LoadTarget::PerLoad { name_prefix: String::new() });
            assert_eq!(profile.len(), 24);
            assert_eq!(*noise, 0.05);
            assert_eq!(*profile_interval_s, Some(3600.0));
        }
        other => panic!("{other:?}"),
    }
    let nothing = Scenario::built_in("do-nothing").unwrap().unwrap();
    assert_eq!(nothing.grid, GridSpec::DoNothing);
    assert_eq!(nothing.origin, "built-in scenario 'do-nothing'");
    assert!(Scenario::built_in("nope").is_none());

    // The embedded text is the file shipped at the repository root.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    for (name, text) in opengridgym::scenario::BUILT_IN {
        assert_eq!(std::fs::read_to_string(root.join(format!("{name}.toml"))).unwrap(), *text);
    }
}

#[test]
fn defaults_of_a_minimal_scenario() {
    let s = parse(MINIMAL).unwrap();
    assert_eq!(s.name, "test");
    assert_eq!((s.steps, s.step_s, s.seed, s.max_market_rounds, s.record), (24, 3600.0, None, 100, true));
    assert!(s.agents.is_empty());
    assert!(s.output.csv);
    assert_eq!(s.output_dir(), PathBuf::from("results/test"));
}

#[test]
fn unknown_keys_are_errors_naming_key_and_line() {
    let e = parse_err("steps = 3\nstepz = 4\n[grid]\ntype = \"do-nothing\"\n");
    assert_eq!((e.file.as_str(), e.line, e.column), ("test.toml", Some(2), Some(1)));
    assert!(e.message.contains("unknown key `stepz` at the top level"), "{e}");
    assert!(e.message.contains("steps") && e.message.contains("max_market_rounds"), "lists known keys: {e}");
    assert!(e.to_string().starts_with("test.toml:2:1: unknown key `stepz`"), "{e}");

    let e = parse_err("[grid]\ntype = \"feeder\"\nfeder = \"ieee34\"\n");
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("unknown key `grid.feder` in [grid]"), "{e}");

    let e = parse_err(&format!(
        "{MINIMAL}\n[[agents]]\ntype = \"do-nothing\"\n\n[[agents]]\ntype = \"scripted-load\"\nelement = \"l1\"\nprofile = [1]\nprofil = [2]\n"
    ));
    assert_eq!(e.line, Some(11));
    assert!(e.message.contains("unknown key `agents[1].profil` in [agents[1]]"), "{e}");

    let e = parse_err(&format!("{MINIMAL}[output]\ncsv = true\nformat = \"x\"\n"));
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("`output.format`"), "{e}");

    // A key that belongs to another agent type is unknown here.
    let e = parse_err(&format!("{MINIMAL}[[agents]]\ntype = \"do-nothing\"\nnoise = 0.1\n"));
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("unknown key `agents[0].noise`"), "{e}");
}

#[test]
fn wrong_types_are_errors_naming_key_and_line() {
    let e = parse_err(&format!("steps = \"24\"\n{MINIMAL}"));
    assert_eq!((e.line, e.column), (Some(1), Some(9)));
    assert_eq!(e.message, "`steps` must be a non-negative integer, found string \"24\"");

    let e = parse_err(&format!("seed = -1\n{MINIMAL}"));
    assert!(e.message.contains("`seed` must be a non-negative integer, found integer -1"), "{e}");

    let e = parse_err(&format!("step_s = true\n{MINIMAL}"));
    assert!(e.message.contains("`step_s` must be a number, found boolean true"), "{e}");

    let e = parse_err("[grid]\ntype = 34\n");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("`grid.type` must be a string, found integer 34"), "{e}");

    let e = parse_err("grid = 3\n");
    assert!(e.message.contains("`grid` must be a table"), "{e}");

    let e = parse_err(&format!("{MINIMAL}[[agents]]\ntype = \"scripted-load\"\nelement = \"x\"\nprofile = [1.0,\n  \"high\"]\n"));
    assert_eq!((e.line, e.column), (Some(7), Some(3)));
    assert!(e.message.contains("`agents[0].profile[1]` must be a number, found string \"high\""), "{e}");

    let e = parse_err(&format!("{MINIMAL}[[agents]]\ntype = \"do-nothing\"\ncount = 2.5\n"));
    assert!(e.message.contains("`agents[0].count` must be a non-negative integer, found float 2.5"), "{e}");
}

#[test]
fn bad_values_and_syntax_are_located() {
    let e = parse_err("steps = \n");
    assert_eq!(e.line, Some(1));
    assert!(e.message.starts_with("invalid TOML"), "{e}");

    let e = parse_err("[grid]\ntype = \"magic\"\n");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("unknown grid type `magic`"), "{e}");

    let e = parse_err("name = \"x\"\n");
    assert!(e.message.contains("missing [grid] table"), "{e}");

    let e = parse_err("[grid]\ntype = \"feeder\"\n");
    assert!(e.message.contains("needs `feeder"), "{e}");
    assert_eq!(e.line, Some(1));

    let e = parse_err(&format!("{MINIMAL}[[agents]]\ntype = \"scripted-load\"\nelement = \"x\"\nprofile = [1]\nnoise = -0.5\n"));
    assert_eq!(e.line, Some(7));
    assert!(e.message.contains("`agents[0].noise` must be >= 0"), "{e}");

    let e = parse_err(&format!("{MINIMAL}[[agents]]\ntype = \"robot\"\n"));
    assert!(e.message.contains("unknown agent type `robot` in `agents[0].type`"), "{e}");

    let e = parse_err(&format!("{MINIMAL}[[agents]]\ntype = \"scripted-load\"\nprofile = [1]\n"));
    assert!(e.message.contains("needs `element = \"LOAD\"` or `per_load = true`"), "{e}");
    assert_eq!(e.line, Some(3));
}

#[test]
fn missing_files_are_named() {
    let dir = tmp("missing");
    let path = dir.join("s.toml");
    std::fs::write(&path, "[grid]\ntype = \"feeder\"\npath = \"feeders/none.dss\"\n").unwrap();
    let e = Scenario::from_file(&path).unwrap_err();
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(e.line, Some(3));
    let expected = dir.join("feeders/none.dss");
    assert!(e.message.contains(&format!("file not found: {}", expected.display())), "{e}");

    std::fs::write(
        &path,
        "[grid]\ntype = \"do-nothing\"\n[[agents]]\ntype = \"scripted-load\"\nelement = \"x\"\nprofile_file = \"day.csv\"\n",
    )
    .unwrap();
    let e = Scenario::from_file(&path).unwrap_err();
    assert_eq!(e.line, Some(6));
    assert!(e.message.contains("`agents[0].profile_file`: file not found") && e.message.contains("day.csv"), "{e}");

    // With the file present, it is read relative to the scenario.
    std::fs::write(dir.join("day.csv"), "# hourly\n0.5\n0.75, 1.0\n").unwrap();
    let s = Scenario::from_file(&path).unwrap();
    match &s.agents[0].kind {
        AgentKind::ScriptedLoad { profile, .. } => assert_eq!(profile, &[0.5, 0.75, 1.0]),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.name, "s");

    let e = Scenario::load(dir.join("absent.toml").to_str().unwrap()).unwrap_err();
    assert!(e.to_string().contains("absent.toml") && e.message.contains("not found"), "{e}");
    let e = Scenario::load("no-such-scenario").unwrap_err();
    assert!(e.message.contains("built-ins: ieee34-day, do-nothing"), "{e}");
}

/// A stand-in for the feeder grid: a recording grid with three loads.
fn fake_feeder(source: &FeederSource, step_s: f64) -> Result<BuiltGrid, String> {
    if source != &FeederSource::BuiltIn("ieee13".into()) {
        return Err(format!("unknown feeder {source:?}"));
    }
    Ok(BuiltGrid {
        grid: Box::new(RecordingGrid::new(&CallLog::new(), step_s)),
        loads: ["l1", "l2", "l3"]
            .iter()
            .enumerate()
            .map(|(i, n)| LoadInfo { name: n.to_string(), bus: Some(format!("b{i}")) })
            .collect(),
    })
}

const FEEDER_SCENARIO: &str = r#"
steps = 4
step_s = 900
seed = 3
[grid]
type = "feeder"
feeder = "ieee13"
[[agents]]
type = "scripted-load"
per_load = true
name_prefix = "auto-"
profile = [1.0, 0.5]
noise = 0.1
[[agents]]
type = "scripted-load"
element = "Load.L2"
profile = [2.0]
[[agents]]
type = "do-nothing"
count = 2
"#;

#[test]
fn per_load_agents_come_from_the_grid_loads() {
    let builders = Builders { feeder: fake_feeder };
    let s = parse(FEEDER_SCENARIO).unwrap();
    let mut env = s.build_with(&builders).unwrap();
    let names: Vec<(&str, Option<&str>)> = env.agents().iter().map(|a| (a.name(), a.bus())).collect();
    assert_eq!(
        names,
        [
            ("auto-l1", Some("b0")),
            ("auto-l2", Some("b1")),
            ("auto-l3", Some("b2")),
            ("Load.L2", Some("b1")),
            ("agent0", None),
            ("agent1", None)
        ]
    );
    env.reset(s.seed).unwrap();
    env.run(s.steps).unwrap();
    // RecordingGrid sums the ScaleLoad multipliers: 3 noisy agents around the
    // profile (1.0, 0.5, 1.0, 0.5) plus the constant 2.0.
    let totals = &env.recorder().grid().total_power_kw;
    for (t, total) in totals.iter().enumerate() {
        let base = if t % 2 == 0 { 1.0 } else { 0.5 };
        assert!((total - 2.0 - 3.0 * base).abs() <= 3.0 * 0.1 * base + 1e-12, "step {t}: {total}");
        assert_ne!(*total, 2.0 + 3.0 * base, "noise is applied");
    }
    assert_eq!(env.recorder().grid().time_s, vec![0.0, 900.0, 1800.0, 2700.0]);

    // A builder's error is reported at the [grid] table.
    let failing = Builders { feeder: |_, _| Err("no such thing".into()) };
    let e = s.build_with(&failing).err().unwrap();
    assert_eq!(e.line, Some(5));
    assert_eq!(e.message, "grid: no such thing");
}

#[test]
fn feeder_scenarios_run_on_the_distribution_grid() {
    let text = r#"
steps = 3
seed = 1
[grid]
type = "feeder"
feeder = "ieee13"
[[agents]]
type = "scripted-load"
per_load = true
name_prefix = "agent-"
profile = [1.0, 0.5, 1.2]
"#;
    let s = parse(text).unwrap();
    let mut env = s.build().unwrap();
    let loads: Vec<&str> = env.agents().iter().map(|a| a.name()).collect();
    assert_eq!(loads.len(), 15, "IEEE 13 has 15 loads: {loads:?}");
    assert!(loads.contains(&"agent-671") && loads.contains(&"agent-634a"), "{loads:?}");
    assert_eq!(env.agent("agent-671").unwrap().bus(), Some("671"));
    env.reset(s.seed).unwrap();
    env.run(3).unwrap();
    let grid = env.recorder().grid();
    assert_eq!(grid.converged, vec![true; 3]);
    // Demand follows the profile: step 1 (×0.5) draws less than step 0, step 2 (×1.2) more.
    let p = &grid.total_power_kw;
    assert!(p[1] < 0.6 * p[0] && p[2] > 1.1 * p[0], "{p:?}");
    assert!(grid.min_voltage_pu[1] > grid.min_voltage_pu[0], "lighter load, higher voltages");

    let e = parse_err("[grid]\ntype = \"feeder\"\nfeeder = \"ieee99\"\n");
    assert_eq!((e.line, e.column), (Some(3), Some(10)));
    assert!(e.message.contains("unknown built-in feeder `ieee99` in `grid.feeder` (built-in: ieee13"), "{e}");
}

#[test]
fn the_default_scenario_runs_one_agent_per_ieee34_load() {
    let mut s = Scenario::built_in("ieee34-day").unwrap().unwrap();
    s.steps = 2;
    let summary = run_scenario(&s, None, &mut |_| {}).unwrap();
    assert_eq!(summary.steps, 2);
    assert_eq!(summary.steps_converged, 2);
    assert!(summary.agents > 20, "{} agents", summary.agents);
}

#[test]
fn build_errors_point_at_the_agent_entry() {
    let builders = Builders { feeder: fake_feeder };
    let text = FEEDER_SCENARIO.replace("element = \"Load.L2\"", "element = \"l9\"");
    let e = parse(&text).unwrap().build_with(&builders).err().unwrap();
    assert_eq!(e.line, Some(14));
    assert!(e.message.contains("the grid has no load `l9` (loads: l1, l2, l3)"), "{e}");

    let e = parse(&format!("{MINIMAL}[[agents]]\ntype = \"scripted-load\"\nper_load = true\nprofile = [1]\n"))
        .unwrap()
        .build()
        .err()
        .unwrap();
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("needs a grid with loads"), "{e}");

    let e = parse(&format!(
        "{MINIMAL}[[agents]]\ntype = \"do-nothing\"\nname = \"x\"\n[[agents]]\ntype = \"do-nothing\"\nname = \"x\"\n"
    ))
    .unwrap()
    .build()
    .err()
    .unwrap();
    assert_eq!(e.line, Some(6));
    assert!(e.message.contains("agent name `x` is used twice (first defined at line 3)"), "{e}");
}

#[test]
fn running_a_scenario_writes_records_and_a_summary() {
    let dir = tmp("run");
    let mut s = Scenario::built_in("do-nothing").unwrap().unwrap();
    s.steps = 5;
    let mut seen = Vec::new();
    let summary = run_scenario(&s, Some(&dir), &mut |info| seen.push(info.grid_step)).unwrap();
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    assert_eq!((summary.steps, summary.agents, summary.records_rows, summary.grid_rows), (5, 10, 50, 5));
    assert_eq!(summary.market_rounds, 5);
    assert_eq!(summary.final_time_s, 5.0 * 3600.0);
    assert!(dir.join("records.csv").is_file() && dir.join("grid.csv").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["scenario"], "do-nothing");
    assert_eq!(json["steps"], 5);
    assert_eq!(json["seed"], 0);
    assert!(json["error"].is_null());
    let records = std::fs::read_to_string(dir.join("records.csv")).unwrap();
    assert_eq!(records.lines().count(), 51);
    assert!(records.lines().nth(1).unwrap().starts_with("0.0,0,0,agent0,"));
    #[cfg(feature = "parquet")]
    assert!(dir.join("records.parquet").is_file());
}

#[test]
fn the_same_scenario_seed_gives_identical_files() {
    let builders = Builders { feeder: fake_feeder };
    let s = parse(FEEDER_SCENARIO).unwrap();
    let csv = |seed: u64| {
        let mut env = s.build_with(&builders).unwrap();
        env.reset(Some(seed)).unwrap();
        env.run(s.steps).unwrap();
        let mut out = Vec::new();
        env.recorder().records().write_csv_to(&mut out).unwrap();
        out
    };
    assert_eq!(csv(3), csv(3));
    assert_ne!(csv(3), csv(4));
}
