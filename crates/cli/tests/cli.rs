//! The `ogg` binary end to end: help, scenarios, runs, outputs, errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ogg(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ogg")).args(args).current_dir(cwd).output().expect("run ogg")
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ogg-cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An error run: status 2, exactly one line on stderr starting with `error: `, no panic.
fn assert_one_line_error(output: &Output) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    stderr
}

#[test]
fn help_explains_the_commands_with_examples() {
    let dir = tmp("help");
    let out = ogg(&["--help"], &dir);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in ["run", "scenarios", "Examples:", "ogg run do-nothing"] {
        assert!(help.contains(needle), "`{needle}` in {help}");
    }
    let out = ogg(&["run", "--help"], &dir);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in ["--out", "--seed", "--steps", "--quiet", "records.csv", "summary.json", "Examples:"] {
        assert!(help.contains(needle), "`{needle}` in {help}");
    }
    let out = ogg(&["--version"], &dir);
    assert!(text(&out.stdout).starts_with("ogg "));
}

#[test]
fn scenarios_lists_the_built_ins() {
    let out = ogg(&["scenarios"], &tmp("list"));
    assert!(out.status.success());
    let listing = text(&out.stdout);
    let names: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["ieee34-day", "do-nothing", "ieee13-data", "uc1", "uc2", "uc3"]);
    assert!(listing.contains("IEEE 34"), "{listing}");
}

