use ogg_dlmp::testutil::random_case;
use ogg_dlmp::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let seed: u64 = args[2].parse().unwrap();
    let f: Formulation = args[3].parse().unwrap();
    let (net, offers) = random_case(n, seed, 0.25);
    let placed: Vec<PlacedOffer> = offers.iter().map(|o| PlacedOffer::place(&net, o).unwrap()).collect();
    let base = |tol: f64, solver| OpfOptions { formulation: f, conic_solver: solver, lmp_source: 35.0 + seed as f64, v_min_pu: 0.9, v_max_pu: 1.1, tolerance: tol, ..Default::default() };
    let truth = solve(&net, &placed, &base(1e-12, ConicSolver::Clarabel)).unwrap();
    let tols: Vec<f64> = std::env::var("TOLS").map(|t| t.split(",").map(|x| x.parse().unwrap()).collect()).unwrap_or(vec![1e-9, 1e-10, 1e-11]);
    for tol in tols {
        for solver in [ConicSolver::Clarabel, ConicSolver::TreeIpm] {
            let t0 = std::time::Instant::now();
            let s = solve(&net, &placed, &base(tol, solver)).unwrap();
            let dt = t0.elapsed().as_secs_f64();
            let worst = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            let (k, d) = s.injection_kw.iter().zip(&truth.injection_kw).map(|(x, y)| (x - y).abs()).enumerate().fold((0, 0.0), |a, (k, d)| if d > a.1 { (k, d) } else { a });
            let (kb, db) = s.dlmp.iter().zip(&truth.dlmp).map(|(x, y)| (x - y).abs()).enumerate().fold((0, 0.0), |a, (k, d)| if d > a.1 { (k, d) } else { a });
            println!("   worst bus {} dlmp {} truth {} diff {db:e}; bus 7: {}", net.bus_name(kb), s.dlmp[kb], truth.dlmp[kb], s.dlmp[7]);
            println!("   worst offer {} {:?} bus {} inj {} vs {} diff {d:e} cost {:?} lo {} hi {}", offers[k].agent, offers[k].kind, offers[k].bus, s.injection_kw[k], truth.injection_kw[k], placed[k].cost, placed[k].lo, placed[k].hi);
            println!("{tol:e} {:>30} it {:3} {:.1} ms obj {:.10} dlmp {:.2e} q {:.2e} disp {:.2e} kW v {:.2e} loss {:.2e}", s.solver, s.iterations, dt * 1e3, s.objective,
                worst(&s.dlmp, &truth.dlmp), worst(&s.q_price, &truth.q_price), worst(&s.injection_kw, &truth.injection_kw), worst(&s.voltage_pu, &truth.voltage_pu), worst(&s.decomposition.loss, &truth.decomposition.loss));
        }
    }
}
