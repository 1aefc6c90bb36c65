//! Random trees and order books for tests, benchmarks and the examples.

use crate::network::{EdgeSpec, RadialNetwork};
use crate::order::{Curve, Order, Side};

/// SplitMix64: tiny and reproducible across platforms.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next_f64()
    }
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_f64() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

/// A random tree of `n` buses named `b0..`, root `b0`. Each new bus hangs off
/// one of the last few buses (a feeder-like, deep tree) or any earlier bus.
/// Limits are uniform in [5, 60] kW with probability `limited`, else unlimited.
pub fn random_tree(rng: &mut Rng, n: usize, limited: f64) -> RadialNetwork {
    let buses: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
    let edges: Vec<EdgeSpec> = random_tree_edges(rng, n, limited);
    RadialNetwork::from_edges(&buses, "b0", &edges).expect("a random tree is radial")
}

pub fn random_tree_edges(rng: &mut Rng, n: usize, limited: f64) -> Vec<EdgeSpec> {
    (1..n)
        .map(|i| {
            let parent = if rng.next_f64() < 0.7 { i - 1 - rng.below(i.min(3)) } else { rng.below(i) };
            let limit_kw = if rng.next_f64() < limited { rng.uniform(5.0, 60.0) } else { f64::INFINITY };
            EdgeSpec { name: format!("e{i}"), from: format!("b{parent}"), to: format!("b{i}"), limit_kw }
        })
        .collect()
}

/// A random order book: buyers bid 0–40 kW at 3–15 ¢/kWh with a small hard
/// minimum, sellers offer 0–50 kW at 1–12 ¢/kWh; plus one large seller at the
/// root so that the market is usually feasible. `flat` adds flat orders.
pub fn random_book(rng: &mut Rng, net: &RadialNetwork, n_orders: usize, flat: bool) -> Vec<Order> {
    let mut orders = vec![Order::new(
        "root_supply",
        net.buses[net.root].clone(),
        Side::Sell,
        Curve::new(rng.uniform(6.0, 10.0), rng.uniform(2.0, 5.0), 40.0 * n_orders as f64, 0.0),
    )];
    for k in 0..n_orders {
        let bus = net.buses[rng.below(net.len())].clone();
        let side = if k == 0 || rng.next_f64() < 0.6 { Side::Buy } else { Side::Sell };
        let (lo, hi) = match side {
            Side::Buy => (3.0, 15.0),
            Side::Sell => (1.0, 12.0),
        };
        let a = rng.uniform(lo, hi);
        let b = rng.uniform(lo, hi);
        let (mut p_max, p_min) = (a.max(b), a.min(b));
        if flat && rng.next_f64() < 0.3 {
            p_max = p_min;
        }
        let q_max = rng.uniform(1.0, if side == Side::Buy { 40.0 } else { 50.0 });
        let q_min = if side == Side::Buy && rng.next_f64() < 0.3 { rng.uniform(0.0, 0.3) * q_max } else { 0.0 };
        orders.push(Order::new(format!("o{k}"), bus, side, Curve::new(p_max, p_min, q_max, q_min)));
    }
    orders
}
