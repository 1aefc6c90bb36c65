//! How far is a model's dispatch from physics? The dispatch applied to the
//! three-phase AC power flow of the same feeder ([`DistributionGrid`]).
//!
//! The OPF's net consumption at each bus (consumption minus generation)
//! replaces that bus's circuit loads (scaled in proportion to their nominal
//! kW, kvar to the offered power factor; negative when the bus produces more
//! than it consumes); circuit loads at buses where the OPF has nothing are
//! switched off, so both see the same demand. Generation at a bus without
//! circuit loads enters as a bus injection (spread phase-to-ground: fine on
//! grounded feeders, not on an ungrounded delta one, where the AC power flow
//! then reports non-convergence). Regulators
//! and capacitor controls act as in OpenDSS. Reported: convergence, bus
//! voltages (mean line-to-line per unit where the bus has two or more phases
//! — on delta feeders such as IEEE 37 node-to-ground voltages mean little —
//! else line-to-neutral), branch loadings against the feeder's ratings,
//! violations, losses, and the model's errors (voltage, flows, source power).

use std::any::Any;
use std::collections::HashMap;

use ogg_core::{Agent, Grid, GridAction, MarketAction, View};
use ogg_grid::DistributionGrid;

use crate::network::DlmpNetwork;
use crate::offer::{OfferKind, PlacedOffer};
use crate::opf::{DlmpSolution, OpfOptions};

/// The AC power flow of one dispatch.
#[derive(Debug, Clone, PartialEq)]
pub struct AcReport {
    pub converged: bool,
    /// Why the power flow could not run or did not converge.
    pub error: Option<String>,
    /// Per OPF bus: AC voltage, pu (NaN where the bus has no voltage base).
    pub voltage_pu: Vec<f64>,
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    /// Buses outside the band, with their voltage.
    pub voltage_violations: Vec<(String, f64)>,
    /// Per OPF edge: AC active flow at the sending end, kW (sum over its elements).
    pub flow_kw: Vec<f64>,
    /// Per OPF edge: highest loading of its elements (fraction of their rating; NaN unrated).
    pub loading: Vec<f64>,
    pub max_loading: f64,
    /// Branch elements loaded above their rating.
    pub overloads: Vec<(String, f64)>,
    /// Per OPF edge: AC apparent power at the sending end, kVA.
    pub flow_kva: Vec<f64>,
    /// Edges whose AC apparent power exceeds the limit the OPF enforced
    /// (kW for the lossless model, kVA for the others), with flow / limit.
    pub limit_violations: Vec<(String, f64)>,
    pub losses_kw: f64,
    pub source_kw: f64,
    pub source_kvar: f64,
    /// Largest |V_model − V_AC| over the buses with a voltage base (lossless model: against 1 pu).
    pub max_voltage_error_pu: f64,
    /// Largest |P_model − P_AC| over the edges, kW.
    pub max_flow_error_kw: f64,
    /// Model's source power minus the AC's (the losses a model misses), kW.
    pub source_error_kw: f64,
}

impl AcReport {
    fn failed(n: usize, error: String) -> Self {
        AcReport {
            converged: false,
            error: Some(error),
            voltage_pu: vec![f64::NAN; n],
            v_min_pu: f64::NAN,
            v_max_pu: f64::NAN,
            voltage_violations: Vec::new(),
            flow_kw: vec![f64::NAN; n],
            loading: vec![f64::NAN; n],
            max_loading: f64::NAN,
            overloads: Vec::new(),
            flow_kva: vec![f64::NAN; n],
            limit_violations: Vec::new(),
            losses_kw: f64::NAN,
            source_kw: f64::NAN,
            source_kvar: f64::NAN,
            max_voltage_error_pu: f64::NAN,
            max_flow_error_kw: f64::NAN,
            source_error_kw: f64::NAN,
        }
    }
}

/// Carries grid actions into `DistributionGrid::step` (the grid reads agents' actions).
#[derive(Clone)]
struct ActionCarrier {
    actions: Vec<GridAction>,
}

