//! `ogg market dlmp` without the rest of the `ogg` binary (a light build for
//! tests and benchmarks):
//!
//! ```text
//! cargo run -p ogg-dlmp --example dlmp_clear -- --feeder ieee37 --offers offers.csv \
//!     [--formulation dc|lindistflow|socp] [--lmp 30] [--export-price 0] [--limits limits.csv]
//!     [--no-ratings] [--feeder-loads] [--v-min 0.95] [--v-max 1.05] [--v-source 1.0]
//!     [--v-exempt 799,...] [--fixed-taps] [--no-losses] [--loss-iterations N] [--no-ac] [--ptdf] [--solver clarabel|tree] [--tol 1e-9] [--repeat N] --out DIR
//! ```
//! Prints the one-line JSON report; exits 2 on errors and infeasible intervals.

use std::path::PathBuf;
use std::process::ExitCode;

use ogg_dlmp::cli::{run, DlmpRequest};

fn main() -> ExitCode {
    match parse_and_run() {
        Ok(ok) => {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_and_run() -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut req = DlmpRequest::new("", &PathBuf::new(), &PathBuf::from("results/dlmp"));
    let mut feeder = None;
    let mut offers = None;
    let mut i = 0;
    let value = |i: &mut usize| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("{} needs a value", args[*i - 1]))
    };
    let number = |s: String, name: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("{name} '{s}' is not a number"))
    };
    while i < args.len() {
        match args[i].as_str() {
            "--feeder" => feeder = Some(value(&mut i)?),
            "--offers" => offers = Some(PathBuf::from(value(&mut i)?)),
            "--limits" => req.limits = Some(PathBuf::from(value(&mut i)?)),
            "--out" => req.out = PathBuf::from(value(&mut i)?),
            "--formulation" => req.options.formulation = value(&mut i)?.parse()?,
            "--lmp" => req.options.lmp_source = number(value(&mut i)?, "--lmp")?,
            "--export-price" => {
                req.options.export_price = number(value(&mut i)?, "--export-price")?
            }
            "--v-min" => req.options.v_min_pu = number(value(&mut i)?, "--v-min")?,
            "--v-max" => req.options.v_max_pu = number(value(&mut i)?, "--v-max")?,
            "--v-source" => req.options.v_source_pu = number(value(&mut i)?, "--v-source")?,
            "--v-exempt" => {
                req.options.v_exempt = value(&mut i)?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect()
            }
            "--no-losses" => req.options.losses = false,
            "--fixed-taps" => req.options.regulators = false,
            "--solver" => req.options.set_solver(&value(&mut i)?)?,
            "--tol" => req.options.tolerance = number(value(&mut i)?, "--tol")?,
            "--loss-iterations" => {
                req.options.loss_iterations = number(value(&mut i)?, "--loss-iterations")? as usize
            }
            "--no-ratings" => req.no_ratings = true,
            "--feeder-loads" => req.feeder_loads = true,
            "--no-ac" => req.ac_check = false,
            "--ptdf" => req.ptdf = true,
            "--repeat" => req.repeat = number(value(&mut i)?, "--repeat")? as usize,
            other => return Err(format!("unknown argument '{other}'")),
        }
        i += 1;
    }
    req.feeder = feeder.ok_or("--feeder is required")?;
    req.offers = offers.ok_or("--offers is required")?;
    let report = run(&req).map_err(|e| e.to_string())?;
    // Peak memory of this process (Linux), for the benchmarks.
    let mut json: serde_json::Value =
        serde_json::from_str(&report.json()).map_err(|e| e.to_string())?;
    if let Some(kb) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
    {
        json["peak_rss_mb"] = serde_json::json!(kb / 1024.0);
    }
    println!("{json}");
    Ok(report.solution.is_optimal())
}
