//! The learners' limits are the equilibria of their dynamics, checked against
//! computations written here independently of the crate's `qr` module: the
//! payoffs from the paper's definition, Eq. (11) and the logit response from
//! their formulas, and the logit QRE by a homotopy in λ with Newton's method.

use std::sync::Arc;

use ogg_core::{Agent, DoNothingGrid, Environment};
use ogg_p2p::game::BargainGame;
use ogg_p2p::learner::Estimator;
use ogg_p2p::market::{Matching, P2pConfig, P2pMarket};
use ogg_p2p::qr::{fixed_point, Dynamics, QuantalResponse};
use ogg_p2p::{Prosumer, Role};

const N: usize = 21;
const UB: f64 = 12.0;
const FEE: f64 = 0.5;
const LOSE: f64 = 1.0;

fn price(a: usize) -> f64 {
    0.5 * a as f64
}

/// The paper's payoffs, written out again: (producer, consumer) for asks/bids (p, c).
fn payoffs(p: usize, c: usize) -> (f64, f64) {
    if price(p) <= price(c) {
        (price(p) - FEE, UB - price(p) - FEE)
    } else {
        (-LOSE, -LOSE)
    }
}

fn u(role: Role, own: usize, opp: usize) -> f64 {
    match role {
        Role::Producer => payoffs(own, opp).0,
        Role::Consumer => payoffs(opp, own).1,
    }
}

fn softmax(lambda: f64, x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (lambda * (v - m)).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Eq. (11) as printed: P(a) = Σ_o π(o) exp(λ u(a, o)) / Σ_a' exp(λ u(a', o)).
fn eq11(role: Role, lambda: f64, opp: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; N];
    for (o, &w) in opp.iter().enumerate() {
        let col: Vec<f64> = (0..N).map(|a| u(role, a, o)).collect();
        for (x, s) in out.iter_mut().zip(softmax(lambda, &col)) {
            *x += w * s;
        }
    }
    out
}

/// Logit response: softmax(λ E_opp[u(a, ·)]).
fn logit(role: Role, lambda: f64, opp: &[f64]) -> Vec<f64> {
    let eu: Vec<f64> = (0..N).map(|a| (0..N).map(|o| opp[o] * u(role, a, o)).sum()).collect();
    softmax(lambda, &eu)
}

fn residual(f: fn(Role, f64, &[f64]) -> Vec<f64>, lambda: f64, p: &[f64], c: &[f64]) -> f64 {
    let rp = f(Role::Producer, lambda, c);
    let rc = f(Role::Consumer, lambda, p);
    p.iter().zip(&rp).chain(c.iter().zip(&rc)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

/// 5 producers and 5 consumers learning in the Environment (P2P market,
/// random matching every episode); returns the mean policies after `episodes`.
fn learn(dynamics: Dynamics, lambda: f64, estimator: Estimator, step: f64, episodes: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let game = BargainGame::paper();
    let qr = Arc::new(QuantalResponse::new(game.clone(), lambda, dynamics).unwrap());
    let mut agents: Vec<Box<dyn Agent>> = Vec::new();
    for i in 0..5 {
        agents.push(Box::new(Prosumer::trader(&format!("p{i}"), Role::Producer, 3.0, qr.clone(), estimator, step).unwrap()));
    }
    for i in 0..5 {
        agents.push(Box::new(Prosumer::trader(&format!("c{i}"), Role::Consumer, 3.0, qr.clone(), estimator, step).unwrap()));
    }
    let market = P2pMarket::new(P2pConfig { game, rounds: 10, interval: 1, matching: Matching::Random }).unwrap();
    let mut env = Environment::new(Box::new(DoNothingGrid::new(3600.0)), Box::new(market), agents)
        .with_max_market_rounds(11)
        .with_recording(false);
    env.reset(Some(seed)).unwrap();
    env.run(episodes).unwrap();
    // One more episode start applies the last updates; read them off the learners.
    let policies: Vec<Vec<f64>> = env
        .agents()
        .iter()
        .map(|a| {
            let p = a.as_any().downcast_ref::<Prosumer>().unwrap();
            let mut l = p.learner(p.fixed_role().unwrap()).clone();
            l.begin_episode();
            l.policy().to_vec()
        })
        .collect();
    let mean = |ps: &[Vec<f64>]| (0..N).map(|k| ps.iter().map(|p| p[k]).sum::<f64>() / ps.len() as f64).collect::<Vec<f64>>();
    (mean(&policies[..5]), mean(&policies[5..]), policies)
}

#[test]
fn eq11_exact_learners_satisfy_the_fixed_point_equation() {
    for lambda in [0.5, 1.0, 5.0, 10.0] {
        let (p, c, all) = learn(Dynamics::Eq11, lambda, Estimator::Exact, 0.5, 400, 7);
        // Every agent of a side learned the same policy.
        for a in &all[..5] {
            assert!(a.iter().zip(&p).all(|(x, y)| (x - y).abs() < 1e-12));
        }
        let r = residual(eq11, lambda, &p, &c);
        assert!(r < 1e-8, "λ = {lambda}: Eq. (11) residual {r:e}");
        eprintln!("eq11 λ = {lambda}: residual {r:.1e}, mean ask {:.4}, mean bid {:.4}", mean(&p), mean(&c));
    }
}

fn mean(p: &[f64]) -> f64 {
    p.iter().enumerate().map(|(a, x)| price(a) * x).sum()
}

/// Dense Gaussian elimination with partial pivoting: solves A x = b.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for k in 0..n {
        let piv = (k..n).max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs())).unwrap();
        a.swap(k, piv);
        b.swap(k, piv);
        let (top, rest) = a.split_at_mut(k + 1);
        let pivot = &top[k];
        for (i, row) in rest.iter_mut().enumerate() {
            let f = row[k] / pivot[k];
            for (x, p) in row[k..].iter_mut().zip(&pivot[k..]) {
                *x -= f * p;
            }
            b[k + 1 + i] -= f * b[k];
        }
    }
    let mut x = vec![0.0; n];
    for k in (0..n).rev() {
        x[k] = (b[k] - (k + 1..n).map(|j| a[k][j] * x[j]).sum::<f64>()) / a[k][k];
    }
    x
}