#[test]
fn run_writes_records_grid_parquet_and_summary() {
    let dir = tmp("run");
    let out = ogg(&["run", "do-nothing", "--steps", "3", "--seed", "9"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("scenario 'do-nothing': 3 grid steps"), "{stdout}");
    let results = dir.join("results/do-nothing");
    for file in ["records.csv", "grid.csv", "records.parquet", "grid.parquet", "summary.json"] {
        assert!(results.join(file).is_file(), "{file}");
    }
    let records = std::fs::read_to_string(results.join("records.csv")).unwrap();
    assert_eq!(records.lines().count(), 1 + 3 * 10);
    assert!(records.starts_with("time_s,grid_step,market_round,agent,bus,price,quantity,reward\n"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["steps"], 3);
    assert_eq!(summary["seed"], 9);
    assert_eq!(summary["agents"], 10);
    assert_eq!(summary["records_rows"], 30);
}

#[test]
fn data_driven_scenario_writes_monitor_columns() {
    let dir = tmp("data");
    let out = ogg(&["run", "ieee13-data", "--quiet"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let grid = std::fs::read_to_string(dir.join("results/ieee13-data/grid.csv")).unwrap();
    assert_eq!(grid.lines().count(), 1 + 24);
    let header: Vec<&str> = grid.lines().next().unwrap().split(',').collect();
    for column in ["v.675", "v.sourcebus", "Line.650632.kw", "Line.650632.loading", "Transformer.xfm1.amps"] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    // A scenario file of your own reads its data relative to itself; bad data is one located line.
    std::fs::create_dir_all(dir.join("my/data")).unwrap();
    std::fs::write(dir.join("my/data/l.csv"), "hour,kw\n0,100\n1,abc\n").unwrap();
    std::fs::write(
        dir.join("my/s.toml"),
        "steps = 2\n[grid]\ntype = \"feeder\"\nfeeder = \"ieee13\"\n[[timeseries]]\nfile = \"data/l.csv\"\ncolumn = \"kw\"\n\
         elements = [\"Load.671\"]\nquantity = \"kw\"\n",
    )
    .unwrap();
    let err = assert_one_line_error(&ogg(&["run", "my/s.toml"], &dir));
    assert!(err.contains("s.toml:6:8: ") && err.contains("l.csv:3: column `kw`: `abc` is not a finite number"), "{err}");
}

const NOISY: &str = r#"
name = "noisy"
steps = 6
step_s = 900
[grid]
type = "do-nothing"
[[agents]]
type = "scripted-load"
element = "house"
profile = [1.0, 2.0, 3.0]
noise = 0.3
"#;

#[test]
fn same_seed_same_bytes_quiet_and_out() {
    let dir = tmp("seed");
    std::fs::write(dir.join("noisy.toml"), NOISY).unwrap();
    let run = |seed: &str, out: &str| {
        let o = ogg(&["run", "noisy.toml", "--seed", seed, "--out", out, "--quiet"], &dir);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "--quiet prints nothing");
        std::fs::read(dir.join(out).join("records.csv")).unwrap()
    };
    let a = run("1", "a");
    let b = run("1", "b");
    let c = run("2", "c");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(text(&a).contains("load_multiplier"));
}

#[test]
fn scenario_errors_are_one_line_with_file_and_line() {
    let dir = tmp("errors");
    std::fs::write(dir.join("typo.toml"), "steps = 2\n[grid]\ntype = \"do-nothing\"\nstep = 3\n").unwrap();
    let err = assert_one_line_error(&ogg(&["run", "typo.toml"], &dir));
    assert!(err.contains("typo.toml:4:1: unknown key `grid.step` in [grid]"), "{err}");

    std::fs::write(dir.join("type.toml"), "steps = \"many\"\n[grid]\ntype = \"do-nothing\"\n").unwrap();
    let err = assert_one_line_error(&ogg(&["run", "type.toml"], &dir));
    assert!(err.contains("type.toml:1:9: `steps` must be a non-negative integer"), "{err}");

    std::fs::write(dir.join("file.toml"), "[grid]\ntype = \"feeder\"\npath = \"gone.dss\"\n").unwrap();
    let err = assert_one_line_error(&ogg(&["run", "file.toml"], &dir));
    assert!(err.contains("file.toml:3:8:") && err.contains("file not found") && err.contains("gone.dss"), "{err}");

    let err = assert_one_line_error(&ogg(&["run", "absent.toml"], &dir));
    assert!(err.contains("absent.toml: scenario file not found"), "{err}");

    let err = assert_one_line_error(&ogg(&["run", "no-such-name"], &dir));
    assert!(err.contains("built-ins: ieee34-day, do-nothing, ieee13-data, uc1, default, uc2, uc3)"), "{err}");

    std::fs::write(dir.join("bad.toml"), "[grid\ntype = 1\n").unwrap();
    let err = assert_one_line_error(&ogg(&["run", "bad.toml"], &dir));
    assert!(err.contains("bad.toml:1:") && err.contains("invalid TOML"), "{err}");
}

#[test]
fn usage_errors_exit_with_status_2() {
    let dir = tmp("usage");
    let out = ogg(&["run"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let out = ogg(&["run", "do-nothing", "--steps", "-3"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let out = ogg(&["frobnicate"], &dir);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unwritable_output_is_a_one_line_error() {
    let dir = tmp("unwritable");
    std::fs::write(dir.join("occupied"), "a file where the folder should go").unwrap();
    let err = assert_one_line_error(&ogg(&["run", "do-nothing", "--out", "occupied", "--quiet"], &dir));
    assert!(err.contains("occupied"), "{err}");
}

#[test]
fn powerflow_solves_a_built_in_feeder_and_writes_its_files() {
    let dir = tmp("powerflow");
    let out = ogg(&["powerflow", "ieee13", "--tolerance", "1e-8", "--out", "pf"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("converged"), "{}", text(&out.stdout));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("pf/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["converged"], true);
    assert_eq!(summary["tolerance"], 1e-8);
    let voltages = std::fs::read_to_string(dir.join("pf/voltages.csv")).unwrap();
    assert!(voltages.starts_with("bus,node,v_re,v_im"), "{voltages}");
    assert!(voltages.lines().count() > 30);

    // Default output folder.
    let out = ogg(&["powerflow", "ieee13", "--quiet"], &dir);
    assert!(out.status.success() && out.stdout.is_empty(), "{}", text(&out.stderr));
    assert!(dir.join("results/powerflow/ieee13/voltages.csv").is_file());

    let help = ogg(&["powerflow", "--help"], &dir);
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("--tolerance") && text(&help.stdout).contains("Examples:"));
    assert!(text(&ogg(&["--help"], &dir).stdout).contains("powerflow"));
}

#[test]
fn powerflow_errors_are_one_line() {
    let dir = tmp("powerflow-errors");
    let err = assert_one_line_error(&ogg(&["powerflow", "ieee99"], &dir));
    assert!(err.contains("ieee99") && err.contains("built-in"), "{err}");
    let err = assert_one_line_error(&ogg(&["powerflow", "ieee13", "--tolerance", "-1"], &dir));
    assert!(err.contains("--tolerance must be a positive number"), "{err}");
    std::fs::write(dir.join("broken.dss"), "New Circuit.x\nNew Line.l1 bus1=a bus2=b length=oops\n").unwrap();
    let out = ogg(&["powerflow", "broken.dss"], &dir);
    assert_one_line_error(&out);
}

#[test]
fn the_default_scenario_runs_on_the_ieee34_feeder() {
    let dir = tmp("ieee34-day");
    let out = ogg(&["run", "ieee34-day", "--steps", "2", "--out", "d"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let grid = std::fs::read_to_string(dir.join("d/grid.csv")).unwrap();
    assert_eq!(grid.lines().count(), 3);
    assert!(grid.lines().next().unwrap().contains("tap."), "regulator taps recorded: {grid}");
}
