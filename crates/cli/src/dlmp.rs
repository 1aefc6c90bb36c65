//! `ogg market dlmp` and `ogg run uc3`: DLMPs from the DSO's optimal power flow (ogg-dlmp).

use std::path::{Path, PathBuf};

use clap::Args;
use ogg_dlmp::cli::{self as dlmp_cli, DlmpRequest};
use ogg_dlmp::uc3;
use ogg_dlmp::Formulation;

pub const MARKET_DLMP_EXAMPLES: &str = "\
Writes into the output folder:
  buses.csv     bus,dlmp,energy,congestion,voltage,loss,q_price,v_pu,v_ac_pu   ($/MWh, pu)
  dispatch.csv  id,bus,kind,p_kw,q_kvar,variable_kw,dlmp,value_per_h         one row per offer
  lines.csv     from_bus,to_bus,name,p_kw,q_kvar,limit_kw,congested,congestion_price,loss_kw,
                socp_gap,phantom_loss_kw,loss_base_p_kw,loss_base_q_kvar,ac_p_kw,ac_loading
  network.csv   the single-phase network the OPF used (r, x in pu on 1 MVA, ratios, limits)
  summary.json  status, DLMP range, congestion, AC check (also printed as the last line)
An infeasible interval writes network.csv and summary.json only, says why and which
agents' hard demand causes it, and exits with 2.

offers.csv: id,bus,kind,p_max_kw and optionally p_min_kw, c0,c1,c2 (cost in $/h of MW),
pwl (P:C;P:C;... in MW and $/h), q_per_p, q_min_kvar, q_max_kvar. kind = generator
(output in [p_min, p_max]), dr (consumes [p_min, p_max], curtailing p_max − P costs c),
load (consumes p_max).

Examples:
  ogg market dlmp --feeder ieee37 --offers offers.csv --out out/dlmp
  ogg market dlmp --feeder ieee37 --offers der.csv --feeder-loads --formulation socp --lmp 45
  ogg market dlmp --feeder tree.csv --offers offers.csv --formulation lindistflow --limits limits.csv";

#[derive(Debug, Args)]
pub struct MarketDlmpArgs {
    /// Feeder: built-in name (ieee37, ...), OpenDSS script (.dss) or edge-list CSV.
    #[arg(long)]
    feeder: String,
    /// Offers CSV: id,bus,kind,p_max_kw[,p_min_kw,c0,c1,c2,pwl,q_per_p,q_min_kvar,q_max_kvar].
    #[arg(long, value_name = "CSV")]
    offers: PathBuf,
    /// dc (the paper's lossless model), lindistflow or socp.
    #[arg(long, default_value = "dc")]
    formulation: String,
    /// Transmission price at the substation, $/MWh.
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    lmp: f64,
    /// Price paid for exports to the transmission grid, $/MWh (the paper: 0).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    export_price: f64,
    /// Line limits CSV: from_bus,to_bus,limit_kw (overrides the feeder's ratings).
    #[arg(long, value_name = "CSV")]
    limits: Option<PathBuf>,
    /// Ignore the feeder's own ratings (only --limits apply).
    #[arg(long)]
    no_ratings: bool,
    /// Add the feeder's own loads as fixed demand (one offer per bus, id feeder:<bus>).
    #[arg(long)]
    feeder_loads: bool,
    /// Voltage band, pu (lindistflow, socp).
    #[arg(long, default_value_t = 0.95)]
    v_min: f64,
    #[arg(long, default_value_t = 1.05)]
    v_max: f64,
    /// Source voltage, pu.
    #[arg(long, default_value_t = 1.0)]
    v_source: f64,
    /// Buses exempt from the voltage band, comma-separated (e.g. a regulator's supply side).
    #[arg(long, value_delimiter = ',')]
    v_exempt: Vec<String>,
    /// Hold regulators at their base-case tap instead of letting them regulate.
    #[arg(long)]
    fixed_taps: bool,
    /// lindistflow: leave losses out.
    #[arg(long)]
    no_losses: bool,
    /// lindistflow: re-linearise the losses at the solution this many times.
    #[arg(long, default_value_t = 0)]
    loss_iterations: usize,
    /// Skip the AC power flow of the dispatch.
    #[arg(long)]
    no_ac: bool,
    /// dc only: solve the dense PTDF form instead (small feeders).
    #[arg(long)]
    ptdf: bool,
    /// tree-ipm (our interior point, the KKT system eliminated along the feeder), clarabel
    /// (Clarabel, the reference), or tree (dc only: ogg-market's exact tree algorithm).
    #[arg(long, default_value = "tree-ipm")]
    solver: String,
    /// Clarabel's gap and feasibility tolerance.
    #[arg(long, default_value_t = 1e-9)]
    tol: f64,
    /// Re-solve N more times with the solver updated in place and report the mean time.
    #[arg(long, default_value_t = 0)]
    repeat: usize,
    /// Output folder [default: results/dlmp].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print only the JSON report line.
    #[arg(long, short)]
    quiet: bool,
}

