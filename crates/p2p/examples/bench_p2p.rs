//! Negotiation rounds per second, for the README.
//!
//! ```text
//! cargo run --release -p ogg-p2p --example bench_p2p [-- --agents 1000,100000 --json out.json]
//! ```
//! * `population`: [`ogg_p2p::population::Population`], parallel over pairs
//!   (rayon, all cores, and one thread for comparison);
//! * `environment`: the same agents as `Prosumer`s with the `P2pMarket` in
//!   the core `Environment` (one call per agent per round, recording off).
//!
//! A *round* is one bargaining step of every pair (each pair bids once);
//! learners update after every T = 10 rounds (one episode), included in the
//! time. Both dynamics, sampled estimator, α = 1, λ = 5.

use std::sync::Arc;
use std::time::Instant;

use ogg_core::{Agent, DoNothingGrid, Environment};
use ogg_p2p::population::Population;
use ogg_p2p::qr::{Dynamics, QuantalResponse};
use ogg_p2p::{BargainGame, Estimator, Matching, P2pConfig, P2pMarket, Prosumer, Role};

const T: usize = 10;

fn population(agents: usize, dynamics: Dynamics, threads: Option<usize>) -> (f64, usize) {
    let qr = Arc::new(QuantalResponse::new(BargainGame::paper(), 5.0, dynamics).unwrap());
    let run = || {
        let mut pop = Population::new(agents / 2, qr.clone(), Estimator::Sampled, 1.0, T, 1).unwrap();
        pop.run_episode(); // warm-up
        let budget = 2.0; // seconds
        let start = Instant::now();
        let mut episodes = 0;
        while start.elapsed().as_secs_f64() < budget || episodes < 3 {
            pop.run_episode();
            episodes += 1;
        }
        (start.elapsed().as_secs_f64(), episodes)
    };
    match threads {
        Some(n) => rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(run),
        None => run(),
    }
}

fn environment(agents: usize, dynamics: Dynamics) -> (f64, usize) {
    let game = BargainGame::paper();
    let qr = Arc::new(QuantalResponse::new(game.clone(), 5.0, dynamics).unwrap());
    let mut list: Vec<Box<dyn Agent>> = Vec::with_capacity(agents);
    for i in 0..agents {
        let role = if i % 2 == 0 { Role::Producer } else { Role::Consumer };
        list.push(Box::new(Prosumer::trader(&format!("a{i}"), role, 3.0, qr.clone(), Estimator::Sampled, 1.0).unwrap()));
    }
    let market = P2pMarket::new(P2pConfig { game, rounds: T, interval: 1, matching: Matching::Random }).unwrap();
    let mut env = Environment::new(Box::new(DoNothingGrid::new(3600.0)), Box::new(market), list)
        .with_max_market_rounds(T + 1)
        .with_recording(false);
    env.reset(Some(1)).unwrap();
    env.step().unwrap();
    let start = Instant::now();
    let mut episodes = 0;
    while start.elapsed().as_secs_f64() < 2.0 || episodes < 3 {
        env.step().unwrap();
        episodes += 1;
    }
    (start.elapsed().as_secs_f64(), episodes)
}

fn main() {
    let mut sizes = vec![1000usize, 100_000];
    let mut json: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--agents" => sizes = args.next().unwrap_or_default().split(',').filter_map(|s| s.trim().parse().ok()).collect(),
            "--json" => json = args.next(),
            _ => {}
        }
    }
    let threads = rayon::current_num_threads();
    println!("negotiation rounds per second (a round: every pair bids once; T = {T}; λ = 5; sampled; {threads} threads)");
    println!("{:<12} {:>8} {:<8} {:>14} {:>18}", "engine", "agents", "dynamics", "rounds/s", "pair-bids/s");
    let mut rows = Vec::new();
    for &n in &sizes {
        for d in [Dynamics::Eq11, Dynamics::Logit] {
            for (engine, measured) in [
                ("population", population(n, d, None)),
                ("population-1t", population(n, d, Some(1))),
                ("environment", environment(n, d)),
            ] {
                let (secs, episodes) = measured;
                let rounds = (episodes * T) as f64 / secs;
                let bids = rounds * (n / 2) as f64;
                println!("{engine:<12} {n:>8} {:<8} {rounds:>14.0} {bids:>18.3e}", d.as_str());
                rows.push(format!(
                    "{{\"engine\": \"{engine}\", \"agents\": {n}, \"dynamics\": \"{}\", \"rounds_per_s\": {rounds}, \"pair_bids_per_s\": {bids}}}",
                    d.as_str()
                ));
            }
        }
    }
    if let Some(path) = json {
        std::fs::write(&path, format!("[\n{}\n]\n", rows.join(",\n"))).unwrap();
        println!("wrote {path}");
    }
}
