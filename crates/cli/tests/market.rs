//! `ogg market clear` and `ogg run uc1` end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ogg(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ogg")).args(args).current_dir(cwd).output().expect("run ogg")
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ogg-market-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn column(csv: &str, row_key: &str, col: &str) -> f64 {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let c = header.iter().position(|h| *h == col).unwrap_or_else(|| panic!("no column {col} in {header:?}"));
    let row = lines.find(|l| l.split(',').next() == Some(row_key)).unwrap_or_else(|| panic!("no row {row_key}"));
    row.split(',').nth(c).unwrap().parse().unwrap()
}

/// Two buses, one congested line. Closed form: supply p = 2 + 0.02 q at `a`,
/// demand p = 10 − 0.05 q at `b`; unconstrained they meet at q = 114.3 kW, so the
/// 50 kW line binds: q = 50, price at a = 2 + 0.02·50 = 3, at b = 10 − 0.05·50 = 7.5.
#[test]
fn clear_two_bus_congested_line_matches_closed_form() {
    let dir = tmp("two-bus");
    std::fs::write(dir.join("net.csv"), "from_bus,to_bus,limit_kw\na,b,50\n").unwrap();
    std::fs::write(
        dir.join("orders.csv"),
        "id,bus,side,p_max,p_min,q_max,q_min\nseller,a,sell,4,2,100,0\nbuyer,b,buy,10,0,200,0\n",
    )
    .unwrap();
    let out = ogg(&["market", "clear", "--feeder", "net.csv", "--orders", "orders.csv", "--out", "o"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).lines().last().unwrap().contains("\"status\": \"cleared\""));
    let dispatch = std::fs::read_to_string(dir.join("o/dispatch.csv")).unwrap();
    assert!((column(&dispatch, "seller", "quantity_kw") - 50.0).abs() < 1e-6, "{dispatch}");
    assert!((column(&dispatch, "buyer", "quantity_kw") - 50.0).abs() < 1e-6, "{dispatch}");
    let buses = std::fs::read_to_string(dir.join("o/buses.csv")).unwrap();
    assert!((column(&buses, "a", "price") - 3.0).abs() < 1e-6, "{buses}");
    assert!((column(&buses, "b", "price") - 7.5).abs() < 1e-6, "{buses}");
}

#[test]
fn clear_rejects_a_bad_order_naming_file_and_order() {
    let dir = tmp("bad");
    std::fs::write(dir.join("net.csv"), "from_bus,to_bus,limit_kw\na,b,50\n").unwrap();
    std::fs::write(dir.join("orders.csv"), "id,bus,side,p_max,p_min,q_max,q_min\nbad1,a,sell,1,2,100,0\n").unwrap();
    let out = ogg(&["market", "clear", "--feeder", "net.csv", "--orders", "orders.csv"], &dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("orders.csv") && stderr.contains("bad1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The paper's use case 1: the price levels the scenario is calibrated to.
#[test]
fn run_uc1_reproduces_the_price_levels() {
    let dir = tmp("uc1");
    let out = ogg(&["run", "default", "--out", "uc1"], &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("4.30 (28)"), "{stdout}");
    assert!(stdout.contains("4.59 (1), 4.80 (3), 6.90 (24)"), "{stdout}");
    for f in ["agents.csv", "lines.csv", "sweep.csv", "summary.md", "fig7_price_vs_flexibility.svg"] {
        assert!(dir.join("uc1").join(f).is_file(), "{f}");
    }
}
