//! The auction inside the core Environment: dispatch per agent, rewards, extras.

use ogg_core::{Agent, DoNothingGrid, Environment};
use ogg_market::agents::{Consumer, OfferStrategy, Producer};
use ogg_market::network::EdgeSpec;
use ogg_market::{AuctionMarket, LimitOverride, RadialNetwork};

fn two_bus() -> RadialNetwork {
    let buses = vec!["a".to_string(), "b".to_string()];
    let edges = vec![EdgeSpec { name: "line.ab".into(), from: "a".into(), to: "b".into(), limit_kw: f64::INFINITY }];
    RadialNetwork::from_edges(&buses, "a", &edges).unwrap()
}

#[test]
fn auction_market_dispatches_agents_in_the_environment() {
    // Same numbers as the two-bus closed form: cheap p = q at a, local p = 2 + q at b,
    // buyer p = 10 − q at b, line a–b limited to 2 kW → λ_a = 2, λ_b = 5.
    let market = AuctionMarket::default().with_network(two_bus()).with_limits(vec![LimitOverride::between("a", "b", 2.0)]);
    let agents: Vec<Box<dyn Agent>> = vec![
        Box::new(Producer::new("cheap", "a", 10.0, 0.0, 10.0, OfferStrategy::Truthful)),
        Box::new(Consumer::new("buyer", "b", 10.0, 1.0, 10.0, 0.0)),
        Box::new(Producer::new("local", "b", 10.0, 2.0, 12.0, OfferStrategy::Truthful)),
    ];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(3600.0)), Box::new(market), agents);
    env.reset(Some(1)).unwrap();
    env.step().unwrap();
    let d = |i: usize| env.market().dispatch(i).unwrap();
    assert!((d(0).price - 2.0).abs() < 1e-12 && (d(0).quantity + 2.0).abs() < 1e-12);
    assert!((d(1).price - 5.0).abs() < 1e-12 && (d(1).quantity - 5.0).abs() < 1e-12);
    assert!((d(2).price - 5.0).abs() < 1e-12 && (d(2).quantity + 3.0).abs() < 1e-12);
    // After set_grid_actions every agent has settled: buyer u(5) − 25 = (50 − 12.5) − 25.
    let buyer = env.agents()[1].as_any().downcast_ref::<Consumer>().unwrap();
    assert!((buyer.reward() - 12.5).abs() < 1e-12, "{}", buyer.reward());
    let rec = env.recorder().records();
    assert_eq!(rec.rows().count(), 3);
    assert!(rec.extra_names().iter().any(|n| n == "bus_price"));
}

#[test]
fn bad_bid_stops_the_step_naming_the_agent() {
    let market = AuctionMarket::default().with_network(two_bus());
    let agents: Vec<Box<dyn Agent>> = vec![
        Box::new(Producer::new("gen", "a", 10.0, 0.0, 10.0, OfferStrategy::Truthful)),
        Box::new(Consumer::new("nowhere", "zz", 10.0, 1.0, 10.0, 0.0)),
    ];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(3600.0)), Box::new(market), agents);
    env.reset(None).unwrap();
    let e = env.step().unwrap_err().to_string();
    assert!(e.contains("nowhere") && e.contains("zz"), "{e}");
}

#[test]
fn strategic_producers_raise_prices_over_rounds() {
    let market = AuctionMarket::default().with_network(two_bus()).with_rounds(5);
    let agents: Vec<Box<dyn Agent>> = vec![
        Box::new(Producer::new("g", "a", 20.0, 2.0, 6.0, OfferStrategy::ScriptedMarkup { step: 0.1, max: 1.0 })),
        Box::new(Consumer::new("d", "b", 10.0, 0.2, 30.0, 20.0)),
    ];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(3600.0)), Box::new(market), agents);
    env.reset(None).unwrap();
    env.step().unwrap();
    let rec = env.recorder().records();
    let prices: Vec<f64> = rec.rows().filter(|r| r.agent == "d").map(|r| r.price.unwrap()).collect();
    assert_eq!(prices.len(), 5);
    assert!(prices.windows(2).all(|w| w[1] > w[0]), "{prices:?}");
}

#[test]
fn hill_climbing_producer_learns_that_markups_do_not_pay_as_a_price_taker() {
    // The head's flat 10 ¢/kWh sets the price; marking up only loses sales, so
    // the hill climber keeps turning back towards 0.
    let net = RadialNetwork::from_edges(&["a".to_string()], "a", &[]).unwrap();
    let market = AuctionMarket::default().with_network(net).with_rounds(12);
    let agents: Vec<Box<dyn Agent>> = vec![
        Box::new(Producer::flat("head", "a", 100.0, 10.0)),
        Box::new(Producer::new("learner", "a", 20.0, 2.0, 12.0, OfferStrategy::HillClimb { step: 0.05, max: 1.0 })),
        Box::new(Consumer::new("d", "a", 30.0, 0.1, 50.0, 40.0)),
    ];
    let mut env = Environment::new(Box::new(DoNothingGrid::new(3600.0)), Box::new(market), agents);
    env.reset(None).unwrap();
    env.step().unwrap();
    let rec = env.recorder().records();
    let markups: Vec<f64> = rec
        .rows()
        .filter(|r| r.agent == "learner")
        .map(|r| r.extra.iter().find(|(n, _)| n == "markup").map(|(_, v)| *v).unwrap())
        .collect();
    assert_eq!(markups.len(), 12);
    assert!(markups.iter().all(|&m| (0.0..=0.1 + 1e-12).contains(&m)), "{markups:?}");
    assert!(markups.iter().any(|&m| m > 0.0), "it explores: {markups:?}");
}

#[test]
fn network_comes_from_the_distribution_grid_topology() {
    // No network given: reset takes Grid::topology() of the IEEE 34 feeder,
    // with a user limit on the head line; the dispatch then runs through the AC power flow.
    let grid = ogg_grid::DistributionGrid::from_feeder("ieee34", 3600.0).unwrap();
    let market = AuctionMarket::default().with_limits(vec![LimitOverride::between("800", "802", 100.0)]);
    let agents: Vec<Box<dyn Agent>> = vec![
        Box::new(Producer::flat("head", "800", 1000.0, 4.3)),
        Box::new(Producer::new("local", "890", 500.0, 2.0, 12.0, OfferStrategy::Truthful)),
        Box::new(Consumer::new("c890", "890", 450.0, 0.1, 50.0, 15.0).with_loads(vec!["s890".into()], 450.0)),
    ];
    let mut env = Environment::new(Box::new(grid), Box::new(market), agents);
    env.reset(None).unwrap();
    env.step().unwrap();
    let m = env.market().as_any().downcast_ref::<AuctionMarket>().unwrap();
    let net = m.network().unwrap();
    assert!(net.len() >= 34, "{} buses", net.len());
    assert_eq!(net.limit_kw[net.edge_between("800", "802").unwrap()], 100.0);
    // 100 kW from the head, 350 kW locally: the local producer sets 890's price at 2 + 10·350/500 = 9.
    let d = |i: usize| env.market().dispatch(i).unwrap();
    assert!((d(0).quantity + 100.0).abs() < 1e-9);
    assert!((d(1).quantity + 350.0).abs() < 1e-9 && (d(1).price - 9.0).abs() < 1e-9);
    assert!((d(2).quantity - 450.0).abs() < 1e-9);
    assert!(env.grid().state().converged);
}
