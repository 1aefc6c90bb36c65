//! A quantal-response learner for one role.
//!
//! The paper's learning protocol: an *episode* is one negotiation of T steps
//! with one opponent. The policy is fixed within the episode; the learner
//! records the opponent's bids, and between episodes it replaces its policy
//! by (a step towards) its quantal response to the opponent's policy:
//!
//! ```text
//! π ← (1 − α) π + α · QR_λ(π̂_opp)
//! ```
//!
//! with π̂_opp the opponent's *empirical* policy of the episode
//! ([`Estimator::Sampled`], the paper; α = 1 replaces the policy outright)
//! or its true policy ([`Estimator::Exact`], the exact-expectation version
//! whose limit is the fixed point of [`crate::qr::fixed_point`]).
//! The update is stored and takes effect when the next episode begins, so
//! that two learners updating "at the same time" both answer the policies
//! that were played.

use std::str::FromStr;
use std::sync::Arc;

use ogg_core::rng::SplitMix64;

use crate::error::P2pError;
use crate::game::Role;
use crate::qr::QuantalResponse;

/// How a learner estimates its opponent's policy between episodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Estimator {
    /// The empirical distribution of the opponent's T bids (the paper).
    Sampled,
    /// The opponent's actual policy (the exact-expectation version).
    Exact,
}

impl FromStr for Estimator {
    type Err = P2pError;
    fn from_str(s: &str) -> Result<Self, P2pError> {
        match s.to_ascii_lowercase().as_str() {
            "sampled" | "empirical" => Ok(Estimator::Sampled),
            "exact" | "expectation" => Ok(Estimator::Exact),
            _ => Err(P2pError::Input(format!("estimator must be \"sampled\" or \"exact\", got \"{s}\""))),
        }
    }
}

impl Estimator {
    pub fn as_str(self) -> &'static str {
        match self {
            Estimator::Sampled => "sampled",
            Estimator::Exact => "exact",
        }
    }
}

/// One role's policy, its sampler and the current episode's observations.
#[derive(Debug, Clone)]
pub struct QrLearner {
    role: Role,
    qr: Arc<QuantalResponse>,
    estimator: Estimator,
    step: f64,
    policy: Vec<f64>,
    cdf: Vec<f64>,
    /// The policy for the next episode, once this one has ended (`has_next`).
    next: Vec<f64>,
    has_next: bool,
    /// How often the opponent played each action this episode.
    counts: Vec<u32>,
    episodes: usize,
}

impl QrLearner {
    /// A learner starting from the uniform policy. `step` is α ∈ (0, 1].
    pub fn new(role: Role, qr: Arc<QuantalResponse>, estimator: Estimator, step: f64) -> Result<Self, P2pError> {
        if !(step > 0.0 && step <= 1.0) {
            return Err(P2pError::Input(format!("learning step α must be in (0, 1] (got {step})")));
        }
        let n = qr.game().n();
        let mut learner = QrLearner {
            role,
            qr,
            estimator,
            step,
            policy: vec![1.0 / n as f64; n],
            cdf: vec![0.0; n],
            next: vec![0.0; n],
            has_next: false,
            counts: vec![0; n],
            episodes: 0,
        };
        learner.refresh_cdf();
        Ok(learner)
    }

    /// Starts from `policy` instead (normalised; must be non-negative and not all zero).
    pub fn with_policy(mut self, policy: &[f64]) -> Result<Self, P2pError> {
        let n = self.qr.game().n();
        let sum: f64 = policy.iter().sum();
        if policy.len() != n || policy.iter().any(|p| !p.is_finite() || *p < 0.0) || sum <= 0.0 {
            return Err(P2pError::Input(format!("a starting policy needs {n} non-negative probabilities (got {policy:?})")));
        }
        self.policy = policy.iter().map(|p| p / sum).collect();
        self.refresh_cdf();
        Ok(self)
    }

    fn refresh_cdf(&mut self) {
        let mut acc = 0.0;
        for (c, p) in self.cdf.iter_mut().zip(&self.policy) {
            acc += p;
            *c = acc;
        }
        // Guard the last bucket against rounding.
        if let Some(last) = self.cdf.last_mut() {
            *last = f64::INFINITY;
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }
    pub fn quantal_response(&self) -> &QuantalResponse {
        &self.qr
    }
    /// The policy played in the current (or last) episode.
    pub fn policy(&self) -> &[f64] {
        &self.policy
    }
    /// Completed episodes.
    pub fn episodes(&self) -> usize {
        self.episodes
    }
    pub fn estimator(&self) -> Estimator {
        self.estimator
    }

    /// Starts an episode: the update of the last one takes effect, the
    /// observations are cleared.
    pub fn begin_episode(&mut self) {
        if std::mem::take(&mut self.has_next) {
            std::mem::swap(&mut self.policy, &mut self.next);
            self.refresh_cdf();
        }
        self.counts.iter_mut().for_each(|c| *c = 0);
    }

    /// Draws an action index from the current policy.
    #[inline]
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        sample_cdf(&self.cdf, rng.next_f64())
    }

