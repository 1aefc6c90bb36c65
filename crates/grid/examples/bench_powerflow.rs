//! Power-flow timings, printed as JSON (run with `--release`):
//!
//! ```text
//! cargo run --release -p ogg-grid --example bench_powerflow -- [FEEDER ...] [--synthetic 1000,10000,100000] [--reps N]
//! ```
//!
//! For each feeder (built-in name or path to a master script; default:
//! ieee13 ieee34 ieee37) it measures the median of
//! * `compile_ms`: read the script + compile (numbering, Yprims, Y pattern,
//!   symbolic LU, voltage bases),
//! * `first_solve_ms`: the first `Solve` of a freshly compiled circuit
//!   (initialisation, power flow, control iterations),
//! * `resolve_ms`: every load +1 % then re-solve, warm-started (back to
//!   nominal once the demand has grown by half, as the OpenDSS side does;
//!   `OGG_BENCH_TRACE=1` prints the iteration count of every re-solve).
//!
//! For synthetic radial feeders (`synthetic::circuit`) of the given node
//! counts it measures the same, plus nodes, so growth with size can be read off.

use std::time::Instant;

/// The product's allocator (as the `ogg` binary and the Python extension use):
/// mimalloc, which keeps freed pages for reuse where glibc's malloc returns a
/// compile's memory to the system and faults it in again on the next one.
/// (`--features system-allocator`: the system's, for comparison.)
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ogg_grid::{feeders, synthetic, PowerFlow};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs `f` (which returns its own timing in ms) until at least `reps`
/// samples and ~`budget_s` seconds; returns the median.
fn bench<F: FnMut() -> f64>(reps: usize, budget_s: f64, mut f: F) -> f64 {
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < reps || (start.elapsed().as_secs_f64() < budget_s && samples.len() < 100 * reps) {
        samples.push(f());
        if start.elapsed().as_secs_f64() > 10.0 * budget_s && samples.len() >= 3 {
            break;
        }
    }
    median(samples)
}

struct Timing {
    name: String,
    nodes: usize,
    compile_ms: f64,
    first_solve_ms: f64,
    resolve_ms: f64,
    iterations_first: usize,
    iterations_resolve: usize,
}

fn measure(name: &str, make: &dyn Fn() -> ogg_dss::Circuit, reps: usize) -> Timing {
    let compile_ms = bench(reps, 0.5, || {
        let t = Instant::now();
        let c = make();
        let pf = PowerFlow::new(&c).expect("compile");
        let dt = ms(t);
        std::hint::black_box(pf);
        dt
    });
    let compiled = PowerFlow::new(&make()).expect("compile");
    let mut iterations_first = 0;
    let first_solve_ms = bench(reps, 0.5, || {
        let mut pf = compiled.clone();
        let t = Instant::now();
        let r = pf.solve().expect("solve");
        let dt = ms(t);
        iterations_first = r.iterations;
        dt
    });
    let mut solved = compiled.clone();
    solved.solve().expect("solve");
    let first_power = solved.total_power().0;
    // Every load +1 % then Solve, cumulatively, as the OpenDSS side does
    // (bench/powerflow_vs_opendss.py): once the source power passes 1.5× its
    // first-solve value, loads back to nominal and one untimed Solve. Rounds of
    // the same `steps` steps from the first solution, so the mix of easy and
    // hard re-solves (the iteration counts) is OpenDSS's.
    let steps = (3 * reps).max(60);
    let trace = std::env::var_os("OGG_BENCH_TRACE").is_some();
    let mut iterations_resolve = 0;
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut round = 0;
    while round == 0 || (start.elapsed().as_secs_f64() < 0.5 && round < 20) {
        let mut pf = solved.clone();
        let mut its = Vec::new();
        for _ in 0..steps {
            let t = Instant::now();
            pf.scale_loads(1.01);
            let r = pf.solve().expect("re-solve");
            samples.push(ms(t));
            iterations_resolve = r.iterations;
            its.push(r.iterations);
            if pf.total_power().0 > 1.5 * first_power {
                pf.reset_loads();
                pf.solve().expect("solve at nominal");
            }
        }
        if trace && round == 0 {
            eprintln!("{name}: re-solve iterations {its:?}");
        }
        round += 1;
    }
    let resolve_ms = median(samples);
    Timing {
        name: name.to_string(),
        nodes: compiled.n_nodes(),
        compile_ms,
        first_solve_ms,
        resolve_ms,
        iterations_first,
        iterations_resolve,
    }
}

fn json(t: &Timing) -> String {
    format!(
        "{{\"feeder\": \"{}\", \"nodes\": {}, \"compile_ms\": {:.5}, \"first_solve_ms\": {:.5}, \"resolve_ms\": {:.6}, \"iterations_first\": {}, \"iterations_resolve\": {}}}",
        t.name, t.nodes, t.compile_ms, t.first_solve_ms, t.resolve_ms, t.iterations_first, t.iterations_resolve
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut feeders_wanted: Vec<String> = Vec::new();
    let mut sizes: Vec<usize> = vec![1000, 10_000, 100_000];
    let mut reps = 15;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--synthetic" => {
                let v = args.next().unwrap_or_default();
                sizes = if v.is_empty() || v == "none" {
                    Vec::new()
                } else {
                    v.split(',').map(|s| s.trim().parse().expect("--synthetic takes node counts, e.g. 1000,10000")).collect()
                };
            }
            "--reps" => reps = args.next().and_then(|s| s.parse().ok()).expect("--reps takes a number"),
            "-h" | "--help" => {
                println!("bench_powerflow [FEEDER ...] [--synthetic 1000,10000,100000|none] [--reps N]");
                return;
            }
            other => feeders_wanted.push(other.to_string()),
        }
    }
    if feeders_wanted.is_empty() {
        feeders_wanted = vec!["ieee13".into(), "ieee34".into(), "ieee37".into()];
    }
    let mut out = Vec::new();
    for f in &feeders_wanted {
        let name = f.clone();
        let make = move || feeders::circuit_from(&name).unwrap_or_else(|e| panic!("{e}"));
        let t = measure(f, &make, reps);
        eprintln!("{}", json(&t));
        out.push(json(&t));
    }
    let mut synth = Vec::new();
    for &n in &sizes {
        let script = synthetic::script(n, 1);
        let make = move || {
            ogg_dss::read_str(&script, "synthetic.dss", &ogg_dss::MemoryFiles::new()).expect("synthetic feeder")
        };
        let t = measure(&format!("synthetic{n}"), &make, reps.min(7));
        eprintln!("{}", json(&t));
        synth.push(json(&t));
    }
    println!("{{\n  \"feeders\": [\n    {}\n  ],\n  \"synthetic\": [\n    {}\n  ]\n}}", out.join(",\n    "), synth.join(",\n    "));
}
