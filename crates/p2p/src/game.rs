//! The bargaining stage game of a matched producer–consumer pair.
//!
//! Both sides bid a price from the same finite action set A (the paper's
//! A = {0, 0.5, …, 10} ¢/kWh). If the producer's ask b_p is at most the
//! consumer's bid b_c the slice trades at b_p:
//!
//! ```text
//! r_p = b_p − c_service            r_c = ub − b_p − c_service      if b_p ≤ b_c
//! r_p = r_c = −c_lose                                             otherwise
//! ```
//!
//! Payoffs are per kWh (¢/kWh), so the game — and therefore every quantal
//! response — does not depend on the traded quantity; money is payoff × kWh.
//!
//! # The parameters we chose (the paper does not give them)
//! * `ub` = 12 ¢/kWh, the utility's retail price: above every action, so that
//!   buying peer-to-peer at any price in A beats the utility by ≥ 2 ¢ before fees.
//! * `c_service` = 0.5 ¢/kWh charged to each side per kWh traded (a platform fee).
//! * `c_lose` = 1 ¢/kWh, the cost of a failed step: the producer's energy is
//!   curtailed (there is no feed-in tariff in this market) and the consumer
//!   buys that slice at retail after spending the time to negotiate.
//!
//! With these numbers both sides always prefer trading at any price in A to a
//! failed step, so the pure Nash equilibria are exactly the diagonal pairs
//! (b, b): the consumer's payoff does not depend on its own bid once it
//! accepts, and the producer asks as much as the consumer accepts.

use crate::error::P2pError;

/// Which side of a trade an agent is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Producer,
    Consumer,
}

