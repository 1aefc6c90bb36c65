//! Quantal responses: how a learner with rationality λ answers an opponent policy.
//!
//! Two dynamics, chosen by [`Dynamics`]:
//!
//! * **Eq. (11) of the paper, exactly as written** ([`Dynamics::Eq11`]):
//!   ```text
//!   P_i(a, π_−i) = E_{a_−i ~ π_−i} [ exp(λ u_i(a, a_−i)) / Σ_a' exp(λ u_i(a', a_−i)) ]
//!   ```
//!   the *expectation of a softmax*: for every opponent action the agent
//!   forms the logit response it would choose had it known that action, and
//!   mixes these responses with the opponent's probabilities. It is linear
//!   in π_−i, so an agent that estimates π_−i from samples gets an unbiased
//!   response (the sampling noise averages out across episodes).
//!   As λ → ∞ an agent plays, for each opponent action, a uniform mix over
//!   its *ex-post* best responses: here the consumer spreads over every bid
//!   that accepts the ask and the producer copies the bid, which pushes both
//!   to the top of A, the pure equilibrium (10, 10). In general games these
//!   fixed points are neither quantal-response nor Nash equilibria.
//!
//! * **The standard logit quantal response** ([`Dynamics::Logit`]):
//!   ```text
//!   P_i(a, π_−i) = exp(λ ū_i(a)) / Σ_a' exp(λ ū_i(a')),   ū_i(a) = E_{π_−i}[u_i(a, a_−i)]
//!   ```
//!   the *softmax of the expected utility*. Its fixed points are the logit
//!   quantal-response equilibria of McKelvey & Palfrey (1995); as λ → ∞ they
//!   approach Nash equilibria. It is non-linear in π_−i (a sampled estimate
//!   gives a biased response) and, in this game, has several fixed points
//!   once λ ≳ 2 (near the diagonal equilibria (b, b)).
//!
//! Both give the uniform policy at λ = 0 and coincide to first order in λ.

use std::str::FromStr;

use crate::error::P2pError;
use crate::game::{BargainGame, Role};

/// Which quantal response the learners use (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dynamics {
    /// The paper's Eq. (11): expectation of the softmax.
    Eq11,
    /// Softmax of the expected utility (logit QRE of McKelvey–Palfrey).
    Logit,
}

impl Dynamics {
    pub fn as_str(self) -> &'static str {
        match self {
            Dynamics::Eq11 => "eq11",
            Dynamics::Logit => "logit",
        }
    }
}

impl std::fmt::Display for Dynamics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dynamics {
    type Err = P2pError;
    fn from_str(s: &str) -> Result<Self, P2pError> {
        match s.to_ascii_lowercase().replace(['-', '_', ' ', '.'], "").as_str() {
            "eq11" | "paper" => Ok(Dynamics::Eq11),
            "logit" | "logitqr" | "logitqre" | "standard" => Ok(Dynamics::Logit),
            _ => Err(P2pError::Input(format!("dynamics must be \"eq11\" (the paper's Eq. 11) or \"logit\", got \"{s}\""))),
        }
    }
}

/// `out = softmax(λ · utilities)`, computed stably (the maximum is subtracted).
pub fn softmax_into(lambda: f64, utilities: &[f64], out: &mut [f64]) {
    out.copy_from_slice(utilities);
    softmax_in_place(lambda, out);
}

