//! Where a re-solve's time goes (release build): assembly, tree-ipm, Clarabel.
use ogg_dlmp::opf::ipm::{IpmSettings, TreeIpm};
use ogg_dlmp::testutil::random_case;
use ogg_dlmp::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let reps: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(20);
    let (net, offers) = random_case(n, n as u64, 0.25);
    let placed: Vec<PlacedOffer> = offers
        .iter()
        .map(|o| PlacedOffer::place(&net, o).unwrap())
        .collect();
    for f in Formulation::ALL {
        let o = OpfOptions {
            formulation: f,
            lmp_source: 40.0,
            v_min_pu: 0.9,
            v_max_pu: 1.1,
            tolerance: 1e-8,
            ..Default::default()
        };
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(ogg_dlmp::opf::problem(&net, &placed, &o));
        }
        let t_asm = t.elapsed().as_secs_f64() / reps as f64;
        let p = ogg_dlmp::opf::problem(&net, &placed, &o);
        let t = Instant::now();
        let mut ipm = TreeIpm::new(&p, IpmSettings::with_tolerance(1e-8)).unwrap();
        let t_sym = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut st = None;
        for _ in 0..reps {
            st = Some(ipm.solve());
        }
        let t_ipm = t.elapsed().as_secs_f64() / reps as f64;
        let mut tot = [0.0; 2];
        let mut its = [0u32; 2];
        for (k, solver) in [ConicSolver::TreeIpm, ConicSolver::Clarabel]
            .into_iter()
            .enumerate()
        {
            let mut s = OpfSolver::new();
            let oo = OpfOptions {
                conic_solver: solver,
                ..o.clone()
            };
            s.solve(&net, &placed, &oo).unwrap();
            let t = Instant::now();
            for r in 0..reps {
                let mut o2 = oo.clone();
                o2.lmp_source *= 1.0 + 1e-3 * ((r % 7) as f64 - 3.0);
                its[k] = s.solve(&net, &placed, &o2).unwrap().iterations;
            }
            tot[k] = t.elapsed().as_secs_f64() / reps as f64;
        }
        println!("n {n} {f:12} vars {} rows {} kkt {:?} | assemble {:.1} µs, symbolic {:.1} µs, tree-ipm solve {:.1} µs ({} it, L nnz {}, {:?}) | full re-solve tree-ipm {:.1} µs ({} it), clarabel {:.1} µs ({} it)",
            p.a.n, p.a.m, ipm.factor_stats(), t_asm * 1e6, t_sym * 1e6, t_ipm * 1e6, ipm.iterations, ipm.factor_nnz(), st.unwrap(), tot[0] * 1e6, its[0], tot[1] * 1e6, its[1]);
    }
}
