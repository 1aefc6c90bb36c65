//! [`VecEnv`]: N independent [`MarketEnv`]s stepped in parallel on a rayon
//! thread pool, with flat batched buffers in and out.
//!
//! Layouts (row-major): actions `N × L × A` (f64), observations `N × L × O`
//! (f32), rewards `N × L` (f64), terminated/truncated `N`. Environment `k`
//! writes only its own slice of each buffer, so there is no copy and no lock.
//!
//! `reset(Some(seed))` seeds environment `k` with `seed + k` (Gymnasium's
//! convention), so `VecEnv` with seed `s` steps exactly like `N` lone
//! `MarketEnv`s reset with `s, s+1, …` and given the same actions.
//!
//! Auto-reset ([`AutoReset`]): with `SameStep` (the default, as in
//! Stable-Baselines3), an environment whose episode ended is reset at once
//! (continuing its random stream, `reset(None)`), its final observation is
//! written to `final_obs` and the first observation of the next episode to
//! `obs`. With `NextStep` (Gymnasium ≥ 1.0's default), the step after the end
//! resets it instead, ignoring that step's actions and returning zero rewards.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::env::{EnvError, MarketEnv};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReset {
    SameStep,
    NextStep,
    Disabled,
}

impl std::str::FromStr for AutoReset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "same_step" | "same" => Ok(AutoReset::SameStep),
            "next_step" | "next" => Ok(AutoReset::NextStep),
            "disabled" | "none" | "off" => Ok(AutoReset::Disabled),
            other => Err(format!("autoreset must be \"same_step\", \"next_step\" or \"disabled\", got {other:?}")),
        }
    }
}

/// Output buffers of one batched step (see the module docs for the layouts).
pub struct StepBuffers<'a> {
    pub obs: &'a mut [f32],
    pub rewards: &'a mut [f64],
    pub terminated: &'a mut [bool],
    pub truncated: &'a mut [bool],
    /// Same-step auto-reset: the last observation of episodes that ended (else untouched).
    pub final_obs: &'a mut [f32],
}

/// N environments stepped in parallel (see the module docs).
pub struct VecEnv {
    envs: Vec<MarketEnv>,
    pool: rayon::ThreadPool,
    autoreset: AutoReset,
    /// Next-step auto-reset: environments to reset at the next step.
    pending_reset: Vec<bool>,
    /// Bit i set when rayon worker i ran an environment step (since the last `clear_thread_stats`).
    threads_seen: AtomicU64,
}

impl VecEnv {
    /// `num_envs` copies of `proto` on `num_threads` threads (0: one per core).
    pub fn new(proto: &MarketEnv, num_envs: usize, num_threads: usize, autoreset: AutoReset) -> Result<Self, EnvError> {
        if num_envs == 0 {
            return Err("num_envs must be at least 1".into());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(num_threads)
            .thread_name(|i| format!("ogg-vector-{i}"))
            .build()
            .map_err(|e| format!("cannot start the thread pool: {e}"))?;
        Ok(VecEnv {
            envs: (0..num_envs).map(|_| proto.clone()).collect(),
            pool,
            autoreset,
            pending_reset: vec![false; num_envs],
            threads_seen: AtomicU64::new(0),
        })
    }

    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }
    pub fn num_threads(&self) -> usize {
        self.pool.current_num_threads()
    }
    pub fn autoreset(&self) -> AutoReset {
        self.autoreset
    }
    pub fn envs(&self) -> &[MarketEnv] {
        &self.envs
    }
    pub fn envs_mut(&mut self) -> &mut [MarketEnv] {
        &mut self.envs
    }
    /// How many distinct pool threads stepped an environment since the last clear.
    pub fn threads_used(&self) -> u32 {
        self.threads_seen.load(Ordering::Relaxed).count_ones()
    }
    pub fn clear_thread_stats(&self) {
        self.threads_seen.store(0, Ordering::Relaxed);
    }

    fn dims(&self) -> (usize, usize, usize) {
        let e = &self.envs[0];
        (e.n_learners(), e.obs_dim(), e.act_dim())
    }

    /// Resets every environment (`seed + k` for environment k, or continuing
    /// their streams with `None`); writes the observations (N × L × O).
    pub fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let (l, o, _) = self.dims();
        check_len("observation", obs.len(), self.envs.len() * l * o)?;
        self.pending_reset.iter_mut().for_each(|p| *p = false);
        let results: Vec<Result<(), EnvError>> = self.pool.install(|| {
            self.envs
                .par_iter_mut()
                .zip(obs.par_chunks_mut(l * o))
                .enumerate()
                .map(|(k, (env, obs))| env.reset(seed.map(|s| s.wrapping_add(k as u64)), obs))
                .collect()
        });
        first_error(results)
    }

    /// Resets environment `k` alone.
    pub fn reset_one(&mut self, k: usize, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let env = self.envs.get_mut(k).ok_or_else(|| format!("no environment {k}"))?;
        self.pending_reset[k] = false;
        env.reset(seed, obs)
    }

    /// One step of every environment with `actions` (N × L × A).
    pub fn step(&mut self, actions: &[f64], out: StepBuffers<'_>) -> Result<(), EnvError> {
        let (l, o, a) = self.dims();
        let n = self.envs.len();
        check_len("action", actions.len(), n * l * a)?;
        check_len("observation", out.obs.len(), n * l * o)?;
        check_len("final observation", out.final_obs.len(), n * l * o)?;
        check_len("reward", out.rewards.len(), n * l)?;
        check_len("terminated", out.terminated.len(), n)?;
        check_len("truncated", out.truncated.len(), n)?;
        let autoreset = self.autoreset;
        let seen = &self.threads_seen;
        let results: Vec<Result<(), EnvError>> = self.pool.install(|| {
            self.envs
                .par_iter_mut()
                .zip(self.pending_reset.par_iter_mut())
                .zip(actions.par_chunks(l * a))
                .zip(out.obs.par_chunks_mut(l * o))
                .zip(out.final_obs.par_chunks_mut(l * o))
                .zip(out.rewards.par_chunks_mut(l))
                .zip(out.terminated.par_iter_mut().zip(out.truncated.par_iter_mut()))
                .map(|((((((env, pending), act), obs), final_obs), rew), (term, trunc))| {
                    if let Some(i) = rayon::current_thread_index() {
                        seen.fetch_or(1u64 << (i % 64), Ordering::Relaxed);
                    }
                    if *pending {
                        *pending = false;
                        rew.iter_mut().for_each(|r| *r = 0.0);
                        *term = false;
                        *trunc = false;
                        return env.reset(None, obs);
                    }
                    let (te, tr) = env.step(act, obs, rew)?;
                    *term = te;
                    *trunc = tr;
                    if te || tr {
                        match autoreset {
                            AutoReset::SameStep => {
                                final_obs.copy_from_slice(obs);
                                env.reset(None, obs)?;
                            }
                            AutoReset::NextStep => *pending = true,
                            AutoReset::Disabled => {}
                        }
                    }
                    Ok(())
                })
                .collect()
        });
        first_error(results)
    }
}

fn check_len(what: &str, got: usize, expected: usize) -> Result<(), EnvError> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{what} buffer holds {got} values, expected {expected}"))
    }
}

fn first_error(results: Vec<Result<(), EnvError>>) -> Result<(), EnvError> {
    for (k, r) in results.into_iter().enumerate() {
        r.map_err(|e| format!("environment {k}: {e}"))?;
    }
    Ok(())
}
