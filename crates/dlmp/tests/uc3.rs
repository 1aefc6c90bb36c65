//! Use case 3 end to end: the built-in scenario (with a shorter learning run),
//! its effects, physics checks and outputs.

use ogg_dlmp::uc3::{self, Experiment, Uc3Config};
use ogg_dlmp::Formulation;

fn short() -> Uc3Config {
    let mut cfg = Uc3Config::built_in();
    cfg.strategy.learning_days = 6;
    cfg
}

#[test]
fn uc3_prices_separate_under_congestion_and_strategic_curves_raise_them() {
    let cfg = short();
    let feeder = uc3::load_feeder(&cfg, None).unwrap();
    let res = uc3::run(&cfg, &feeder).unwrap();
    assert_eq!(res.formulations, [Formulation::Dc, Formulation::LinDistFlow, Formulation::Socp]);
    let truthful = res.experiment(Experiment::Truthful).unwrap();
    assert_eq!(truthful.intervals.len(), cfg.day_len());
    let market_f = res.formulations[0];
    for &f in &res.formulations {
        let st = uc3::formulation_stats(truthful, f, market_f);
        // Every hour solved; the decomposition holds; congestion separates prices.
        assert_eq!(st.optimal_hours, cfg.day_len(), "{f}");
        assert!(st.max_decomposition_residual < 1e-5, "{f}: {}", st.max_decomposition_residual);
        assert!(st.congested_hours > 0 && st.max_spread > 10.0, "{f}: {st:?}");
        // The AC power flow of every hour converges, and the branch models are close to it.
        assert!(st.max_voltage_error_pu < if f == Formulation::Dc { 0.1 } else { 0.03 }, "{f}: {}", st.max_voltage_error_pu);
        if f == Formulation::Socp {
            assert_eq!(st.socp_exact_hours, st.optimal_hours, "the relaxation should be exact every hour");
        }
    }
    // The lossless model misses the losses that the AC power flow finds.
    let dc = uc3::formulation_stats(truthful, Formulation::Dc, market_f);
    let ldf = uc3::formulation_stats(truthful, Formulation::LinDistFlow, market_f);
    assert!(dc.mean_source_error_kw < -30.0 && ldf.mean_source_error_kw.abs() < dc.mean_source_error_kw.abs(), "{dc:?} {ldf:?}");
    // Off-peak, without congestion, every bus pays the LMP.
    let night = truthful.run(3, Formulation::Dc).unwrap();
    assert!(night.solution.dlmp.iter().all(|p| (p - cfg.lmp[3]).abs() < 1e-4), "{:?}", night.solution.dlmp);
    // Marked-up curves raise the peak prices behind the congested lateral.
    let scripted = res.experiment(Experiment::Scripted).unwrap();
    let peak = 18;
    let far = feeder.network.bus_index("736").unwrap();
    let (t, s) = (truthful.run(peak, market_f).unwrap(), scripted.run(peak, market_f).unwrap());
    assert!(s.solution.dlmp[far] > t.solution.dlmp[far] + 20.0, "{} vs {}", s.solution.dlmp[far], t.solution.dlmp[far]);
    let learning = res.experiment(Experiment::Learning).unwrap();
    assert_eq!(learning.days.len(), 6);
    // Rewards: producers earn, consumers pay.
    let last = truthful.days.last().unwrap();
    assert!(last.producer_reward > 0.0 && last.consumer_reward < 0.0, "{last:?}");
}

#[test]
fn uc3_writes_tables_figures_and_summary() {
    let cfg = short();
    let feeder = uc3::load_feeder(&cfg, None).unwrap();
    let res = uc3::run(&cfg, &feeder).unwrap();
    let out = std::env::temp_dir().join(format!("ogg-dlmp-uc3-{}", std::process::id()));
    let files = uc3::write_outputs(&cfg, &feeder, &res, &out).unwrap();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for n in ["buses.csv", "lines.csv", "agents.csv", "intervals.csv", "days.csv", "summary.md", "fig10_dlmp_map.svg", "fig11_decomposition.svg"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let map = std::fs::read_to_string(out.join("fig10_dlmp_map.svg")).unwrap();
    assert!(map.starts_with("<svg") && map.contains("736") && map.contains("DLMP"), "map");
    let buses = std::fs::read_to_string(out.join("buses.csv")).unwrap();
    // 3 experiments × 24 hours × 3 formulations × 39 buses + header.
    assert_eq!(buses.lines().count(), 1 + 3 * 24 * 3 * 39);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("How far from physics") && summary.contains("DLMP decomposition"), "{summary}");
}

#[test]
fn scenario_files_are_recognised_and_errors_name_the_file() {
    assert!(uc3::is_uc3_toml(uc3::BUILT_IN_TOML));
    assert!(!uc3::is_uc3_toml("scenario = \"uc1\"\n"));
    let e = Uc3Config::from_toml("scenario = \"uc3\"\nlmp = []\n[strategy]\nscripted=[]\nmarkups=[]\nepsilon=0.1\nlearning_days=1\n", "my.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("my.toml") && e.contains("lmp"), "{e}");
    let e = Uc3Config::from_toml("scenario = \"uc3\"\nlmp = [1.0]\nbogus = 3\n", "my.toml").unwrap_err().to_string();
    assert!(e.contains("my.toml") && e.contains("bogus"), "{e}");
    let e = Uc3Config::from_toml(
        "scenario = \"uc3\"\nlmp = [1.0]\nmarket_formulation = \"ac\"\n[strategy]\nscripted=[]\nmarkups=[]\nepsilon=0.1\nlearning_days=1\n",
        "my.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("market_formulation"), "{e}");
}
