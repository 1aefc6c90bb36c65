//! The P2P market in the core Environment: protocol, payoff and money
//! bookkeeping, errors naming the agent, matching, the day's physics, and
//! seeded determinism.

use std::any::Any;
use std::sync::Arc;

use ogg_core::{Agent, DoNothingGrid, Environment, GridAction, MarketAction, Result, View};
use ogg_p2p::market::{p2p_market, Phase, BUY, SELL};
use ogg_p2p::qr::{Dynamics, QuantalResponse};
use ogg_p2p::uc2::{self, Uc2Config};
use ogg_p2p::{BargainGame, Estimator, Matching, P2pConfig, P2pMarket, Prosumer, Role};

/// Registers `offer` (sell) or `need` (buy) and bids `bids[round]`.
#[derive(Clone)]
struct Scripted {
    name: String,
    bus: Option<String>,
    sell: bool,
    kwh: Vec<f64>,
    bids: Vec<f64>,
    actions: Vec<MarketAction>,
    reward: f64,
}

impl Scripted {
    fn new(name: &str, sell: bool, kwh: Vec<f64>, bids: Vec<f64>) -> Self {
        Scripted { name: name.into(), bus: None, sell, kwh, bids, actions: Vec::new(), reward: 0.0 }
    }
}

impl Agent for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        self.bus.as_deref()
    }
    fn set_market_actions(&mut self, view: &View) -> Result<()> {
        self.actions.clear();
        let m = p2p_market(view, &self.name)?;
        match m.phase() {
            Phase::Registration => self.actions.push(MarketAction::Custom {
                name: if self.sell { SELL } else { BUY }.into(),
                values: self.kwh.clone(),
            }),
            Phase::Bargaining { next } if m.pair_of(view.caller.unwrap()).is_some() => {
                self.actions.push(MarketAction::Price(self.bids[next % self.bids.len()]));
            }
            _ => {}
        }
        Ok(())
    }
    fn observe_market(&mut self, view: &View) -> Result<()> {
        let m = p2p_market(view, &self.name)?;
        self.reward = m.last_outcome(view.caller.unwrap()).map_or(0.0, |o| o.payoff);
        Ok(())
    }
    fn set_grid_actions(&mut self, _: &View) -> Result<()> {
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &self.actions
    }
    fn grid_actions(&self) -> &[GridAction] {
        &[]
    }
    fn reward(&self) -> f64 {
        self.reward
    }
    fn clone_box(&self) -> Box<dyn Agent> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn market(rounds: usize, interval: usize, matching: Matching) -> P2pMarket {
    P2pMarket::new(P2pConfig { game: BargainGame::paper(), rounds, interval, matching }).unwrap()
}

#[test]
fn payoffs_dispatch_and_money_add_up() {
    // One pair, T = 4: asks 3, 6, 9, 4 against bids 5, 5, 9.5, 1.
    let asks = vec![3.0, 6.0, 9.0, 4.0];
    let bids = vec![5.0, 5.0, 9.5, 1.0];
    let agents: Vec<Box<dyn Agent>> = vec![
        Box::new(Scripted::new("seller", true, vec![2.0, 6.0], asks.clone())),
        Box::new(Scripted::new("buyer", false, vec![4.0, 4.0], bids.clone())),
    ];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(900.0)), Box::new(market(4, 2, Matching::Random)), agents);
    env.reset(Some(1)).unwrap();
    let info = env.step().unwrap();
    assert_eq!(info.market_rounds, 5, "registration + T rounds");
    assert!(info.market_cleared);
    let m = env.market().as_any().downcast_ref::<P2pMarket>().unwrap();
    let pair = &m.pairs()[0];
    assert_eq!(pair.contract, vec![2.0, 4.0], "min(offer, need) per grid step");
    assert_eq!(pair.slices_traded, 2);
    assert_eq!(pair.mean_price(), 6.0, "slices at 3 and 9 ¢/kWh");
    let slice = 6.0 / 4.0;
    let (ub, fee, lose) = (12.0, 0.5, 1.0);
    let records: Vec<_> = env.recorder().records().rows().collect();
    let mut seller_money = 0.0;
    let mut buyer_money = 0.0;
    for round in 1..=4 {
        let (a, b) = (asks[round - 1], bids[round - 1]);
        let traded = a <= b;
        let s = records.iter().find(|r| r.agent == "seller" && r.market_round == round).unwrap();
        let c = records.iter().find(|r| r.agent == "buyer" && r.market_round == round).unwrap();
        let (rp, rc) = if traded { (a - fee, ub - a - fee) } else { (-lose, -lose) };
        assert_eq!((s.reward, c.reward), (rp, rc), "round {round}");
        if traded {
            assert_eq!((s.price, s.quantity), (Some(a), Some(-slice)));
            assert_eq!((c.price, c.quantity), (Some(a), Some(slice)));
            seller_money += s.price.unwrap() * -s.quantity.unwrap();
            buyer_money += c.price.unwrap() * c.quantity.unwrap();
        } else {
            assert_eq!(s.quantity, None, "no dispatch for a failed slice");
        }
    }
    // What the buyer pays is what the seller gets; the fees are on top.
    assert_eq!(seller_money, buyer_money);
    assert_eq!(seller_money, slice * (3.0 + 9.0));
    // Next grid step (same block): no negotiation, the contract is delivered at half.
    let s = m.scheduled(0, 0).unwrap();
    assert_eq!((s.role, s.kwh, s.price), (Role::Producer, 1.0, 6.0));
    env.step().unwrap();
    let m = env.market().as_any().downcast_ref::<P2pMarket>().unwrap();
    assert_eq!(m.scheduled(1, 1).unwrap().kwh, 2.0);
    assert!(m.scheduled(1, 2).is_none());
    // A new block starts a new negotiation.
    assert_eq!(env.step().unwrap().market_rounds, 5);
}

