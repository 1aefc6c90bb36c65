//! `ogg market clear` and `ogg run uc1`: the network-constrained auction (ogg-market).

use std::path::{Path, PathBuf};

use ogg_market::cli as market_cli;
use ogg_market::uc1;

/// `ogg market clear`: clears one order book, writes dispatch/buses/lines CSVs and
/// prints a one-line JSON report last. An infeasible market is an error (status 2)
/// after the report is printed.
pub fn clear(feeder: &str, orders: &Path, limits: Option<&Path>, out: &Path, quiet: bool) -> Result<(), String> {
    let report = market_cli::clear(feeder, orders, limits, out).map_err(|e| e.to_string())?;
    if !quiet && !report.files.is_empty() {
        let names: Vec<String> = report
            .files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        println!("wrote {}: {}", out.display(), names.join(", "));
    }
    println!("{}", report.json());
    match report.status {
        ogg_market::Status::Cleared => Ok(()),
        ogg_market::Status::Infeasible { reason } => Err(format!("market infeasible: {reason}")),
    }
}

/// Whether `ogg run SCENARIO` names the use-case-1 scenario (built-in `uc1`, alias
/// `default`: the main job), or a
/// TOML file with `scenario = "uc1"`), and if so the file to read (None = built-in).
pub fn uc1_request(scenario: &str) -> Option<Option<PathBuf>> {
    if scenario.eq_ignore_ascii_case("uc1") || scenario.eq_ignore_ascii_case("default") {
        return Some(None);
    }
    let path = Path::new(scenario);
    if path.is_file() {
        let text = std::fs::read_to_string(path).ok()?;
        if uc1::is_uc1_toml(&text) {
            return Some(Some(path.to_path_buf()));
        }
    }
    None
}

/// `ogg run uc1`: the paper's use case 1 (four experiments and the flexibility sweep).
pub fn run_uc1(file: Option<&Path>, out: Option<PathBuf>, quiet: bool) -> Result<(), String> {
    let out = out.unwrap_or_else(|| PathBuf::from("results/uc1"));
    let start = std::time::Instant::now();
    let (results, files) = uc1::run_scenario(file, &out).map_err(|e| e.to_string())?;
    if !quiet {
        let names: Vec<String> =
            files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        println!("use case 1 ran in {:.2} s", start.elapsed().as_secs_f64());
        let levels = |run: &uc1::ExperimentRun| {
            run.price_levels().iter().map(|(p, n)| format!("{p:.2} ({n})")).collect::<Vec<_>>().join(", ")
        };
        println!("  1 truthful, inelastic:  prices ¢/kWh (consumers at that price) {}", levels(&results.experiment1));
        println!("  2 strategic, inelastic: {}", levels(&results.experiment2));
        println!("  3 strategic, elastic:   {}", levels(&results.experiment3));
        for (share, runs) in &results.experiment4 {
            let prices: Vec<f64> = runs.iter().map(|r| r.mean_consumer_price()).collect();
            let (mean, half) = uc1::mean_ci95(&prices);
            println!("  4 {:>3.0} % flexible:      mean consumer price {mean:.2} ± {half:.2} ¢/kWh", share * 100.0);
        }
        println!("wrote {}: {}", out.display(), names.join(", "));
    }
    Ok(())
}
