//! The feeder as the DLMP optimal power flow sees it: a rooted tree
//! ([`ogg_market::RadialNetwork`]: buses in breadth-first order, edge *i* is
//! the edge from `parent[i]` into bus *i*) plus, per edge, a single-phase
//! equivalent series impedance and voltage ratio, and per bus its base kV and
//! drawing coordinates.
//!
//! # Single-phase equivalent (an approximation, documented here once)
//! The optimal power flows are single-phase (balanced) models of feeders that
//! are three-phase and unbalanced. Each edge's impedance is the
//! *per-phase-averaged* impedance of the elements forming it:
//! * a line's per-phase impedance is its mean self impedance minus its mean
//!   mutual impedance (the positive-sequence impedance of a transposed line;
//!   `r1 + j x1` for lines given by sequence data, `(2 z1 + z0)/3` for a
//!   single-phase line given by sequence data), times its length;
//! * a transformer's is `(%r1 + %r2)/100 + j·xhl/100` on its own kVA, where a
//!   unit of k < 3 phases counts as a three-phase bank of kVA·3/k;
//! * elements merged into one edge (a bank of single-phase regulators and its
//!   jumper) are averaged, weighted by their phase counts;
//! * an edge with fewer than three phases (a lateral) carries all its power
//!   on k phases, so its impedance is scaled by 3/k.
//!
//! Per unit on `s_base_kva` (default 1 MVA, so per-unit power = MW) and each
//! bus's line-to-line base kV. A regulator's edge gets the voltage ratio of
//! its tap in the solved base case (fixed in the OPF; the AC check lets the
//! regulator act). Flow limits come from the feeder's ratings (kVA: lines
//! normamps·kV_LN·phases, transformers kVA) and are overridden per scenario.
//!
//! A regulator's edge keeps, besides that fixed ratio, its control: the band
//! its RegControl holds (vreg ± band/2 through the PT ratio, line-drop
//! compensation ignored) and its tap range. The branch formulations then let
//! the ratio float within the range and keep the regulated bus in the band
//! ([`Regulation`]), as the regulator would over a day of changing load.

use std::collections::HashMap;
use std::path::Path;

use ogg_dss::{Circuit, ImpedanceData};
use ogg_grid::DistributionGrid;
use ogg_market::network::{EdgeSpec, NO_PARENT};
use ogg_market::RadialNetwork;

use crate::csv::Csv;
use crate::error::DlmpError;

/// Default power base: 1 MVA, so per-unit active power is MW.
pub const DEFAULT_S_BASE_KVA: f64 = 1000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct DlmpNetwork {
    /// Buses, parents, limits (kW for the lossless model, kVA for the others),
    /// edge names; ids in breadth-first order with the root first.
    pub tree: RadialNetwork,
    /// Series resistance and reactance of edge i (into bus i), per unit.
    pub r_pu: Vec<f64>,
    pub x_pu: Vec<f64>,
    /// Voltage ratio of edge i: |V_i| = tap·|V_parent| − drop (1 for lines).
    pub tap: Vec<f64>,
    /// Line-to-line base kV of each bus (0 where unknown).
    pub kv_ll: Vec<f64>,
    /// Drawing coordinates (from the feeder's BusCoords), where known.
    pub coords: Vec<Option<(f64, f64)>>,
    pub s_base_kva: f64,
    /// Voltage regulation of edge i (a regulator's tap follows the load), if any.
    pub regulation: Vec<Option<Regulation>>,
    /// Children of each bus.
    children: Vec<Vec<usize>>,
}

/// A voltage regulator on an edge: the OPF chooses its ratio t ∈ [tap_min,
/// tap_max] and keeps the regulated bus within [v_low, v_high] (the
/// regulator's band), as the regulator's control would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regulation {
    pub v_low_pu: f64,
    pub v_high_pu: f64,
    pub tap_min: f64,
    pub tap_max: f64,
}

/// One edge of an explicit edge list, with impedance.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpedanceEdge {
    pub name: String,
    pub from: String,
    pub to: String,
    pub limit_kw: f64,
    pub r_pu: f64,
    pub x_pu: f64,
    pub tap: f64,
}

