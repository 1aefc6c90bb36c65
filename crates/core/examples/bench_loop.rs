//! The environment loop's own overhead: do-nothing grid, market and agents,
//! so every nanosecond measured is the loop (views, calls, recording).
//!
//! Run: `cargo run --release -p ogg-core --example bench_loop [-- --calls N] [--repeat R]`
//! (N = agent calls per configuration, default 2 000 000; the best of R runs,
//! default 3, is shown: the machine is shared). Prints, per
//! configuration, µs per grid step and ns per agent call (one
//! `set_market_actions` per round plus one `set_grid_actions` per step).

use std::time::Instant;

use ogg_core::testing::RoundsMarket;
use ogg_core::{Agent, DoNothingAgent, DoNothingGrid, DoNothingMarket, Environment, Market};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str, default: usize| -> usize {
        match args.iter().position(|a| a == name) {
            None => default,
            Some(i) => match args.get(i + 1).and_then(|s| s.parse().ok()) {
                Some(n) if n > 0 => n,
                _ => {
                    eprintln!("{name} needs a positive integer");
                    std::process::exit(2);
                }
            },
        }
    };
    let calls_target = option("--calls", 2_000_000);
    let repeat = option("--repeat", 3);
    println!("| agents | market rounds | recording | grid steps | µs / grid step | ns / agent call | rows |");
    println!("| ---: | ---: | :---: | ---: | ---: | ---: | ---: |");
    for &n_agents in &[10usize, 100, 1000] {
        for &rounds in &[1usize, 10] {
            for &recording in &[false, true] {
                let calls_per_step = n_agents * (rounds + 1);
                let steps = (calls_target / calls_per_step).max(10);
                let agents: Vec<Box<dyn Agent>> = (0..n_agents)
                    .map(|i| Box::new(DoNothingAgent::new(format!("agent{i}"))) as Box<dyn Agent>)
                    .collect();
                let market: Box<dyn Market> =
                    if rounds == 1 { Box::new(DoNothingMarket) } else { Box::new(RoundsMarket::new(rounds)) };
                let mut env = Environment::new(Box::new(DoNothingGrid::new(60.0)), market, agents)
                    .with_recording(recording);
                if let Err(e) = env.reset(Some(1)) {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
                let _ = env.run(2); // warm-up
                let mut elapsed = f64::INFINITY;
                for _ in 0..repeat {
                    if let Err(e) = env.reset(Some(1)) {
                        eprintln!("error: {e}");
                        std::process::exit(2);
                    }
                    let start = Instant::now();
                    if let Err(e) = env.run(steps) {
                        eprintln!("error: {e}");
                        std::process::exit(2);
                    }
                    elapsed = elapsed.min(start.elapsed().as_secs_f64());
                }
                let us_per_step = elapsed * 1e6 / steps as f64;
                let ns_per_call = elapsed * 1e9 / (steps * calls_per_step) as f64;
                println!(
                    "| {n_agents} | {rounds} | {} | {steps} | {us_per_step:.2} | {ns_per_call:.2} | {} |",
                    if recording { "on" } else { "off" },
                    env.recorder().records().time_s.len()
                );
            }
        }
    }
}
