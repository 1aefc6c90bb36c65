//! Prints a digest of the node voltages' bits after the first solve, with the iteration count, for
//! each feeder given (built-in name, path, or `syntheticN`): compile changes that must keep the
//! power flow bit for bit are checked by comparing the output of the binaries before and after.
//!
//! ```text
//! cargo run --release -p ogg-grid --example voltage_digest -- ieee13 synthetic1000 path/to/Master.dss
//! cargo run --release -p ogg-grid --example voltage_digest -- --series daily 96 900 ieee34 ieee34mod2
//! ```
//!
//! `--series MODE STEPS STEPSIZE_S` (for the feeders after it) digests a time series instead, as
//! `bench_timeseries` runs it (the script's own solves first): every step's voltages and its
//! iteration and control-iteration counts.
//!
//! With `OGG_DIGEST_DUMP=DIR` each feeder's node voltages in pu (per step, for a series: little-endian
//! f64 pairs, `DIR/NAME.bin`) and a series' iteration counts (`DIR/NAME.counts`) are written too, for
//! comparing two binaries whose bits differ (`bench/compare_voltage_dumps.py`).

use ogg_dss::model::SolutionMode;
use ogg_grid::{feeders, synthetic, GridError, PowerFlow, TimeSeries};

/// FNV-1a over the bits of every node voltage (real, then imaginary part).
fn digest(pf: &PowerFlow) -> u64 {
    digest_into(0xcbf2_9ce4_8422_2325, pf.node_voltages().iter().flat_map(|v| [v.re.to_bits(), v.im.to_bits()]))
}

fn digest_into(mut h: u64, words: impl IntoIterator<Item = u64>) -> u64 {
    for bits in words {
        h ^= bits;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A time series of `steps` steps: one digest over every step's voltages and counts.
fn run_series(feeder: &str, mode: SolutionMode, steps: usize, stepsize_s: f64) -> Result<String, String> {
    let circuit = feeders::circuit_from(feeder).map_err(|e| e.to_string())?;
    let mut pf = PowerFlow::new(&circuit).map_err(|e: GridError| e.to_string())?;
    for _ in 0..circuit.solve_count {
        pf.solve().map_err(|e| e.to_string())?;
    }
    let mut ts = TimeSeries::new(&circuit, &pf).map_err(|e| e.to_string())?;
    ts.mode = mode;
    ts.stepsize_s = stepsize_s;
    ts.summaries = false;
    let (mut h, mut iterations) = (0xcbf2_9ce4_8422_2325u64, 0);
    let run = format!("_{mode:?}_{steps}_{stepsize_s}");
    let dumping = dump_path(feeder, &run, "bin").is_some();
    let (mut volts, mut counts) = (Vec::new(), String::new());
    for _ in 0..steps {
        let step = ts.advance_and_solve(&mut pf).map_err(|e| e.to_string())?;
        iterations += step.report.iterations;
        h = digest_into(h, [step.report.iterations as u64, step.report.control_iterations as u64]);
        h = digest_into(h, pf.node_voltages().iter().flat_map(|v| [v.re.to_bits(), v.im.to_bits()]));
        if dumping {
            dump_pu(&pf, &mut volts);
            counts.push_str(&format!("{} {}\n", step.report.iterations, step.report.control_iterations));
        }
    }
    write_dump(dump_path(feeder, &run, "bin"), &volts)?;
    write_dump(dump_path(feeder, &run, "counts"), counts.as_bytes())?;
    Ok(format!("{feeder} {mode:?} {steps} x {stepsize_s} s: {iterations} iterations, digest {h:016x}"))
}

/// The dump's file stem for a feeder (its name or path, flattened) and run.
fn dump_path(feeder: &str, run: &str, ext: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("OGG_DIGEST_DUMP")?;
    let stem: String = format!("{feeder}{run}").chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    Some(std::path::Path::new(&dir).join(format!("{stem}.{ext}")))
}

/// Appends the node voltages in pu (a node without a base: in volts).
fn dump_pu(pf: &PowerFlow, out: &mut Vec<u8>) {
    for nv in pf.voltage_table() {
        let base = if nv.kv_base_ln > 0.0 { nv.kv_base_ln * 1000.0 } else { 1.0 };
        out.extend_from_slice(&(nv.v.re / base).to_le_bytes());
        out.extend_from_slice(&(nv.v.im / base).to_le_bytes());
    }
}

fn write_dump(path: Option<std::path::PathBuf>, bytes: &[u8]) -> Result<(), String> {
    match path {
        Some(p) => std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display())),
        None => Ok(()),
    }
}

fn run(feeder: &str) -> Result<String, String> {
    let circuit = match feeder.strip_prefix("synthetic") {
        Some(n) => {
            let nodes = n.parse().map_err(|_| format!("`{feeder}`: syntheticN takes a node count"))?;
            synthetic::circuit(nodes, 1).map_err(|e| e.to_string())?
        }
        None => feeders::circuit_from(feeder).map_err(|e| e.to_string())?,
    };
    let mut pf = PowerFlow::new(&circuit).map_err(|e: GridError| e.to_string())?;
    let report = pf.solve().map_err(|e| e.to_string())?;
    let mut volts = Vec::new();
    dump_pu(&pf, &mut volts);
    write_dump(dump_path(feeder, "", "bin"), &volts)?;
    write_dump(dump_path(feeder, "", "counts"), format!("{} 0\n", report.iterations).as_bytes())?;
    Ok(format!("{feeder}: {} iterations, converged {}, digest {:016x}", report.iterations, report.converged, digest(&pf)))
}

fn main() -> std::process::ExitCode {
    let mut failed = false;
    let mut series = None;
    let mut args = std::env::args().skip(1);
    while let Some(feeder) = args.next() {
        if feeder == "--series" {
            let mode = match args.next().as_deref() {
                Some("daily") => SolutionMode::Daily,
                Some("yearly") => SolutionMode::Yearly,
                Some("duty") => SolutionMode::Duty,
                other => {
                    eprintln!("--series daily|yearly|duty STEPS STEPSIZE_S, got {other:?}");
                    return std::process::ExitCode::from(2);
                }
            };
            let steps = args.next().and_then(|s| s.parse().ok());
            let stepsize = args.next().and_then(|s| s.parse().ok());
            let (Some(steps), Some(stepsize)) = (steps, stepsize) else {
                eprintln!("--series MODE STEPS STEPSIZE_S: two numbers expected");
                return std::process::ExitCode::from(2);
            };
            series = Some((mode, steps, stepsize));
            continue;
        }
        let result = match series {
            Some((mode, steps, stepsize)) => run_series(&feeder, mode, steps, stepsize),
            None => run(&feeder),
        };
        match result {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{feeder}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::SUCCESS
    }
}
