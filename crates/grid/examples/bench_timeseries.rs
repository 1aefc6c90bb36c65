//! Time-series timings, printed as JSON (run with `--release`):
//!
//! ```text
//! cargo run --release -p ogg-grid --example bench_timeseries -- [FEEDER ...] [--steps 24] [--stepsize 3600] [--mode daily|yearly|duty]
//! ```
//!
//! For each feeder (default ieee34mod2) it measures the median wall time of
//! a daily run from a freshly compiled circuit (`daily_ms`: shape lookup,
//! then each step's load update, solve and control iterations; compile not
//! included; the script's own `Solve` commands run untimed first, as
//! OpenDSS's `compile` runs them), as `Set mode=daily number=N stepsize=S` +
//! `Solve` in OpenDSS;
//! `solve_only_ms` is the same without the per-step summaries (source power,
//! losses, voltage range), which OpenDSS's daily `Solve` does not compute.
//! `OGG_BENCH_TRACE=1` prints each step's iteration counts; `--samples N`
//! times exactly N runs of each kind (`--samples 1` under
//! `valgrind --tool=callgrind` gives repeatable instruction counts).

use std::time::Instant;

/// The product's allocator (as the `ogg` binary and the Python extension use,
/// and `bench_powerflow`): mimalloc. A tap move's transformer Yprim, the
/// memo of it and the step results allocate inside the timed region.
/// (`--features system-allocator`: the system's, for comparison.)
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ogg_dss::model::SolutionMode;
use ogg_grid::{feeders, PowerFlow, TimeSeries};

/// Median ms of a daily run from a fresh copy of `compiled`.
fn time_runs(
    compiled: &PowerFlow,
    circuit: &ogg_dss::model::Circuit,
    mode: SolutionMode,
    steps: usize,
    stepsize: f64,
    summaries: bool,
    fixed_samples: Option<usize>,
) -> (f64, usize) {
    let mut samples = Vec::new();
    let start = Instant::now();
    // At least 20 runs (3 for long ones), about two seconds in all.
    let min_samples = fixed_samples.unwrap_or(if steps > 1000 { 3 } else { 20 });
    let max_samples = fixed_samples.unwrap_or(2000);
    while samples.len() < min_samples || (start.elapsed().as_secs_f64() < 2.0 && samples.len() < max_samples) {
        let mut pf = compiled.clone();
        let t = Instant::now();
        let mut ts = TimeSeries::new(circuit, &pf).expect("shapes");
        ts.mode = mode;
        ts.stepsize_s = stepsize;
        ts.summaries = summaries;
        let res = ts.run(&mut pf, steps).expect("run");
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(res.iter().all(|s| s.report.converged));
        if samples.len() == 1 && summaries && std::env::var_os("OGG_BENCH_TRACE").is_some() {
            let counts: Vec<(usize, usize)> = res.iter().map(|s| (s.report.iterations, s.report.control_iterations)).collect();
            eprintln!("(iterations, control iterations) per step: {counts:?}");
        }
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (samples[samples.len() / 2], samples.len())
}

fn main() {
    let mut names = Vec::new();
    let mut steps = 24usize;
    let mut stepsize = 3600.0;
    let mut mode = SolutionMode::Daily;
    let mut fixed_samples = None;
    let mut solve_only_runs = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--steps" => steps = args.next().and_then(|s| s.parse().ok()).expect("--steps N"),
            "--samples" => fixed_samples = Some(args.next().and_then(|s| s.parse().ok()).filter(|&n| n > 0).expect("--samples N (N ≥ 1)")),
            "--solve-only" => solve_only_runs = true,
            "--stepsize" => stepsize = args.next().and_then(|s| s.parse().ok()).expect("--stepsize S"),
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("daily") => SolutionMode::Daily,
                    Some("yearly") => SolutionMode::Yearly,
                    Some("duty") => SolutionMode::Duty,
                    other => panic!("--mode daily|yearly|duty, got {other:?}"),
                }
            }
            _ => names.push(a),
        }
    }
    if names.is_empty() {
        names.push("ieee34mod2".to_string());
    }
    let mut rows = Vec::new();
    for name in &names {
        let circuit = feeders::circuit_from(name).expect("feeder");
        let mut compiled = PowerFlow::new(&circuit).expect("compile");
        // OpenDSS's `compile` runs the master's own `Solve` commands (IEEE 13
        // and 37 end with one), untimed, and its daily run starts from that
        // solution (taps set): do the same here.
        for _ in 0..circuit.solve_count {
            compiled.solve().expect("the script's Solve");
        }
        let with_summaries = (!solve_only_runs).then(|| time_runs(&compiled, &circuit, mode, steps, stepsize, true, fixed_samples));
        let (solve_only, n) = time_runs(&compiled, &circuit, mode, steps, stepsize, false, fixed_samples);
        let daily = with_summaries.map_or("null".to_string(), |(ms, _)| format!("{ms:.4}"));
        rows.push(format!(
            "{{\"feeder\": \"{name}\", \"steps\": {steps}, \"stepsize_s\": {stepsize}, \"daily_ms\": {daily}, \"solve_only_ms\": {solve_only:.4}, \"samples\": {n}}}"
        ));
    }
    println!("[{}]", rows.join(", "));
}
