//! Scaling of the clearing: random feeder-like trees of growing size, about
//! two orders per bus, cleared by the tree algorithm (and by Clarabel up to
//! 10k buses). Prints median time per clearing, µs per bus and peak memory.
//!
//! `cargo run --release -p ogg-market --example bench_auction [-- 100000]`

use std::time::Instant;

use ogg_market::auction::{place, Algorithm, Auctioneer, ClearOptions};
use ogg_market::testutil::{random_book, random_tree, Rng};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn median_time(engine: &mut Auctioneer, net: &ogg_market::RadialNetwork, orders: &[ogg_market::auction::PlacedOrder], reps: usize) -> (f64, f64) {
    let mut t = Vec::with_capacity(reps);
    let mut kkt = 0.0_f64;
    for _ in 0..reps {
        let s = Instant::now();
        let c = engine.clear(net, orders).expect("clears");
        t.push(s.elapsed().as_secs_f64());
        kkt = kkt.max(c.kkt.max());
    }
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], kkt)
}

fn main() {
    let max: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let mut sizes = vec![34, 100, 1_000, 10_000];
    if max > 10_000 {
        sizes.push(max);
    }
    println!("| buses | orders | tree: median | tree: ns per bus | Clarabel (Rust): median | max KKT | peak RSS |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for n in sizes {
        let mut rng = Rng::new(n as u64);
        let net = random_tree(&mut rng, n, 0.6);
        let book = random_book(&mut rng, &net, 2 * n, false);
        let orders = place(&net, &book).expect("valid book");
        let reps = (200_000 / n).clamp(5, 2000);
        let mut tree = Auctioneer::new(ClearOptions { algorithm: Algorithm::Tree, ..Default::default() });
        let (t_tree, kkt) = median_time(&mut tree, &net, &orders, reps);
        let clarabel = if n <= 10_000 {
            let mut qp = Auctioneer::new(ClearOptions { algorithm: Algorithm::Clarabel, ..Default::default() });
            let (t, _) = median_time(&mut qp, &net, &orders, (reps / 20).max(3));
            format!("{:.2} ms", t * 1e3)
        } else {
            "–".into()
        };
        println!(
            "| {n} | {} | {:.1} µs | {:.0} | {clarabel} | {kkt:.1e} | {:.1} MB |",
            orders.len(),
            t_tree * 1e6,
            t_tree * 1e9 / n as f64,
            peak_rss_mb()
        );
    }
}