impl DlmpNetwork {
    /// From a tree and per-edge data indexed by bus id.
    pub fn new(
        tree: RadialNetwork,
        r_pu: Vec<f64>,
        x_pu: Vec<f64>,
        tap: Vec<f64>,
        kv_ll: Vec<f64>,
        coords: Vec<Option<(f64, f64)>>,
        s_base_kva: f64,
    ) -> Result<Self, DlmpError> {
        let n = tree.len();
        for (what, len) in [
            ("r_pu", r_pu.len()),
            ("x_pu", x_pu.len()),
            ("tap", tap.len()),
            ("kv_ll", kv_ll.len()),
            ("coords", coords.len()),
        ] {
            if len != n {
                return Err(DlmpError::Network(format!(
                    "{what} has {len} entries for {n} buses"
                )));
            }
        }
        for e in tree.edges() {
            let name = &tree.edge_name[e];
            if !(r_pu[e].is_finite() && r_pu[e] >= 0.0 && x_pu[e].is_finite()) {
                return Err(DlmpError::Network(format!(
                    "edge {name}: impedance {} + j{} pu is not usable",
                    r_pu[e], x_pu[e]
                )));
            }
            if !(tap[e].is_finite() && tap[e] > 0.0) {
                return Err(DlmpError::Network(format!(
                    "edge {name}: voltage ratio {} must be > 0",
                    tap[e]
                )));
            }
        }
        if !(s_base_kva.is_finite() && s_base_kva > 0.0) {
            return Err(DlmpError::Network(format!(
                "power base {s_base_kva} kVA must be > 0"
            )));
        }
        let children = tree.children();
        Ok(DlmpNetwork {
            tree,
            r_pu,
            x_pu,
            tap,
            kv_ll,
            coords,
            s_base_kva,
            regulation: vec![None; n],
            children,
        })
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
    pub fn root(&self) -> usize {
        self.tree.root
    }
    pub fn parent(&self, i: usize) -> Option<usize> {
        let p = self.tree.parent[i];
        (p != NO_PARENT).then_some(p)
    }
    pub fn children(&self, i: usize) -> &[usize] {
        &self.children[i]
    }
    pub fn bus_name(&self, i: usize) -> &str {
        &self.tree.buses[i]
    }
    pub fn bus_index(&self, name: &str) -> Option<usize> {
        self.tree.bus_index(name)
    }
    /// Edge ids (= child bus ids), parents before children.
    pub fn edges(&self) -> impl Iterator<Item = usize> + '_ {
        self.tree.edges()
    }
    /// Limit of edge e, kW (lossless model) or kVA (the others); ∞ when unrated.
    pub fn limit_kw(&self, e: usize) -> f64 {
        self.tree.limit_kw[e]
    }
    /// Overrides the limit of the edge between two buses, or (with `to` empty) the edge named `from`.
    pub fn set_limit(&mut self, from: &str, to: &str, limit_kw: f64) -> Result<(), DlmpError> {
        ogg_market::LimitOverride {
            from: from.into(),
            to: to.into(),
            limit_kw,
        }
        .apply(&mut self.tree)
        .map_err(DlmpError::from)
    }
    /// Removes every rating (an unconstrained feeder).
    pub fn clear_limits(&mut self) {
        for l in self.tree.limit_kw.iter_mut() {
            *l = f64::INFINITY;
        }
    }
    /// Buses on the path from the root to `bus`, root first.
    pub fn path(&self, bus: usize) -> Vec<usize> {
        let mut p = vec![bus];
        let mut b = bus;
        while let Some(q) = self.parent(b) {
            p.push(q);
            b = q;
        }
        p.reverse();
        p
    }
    /// Label "from-to" of edge e.
    pub fn edge_label(&self, e: usize) -> String {
        match self.parent(e) {
            Some(p) => format!("{}-{}", self.bus_name(p), self.bus_name(e)),
            None => self.bus_name(e).to_string(),
        }
    }

