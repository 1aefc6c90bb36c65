//! Profiling helper: repeated tree-ipm solves of one random case.
use ogg_dlmp::opf::ipm::{IpmSettings, TreeIpm};
use ogg_dlmp::testutil::random_case;
use ogg_dlmp::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let f: Formulation = args[2].parse().unwrap();
    let reps: usize = args[3].parse().unwrap();
    let (net, offers) = random_case(n, n as u64, 0.25);
    let placed: Vec<PlacedOffer> = offers.iter().map(|o| PlacedOffer::place(&net, o).unwrap()).collect();
    let o = OpfOptions { formulation: f, lmp_source: 40.0, v_min_pu: 0.9, v_max_pu: 1.1, tolerance: 1e-8, ..Default::default() };
    let p = ogg_dlmp::opf::problem(&net, &placed, &o);
    let mut ipm = TreeIpm::new(&p, IpmSettings::with_tolerance(1e-8)).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..reps { std::hint::black_box(ipm.solve()); }
    println!("{:.1} µs per solve, {} iterations, L nnz {}, (dim, max col, Σcol²) {:?}", t.elapsed().as_secs_f64() / reps as f64 * 1e6, ipm.iterations, ipm.factor_nnz(), ipm.factor_stats());
}