impl Agent for ActionCarrier {
    fn name(&self) -> &str {
        "dlmp-dispatch"
    }
    fn set_market_actions(&mut self, _view: &View) -> ogg_core::Result<()> {
        Ok(())
    }
    fn set_grid_actions(&mut self, _view: &View) -> ogg_core::Result<()> {
        Ok(())
    }
    fn market_actions(&self) -> &[MarketAction] {
        &[]
    }
    fn grid_actions(&self) -> &[GridAction] {
        &self.actions
    }
    fn clone_box(&self) -> Box<dyn Agent> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The grid actions that put a dispatch on the feeder (see the module docs).
pub fn dispatch_actions(
    grid: &DistributionGrid,
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    sol: &DlmpSolution,
) -> Vec<GridAction> {
    let n = net.len();
    let mut consume_kw = vec![0.0; n];
    let mut consume_kvar = vec![0.0; n];
    let mut inject: Vec<(usize, f64, f64)> = Vec::new();
    let mut generation: Vec<(usize, f64, f64)> = Vec::new();
    for (k, o) in offers.iter().enumerate() {
        match o.kind {
            OfferKind::Generator => {
                generation.push((o.bus, sol.injection_kw[k], sol.injection_kvar[k]))
            }
            _ => {
                consume_kw[o.bus] -= sol.injection_kw[k];
                consume_kvar[o.bus] -= sol.injection_kvar[k];
            }
        }
    }
    // Circuit loads by OPF bus.
    let pf = grid.power_flow();
    let has_loads: Vec<bool> = {
        let mut v = vec![false; n];
        for (_, bus) in grid.loads() {
            if let Some(b) = net.bus_index(&bus) {
                v[b] = true;
            }
        }
        v
    };
    // Generation at a bus with loads is netted against them: the engine's bus
    // injections go to ground, which an ungrounded delta feeder (IEEE 37)
    // cannot take; the loads' own connection can.
    for (b, kw, kvar) in generation {
        if has_loads[b] {
            consume_kw[b] -= kw;
            consume_kvar[b] -= kvar;
        } else {
            inject.push((b, kw, kvar));
        }
    }
    let mut loads_at: HashMap<usize, Vec<(String, f64)>> = HashMap::new();
    for (i, (name, bus)) in grid.loads().into_iter().enumerate() {
        let nominal = pf.load_nominal(i).0;
        if let Some(b) = net.bus_index(&bus) {
            loads_at.entry(b).or_default().push((name, nominal));
        } else {
            // A load outside the OPF's tree: left at zero like every unrepresented load.
            loads_at
                .entry(usize::MAX)
                .or_default()
                .push((name, nominal));
        }
    }
    let mut actions = Vec::new();
    for (&b, loads) in &loads_at {
        let total: f64 = loads.iter().map(|l| l.1).sum();
        let (p, q) = if b < n {
            (consume_kw[b], consume_kvar[b])
        } else {
            (0.0, 0.0)
        };
        for (name, nominal) in loads {
            let share = if total > 0.0 {
                nominal / total
            } else {
                1.0 / loads.len() as f64
            };
            actions.push(GridAction::SetLoad {
                element: name.clone(),
                kw: p * share,
                kvar: Some(q * share),
            });
        }
        if b < n {
            consume_kw[b] = 0.0;
            consume_kvar[b] = 0.0;
        }
    }
    for b in 0..n {
        if consume_kw[b] != 0.0 || consume_kvar[b] != 0.0 {
            inject.push((b, -consume_kw[b], -consume_kvar[b]));
        }
    }
    for (b, kw, kvar) in inject {
        if kw != 0.0 || kvar != 0.0 {
            actions.push(GridAction::InjectAtBus {
                bus: net.bus_name(b).to_string(),
                kw,
                kvar,
            });
        }
    }
    actions.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    actions
}

/// Applies the dispatch to a copy of `grid` (reset to its base case) and
/// reports the physics against the model (see the module docs).
/// Voltage violations use the OPF's band and exempt buses.
pub fn check(
    grid: &DistributionGrid,
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    sol: &DlmpSolution,
    opts: &OpfOptions,
) -> AcReport {
    let v_band = (opts.v_min_pu, opts.v_max_pu);
    let exempt: Vec<usize> = opts
        .v_exempt
        .iter()
        .filter_map(|b| net.bus_index(b))
        .chain([net.root()])
        .collect();
    let n = net.len();
    if !sol.is_optimal() {
        return AcReport::failed(n, format!("no dispatch: the OPF is {}", sol.status.label()));
    }
    let actions = dispatch_actions(grid, net, offers, sol);
    let mut g = grid.clone();
    let carriers: Vec<Box<dyn Agent>> = vec![Box::new(ActionCarrier { actions })];
    let view = View {
        grid: None,
        market: None,
        agents_before: &carriers,
        agents_after: &[],
        caller: None,
        grid_step: 0,
        market_round: 0,
    };
    if let Err(e) = g.reset(&view).and_then(|_| g.step(&view)) {
        return AcReport::failed(n, e.to_string());
    }
    let st = g.state().clone();
    let pf = g.power_flow();
    // Bus voltages: mean line-to-line where available, else line-to-neutral.
    let mut ll: HashMap<String, (f64, usize)> = HashMap::new();
    for v in pf.line_to_line_voltages() {
        let e = ll.entry(v.bus.to_ascii_lowercase()).or_insert((0.0, 0));
        e.0 += v.pu;
        e.1 += 1;
    }
    let ln: HashMap<String, f64> = st
        .buses
        .iter()
        .zip(&st.bus_voltage_pu)
        .map(|(b, v)| (b.to_ascii_lowercase(), *v))
        .collect();
    let voltage_pu: Vec<f64> = (0..n)
        .map(|i| {
            let name = net.bus_name(i).to_ascii_lowercase();
            match ll.get(&name) {
                Some(&(s, k)) if k > 0 && s > 0.0 => s / k as f64,
                _ => ln
                    .get(&name)
                    .copied()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .unwrap_or(f64::NAN),
            }
        })
        .collect();
    let finite: Vec<f64> = voltage_pu
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let voltage_violations = (0..n)
        .filter(|&i| {
            !exempt.contains(&i)
                && voltage_pu[i].is_finite()
                && (voltage_pu[i] < v_band.0 - 5e-5 || voltage_pu[i] > v_band.1 + 5e-5)
        })
        .map(|i| (net.bus_name(i).to_string(), voltage_pu[i]))
        .collect();
    // Edge flows and loadings from the elements forming each edge.
    let loading_of: HashMap<String, f64> = st
        .branches
        .iter()
        .zip(&st.branch_loading)
        .map(|(b, l)| (b.clone(), *l))
        .collect();
    let mut flow_kw = vec![0.0; n];
    let mut flow_kva = vec![f64::NAN; n];
    let mut loading = vec![f64::NAN; n];
    for e in net.edges() {
        let parent = net.bus_name(net.tree.parent[e]).to_ascii_lowercase();
        let mut total = 0.0;
        let mut total_q = 0.0;
        let mut worst = f64::NAN;
        for part in net.tree.edge_name[e].split('+') {
            if let Some(pos) = pf.element_position(part) {
                let f = pf.element_flows(pos);
                let from_t1 = f
                    .conductors
                    .iter()
                    .find(|c| c.terminal == 1)
                    .is_some_and(|c| c.bus.eq_ignore_ascii_case(&parent));
                total += if from_t1 { f.p1_kw } else { f.p2_kw };
                total_q += if from_t1 { f.q1_kvar } else { f.q2_kvar };
            }
            if let Some(&l) = loading_of.get(&part.to_ascii_lowercase()) {
                if l.is_finite() {
                    worst = if worst.is_nan() { l } else { worst.max(l) };
                }
            }
        }
        flow_kw[e] = total;
        flow_kva[e] = total.hypot(total_q);
        loading[e] = worst;
    }
    let limit_violations = net
        .edges()
        .filter(|&e| {
            net.limit_kw(e).is_finite()
                && net.limit_kw(e) > 0.0
                && flow_kva[e] > net.limit_kw(e) * (1.0 + 1e-3)
        })
        .map(|e| (net.edge_label(e), flow_kva[e] / net.limit_kw(e)))
        .collect();
    let overloads = st
        .branches
        .iter()
        .zip(&st.branch_loading)
        .filter(|(_, l)| l.is_finite() && **l > 1.0)
        .map(|(b, l)| (b.clone(), *l))
        .collect();
    let max_voltage_error_pu = (0..n)
        .filter(|&i| voltage_pu[i].is_finite() && sol.voltage_pu[i].is_finite() && i != net.root())
        .map(|i| (sol.voltage_pu[i] - voltage_pu[i]).abs())
        .fold(0.0, f64::max);
    let max_flow_error_kw = net
        .edges()
        .map(|e| (sol.flow_p_kw[e] - flow_kw[e]).abs())
        .fold(0.0, f64::max);
    AcReport {
        converged: st.converged,
        error: None,
        v_min_pu: finite.iter().copied().fold(f64::INFINITY, f64::min),
        v_max_pu: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        voltage_pu,
        voltage_violations,
        flow_kw,
        max_loading: st
            .branch_loading
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .fold(0.0, f64::max),
        loading,
        overloads,
        flow_kva,
        limit_violations,
        losses_kw: st.losses_kw,
        source_kw: st.total_power_kw,
        source_kvar: st.total_power_kvar,
        max_voltage_error_pu,
        max_flow_error_kw,
        source_error_kw: sol.source_p_kw - st.total_power_kw,
    }
}
