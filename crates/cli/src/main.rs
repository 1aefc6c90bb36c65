//! `ogg`: run OpenGridGym scenarios and power flows from the command line.
//!
//! Every failure prints one line (`error: FILE:LINE:COL: what`) on stderr and
//! exits with status 2; nothing panics on bad input (a bug that does panic is
//! reported on one line too, with status 2).

mod dlmp;
mod market;
mod p2p;
mod powerflow;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use opengridgym::scenario::built_in_names;
use opengridgym::{run_scenario, Scenario};

const EXAMPLES: &str = "\
Examples:
  ogg run default                            the main job: use case 1 on IEEE 34, tables + figures
  ogg scenarios                              list the built-in scenarios
  ogg run do-nothing                         run a built-in scenario into results/do-nothing/
  ogg run my_day.toml --out out/day --seed 7 run a scenario file with another seed
  ogg run default --steps 96 --quiet         override the number of grid steps, no output
  ogg powerflow ieee13                       solve a built-in feeder once, write its voltages
  ogg <command> --help                       more on one command";

const RUN_EXAMPLES: &str = "\
Writes into the output folder:
  records.csv / records.parquet  one row per (grid step, market round, agent):
                                 time_s, grid_step, market_round, agent, bus, price,
                                 quantity, reward, and the modules' extra columns
  grid.csv / grid.parquet        one row per grid step: power, losses, voltages, ...
  summary.json                   what ran, how long it took, which files were written

Examples:
  ogg run do-nothing
  ogg run default --out results/today --seed 1
  ogg run scenarios/my_day.toml --steps 48 --quiet