    /// The built-in feeder `name` or an OpenDSS script, with its AC model.
    /// See [`Self::from_grid`].
    pub fn from_feeder(name_or_path: &str) -> Result<(Self, Circuit, DistributionGrid), DlmpError> {
        let circuit = ogg_grid::feeders::circuit_from(name_or_path)
            .map_err(|e| DlmpError::Input(format!("feeder '{name_or_path}': {e}")))?;
        let grid = DistributionGrid::new(&circuit, 3600.0).map_err(|e| {
            DlmpError::Input(format!(
                "feeder '{name_or_path}': AC power flow of the base case: {e}"
            ))
        })?;
        let mut net = Self::from_grid(&circuit, &grid)?;
        if net.coords.iter().all(Option::is_none) {
            // The script did not run BusCoords: the built-in feeders ship buscoords.csv.
            if let Some(files) = ogg_grid::feeders::files(name_or_path) {
                if let Some((_, text)) = files.iter().find(|(f, _)| *f == "buscoords.csv") {
                    net.set_coords_from_csv_text(text);
                }
            }
        }
        Ok((net, circuit, grid))
    }

    /// From a circuit and its solved AC model (for base kV and regulator taps):
    /// the grid's topology (parallel single-phase units merged into one edge),
    /// single-phase equivalent impedances (see the module docs).
    pub fn from_grid(circuit: &Circuit, grid: &DistributionGrid) -> Result<Self, DlmpError> {
        use ogg_core::Grid;
        let topo = grid
            .topology()
            .ok_or_else(|| DlmpError::Network("the grid has no topology".into()))?;
        let tree = RadialNetwork::from_topology(topo)?;
        let n = tree.len();
        let kv_by_bus: HashMap<String, f64> = topo
            .buses
            .iter()
            .zip(&topo.bus_kv)
            .map(|(b, &kv)| (b.to_ascii_lowercase(), kv))
            .collect();
        let kv_ll: Vec<f64> = tree
            .buses
            .iter()
            .map(|b| {
                kv_by_bus
                    .get(&b.to_ascii_lowercase())
                    .copied()
                    .unwrap_or(0.0)
            })
            .collect();
        let s_base = DEFAULT_S_BASE_KVA;
        // Regulator taps of the solved base case and bands, by transformer name.
        let mut reg_tap: HashMap<String, f64> = HashMap::new();
        let mut reg_band: HashMap<String, Regulation> = HashMap::new();
        for (rc, (_, tap, _)) in circuit
            .regcontrols
            .iter()
            .zip(grid.power_flow().regulator_taps())
        {
            let key = rc.transformer.to_ascii_lowercase();
            reg_tap.insert(key.clone(), tap);
            if let Some(t) = circuit
                .transformers
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(&rc.transformer))
            {
                if let Some(w) = rc.winding.checked_sub(1).and_then(|k| t.windings.get(k)) {
                    // The PT reads the voltage across the winding: line-to-neutral for a 3-phase wye winding.
                    let across_kv = if t.phases >= 3 && w.conn == ogg_dss::Connection::Wye {
                        w.kv / 3f64.sqrt()
                    } else {
                        w.kv
                    };
                    if across_kv > 0.0 && rc.ptratio > 0.0 && rc.vreg > 0.0 {
                        let per_volt = rc.ptratio / (across_kv * 1000.0);
                        reg_band.insert(
                            key,
                            Regulation {
                                v_low_pu: (rc.vreg - rc.band / 2.0) * per_volt,
                                v_high_pu: (rc.vreg + rc.band / 2.0) * per_volt,
                                tap_min: w.min_tap,
                                tap_max: w.max_tap,
                            },
                        );
                    }
                }
            }
        }
        let mut r_pu = vec![0.0; n];
        let mut x_pu = vec![0.0; n];
        let mut tap = vec![1.0; n];
        let mut regulation: Vec<Option<Regulation>> = vec![None; n];
        for e in tree.edges() {
            let from = tree.parent[e];
            let mut sum_r = 0.0;
            let mut sum_x = 0.0;
            let mut phases_total = 0usize;
            let mut taps: Vec<f64> = Vec::new();
            for part in tree.edge_name[e].split('+') {
                let (class, name) = part.split_once('.').unwrap_or(("", part));
                let (z, phases) = match class {
                    "line" => {
                        let line = circuit
                            .lines
                            .iter()
                            .find(|l| l.name.eq_ignore_ascii_case(name))
                            .ok_or_else(|| {
                                DlmpError::Network(format!(
                                    "edge {}: no line '{name}' in the circuit",
                                    tree.edge_name[e]
                                ))
                            })?;
                        let (r_ohm, x_ohm) = line_impedance_ohm(line);
                        let kv = kv_ll[from].max(kv_ll[e]);
                        if kv <= 0.0 {
                            return Err(DlmpError::Network(format!(
                                "line {name}: no base voltage at its buses"
                            )));
                        }
                        let z_base = kv * kv / (s_base / 1000.0);
                        ((r_ohm / z_base, x_ohm / z_base), line.phases.max(1))
                    }
                    "transformer" => {
                        let t = circuit
                            .transformers
                            .iter()
                            .find(|t| t.name.eq_ignore_ascii_case(name))
                            .ok_or_else(|| {
                                DlmpError::Network(format!(
                                    "edge {}: no transformer '{name}' in the circuit",
                                    tree.edge_name[e]
                                ))
                            })?;
                        let phases = t.phases.max(1);
                        let kva = t.windings.first().map(|w| w.kva).unwrap_or(0.0);
                        if kva <= 0.0 {
                            return Err(DlmpError::Network(format!(
                                "transformer {name}: winding 1 has no kVA rating"
                            )));
                        }
                        let pct_r: f64 = t.windings.iter().take(2).map(|w| w.pct_r).sum();
                        let bank_kva = kva * 3.0 / phases as f64;
                        let scale = s_base / bank_kva;
                        if let Some(&tp) = reg_tap.get(&name.to_ascii_lowercase()) {
                            taps.push(tp);
                        }
                        if let Some(b) = reg_band.get(&name.to_ascii_lowercase()) {
                            // A bank: the band of its units, averaged.
                            regulation[e] = Some(match regulation[e] {
                                None => *b,
                                Some(a) => Regulation {
                                    v_low_pu: (a.v_low_pu + b.v_low_pu) / 2.0,
                                    v_high_pu: (a.v_high_pu + b.v_high_pu) / 2.0,
                                    tap_min: a.tap_min.max(b.tap_min),
                                    tap_max: a.tap_max.min(b.tap_max),
                                },
                            });
                        }
                        ((pct_r / 100.0 * scale, t.xhl / 100.0 * scale), phases)
                    }
                    // Series reactors and capacitors: negligible here, counted as ideal.
                    _ => ((0.0, 0.0), 3),
                };
                sum_r += z.0 * phases as f64;
                sum_x += z.1 * phases as f64;
                phases_total += phases;
            }
            let k = phases_total.max(1);
            let lateral = 3.0 / k.min(3) as f64;
            r_pu[e] = sum_r / k as f64 * lateral;
            x_pu[e] = sum_x / k as f64 * lateral;
            if !taps.is_empty() {
                tap[e] = taps.iter().sum::<f64>() / taps.len() as f64;
            }
        }
        let coords = tree
            .buses
            .iter()
            .map(|b| circuit.bus_coords.get(&b.to_ascii_lowercase()).copied())
            .collect();
        let mut net = Self::new(tree, r_pu, x_pu, tap, kv_ll, coords, s_base)?;
        net.regulation = regulation;
        Ok(net)
    }

    /// Fills coordinates from `bus,x,y` lines (no header).
    pub fn set_coords_from_csv_text(&mut self, text: &str) {
        for line in text.lines() {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() < 3 {
                continue;
            }
            if let (Some(i), Ok(x), Ok(y)) = (
                self.bus_index(cells[0]),
                cells[1].parse::<f64>(),
                cells[2].parse::<f64>(),
            ) {
                self.coords[i] = Some((x, y));
            }
        }
    }

    /// From an explicit edge list (edges in either direction; parallel edges
    /// are combined as parallel impedances, their limits added).
    pub fn from_edges(
        root: &str,
        edges: &[ImpedanceEdge],
        s_base_kva: f64,
    ) -> Result<Self, DlmpError> {
        let specs: Vec<EdgeSpec> = edges
            .iter()
            .map(|e| EdgeSpec {
                name: e.name.clone(),
                from: e.from.clone(),
                to: e.to.clone(),
                limit_kw: e.limit_kw,
            })
            .collect();
        let tree = RadialNetwork::from_edges(&[], root, &specs)?;
        let n = tree.len();
        let mut y_sum: Vec<Option<(f64, f64)>> = vec![None; n];
        let mut tap = vec![1.0; n];
        for e in edges {
            let Some(id) = tree.edge_between(&e.from, &e.to) else {
                continue;
            };
            let z2 = e.r_pu * e.r_pu + e.x_pu * e.x_pu;
            // Admittance sums combine parallel edges; a zero impedance stays zero.
            let y = if z2 > 0.0 {
                (e.r_pu / z2, -e.x_pu / z2)
            } else {
                (f64::INFINITY, 0.0)
            };
            y_sum[id] = Some(match y_sum[id] {
                Some(prev) => (prev.0 + y.0, prev.1 + y.1),
                None => y,
            });
            // Ratio as seen from the parent side.
            tap[id] = if tree.parent[id] == tree.bus_index(&e.from).unwrap_or(usize::MAX) {
                e.tap
            } else {
                1.0 / e.tap
            };
        }
        let mut r_pu = vec![0.0; n];
        let mut x_pu = vec![0.0; n];
        for i in 0..n {
            if let Some((g, b)) = y_sum[i] {
                if g.is_finite() {
                    let y2 = g * g + b * b;
                    r_pu[i] = g / y2;
                    x_pu[i] = -b / y2;
                }
            }
        }
        Self::new(
            tree,
            r_pu,
            x_pu,
            tap,
            vec![0.0; n],
            vec![None; n],
            s_base_kva,
        )
    }

    /// Reads an edge-list feeder: `from_bus,to_bus` and optionally `limit_kw`,
    /// `name`, `r_pu`, `x_pu` (else `r_ohm`, `x_ohm` with `kv`), `tap`, and a
    /// regulator's `reg_v_low,reg_v_high,tap_min,tap_max`; the first row's
    /// `from_bus` is the root. What [`Self::edge_list_csv`] writes reads back.
    pub fn read_edge_list(path: &Path) -> Result<Self, DlmpError> {
        let csv = Csv::read(path)?;
        let (f, t) = (csv.require("from_bus")?, csv.require("to_bus")?);
        let limit = csv.column("limit_kw");
        let name_col = csv.column("name");
        let (r_pu, x_pu) = (csv.column("r_pu"), csv.column("x_pu"));
        let (r_ohm, x_ohm, kv) = (csv.column("r_ohm"), csv.column("x_ohm"), csv.column("kv"));
        let tap_col = csv.column("tap");
        let reg_cols = [
            csv.column("reg_v_low"),
            csv.column("reg_v_high"),
            csv.column("tap_min"),
            csv.column("tap_max"),
        ];
        let mut regulated: Vec<(String, String, Regulation)> = Vec::new();
        let mut edges = Vec::with_capacity(csv.rows.len());
        for (line, row) in &csv.rows {
            let line = *line;
            let from = csv.cell(line, row, f, "from_bus")?.to_string();
            let to = csv.cell(line, row, t, "to_bus")?.to_string();
            let limit_kw = match limit {
                Some(c) => csv.number(line, row, c, "limit_kw")?,
                None => f64::INFINITY,
            };
            let (r, x) = match (r_pu, x_pu, r_ohm, x_ohm, kv) {
                (Some(rc), Some(xc), _, _, _) => (
                    csv.number(line, row, rc, "r_pu")?,
                    csv.number(line, row, xc, "x_pu")?,
                ),
                (_, _, Some(rc), Some(xc), Some(kc)) => {
                    let kv = csv.number(line, row, kc, "kv")?;
                    let z_base = kv * kv / (DEFAULT_S_BASE_KVA / 1000.0);
                    (
                        csv.number(line, row, rc, "r_ohm")? / z_base,
                        csv.number(line, row, xc, "x_ohm")? / z_base,
                    )
                }
                _ => (0.0, 0.0),
            };
            let tap = match tap_col {
                Some(c) => csv.number(line, row, c, "tap")?,
                None => 1.0,
            };
            let name = name_col
                .and_then(|c| row.get(c).cloned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("{from}-{to}"));
            let mut reg = [f64::NAN; 4];
            for (k, (c, label)) in reg_cols
                .iter()
                .zip(["reg_v_low", "reg_v_high", "tap_min", "tap_max"])
                .enumerate()
            {
                if let Some(v) = csv.optional_number(line, row, *c, label)? {
                    reg[k] = v;
                }
            }
            if reg.iter().all(|v| v.is_finite()) {
                regulated.push((
                    from.clone(),
                    to.clone(),
                    Regulation {
                        v_low_pu: reg[0],
                        v_high_pu: reg[1],
                        tap_min: reg[2],
                        tap_max: reg[3],
                    },
                ));
            }
            edges.push(ImpedanceEdge {
                name,
                from,
                to,
                limit_kw,
                r_pu: r,
                x_pu: x,
                tap,
            });
        }
        let root = edges
            .first()
            .map(|e| e.from.clone())
            .ok_or_else(|| DlmpError::Input(format!("{}: no edges", csv.path)))?;
        let mut net = Self::from_edges(&root, &edges, DEFAULT_S_BASE_KVA)
            .map_err(|e| DlmpError::Input(format!("{}: {e}", csv.path)))?;
        for (from, to, reg) in regulated {
            if let Some(e) = net.tree.edge_between(&from, &to) {
                net.regulation[e] = Some(reg);
            }
        }
        Ok(net)
    }

    /// The network as an edge list (`name,from_bus,to_bus,limit_kw,r_pu,x_pu,tap`
    /// and the regulation `reg_v_low,reg_v_high,tap_min,tap_max`, empty where none), one row per edge
    /// in breadth-first order: what independent checks (the CVXPY tests) read.
    pub fn edge_list_csv(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::from(
            "name,from_bus,to_bus,limit_kw,r_pu,x_pu,tap,reg_v_low,reg_v_high,tap_min,tap_max\n",
        );
        for e in self.edges() {
            let p = self.tree.parent[e];
            let reg = match self.regulation[e] {
                Some(r) => format!("{},{},{},{}", r.v_low_pu, r.v_high_pu, r.tap_min, r.tap_max),
                None => ",,,".into(),
            };
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{reg}",
                self.tree.edge_name[e].replace(',', ";"),
                self.bus_name(p),
                self.bus_name(e),
                crate::csv::fmt_num(self.limit_kw(e)),
                self.r_pu[e],
                self.x_pu[e],
                self.tap[e]
            );
        }
        s
    }
}