#[test]
fn bad_messages_name_the_agent() {
    let cases: Vec<(Scripted, &str)> = vec![
        (Scripted::new("odd-bidder", false, vec![1.0], vec![4.25]), "bid 4.25 is not in the action set"),
        (Scripted::new("short-profile", false, vec![1.0, 2.0], vec![4.0]), "needs 1 finite kWh values"),
        (Scripted::new("negative", false, vec![-1.0], vec![4.0]), "needs 1 finite kWh values"),
    ];
    for (bad, expected) in cases {
        let agents: Vec<Box<dyn Agent>> = vec![Box::new(Scripted::new("seller", true, vec![3.0], vec![4.0])), Box::new(bad.clone())];
        let mut env = Environment::new(Box::new(DoNothingGrid::new(900.0)), Box::new(market(3, 1, Matching::Random)), agents);
        env.reset(Some(1)).unwrap();
        let e = env.step().unwrap_err().to_string();
        assert!(e.contains(&bad.name) && e.contains(expected), "{e}\nexpected: {expected}");
    }
    // A learner in a market that is not the P2P market.
    let qr = Arc::new(QuantalResponse::new(BargainGame::paper(), 1.0, Dynamics::Eq11).unwrap());
    let agents: Vec<Box<dyn Agent>> = vec![Box::new(Prosumer::trader("lost", Role::Producer, 3.0, qr, Estimator::Sampled, 1.0).unwrap())];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(900.0)), Box::new(ogg_core::DoNothingMarket), agents);
    env.reset(Some(1)).unwrap();
    let e = env.step().unwrap_err().to_string();
    assert!(e.contains("lost") && e.contains("needs the P2P market"), "{e}");
    assert!(P2pMarket::new(P2pConfig { game: BargainGame::paper(), rounds: 0, interval: 1, matching: Matching::Random }).is_err());
}

#[test]
fn max_weight_pairs_the_big_sellers_with_the_big_buyers() {
    // Sellers 1, 5, 9 kWh; buyers 8, 2, 4 kWh. Random pairs whatever; max weight
    // pairs 9↔8, 5↔4, 1↔2 (total 8 + 4 + 1 = 13).
    let mk = || -> Vec<Box<dyn Agent>> {
        let mut v: Vec<Box<dyn Agent>> = Vec::new();
        for (i, q) in [1.0, 5.0, 9.0].into_iter().enumerate() {
            v.push(Box::new(Scripted::new(&format!("s{i}"), true, vec![q], vec![5.0])));
        }
        for (i, q) in [8.0, 2.0, 4.0].into_iter().enumerate() {
            v.push(Box::new(Scripted::new(&format!("b{i}"), false, vec![q], vec![5.0])));
        }
        v
    };
    let mut env = Environment::new(Box::new(DoNothingGrid::new(900.0)), Box::new(market(1, 1, Matching::MaxWeight { distance_weight: 0.0 })), mk());
    env.reset(Some(1)).unwrap();
    env.step().unwrap();
    let m = env.market().as_any().downcast_ref::<P2pMarket>().unwrap();
    let mut pairs: Vec<(usize, usize)> = m.pairs().iter().map(|p| (p.producer, p.consumer)).collect();
    pairs.sort_unstable();
    assert_eq!(pairs, vec![(0, 4), (1, 5), (2, 3)]);
    assert_eq!(m.pairs().iter().map(|p| p.contract_kwh()).sum::<f64>(), 13.0);
    // Random matching: seeded, so the same seed gives the same pairs.
    let pairs_of = |seed: u64| {
        let mut env = Environment::new(Box::new(DoNothingGrid::new(900.0)), Box::new(market(1, 1, Matching::Random)), mk());
        env.reset(Some(seed)).unwrap();
        env.step().unwrap();
        let m = env.market().as_any().downcast_ref::<P2pMarket>().unwrap();
        m.pairs().iter().map(|p| (p.producer, p.consumer)).collect::<Vec<_>>()
    };
    assert_eq!(pairs_of(5), pairs_of(5));
    assert!((0..20).any(|s| pairs_of(s) != pairs_of(5)), "random matching never changes with the seed");
}

