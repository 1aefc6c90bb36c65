//! What `ogg market clear` runs: clear one order book on a feeder and write
//! the results as CSV.
//!
//! ```text
//! ogg market clear --feeder NAME|FILE --orders orders.csv [--limits limits.csv] --out DIR
//! ```
//! * `--feeder`: a built-in feeder name (e.g. `ieee34`), an OpenDSS script
//!   (`*.dss`), or an edge list (`*.csv` with `from_bus,to_bus,limit_kw`
//!   and optionally `name`; the first row's `from_bus` is the root).
//! * `orders.csv`: `id,bus,side,p_max,p_min,q_max,q_min` (side `buy|sell`,
//!   ¢/kWh and kW), columns in any order, `#` starts a comment line.
//! * `limits.csv`: `from_bus,to_bus,limit_kw` (or `branch,limit_kw`), kW.
//!
//! Writes `dispatch.csv` (`id,bus,side,quantity_kw,price`), `buses.csv`
//! (`bus,price`) and `lines.csv` (`from_bus,to_bus,flow_kw,limit_kw,congested`).
//! An infeasible market writes no tables and is returned as
//! `Status::Infeasible` with the reason (the CLI should print it and exit ≠ 0).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::auction::{place, Auctioneer, ClearOptions, Clearing, KktResiduals, PlacedOrder, Status};
use crate::error::MarketError;
use crate::feeder::topology_from_circuit;
use crate::market::LimitOverride;
use crate::network::{EdgeSpec, RadialNetwork};
use crate::order::{Curve, Order, Side};

/// What one `clear` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ClearReport {
    pub status: Status,
    pub buses: usize,
    pub orders: usize,
    pub welfare: f64,
    pub congestion_rent: f64,
    pub congested_lines: usize,
    pub kkt: KktResiduals,
    /// Seconds spent clearing (excluding reading and writing).
    pub clear_seconds: f64,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl ClearReport {
    /// One-line JSON summary (what `ogg market clear` prints last; the Python
    /// tests read `status`, `welfare` and `kkt_max` from it).
    pub fn json(&self) -> String {
        let (status, reason) = match &self.status {
            Status::Cleared => ("cleared", String::new()),
            Status::Infeasible { reason } => ("infeasible", reason.clone()),
        };
        format!(
            "{{\"status\": \"{status}\", \"reason\": {reason:?}, \"buses\": {}, \"orders\": {}, \"welfare\": {:e}, \"rent\": {:e}, \"congested_lines\": {}, \"kkt_max\": {:e}, \"clear_s\": {:e}}}",
            self.buses,
            self.orders,
            self.welfare,
            self.congestion_rent,
            self.congested_lines,
            self.kkt.max(),
            self.clear_seconds
        )
    }
}

/// `ogg market clear` with the default options (tree algorithm, nodal settlement).
pub fn clear(feeder: &str, orders_csv: &Path, limits_csv: Option<&Path>, out: &Path) -> Result<ClearReport, MarketError> {
    clear_with(feeder, orders_csv, limits_csv, out, ClearOptions::default())
}

pub fn clear_with(
    feeder: &str,
    orders_csv: &Path,
    limits_csv: Option<&Path>,
    out: &Path,
    options: ClearOptions,
) -> Result<ClearReport, MarketError> {
    let mut net = load_network(feeder)?;
    if let Some(path) = limits_csv {
        for (line, limit) in read_limits(path)? {
            limit.apply(&mut net).map_err(|e| MarketError::Input(format!("{}:{line}: {e}", path.display())))?;
        }
    }
    let orders = read_orders(orders_csv)?;
    let placed = place_with_lines(&net, &orders, orders_csv)?;
    let start = Instant::now();
    let clearing = Auctioneer::new(options).clear(&net, &placed)?;
    let clear_seconds = start.elapsed().as_secs_f64();
    let mut report = ClearReport {
        status: clearing.status.clone(),
        buses: net.len(),
        orders: placed.len(),
        welfare: clearing.welfare,
        congestion_rent: clearing.total_rent(),
        congested_lines: net.edges().filter(|&e| clearing.congested(&net, e)).count(),
        kkt: clearing.kkt,
        clear_seconds,
        files: Vec::new(),
    };
    if clearing.is_cleared() {
        report.files = write_tables(&net, &placed, &clearing, out)?;
    }
    Ok(report)
}

