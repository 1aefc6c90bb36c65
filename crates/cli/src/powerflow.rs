//! `ogg powerflow`: one power flow of a feeder, results into a folder
//! (the engine's `ogg_grid::powerflow_command` does the work).

use std::path::{Path, PathBuf};

/// What `ogg powerflow` was asked to do.
#[derive(Debug, Clone)]
pub struct PowerflowRequest {
    /// A `.dss` file, or a built-in feeder name.
    pub feeder: String,
    pub tolerance: Option<f64>,
    pub max_iterations: Option<usize>,
    /// Default: `results/powerflow/<feeder name or file stem>`.
    pub out: Option<PathBuf>,
    pub quiet: bool,
    /// `snapshot`, or a time-series mode (`daily`, `yearly`, `duty`).
    pub mode: String,
    /// Time-series steps and step size (seconds); defaults from the script.
    pub steps: Option<usize>,
    pub stepsize_s: Option<f64>,
}

/// Solves the feeder and writes `voltages.csv` and `summary.json`; returns a
/// one-line error. A solution that did not converge still writes its files
/// and succeeds, with a warning on stderr (`converged: false` in the summary).
pub fn run_powerflow(request: &PowerflowRequest) -> Result<(), String> {
    if let Some(t) = request.tolerance {
        if !(t.is_finite() && t > 0.0) {
            return Err(format!("--tolerance must be a positive number (got {t})"));
        }
    }
    let out_dir = request.out.clone().unwrap_or_else(|| {
        let stem = Path::new(&request.feeder)
            .file_stem()
            .map_or_else(|| request.feeder.clone(), |s| s.to_string_lossy().into_owned());
        Path::new("results").join("powerflow").join(stem)
    });
    let mode = ogg_grid::timeseries::parse_mode(&request.mode).map_err(|e| format!("--mode: {e}"))?;
    if mode != ogg_grid::timeseries::SolutionMode::Snapshot {
        return run_timeseries(request, mode, &out_dir);
    }
    let summary = ogg_grid::powerflow_command(&request.feeder, request.tolerance, request.max_iterations, &out_dir)
        .map_err(|e| located(&request.feeder, e))?;
    if !summary.converged {
        eprintln!(
            "warning: {}: the power flow did not converge after {} iterations{}",
            request.feeder,
            summary.iterations,
            summary.non_convergence.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
        );
    }
    if !request.quiet {
        println!(
            "{}: {} in {} iterations; source {:.3} kW {:.3} kvar, losses {:.3} kW; {} buses, {} nodes",
            summary.circuit,
            if summary.converged { "converged" } else { "NOT converged" },
            summary.iterations,
            summary.total_power_kw,
            summary.total_power_kvar,
            summary.losses_kw,
            summary.buses,
            summary.nodes
        );
        println!("wrote {}: voltages.csv, summary.json", out_dir.display());
    }
    Ok(())
}

/// `--mode daily|yearly|duty`: the time series, one row per step in `timeseries.csv`.
fn run_timeseries(
    request: &PowerflowRequest,
    mode: ogg_grid::timeseries::SolutionMode,
    out_dir: &Path,
) -> Result<(), String> {
    let steps = ogg_grid::timeseries_command(
        &request.feeder,
        mode,
        request.steps,
        request.stepsize_s,
        request.tolerance,
        out_dir,
    )
    .map_err(|e| located(&request.feeder, e))?;
    let failed: Vec<usize> = steps.iter().filter(|s| !s.report.converged).map(|s| s.step).collect();
    if !failed.is_empty() {
        eprintln!("warning: {}: {} of {} steps did not converge (steps {:?})", request.feeder, failed.len(), steps.len(), failed);
    }
    if !request.quiet {
        let peak = steps.iter().map(|s| s.total_power_kw).fold(f64::NEG_INFINITY, f64::max);
        let vmin = steps.iter().map(|s| s.min_v_pu).fold(f64::INFINITY, f64::min);
        let vmax = steps.iter().map(|s| s.max_v_pu).fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{}: {} steps ({:?}); peak source {:.3} kW; voltages {:.4}..{:.4} pu",
            request.feeder,
            steps.len(),
            mode,
            peak,
            vmin,
            vmax
        );
        println!("wrote {}: timeseries.csv", out_dir.display());
    }
    Ok(())
}

/// The error, prefixed with the feeder unless it already names it (reader errors say file:line).
fn located(feeder: &str, error: impl std::fmt::Display) -> String {
    let message = error.to_string();
    if message.contains(feeder) {
        message
    } else {
        format!("{feeder}: {message}")
    }
}
