//! `ogg run uc2`: peer-to-peer trading with quantal-response learners (ogg-p2p).

use std::path::{Path, PathBuf};

use ogg_p2p::uc2;

/// Whether `ogg run SCENARIO` names use case 2 (built-in `uc2`, or a TOML
/// file with `scenario = "uc2"`), and if so the file to read (None = built-in).
pub fn uc2_request(scenario: &str) -> Option<Option<PathBuf>> {
    if scenario.eq_ignore_ascii_case("uc2") {
        return Some(None);
    }
    let path = Path::new(scenario);
    if path.is_file() {
        let text = std::fs::read_to_string(path).ok()?;
        if uc2::is_uc2_toml(&text) {
            return Some(Some(path.to_path_buf()));
        }
    }
    None
}

/// `ogg run uc2`: the base case (action distributions, rewards and trade
/// probabilities against λ) and a day on IEEE 34 with the AC feasibility of the trades.
pub fn run_uc2(file: Option<&Path>, out: Option<PathBuf>, quiet: bool) -> Result<(), String> {
    let out = out.unwrap_or_else(|| PathBuf::from("results/uc2"));
    let start = std::time::Instant::now();
    let (results, files) = uc2::run_scenario(file, &out).map_err(|e| e.to_string())?;
    if !quiet {
        println!("use case 2 ran in {:.2} s", start.elapsed().as_secs_f64());
        println!("  dynamics   λ     mean ask  mean bid  producer ¢/kWh  consumer ¢/kWh  P(step trades)  P(negotiation trades)");
        for p in &results.base.sweep {
            println!(
                "  {:<8} {:>5}  {:>8.2}  {:>8.2}  {:>14.2}  {:>14.2}  {:>14.3}  {:>21.3}",
                p.dynamics.as_str(),
                p.lambda,
                p.mean_producer_bid.0,
                p.mean_consumer_bid.0,
                p.producer_reward.0,
                p.consumer_reward.0,
                p.step_trade_probability.0,
                p.negotiation_success.0
            );
        }
        for day in &results.days {
            let trades = day.trades.iter().filter(|t| t.size_kwh() > 0.0).count();
            println!(
                "  day, λ = {:<4} {:<18} {:>4} trade-steps, {:>6.0} kWh delivered; physically infeasible: {} ({:.0} kWh)",
                day.lambda,
                day.matching.label(),
                trades,
                day.delivered_kwh(),
                day.infeasible().count(),
                day.infeasible_kwh()
            );
        }
        let names: Vec<String> =
            files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        println!("wrote {}: {}", out.display(), names.join(", "));
    }
    Ok(())
}
