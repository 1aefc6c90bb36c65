//! Synthetic feeders and offers for tests, benchmarks and the examples.
//!
//! [`random_case`] makes a radial tree of `n` buses (each bus hangs off a
//! random bus among the later half of those before it, so depth grows like
//! log n as on real feeders with laterals), 12.47 kV-like impedances, about
//! 3 MW of demand whatever the size (loads at every bus, a fifth of them
//! demand response), generators at about one bus in seven, and a share of the
//! lines limited below the flow their demand would cause — with a generator
//! below each limited line so the OPF stays feasible. Deterministic for a seed.

use ogg_market::testutil::Rng;

use crate::network::{DlmpNetwork, ImpedanceEdge};
use crate::offer::{CostCurve, Offer};

/// A random tree and its offers (see the module docs).
pub fn random_case(n: usize, seed: u64, limited_share: f64) -> (DlmpNetwork, Vec<Offer>) {
    let n = n.max(2);
    let mut rng = Rng::new(seed ^ 0xD1A9_0000);
    let mut parent = vec![0usize; n];
    for (i, p) in parent.iter_mut().enumerate().skip(1) {
        let lo = i / 2;
        *p = (lo + rng.below(i - lo)).min(i - 1);
    }
    let per_bus = 3000.0 / (n - 1) as f64;
    let mut offers = Vec::new();
    let mut demand = vec![0.0; n];
    for i in 1..n {
        let bus = format!("b{i}");
        let kw = per_bus * rng.uniform(0.5, 1.5);
        let q_per_p = rng.uniform(0.2, 0.5);
        demand[i] = kw;
        if rng.next_f64() < 0.2 {
            let c1 = rng.uniform(40.0, 120.0);
            let c2 = rng.uniform(100.0, 2000.0) * (n as f64 / 40.0);
            offers.push(Offer::demand_response(
                &format!("dr{i}"),
                &bus,
                kw * rng.uniform(0.4, 0.8),
                kw,
                q_per_p,
                CostCurve::quadratic(c1, c2),
            ));
        } else {
            offers.push(Offer::load(&format!("load{i}"), &bus, kw, q_per_p));
        }
        if rng.next_f64() < 0.15 {
            let cap = per_bus * rng.uniform(2.0, 6.0);
            let c1 = rng.uniform(10.0, 60.0);
            let c2 = rng.uniform(50.0, 1000.0) * (n as f64 / 40.0);
            offers.push(Offer::generator(
                &format!("gen{i}"),
                &bus,
                0.0,
                cap,
                CostCurve::quadratic(c1, c2),
            ));
        }
    }
    // Demand below each edge (ids are already parents-first).
    let mut below = demand.clone();
    for i in (1..n).rev() {
        below[parent[i]] += below[i];
    }
    let mut edges = Vec::with_capacity(n - 1);
    for i in 1..n {
        let r = rng.uniform(1e-4, 4e-4) * (40.0 / n as f64).sqrt().clamp(0.3, 10.0);
        let x = r * rng.uniform(1.0, 2.0);
        let mut limit_kw = f64::INFINITY;
        if below[i] > 0.0 && rng.next_f64() < limited_share {
            // Below the demand flow, with a generator under the line to make up the difference.
            limit_kw = below[i] * rng.uniform(0.6, 0.95);
            let cap = below[i] * 1.5;
            let c1 = rng.uniform(35.0, 80.0);
            offers.push(Offer::generator(
                &format!("relief{i}"),
                &format!("b{i}"),
                0.0,
                cap,
                CostCurve::quadratic(c1, 200.0),
            ));
        }
        edges.push(ImpedanceEdge {
            name: format!("e{i}"),
            from: format!("b{}", parent[i]),
            to: format!("b{i}"),
            limit_kw,
            r_pu: r,
            x_pu: x,
            tap: 1.0,
        });
    }
    let net = DlmpNetwork::from_edges("b0", &edges, 1000.0).expect("a random tree is radial");
    (net, offers)
}

/// Largest |a − b| / (1 + max(|a|, |b|)) over the entries where either is
/// finite (the comparisons of tests and examples/resolve_check).
pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() || y.is_finite())
        .map(|(x, y)| (x - y).abs() / (1.0 + x.abs().max(y.abs())))
        .fold(0.0, f64::max)
}
