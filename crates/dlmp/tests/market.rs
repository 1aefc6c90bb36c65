//! The DLMP market in the core Environment: settlement, rewards, rejected
//! offers and infeasible intervals as outcomes (never crashes), the AC check,
//! and the network's edge list round trip.

use std::any::Any;

use ogg_core::{Agent, DoNothingGrid, Environment, Event, GridAction, Market, MarketAction, View};
use ogg_dlmp::agents::{Learner, Participant, Strategy};
use ogg_dlmp::network::ImpedanceEdge;
use ogg_dlmp::*;

fn two_bus(limit_kw: f64) -> DlmpNetwork {
    let e = ImpedanceEdge {
        name: "ab".into(),
        from: "a".into(),
        to: "b".into(),
        limit_kw,
        r_pu: 0.001,
        x_pu: 0.002,
        tap: 1.0,
    };
    DlmpNetwork::from_edges("a", &[e], 1000.0).unwrap()
}

/// An agent that submits a fixed (possibly bad) offer.
#[derive(Clone)]
struct Fixed {
    name: String,
    bus: String,
    actions: Vec<MarketAction>,
}

impl Agent for Fixed {
    fn name(&self) -> &str {
        &self.name
    }
    fn bus(&self) -> Option<&str> {
        Some(&self.bus)
    }
    fn set_market_actions(&mut self, _view: &View) -> ogg_core::Result<()> {
        Ok(())
    }
    fn set_grid_actions(&mut self, _view: &View) -> ogg_core::Result<()> {
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &self.actions
    }
    fn grid_actions(&self) -> &[GridAction] {
        &[]
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

fn fixed(name: &str, bus: &str, offer: Offer) -> Box<dyn Agent> {
    Box::new(Fixed {
        name: name.into(),
        bus: bus.into(),
        actions: vec![offer.to_action()],
    })
}

/// Two buses, the line congested: the producer at b is paid the DLMP at b
/// (58 $/MWh), the consumer pays it; rewards are net energy × DLMP − true cost.
#[test]
fn market_settles_every_agent_at_its_bus_dlmp() {
    let net = two_bus(60.0);
    let market = DlmpMarket::new(net, OpfOptions::default()).with_lmp_series(vec![30.0, 40.0]);
    let agents: Vec<Box<dyn Agent>> = vec![
        Box::new(Participant::consumer("c", "b", 100.0, 0.0)),
        Box::new(Participant::producer(
            "g",
            "b",
            200.0,
            CostCurve::quadratic(50.0, 100.0),
        )),
    ];
    let mut env = Environment::new(
        Box::new(DoNothingGrid::new(3600.0)),
        Box::new(market),
        agents,
    );
    env.reset(Some(1)).unwrap();
    env.step().unwrap();
    let m = env.market().as_any().downcast_ref::<DlmpMarket>().unwrap();
    let s = m.last_solution().unwrap();
    assert!(s.is_optimal());
    let (c, g) = (m.dispatch(0).unwrap(), m.dispatch(1).unwrap());
    assert!(
        (c.price - 58.0).abs() < 1e-5 && (c.quantity - 100.0).abs() < 1e-6,
        "{c:?}"
    );
    assert!(
        (g.price - 58.0).abs() < 1e-5 && (g.quantity + 40.0).abs() < 1e-4,
        "{g:?}"
    );
    // Producer: 0.04 MWh × 58 − c(0.04) = 2.32 − 2.16 = 0.16 $.
    let gr = env.agents()[1].reward();
    assert!(
        (gr - (0.04 * 58.0 - (50.0 * 0.04 + 100.0 * 0.0016))).abs() < 1e-4,
        "{gr}"
    );
    assert!((env.agents()[0].reward() + 0.1 * 58.0).abs() < 1e-4);
    // Second interval: the series' next LMP.
    env.step().unwrap();
    let m = env.market().as_any().downcast_ref::<DlmpMarket>().unwrap();
    assert_eq!(m.last_lmp(), 40.0);
    let extra = {
        let mut v = Vec::new();
        m.record_step_extra(&mut v);
        v
    };
    assert!(
        extra
            .iter()
            .any(|(k, v)| k == "congested_lines" && *v == 1.0),
        "{extra:?}"
    );
}

#[test]
fn bad_offers_are_rejected_naming_the_agent_and_the_market_carries_on() {
    let net = two_bus(f64::INFINITY);
    let market = DlmpMarket::new(net, OpfOptions::default());
    let agents: Vec<Box<dyn Agent>> = vec![
        fixed(
            "nan",
            "b",
            Offer::generator("nan", "b", 0.0, f64::NAN, CostCurve::linear(10.0)),
        ),
        fixed(
            "concave",
            "b",
            Offer::generator("concave", "b", 0.0, 50.0, CostCurve::quadratic(10.0, -3.0)),
        ),
        fixed(
            "flex",
            "b",
            Offer::demand_response(
                "flex",
                "b",
                10.0,
                40.0,
                0.0,
                CostCurve::quadratic(f64::NAN, 1.0),
            ),
        ),
        Box::new(Fixed {
            name: "garbled".into(),
            bus: "b".into(),
            actions: vec![MarketAction::Custom {
                name: "dlmp.offer".into(),
                values: vec![9.0],
            }],
        }),
        fixed("lost", "nowhere", Offer::load("lost", "nowhere", 5.0, 0.0)),
        Box::new(Participant::consumer("c", "b", 20.0, 0.0)),
    ];
    let mut env = Environment::new(
        Box::new(DoNothingGrid::new(3600.0)),
        Box::new(market),
        agents,
    );
    env.reset(Some(1)).unwrap();
    env.step().expect("bad offers are outcomes, not errors");
    let m = env.market().as_any().downcast_ref::<DlmpMarket>().unwrap();
    let names: Vec<&str> = m.rejections().iter().map(|r| r.agent.as_str()).collect();
    assert_eq!(
        names,
        ["nan", "concave", "flex", "garbled", "lost"],
        "{:?}",
        m.rejections()
    );
    for r in m.rejections() {
        assert!(r.reason.contains(&r.agent), "{r:?}");
    }
    assert!(m.rejections()[1].reason.contains("non-convex"));
    // The DR provider with a NaN cost is served inflexibly at its baseline.
    assert!(m.rejections()[2].served_as_fixed_load);
    assert_eq!(m.dispatch(2).unwrap().quantity, 40.0);
    assert!(m.dispatch(0).is_none() && m.dispatch(1).is_none());
    assert!(m.last_solution().unwrap().is_optimal());
}

#[test]
fn an_infeasible_interval_is_recorded_not_raised() {
    let net = two_bus(10.0);
    let market = DlmpMarket::new(net.clone(), OpfOptions::default());
    let agents: Vec<Box<dyn Agent>> =
        vec![Box::new(Participant::consumer("alice", "b", 50.0, 0.0))];
    let mut env = Environment::new(
        Box::new(DoNothingGrid::new(3600.0)),
        Box::new(market),
        agents,
    );
    env.reset(Some(1)).unwrap();
    env.step().unwrap();
    let m = env.market().as_any().downcast_ref::<DlmpMarket>().unwrap();
    match &m.last_solution().unwrap().status {
        OpfStatus::Infeasible { reason, agents } => {
            assert_eq!(agents, &["alice".to_string()]);
            assert!(reason.contains("a-b"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(m.dispatch(0).is_none());
    assert_eq!(env.agents()[0].reward(), 0.0);
    // With infeasible_is_error the environment stops and names the market.
    let mut strict = DlmpMarket::new(net, OpfOptions::default());
    strict.infeasible_is_error = true;
    let agents: Vec<Box<dyn Agent>> =
        vec![Box::new(Participant::consumer("alice", "b", 50.0, 0.0))];
    let mut env = Environment::new(
        Box::new(DoNothingGrid::new(3600.0)),
        Box::new(strict),
        agents,
    );
    env.reset(Some(1)).unwrap();
    let e = env.step().unwrap_err().to_string();
    assert!(e.contains("dlmp") && e.contains("infeasible"), "{e}");
}

/// A learning producer behind a congested line learns to mark up: its
/// average reward over the last days beats truthful offering.
#[test]
fn a_learning_producer_behind_congestion_marks_up() {
    let run = |strategy: Strategy| -> (f64, f64) {
        let net = two_bus(60.0);
        let market = DlmpMarket::new(net, OpfOptions::default()).with_lmp_series(vec![30.0]);
        let agents: Vec<Box<dyn Agent>> = vec![
            Box::new(Participant::demand_response(
                "d",
                "b",
                100.0,
                0.0,
                0.3,
                CostCurve::quadratic(150.0, 500.0),
            )),
            Box::new(
                Participant::producer("g", "b", 200.0, CostCurve::quadratic(40.0, 100.0))
                    .with_strategy(strategy),
            ),
        ];
        let mut env = Environment::new(
            Box::new(DoNothingGrid::new(3600.0)),
            Box::new(market),
            agents,
        );
        env.reset(Some(3)).unwrap();
        let mut last = Vec::new();
        let days = 200;
        for day in 0..days {
            env.step().unwrap();
            if day >= days - 50 {
                last.push(env.agents()[1].reward());
            }
        }
        let markup = env.agents()[1]
            .as_any()
            .downcast_ref::<Participant>()
            .unwrap()
            .last_markup();
        (last.iter().sum::<f64>() / last.len() as f64, markup)
    };
    let (truthful, _) = run(Strategy::Truthful);
    let (learning, markup) = run(Strategy::Learning(Learner::new(
        vec![1.0, 1.5, 2.0, 3.0],
        0.05,
        1,
    )));
    assert!(
        learning > truthful * 1.2,
        "learning {learning} vs truthful {truthful}"
    );
    assert!(markup > 1.0, "{markup}");
}

/// UC3's agents on IEEE 37 in the Environment with the AC grid stepping each hour.
#[test]
fn ieee37_day_in_the_environment_with_ac_checks() {
    let (mut net, circuit, grid) = DlmpNetwork::from_feeder("ieee37").unwrap();
    net.set_limit("sourcebus", "799", 3500.0).unwrap();
    net.set_limit("702", "703", 1300.0).unwrap();
    let mut agents: Vec<Box<dyn Agent>> = Vec::new();
    for o in ogg_dlmp::cli::feeder_load_offers(&circuit) {
        agents.push(Box::new(Participant::consumer(
            &o.agent, &o.bus, o.p_max_kw, o.q_per_p,
        )));
    }
    agents.push(Box::new(Participant::producer(
        "g736",
        "736",
        250.0,
        CostCurve::quadratic(35.0, 200.0),
    )));
    let opts = OpfOptions {
        formulation: Formulation::LinDistFlow,
        v_exempt: vec!["799".into()],
        ..Default::default()
    };
    let market = DlmpMarket::new(net.clone(), opts.clone()).with_lmp_series(vec![25.0, 80.0]);
    let mut env = Environment::new(
        Box::new(DoNothingGrid::new(3600.0)),
        Box::new(market),
        agents,
    );
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = reports.clone();
    env.add_callback(move |event, parts| {
        if let Event::MarketRound { .. } = event {
            let m = parts.market.as_any().downcast_ref::<DlmpMarket>().unwrap();
            let (offers, _) = m.last_offers();
            let s = m.last_solution().unwrap();
            sink.lock().unwrap().push(ogg_dlmp::ac::check(
                &grid,
                m.network().unwrap(),
                offers,
                s,
                &opts,
            ));
        }
        Ok(())
    });
    env.reset(Some(1)).unwrap();
    env.run(2).unwrap();
    let reports = reports.lock().unwrap();
    for r in reports.iter() {
        assert!(r.converged && r.error.is_none(), "{:?}", r.error);
        // LinDistFlow against the unbalanced AC power flow (mean line-to-line voltages).
        assert!(r.max_voltage_error_pu < 0.03, "{}", r.max_voltage_error_pu);
        assert!(r.losses_kw > 20.0 && r.losses_kw < 200.0, "{}", r.losses_kw);
    }
}

#[test]
fn network_edge_list_round_trips() {
    let (net, circuit, _) = DlmpNetwork::from_feeder("ieee37").unwrap();
    let dir = std::env::temp_dir().join(format!("ogg-dlmp-net-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("network.csv");
    std::fs::write(&path, net.edge_list_csv()).unwrap();
    let back = DlmpNetwork::read_edge_list(&path).unwrap();
    assert_eq!(back.len(), net.len());
    let offers: Vec<Offer> = ogg_dlmp::cli::feeder_load_offers(&circuit);
    for f in Formulation::ALL {
        let opts = OpfOptions {
            formulation: f,
            v_exempt: vec!["799".into()],
            ..Default::default()
        };
        let mut a_net = net.clone();
        let mut b_net = back.clone();
        a_net.set_limit("sourcebus", "799", 4000.0).unwrap();
        b_net.set_limit("sourcebus", "799", 4000.0).unwrap();
        let pa: Vec<PlacedOffer> = offers
            .iter()
            .map(|o| PlacedOffer::place(&a_net, o).unwrap())
            .collect();
        let pb: Vec<PlacedOffer> = offers
            .iter()
            .map(|o| PlacedOffer::place(&b_net, o).unwrap())
            .collect();
        let a = solve(&a_net, &pa, &opts).unwrap();
        let b = solve(&b_net, &pb, &opts).unwrap();
        assert!(a.is_optimal() && b.is_optimal(), "{f}");
        for (i, bus) in net.tree.buses.iter().enumerate() {
            let j = back.bus_index(bus).unwrap();
            assert!((a.dlmp[i] - b.dlmp[j]).abs() < 1e-6, "{f} {bus}");
        }
    }
}
