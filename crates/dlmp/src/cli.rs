//! What `ogg market dlmp` runs: one market interval cleared by the OPF, the
//! results written as CSV.
//!
//! ```text
//! ogg market dlmp --feeder NAME|FILE --offers offers.csv [--formulation dc|lindistflow|socp] --out DIR
//! ```
//! * `--feeder`: a built-in feeder (`ieee37`, …), an OpenDSS script, or an
//!   edge list CSV (`from_bus,to_bus[,limit_kw][,r_pu,x_pu | r_ohm,x_ohm,kv][,tap][,name]`,
//!   first row's `from_bus` = root). Scripts and built-ins also get the AC check.
//! * `offers.csv`: `id,bus,kind,p_max_kw` and optionally `p_min_kw`,
//!   `c0,c1,c2` (cost $/h of MW), `pwl` (`P:C;P:C;…`, MW and $/h), `q_per_p`,
//!   `q_min_kvar,q_max_kvar`; `kind` is `generator`, `dr` or `load` (see
//!   [`crate::offer`]); `#` starts a comment line.
//! * `limits.csv`: `from_bus,to_bus,limit_kw` (or `branch,limit_kw`).
//!
//! Writes `buses.csv` (DLMP and its energy/congestion/voltage/loss components,
//! reactive price, model voltage, AC voltage), `dispatch.csv`, `lines.csv`
//! (flows, limits, congestion price, losses, SOCP gap, loss base point, AC
//! flow and loading), `network.csv` (the single-phase network used, for
//! independent checks) and `summary.json`. An infeasible OPF writes the
//! summary only; the report says why and names the agents.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ogg_grid::DistributionGrid;

use crate::ac::{self, AcReport};
use crate::csv::{fmt_num, Csv};
use crate::error::DlmpError;
use crate::network::DlmpNetwork;
use crate::offer::{CostCurve, Offer, OfferKind, PlacedCost, PlacedOffer};
use crate::opf::ptdf::solve_ptdf;
use crate::opf::{DlmpSolution, Formulation, OpfOptions, OpfSolver};

/// Everything `ogg market dlmp` takes.
#[derive(Debug, Clone)]
pub struct DlmpRequest {
    pub feeder: String,
    pub offers: PathBuf,
    pub limits: Option<PathBuf>,
    pub out: PathBuf,
    pub options: OpfOptions,
    /// Add the feeder's own loads (one fixed load per bus, `feeder:<bus>`).
    pub feeder_loads: bool,
    /// Remove the feeder's ratings before applying `limits`.
    pub no_ratings: bool,
    /// Apply the dispatch to the AC power flow (feeders with a circuit only).
    pub ac_check: bool,
    /// Solve the lossless model in the dense PTDF form instead (small feeders only).
    pub ptdf: bool,
    /// Re-solve this many more times with the solver updated in place (timing).
    pub repeat: usize,
}

