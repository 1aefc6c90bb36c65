//! Many producer–consumer pairs negotiating at once, in parallel over pairs
//! (rayon): the same learners, game and protocol as the market and agents,
//! without the environment's per-agent calls — for large populations and
//! benchmarks.
//!
//! Each episode the consumers are shuffled onto the producers (random
//! matching), every pair plays T bargaining rounds, and every learner
//! updates between episodes. Each pair draws its bids from its own
//! SplitMix64 stream, seeded from (seed, episode, pair): results do not
//! depend on the number of threads.

use std::sync::Arc;

use rayon::prelude::*;

use ogg_core::rng::{derive_seed, SplitMix64};

use crate::error::P2pError;
use crate::game::Role;
use crate::learner::{Estimator, QrLearner};
use crate::matching::random_matching;
use crate::qr::QuantalResponse;

/// Totals of one episode over all pairs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EpisodeStats {
    pub pairs: usize,
    /// Bargaining steps played (pairs × T) and how many traded.
    pub steps: usize,
    pub trades: usize,
    /// Pairs with at least one traded step.
    pub pairs_traded: usize,
    /// Sums of the stage payoffs (¢/kWh) over all steps.
    pub producer_payoff: f64,
    pub consumer_payoff: f64,
    /// Sum of the prices of traded steps.
    pub price_sum: f64,
}

impl EpisodeStats {
    fn add(mut self, o: EpisodeStats) -> EpisodeStats {
        self.pairs += o.pairs;
        self.steps += o.steps;
        self.trades += o.trades;
        self.pairs_traded += o.pairs_traded;
        self.producer_payoff += o.producer_payoff;
        self.consumer_payoff += o.consumer_payoff;
        self.price_sum += o.price_sum;
        self
    }
    pub fn trade_probability(&self) -> f64 {
        self.trades as f64 / self.steps.max(1) as f64
    }
}

/// `n` producers and `n` consumers (see the module docs).
pub struct Population {
    qr: Arc<QuantalResponse>,
    rounds: usize,
    seed: u64,
    episode: u64,
    producers: Vec<QrLearner>,
    consumers: Vec<QrLearner>,
    matcher: SplitMix64,
}

impl Population {
    pub fn new(pairs: usize, qr: Arc<QuantalResponse>, estimator: Estimator, step: f64, rounds: usize, seed: u64) -> Result<Self, P2pError> {
        if rounds == 0 {
            return Err(P2pError::Input("T must be ≥ 1 bargaining round".into()));
        }
        let p = QrLearner::new(Role::Producer, qr.clone(), estimator, step)?;
        let c = QrLearner::new(Role::Consumer, qr.clone(), estimator, step)?;
        Ok(Population {
            qr,
            rounds,
            seed,
            episode: 0,
            producers: vec![p; pairs],
            consumers: vec![c; pairs],
            matcher: SplitMix64::new(derive_seed(seed, u64::MAX)),
        })
    }

    pub fn pairs(&self) -> usize {
        self.producers.len()
    }
    pub fn producers(&self) -> &[QrLearner] {
        &self.producers
    }
    pub fn consumers(&self) -> &[QrLearner] {
        &self.consumers
    }
    pub fn quantal_response(&self) -> &QuantalResponse {
        &self.qr
    }

    /// Re-matches at random, plays T rounds in every pair, updates every learner.
    pub fn run_episode(&mut self) -> EpisodeStats {
        let n = self.pairs();
        // Random matching: move consumer m[k] next to producer k.
        let matched = random_matching(n, n, &mut self.matcher);
        let mut slots: Vec<Option<QrLearner>> = std::mem::take(&mut self.consumers).into_iter().map(Some).collect();
        let mut order = vec![0usize; n];
        for (p, c) in matched {
            order[p] = c;
        }
        self.consumers = order.iter().map(|&c| slots[c].take().expect("a matching uses each consumer once")).collect();
        let episode_seed = derive_seed(self.seed, self.episode);
        self.episode += 1;
        let rounds = self.rounds;
        let game = self.qr.game();
        let per_pair: Vec<EpisodeStats> = self
            .producers
            .par_iter_mut()
            .zip(self.consumers.par_iter_mut())
            .with_min_len(128) // a pair is ~1 µs of work: hand threads chunks, not single pairs
            .enumerate()
            .map(|(k, (p, c))| {
                let mut rng = SplitMix64::new(derive_seed(episode_seed, k as u64));
                p.begin_episode();
                c.begin_episode();
                let mut s = EpisodeStats { pairs: 1, steps: rounds, ..Default::default() };
                for _ in 0..rounds {
                    let (bp, bc) = (p.sample(&mut rng), c.sample(&mut rng));
                    p.observe(bc);
                    c.observe(bp);
                    if game.trades(bp, bc) {
                        s.trades += 1;
                        s.price_sum += game.actions[bp];
                    }
                    s.producer_payoff += game.payoff(Role::Producer, bp, bc);
                    s.consumer_payoff += game.payoff(Role::Consumer, bc, bp);
                }
                s.pairs_traded = usize::from(s.trades > 0);
                // Both answer the policies that were played (updates take
                // effect at the next begin_episode).
                let (pp, cp) = (p.policy().to_vec(), c.policy().to_vec());
                p.end_episode(Some(&cp));
                c.end_episode(Some(&pp));
                s
            })
            .collect();
        // Summed in pair order, so the totals are bit-identical for any thread count.
        per_pair.into_iter().fold(EpisodeStats::default(), EpisodeStats::add)
    }

    /// Mean policy of each side (the next episode's policies are applied first).
    pub fn mean_policies(&mut self) -> (Vec<f64>, Vec<f64>) {
        let n = self.qr.game().n();
        let mean = |ls: &mut [QrLearner]| {
            let mut m = vec![0.0; n];
            for l in ls.iter_mut() {
                l.begin_episode();
                for (x, p) in m.iter_mut().zip(l.policy()) {
                    *x += p;
                }
            }
            let k = ls.len().max(1) as f64;
            m.iter_mut().for_each(|x| *x /= k);
            m
        };
        (mean(&mut self.producers), mean(&mut self.consumers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::BargainGame;
    use crate::qr::{fixed_point, Dynamics};

    #[test]
    fn exact_population_reaches_the_fixed_point_and_is_thread_independent() {
        let qr = Arc::new(QuantalResponse::new(BargainGame::paper(), 1.0, Dynamics::Eq11).unwrap());
        let mut pop = Population::new(8, qr.clone(), Estimator::Exact, 0.5, 10, 3).unwrap();
        for _ in 0..200 {
            pop.run_episode();
        }
        let (p, c) = pop.mean_policies();
        let fp = fixed_point(&qr, 0.5, 1e-13, 100_000);
        for k in 0..21 {
            assert!((p[k] - fp.producer[k]).abs() < 1e-10 && (c[k] - fp.consumer[k]).abs() < 1e-10);
        }
        // Sampled learners: one thread or many, the same numbers.
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut pop = Population::new(64, qr.clone(), Estimator::Sampled, 1.0, 10, 9).unwrap();
                (0..20).map(|_| pop.run_episode()).collect::<Vec<_>>()
            })
        };
        assert_eq!(run(1), run(2));
    }
}