impl Role {
    pub fn index(self) -> usize {
        match self {
            Role::Producer => 0,
            Role::Consumer => 1,
        }
    }
    pub fn other(self) -> Role {
        match self {
            Role::Producer => Role::Consumer,
            Role::Consumer => Role::Producer,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stage game: action set and payoff parameters (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct BargainGame {
    /// Prices both sides may bid, ¢/kWh, strictly increasing.
    pub actions: Vec<f64>,
    /// `ub`: the utility's retail price, ¢/kWh.
    pub retail_price: f64,
    /// `c_service`: the market's fee per kWh traded, charged to each side.
    pub service_fee: f64,
    /// `c_lose`: what each side loses per kWh on a failed step.
    pub lose_cost: f64,
    /// payoff[role][own * n + opp]: the payoff of `role` playing action `own`
    /// against the opponent's action `opp`.
    payoff: [Vec<f64>; 2],
}

/// The paper's action set A = {min, min + step, …, max}.
pub fn action_grid(min: f64, max: f64, step: f64) -> Result<Vec<f64>, P2pError> {
    if !(min.is_finite() && max.is_finite() && step.is_finite()) || step <= 0.0 || max < min {
        return Err(P2pError::Input(format!("action grid needs finite min ≤ max and step > 0 (got min {min}, max {max}, step {step})")));
    }
    let n = ((max - min) / step + 1e-9).floor() as usize + 1;
    if n > 10_000 {
        return Err(P2pError::Input(format!("action grid of {n} actions is too large (≤ 10000)")));
    }
    Ok((0..n).map(|k| min + step * k as f64).collect())
}

impl BargainGame {
    pub fn new(actions: Vec<f64>, retail_price: f64, service_fee: f64, lose_cost: f64) -> Result<Self, P2pError> {
        if actions.is_empty() {
            return Err(P2pError::Input("the action set is empty".into()));
        }
        if actions.iter().any(|a| !a.is_finite()) || actions.windows(2).any(|w| w[1] <= w[0]) {
            return Err(P2pError::Input(format!("actions must be finite and strictly increasing (got {actions:?})")));
        }
        for (name, v) in [("retail_price", retail_price), ("service_fee", service_fee), ("lose_cost", lose_cost)] {
            if !v.is_finite() {
                return Err(P2pError::Input(format!("{name} must be finite (got {v})")));
            }
        }
        let n = actions.len();
        let mut producer = vec![0.0; n * n];
        let mut consumer = vec![0.0; n * n];
        for p in 0..n {
            for c in 0..n {
                let (rp, rc) = if actions[p] <= actions[c] {
                    (actions[p] - service_fee, retail_price - actions[p] - service_fee)
                } else {
                    (-lose_cost, -lose_cost)
                };
                producer[p * n + c] = rp;
                consumer[c * n + p] = rc;
            }
        }
        Ok(BargainGame { actions, retail_price, service_fee, lose_cost, payoff: [producer, consumer] })
    }

    /// The paper's action set A = {0, 0.5, …, 10} with our parameters
    /// (ub = 12, c_service = 0.5, c_lose = 1; see the module docs).
    pub fn paper() -> Self {
        let actions = action_grid(0.0, 10.0, 0.5).expect("the paper's grid is valid");
        BargainGame::new(actions, 12.0, 0.5, 1.0).expect("the paper's parameters are valid")
    }

    /// Number of actions.
    pub fn n(&self) -> usize {
        self.actions.len()
    }

    /// Index of a bid in the action set (within 1e-9), if it is one.
    pub fn action_index(&self, bid: f64) -> Option<usize> {
        let i = self.actions.partition_point(|&a| a < bid - 1e-9);
        (i < self.actions.len() && (self.actions[i] - bid).abs() <= 1e-9).then_some(i)
    }

    /// Whether the producer's ask `p` meets the consumer's bid `c` (indices).
    pub fn trades(&self, p: usize, c: usize) -> bool {
        self.actions[p] <= self.actions[c]
    }

    /// Payoff of `role` playing `own` against `opp` (action indices), ¢/kWh.
    #[inline]
    pub fn payoff(&self, role: Role, own: usize, opp: usize) -> f64 {
        self.payoff[role.index()][own * self.n() + opp]
    }

    /// Row-major n×n matrix of `role`'s payoffs, indexed `[own * n + opp]`.
    pub fn payoff_matrix(&self, role: Role) -> &[f64] {
        &self.payoff[role.index()]
    }

    /// u(a, π_opp) for every own action a: expected payoff against a mixed opponent.
    pub fn expected_payoffs(&self, role: Role, opponent: &[f64], out: &mut [f64]) {
        let n = self.n();
        let m = &self.payoff[role.index()];
        for (a, o) in out.iter_mut().enumerate() {
            *o = m[a * n..(a + 1) * n].iter().zip(opponent).map(|(u, p)| u * p).sum();
        }
    }

    /// Probability that one step trades when both sides play these policies.
    pub fn trade_probability(&self, producer: &[f64], consumer: &[f64]) -> f64 {
        // P(b_c ≥ a) as a suffix sum over the consumer's policy.
        let mut tail = 0.0;
        let mut p = 0.0;
        for a in (0..self.n()).rev() {
            tail += consumer[a];
            p += producer[a] * tail;
        }
        p
    }

    /// Expected per-step payoffs (producer, consumer) under these policies.
    pub fn expected_rewards(&self, producer: &[f64], consumer: &[f64]) -> (f64, f64) {
        let n = self.n();
        let mut up = vec![0.0; n];
        let mut uc = vec![0.0; n];
        self.expected_payoffs(Role::Producer, consumer, &mut up);
        self.expected_payoffs(Role::Consumer, producer, &mut uc);
        (dot(producer, &up), dot(consumer, &uc))
    }

    /// Expected price of a trade (the producer's ask, given that the step trades).
    pub fn mean_trade_price(&self, producer: &[f64], consumer: &[f64]) -> f64 {
        let mut tail = 0.0;
        let (mut num, mut den) = (0.0, 0.0);
        for a in (0..self.n()).rev() {
            tail += consumer[a];
            num += self.actions[a] * producer[a] * tail;
            den += producer[a] * tail;
        }
        if den > 0.0 {
            num / den
        } else {
            f64::NAN
        }
    }

    /// How much either side could gain by deviating to its best pure action
    /// (0 exactly at a Nash equilibrium): max over both players of
    /// max_a u(a, π_opp) − u(π_own, π_opp).
    pub fn nash_gap(&self, producer: &[f64], consumer: &[f64]) -> f64 {
        let n = self.n();
        let mut u = vec![0.0; n];
        let mut gap: f64 = 0.0;
        for (role, own, opp) in [(Role::Producer, producer, consumer), (Role::Consumer, consumer, producer)] {
            self.expected_payoffs(role, opp, &mut u);
            let best = u.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            gap = gap.max(best - dot(own, &u));
        }
        gap
    }

    /// Every pure-strategy Nash equilibrium (producer action, consumer action).
    pub fn pure_nash_equilibria(&self) -> Vec<(usize, usize)> {
        let n = self.n();
        let mut out = Vec::new();
        for p in 0..n {
            for c in 0..n {
                let best_p = (0..n).all(|a| self.payoff(Role::Producer, a, c) <= self.payoff(Role::Producer, p, c) + 1e-12);
                let best_c = (0..n).all(|a| self.payoff(Role::Consumer, a, p) <= self.payoff(Role::Consumer, c, p) + 1e-12);
                if best_p && best_c {
                    out.push((p, c));
                }
            }
        }
        out
    }

    /// The uniform policy over A.
    pub fn uniform(&self) -> Vec<f64> {
        vec![1.0 / self.n() as f64; self.n()]
    }

    /// Expected bid of a policy.
    pub fn mean_bid(&self, policy: &[f64]) -> f64 {
        dot(&self.actions, policy)
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payoffs_follow_the_paper() {
        let g = BargainGame::paper();
        assert_eq!(g.n(), 21);
        assert_eq!(g.actions[20], 10.0);
        let (p, c) = (g.action_index(4.0).unwrap(), g.action_index(6.5).unwrap());
        assert_eq!(g.payoff(Role::Producer, p, c), 4.0 - 0.5);
        assert_eq!(g.payoff(Role::Consumer, c, p), 12.0 - 4.0 - 0.5);
        // Ask above bid: both lose.
        assert_eq!(g.payoff(Role::Producer, c, p), -1.0);
        assert_eq!(g.payoff(Role::Consumer, p, c), -1.0);
        // Equal bids trade.
        assert_eq!(g.payoff(Role::Producer, p, p), 3.5);
        assert!(g.action_index(4.25).is_none());
    }

    #[test]
    fn uniform_play_closed_forms() {
        let g = BargainGame::paper();
        let u = g.uniform();
        // P(b_p ≤ b_c) for two independent uniforms on 21 points: (21·22/2)/21².
        assert!((g.trade_probability(&u, &u) - 231.0 / 441.0).abs() < 1e-15);
        // E[b_p | trade] = Σ_k (k/2)(21−k) / Σ_k (21−k) = 770/231.
        assert!((g.mean_trade_price(&u, &u) - 770.0 / 231.0).abs() < 1e-12);
        let (rp, rc) = g.expected_rewards(&u, &u);
        let pt = 231.0 / 441.0;
        assert!((rp - (pt * (770.0 / 231.0 - 0.5) - (1.0 - pt))).abs() < 1e-12);
        assert!((rc - (pt * (12.0 - 770.0 / 231.0 - 0.5) - (1.0 - pt))).abs() < 1e-12);
    }

    #[test]
    fn pure_equilibria_are_the_diagonal() {
        let g = BargainGame::paper();
        let eq = g.pure_nash_equilibria();
        assert_eq!(eq, (0..21).map(|k| (k, k)).collect::<Vec<_>>());
        let mut p = vec![0.0; 21];
        p[20] = 1.0;
        assert_eq!(g.nash_gap(&p, &p), 0.0);
        // Off the diagonal the producer gains by raising its ask.
        let mut c = vec![0.0; 21];
        c[20] = 1.0;
        let mut q = vec![0.0; 21];
        q[10] = 1.0;
        assert!((g.nash_gap(&q, &c) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn bad_games_are_errors() {
        assert!(BargainGame::new(vec![], 12.0, 0.5, 1.0).is_err());
        assert!(BargainGame::new(vec![1.0, 1.0], 12.0, 0.5, 1.0).is_err());
        assert!(BargainGame::new(vec![1.0, 2.0], f64::NAN, 0.5, 1.0).is_err());
        assert!(action_grid(0.0, 10.0, 0.0).is_err());
        assert_eq!(action_grid(0.0, 1.0, 0.5).unwrap(), vec![0.0, 0.5, 1.0]);
    }
}