/// `x = softmax(λ · x)` in place.
pub fn softmax_in_place(lambda: f64, x: &mut [f64]) {
    let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (lambda * (*v - max)).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// The quantal response of one game, rationality and dynamics, with what can
/// be precomputed (Eq. (11)'s per-opponent-action softmax kernels).
#[derive(Debug, Clone)]
pub struct QuantalResponse {
    game: BargainGame,
    lambda: f64,
    dynamics: Dynamics,
    /// Eq. (11) only: kernel[role][opp * n + a] = softmax_a(λ u(a, opp)).
    kernel: [Vec<f64>; 2],
}

impl QuantalResponse {
    pub fn new(game: BargainGame, lambda: f64, dynamics: Dynamics) -> Result<Self, P2pError> {
        if !lambda.is_finite() || lambda < 0.0 {
            return Err(P2pError::Input(format!("rationality λ must be finite and ≥ 0 (got {lambda})")));
        }
        let n = game.n();
        let mut kernel = [Vec::new(), Vec::new()];
        if dynamics == Dynamics::Eq11 {
            for role in [Role::Producer, Role::Consumer] {
                let mut k = vec![0.0; n * n];
                let mut u = vec![0.0; n];
                for opp in 0..n {
                    for (a, x) in u.iter_mut().enumerate() {
                        *x = game.payoff(role, a, opp);
                    }
                    softmax_into(lambda, &u, &mut k[opp * n..(opp + 1) * n]);
                }
                kernel[role.index()] = k;
            }
        }
        Ok(QuantalResponse { game, lambda, dynamics, kernel })
    }

    pub fn game(&self) -> &BargainGame {
        &self.game
    }
    pub fn lambda(&self) -> f64 {
        self.lambda
    }
    pub fn dynamics(&self) -> Dynamics {
        self.dynamics
    }

    /// `out` = the response of `role` to the opponent policy `opponent`.
    pub fn respond(&self, role: Role, opponent: &[f64], out: &mut [f64]) {
        self.respond_weighted(role, opponent, 1.0, out);
    }

    /// The response to an opponent policy given as weights × `scale`
    /// (e.g. counts × 1/total), without allocating.
    fn respond_weighted<W: Copy + Into<f64>>(&self, role: Role, weights: &[W], scale: f64, out: &mut [f64]) {
        let n = self.game.n();
        match self.dynamics {
            Dynamics::Eq11 => {
                let k = &self.kernel[role.index()];
                out.iter_mut().for_each(|o| *o = 0.0);
                for (opp, &w) in weights.iter().enumerate() {
                    let w: f64 = w.into();
                    if w == 0.0 {
                        continue;
                    }
                    let w = w * scale;
                    for (o, &kv) in out.iter_mut().zip(&k[opp * n..(opp + 1) * n]) {
                        *o += w * kv;
                    }
                }
            }
            Dynamics::Logit => {
                // Expected payoffs into `out`, then the softmax in place.
                let m = self.game.payoff_matrix(role);
                for (a, o) in out.iter_mut().enumerate() {
                    *o = m[a * n..(a + 1) * n].iter().zip(weights).map(|(u, &w)| u * w.into()).sum::<f64>() * scale;
                }
                softmax_in_place(self.lambda, out);
            }
        }
    }

    /// The response to a sampled estimate: `counts[a]` = how often the
    /// opponent played `a` this episode (divided by their sum; uniform if none).
    pub fn respond_to_counts(&self, role: Role, counts: &[u32], out: &mut [f64]) {
        let total: u32 = counts.iter().sum();
        if total == 0 {
            let u = self.game.uniform();
            self.respond(role, &u, out);
        } else {
            self.respond_weighted(role, counts, 1.0 / total as f64, out);
        }
    }

    /// Fixed-point residual of a policy pair: the largest |π − response(π_opp)|.
    pub fn residual(&self, producer: &[f64], consumer: &[f64]) -> f64 {
        let n = self.game.n();
        let mut r = vec![0.0; n];
        let mut worst: f64 = 0.0;
        for (role, own, opp) in [(Role::Producer, producer, consumer), (Role::Consumer, consumer, producer)] {
            self.respond(role, opp, &mut r);
            for (a, b) in own.iter().zip(&r) {
                worst = worst.max((a - b).abs());
            }
        }
        worst
    }
}

/// A policy pair where both sides answer each other (to `residual`).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPoint {
    pub producer: Vec<f64>,
    pub consumer: Vec<f64>,
    pub residual: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// What two exact-expectation learners converge to: both start uniform and,
/// between episodes, move a fraction `step` towards their quantal response to
/// the other's current policy (simultaneously), until the residual is below
/// `tol`. The same map [`crate::learner::QrLearner`] applies with the
/// `Exact` estimator.
pub fn fixed_point(qr: &QuantalResponse, step: f64, tol: f64, max_iter: usize) -> FixedPoint {
    let u = qr.game().uniform();
    fixed_point_from(qr, &u, &u, step, tol, max_iter)
}

/// [`fixed_point`] from given starting policies.
pub fn fixed_point_from(qr: &QuantalResponse, producer: &[f64], consumer: &[f64], step: f64, tol: f64, max_iter: usize) -> FixedPoint {
    let n = qr.game().n();
    let (mut p, mut c) = (producer.to_vec(), consumer.to_vec());
    let (mut rp, mut rc) = (vec![0.0; n], vec![0.0; n]);
    let mut residual = f64::INFINITY;
    let mut iterations = 0;
    while iterations < max_iter {
        qr.respond(Role::Producer, &c, &mut rp);
        qr.respond(Role::Consumer, &p, &mut rc);
        residual = p.iter().zip(&rp).chain(c.iter().zip(&rc)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        if residual < tol {
            break;
        }
        for k in 0..n {
            p[k] += step * (rp[k] - p[k]);
            c[k] += step * (rc[k] - c[k]);
        }
        iterations += 1;
    }
    FixedPoint { producer: p, consumer: c, residual, iterations, converged: residual < tol }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dynamics_are_uniform_at_zero_rationality() {
        let g = BargainGame::paper();
        for d in [Dynamics::Eq11, Dynamics::Logit] {
            let qr = QuantalResponse::new(g.clone(), 0.0, d).unwrap();
            let mut out = vec![0.0; 21];
            let mut skew = vec![0.0; 21];
            skew[3] = 1.0;
            qr.respond(Role::Producer, &skew, &mut out);
            assert!(out.iter().all(|&x| (x - 1.0 / 21.0).abs() < 1e-15));
        }
    }

    #[test]
    fn eq11_against_a_pure_opponent_is_a_logit_response() {
        // With a pure opponent the expectation has one term: Eq. (11) = logit.
        let g = BargainGame::paper();
        let a = QuantalResponse::new(g.clone(), 2.0, Dynamics::Eq11).unwrap();
        let b = QuantalResponse::new(g, 2.0, Dynamics::Logit).unwrap();
        let mut pure = vec![0.0; 21];
        pure[14] = 1.0;
        let (mut x, mut y) = (vec![0.0; 21], vec![0.0; 21]);
        for role in [Role::Producer, Role::Consumer] {
            a.respond(role, &pure, &mut x);
            b.respond(role, &pure, &mut y);
            for k in 0..21 {
                assert!((x[k] - y[k]).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn responses_are_distributions_even_for_huge_rationality() {
        let g = BargainGame::paper();
        for d in [Dynamics::Eq11, Dynamics::Logit] {
            let qr = QuantalResponse::new(g.clone(), 1e6, d).unwrap();
            let mut out = vec![0.0; 21];
            qr.respond(Role::Consumer, &g.uniform(), &mut out);
            assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-12 && out.iter().all(|x| x.is_finite()));
        }
        assert!(QuantalResponse::new(g.clone(), -1.0, Dynamics::Logit).is_err());
        assert!(QuantalResponse::new(g, f64::NAN, Dynamics::Logit).is_err());
        assert!("EQ-11".parse::<Dynamics>().is_ok() && "softmax".parse::<Dynamics>().is_err());
    }
}
