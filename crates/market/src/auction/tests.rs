//! Closed-form cases, the finite-difference sign of prices, tree vs Clarabel on
//! random trees, infeasibility and the paper's properties.

use super::*;
use crate::network::EdgeSpec;
use crate::testutil::{random_book, random_tree, Rng};

fn net(buses: &[&str], edges: &[(&str, &str, f64)]) -> RadialNetwork {
    let buses: Vec<String> = buses.iter().map(|s| s.to_string()).collect();
    let edges: Vec<EdgeSpec> = edges
        .iter()
        .enumerate()
        .map(|(k, &(a, b, l))| EdgeSpec { name: format!("l{k}"), from: a.into(), to: b.into(), limit_kw: l })
        .collect();
    RadialNetwork::from_edges(&buses, &buses[0], &edges).unwrap()
}

fn both(net: &RadialNetwork, orders: &[Order]) -> (Clearing, Clearing, Vec<PlacedOrder>) {
    let placed = place(net, orders).unwrap();
    let t = clear(net, &placed, ClearOptions { algorithm: Algorithm::Tree, ..Default::default() }).unwrap();
    let c = clear(net, &placed, ClearOptions { algorithm: Algorithm::Clarabel, ..Default::default() }).unwrap();
    (t, c, placed)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn single_bus_clears_at_the_intersection() {
    // Supply p = q, demand p = 10 − q: q = 5 at 5 ¢/kWh.
    let n = net(&["a"], &[]);
    let orders = [Order::sell("s", "a", 10.0, 0.0, 10.0, 0.0), Order::buy("d", "a", 10.0, 0.0, 10.0, 0.0)];
    let (t, c, _) = both(&n, &orders);
    for r in [&t, &c] {
        assert!(r.is_cleared());
        assert!(close(r.bus_price[0], 5.0, 1e-7), "{:?}", r.bus_price);
        assert!(close(r.quantity[0], 5.0, 1e-7) && close(r.quantity[1], 5.0, 1e-7));
        assert!(close(r.welfare, 25.0, 1e-7)); // the triangle between the curves
        assert!(r.kkt.max() < 1e-6, "{:?}", r.kkt);
    }
    assert_eq!(t.bus_price[0], 5.0); // the tree algorithm is exact
}

#[test]
fn flat_offer_sets_the_price_and_splits_by_balance() {
    // Flat feeder-head supply at 4.3 up to 100 kW; inelastic-ish demand 30 kW.
    let n = net(&["a", "b"], &[("a", "b", 1000.0)]);
    let orders = [Order::sell("head", "a", 4.3, 4.3, 100.0, 0.0), Order::buy("d", "b", 50.0, 10.0, 30.0, 27.0)];
    let (t, c, _) = both(&n, &orders);
    assert_eq!(t.bus_price, vec![4.3, 4.3]);
    assert_eq!(t.quantity, vec![30.0, 30.0]);
    assert!(close(c.bus_price[1], 4.3, 1e-7) && close(c.quantity[0], 30.0, 1e-6));
}

#[test]
fn two_bus_congested_line_separates_prices_by_the_congestion_dual() {
    // Root a: cheap seller p = q. Bus b: buyer p = 10 − q, local seller p = 2 + q.
    // Unconstrained: λ = 4 everywhere, flow 4 kW. With a 2 kW limit:
    //   a: q1 = 2 at λ_a = 2;  b: 10 − λ = λ − 2 + 2 → λ_b = 5, q_d = 5, q2 = 3.
    let n = net(&["a", "b"], &[("a", "b", 2.0)]);
    let orders = [
        Order::sell("cheap", "a", 10.0, 0.0, 10.0, 0.0),
        Order::buy("d", "b", 10.0, 0.0, 10.0, 0.0),
        Order::sell("local", "b", 12.0, 2.0, 10.0, 0.0),
    ];
    let (t, c, placed) = both(&n, &orders);
    let b = n.bus_index("b").unwrap();
    for r in [&t, &c] {
        assert!(close(r.bus_price[0], 2.0, 1e-7), "{:?}", r.bus_price);
        assert!(close(r.bus_price[b], 5.0, 1e-7));
        assert!(close(r.quantity[0], 2.0, 1e-7));
        assert!(close(r.quantity[1], 5.0, 1e-7));
        assert!(close(r.quantity[2], 3.0, 1e-7));
        assert!(close(r.flow[b], 2.0, 1e-7));
        assert!(close(r.congestion_price[b], 3.0, 1e-7));
        assert!(close(r.congestion_rent[b], 6.0, 1e-6));
        assert!(r.congested(&n, b));
        // Nodal settlement: buyers pay 25, sellers get 2·2 + 3·5 = 19; gap = rent = 6.
        let p = r.properties(&placed);
        assert!(close(p.imbalance(), 6.0, 1e-6) && close(p.rent, 6.0, 1e-6));
    }
    // Without the limit: one price.
    let n2 = net(&["a", "b"], &[("a", "b", 100.0)]);
    let (t2, c2, _) = both(&n2, &orders);
    for r in [&t2, &c2] {
        assert!(close(r.bus_price[0], 4.0, 1e-7) && close(r.bus_price[1], 4.0, 1e-7));
        assert!(close(r.flow[1], 4.0, 1e-7));
    }
}

#[test]
fn prices_are_the_marginal_surplus_of_demand_finite_difference() {
    let mut rng = Rng::new(7);
    let n = random_tree(&mut rng, 12, 0.6);
    let orders = random_book(&mut rng, &n, 20, false);
    let placed = place(&n, &orders).unwrap();
    let base = clear(&n, &placed, Default::default()).unwrap();
    assert!(base.is_cleared());
    let eps = 1e-4;
    for bus in [0, 3, 7, 11] {
        // An extra demand of exactly eps at `bus` that values energy at 0:
        // welfare changes by −λ_bus·eps.
        let mut more = placed.clone();
        more.push(PlacedOrder { id: "probe".into(), bus, side: Side::Buy, curve: Curve::new(0.0, 0.0, 2.0 * eps, eps) });
        for algorithm in [Algorithm::Tree, Algorithm::Clarabel] {
            let base = clear(&n, &placed, ClearOptions { algorithm, ..Default::default() }).unwrap();
            let r = clear(&n, &more, ClearOptions { algorithm, ..Default::default() }).unwrap();
            assert!(r.is_cleared());
            let fd = -(r.welfare - base.welfare) / eps;
            assert!(
                (fd - base.bus_price[bus]).abs() < 1e-2 * (1.0 + base.bus_price[bus].abs()),
                "{algorithm:?} bus {bus}: finite difference {fd} vs price {}",
                base.bus_price[bus]
            );
        }
    }
}

#[test]
fn tree_matches_clarabel_on_random_trees() {
    let mut rng = Rng::new(2024);
    let mut congested_cases = 0;
    for case in 0..60 {
        let buses = 2 + (rng.next_f64() * 60.0) as usize;
        let n = random_tree(&mut rng, buses, 0.5);
        let n_orders = 1 + (rng.next_f64() * 2.0 * buses as f64) as usize;
        let orders = random_book(&mut rng, &n, n_orders, false);
        let (t, c, placed) = both(&n, &orders);
        assert_eq!(t.is_cleared(), c.is_cleared(), "case {case}: {:?} vs {:?}", t.status, c.status);
        if !t.is_cleared() {
            continue;
        }
        assert!(t.kkt.max() < 1e-8, "case {case}: tree KKT {:?}", t.kkt);
        assert!(c.kkt.max() < 1e-5, "case {case}: clarabel KKT {:?}", c.kkt);
        assert!(close(t.welfare, c.welfare, 1e-7), "case {case}: welfare {} vs {}", t.welfare, c.welfare);
        for i in 0..n.len() {
            if !close(t.bus_price[i], c.bus_price[i], 1e-5) {
                eprintln!("net parent {:?} limits {:?}", n.parent, n.limit_kw);
                for (k, o) in placed.iter().enumerate() { eprintln!("{k} {:?} q t {} c {}", o, t.quantity[k], c.quantity[k]); }
                eprintln!("prices t {:?}\n c {:?}\n flows t {:?}\n c {:?}", t.bus_price, c.bus_price, t.flow, c.flow);
            }
            assert!(close(t.bus_price[i], c.bus_price[i], 1e-5), "case {case} bus {i}: {} vs {}", t.bus_price[i], c.bus_price[i]);
        }
        for k in 0..placed.len() {
            let scale = placed[k].curve.q_max;
            assert!((t.quantity[k] - c.quantity[k]).abs() <= 1e-5 * (1.0 + scale), "case {case} order {k}: {} vs {}", t.quantity[k], c.quantity[k]);
        }
        if n.edges().any(|e| t.congested(&n, e) && t.congestion_price[e].abs() > 1e-6) {
            congested_cases += 1;
        }
        // Properties (6)–(8) under both settlements.
        let p = t.properties(&placed);
        assert!(p.supply_on_or_above_curve(), "case {case}: (6) gap {}", p.worst_supply_gap);
        assert!(p.demand_on_or_below_curve(), "case {case}: (7) gap {}", p.worst_demand_gap);
        assert!(close(p.imbalance(), t.total_rent(), 1e-9), "nodal imbalance = rent");
        assert!(t.total_rent() >= -1e-9);
        let mut a = Auctioneer::new(ClearOptions { settlement: Settlement::RentToBuyers, ..Default::default() });
        let bb = a.clear(&n, &placed).unwrap();
        let pb = bb.properties(&placed);
        assert!(pb.imbalance().abs() < 1e-9 * (1.0 + pb.paid_by_buyers.abs()), "(8) budget balance: {}", pb.imbalance());
        assert!(pb.supply_on_or_above_curve() && pb.demand_on_or_below_curve());
    }
    assert!(congested_cases > 10, "random cases should exercise congestion ({congested_cases})");
}

#[test]
fn flat_orders_match_clarabel_in_prices() {
    // With flat orders quantities can be non-unique; prices and welfare are.
    let mut rng = Rng::new(99);
    for case in 0..30 {
        let n = random_tree(&mut rng, 3 + case, 0.5);
        let orders = random_book(&mut rng, &n, 2 * (3 + case), true);
        let (t, c, _) = both(&n, &orders);
        assert_eq!(t.is_cleared(), c.is_cleared());
        if !t.is_cleared() {
            continue;
        }
        assert!(t.kkt.max() < 1e-8, "case {case}: {:?}", t.kkt);
        assert!(close(t.welfare, c.welfare, 1e-6), "case {case}: {} vs {}", t.welfare, c.welfare);
    }
}

#[test]
fn infeasible_markets_are_outcomes() {
    // Inelastic 10 kW behind a 5 kW line with no local supply.
    let n = net(&["a", "b"], &[("a", "b", 5.0)]);
    let orders = [Order::sell("s", "a", 5.0, 1.0, 100.0, 0.0), Order::buy("d", "b", 50.0, 40.0, 12.0, 10.0)];
    let (t, c, _) = both(&n, &orders);
    match &t.status {
        Status::Infeasible { reason } => assert!(reason.contains("l0") && reason.contains("10"), "{reason}"),
        s => panic!("expected infeasible, got {s:?}"),
    }
    assert!(matches!(c.status, Status::Infeasible { .. }));
    // Demand larger than all supply.
    let n = net(&["a"], &[]);
    let orders = [Order::sell("s", "a", 5.0, 1.0, 5.0, 0.0), Order::buy("d", "a", 50.0, 40.0, 12.0, 10.0)];
    let (t, _, _) = both(&n, &orders);
    assert!(matches!(&t.status, Status::Infeasible { reason } if reason.contains("demand cannot be served")));
}

#[test]
fn unknown_bus_names_the_agent() {
    let n = net(&["a", "b"], &[("a", "b", 5.0)]);
    let e = place(&n, &[Order::buy("bob", "zz", 5.0, 1.0, 2.0, 0.0)]).unwrap_err().to_string();
    assert!(e.contains("bob") && e.contains("zz"), "{e}");
    let e = place(&n, &[Order::buy("carol", "a", 1.0, 5.0, 2.0, 0.0)]).unwrap_err().to_string();
    assert!(e.contains("carol") && e.contains("p_max"), "{e}");
}

#[test]
fn deep_paths_and_reuse() {
    // A 3000-bus path with alternating congestion: exercise the merge and the clarabel update path.
    let mut rng = Rng::new(5);
    let buses: Vec<String> = (0..3000).map(|i| format!("n{i}")).collect();
    let edges: Vec<EdgeSpec> = (1..3000)
        .map(|i| EdgeSpec { name: format!("e{i}"), from: buses[i - 1].clone(), to: buses[i].clone(), limit_kw: 20.0 + 30.0 * rng.next_f64() })
        .collect();
    let n = RadialNetwork::from_edges(&buses, "n0", &edges).unwrap();
    let orders = random_book(&mut rng, &n, 4000, false);
    let placed = place(&n, &orders).unwrap();
    let t = clear(&n, &placed, Default::default()).unwrap();
    if t.is_cleared() {
        assert!(t.kkt.max() < 1e-7, "{:?}", t.kkt);
    }
    let mut a = Auctioneer::new(ClearOptions { algorithm: Algorithm::Clarabel, ..Default::default() });
    let small = random_tree(&mut rng, 30, 0.5);
    for _ in 0..3 {
        // Same pattern, new curves: the Clarabel problem is updated in place.
        let mut book = random_book(&mut Rng::new(1), &small, 40, false);
        for o in &mut book {
            o.curve.p_max += rng.next_f64();
        }
        let placed = place(&small, &book).unwrap();
        let r = a.clear(&small, &placed).unwrap();
        let t = clear(&small, &placed, Default::default()).unwrap();
        if r.is_cleared() {
            for i in 0..small.len() {
                assert!(close(r.bus_price[i], t.bus_price[i], 1e-5));
            }
        }
    }
}

#[test]
fn a_zero_limit_islands_a_subtree() {
    // Bus b is cut off (limit 0): it clears on its own curves, a on its own.
    let n = net(&["a", "b", "c"], &[("a", "b", 0.0), ("b", "c", 50.0)]);
    let orders = [
        Order::sell("sa", "a", 10.0, 0.0, 10.0, 0.0),
        Order::buy("da", "a", 10.0, 0.0, 10.0, 0.0),
        Order::sell("sb", "b", 8.0, 2.0, 6.0, 0.0),
        Order::buy("dc", "c", 12.0, 0.0, 12.0, 0.0),
    ];
    let (t, c, _) = both(&n, &orders);
    // a: q = 5 at 5. b+c: supply p = 2 + q, demand p = 12 − q → q = 5 at 7.
    for r in [&t, &c] {
        assert!(r.is_cleared());
        assert!(close(r.bus_price[0], 5.0, 1e-6), "{:?}", r.bus_price);
        assert!(close(r.bus_price[1], 7.0, 1e-6) && close(r.bus_price[2], 7.0, 1e-6), "{:?}", r.bus_price);
        assert!(r.flow[1].abs() < 1e-6 && close(r.flow[2], 5.0, 1e-6));
        assert!(r.kkt.max() < 1e-5, "{:?}", r.kkt);
    }
}

/// Clears with the tree algorithm, its merged breakpoint sets held as sorted
/// Vecs or as ordered maps from the given size on (`None`: the default rule).
fn clear_with_move_base(net: &RadialNetwork, placed: &[PlacedOrder], move_base: Option<usize>) -> Clearing {
    let mut a = Auctioneer::default();
    a.tree_ws.move_base = move_base;
    a.clear(net, placed).unwrap()
}

#[test]
fn breakpoint_sets_as_vecs_or_maps_clear_bit_for_bit_alike() {
    // Feeder-like trees and a long unlimited chain (where the default rule
    // moves the trunk's set into a map): every representation gives the same
    // bits, and the chain agrees with Clarabel.
    let mut rng = Rng::new(11);
    let chain: Vec<String> = (0..1500).map(|i| format!("n{i}")).collect();
    let edges: Vec<EdgeSpec> = (1..1500)
        .map(|i| EdgeSpec { name: format!("e{i}"), from: chain[i - 1].clone(), to: chain[i].clone(), limit_kw: f64::INFINITY })
        .collect();
    let path = RadialNetwork::from_edges(&chain, "n0", &edges).unwrap();
    let mut cases = vec![(path, 3000)];
    for (buses, limited) in [(400, 0.5), (1200, 0.2)] {
        cases.push((random_tree(&mut rng, buses, limited), 2 * buses));
    }
    let mut cleared = 0;
    for (k, (n, n_orders)) in cases.iter().enumerate() {
        let placed = place(n, &random_book(&mut rng, n, *n_orders, true)).unwrap();
        let default = clear_with_move_base(n, &placed, None);
        for move_base in [Some(0), Some(usize::MAX / 4)] {
            let other = clear_with_move_base(n, &placed, move_base);
            assert_eq!(other.status, default.status, "case {k}");
            let bits = |c: &Clearing| {
                let all = [&c.bus_price, &c.quantity, &c.flow];
                all.iter().flat_map(|v| v.iter().map(|x| x.to_bits())).collect::<Vec<u64>>()
            };
            assert!(bits(&other) == bits(&default), "case {k}, move_base {move_base:?}: results differ");
        }
        if k == 0 && default.is_cleared() {
            assert!(default.kkt.max() < 1e-8, "{:?}", default.kkt);
            let c = clear(n, &placed, ClearOptions { algorithm: Algorithm::Clarabel, ..Default::default() }).unwrap();
            for i in 0..n.len() {
                assert!(close(c.bus_price[i], default.bus_price[i], 1e-5), "bus {i}: {} vs {}", c.bus_price[i], default.bus_price[i]);
            }
        }
        cleared += default.is_cleared() as usize;
    }
    assert!(cleared >= 2, "only {cleared} of the cases cleared");
}

#[test]
fn a_reused_auctioneer_clears_like_a_fresh_one() {
    // The workspace keeps its buffers between clearings (and across networks of other sizes).
    let mut rng = Rng::new(3);
    let mut reused = Auctioneer::default();
    for buses in [300, 40, 300, 900, 5] {
        let n = random_tree(&mut rng, buses, 0.4);
        let placed = place(&n, &random_book(&mut rng, &n, 2 * buses, true)).unwrap();
        let again = reused.clear(&n, &placed).unwrap();
        let fresh = clear(&n, &placed, Default::default()).unwrap();
        assert_eq!(again, fresh, "{buses} buses");
    }
}