/// Resolves `--feeder`: an edge-list CSV, an OpenDSS script, or a built-in name.
pub fn load_network(feeder: &str) -> Result<RadialNetwork, MarketError> {
    let path = Path::new(feeder);
    let lower = feeder.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        return read_edge_list(path);
    }
    if lower.ends_with(".dss") || path.is_file() {
        let circuit = ogg_dss::read_file(path).map_err(|e| MarketError::Input(format!("{feeder}: {e}")))?;
        return RadialNetwork::from_topology(&topology_from_circuit(&circuit))
            .map_err(|e| MarketError::Input(format!("{feeder}: {e}")));
    }
    let circuit = crate::builtin::circuit(feeder)?;
    RadialNetwork::from_topology(&topology_from_circuit(&circuit)).map_err(|e| MarketError::Input(format!("{feeder}: {e}")))
}

/// A parsed CSV: header names and rows with their 1-based line numbers.
struct Csv {
    path: String,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

impl Csv {
    fn read(path: &Path) -> Result<Csv, MarketError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MarketError::Input(format!("{}: cannot read: {e}", path.display())))?;
        let mut header: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cells: Vec<String> = line.split(',').map(|c| c.trim().trim_matches('"').to_string()).collect();
            if header.is_none() {
                header = Some(cells.iter().map(|c| c.to_ascii_lowercase()).collect());
            } else {
                rows.push((i + 1, cells));
            }
        }
        let header = header.ok_or_else(|| MarketError::Input(format!("{}: empty file (expected a header row)", path.display())))?;
        Ok(Csv { path: path.display().to_string(), header, rows })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn require(&self, name: &str) -> Result<usize, MarketError> {
        self.column(name).ok_or_else(|| {
            MarketError::Input(format!("{}:1: missing column '{name}' (header: {})", self.path, self.header.join(",")))
        })
    }

    fn cell<'a>(&self, line: usize, row: &'a [String], col: usize, name: &str) -> Result<&'a str, MarketError> {
        row.get(col)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| MarketError::Input(format!("{}:{line}: missing value for '{name}'", self.path)))
    }

    fn number(&self, line: usize, row: &[String], col: usize, name: &str) -> Result<f64, MarketError> {
        let s = self.cell(line, row, col, name)?;
        let v = match s.to_ascii_lowercase().as_str() {
            "inf" | "infinity" | "none" => f64::INFINITY,
            _ => s
                .parse::<f64>()
                .map_err(|_| MarketError::Input(format!("{}:{line}: {name} '{s}' is not a number", self.path)))?,
        };
        Ok(v)
    }
}

/// Reads `orders.csv`; bad rows are errors naming the file, line and order id.
pub fn read_orders(path: &Path) -> Result<Vec<(usize, Order)>, MarketError> {
    let csv = Csv::read(path)?;
    let cols: Vec<usize> = ["id", "bus", "side", "p_max", "p_min", "q_max", "q_min"]
        .iter()
        .map(|c| csv.require(c))
        .collect::<Result<_, _>>()?;
    let mut orders = Vec::with_capacity(csv.rows.len());
    for (line, row) in &csv.rows {
        let line = *line;
        let id = csv.cell(line, row, cols[0], "id")?.to_string();
        let bus = csv.cell(line, row, cols[1], "bus")?.to_string();
        let side: Side = csv
            .cell(line, row, cols[2], "side")?
            .parse()
            .map_err(|e| MarketError::Input(format!("{}:{line}: order '{id}': {e}", csv.path)))?;
        let curve = Curve::new(
            csv.number(line, row, cols[3], "p_max")?,
            csv.number(line, row, cols[4], "p_min")?,
            csv.number(line, row, cols[5], "q_max")?,
            csv.number(line, row, cols[6], "q_min")?,
        );
        orders.push((line, Order::new(id, bus, side, curve)));
    }
    Ok(orders)
}

fn place_with_lines(net: &RadialNetwork, orders: &[(usize, Order)], path: &Path) -> Result<Vec<PlacedOrder>, MarketError> {
    let mut placed = Vec::with_capacity(orders.len());
    for (line, o) in orders {
        let p = place(net, std::slice::from_ref(o))
            .map_err(|e| MarketError::Input(format!("{}:{line}: {e}", path.display())))?;
        placed.extend(p);
    }
    Ok(placed)
}

