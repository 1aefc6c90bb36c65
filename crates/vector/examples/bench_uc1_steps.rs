//! Environment steps per second for UC1 on IEEE 34 (market clearing + AC
//! power flow every step), one environment and vectorised.
//!
//! `cargo run --release -p ogg-vector --example bench_uc1_steps -- [--steps N] [--envs N] [--threads 1,2] [--repeat R]`
//! Prints one JSON object (what bench/bench_env_steps.py reads).
use std::time::Instant;

use ogg_core::rng::SplitMix64;
use ogg_vector::{AutoReset, EnvSpec, MarketEnv, StepBuffers, VecEnv};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

/// Nanoseconds this thread has run on a CPU (Linux schedstat), to measure
/// "steps per second of one core" on a machine shared with other jobs:
/// time spent waiting for a core is not counted.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() {
    let steps: usize = arg("--steps", "20000").parse().expect("--steps N");
    let envs: usize = arg("--envs", "16").parse().expect("--envs N");
    let repeat: usize = arg("--repeat", "3").parse().expect("--repeat R");
    let threads: Vec<usize> = arg("--threads", "1,2").split(',').map(|t| t.parse().expect("--threads 1,2")).collect();
    let spec_json = arg("--spec", r#"{"scenario": "uc1", "grid": "ac"}"#);
    let spec = EnvSpec::from_json(&spec_json).expect("spec");
    let proto = MarketEnv::new(&spec).expect("environment");
    let (l, o) = (proto.n_learners(), proto.obs_dim());

    // One environment, random markups (actions drawn before timing).
    let mut rng = SplitMix64::new(1);
    let actions: Vec<f64> = (0..4096 * l).map(|_| rng.next_f64() * 2.0).collect();
    let mut best_single = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    let mut converged = true;
    for _ in 0..repeat {
        let mut env = proto.clone();
        let mut obs = vec![0f32; l * o];
        let mut rew = vec![0f64; l];
        env.reset(Some(0), &mut obs).unwrap();
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        for s in 0..steps {
            let k = (s % 4096) * l;
            let (te, tr) = env.step(&actions[k..k + l], &mut obs, &mut rew).unwrap();
            converged &= !tr;
            if te || tr {
                env.reset(None, &mut obs).unwrap();
            }
        }
        best_single = best_single.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
            best_cpu = best_cpu.min((b - a) as f64 * 1e-9);
        }
    }
    let single = steps as f64 / best_single;
    let single_cpu = if best_cpu.is_finite() { steps as f64 / best_cpu } else { f64::NAN };

    let mut vec_rates = Vec::new();
    for &t in &threads {
        let mut v = VecEnv::new(&proto, envs, t, AutoReset::SameStep).unwrap();
        let batches = (steps / envs).max(1);
        let mut obs = vec![0f32; envs * l * o];
        let (mut rew, mut term, mut trunc, mut fin) = (vec![0f64; envs * l], vec![false; envs], vec![false; envs], vec![0f32; envs * l * o]);
        let batch_actions: Vec<Vec<f64>> = (0..64).map(|_| (0..envs * l).map(|_| rng.next_f64() * 2.0).collect()).collect();
        let mut best = f64::INFINITY;
        for _ in 0..repeat {
            v.reset(Some(0), &mut obs).unwrap();
            let start = Instant::now();
            for b in 0..batches {
                v.step(&batch_actions[b % 64], StepBuffers { obs: &mut obs, rewards: &mut rew, terminated: &mut term, truncated: &mut trunc, final_obs: &mut fin })
                    .unwrap();
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        vec_rates.push(format!(
            "{{\"threads\": {t}, \"envs\": {envs}, \"steps_per_s\": {:.1}, \"threads_used\": {}}}",
            (batches * envs) as f64 / best,
            v.threads_used()
        ));
    }
    println!(
        "{{\"scenario\": {:?}, \"learners\": {l}, \"obs_dim\": {o}, \"steps\": {steps}, \"all_converged\": {converged}, \"single_steps_per_s\": {single:.1}, \"single_steps_per_cpu_s\": {single_cpu:.1}, \"vector\": [{}]}}",
        proto.scenario_label(),
        vec_rates.join(", ")
    );
}