impl DlmpRequest {
    pub fn new(feeder: &str, offers: &Path, out: &Path) -> Self {
        DlmpRequest {
            feeder: feeder.into(),
            offers: offers.into(),
            limits: None,
            out: out.into(),
            options: OpfOptions::default(),
            feeder_loads: false,
            no_ratings: false,
            ac_check: true,
            ptdf: false,
            repeat: 0,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct DlmpReport {
    pub solution: DlmpSolution,
    pub buses: usize,
    pub offers: usize,
    /// Seconds to build and solve the first time, and mean per in-place re-solve.
    pub first_solve_s: f64,
    pub resolve_s: Option<f64>,
    /// Of which inside the solver (the interior point's iterations, or the tree algorithm).
    pub resolve_solver_s: Option<f64>,
    /// Mean interior-point iterations per re-solve.
    pub resolve_iterations: Option<f64>,
    pub ac: Option<AcReport>,
    pub files: Vec<PathBuf>,
}

impl DlmpReport {
    /// One-line JSON summary (what the CLI prints last; the Python tests read it).
    pub fn json(&self) -> String {
        let s = &self.solution;
        let finite: Vec<f64> = s.dlmp.iter().copied().filter(|v| v.is_finite()).collect();
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let num = |v: f64| {
            if v.is_finite() {
                serde_json::json!(v)
            } else {
                serde_json::Value::Null
            }
        };
        let (agents, reason) = match &s.status {
            crate::opf::OpfStatus::Infeasible { reason, agents } => {
                (agents.clone(), reason.clone())
            }
            other => (Vec::new(), other.reason()),
        };
        let mut v = serde_json::json!({
            "status": s.status.label(),
            "reason": reason,
            "agents": agents,
            "formulation": s.formulation.as_str(),
            "buses": self.buses,
            "offers": self.offers,
            "objective_per_h": num(s.objective),
            "dlmp_min": num(min),
            "dlmp_max": num(max),
            "congested_lines": s.congestion_dual.iter().filter(|c| c.abs() > 1e-6).count(),
            "decomposition_residual": num(s.decomposition.residual(&s.dlmp)),
            "iterations": s.iterations,
            "solver": s.solver,
            "first_solve_s": self.first_solve_s,
            "resolve_s": self.resolve_s.map(num).unwrap_or(serde_json::Value::Null),
            "resolve_solver_s": self.resolve_solver_s.map(num).unwrap_or(serde_json::Value::Null),
            "resolve_iterations": self.resolve_iterations.map(num).unwrap_or(serde_json::Value::Null),
            "solver_s": s.solve_seconds,
        });
        if s.formulation == Formulation::Socp {
            v["socp_max_gap"] = num(s.max_socp_gap());
            v["socp_exact"] = serde_json::json!(s.relaxation_exact(1e-4));
        }
        if let Some(a) = &self.ac {
            v["ac"] = serde_json::json!({
                "converged": a.converged,
                "error": a.error,
                "v_min_pu": num(a.v_min_pu),
                "v_max_pu": num(a.v_max_pu),
                "voltage_violations": a.voltage_violations.len(),
                "max_loading": num(a.max_loading),
                "overloads": a.overloads.len(),
                "losses_kw": num(a.losses_kw),
                "max_voltage_error_pu": num(a.max_voltage_error_pu),
                "max_flow_error_kw": num(a.max_flow_error_kw),
                "source_error_kw": num(a.source_error_kw),
            });
        }
        v.to_string()
    }
}

/// A feeder for the CLI: the network, and the AC model when there is a circuit.
pub struct LoadedFeeder {
    pub network: DlmpNetwork,
    pub circuit: Option<ogg_dss::Circuit>,
    pub grid: Option<DistributionGrid>,
}

/// Resolves `--feeder`: an edge-list CSV, an OpenDSS script or a built-in name.
pub fn load_feeder(feeder: &str) -> Result<LoadedFeeder, DlmpError> {
    if feeder.to_ascii_lowercase().ends_with(".csv") {
        return Ok(LoadedFeeder {
            network: DlmpNetwork::read_edge_list(Path::new(feeder))?,
            circuit: None,
            grid: None,
        });
    }
    let (network, circuit, grid) = DlmpNetwork::from_feeder(feeder)?;
    Ok(LoadedFeeder {
        network,
        circuit: Some(circuit),
        grid: Some(grid),
    })
}

/// Reads `offers.csv` (see the module docs); errors name the file, line and offer.
pub fn read_offers(path: &Path) -> Result<Vec<(usize, Offer)>, DlmpError> {
    let csv = Csv::read(path)?;
    let (id, bus, kind, p_max) = (
        csv.require("id")?,
        csv.require("bus")?,
        csv.require("kind")?,
        csv.require("p_max_kw")?,
    );
    let p_min = csv.column("p_min_kw");
    let coef = [csv.column("c0"), csv.column("c1"), csv.column("c2")];
    let pwl = csv.column("pwl");
    let q_per_p = csv.column("q_per_p");
    let (q_min, q_max) = (csv.column("q_min_kvar"), csv.column("q_max_kvar"));
    let mut out = Vec::with_capacity(csv.rows.len());
    for (line, row) in &csv.rows {
        let line = *line;
        let name = csv.cell(line, row, id, "id")?.to_string();
        let at = |e: String| DlmpError::Input(format!("{}:{line}: offer '{name}': {e}", csv.path));
        let kind: OfferKind = csv.cell(line, row, kind, "kind")?.parse().map_err(at)?;
        let p_max_kw = csv.number(line, row, p_max, "p_max_kw")?;
        let p_min_kw = csv
            .optional_number(line, row, p_min, "p_min_kw")?
            .unwrap_or(if kind == OfferKind::Load {
                p_max_kw
            } else {
                0.0
            });
        let mut coefs = Vec::new();
        for (k, c) in coef.iter().enumerate() {
            coefs.push(
                csv.optional_number(line, row, *c, &format!("c{k}"))?
                    .unwrap_or(0.0),
            );
        }
        let cost = match csv.optional(row, pwl) {
            Some(text) => {
                if coefs.iter().any(|c| *c != 0.0) {
                    return Err(at("give either c0, c1, c2 or pwl, not both".into()));
                }
                let mut pts = Vec::new();
                for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let (p, c) = pair
                        .split_once(':')
                        .ok_or_else(|| at(format!("pwl point '{pair}' is not P:C")))?;
                    let num = |s: &str| {
                        crate::csv::parse_number(s.trim())
                            .ok_or_else(|| at(format!("pwl value '{s}' is not a number")))
                    };
                    pts.push((num(p)?, num(c)?));
                }
                CostCurve::PiecewiseLinear(pts)
            }
            None => CostCurve::Polynomial(coefs),
        };
        let offer = Offer {
            agent: name.clone(),
            bus: csv.cell(line, row, bus, "bus")?.to_string(),
            kind,
            p_min_kw,
            p_max_kw,
            q_min_kvar: csv
                .optional_number(line, row, q_min, "q_min_kvar")?
                .unwrap_or(0.0),
            q_max_kvar: csv
                .optional_number(line, row, q_max, "q_max_kvar")?
                .unwrap_or(0.0),
            q_per_p: csv
                .optional_number(line, row, q_per_p, "q_per_p")?
                .unwrap_or(0.0),
            cost,
        };
        out.push((line, offer));
    }
    Ok(out)
}

/// Reads `limits.csv` and applies it to the network.
pub fn apply_limits(net: &mut DlmpNetwork, path: &Path) -> Result<(), DlmpError> {
    for (line, limit) in ogg_market::cli::read_limits(path).map_err(DlmpError::from)? {
        limit
            .apply(&mut net.tree)
            .map_err(|e| DlmpError::Input(format!("{}:{line}: {e}", path.display())))?;
    }
    Ok(())
}

/// The feeder's own loads as fixed offers, one per bus (`feeder:<bus>`).
pub fn feeder_load_offers(circuit: &ogg_dss::Circuit) -> Vec<Offer> {
    ogg_market::feeder::bus_loads(circuit)
        .into_iter()
        .map(|l| {
            let kvar: f64 = circuit
                .loads
                .iter()
                .filter(|x| x.enabled && l.loads.contains(&x.name))
                .map(|x| x.kvar)
                .sum();
            let q = if l.kw > 0.0 { kvar / l.kw } else { 0.0 };
            Offer::load(&format!("feeder:{}", l.bus), &l.bus, l.kw, q)
        })
        .collect()
}

/// `ogg market dlmp`: clears one interval and writes the tables (see the module docs).
pub fn run(req: &DlmpRequest) -> Result<DlmpReport, DlmpError> {
    let LoadedFeeder {
        mut network,
        circuit,
        grid,
    } = load_feeder(&req.feeder)?;
    if req.no_ratings {
        network.clear_limits();
    }
    if let Some(path) = &req.limits {
        apply_limits(&mut network, path)?;
    }
    let mut offers: Vec<PlacedOffer> = Vec::new();
    if req.feeder_loads {
        if let Some(c) = &circuit {
            for o in feeder_load_offers(c) {
                offers.push(PlacedOffer::place(&network, &o)?);
            }
        }
    }
    for (line, o) in read_offers(&req.offers)? {
        offers.push(
            PlacedOffer::place(&network, &o)
                .map_err(|e| DlmpError::Input(format!("{}:{line}: {e}", req.offers.display())))?,
        );
    }
    let start = Instant::now();
    let mut solver = OpfSolver::new();
    let solution = if req.ptdf {
        solve_ptdf(&network, &offers, &req.options)?
    } else {
        solver.solve(&network, &offers, &req.options)?
    };
    let first_solve_s = start.elapsed().as_secs_f64();
    let mut resolve_s = None;
    let mut resolve_solver_s = None;
    let mut resolve_iterations = None;
    if req.repeat > 0 && !req.ptdf {
        let intervals = benchmark_intervals(&req.options, &offers, req.repeat.min(16));
        let start = Instant::now();
        let mut in_solver = 0.0;
        let mut iterations = 0u64;
        for k in 0..req.repeat {
            let (o, interval) = &intervals[k % intervals.len()];
            let s = solver.solve(&network, interval, o)?;
            in_solver += s.solve_seconds;
            iterations += u64::from(s.iterations);
        }
        resolve_iterations = Some(iterations as f64 / req.repeat as f64);
        resolve_s = Some(start.elapsed().as_secs_f64() / req.repeat as f64);
        resolve_solver_s = Some(in_solver / req.repeat as f64);
    }
    let ac = match (&grid, req.ac_check && solution.is_optimal()) {
        (Some(g), true) => Some(ac::check(g, &network, &offers, &solution, &req.options)),
        _ => None,
    };
    let mut report = DlmpReport {
        buses: network.len(),
        offers: offers.len(),
        solution,
        first_solve_s,
        resolve_s,
        resolve_solver_s,
        resolve_iterations,
        ac,
        files: Vec::new(),
    };
    report.files = write_tables(&network, &offers, &report, &req.out)?;
    Ok(report)
}

/// `count` new intervals as bench/dlmp_vs_cvxpy.py's CVXPY side makes them
/// (the `--repeat` re-solves; also examples/resolve_check): the LMP moves,
/// every load's demand by up to ±1 %, linear costs by ±0.1 % (a fixed
/// xorshift sequence, so every run re-solves the same data).
pub fn benchmark_intervals(
    options: &OpfOptions,
    offers: &[PlacedOffer],
    count: usize,
) -> Vec<(OpfOptions, Vec<PlacedOffer>)> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut intervals = Vec::with_capacity(count);
    for k in 0..count {
        let mut o = options.clone();
        o.lmp_source *= 1.0 + 1e-3 * ((k % 7) as f64 - 3.0);
        let mut interval = offers.to_vec();
        for offer in interval.iter_mut() {
            if offer.kind == OfferKind::Load {
                offer.fixed_demand *= 1.0 + 0.01 * uniform();
            }
            let drift = 1.0 + 1e-3 * uniform();
            match &mut offer.cost {
                PlacedCost::Quadratic { c1, .. } => *c1 *= drift,
                PlacedCost::Segments { slopes, .. } => slopes.iter_mut().for_each(|s| *s *= drift),
            }
        }
        intervals.push((o, interval));
    }
    intervals
}

/// Writes the tables and summary into `out`.
pub fn write_tables(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    report: &DlmpReport,
    out: &Path,
) -> Result<Vec<PathBuf>, DlmpError> {
    std::fs::create_dir_all(out)
        .map_err(|e| DlmpError::Input(format!("{}: cannot create: {e}", out.display())))?;
    let s = &report.solution;
    let ac = report.ac.as_ref().filter(|a| a.error.is_none());
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| -> Result<(), DlmpError> {
        let p = out.join(name);
        std::fs::write(&p, text)
            .map_err(|e| DlmpError::Input(format!("{}: cannot write: {e}", p.display())))?;
        files.push(p);
        Ok(())
    };
    if s.is_optimal() {
        let mut buses =
            String::from("bus,dlmp,energy,congestion,voltage,loss,q_price,v_pu,v_ac_pu\n");
        for i in 0..net.len() {
            let d = &s.decomposition;
            let _ = writeln!(
                buses,
                "{},{},{},{},{},{},{},{},{}",
                net.bus_name(i),
                fmt_num(s.dlmp[i]),
                fmt_num(d.energy),
                fmt_num(d.congestion[i]),
                fmt_num(d.voltage[i]),
                fmt_num(d.loss[i]),
                fmt_num(s.q_price[i]),
                fmt_num(s.voltage_pu[i]),
                ac.map_or(String::new(), |a| fmt_num(a.voltage_pu[i]))
            );
        }
        write("buses.csv", buses)?;
        let mut dispatch = String::from("id,bus,kind,p_kw,q_kvar,variable_kw,dlmp,value_per_h\n");
        for (k, o) in offers.iter().enumerate() {
            let price = s.dlmp[o.bus];
            let _ = writeln!(
                dispatch,
                "{},{},{},{},{},{},{},{}",
                o.agent,
                net.bus_name(o.bus),
                o.kind,
                fmt_num(s.injection_kw[k]),
                fmt_num(s.injection_kvar[k]),
                fmt_num(s.variable_kw[k]),
                fmt_num(price),
                fmt_num(s.injection_kw[k] / 1000.0 * price)
            );
        }
        write("dispatch.csv", dispatch)?;
        let mut lines = String::from(
            "from_bus,to_bus,name,p_kw,q_kvar,limit_kw,congested,congestion_price,loss_kw,socp_gap,phantom_loss_kw,loss_base_p_kw,loss_base_q_kvar,ac_p_kw,ac_loading\n",
        );
        for e in net.edges() {
            let p = net.tree.parent[e];
            let _ = writeln!(
                lines,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                net.bus_name(p),
                net.bus_name(e),
                net.tree.edge_name[e],
                fmt_num(s.flow_p_kw[e]),
                fmt_num(s.flow_q_kvar[e]),
                fmt_num(net.limit_kw(e)),
                s.congestion_dual[e].abs() > 1e-6,
                fmt_num(s.congestion_dual[e]),
                fmt_num(s.loss_kw[e]),
                fmt_num(s.socp_gap[e]),
                fmt_num(s.socp_phantom_loss_kw[e]),
                fmt_num(s.loss_base_kw[e].0),
                fmt_num(s.loss_base_kw[e].1),
                ac.map_or(String::new(), |a| fmt_num(a.flow_kw[e])),
                ac.map_or(String::new(), |a| fmt_num(a.loading[e])),
            );
        }
        write("lines.csv", lines)?;
    }
    write("network.csv", net.edge_list_csv())?;
    write("summary.json", report.json() + "\n")?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ogg-dlmp-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn clears_one_interval_from_csv() {
        let d = tmp("ok");
        std::fs::write(
            d.join("feeder.csv"),
            "from_bus,to_bus,limit_kw,r_pu,x_pu\na,b,60,0.001,0.002\n",
        )
        .unwrap();
        std::fs::write(
            d.join("offers.csv"),
            "# one congested line\nid,bus,kind,p_min_kw,p_max_kw,c1,c2,pwl,q_per_p\nload,b,load,,100,,,,0.0\ngen,b,generator,0,200,50,100,,\n",
        )
        .unwrap();
        let mut req = DlmpRequest::new(
            d.join("feeder.csv").to_str().unwrap(),
            &d.join("offers.csv"),
            &d.join("out"),
        );
        req.options.lmp_source = 30.0;
        let r = run(&req).unwrap();
        assert!(r.solution.is_optimal());
        let buses = std::fs::read_to_string(d.join("out/buses.csv")).unwrap();
        let b = buses.lines().find(|l| l.starts_with("b,")).unwrap();
        let price: f64 = b.split(',').nth(1).unwrap().parse().unwrap();
        assert!((price - 58.0).abs() < 1e-5, "{buses}");
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["status"], "optimal");
        assert_eq!(json["congested_lines"], 1);
    }

