//! Use case 1 on the built-in IEEE 34 feeder: the paper's qualitative results,
//! the mechanism's properties on every round, rewards, settlement, outputs.

use ogg_market::uc1::{self, ExperimentRun, Uc1Config};

fn config() -> Uc1Config {
    let mut cfg = Uc1Config::built_in();
    // Fewer seeds and sweep points than the scenario file, to keep the test quick.
    cfg.flexibility.seeds = 6;
    cfg.flexibility.sweep = vec![0.0, 0.5, 1.0];
    cfg
}

fn consumers(run: &ExperimentRun, round: usize) -> Vec<&uc1::AgentRow> {
    run.agents.iter().filter(|a| a.round == round && a.kind.starts_with("consumer")).collect()
}

fn last(run: &ExperimentRun) -> usize {
    run.rounds - 1
}

/// (6), (7) on every row of every round; (8) as "paid − received = rent" on the last round.
fn check_properties(run: &ExperimentRun, rent_to_buyers: bool) {
    for a in &run.agents {
        let [p_max, p_min, q_max, q_min] = a.curve;
        let slope = (p_max - p_min) / (q_max - q_min);
        let q = a.quantity_kw.abs();
        if q <= q_min + 1e-7 * (q_max - q_min) {
            continue;
        }
        if a.quantity_kw < 0.0 {
            assert!(a.price >= p_min + slope * (q - q_min) - 1e-7, "(6) fails for {} round {}", a.agent, a.round);
        } else {
            assert!(a.price <= p_max - slope * (q - q_min) + 1e-7, "(7) fails for {} round {}", a.agent, a.round);
        }
    }
    let r = last(run);
    let rows = run.agents.iter().filter(|a| a.round == r);
    let (paid, received) = rows.fold((0.0, 0.0), |(p, s), a| {
        if a.quantity_kw > 0.0 {
            (p + a.price * a.quantity_kw, s)
        } else {
            (p, s - a.price * a.quantity_kw)
        }
    });
    let expected = if rent_to_buyers { 0.0 } else { run.total_rent_last };
    assert!((paid - received - expected).abs() < 1e-7 * paid, "(8): paid {paid} received {received} rent {}", run.total_rent_last);
}

#[test]
fn uc1_reproduces_the_papers_effects() {
    let cfg = config();
    let feeder = uc1::load_feeder(&cfg.feeder, None).expect("built-in ieee34");
    assert_eq!(feeder.loads.len(), 28, "one consumer per load bus");
    let res = uc1::run(&cfg, &feeder).unwrap();

    // 1. Truthful, inelastic: 4.3 ¢/kWh everywhere, nothing congested, every demand served.
    let e1 = &res.experiment1;
    for c in consumers(e1, 0) {
        assert!((c.price - 4.3).abs() < 1e-9, "{} pays {}", c.agent, c.price);
    }
    assert!(e1.congested_lines_last().is_empty());
    assert!((e1.total_consumption() - 1769.0).abs() < 1e-6);

    // 2. Strategic producers: prices separate into three zones (paper ≈ 4.6, 4.8, 6.9).
    let e2 = &res.experiment2;
    let levels: Vec<f64> = e2.price_levels().iter().map(|l| l.0).collect();
    assert_eq!(levels.len(), 3, "{levels:?}");
    for (got, paper) in levels.iter().zip([4.6, 4.8, 6.9]) {
        assert!((got - paper).abs() < 0.05, "zone price {got} vs paper {paper}");
    }
    assert_eq!(e2.congested_lines_last().len(), 3);
    // Prices rise over the rounds as the markups rise.
    let mean_by_round: Vec<f64> = (0..e2.rounds)
        .map(|r| consumers(e2, r).iter().map(|c| c.price).sum::<f64>() / 28.0)
        .collect();
    assert!(mean_by_round.windows(2).all(|w| w[1] >= w[0] - 1e-9), "{mean_by_round:?}");
    assert!(mean_by_round[0] < 4.31 && *mean_by_round.last().unwrap() > 6.5);

    // 3. Elastic consumers: less consumed, lower prices, still congested.
    let e3 = &res.experiment3;
    assert!(e3.total_consumption() < e2.total_consumption() - 100.0);
    for (a, b) in consumers(e3, last(e3)).iter().zip(consumers(e2, last(e2))) {
        assert_eq!(a.agent, b.agent);
        assert!(a.price <= b.price + 1e-9, "{}: {} > {}", a.agent, a.price, b.price);
    }
    assert!(!e3.congested_lines_last().is_empty());

    // 4. More flexible consumers, lower average price (paper: 6.64 at 8 %, 5.28 at 75 %).
    let mean = |runs: &[ExperimentRun]| uc1::mean_ci95(&runs.iter().map(|r| r.mean_consumer_price()).collect::<Vec<_>>());
    let (m8, _) = mean(&res.experiment4[0].1);
    let (m75, _) = mean(&res.experiment4[1].1);
    assert!(m75 < m8 - 0.5, "8 %: {m8}, 75 %: {m75}");
    assert!((m75 - 5.28).abs() < 0.3 && (m8 - 6.64).abs() < 0.4, "8 %: {m8}, 75 %: {m75}");
    assert!(res.sweep.first().unwrap().mean_price > res.sweep.last().unwrap().mean_price);
    assert!(res.sweep.iter().all(|p| p.ci95 >= 0.0 && p.min_price <= p.mean_price + 1e-9 && p.mean_price <= p.max_price + 1e-9));

    // Every clearing is a KKT point, and the paper's properties hold.
    for run in [e1, e2, e3].into_iter().chain(res.experiment4.iter().flat_map(|(_, r)| r.iter())) {
        assert!(run.max_kkt < 1e-8, "KKT {}", run.max_kkt);
        assert!(run.infeasible.is_empty());
        check_properties(run, false);
    }

    // The AC power flow of the dispatch ran and converged.
    for run in [e1, e2, e3] {
        let ac = run.ac.as_ref().expect("AC check on");
        assert!(ac.converged && ac.error.is_none(), "{ac:?}");
        assert!(ac.losses_kw > 0.0 && ac.v_min_pu > 0.85);
    }
}