/// Per-phase-averaged series impedance of a line in ohms (see the module docs).
pub fn line_impedance_ohm(line: &ogg_dss::Line) -> (f64, f64) {
    let factor = match (line.length_units.metres(), line.impedance.units.metres()) {
        (Some(a), Some(b)) => a / b,
        _ => 1.0,
    } * line.length;
    let (r, x) = match &line.impedance.data {
        ImpedanceData::Matrix { r, x, .. } => {
            let n = (r.len() as f64).sqrt().round() as usize;
            (positive_sequence(r, n), positive_sequence(x, n))
        }
        ImpedanceData::Sequence { r1, x1, r0, x0, .. } => {
            if line.phases == 1 {
                ((2.0 * r1 + r0) / 3.0, (2.0 * x1 + x0) / 3.0)
            } else {
                (*r1, *x1)
            }
        }
    };
    (r * factor, x * factor)
}

/// Mean diagonal minus mean off-diagonal of an n×n row-major matrix (the
/// diagonal alone for n = 1).
fn positive_sequence(m: &[f64], n: usize) -> f64 {
    if n == 0 || m.len() < n * n {
        return 0.0;
    }
    let diag = (0..n).map(|i| m[i * n + i]).sum::<f64>() / n as f64;
    if n == 1 {
        return diag;
    }
    let off = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| m[i * n + j])
        .sum::<f64>()
        / (n * (n - 1)) as f64;
    diag - off
}