/// Reads `limits.csv` (`from_bus,to_bus,limit_kw` or `branch,limit_kw`).
pub fn read_limits(path: &Path) -> Result<Vec<(usize, LimitOverride)>, MarketError> {
    let csv = Csv::read(path)?;
    let limit_col = csv.require("limit_kw")?;
    let by_bus = csv.column("from_bus").zip(csv.column("to_bus"));
    let by_name = csv.column("branch").or(csv.column("name"));
    let mut out = Vec::new();
    for (line, row) in &csv.rows {
        let limit = csv.number(*line, row, limit_col, "limit_kw")?;
        let item = match (by_bus, by_name) {
            (Some((f, t)), _) => LimitOverride::between(csv.cell(*line, row, f, "from_bus")?, csv.cell(*line, row, t, "to_bus")?, limit),
            (None, Some(n)) => LimitOverride::branch(csv.cell(*line, row, n, "branch")?, limit),
            (None, None) => {
                return Err(MarketError::Input(format!(
                    "{}:1: needs columns from_bus,to_bus or branch (header: {})",
                    csv.path,
                    csv.header.join(",")
                )))
            }
        };
        out.push((*line, item));
    }
    Ok(out)
}

/// Reads an edge-list feeder (`from_bus,to_bus,limit_kw[,name]`).
pub fn read_edge_list(path: &Path) -> Result<RadialNetwork, MarketError> {
    let csv = Csv::read(path)?;
    let (f, t, l) = (csv.require("from_bus")?, csv.require("to_bus")?, csv.require("limit_kw")?);
    let name_col = csv.column("name");
    let mut edges = Vec::with_capacity(csv.rows.len());
    for (line, row) in &csv.rows {
        let from = csv.cell(*line, row, f, "from_bus")?.to_string();
        let to = csv.cell(*line, row, t, "to_bus")?.to_string();
        let limit_kw = csv.number(*line, row, l, "limit_kw")?;
        let name = name_col
            .and_then(|c| row.get(c).cloned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{from}-{to}"));
        edges.push(EdgeSpec { name, from, to, limit_kw });
    }
    let root = edges
        .first()
        .map(|e| e.from.clone())
        .ok_or_else(|| MarketError::Input(format!("{}: no edges", csv.path)))?;
    RadialNetwork::from_edges(&[], &root, &edges).map_err(|e| MarketError::Input(format!("{}: {e}", csv.path)))
}

fn fmt_num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        // Shortest representation that round-trips.
        format!("{v}")
    }
}

/// Writes dispatch.csv, buses.csv and lines.csv into `out`.
pub fn write_tables(net: &RadialNetwork, orders: &[PlacedOrder], c: &Clearing, out: &Path) -> Result<Vec<PathBuf>, MarketError> {
    std::fs::create_dir_all(out).map_err(|e| MarketError::Input(format!("{}: cannot create: {e}", out.display())))?;
    let mut dispatch = String::from("id,bus,side,quantity_kw,price\n");
    for (k, o) in orders.iter().enumerate() {
        let _ = writeln!(dispatch, "{},{},{},{},{}", o.id, net.buses[o.bus], o.side, fmt_num(c.quantity[k]), fmt_num(c.price[k]));
    }
    let mut buses = String::from("bus,price\n");
    for (i, b) in net.buses.iter().enumerate() {
        let _ = writeln!(buses, "{},{}", b, fmt_num(c.bus_price[i]));
    }
    let lines = lines_csv(net, c);
    let mut files = Vec::new();
    for (name, text) in [("dispatch.csv", dispatch), ("buses.csv", buses), ("lines.csv", lines)] {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| MarketError::Input(format!("{}: cannot write: {e}", p.display())))?;
        files.push(p);
    }
    Ok(files)
}

