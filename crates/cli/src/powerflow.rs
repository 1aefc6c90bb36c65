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
    let summary = ogg_grid::powerflow_command(&request.feeder, request.tolerance, request.max_iterations, &out_dir)
        .map_err(|e| format!("{}: {e}", request.feeder))?;
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