A scenario is a TOML file (see scenarios/*.toml in the repository) or the name of a
built-in one (`ogg scenarios` lists them).";

const MARKET_CLEAR_EXAMPLES: &str = "\
Writes into the output folder:
  dispatch.csv  id,bus,side,quantity_kw,price     one row per order
  buses.csv     bus,price                          nodal prices, ¢/kWh
  lines.csv     from_bus,to_bus,flow_kw,limit_kw,congested
and prints a one-line JSON report (status, welfare, congestion rent, KKT residual).
An infeasible market (demand that cannot be served) is reported and exits with 2.

Examples:
  ogg market clear --feeder ieee34 --orders orders.csv --out out/clear
  ogg market clear --feeder my_feeder.dss --orders book.csv --limits limits.csv";

const POWERFLOW_EXAMPLES: &str = "\
Solves like OpenDSS's `Solve` (regulator and capacitor controls included) and writes:
  voltages.csv   every node: bus, node, v_re, v_im (V), v_mag (V), v_ang_deg, v_pu
  summary.json   convergence, iterations, source power, losses, regulator taps, capacitors

Examples:
  ogg powerflow ieee13
  ogg powerflow ieee34 --tolerance 1e-10 --out out/ieee34
  ogg powerflow feeders/my_feeder/master.dss --max-iterations 50
  ogg powerflow ieee34mod2 --mode daily --steps 24     per-step table in timeseries.csv";

/// OpenGridGym: electricity markets on distribution grids with many agents.
#[derive(Debug, Parser)]
#[command(name = "ogg", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario (TOML file or built-in name) and write its records.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// List the built-in scenarios.
    Scenarios,
    /// Solve one power flow of a feeder (.dss file or built-in name) and write the results.
    #[command(after_help = POWERFLOW_EXAMPLES)]
    Powerflow(PowerflowArgs),
    /// Market tools: clear one order book on a feeder.
    #[command(subcommand)]
    Market(MarketCommand),
}

#[derive(Debug, Subcommand)]
enum MarketCommand {
    /// Clear one order book with the network-constrained auction (use case 1's market).
    #[command(after_help = MARKET_CLEAR_EXAMPLES)]
    Clear(MarketClearArgs),
    /// Clear one interval with the DSO's optimal power flow and price every bus by its DLMP (use case 3's market).
    #[command(after_help = dlmp::MARKET_DLMP_EXAMPLES)]
    Dlmp(dlmp::MarketDlmpArgs),
}

#[derive(Debug, Args)]
struct MarketClearArgs {
    /// Feeder: built-in name (ieee34, ...), OpenDSS script (.dss) or edge-list CSV.
    #[arg(long)]
    feeder: String,
    /// Order book CSV: id,bus,side,p_max,p_min,q_max,q_min (side buy|sell; ¢/kWh, kW).
    #[arg(long, value_name = "CSV")]
    orders: PathBuf,
    /// Line limits CSV: from_bus,to_bus,limit_kw (overrides the feeder's ratings).
    #[arg(long, value_name = "CSV")]
    limits: Option<PathBuf>,
    /// Output folder for dispatch.csv, buses.csv and lines.csv [default: results/market].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print only the JSON report line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario file (.toml) or built-in scenario name.
    scenario: String,
    /// Output folder [default: the scenario's `output.dir`, else results/<scenario name>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seed for every module (overrides the scenario's `seed`).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Number of grid steps (overrides the scenario's `steps`).
    #[arg(long, value_name = "N")]
    steps: Option<usize>,
    /// Print nothing but errors (and no progress bar).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct PowerflowArgs {
    /// OpenDSS script (.dss) or built-in feeder name (ieee13, ieee34, ieee37, ...).
    feeder: String,
    /// Convergence tolerance, per unit [default: the script's, else 1e-4].
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    tolerance: Option<f64>,
    /// Iteration limit [default: the script's, else 15].
    #[arg(long, value_name = "N")]
    max_iterations: Option<usize>,
    /// Output folder for voltages.csv and summary.json [default: results/powerflow/<feeder>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Solution mode: snapshot, or a time series (daily, yearly, duty) driven by the loads'
    /// shapes, written per step to timeseries.csv.
    #[arg(long, value_name = "MODE", default_value = "snapshot")]
    mode: String,
    /// Time steps of a time series [default: the script's number=, else 24 (8760 yearly)].
    #[arg(long, value_name = "N")]
    steps: Option<usize>,
    /// Step size of a time series in seconds [default: the script's stepsize, else 3600].
    #[arg(long, value_name = "S")]
    stepsize: Option<f64>,
    /// Print nothing but errors and warnings.
    #[arg(long, short)]
    quiet: bool,
}

/// mimalloc, not the system's malloc: compiling a large feeder makes tens of
/// thousands of small allocations, and glibc's malloc hands a compile's memory
/// back to the system when it is freed, so the next compile faults it in
/// again (`ogg-grid`'s README, *Speed*). The Python extension uses it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A bug must still end in one line and status 2, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error{place}: {}", message.replace('\n', " "));
    }));
    let cli = Cli::parse();
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(message)) => {
            eprintln!("error: {}", message.replace('\n', " "));
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Run(args) => run_command(args),
        Command::Scenarios => {
            list_scenarios();
            Ok(())
        }
        Command::Market(MarketCommand::Dlmp(args)) => dlmp::run_market_dlmp(args),
        Command::Market(MarketCommand::Clear(args)) => {
            let out = args.out.unwrap_or_else(|| PathBuf::from("results/market"));
            market::clear(&args.feeder, &args.orders, args.limits.as_deref(), &out, args.quiet)
        }
        Command::Powerflow(args) => powerflow::run_powerflow(&powerflow::PowerflowRequest {
            feeder: args.feeder,
            tolerance: args.tolerance,
            max_iterations: args.max_iterations,
            out: args.out,
            quiet: args.quiet,
            mode: args.mode,
            steps: args.steps,
            stepsize_s: args.stepsize,
        }),
    }
}

fn list_scenarios() {
    let names = built_in_names();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for name in names {
        let description = match Scenario::built_in(name) {
            Some(Ok(s)) => s.description,
            Some(Err(e)) => format!("(unreadable: {e})"),
            None => String::new(),
        };
        println!("{name:width$}  {description}");
    }
    println!("{:width$}  {}", "uc1", "Use case 1 (also `default`): congestion and market power on IEEE 34, four experiments + sweep, with figures");
    println!("{:width$}  {}", "uc2", "Use case 2: peer-to-peer bargaining with quantal-response learners on IEEE 34, with figures");
    println!("{:width$}  {}", "uc3", "Use case 3: distribution LMPs from optimal power flow on IEEE 37, with figures");
}

fn run_command(args: RunArgs) -> Result<(), String> {
    if let Some(file) = market::uc1_request(&args.scenario) {
        return market::run_uc1(file.as_deref(), args.out, args.quiet);
    }
    if let Some(file) = p2p::uc2_request(&args.scenario) {
        return p2p::run_uc2(file.as_deref(), args.out, args.quiet);
    }
    if let Some(file) = dlmp::uc3_request(&args.scenario) {
        return dlmp::run_uc3(file.as_deref(), args.out, args.quiet);
    }
    let mut scenario = Scenario::load(&args.scenario).map_err(|e| {
        let message = e.to_string();
        // The use-case scenarios run through their own runners (see market.rs).
        match message.strip_suffix(')') {
            Some(head) if head.contains("(built-ins: ") => format!("{head}, uc1, default, uc2, uc3)"),
            _ => message,
        }
    })?;
    if let Some(seed) = args.seed {
        scenario.seed = Some(seed);
    }
    if let Some(steps) = args.steps {
        scenario.steps = steps;
    }
    let out_dir = args.out.clone().unwrap_or_else(|| scenario.output_dir());

    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(scenario.steps as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {human_pos}/{human_len} grid steps ({elapsed} elapsed, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(scenario.name.clone());
        bar
    };
    let result = run_scenario(&scenario, Some(&out_dir), &mut |_| bar.inc(1));
    bar.finish_and_clear();
    let summary = result.map_err(|e| e.to_string())?;

    if !args.quiet {
        println!(
            "scenario '{}': {} grid steps in {:.3} s ({:.0} steps/s), {} agents, {} market rounds, {} records",
            summary.scenario,
            summary.steps,
            summary.wall_time_s,
            summary.steps_per_second,
            summary.agents,
            summary.market_rounds,
            summary.records_rows
        );
        let files: Vec<String> = summary
            .files
            .iter()
            .map(|f| f.file_name().map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into_owned()))
            .collect();
        println!("wrote {}: {}", out_dir.display(), files.join(", "));
    }
    Ok(())
}
