//! Re-solves one feeder in a loop, for profilers (`perf record`):
//! `profile_resolve <feeder|synthetic:NODES> [re-solves]`.
use ogg_grid::{feeders, synthetic, PowerFlow};
fn main() {
    let name = std::env::args().nth(1).unwrap_or("ieee13".into());
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let circuit = match name.strip_prefix("synthetic:") {
        Some(nodes) => synthetic::circuit(nodes.parse().unwrap(), 1).unwrap(),
        None => feeders::circuit_from(&name).unwrap(),
    };
    let t = std::time::Instant::now();
    let mut pf = PowerFlow::new(&circuit).unwrap();
    eprintln!("compile {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = std::time::Instant::now();
    pf.solve().unwrap();
    eprintln!("first solve {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    eprintln!("{:?}", pf.linear_system_stats());
    let t = std::time::Instant::now();
    let mut up = true;
    for _ in 0..n {
        pf.scale_loads(if up { 1.01 } else { 1.0 / 1.01 });
        up = !up;
        pf.solve().unwrap();
    }
    eprintln!("{:.3} us per re-solve ({} iterations last)", t.elapsed().as_secs_f64() * 1e6 / n as f64, pf.last_report().iterations);
}