    /// Records one bid of the opponent (action index).
    #[inline]
    pub fn observe(&mut self, opponent_action: usize) {
        if let Some(c) = self.counts.get_mut(opponent_action) {
            *c += 1;
        }
    }

    /// Bids of the opponent observed this episode.
    pub fn observed(&self) -> &[u32] {
        &self.counts
    }

    /// Ends the episode: computes the next policy from the observations
    /// (`Sampled`) or from `opponent_policy` (`Exact`; falls back to the
    /// observations when it is not given). An episode without observations
    /// leaves the policy unchanged.
    pub fn end_episode(&mut self, opponent_policy: Option<&[f64]>) {
        // The response goes into `next`, then becomes the step towards it.
        match (self.estimator, opponent_policy) {
            (Estimator::Exact, Some(p)) => self.qr.respond(self.role, p, &mut self.next),
            _ => {
                if self.counts.iter().all(|&c| c == 0) {
                    return;
                }
                self.qr.respond_to_counts(self.role, &self.counts, &mut self.next);
            }
        }
        for (next, p) in self.next.iter_mut().zip(&self.policy) {
            *next = p + self.step * (*next - p);
        }
        self.has_next = true;
        self.episodes += 1;
    }
}

/// Index of the first bucket whose cumulative probability exceeds `u`.
#[inline]
pub fn sample_cdf(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::BargainGame;
    use crate::qr::{fixed_point, Dynamics};

    #[test]
    fn exact_learners_follow_the_fixed_point_map() {
        let qr = Arc::new(QuantalResponse::new(BargainGame::paper(), 1.0, Dynamics::Logit).unwrap());
        let mut p = QrLearner::new(Role::Producer, qr.clone(), Estimator::Exact, 0.5).unwrap();
        let mut c = QrLearner::new(Role::Consumer, qr.clone(), Estimator::Exact, 0.5).unwrap();
        for _ in 0..40 {
            p.begin_episode();
            c.begin_episode();
            let (pp, cc) = (p.policy().to_vec(), c.policy().to_vec());
            p.end_episode(Some(&cc));
            c.end_episode(Some(&pp));
        }
        p.begin_episode();
        c.begin_episode();
        let fp = fixed_point(&qr, 0.5, 0.0, 40);
        assert_eq!(p.policy(), &fp.producer[..]);
        assert_eq!(c.policy(), &fp.consumer[..]);
    }

    #[test]
    fn sampling_follows_the_policy() {
        let qr = Arc::new(QuantalResponse::new(BargainGame::paper(), 0.0, Dynamics::Eq11).unwrap());
        let mut policy = vec![0.0; 21];
        policy[2] = 0.25;
        policy[20] = 0.75;
        let l = QrLearner::new(Role::Producer, qr, Estimator::Sampled, 1.0).unwrap().with_policy(&policy).unwrap();
        let mut rng = SplitMix64::new(3);
        let mut hits = [0usize; 21];
        for _ in 0..40_000 {
            hits[l.sample(&mut rng)] += 1;
        }
        assert_eq!(hits.iter().sum::<usize>(), hits[2] + hits[20]);
        assert!((hits[2] as f64 / 40_000.0 - 0.25).abs() < 0.01);
    }

    #[test]
    fn no_observation_no_update() {
        let qr = Arc::new(QuantalResponse::new(BargainGame::paper(), 3.0, Dynamics::Eq11).unwrap());
        let mut l = QrLearner::new(Role::Consumer, qr, Estimator::Sampled, 1.0).unwrap();
        l.begin_episode();
        l.end_episode(None);
        l.begin_episode();
        assert_eq!(l.episodes(), 0);
        assert!(l.policy().iter().all(|&p| (p - 1.0 / 21.0).abs() < 1e-15));
        assert!(QrLearner::new(Role::Consumer, l.qr.clone(), Estimator::Sampled, 0.0).is_err());
    }
}