fn small_config() -> Uc2Config {
    let mut cfg = Uc2Config::built_in();
    cfg.base.seeds = 2;
    cfg.base.episodes = 60;
    cfg.base.sweep_lambdas = vec![0.5, 5.0];
    cfg.base.figure_lambdas = vec![1.0];
    cfg.day.steps = 40;
    cfg.day.lambdas = vec![5.0];
    cfg
}

#[test]
fn seeded_runs_are_identical() {
    let cfg = small_config();
    for d in [Dynamics::Eq11, Dynamics::Logit] {
        let a = uc2::run_base(&cfg, d, 1.0, 11).unwrap();
        let b = uc2::run_base(&cfg, d, 1.0, 11).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, uc2::run_base(&cfg, d, 1.0, 12).unwrap());
    }
    let setup = uc2::day_setup(&cfg, None).unwrap();
    let x = uc2::run_day(&cfg, &setup, 5.0, Matching::Random).unwrap();
    let y = uc2::run_day(&cfg, &setup, 5.0, Matching::Random).unwrap();
    // (Debug text: feasible trades carry NaN values, which never compare equal.)
    assert!(format!("{:?}", x.trades) == format!("{:?}", y.trades), "the day's trades differ between identical runs");
    assert!(format!("{:?}", x.steps) == format!("{:?}", y.steps), "the day's steps differ between identical runs");
    // The whole use case, twice (runs in parallel inside): identical tables.
    let out1 = std::env::temp_dir().join(format!("ogg-p2p-det-{}-1", std::process::id()));
    let out2 = std::env::temp_dir().join(format!("ogg-p2p-det-{}-2", std::process::id()));
    let r1 = uc2::run(&cfg, None).unwrap();
    let r2 = uc2::run(&cfg, None).unwrap();
    let f1 = uc2::write_outputs(&cfg, &r1, &out1).unwrap();
    let f2 = uc2::write_outputs(&cfg, &r2, &out2).unwrap();
    for (a, b) in f1.iter().zip(&f2) {
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "{} differs between identical runs", a.display());
    }
}

#[test]
fn the_day_balances_energy() {
    let cfg = small_config();
    let setup = uc2::day_setup(&cfg, None).unwrap();
    assert_eq!(setup.homes.len(), 28, "one home per IEEE 34 load bus");
    for matching in [Matching::Random, Matching::MaxWeight { distance_weight: 0.5 }] {
        let day = uc2::run_day(&cfg, &setup, 5.0, matching).unwrap();
        assert!(day.negotiations > 0 && day.delivered_kwh() > 0.0, "{matching:?}: no trade in the day");
        for t in &day.trades {
            // A producer never delivers more than was scheduled; prices come from A.
            assert!(t.delivered_kwh <= t.scheduled_kwh + 1e-12 && t.delivered_kwh >= 0.0);
            assert!(t.stored_kwh <= t.scheduled_kwh + 1e-12);
            assert!(BargainGame::paper().action_index(t.price).is_some() || t.price.fract() != 0.0);
            assert!((0.0..=10.0).contains(&t.price));
            assert!(t.feasible || !t.element.is_empty());
        }
        for s in &day.steps {
            let rows: Vec<_> = day.trades.iter().filter(|t| t.grid_step == s.grid_step).collect();
            let delivered: f64 = rows.iter().map(|t| t.delivered_kwh).sum();
            assert!((s.delivered_kwh - delivered).abs() < 1e-9);
            // Money: consumers pay the traded price for what was delivered, the
            // market takes c_service from each side, the rest is bought at retail.
            let paid: f64 = rows.iter().map(|t| t.delivered_kwh * t.price).sum();
            assert!((s.p2p_cents - paid).abs() < 1e-9);
            assert!((s.fees_cents - 2.0 * 0.5 * delivered).abs() < 1e-9);
            assert!(s.retail_kwh >= 0.0 && (s.retail_cents - 12.0 * s.retail_kwh).abs() < 1e-9);
            assert!(s.v_min_pu > 0.8 && s.v_max_pu < 1.2, "step {}: {} – {} pu", s.grid_step, s.v_min_pu, s.v_max_pu);
        }
    }
}
