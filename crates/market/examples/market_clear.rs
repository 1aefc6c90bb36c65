//! Clear one order book like `ogg market clear`, optionally timing repeated
//! clearings. Used by tests/python/test_market_vs_cvxpy.py and
//! bench/market_vs_cvxpy.py until the `ogg` CLI has the subcommand.
//!
//! ```text
//! cargo run --release -p ogg-market --example market_clear -- \
//!     --feeder FEEDER --orders orders.csv [--limits limits.csv] --out DIR \
//!     [--algorithm tree|clarabel] [--settlement nodal|rent_to_buyers] [--repeat N]
//! ```
//! Prints one JSON object: status, welfare, KKT residuals, and with `--repeat`
//! the median seconds per clearing (workspaces reused, as in a market loop)
//! and the peak resident memory.

use std::path::PathBuf;
use std::time::Instant;

use ogg_market::auction::{place, Algorithm, Auctioneer, ClearOptions, Status};
use ogg_market::cli;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn run() -> Result<(), String> {
    let mut feeder = None;
    let mut orders = None;
    let mut limits = None;
    let mut out = None;
    let mut options = ClearOptions::default();
    let mut repeat = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--feeder" => feeder = Some(value()?),
            "--orders" => orders = Some(PathBuf::from(value()?)),
            "--limits" => limits = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--algorithm" => {
                options.algorithm = match value()?.as_str() {
                    "tree" => Algorithm::Tree,
                    "clarabel" => Algorithm::Clarabel,
                    other => return Err(format!("--algorithm tree|clarabel, got {other}")),
                }
            }
            "--settlement" => options.settlement = value()?.parse()?,
            "--repeat" => repeat = value()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let feeder = feeder.ok_or("--feeder is required")?;
    let orders = orders.ok_or("--orders is required")?;
    let out = out.ok_or("--out is required")?;
    let report = cli::clear_with(&feeder, &orders, limits.as_deref(), &out, options).map_err(|e| e.to_string())?;
    let (status, reason) = match &report.status {
        Status::Cleared => ("cleared", String::new()),
        Status::Infeasible { reason } => ("infeasible", reason.clone()),
    };
    let mut timing = String::new();
    if repeat > 0 {
        // Re-clear the same book `repeat` times with one engine (workspaces and,
        // for Clarabel, the factorisation structure reused).
        let mut net = cli::load_network(&feeder).map_err(|e| e.to_string())?;
        if let Some(p) = &limits {
            for (_, l) in cli::read_limits(p).map_err(|e| e.to_string())? {
                l.apply(&mut net).map_err(|e| e.to_string())?;
            }
        }
        let book: Vec<_> = cli::read_orders(&orders).map_err(|e| e.to_string())?.into_iter().map(|(_, o)| o).collect();
        let placed = place(&net, &book).map_err(|e| e.to_string())?;
        let mut engine = Auctioneer::new(options);
        let first = Instant::now();
        engine.clear(&net, &placed).map_err(|e| e.to_string())?;
        let first_s = first.elapsed().as_secs_f64();
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let t = Instant::now();
            let c = engine.clear(&net, &placed).map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_secs_f64());
            std::hint::black_box(c);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        timing = format!(
            ", \"first_s\": {first_s:e}, \"median_s\": {:e}, \"min_s\": {:e}, \"repeat\": {repeat}",
            times[times.len() / 2],
            times[0]
        );
    }
    println!(
        "{{\"status\": \"{status}\", \"reason\": {:?}, \"buses\": {}, \"orders\": {}, \"welfare\": {:e}, \"rent\": {:e}, \"congested_lines\": {}, \"kkt_max\": {:e}, \"clear_s\": {:e}, \"peak_rss_mb\": {:.1}{timing}}}",
        reason,
        report.buses,
        report.orders,
        report.welfare,
        report.congestion_rent,
        report.congested_lines,
        report.kkt.max(),
        report.clear_seconds,
        peak_rss_mb()
    );
    Ok(())
}
