use clarabel::solver::*;
use ogg_dlmp::opf::ipm::{IpmSettings, TreeIpm};
use ogg_dlmp::testutil::random_case;
use ogg_dlmp::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let seed: u64 = args[2].parse().unwrap();
    let f: Formulation = args[3].parse().unwrap();
    let (net, offers) = random_case(n, seed, 0.25);
    let placed: Vec<PlacedOffer> = offers.iter().map(|o| PlacedOffer::place(&net, o).unwrap()).collect();
    let o = OpfOptions { formulation: f, lmp_source: 35.0 + seed as f64, v_min_pu: 0.9, v_max_pu: 1.1, ..Default::default() };
    let p = ogg_dlmp::opf::problem(&net, &placed, &o);
    let mut ipm = TreeIpm::new(&p, IpmSettings::with_tolerance(1e-10)).unwrap();
    println!("{:?} it {}", ipm.solve(), ipm.iterations);
    let settings = DefaultSettingsBuilder::default().verbose(false).presolve_enable(false).tol_gap_abs(1e-12).tol_gap_rel(1e-12).tol_feas(1e-12).build().unwrap();
    let mut cl = DefaultSolver::new(&p.p, &p.q, &p.a, &p.b, &p.cones, settings).unwrap();
    cl.solve();
    let eval = |x: &[f64], label: &str| {
        let mut ax = vec![0.0; p.a.m];
        for c in 0..p.a.n { for k in p.a.colptr[c]..p.a.colptr[c+1] { ax[p.a.rowval[k]] += p.a.nzval[k] * x[c]; } }
        let mut cost = 0.0;
        for c in 0..p.a.n { cost += p.q[c] * x[c]; for k in p.p.colptr[c]..p.p.colptr[c+1] { cost += 0.5 * p.p.nzval[k] * x[c] * x[p.p.rowval[k]]; } }
        let eq = (0..p.n_zero).map(|r| (ax[r] - p.b[r]).abs()).fold(0.0, f64::max);
        let mut worst = f64::INFINITY; let mut row = p.n_zero;
        for cone in &p.cones { match cone {
            SupportedConeT::ZeroConeT(d) => { let _ = d; }
            SupportedConeT::NonnegativeConeT(d) => { for r in row..row+d { worst = worst.min(p.b[r] - ax[r]); } row += d; }
            SupportedConeT::SecondOrderConeT(d) => { let s: Vec<f64> = (row..row+d).map(|r| p.b[r] - ax[r]).collect(); let nb = s[1..].iter().map(|v| v*v).sum::<f64>().sqrt(); worst = worst.min(s[0] - nb); row += d; }
            _ => {} } }
        println!("{label}: cost {cost:.12} eq viol {eq:.2e} cone min {worst:.2e}");
    };
    eval(ipm.x(), "ours");
    eval(&cl.solution.x, "clarabel");
    // dual objective for ours: -b'z - 1/2 x'Px
    let z = ipm.z();
    let bz: f64 = p.b.iter().zip(z).map(|(a, b)| a * b).sum();
    let x = ipm.x();
    let mut xpx = 0.0; for c in 0..p.a.n { for k in p.p.colptr[c]..p.p.colptr[c+1] { xpx += p.p.nzval[k] * x[c] * x[p.p.rowval[k]]; } }
    println!("ours dual obj {:.12}", -bz - 0.5 * xpx);
    let z = &cl.solution.z; let x = &cl.solution.x;
    let bz: f64 = p.b.iter().zip(z).map(|(a, b)| a * b).sum();
    let mut xpx = 0.0; for c in 0..p.a.n { for k in p.p.colptr[c]..p.p.colptr[c+1] { xpx += p.p.nzval[k] * x[c] * x[p.p.rowval[k]]; } }
    println!("clarabel dual obj {:.12}", -bz - 0.5 * xpx);
    if let Some(bus) = args.get(4) {
        let j = net.bus_index(bus).unwrap();
        let cost_at = |delta: f64| {
            let mut q = ogg_dlmp::opf::problem(&net, &placed, &o);
            q.b[j] += delta;
            let mut ipm = TreeIpm::new(&q, IpmSettings::with_tolerance(1e-11)).unwrap();
            let st = ipm.solve();
            let x = ipm.x();
            let mut cost = 0.0;
            for c in 0..q.a.n { cost += q.q[c] * x[c]; for k in q.p.colptr[c]..q.p.colptr[c+1] { cost += 0.5 * q.p.nzval[k] * x[c] * x[q.p.rowval[k]]; } }
            (cost, st, -ipm.z()[j])
        };
        for d in [1e-4, 1e-5, 1e-6] {
            let (a, _, _) = cost_at(d);
            let (b, _, _) = cost_at(-d);
            println!("finite difference dlmp at {bus} (delta {d}): {}", (a - b) / (2.0 * d) / (net.s_base_kva / 1000.0));
        }
        println!("ours -z {} clarabel -z {}", cost_at(0.0).2 / (net.s_base_kva / 1000.0), -cl.solution.z[j] / (net.s_base_kva / 1000.0));
    }
}
#[allow(dead_code)]
fn unused() {}