/// `ogg market dlmp`: clears one interval, writes the tables and prints a
/// one-line JSON report last; an infeasible interval is an error (status 2)
/// after the report is printed.
pub fn run_market_dlmp(args: MarketDlmpArgs) -> Result<(), String> {
    let out = args.out.unwrap_or_else(|| PathBuf::from("results/dlmp"));
    let mut req = DlmpRequest::new(&args.feeder, &args.offers, &out);
    req.options.formulation = args.formulation.parse::<Formulation>()?;
    req.options.lmp_source = args.lmp;
    req.options.export_price = args.export_price;
    req.options.v_min_pu = args.v_min;
    req.options.v_max_pu = args.v_max;
    req.options.v_source_pu = args.v_source;
    req.options.v_exempt = args.v_exempt;
    req.options.regulators = !args.fixed_taps;
    req.options.losses = !args.no_losses;
    req.options.loss_iterations = args.loss_iterations;
    req.options.set_solver(&args.solver)?;
    req.options.tolerance = args.tol;
    req.limits = args.limits;
    req.no_ratings = args.no_ratings;
    req.feeder_loads = args.feeder_loads;
    req.ac_check = !args.no_ac;
    req.ptdf = args.ptdf;
    req.repeat = args.repeat;
    let report = dlmp_cli::run(&req).map_err(|e| e.to_string())?;
    if !args.quiet && !report.files.is_empty() {
        let names: Vec<String> =
            report.files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        println!("wrote {}: {}", out.display(), names.join(", "));
    }
    println!("{}", report.json());
    if report.solution.is_optimal() {
        Ok(())
    } else {
        Err(format!("OPF {}: {}", report.solution.status.label(), report.solution.status.reason()))
    }
}

/// Whether `ogg run SCENARIO` names use case 3 (built-in `uc3`, or a TOML
/// file with `scenario = "uc3"`), and if so the file to read (None = built-in).
pub fn uc3_request(scenario: &str) -> Option<Option<PathBuf>> {
    if scenario.eq_ignore_ascii_case("uc3") {
        return Some(None);
    }
    let path = Path::new(scenario);
    if path.is_file() {
        let text = std::fs::read_to_string(path).ok()?;
        if uc3::is_uc3_toml(&text) {
            return Some(Some(path.to_path_buf()));
        }
    }
    None
}

/// `ogg run uc3`: DLMPs on IEEE 37 over a day (truthful, scripted and learning
/// cost curves; three formulations; AC checks), tables and figures.
pub fn run_uc3(file: Option<&Path>, out: Option<PathBuf>, quiet: bool) -> Result<(), String> {
    let out = out.unwrap_or_else(|| PathBuf::from("results/uc3"));
    let start = std::time::Instant::now();
    let (results, files) = uc3::run_scenario(file, &out).map_err(|e| e.to_string())?;
    if !quiet {
        println!("use case 3 ran in {:.2} s", start.elapsed().as_secs_f64());
        for run in &results.experiments {
            for &f in &results.formulations {
                let st = uc3::formulation_stats(run, f, results.formulations[0]);
                println!(
                    "  {:<11} {:<11} DLMP {:>7.2} – {:>7.2} $/MWh, {:>2} congested h, optimal {}/{} h, max |V − V_AC| {:.4} pu",
                    run.experiment.label(),
                    f.as_str(),
                    st.dlmp_min,
                    st.dlmp_max,
                    st.congested_hours,
                    st.optimal_hours,
                    st.hours,
                    st.max_voltage_error_pu
                );
            }
        }
        let names: Vec<String> = files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        println!("wrote {}: {}", out.display(), names.join(", "));
    }
    Ok(())
}