#[test]
fn rewards_are_price_times_quantity_minus_hidden_cost() {
    let cfg = config();
    let feeder = uc1::load_feeder(&cfg.feeder, None).unwrap();
    let n = feeder.loads.len();
    let run = uc1::run_experiment(&cfg, &feeder, None, &vec![false; n], true, cfg.rounds).unwrap();
    let r = last(&run);
    let p = &cfg.producers[0];
    let row = run.agents.iter().find(|a| a.round == r && a.agent == p.name).unwrap();
    let cap = cfg.consumers.producer_capacity_kw;
    let q = -row.quantity_kw;
    let cost = p.cost_min * q + 0.5 * (p.cost_max - p.cost_min) / cap * q * q;
    assert!((row.reward - (row.price * q - cost)).abs() < 1e-9);
    let head = run.agents.iter().find(|a| a.round == r && a.agent == "head").unwrap();
    assert!((head.reward - (head.price - cfg.head.price) * -head.quantity_kw).abs() < 1e-9);
    let c = run.agents.iter().find(|a| a.round == r && a.kind == "consumer-inelastic").unwrap();
    let [v_max, v_min, d, q_min] = c.curve;
    let dq = c.quantity_kw - q_min;
    let utility = v_max * c.quantity_kw - 0.5 * (v_max - v_min) / (d - q_min) * dq * dq;
    assert!((c.reward - (utility - c.price * c.quantity_kw)).abs() < 1e-9);
}

#[test]
fn rent_to_buyers_settlement_balances_the_budget() {
    let mut cfg = config();
    cfg.settlement = "rent_to_buyers".into();
    let feeder = uc1::load_feeder(&cfg.feeder, None).unwrap();
    let n = feeder.loads.len();
    let run = uc1::run_experiment(&cfg, &feeder, None, &vec![false; n], true, cfg.rounds).unwrap();
    assert!(run.total_rent_last > 1.0, "congestion rent expected");
    check_properties(&run, true);
}

#[test]
fn outputs_and_config_errors() {
    let mut cfg = config();
    cfg.flexibility.seeds = 2;
    cfg.ac_check = false;
    let feeder = uc1::load_feeder(&cfg.feeder, None).unwrap();
    let res = uc1::run(&cfg, &feeder).unwrap();
    let dir = std::env::temp_dir().join(format!("ogg-uc1-{}", std::process::id()));
    let files = uc1::write_outputs(&cfg, &res, &dir).unwrap();
    assert_eq!(files.len(), 9);
    let lines = std::fs::read_to_string(dir.join("lines.csv")).unwrap();
    assert!(lines.starts_with("experiment,seed,flexible_share,round,from_bus,to_bus,flow_kw,limit_kw,congested"));
    assert!(lines.contains("2-strategic,,,9,800,802,860,860,true"), "{}", &lines[..400]);
    let svg = std::fs::read_to_string(dir.join("fig7_price_vs_flexibility.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    let _ = std::fs::remove_dir_all(&dir);

    let bad = uc1::BUILT_IN_TOML.replace("rounds = 10", "rounds = 10\ncolour = \"red\"");
    let e = Uc1Config::from_toml(&bad, "my.toml").unwrap_err().to_string();
    assert!(e.contains("my.toml") && e.contains("colour"), "{e}");
    let bad = uc1::BUILT_IN_TOML.replace("kind = \"scripted\"", "kind = \"psychic\"");
    let cfg = Uc1Config::from_toml(&bad, "my.toml").unwrap();
    let e = uc1::run(&cfg, &feeder).unwrap_err().to_string();
    assert!(e.contains("psychic"), "{e}");
}
