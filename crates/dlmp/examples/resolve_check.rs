//! Re-solves against fresh solves on the benchmark's intervals (the same
//! perturbations as `--repeat` in `ogg_dlmp::cli`): every re-solve's prices,
//! voltages and dispatch next to a cold solve of the same data.
//!
//! ```text
//! cargo run --release -p ogg-dlmp --example resolve_check -- FEEDER OFFERS FORMULATION REPEAT [REFERENCE_TOL]
//! ```
//!
//! (`--no-ac --tol 1e-8 --lmp 40 --v-min 0.9 --v-max 1.1`, as the benchmark;
//! REFERENCE_TOL: the fresh solves' tolerance, 1e-8 unless given.)

use std::path::Path;

use ogg_dlmp::cli::{benchmark_intervals, load_feeder, read_offers};
use ogg_dlmp::testutil::rel_diff;
use ogg_dlmp::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 && args.len() != 6 {
        return Err("usage: resolve_check FEEDER OFFERS FORMULATION REPEAT [REFERENCE_TOL]".into());
    }
    // The fresh solves' tolerance (default: the re-solves' 1e-8).
    let reference_tol: f64 = args.get(5).map_or(Ok(1e-8), |t| t.parse())?;
    let net = load_feeder(&args[1])?.network;
    let mut offers = Vec::new();
    for (_, o) in read_offers(Path::new(&args[2]))? {
        offers.push(PlacedOffer::place(&net, &o)?);
    }
    let repeat: usize = args[4].parse()?;
    let options = OpfOptions {
        formulation: args[3].parse()?,
        lmp_source: 40.0,
        v_min_pu: 0.9,
        v_max_pu: 1.1,
        tolerance: 1e-8,
        ..Default::default()
    };
    let mut solver = OpfSolver::new();
    solver.solve(&net, &offers, &options)?;
    // As `ogg_dlmp::cli::run`'s `--repeat` intervals.
    let intervals = benchmark_intervals(&options, &offers, repeat.min(16));
    let (mut worst_price, mut worst_v, mut worst_p) = (0f64, 0f64, 0f64);
    for k in 0..repeat {
        let (o, interval) = &intervals[k % intervals.len()];
        let re = solver.solve(&net, interval, o)?;
        let fresh = solve(
            &net,
            interval,
            &OpfOptions {
                tolerance: reference_tol,
                ..o.clone()
            },
        )?;
        let dp = rel_diff(&re.dlmp, &fresh.dlmp);
        let dv = rel_diff(&re.voltage_pu, &fresh.voltage_pu);
        let dd = rel_diff(&re.variable_kw, &fresh.variable_kw);
        println!(
            "{k:3}: iterations {:2}  prices {dp:.1e}  voltages {dv:.1e}  dispatch {dd:.1e}  exact {:?}/{:?}",
            re.iterations,
            re.relaxation_exact(o.exactness_tol),
            fresh.relaxation_exact(o.exactness_tol)
        );
        if dp > 1e-4 {
            // Where: the bus with the largest difference.
            let (bus, _) = re.dlmp.iter().zip(&fresh.dlmp).enumerate().fold(
                (0, 0.0),
                |(bi, bd), (i, (a, b))| {
                    let d = (a - b).abs();
                    if d > bd {
                        (i, d)
                    } else {
                        (bi, bd)
                    }
                },
            );
            println!(
                "     bus {bus}: re-solve {:.9} fresh {:.9}",
                re.dlmp[bus], fresh.dlmp[bus]
            );
        }
        worst_price = worst_price.max(dp);
        worst_v = worst_v.max(dv);
        worst_p = worst_p.max(dd);
    }
    println!("worst: prices {worst_price:.2e} voltages {worst_v:.2e} dispatch {worst_p:.2e}");
    Ok(())
}