/// Newton's method on G(p, c) = (p − σ(λ U_p c), c − σ(λ U_c p)) = 0 from (p, c).
fn newton_logit(lambda: f64, p: &mut [f64], c: &mut [f64]) -> f64 {
    for _ in 0..50 {
        let (sp, sc) = (logit(Role::Producer, lambda, c), logit(Role::Consumer, lambda, p));
        let g: Vec<f64> = p.iter().zip(&sp).chain(c.iter().zip(&sc)).map(|(x, s)| x - s).collect();
        let norm = g.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        if norm < 1e-14 {
            return norm;
        }
        // Jacobian: I − [[0, λ D(sp) U_p], [λ D(sc) U_c, 0]], D(s) = diag(s) − s sᵀ.
        let mut jac = vec![vec![0.0; 2 * N]; 2 * N];
        for (block, s, role) in [(0, &sp, Role::Producer), (1, &sc, Role::Consumer)] {
            for a in 0..N {
                jac[block * N + a][block * N + a] = 1.0;
                for o in 0..N {
                    // ∂σ_a/∂opp_o = λ s_a (u(a, o) − Σ_b s_b u(b, o)).
                    let avg: f64 = (0..N).map(|b| s[b] * u(role, b, o)).sum();
                    jac[block * N + a][(1 - block) * N + o] = -lambda * s[a] * (u(role, a, o) - avg);
                }
            }
        }
        let dx = solve(jac, g);
        for k in 0..N {
            p[k] -= dx[k];
            c[k] -= dx[N + k];
        }
    }
    residual(logit, lambda, p, c)
}

/// The principal branch of the logit QRE: from the uniform policy at λ = 0,
/// followed in small steps of λ with a Newton corrector.
fn logit_qre_by_homotopy(target: f64) -> (Vec<f64>, Vec<f64>) {
    let (mut p, mut c) = (vec![1.0 / N as f64; N], vec![1.0 / N as f64; N]);
    let steps = (target / 0.01).ceil() as usize;
    for k in 1..=steps {
        let lambda = target * k as f64 / steps as f64;
        let r = newton_logit(lambda, &mut p, &mut c);
        assert!(r < 1e-12, "homotopy lost the branch at λ = {lambda}: residual {r:e}");
    }
    (p, c)
}