    #[test]
    fn errors_name_file_line_and_offer() {
        let d = tmp("bad");
        std::fs::write(d.join("feeder.csv"), "from_bus,to_bus\na,b\n").unwrap();
        let cases = [
            ("id,bus,kind,p_max_kw\nx,b,load,abc\n", ":2: p_max_kw 'abc'"),
            (
                "id,bus,kind,p_max_kw\nx,b,battery,5\n",
                ":2: offer 'x': kind must be",
            ),
            ("id,bus,kind\nx,b,load\n", ":1: missing column 'p_max_kw'"),
            (
                "id,bus,kind,p_max_kw,c2\nx,b,load,5,0\ny,b,generator,5,-1\n",
                ":3: offer of 'y' rejected: non-convex",
            ),
            (
                "id,bus,kind,p_max_kw,pwl\ng,b,generator,100,0:0;0.05:3;0.1:4\n",
                ":2: offer of 'g' rejected: non-convex",
            ),
            (
                "id,bus,kind,p_max_kw\nx,zz,load,5\n",
                ":2: offer of 'x' rejected: unknown bus 'zz'",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(d.join("offers.csv"), text).unwrap();
            let req = DlmpRequest::new(
                d.join("feeder.csv").to_str().unwrap(),
                &d.join("offers.csv"),
                &d.join("out"),
            );
            let e = run(&req).unwrap_err().to_string();
            assert!(
                e.contains("offers.csv") && e.contains(expected),
                "{e}\nexpected: {expected}"
            );
        }
    }

    #[test]
    fn infeasible_interval_is_reported_with_the_agents() {
        let d = tmp("inf");
        std::fs::write(d.join("feeder.csv"), "from_bus,to_bus,limit_kw\na,b,10\n").unwrap();
        std::fs::write(
            d.join("offers.csv"),
            "id,bus,kind,p_max_kw\nalice,b,load,50\n",
        )
        .unwrap();
        let req = DlmpRequest::new(
            d.join("feeder.csv").to_str().unwrap(),
            &d.join("offers.csv"),
            &d.join("out"),
        );
        let r = run(&req).unwrap();
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["status"], "infeasible");
        assert_eq!(json["agents"][0], "alice");
        assert!(!d.join("out/buses.csv").exists());
    }
}
