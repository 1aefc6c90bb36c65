//! Reads and compiles one feeder N times (for profilers: `valgrind --tool=callgrind`):
//!
//! ```text
//! cargo run --release -p ogg-grid --example profile_compile -- FEEDER_OR_PATH [N] [--read-only] [--cpu]
//! ```
//!
//! `--synthetic NODES` instead of a feeder times the benchmark's synthetic feeder
//! (read from memory, as `bench_powerflow` does). Prints the mean and median time per compile.
//! `--cpu` takes the median of each compile's CPU time (the thread's, Linux) instead of
//! wall time: on a shared machine, time spent waiting for a core then does not count.

use std::time::Instant;

/// The product's allocator (as the `ogg` binary and the Python extension use):
/// mimalloc, which keeps freed pages for reuse where glibc's malloc returns a
/// compile's memory to the system and faults it in again on the next one.
/// (`--features system-allocator`: the system's, for comparison.)
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ogg_grid::{feeders, synthetic, PowerFlow};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let read_only = args.iter().any(|a| a == "--read-only");
    let cpu_time = args.iter().any(|a| a == "--cpu");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let synthetic_nodes = args.iter().position(|a| a == "--synthetic").and_then(|i| args.get(i + 1)).map(|n| {
        n.parse::<usize>().unwrap_or_else(|_| panic!("--synthetic takes a node count, not `{n}`"))
    });
    let (feeder, repeats_arg) = match synthetic_nodes {
        Some(_) => (None, positional.get(1)),
        None => (Some(positional.first().expect("give a feeder name or a path").as_str()), positional.get(1)),
    };
    let repeats: usize = repeats_arg.map(|s| s.parse().expect("N is a count")).unwrap_or(10);
    let script = synthetic_nodes.map(|n| synthetic::script(n, 1));
    let make = || match (&script, feeder) {
        (Some(s), _) => ogg_dss::read_str(s, "synthetic.dss", &ogg_dss::MemoryFiles::new()).expect("synthetic"),
        (None, Some(f)) => feeders::circuit_from(f).unwrap_or_else(|e| panic!("{e}")),
        _ => unreachable!(),
    };
    // Time spent reading, compiling and dropping, summed over the repeats.
    let (mut read_s, mut new_s, mut drop_s) = (0.0, 0.0, 0.0);
    // Each compile's read + PowerFlow::new, for the median (a loaded machine's outliers).
    let mut compile_s: Vec<f64> = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let cpu0 = cpu_time.then(thread_cpu_seconds).flatten();
        let t0 = Instant::now();
        let t = t0;
        let circuit = make();
        read_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let pf = (!read_only).then(|| PowerFlow::new(&circuit).expect("compile"));
        new_s += t.elapsed().as_secs_f64();
        let wall = t0.elapsed().as_secs_f64();
        compile_s.push(match (cpu0, cpu_time.then(thread_cpu_seconds).flatten()) {
            (Some(a), Some(b)) => b - a,
            _ => wall,
        });
        let t = Instant::now();
        drop(std::hint::black_box(pf));
        drop(std::hint::black_box(circuit));
        drop_s += t.elapsed().as_secs_f64();
    }
    if !read_only {
        // Size of the linear system and of its factor (fill shows the ordering's quality).
        let (n, nnz_y, nnz_l) = PowerFlow::new(&make()).expect("compile").linear_system_stats();
        println!("{n} nodes, {nnz_y} entries in Y, {nnz_l} below the diagonal of L");
    }
    let per = |s: f64| s * 1e3 / repeats as f64;
    compile_s.sort_by(|a, b| a.total_cmp(b));
    let median_ms = compile_s.get(compile_s.len() / 2).map_or(0.0, |s| s * 1e3);
    let clock = if cpu_time { "CPU " } else { "" };
    println!(
        "{:.4} ms per compile ({clock}median {:.4} ms): read {:.4} ms, PowerFlow::new {:.4} ms (dropping both: {:.4} ms)",
        per(read_s + new_s),
        median_ms,
        per(read_s),
        per(new_s),
        per(drop_s)
    );
}

/// This thread's CPU time so far (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, exact to the
/// nanosecond, where /proc's schedstat lags by up to a scheduler tick).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_seconds() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid pointer to a timespec, which the call fills in.
    let ok = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    ok.then(|| t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_seconds() -> Option<f64> {
    None
}
