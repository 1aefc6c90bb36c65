//! Re-solves one feeder in a loop, for profilers (`perf record`):
//! `profile_resolve <feeder|synthetic:NODES> [re-solves]`.
use ogg_grid::{feeders, synthetic, PowerFlow};
fn main() {
    let name = std::env::args().nth(1).unwrap_or("ieee13".into());
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let t = std::time::Instant::now();
    let circuit = match name.strip_prefix("synthetic:") {
        Some(nodes) => synthetic::circuit(nodes.parse().unwrap(), 1).unwrap(),
        None => feeders::circuit_from(&name).unwrap(),
    };
    eprintln!("generate + read {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = std::time::Instant::now();
    let mut pf = PowerFlow::new(&circuit).unwrap();
    eprintln!("compile {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = std::time::Instant::now();
    pf.solve().unwrap();
    eprintln!("first solve {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
    eprintln!("{:?}", pf.linear_system_stats());
    // As the benchmark: every load +1 % cumulatively, back to the start every 40.
    let start = pf.clone();
    let t = std::time::Instant::now();
    let mut iters = 0;
    let mut ctrl = 0;
    for k in 0..n {
        if k % 40 == 39 {
            pf = start.clone();
        }
        pf.scale_loads(1.01);
        let r = pf.solve().unwrap();
        iters += r.iterations;
        ctrl += r.control_iterations;
    }
    eprintln!("mean iterations {:.2}, control iterations {:.2}", iters as f64 / n as f64, ctrl as f64 / n as f64);
    eprintln!("{:.3} us per re-solve ({} iterations last)", t.elapsed().as_secs_f64() * 1e6 / n as f64, pf.last_report().iterations);
}