/// The lines table: `from_bus,to_bus,flow_kw,limit_kw,congested` (plus the
/// congestion price and rent), one row per edge in breadth-first order.
pub fn lines_csv(net: &RadialNetwork, c: &Clearing) -> String {
    let mut s = String::from("from_bus,to_bus,flow_kw,limit_kw,congested,congestion_price,congestion_rent\n");
    for e in net.edges() {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{}",
            net.buses[net.parent[e]],
            net.buses[e],
            fmt_num(c.flow[e]),
            fmt_num(net.limit_kw[e]),
            c.congested(net, e),
            fmt_num(c.congestion_price[e]),
            fmt_num(c.congestion_rent[e])
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ogg-market-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn clears_an_order_book_from_csv() {
        let d = tmp("ok");
        std::fs::write(d.join("feeder.csv"), "from_bus,to_bus,limit_kw\na,b,inf\n").unwrap();
        std::fs::write(
            d.join("orders.csv"),
            "id,bus,side,p_max,p_min,q_max,q_min\ncheap,a,sell,10,0,10,0\nd,b,buy,10,0,10,0\nlocal,b,sell,12,2,10,0\n",
        )
        .unwrap();
        std::fs::write(d.join("limits.csv"), "from_bus,to_bus,limit_kw\nb,a,2\n").unwrap();
        let feeder = d.join("feeder.csv");
        let r = clear(feeder.to_str().unwrap(), &d.join("orders.csv"), Some(&d.join("limits.csv")), &d.join("out")).unwrap();
        assert_eq!(r.status, Status::Cleared);
        assert_eq!(r.congested_lines, 1);
        let buses = std::fs::read_to_string(d.join("out/buses.csv")).unwrap();
        assert_eq!(buses, "bus,price\na,2\nb,5\n");
        let lines = std::fs::read_to_string(d.join("out/lines.csv")).unwrap();
        assert!(lines.contains("a,b,2,2,true,3,6"), "{lines}");
        let dispatch = std::fs::read_to_string(d.join("out/dispatch.csv")).unwrap();
        assert!(dispatch.contains("local,b,sell,3,5"), "{dispatch}");
    }

    #[test]
    fn errors_name_file_line_and_order() {
        let d = tmp("bad");
        std::fs::write(d.join("feeder.csv"), "from_bus,to_bus,limit_kw\na,b,inf\n").unwrap();
        let feeder = d.join("feeder.csv");
        let cases = [
            ("id,bus,side,p_max,p_min,q_max,q_min\nx,a,sell,10,0,10,0\ny,b,buy,abc,0,1,0\n", ":3: p_max 'abc'"),
            ("id,bus,side,p_max,p_min,q_max,q_min\nx,a,sell,10,0,10,0\ny,q,buy,5,0,1,0\n", ":3: order of 'y' rejected: unknown bus 'q'"),
            ("id,bus,side,p_max,p_min,q_max,q_min\nx,a,hold,10,0,10,0\n", ":2: order 'x': side must be"),
            ("id,bus,side,p_max,p_min,q_max\nx,a,sell,10,0,10\n", ":1: missing column 'q_min'"),
            ("id,bus,side,p_max,p_min,q_max,q_min\nx,a,sell,1,5,10,0\n", ":2: order of 'x' rejected: p_max (1) < p_min (5)"),
        ];
        for (text, expected) in cases {
            std::fs::write(d.join("orders.csv"), text).unwrap();
            let e = clear(feeder.to_str().unwrap(), &d.join("orders.csv"), None, &d.join("out")).unwrap_err().to_string();
            assert!(e.contains("orders.csv") && e.contains(expected), "{e}\nexpected: {expected}");
        }
        std::fs::write(d.join("orders.csv"), "id,bus,side,p_max,p_min,q_max,q_min\nx,a,sell,10,0,10,0\n").unwrap();
        std::fs::write(d.join("limits.csv"), "from_bus,to_bus,limit_kw\na,zz,3\n").unwrap();
        let e = clear(feeder.to_str().unwrap(), &d.join("orders.csv"), Some(&d.join("limits.csv")), &d.join("out"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.csv:2") && e.contains("zz"), "{e}");
    }

    #[test]
    fn infeasible_book_is_a_status() {
        let d = tmp("inf");
        std::fs::write(d.join("feeder.csv"), "from_bus,to_bus,limit_kw\na,b,1\n").unwrap();
        std::fs::write(d.join("orders.csv"), "id,bus,side,p_max,p_min,q_max,q_min\ns,a,sell,10,0,10,0\nd,b,buy,10,0,10,5\n").unwrap();
        let feeder = d.join("feeder.csv");
        let r = clear(feeder.to_str().unwrap(), &d.join("orders.csv"), None, &d.join("out")).unwrap();
        assert!(matches!(r.status, Status::Infeasible { .. }));
        assert!(r.files.is_empty());
    }
}