#[test]
fn logit_exact_learners_converge_to_the_independently_computed_qre() {
    for lambda in [0.5, 1.0, 2.0] {
        let (p, c, _) = learn(Dynamics::Logit, lambda, Estimator::Exact, 0.5, 600, 3);
        let (qp, qc) = logit_qre_by_homotopy(lambda);
        let diff = p.iter().zip(&qp).chain(c.iter().zip(&qc)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let r = residual(logit, lambda, &p, &c);
        eprintln!("logit λ = {lambda}: learners vs homotopy QRE {diff:.1e}, residual {r:.1e}, mean ask {:.4}, bid {:.4}", mean(&p), mean(&c));
        assert!(diff < 1e-8, "λ = {lambda}: learned policies differ from the QRE by {diff:e}");
        assert!(r < 1e-8);
    }
}

#[test]
fn logit_learners_find_a_qre_where_several_exist() {
    // From λ ≈ 2 on, the logit QRE is not unique in this game (one near each
    // diagonal equilibrium). The learners converge to one of them: a solution
    // of the QRE equations that Newton's method (independent) leaves in place.
    for lambda in [5.0, 10.0] {
        let (mut p, mut c, _) = learn(Dynamics::Logit, lambda, Estimator::Exact, 0.5, 2000, 3);
        let r = residual(logit, lambda, &p, &c);
        assert!(r < 1e-8, "λ = {lambda}: residual {r:e}");
        let (p0, c0) = (p.clone(), c.clone());
        assert!(newton_logit(lambda, &mut p, &mut c) < 1e-12);
        let moved = p.iter().zip(&p0).chain(c.iter().zip(&c0)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(moved < 1e-8, "λ = {lambda}: Newton moved the learned point by {moved:e}");
        let (hp, hc) = logit_qre_by_homotopy(lambda);
        eprintln!(
            "logit λ = {lambda}: learned QRE mean ask {:.4} / bid {:.4}; principal-branch QRE {:.4} / {:.4}",
            mean(&p),
            mean(&c),
            mean(&hp),
            mean(&hc)
        );
    }
}

#[test]
fn zero_rationality_is_uniform_play() {
    let g = BargainGame::paper();
    for d in [Dynamics::Eq11, Dynamics::Logit] {
        for lambda in [0.0, 1e-6] {
            let fp = fixed_point(&QuantalResponse::new(g.clone(), lambda, d).unwrap(), 0.5, 1e-14, 10_000);
            let off = fp.producer.iter().chain(&fp.consumer).map(|x| (x - 1.0 / 21.0).abs()).fold(0.0, f64::max);
            // First order in λ: |π − 1/21| ≤ λ · max|u| ≈ 12 λ / 21.
            assert!(off <= lambda * 12.0, "{d} λ = {lambda}: {off:e} from uniform");
        }
    }
}

#[test]
fn large_rationality_approaches_a_nash_equilibrium() {
    let g = BargainGame::paper();
    let mut last_gap = [f64::INFINITY; 2];
    for lambda in [5.0, 10.0, 20.0, 50.0, 100.0] {
        for (k, d) in [Dynamics::Eq11, Dynamics::Logit].into_iter().enumerate() {
            let fp = fixed_point(&QuantalResponse::new(g.clone(), lambda, d).unwrap(), 0.5, 1e-13, 1_000_000);
            assert!(fp.converged, "{d} λ = {lambda}");
            let gap = g.nash_gap(&fp.producer, &fp.consumer);
            assert!(gap <= last_gap[k] + 1e-12, "{d}: the Nash gap must shrink with λ ({gap} after {})", last_gap[k]);
            last_gap[k] = gap;
        }
    }
    assert!(last_gap[0] < 1e-9 && last_gap[1] < 1e-9, "Nash gaps at λ = 100: {last_gap:?}");
    // Eq. (11) goes to the pure equilibrium (10, 10); the logit QRE from the uniform start to a diagonal one.
    let fp = fixed_point(&QuantalResponse::new(g.clone(), 100.0, Dynamics::Eq11).unwrap(), 0.5, 1e-13, 1_000_000);
    assert!(fp.producer[20] > 1.0 - 1e-9 && fp.consumer[20] > 1.0 - 1e-9);
    let fp = fixed_point(&QuantalResponse::new(g.clone(), 100.0, Dynamics::Logit).unwrap(), 0.5, 1e-13, 1_000_000);
    let ask = fp.producer.iter().cloned().fold(0.0, f64::max);
    let k = fp.producer.iter().position(|&x| x == ask).unwrap();
    assert!(ask > 1.0 - 1e-9 && g.pure_nash_equilibria().contains(&(k, k)), "logit limit: ask {} with prob {ask}", g.actions[k]);
    let accepting: f64 = fp.consumer[k..].iter().sum();
    assert!(accepting > 1.0 - 1e-9, "the consumer accepts the ask");
}

#[test]
fn the_paper_learners_sample_around_the_eq11_fixed_point() {
    // Eq. (11) is linear in the opponent policy, so learners that answer the
    // empirical policy of T = 10 samples (α = 1, the paper) fluctuate around
    // the exact fixed point: the expected policy follows the exact map, and the
    // policies averaged over agents and episodes land on the fixed point.
    let cfg = ogg_p2p::uc2::Uc2Config::built_in();
    let g = BargainGame::paper();
    for lambda in [0.5, 1.0, 5.0] {
        let fp = fixed_point(&QuantalResponse::new(g.clone(), lambda, Dynamics::Eq11).unwrap(), 0.5, 1e-13, 100_000);
        for seed in 0..3 {
            let run = ogg_p2p::uc2::run_base(&cfg, Dynamics::Eq11, lambda, seed).unwrap();
            let (ask, exact) = (mean(&run.producer_policy), mean(&fp.producer));
            assert!((ask - exact).abs() < 0.05, "λ = {lambda}, seed {seed}: sampled learners' mean ask {ask} vs exact {exact}");
            let p = g.trade_probability(&fp.producer, &fp.consumer);
            assert!((run.step_trade_probability - p).abs() < 0.02, "λ = {lambda}: trade probability {} vs {p}", run.step_trade_probability);
        }
    }
}
