//! The power-flow engine: compiles a [`Circuit`] into buses, nodes, element
//! admittances and a sparse system Y, and solves it with OpenDSS's
//! fixed-point "Normal" algorithm (docs/opendss-semantics.md §6):
//!
//! ```text
//! V(k+1) = Y⁻¹ · Iinj(V(k)),   Iinj = source Norton currents
//!                                   + Σ loads (Yprim_load·V − I_load(V))
//! ```
//!
//! Y holds every element's Yprim, loads at their nominal admittance. The loop
//! stops when max over nodes of |Δ|V||/Vbase ≤ tolerance (and never before
//! two iterations). Controls (regulators, capacitor controls) act between
//! converged power flows, as OpenDSS's static control mode does.


use num_complex::Complex64 as C;
use ogg_dss::{Circuit, ControlMode, ElementClass, ElementRef};

use crate::cmat::CMat;
use crate::controls::{CapControlState, ControlQueue, RegControlState};
use crate::elements::load::{LoadCalc, LoadY, MAX_LOAD_CONDUCTORS};
use crate::elements::{self, Yprims};
use crate::error::{GridError, NonConvergence};
use crate::network::{grounded, Element, NodeMap};
use crate::sparse::{Pattern, SparseLu};

/// OpenDSS's default `LegalVoltageBases` (kV line-to-line).
pub const DEFAULT_VOLTAGE_BASES: [f64; 7] = [0.208, 0.48, 12.47, 24.9, 34.5, 115.0, 230.0];

/// Solver settings (OpenDSS `Set` options).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub tolerance: f64,
    pub max_iterations: usize,
    pub min_iterations: usize,
    pub max_control_iterations: usize,
    pub control_mode: ControlMode,
    pub load_mult: f64,
    pub base_frequency: f64,
    /// OpenDSS's price signal (`Set PriceSignal=`), for price dispatch.
    pub price_signal: f64,
    /// `Set GenMult=`: multiplies variable generators' output.
    pub gen_mult: f64,
    /// Print every iteration's convergence error and every control action to
    /// stderr (set from the `OGG_TRACE` environment variable at compile time
    /// of the circuit).
    pub trace: bool,
}

/// What one `solve` did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SolveReport {
    /// The last power flow converged and the controls settled.
    pub converged: bool,
    /// Power-flow iterations summed over control iterations (OpenDSS's "Iterations").
    pub iterations: usize,
    /// Most iterations of any one power flow in this solve.
    pub max_iterations_done: usize,
    pub control_iterations: usize,
    /// Max |Δ|V||/Vbase of the last iteration.
    pub last_error: f64,
    pub non_convergence: Option<NonConvergence>,
}

#[derive(Debug, Clone)]
pub(crate) struct TransformerState {
    pub elem: usize,
    pub model: ogg_dss::Transformer,
    pub taps: Vec<f64>,
    /// Yprims at tap settings met before: a regulator moves among a few
    /// positions, and the Yprim is a function of the (fixed) model and the
    /// taps, so a hit is the rebuild's result bit for bit without its
    /// ≈ 5k instructions and dozen allocations. At most `TAP_YPRIM_MEMO` entries.
    pub yprim_memo: Vec<TapYprims>,
}

/// A transformer's Yprims at one tap setting (see `TransformerState::yprim_memo`).
#[derive(Debug, Clone)]
pub(crate) struct TapYprims {
    taps: Vec<f64>,
    yprims: elements::Yprims,
}

/// Tap settings memoised per transformer (a 32-step regulator spends a
/// day or a year on a handful; past this the oldest entry is replaced).
const TAP_YPRIM_MEMO: usize = 16;

#[derive(Debug, Clone)]
pub(crate) struct CapacitorState {
    pub elem: usize,
    pub model: ogg_dss::Capacitor,
    pub states: Vec<u8>,
}

/// A load as the injection loop sees it: everything inline, so the loop
/// streams through one contiguous array. `repr(C)`, with what every
/// iteration reads first (nodes, Yprim, the calc's hot head, the currents)
/// and the cold fields last. (Measured on its own, this layout did not change
/// the loop's time: the loop is bound by the divider, not by memory.)
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct LoadState {
    /// System node of each conductor (0 = ground).
    pub nodes: [usize; MAX_LOAD_CONDUCTORS],
    pub nconds: usize,
    /// Which injection kernel fits: from the connection, phases and nodes,
    /// fixed at compile (one dispatch per load and iteration).
    pub kernel: LoadKernel,
    /// The Yprim stamped in the system Y (nominal at compile time).
    pub ysys: LoadY,
    pub calc: LoadCalc,
    /// Phase currents from the last injection calculation. Like OpenDSS,
    /// results report these (computed from the voltages of the iteration
    /// before the last) until the load is edited.
    pub last_currents: [C; 3],
    pub currents_valid: bool,
    pub elem: usize,
    /// Nominal kW/kvar as defined in the circuit (restored by `reset_loads`).
    pub defined_kw: f64,
    pub defined_kvar: f64,
}

/// The injection kernel of a load ([`PowerFlow::injection_currents`]), by
/// what does not change after compile: connection, phases, conductors and
/// whether the wye neutral is on ground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadKernel {
    Wye1Grounded,
    Wye3Grounded,
    Wye1,
    Wye2,
    Wye3,
    Delta1,
    Delta3,
    Generic,
}

impl LoadKernel {
    fn of(calc: &LoadCalc, nodes: &[usize; MAX_LOAD_CONDUCTORS], nconds: usize) -> Self {
        let nc = nconds.min(MAX_LOAD_CONDUCTORS);
        let grounded = nc > 0 && nodes[nc - 1] == 0;
        match (calc.conn, calc.phases, nc, grounded) {
            (ogg_dss::Connection::Wye, 1, 2, true) => LoadKernel::Wye1Grounded,
            (ogg_dss::Connection::Wye, 3, 4, true) => LoadKernel::Wye3Grounded,
            (ogg_dss::Connection::Wye, 1, 2, _) => LoadKernel::Wye1,
            (ogg_dss::Connection::Wye, 2, 3, _) => LoadKernel::Wye2,
            (ogg_dss::Connection::Wye, 3, 4, _) => LoadKernel::Wye3,
            (ogg_dss::Connection::Delta, 1, 2, _) => LoadKernel::Delta1,
            (ogg_dss::Connection::Delta, 3, 3, _) => LoadKernel::Delta3,
            _ => LoadKernel::Generic,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SourceState {
    pub elem: usize,
    /// Norton injection Yprim·[V; 0], per conductor.
    pub injection: Vec<C>,
}

/// A net power injection at a bus (generation positive), spread evenly over
/// the given nodes as constant-power current sources to ground.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BusInjection {
    pub bus: usize,
    pub nodes: Vec<usize>,
    /// Per node, watts + j·vars.
    pub s_per_node: C,
    /// The nodes are the bus's phase nodes (no node list in the bus spec).
    pub default_nodes: bool,
}

/// A compiled circuit with its solution state. Cheap to clone (for
/// snapshots); holds no globals, so independent copies solve in parallel.
#[derive(Debug, Clone)]
pub struct PowerFlow {
    pub(crate) name: String,
    pub(crate) nodes: NodeMap,
    pub(crate) elements: Vec<Element>,
    /// Element position by (class, name): `find_element`.
    element_index: crate::network::NameTable,
    pub(crate) transformers: Vec<TransformerState>,
    pub(crate) capacitors: Vec<CapacitorState>,
    pub(crate) loads: Vec<LoadState>,
    /// One more than the largest node number in any load's `nodes` (set at
    /// compile, as the nodes): the injection kernels' unchecked accesses
    /// need it to be ≤ the voltage vector's length.
    load_nodes_end: usize,
    /// The time series (its id and mode) whose last shape pass left every
    /// load it does not shape at its defined demand; None after any other
    /// edit of the loads' demand (set_load, scale_loads, LoadMult, …), so the
    /// next pass visits all loads again.
    pub(crate) loads_synced_by: Option<(u64, ogg_dss::model::SolutionMode)>,
    /// Generators, PV systems and storage, in definition order.
    pub(crate) ders: Vec<crate::ders::DerState>,
    pub(crate) sources: Vec<SourceState>,
    pub(crate) regs: Vec<RegControlState>,
    pub(crate) capcontrols: Vec<CapControlState>,
    pub(crate) queue: ControlQueue,
    /// Simulation time the controls see (OpenDSS `intHour`, `t` in s): set
    /// by a time series before each solve; only time control mode uses it.
    pub(crate) control_clock: (i64, f64),
    pub(crate) injections: Vec<BusInjection>,
    pub(crate) settings: Settings,
    pub(crate) voltage_bases: Vec<f64>,
    /// Every element's Yprim is symmetric (checked at compile time; tap and
    /// step changes keep transformers and capacitors symmetric).
    symmetric_elements: bool,
    /// Load index of each element (usize::MAX for non-loads).
    elem_to_load: Vec<usize>,
    /// Normal rating (A) of each line element, by element index.
    line_amps: Vec<f64>,
    // Linear algebra: element entry → position in the CSC value array.
    y_map: Vec<(u32, u32)>,
    /// Element e's entries are y_map[y_map_start[e]..y_map_start[e + 1]].
    y_map_start: Vec<usize>,
    /// The contributions to each Y entry in assembly order: entry p sums
    /// `elements[e].yprim[flat]` over (e, flat) in y_sources[y_sources_start[p]..
    /// y_sources_start[p + 1]], so entries can be re-summed one by one with
    /// the very additions of a full assembly. Empty until the first partial
    /// assembly (`build_y_sources`).
    y_sources: Vec<(u32, u32)>,
    y_sources_start: Vec<u32>,
    y_values: Vec<C>,
    lu: SparseLu,
    /// Elements whose Yprim changed since the last factorisation of the full
    /// Y (tap moves, capacitor steps, DER admittances): only their columns
    /// are refactored. Whoever changes a Yprim calls `yprim_changed`.
    pub(crate) y_changed: Vec<usize>,
    /// Scratch for the partial assembly and refactorisation: a mark per Y
    /// entry re-summed (a bus's diagonal is shared by its loads, lines and
    /// transformers: each is re-summed once), their list, and the columns.
    y_resum_mark: Vec<bool>,
    y_resum_list: Vec<u32>,
    refactor_columns_buf: Vec<usize>,
    /// The factor holds the full Y (not CalcVoltageBases' series matrix), so
    /// it can be updated column by column.
    pub(crate) lu_holds_full_y: bool,
    pub(crate) y_dirty: bool,
    pub(crate) y_factored: bool,
    /// Source injection per system node (index 0 = ground, unused).
    src_inj: Vec<C>,
    /// The non-zero entries of `src_inj` (a source's few nodes): each
    /// iteration starts from a zeroed right-hand side and adds just these.
    src_entries: Vec<(usize, C)>,
    // State.
    pub(crate) v: Vec<C>,
    vmag_saved: Vec<f64>,
    pub(crate) node_vbase: Vec<f64>,
    /// 1/node_vbase (0 where there is no base).
    node_inv_vbase: Vec<f64>,
    /// Nodes whose base is 0 (their convergence error is relative), and a
    /// buffer for their saved magnitudes.
    no_base_nodes: Vec<usize>,
    no_base_saved: Vec<f64>,
    /// Last iteration's convergence error per node.
    node_err: Vec<f64>,
    initialized: bool,
    rhs: Vec<C>,
    /// Injection-current buffer (system node indexing), reused across iterations.
    inj: Vec<C>,
    pub(crate) last: SolveReport,
    pub(crate) solved_once: bool,
    /// Load shapes drive the loads (a time series applied them: OpenDSS's
    /// daily/yearly/duty mode). Then a static control action that changes Y
    /// also restamps the loads whose values moved since they were stamped,
    /// as OpenDSS's Y rebuild does in those modes.
    pub(crate) time_series_mode: bool,
}

fn class_rank(c: ElementClass) -> usize {
    match c {
        ElementClass::Vsource => 0,
        ElementClass::Transformer => 1,
        ElementClass::Line => 2,
        ElementClass::Load => 3,
        ElementClass::Capacitor => 4,
        ElementClass::Reactor => 5,
        ElementClass::RegControl => 6,
        ElementClass::CapControl => 7,
        ElementClass::Generator => 8,
        ElementClass::PvSystem => 9,
        ElementClass::Storage => 10,
    }
}

/// What a transformer keeps for re-stamping its Yprim after a tap change: its
/// data without the bus names (already in its element's node list) or code and
/// bank names, which were most of a full clone's allocations.
fn restamp_copy(t: &ogg_dss::Transformer) -> ogg_dss::Transformer {
    ogg_dss::Transformer {
        name: t.name.clone(),
        windings: t.windings.iter().map(|w| ogg_dss::Winding { bus: ogg_dss::BusRef::default(), ..*w }).collect(),
        bank: None,
        xfmrcode: None,
        location: t.location.clone(),
        xsc: t.xsc.clone(),
        ..*t
    }
}

/// Line Yprims computed so far during a compile, by their key
/// ([`elements::line::yprim_key`]): equal data, equal Yprim, so each distinct
/// line is inverted once. The keys live in one arena; the map goes from a
/// key's hash to its place there and to the element holding that Yprim (no
/// copy is kept: most lines of a real feeder are distinct). A hash shared by
/// different keys computes the second one afresh.
#[derive(Default)]
struct LineYprimCache {
    by_hash: crate::network::FastMap<u64, (usize, usize, usize)>,
    keys: Vec<u64>,
    key: Vec<u64>,
}

impl LineYprimCache {
    /// The Yprims of `line`, to be element `elements.len()`, and whether they
    /// are a copy of ones computed before.
    fn get_or_compute(&mut self, line: &ogg_dss::Line, base_frequency: f64, elements: &[Element]) -> Result<(Yprims, bool), GridError> {
        elements::line::yprim_key(line, base_frequency, &mut self.key);
        let hash = self.key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &w| (h ^ w).wrapping_mul(0x0100_0000_01b3));
        match self.by_hash.get(&hash) {
            Some(&(start, len, e)) if self.keys[start..start + len] == self.key[..] => {
                let (full, series) = (elements[e].yprim.clone(), elements[e].yprim_series.clone());
                Ok((Yprims { full, series }, true))
            }
            Some(_) => Ok((elements::line::yprim(line, base_frequency)?, false)),
            None => {
                let yp = elements::line::yprim(line, base_frequency)?;
                self.by_hash.insert(hash, (self.keys.len(), self.key.len(), elements.len()));
                self.keys.extend_from_slice(&self.key);
                Ok((yp, false))
            }
        }
    }
}

/// Whether a Yprim is symmetric up to the rounding of the inversions it
/// comes from (|y_ij − y_ji|² ≤ 1e-24 · max |y|²).
fn is_symmetric_yprim(yprim: &CMat) -> bool {
    let (y, n) = (yprim.as_slice(), yprim.order());
    let scale2 = y.iter().fold(0.0f64, |m, v| m.max(v.norm_sqr()));
    (0..n).all(|i| (0..i).all(|j| (y[i * n + j] - y[j * n + i]).norm_sqr() <= 1e-24 * scale2))
}

/// Definition order of the circuit's elements (OpenDSS numbers buses in it).
fn element_order(c: &Circuit) -> Vec<ElementRef> {
    let counts = [
        (ElementClass::Vsource, c.vsources.len()),
        (ElementClass::Transformer, c.transformers.len()),
        (ElementClass::Line, c.lines.len()),
        (ElementClass::Load, c.loads.len()),
        (ElementClass::Capacitor, c.capacitors.len()),
        (ElementClass::Reactor, c.reactors.len()),
        (ElementClass::Generator, c.generators.len()),
        (ElementClass::PvSystem, c.pvsystems.len()),
        (ElementClass::Storage, c.storages.len()),
    ];
    let mut order: Vec<ElementRef> = c
        .definition_order
        .iter()
        .copied()
        .filter(|r| counts.iter().any(|(cl, n)| *cl == r.class && r.index < *n))
        .collect();
    // Anything the list misses (or all of it, if empty) goes last in class order.
    // One flag per element of each class (in `counts` order) says it was listed.
    let class_slot = |c: ElementClass| counts.iter().position(|(cl, _)| *cl == c);
    let mut seen: Vec<Vec<bool>> = counts.iter().map(|&(_, n)| vec![false; n]).collect();
    for r in &order {
        if let Some(k) = class_slot(r.class) {
            seen[k][r.index] = true;
        }
    }
    let mut rest: Vec<ElementRef> = Vec::new();
    for (k, &(cl, n)) in counts.iter().enumerate() {
        for index in 0..n {
            if !seen[k][index] {
                rest.push(ElementRef { class: cl, index });
            }
        }
    }
    rest.sort_by_key(|r| (class_rank(r.class), r.index));
    order.extend(rest);
    // Sources first regardless: OpenDSS creates the circuit's Vsource before anything else.
    order.sort_by_key(|r| usize::from(r.class != ElementClass::Vsource));
    order
}

impl PowerFlow {
    /// Compiles a circuit: numbering, Yprims, Y pattern and symbolic
    /// factorisation, and voltage bases (CalcVoltageBases) when the script
    /// asked for them or gave a list of bases.
    pub fn new(circuit: &Circuit) -> Result<Self, GridError> {
        let base_frequency = if circuit.options.base_frequency > 0.0 { circuit.options.base_frequency } else { 60.0 };
        let settings = Settings {
            tolerance: circuit.options.tolerance,
            max_iterations: circuit.options.max_iterations.max(1),
            min_iterations: circuit.options.min_iterations.max(1),
            max_control_iterations: circuit.options.max_control_iterations.max(1),
            control_mode: circuit.options.control_mode,
            load_mult: circuit.options.load_mult,
            base_frequency,
            price_signal: circuit.options.price_signal,
            gen_mult: circuit.options.gen_mult,
            trace: std::env::var_os("OGG_TRACE").is_some(),
        };
        if circuit.vsources.iter().all(|v| !v.enabled) {
            return Err(GridError::Invalid(format!("circuit '{}' has no enabled voltage source", circuit.name)));
        }

        let n_elements = circuit.vsources.len() + circuit.lines.len() + circuit.transformers.len() + circuit.loads.len() + circuit.capacitors.len() + circuit.reactors.len();
        // A feeder has about one bus per element.
        let mut nodes = NodeMap::with_capacity(n_elements);
        let mut elements: Vec<Element> = Vec::with_capacity(n_elements);
        let mut transformers = Vec::new();
        let mut capacitors = Vec::new();
        let mut loads = Vec::with_capacity(circuit.loads.len());
        let mut ders: Vec<crate::ders::DerState> = Vec::new();
        let mut sources = Vec::new();
        let mut line_amps: Vec<(usize, f64)> = Vec::new();
        let mut transformer_yprims: crate::network::FastMap<Vec<u64>, Yprims> = Default::default();
        let mut line_yprims = LineYprimCache::default();
        // Every element's Yprim is symmetric, up to the rounding of the
        // matrix inversions they come from: checked as each is made, while
        // it is in the cache (a pass over all of them afterwards read them
        // back from memory); a shared copy of one already checked is not
        // checked again.
        let mut symmetric_elements = true;

        for r in element_order(circuit) {
            let idx = elements.len();
            let mut shared_yprim = false;
            match r.class {
                ElementClass::Vsource => {
                    let v = &circuit.vsources[r.index];
                    if !v.enabled {
                        continue;
                    }
                    let (yp, volts) = elements::vsource::yprim(v)?;
                    let b2 = v.bus2.clone().unwrap_or_else(|| grounded(&v.bus1.bus, v.phases));
                    let el = build_element(&mut nodes, ElementClass::Vsource, &v.name, r.index, &[&v.bus1, &b2], v.phases, v.phases, yp);
                    let mut injection = vec![C::new(0.0, 0.0); 2 * v.phases];
                    let mut vt = vec![C::new(0.0, 0.0); 2 * v.phases];
                    vt[..v.phases].copy_from_slice(&volts);
                    el.yprim.mul_vec(&vt, &mut injection);
                    elements.push(el);
                    sources.push(SourceState { elem: idx, injection });
                }
                ElementClass::Line => {
                    let l = &circuit.lines[r.index];
                    if !l.enabled {
                        continue;
                    }
                    let (yp, shared) = line_yprims.get_or_compute(l, base_frequency, &elements)?;
                    shared_yprim = shared;
                    line_amps.push((idx, l.normamps));
                    elements.push(build_element(&mut nodes, ElementClass::Line, &l.name, r.index, &[&l.bus1, &l.bus2], l.phases, l.phases, yp));
                }
                ElementClass::Transformer => {
                    let t = &circuit.transformers[r.index];
                    if !t.enabled {
                        continue;
                    }
                    let taps: Vec<f64> = t.windings.iter().map(|w| w.tap).collect();
                    // Equal data, equal Yprim: computed once per distinct transformer.
                    let key = elements::transformer::yprim_key(t, &taps);
                    let yp = match transformer_yprims.get(&key) {
                        Some(yp) => {
                            shared_yprim = true;
                            yp.clone()
                        }
                        None => {
                            let yp = elements::transformer::yprim(t, &taps)?;
                            transformer_yprims.insert(key, yp.clone());
                            yp
                        }
                    };
                    let buses: Vec<&ogg_dss::BusRef> = t.windings.iter().map(|w| &w.bus).collect();
                    elements.push(build_element(&mut nodes, ElementClass::Transformer, &t.name, r.index, &buses, t.phases, t.phases + 1, yp));
                    transformers.push(TransformerState { elem: idx, model: restamp_copy(t), taps, yprim_memo: Vec::new() });
                }
                ElementClass::Load => {
                    let l = &circuit.loads[r.index];
                    if !l.enabled {
                        continue;
                    }
                    if l.phases == 0 || !crate::positive(l.kv) {
                        return Err(GridError::element(format!("Load.{}", l.name), &l.location, "needs phases > 0 and kV > 0"));
                    }
                    if l.phases > 3 {
                        return Err(GridError::element(format!("Load.{}", l.name), &l.location, "loads have at most 3 phases"));
                    }
                    let calc = LoadCalc::new(l, settings.load_mult);
                    let full = calc.yprim();
                    let ysys = LoadY::from_yprim(&calc, &full).ok_or_else(|| {
                        GridError::element(format!("Load.{}", l.name), &l.location, "unsupported number of conductors")
                    })?;
                    let yp = Yprims { series: elements::tiny_diagonal(&full), full };
                    let nconds = calc.nconds;
                    let el = build_element(&mut nodes, ElementClass::Load, &l.name, r.index, &[&l.bus1], l.phases, nconds, yp);
                    let mut load_nodes = [0usize; MAX_LOAD_CONDUCTORS];
                    load_nodes[..nconds].copy_from_slice(&el.nodes);
                    elements.push(el);
                    loads.push(LoadState {
                        elem: idx,
                        kernel: LoadKernel::of(&calc, &load_nodes, nconds),
                        nodes: load_nodes,
                        nconds,
                        ysys,
                        calc,
                        defined_kw: l.kw,
                        defined_kvar: l.kvar,
                        last_currents: [C::new(0.0, 0.0); 3],
                        currents_valid: false,
                    });
                }
                ElementClass::Capacitor => {
                    let c = &circuit.capacitors[r.index];
                    if !c.enabled {
                        continue;
                    }
                    let mut states = c.states.clone();
                    states.resize(c.kvar.len(), 1);
                    let yp = elements::capacitor::yprim(c, &states, base_frequency)?;
                    let b2 = c.bus2.clone().unwrap_or_else(|| grounded(&c.bus1.bus, c.phases));
                    elements.push(build_element(&mut nodes, ElementClass::Capacitor, &c.name, r.index, &[&c.bus1, &b2], c.phases, c.phases, yp));
                    capacitors.push(CapacitorState { elem: idx, model: c.clone(), states });
                }
                ElementClass::Reactor => {
                    let x = &circuit.reactors[r.index];
                    if !x.enabled {
                        continue;
                    }
                    let yp = elements::reactor::yprim(x)?;
                    let b2 = x.bus2.clone().unwrap_or_else(|| grounded(&x.bus1.bus, x.phases));
                    elements.push(build_element(&mut nodes, ElementClass::Reactor, &x.name, r.index, &[&x.bus1, &b2], x.phases, x.phases, yp));
                }
                ElementClass::Generator | ElementClass::PvSystem | ElementClass::Storage => {
                    let (name, bus1, phases, enabled, location, built, kw_rated) = match r.class {
                        ElementClass::Generator => {
                            let g = &circuit.generators[r.index];
                            (&g.name, &g.bus1, g.phases, g.enabled, &g.location, g.enabled.then(|| crate::ders::generator(g, &settings)), 0.0)
                        }
                        ElementClass::PvSystem => {
                            let p = &circuit.pvsystems[r.index];
                            (&p.name, &p.bus1, p.phases, p.enabled, &p.location, p.enabled.then(|| crate::ders::pvsystem(circuit, p)), 0.0)
                        }
                        _ => {
                            let s = &circuit.storages[r.index];
                            (&s.name, &s.bus1, s.phases, s.enabled, &s.location, s.enabled.then(|| crate::ders::storage(circuit, s)), s.kw_rated)
                        }
                    };
                    if !enabled {
                        continue;
                    }
                    let Some(built) = built else { continue };
                    let (inj, model) = built?;
                    let stamped_key = crate::ders::y_key(&model);
                    let full = crate::ders::stamp(&inj, &model, kw_rated);
                    let yp = Yprims { series: elements::tiny_diagonal(&full), full: full.clone() };
                    let nconds = inj.nconds;
                    let el = build_element(&mut nodes, r.class, name, r.index, &[bus1], phases, nconds, yp);
                    let mut der_nodes = [0usize; crate::ders::MAX_DER_CONDUCTORS];
                    der_nodes[..nconds].copy_from_slice(&el.nodes);
                    elements.push(el);
                    ders.push(crate::ders::DerState {
                        elem: idx,
                        class: r.class,
                        model_index: r.index,
                        nodes: der_nodes,
                        nconds,
                        ysys: full,
                        inj,
                        model,
                        last_currents: [C::new(0.0, 0.0); 3],
                        currents_valid: false,
                        location: location.clone(),
                        stamped_key,
                        end_of_step_key: stamped_key,
                    });
                }
                ElementClass::RegControl | ElementClass::CapControl => {}
            }
            if symmetric_elements && !shared_yprim {
                if let Some(e) = elements.get(idx) {
                    symmetric_elements = is_symmetric_yprim(&e.yprim);
                }
            }
        }
        let mut elem_to_load = vec![usize::MAX; elements.len()];
        for (i, l) in loads.iter().enumerate() {
            elem_to_load[l.elem] = i;
        }
        let mut element_index = crate::network::NameTable::with_capacity(elements.len());
        for (i, e) in elements.iter().enumerate() {
            element_index.insert(e.class as u8, &e.name, i, |k| (elements[k].class as u8, elements[k].name.as_str()));
        }

        let n = nodes.n_nodes();
        if n == 0 {
            return Err(GridError::Invalid(format!("circuit '{}' has no nodes", circuit.name)));
        }
        // Pattern of Y: every pair of non-ground conductors of every element.
        let y_pattern = |elements: &[Element]| Pattern::from_cliques(n, elements.iter().map(|e| e.nodes.as_slice()));
        // Renumber the nodes in elimination order, so that the factor, the
        // voltages and the injections are all walked nearly sequentially
        // (large feeders are otherwise dominated by cache misses). Buses keep
        // OpenDSS's order; only internal indices change.
        // Radial feeders: buses leaves first (no fill, no ordering pass);
        // meshed ones: AMD on the pattern.
        let radial = crate::ordering::radial_order(
            nodes.buses.len(),
            &nodes.node_label,
            |b| nodes.buses[b].nodes.as_slice(),
            elements.iter().map(|e| e.nodes.as_slice()),
        );
        let (order, natural_pattern) = match radial {
            Some(order) => (order, None),
            None => {
                let natural_pattern = y_pattern(&elements);
                (crate::sparse::fill_reducing_order(&natural_pattern)?, Some(natural_pattern))
            }
        };
        let mut new_index = vec![0usize; n + 1];
        for (k, &old) in order.iter().enumerate() {
            new_index[old + 1] = k + 1;
        }
        nodes.renumber(&new_index);
        // Y's entries per element (its non-ground conductors squared) are
        // counted in the same pass (renumbering keeps ground at 0 and every
        // other node above it), not in another walk over all the elements.
        let mut y_entries = 0usize;
        for e in &mut elements {
            let mut live = 0usize;
            for x in &mut e.nodes {
                *x = new_index[*x];
                live += usize::from(*x != 0);
            }
            y_entries += live * live;
        }
        for l in &mut loads {
            for x in &mut l.nodes[..l.nconds] {
                *x = new_index[*x];
            }
            // The injection loop indexes voltages by these without checks.
            if l.nodes[..l.nconds].iter().any(|&x| x > n) {
                return Err(GridError::Invalid(format!("load {}: node index out of range", l.elem)));
            }
        }
        for d in &mut ders {
            for x in &mut d.nodes[..d.nconds] {
                *x = new_index[*x];
            }
        }
        let pattern = match natural_pattern {
            Some(natural_pattern) => natural_pattern.permuted(&order),
            None => y_pattern(&elements),
        };
        // Freed now, so that what follows reuses the memory (large feeders
        // are bound by fresh pages).
        drop(order);
        debug_assert!(pattern == y_pattern(&elements), "the permuted pattern is the renumbered one");
        let mut y_map = Vec::with_capacity(y_entries);
        let mut y_map_start = Vec::with_capacity(elements.len() + 1);
        // An element's entries in column b are found by scattering the
        // column's positions by row once (a few stores, no branches), not by
        // a search per entry with its mispredicted exit. Rows of other
        // columns left in `pos_of_row` are never read unchecked: each hit is
        // tested against the pattern.
        // The element's entries are stored row by row (the order the
        // assembly sums them in) straight into its block of `y_map`, found
        // column by column: `live_index` is each conductor's place among the
        // element's non-ground ones.
        let mut pos_of_row = vec![u32::MAX; n];
        let mut live_index: Vec<usize> = Vec::new();
        for e in &elements {
            let base = y_map.len();
            y_map_start.push(base);
            let k = e.nodes.len();
            live_index.clear();
            let mut live = 0usize;
            for &a in e.nodes.iter() {
                live_index.push(live);
                live += usize::from(a != 0);
            }
            y_map.resize(base + live * live, (u32::MAX, u32::MAX));
            let block = &mut y_map[base..];
            for (j, &b) in e.nodes.iter().enumerate() {
                if b == 0 {
                    continue;
                }
                let (start, end) = (pattern.col_ptr[b - 1], pattern.col_ptr[b]);
                for (q, &r) in pattern.row_idx[start..end].iter().enumerate() {
                    pos_of_row[r] = (start + q) as u32;
                }
                let col = live_index[j];
                for (i, &a) in e.nodes.iter().enumerate() {
                    if a != 0 {
                        let pos = pos_of_row[a - 1];
                        assert!(
                            (start..end).contains(&(pos as usize)) && pattern.row_idx[pos as usize] == a - 1,
                            "entry is in the pattern"
                        );
                        block[live_index[i] * live + col] = ((i * k + j) as u32, pos);
                    }
                }
            }
        }
        drop(pos_of_row);
        y_map_start.push(y_map.len());
        let line_amps = {
            let mut v = vec![0.0; elements.len()];
            for (e, a) in line_amps {
                v[e] = a;
            }
            v
        };
        let nnz = pattern.nnz();
        // Symmetric by construction (element cliques, renumbered or permuted).
        let lu = SparseLu::analyse_natural_symmetric(pattern)?;

        let mut src_inj = vec![C::new(0.0, 0.0); n + 1];
        for s in &sources {
            for (k, &node) in elements[s.elem].nodes.iter().enumerate() {
                if node != 0 {
                    src_inj[node] += s.injection[k];
                }
            }
        }

        let src_entries = src_inj.iter().enumerate().filter(|(k, s)| *k != 0 && **s != C::new(0.0, 0.0)).map(|(k, &s)| (k, s)).collect();
        let mut pf = PowerFlow {
            loads_synced_by: None,
            name: circuit.name.clone(),
            nodes,
            elements,
            element_index,
            transformers,
            capacitors,
            load_nodes_end: loads.iter().flat_map(|l| l.nodes).max().map_or(0, |k| k + 1),
            loads,
            ders,
            sources,
            regs: Vec::new(),
            capcontrols: Vec::new(),
            queue: ControlQueue::default(),
            control_clock: (0, 0.0),
            injections: Vec::new(),
            settings,
            voltage_bases: if circuit.voltage_bases.is_empty() {
                DEFAULT_VOLTAGE_BASES.to_vec()
            } else {
                circuit.voltage_bases.clone()
            },
            symmetric_elements,
            elem_to_load,
            line_amps,
            y_map,
            y_map_start,
            y_sources: Vec::new(),
            y_sources_start: Vec::new(),
            y_values: vec![C::new(0.0, 0.0); nnz],
            lu,
            y_changed: Vec::new(),
            y_resum_mark: Vec::new(),
            y_resum_list: Vec::new(),
            refactor_columns_buf: Vec::new(),
            lu_holds_full_y: false,
            y_dirty: true,
            y_factored: false,
            src_inj,
            src_entries,
            v: vec![C::new(0.0, 0.0); n + 1],
            vmag_saved: vec![0.0; n + 1],
            node_vbase: vec![0.0; n + 1],
            node_inv_vbase: vec![0.0; n + 1],
            no_base_nodes: (1..=n).collect(),
            no_base_saved: Vec::new(),
            node_err: vec![0.0; n + 1],
            initialized: false,
            rhs: vec![C::new(0.0, 0.0); n],
            inj: vec![C::new(0.0, 0.0); n + 1],
            last: SolveReport::default(),
            solved_once: false,
            time_series_mode: false,
        };
        pf.regs = crate::controls::build_regcontrols(circuit, &pf)?;
        for (t, w, tap) in crate::controls::forced_taps(circuit, &pf) {
            pf.transformers[t].taps[w] = tap;
            pf.update_transformer(t)?;
        }
        pf.capcontrols = crate::controls::build_capcontrols(circuit, &pf)?;
        if circuit.calc_voltage_bases || !circuit.voltage_bases.is_empty() {
            pf.calc_voltage_bases()?;
        }
        Ok(pf)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn settings_mut(&mut self) -> &mut Settings {
        // LoadMult may change: the next shape pass revisits every load.
        self.loads_synced_by = None;
        &mut self.settings
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.n_nodes()
    }

    /// Stamps every element's Yprim into the CSC values and refactors.
    fn assemble_and_factor(&mut self, series: bool) -> Result<(), GridError> {
        let partial = !series && self.lu_holds_full_y && self.symmetric_elements && !self.y_changed.is_empty();
        if partial {
            // Only the entries of the changed elements, each re-summed once
            // from all its contributions in assembly order (the same bits).
            if self.y_sources_start.is_empty() {
                self.build_y_sources();
            }
            if self.y_resum_mark.len() != self.y_values.len() {
                self.y_resum_mark = vec![false; self.y_values.len()];
            }
            let mut resummed = std::mem::take(&mut self.y_resum_list);
            resummed.clear();
            for &k in &self.y_changed {
                for &(_, pos) in &self.y_map[self.y_map_start[k]..self.y_map_start[k + 1]] {
                    let p = pos as usize;
                    if std::mem::replace(&mut self.y_resum_mark[p], true) {
                        continue;
                    }
                    resummed.push(pos);
                    let mut sum = C::new(0.0, 0.0);
                    for &(e, flat) in &self.y_sources[self.y_sources_start[p] as usize..self.y_sources_start[p + 1] as usize] {
                        sum += self.elements[e as usize].yprim.as_slice()[flat as usize];
                    }
                    self.y_values[p] = sum;
                }
            }
            for &p in &resummed {
                self.y_resum_mark[p as usize] = false;
            }
            self.y_resum_list = resummed;
            #[cfg(debug_assertions)]
            {
                let mut full = vec![C::new(0.0, 0.0); self.y_values.len()];
                for (k, e) in self.elements.iter().enumerate() {
                    for &(flat, pos) in &self.y_map[self.y_map_start[k]..self.y_map_start[k + 1]] {
                        full[pos as usize] += e.yprim.as_slice()[flat as usize];
                    }
                }
                debug_assert!(full == self.y_values, "partial assembly differs from a full one");
            }
        } else {
            self.y_values.iter_mut().for_each(|v| *v = C::new(0.0, 0.0));
            for (k, e) in self.elements.iter().enumerate() {
                let y = if series { &e.yprim_series } else { &e.yprim };
                let data = y.as_slice();
                for &(flat, pos) in &self.y_map[self.y_map_start[k]..self.y_map_start[k + 1]] {
                    self.y_values[pos as usize] += data[flat as usize];
                }
            }
        }
        self.y_factored = false;
        self.lu_holds_full_y = false;
        if partial {
            let mut columns = std::mem::take(&mut self.refactor_columns_buf);
            columns.clear();
            for &e in &self.y_changed {
                columns.extend(self.elements[e].nodes.iter().filter(|&&n| n != 0).map(|&n| n - 1));
            }
            self.lu.refactor_columns(&self.y_values, &columns)?;
            self.refactor_columns_buf = columns;
        } else if self.symmetric_elements {
            self.lu.factor_symmetric(&self.y_values)?;
        } else {
            self.lu.factor(&self.y_values)?;
        }
        self.y_changed.clear();
        if !series {
            self.lu_holds_full_y = true;
            self.y_factored = true;
            self.y_dirty = false;
        }
        Ok(())
    }

    /// `y_sources` from `y_map`: the contributions to each Y entry in
    /// assembly order. Made at the first partial assembly (a compile that
    /// never re-stamps an element never needs them).
    fn build_y_sources(&mut self) {
        let nnz = self.y_values.len();
        let mut count = vec![0u32; nnz + 1];
        for &(_, pos) in &self.y_map {
            count[pos as usize + 1] += 1;
        }
        for p in 0..nnz {
            count[p + 1] += count[p];
        }
        let start = count.clone();
        let mut sources = vec![(0u32, 0u32); self.y_map.len()];
        for (e, w) in self.y_map_start.windows(2).enumerate() {
            for &(flat, pos) in &self.y_map[w[0]..w[1]] {
                sources[count[pos as usize] as usize] = (e as u32, flat);
                count[pos as usize] += 1;
            }
        }
        self.y_sources = sources;
        self.y_sources_start = start;
    }

    fn ensure_factored(&mut self) -> Result<(), GridError> {
        if self.y_dirty || !self.y_factored {
            self.assemble_and_factor(false)?;
        }
        Ok(())
    }

    /// Solves Y·V = rhs (rhs indexed by system node, entry 0 ignored) into `self.v`.
    fn solve_linear(&mut self, rhs_full: &[C]) -> Result<(), GridError> {
        let n = self.n_nodes();
        self.rhs.copy_from_slice(&rhs_full[1..=n]);
        self.lu.solve_in_place(&mut self.rhs)?;
        self.v[1..=n].copy_from_slice(&self.rhs);
        self.v[0] = C::new(0.0, 0.0);
        Ok(())
    }

    /// OpenDSS `SetGeneratordQdV` for model-3 generators: dQ/dV from the
    /// system Y's diagonal at the first conductor, vars back to the nominal
    /// kvar. Returns whether there was one.
    fn init_voltage_regulated_generators(&mut self) -> bool {
        let mut any = false;
        for d in 0..self.ders.len() {
            if self.ders[d].inj.model != 3 {
                continue;
            }
            let node = self.ders[d].nodes[0];
            let mut yii = C::new(0.0, 0.0);
            if node != 0 {
                for e in &self.elements {
                    let k = e.nodes.len();
                    for a in 0..k {
                        if e.nodes[a] != node {
                            continue;
                        }
                        for b in 0..k {
                            if e.nodes[b] == node {
                                yii += e.yprim.get(a, b);
                            }
                        }
                    }
                }
            }
            let der = &mut self.ders[d];
            let vbase = der.inj.vbase;
            if let crate::ders::DerModel::Generator(g) = &mut der.model {
                g.dqdv = 2.0 * yii.norm() * vbase * g.vpu;
                der.inj.q_phase = 1000.0 * g.kvar / der.inj.phases as f64;
                any = true;
            }
        }
        any
    }

    /// OpenDSS `CalcVoltageBases`: a no-load solution on the series Y, then
    /// each bus gets the listed base nearest to its first node's voltage.
    pub fn calc_voltage_bases(&mut self) -> Result<(), GridError> {
        self.assemble_and_factor(true)?;
        self.y_dirty = true; // the LU now holds the series matrix
        // The source injections are the right-hand side (lent, not copied);
        // the voltages need keeping only if a solution is to be restored.
        let rhs = std::mem::take(&mut self.src_inj);
        let saved = self.solved_once.then(|| self.v.clone());
        let solved = self.solve_linear(&rhs);
        self.src_inj = rhs;
        solved?;
        for b in 0..self.nodes.buses.len() {
            let bus = &self.nodes.buses[b];
            let Some(&(_, first)) = bus.nodes.first() else { continue };
            let kv_ll = self.v[first].norm() * 0.001732;
            let base = nearest_base(&self.voltage_bases, kv_ll);
            self.nodes.buses[b].kv_base_ln = base / 3f64.sqrt();
        }
        self.refresh_node_vbase();
        if let Some(saved) = saved {
            self.v = saved;
        }
        Ok(())
    }

    pub(crate) fn refresh_node_vbase(&mut self) {
        for bus in &self.nodes.buses {
            for &(_, idx) in &bus.nodes {
                let base = bus.kv_base_ln * 1000.0;
                self.node_vbase[idx] = base;
                self.node_inv_vbase[idx] = if base > 0.0 { 1.0 / base } else { 0.0 };
            }
        }
        self.no_base_nodes.clear();
        self.no_base_nodes.extend((1..self.node_inv_vbase.len()).filter(|&k| !(self.node_inv_vbase[k] > 0.0)));
    }

    /// Injection currents for the present voltages (sources, loads, bus
    /// injections) into `out`, which the caller has zeroed; remembers each
    /// load's phase currents.
    fn injection_currents(&mut self, out: &mut [C]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { self.injection_currents_avx2(out) };
            }
        }
        self.injection_currents_body(out)
    }

    /// [`Self::injection_currents`] compiled for AVX2: the same source, the
    /// same IEEE operations (Rust never fuses a multiply and an add), in
    /// three-operand form with SSE3's `addsub` for the complex products —
    /// about a third fewer instructions than the baseline SSE2 build.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn injection_currents_avx2(&mut self, out: &mut [C]) {
        self.injection_currents_body(out)
    }

    #[inline(always)]
    fn injection_currents_body(&mut self, out: &mut [C]) {
        // 0 + s = s: the same bits as starting from a copy of `src_inj`,
        // without a pass over every node.
        for &(k, s) in &self.src_entries {
            out[k] += s;
        }
        let v = &self.v;
        assert!(out.len() == v.len());
        let nodes_in_range = self.load_nodes_end <= v.len();
        // Ground's voltage is +0 + 0i after every solve: a wye load with its
        // neutral on ground then needs no neutral row (its sum goes to
        // ground, discarded below) and no V − V_n (x − (+0) is x).
        let ground_is_zero = v.first().is_some_and(|g| g.re.to_bits() == 0 && g.im.to_bits() == 0);
        for ld in &mut self.loads {
            let nc = ld.nconds.min(MAX_LOAD_CONDUCTORS);
            // SAFETY (the kernels' unchecked reads and adds): every node
            // number is < v.len() == out.len().
            if !nodes_in_range {
                generic_load_injection(ld, nc, v, out);
                continue;
            }
            // Borrowed field by field: the stamped Yprim is read in place (a
            // delta load's matrix is not copied per iteration).
            let LoadState { nodes, ysys, calc, last_currents, currents_valid, kernel, .. } = ld;
            // The stamped Yprim's form follows the connection (`LoadY::from_yprim`);
            // a load whose form does not fit its kernel takes the generic one.
            // SAFETY: see above.
            let done = unsafe {
                match (*kernel, &*ysys) {
                    (LoadKernel::Wye1Grounded, LoadY::Wye { a, b, c, .. }) if ground_is_zero => wye_load_injection::<1, true>(nodes, a, b, c, calc, last_currents, v, out),
                    (LoadKernel::Wye3Grounded, LoadY::Wye { a, b, c, .. }) if ground_is_zero => wye_load_injection::<3, true>(nodes, a, b, c, calc, last_currents, v, out),
                    (LoadKernel::Wye1 | LoadKernel::Wye1Grounded, LoadY::Wye { a, b, c, .. }) => wye_load_injection::<1, false>(nodes, a, b, c, calc, last_currents, v, out),
                    (LoadKernel::Wye2, LoadY::Wye { a, b, c, .. }) => wye_load_injection::<2, false>(nodes, a, b, c, calc, last_currents, v, out),
                    (LoadKernel::Wye3 | LoadKernel::Wye3Grounded, LoadY::Wye { a, b, c, .. }) => wye_load_injection::<3, false>(nodes, a, b, c, calc, last_currents, v, out),
                    (LoadKernel::Delta1, LoadY::Delta { nconds: 2, m }) => delta_load_injection::<1, 2>(nodes, m, calc, last_currents, v, out),
                    (LoadKernel::Delta3, LoadY::Delta { nconds: 3, m }) => delta_load_injection::<3, 3>(nodes, m, calc, last_currents, v, out),
                    _ => false,
                }
            };
            if !done {
                generic_load_injection(ld, nc, v, out);
                continue;
            }
            *currents_valid = true;
        }
        for d in &mut self.ders {
            d.inject(v, out);
        }
        // Ground (index 0) collected the grounded conductors' terms: discard.
        out[0] = C::new(0.0, 0.0);
        for inj in &self.injections {
            if inj.s_per_node == C::new(0.0, 0.0) {
                continue;
            }
            for &node in &inj.nodes {
                let vn = v[node];
                if vn.norm() > 0.0 {
                    out[node] += (inj.s_per_node / vn).conj();
                }
            }
        }
    }

    /// OpenDSS `Converged`: max |Δ|V||/Vbase over nodes (relative change
    /// where a node has no base); updates the saved magnitudes and zeroes
    /// `next_rhs` (the previous voltages, the next iteration's injection
    /// buffer) in the same pass. Returns the error; [`Self::worst_node`]
    /// finds where it is largest.
    fn check_convergence(&mut self, next_rhs: &mut [C]) -> f64 {
        let n = self.v.len();
        // Nodes without a voltage base (rare) use the relative change; their
        // saved magnitudes are set aside so the main pass can stay branch-free
        // (and vectorised: its square roots dominate otherwise).
        let mut rare = std::mem::take(&mut self.no_base_saved);
        rare.clear();
        rare.extend(self.no_base_nodes.iter().map(|&k| self.vmag_saved[k]));
        let (mut max_err, mut any_nan) = convergence_pass(
            &self.v[1..n],
            &self.node_inv_vbase[1..n],
            &mut self.vmag_saved[1..n],
            &mut self.node_err[1..n],
            &mut next_rhs[1..n],
        );
        for (&k, &saved) in self.no_base_nodes.iter().zip(&rare) {
            let vmag = self.vmag_saved[k];
            let err = if vmag != 0.0 { (1.0 - saved / vmag).abs() } else { 0.0 };
            self.node_err[k] = err;
            any_nan |= err.is_nan();
            max_err = if err > max_err { err } else { max_err };
        }
        self.no_base_saved = rare;
        if any_nan {
            f64::NAN
        } else {
            max_err
        }
    }

    /// The node of the last convergence test's largest error (the first NaN
    /// one if any), 0 when the test passed.
    fn worst_node(&self, err: f64) -> usize {
        let n = self.v.len();
        if err.is_nan() {
            (1..n).find(|&k| self.node_err[k].is_nan()).unwrap_or(0)
        } else if err > self.settings.tolerance {
            (1..n).find(|&k| self.node_err[k] == err).unwrap_or(0)
        } else {
            0
        }
    }

    /// One power flow without controls (OpenDSS `DoNormalSolution`). Returns
    /// (iterations, converged, last error, worst node).
    fn normal_solution(&mut self) -> Result<(usize, bool, f64, usize), GridError> {
        self.ensure_factored()?;
        if !self.initialized {
            // OpenDSS `SolveYDirect`: sources only, loads as their nominal Y.
            let rhs = self.src_inj.clone();
            self.solve_linear(&rhs)?;
            self.initialized = true;
            if self.init_voltage_regulated_generators() {
                // OpenDSS then restarts from a no-load solution (SolveZeroLoadSnapShot).
                self.assemble_and_factor(true)?;
                self.y_dirty = true;
                let rhs = self.src_inj.clone();
                self.solve_linear(&rhs)?;
                self.ensure_factored()?;
            }
        }
        let mut rhs = std::mem::take(&mut self.inj);
        rhs.clear();
        rhs.resize(self.v.len(), C::new(0.0, 0.0));
        let mut iteration = 0;
        let result = loop {
            iteration += 1;
            // `rhs` is zero here (above, then by each convergence pass).
            self.injection_currents(&mut rhs);
            if !self.ders.is_empty() && self.restamp_changed_ders() {
                if let Err(e) = self.ensure_factored() {
                    break Err(e);
                }
            }
            // Solve in place in the injection buffer, then swap it with V.
            if let Err(e) = self.lu.solve_in_place_unchecked(&mut rhs[1..]) {
                break Err(e.into());
            }
            rhs[0] = C::new(0.0, 0.0);
            std::mem::swap(&mut self.v, &mut rhs);
            let err = self.check_convergence(&mut rhs);
            rhs[0] = C::new(0.0, 0.0);
            if self.settings.trace {
                eprintln!("iteration {iteration}: max dV {err:.3e} at {}", self.nodes.node_name(self.worst_node(err)));
            }
            if err.is_nan() {
                break Ok((iteration, false, err, self.worst_node(err)));
            }
            let converged = err <= self.settings.tolerance;
            if (converged && iteration >= self.settings.min_iterations) || iteration >= self.settings.max_iterations {
                break Ok((iteration, converged, err, self.worst_node(err)));
            }
        };
        self.inj = rhs;
        result
    }

    /// OpenDSS `Solve` in snapshot mode: power flow, then control iterations
    /// until the controls settle. Warm-starts from the present voltages. A
    /// failure of the linear solver is an error; non-convergence is reported
    /// in the returned report (`converged = false`, `non_convergence`).
    pub fn solve(&mut self) -> Result<SolveReport, GridError> {
        if !self.ders.is_empty() {
            self.refresh_der_yprims();
        }
        let mut report = SolveReport::default();
        let mut done = false;
        let mut pf_converged;
        let mut last_err;
        let mut worst;
        loop {
            report.control_iterations += 1;
            let (it, conv, err, w) = self.normal_solution()?;
            pf_converged = conv;
            last_err = err;
            worst = w;
            report.iterations += it;
            report.max_iterations_done = report.max_iterations_done.max(it);
            if report.control_iterations < self.settings.max_control_iterations {
                if pf_converged {
                    if self.settings.control_mode == ControlMode::Off {
                        done = true;
                    } else {
                        let acted = crate::controls::sample_and_act(self);
                        if !acted {
                            done = true;
                        }
                    }
                } else {
                    done = true;
                }
            }
            if self.y_dirty {
                self.ensure_factored()?;
            }
            if done || report.control_iterations >= self.settings.max_control_iterations {
                break;
            }
        }
        report.last_error = last_err;
        self.solved_once = true;
        if !pf_converged {
            report.non_convergence = Some(NonConvergence {
                iterations: report.max_iterations_done.min(self.settings.max_iterations),
                control_iterations: report.control_iterations,
                worst_node: self.nodes.node_name(worst),
                mismatch: last_err,
                controls_exhausted: false,
            });
        } else if !done {
            report.non_convergence = Some(NonConvergence {
                iterations: report.iterations,
                control_iterations: report.control_iterations,
                worst_node: self.nodes.node_name(worst),
                mismatch: last_err,
                controls_exhausted: true,
            });
        }
        report.converged = pf_converged && done;
        self.last = report.clone();
        Ok(report)
    }

    /// Element `e`'s Yprim has changed: Y is refactored before the next
    /// solve, in the columns of `e` only when nothing else changed.
    pub(crate) fn yprim_changed(&mut self, e: usize) {
        self.y_changed.push(e);
        self.y_dirty = true;
    }

    /// Recomputes a transformer's Yprim after a tap change.
    pub(crate) fn update_transformer(&mut self, t: usize) -> Result<(), GridError> {
        let ts = &mut self.transformers[t];
        let e = &mut self.elements[ts.elem];
        let same_taps = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        if let Some(hit) = ts.yprim_memo.iter().find(|m| same_taps(&m.taps, &ts.taps)) {
            let (full, series) = (&hit.yprims.full, &hit.yprims.series);
            if e.yprim.order() == full.order() && e.yprim_series.order() == series.order() {
                e.yprim.copy_from(full);
                e.yprim_series.copy_from(series);
            } else {
                e.yprim = full.clone();
                e.yprim_series = series.clone();
            }
        } else {
            let yp = elements::transformer::yprim(&ts.model, &ts.taps)?;
            let entry = TapYprims { taps: ts.taps.clone(), yprims: elements::Yprims { full: yp.full.clone(), series: yp.series.clone() } };
            if ts.yprim_memo.len() < TAP_YPRIM_MEMO {
                ts.yprim_memo.push(entry);
            } else {
                ts.yprim_memo.rotate_left(1);
                ts.yprim_memo[TAP_YPRIM_MEMO - 1] = entry;
            }
            e.yprim = yp.full;
            e.yprim_series = yp.series;
        }
        let elem = ts.elem;
        self.y_changed.push(elem);
        self.y_dirty = true;
        Ok(())
    }

    /// Recomputes a capacitor's Yprim after a step change.
    pub(crate) fn update_capacitor(&mut self, c: usize) -> Result<(), GridError> {
        let cs = &self.capacitors[c];
        let yp = elements::capacitor::yprim(&cs.model, &cs.states, self.settings.base_frequency)?;
        let e = &mut self.elements[cs.elem];
        e.yprim = yp.full;
        e.yprim_series = yp.series;
        self.y_changed.push(cs.elem);
        self.y_dirty = true;
        Ok(())
    }

    // ----- edits -----------------------------------------------------------

    /// Position of the element of `class` named `name` (lower case, no class prefix).
    pub(crate) fn find_element(&self, class: ElementClass, name: &str) -> Option<usize> {
        let elements = &self.elements;
        self.element_index.get(class as u8, name, |k| (elements[k].class as u8, elements[k].name.as_str()))
    }

    pub fn load_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        let key = lower.strip_prefix("load.").unwrap_or(&lower);
        let e = self.find_element(ElementClass::Load, key)?;
        self.load_of_element(e)
    }

    /// The load index of an element index, if it is a load.
    pub(crate) fn load_of_element(&self, e: usize) -> Option<usize> {
        self.elem_to_load.get(e).copied().filter(|&l| l != usize::MAX)
    }

    pub fn n_loads(&self) -> usize {
        self.loads.len()
    }

    pub fn load_name(&self, i: usize) -> &str {
        &self.elements[self.loads[i].elem].name
    }

    /// Nominal (kW, kvar) of a load, before LoadMult.
    pub fn load_nominal(&self, i: usize) -> (f64, f64) {
        (self.loads[i].calc.kw, self.loads[i].calc.kvar)
    }

    /// Sets a load's nominal kW and kvar. Like OpenDSS's API path, this does
    /// not touch the system Y (the load's Y stays at its compiled nominal):
    /// the solution is the same, only the iteration count differs.
    pub fn set_load(&mut self, i: usize, kw: f64, kvar: f64) {
        let lm = self.settings.load_mult;
        self.loads[i].calc.set_nominal(kw, kvar, lm);
        self.loads[i].currents_valid = false;
        self.loads_synced_by = None;
    }

    /// Multiplies every load's nominal demand by `factor` (Y untouched).
    pub fn scale_loads(&mut self, factor: f64) {
        for l in &mut self.loads {
            l.calc.scale(factor);
            l.currents_valid = false;
        }
        self.loads_synced_by = None;
    }

    /// Restores every load's nominal demand to the circuit's values.
    pub fn reset_loads(&mut self) {
        let lm = self.settings.load_mult;
        for l in &mut self.loads {
            let (kw, kvar) = (l.defined_kw, l.defined_kvar);
            l.calc.set_nominal(kw, kvar, lm);
            l.currents_valid = false;
        }
        self.loads_synced_by = None;
    }

    /// Sets LoadMult (applies to variable loads; Y untouched).
    pub fn set_load_mult(&mut self, load_mult: f64) {
        self.settings.load_mult = load_mult;
        for l in &mut self.loads {
            let (kw, kvar) = (l.calc.kw, l.calc.kvar);
            l.calc.set_nominal(kw, kvar, load_mult);
            l.currents_valid = false;
        }
        self.loads_synced_by = None;
    }

    pub fn bus_index(&self, name: &str) -> Option<usize> {
        // Names are stored lower-case; most callers pass them so (no allocation).
        match self.nodes.find_bus(name) {
            Some(b) => Some(b),
            None => self.nodes.find_bus(&name.to_ascii_lowercase()),
        }
    }

    /// Adds a net injection (kW, kvar; positive = generation) at a bus,
    /// spread evenly over its phase nodes (1, 2, 3) as constant power, or
    /// over the nodes given in the bus spec (`675.1.2`). Injections at the
    /// same nodes add up.
    pub fn add_bus_injection(&mut self, bus: &str, kw: f64, kvar: f64) -> Result<(), GridError> {
        // Fast path, every step of a market loop: a plain bus name whose
        // injection entry exists already (kept, zeroed, by clear_bus_injections).
        if !bus.contains('.') {
            if let Some(b) = self.bus_index(bus) {
                if let Some(inj) = self.injections.iter_mut().find(|i| i.bus == b && i.default_nodes) {
                    inj.s_per_node += C::new(kw * 1000.0, kvar * 1000.0) / inj.nodes.len() as f64;
                    return Ok(());
                }
            }
        }
        let mut parts = bus.split('.');
        let name = parts.next().unwrap_or("");
        let b = self.bus_index(name).ok_or_else(|| GridError::Unknown { kind: "bus", name: name.to_string() })?;
        let wanted: Vec<u32> = parts.map(|p| p.parse::<u32>()).collect::<Result<_, _>>().map_err(|_| {
            GridError::Invalid(format!("bad bus spec '{bus}': nodes must be numbers"))
        })?;
        let bus_nodes = &self.nodes.buses[b].nodes;
        let default_nodes = wanted.is_empty();
        let mut phase_nodes: Vec<usize> = if wanted.is_empty() {
            let mut v: Vec<usize> =
                bus_nodes.iter().filter(|(n, _)| (1..=3).contains(n)).map(|&(_, i)| i).collect();
            if v.is_empty() {
                v = bus_nodes.iter().map(|&(_, i)| i).collect();
            }
            v
        } else {
            let mut v = Vec::new();
            for n in &wanted {
                let idx = bus_nodes.iter().find(|(m, _)| m == n).map(|&(_, i)| i).ok_or_else(|| {
                    GridError::Invalid(format!("bus '{name}' has no node {n}"))
                })?;
                v.push(idx);
            }
            v
        };
        if phase_nodes.is_empty() {
            return Err(GridError::Invalid(format!("bus '{name}' has no nodes")));
        }
        phase_nodes.sort_unstable();
        phase_nodes.dedup();
        let s = C::new(kw * 1000.0, kvar * 1000.0) / phase_nodes.len() as f64;
        if let Some(inj) = self.injections.iter_mut().find(|i| i.bus == b && i.nodes == phase_nodes) {
            inj.s_per_node += s;
        } else {
            self.injections.push(BusInjection { bus: b, nodes: phase_nodes, s_per_node: s, default_nodes });
        }
        Ok(())
    }

    pub fn clear_bus_injections(&mut self) {
        // Entries stay (at zero) so the next step's injections at the same
        // buses reuse them; zero entries inject nothing.
        for inj in &mut self.injections {
            inj.s_per_node = C::new(0.0, 0.0);
        }
    }

    /// Voltages (system node 1..=n; index 0 is ground).
    pub fn node_voltages(&self) -> &[C] {
        &self.v
    }

    /// Forgets the solution: the next solve starts from OpenDSS's
    /// initialisation (sources only, loads as nominal admittances).
    pub fn reset_solution(&mut self) {
        self.initialized = false;
        self.v.iter_mut().for_each(|v| *v = C::new(0.0, 0.0));
        self.vmag_saved.iter_mut().for_each(|v| *v = 0.0);
    }

    /// Voltages and saved magnitudes, to restore after a failed solve.
    pub(crate) fn save_state(&self) -> (Vec<C>, Vec<f64>, bool) {
        (self.v.clone(), self.vmag_saved.clone(), self.initialized)
    }

    pub(crate) fn restore_state(&mut self, s: (Vec<C>, Vec<f64>, bool)) {
        self.v = s.0;
        self.vmag_saved = s.1;
        self.initialized = s.2;
    }

    /// Normal rating of a line element in amps (0 if unknown).
    pub(crate) fn line_normamps(&self, e: usize) -> f64 {
        self.line_amps.get(e).copied().unwrap_or(0.0)
    }

    /// Size of the linear system: (nodes, non-zeros of Y, non-zeros of its
    /// LDLᵀ factor L, 0 when the pivoting LU is in use).
    pub fn linear_system_stats(&self) -> (usize, usize, usize) {
        self.lu.stats()
    }

    pub fn last_report(&self) -> &SolveReport {
        &self.last
    }
}

fn nearest_base(bases: &[f64], kv: f64) -> f64 {
    let mut best = 0.0;
    let mut min_diff = 1.0e50;
    for &b in bases {
        if b == 0.0 {
            continue;
        }
        let diff = (1.0 - kv / b).abs();
        if diff < min_diff {
            min_diff = diff;
            best = b;
        }
    }
    best
}

#[allow(clippy::too_many_arguments)]
fn build_element(
    nodes: &mut NodeMap,
    class: ElementClass,
    name: &str,
    model_index: usize,
    terminals: &[&ogg_dss::BusRef],
    phases: usize,
    nconds: usize,
    yp: Yprims,
) -> Element {
    let mut node_idx = crate::network::InlineList::new();
    let mut numbers = crate::network::InlineList::new();
    let mut terminal_bus = crate::network::InlineList::new();
    for t in terminals {
        terminal_bus.push(nodes.connect_into(t, phases, nconds, &mut numbers, &mut node_idx));
    }
    Element {
        class,
        name: name.to_string(),
        model_index,
        nterms: terminals.len(),
        nconds,
        nodes: node_idx,
        terminal_bus,
        node_numbers: numbers,
        yprim: yp.full,
        yprim_series: yp.series,
    }
}

impl PowerFlow {
    /// Yprim of an element as it is in the system Y, with its conductor
    /// labels (`bus.node`), for checks against OpenDSS.
    pub fn element_yprim(&self, full_name: &str) -> Option<(Vec<String>, CMat)> {
        let (class, name) = full_name.split_once('.')?;
        let class = match class.to_ascii_lowercase().as_str() {
            "vsource" => ElementClass::Vsource,
            "line" => ElementClass::Line,
            "transformer" => ElementClass::Transformer,
            "load" => ElementClass::Load,
            "capacitor" => ElementClass::Capacitor,
            "reactor" => ElementClass::Reactor,
            "generator" => ElementClass::Generator,
            "pvsystem" => ElementClass::PvSystem,
            "storage" => ElementClass::Storage,
            _ => return None,
        };
        let i = self.find_element(class, &name.to_ascii_lowercase())?;
        let e = &self.elements[i];
        let labels = (0..e.nodes.len())
            .map(|k| format!("{}.{}", self.nodes.buses[e.terminal_bus[k / e.nconds]].name, e.node_numbers[k]))
            .collect();
        Some((labels, e.yprim.clone()))
    }

    /// Names of all compiled elements (`Class.name`), in definition order.
    pub fn element_names(&self) -> Vec<String> {
        self.elements.iter().map(|e| e.full_name()).collect()
    }

    /// Turns a non-converged report into an error.
    pub fn require_converged(report: &SolveReport) -> Result<(), GridError> {
        match &report.non_convergence {
            Some(nc) => Err(GridError::NotConverged(nc.clone())),
            None => Ok(()),
        }
    }
}

/// The convergence test's pass over the nodes (see
/// [`PowerFlow::check_convergence`]): per node |V| = sqrt(re² + im²), error
/// |(|V| − saved)|·inv, saved ← |V|, `next_rhs` ← 0. Returns the largest
/// error and whether one was NaN. On AVX2 the same code is compiled four
/// lanes wide (IEEE square roots and products: the same bits).
fn convergence_pass(v: &[C], inv: &[f64], saved: &mut [f64], node_err: &mut [f64], next_rhs: &mut [C]) -> (f64, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { convergence_pass_avx512(v, inv, saved, node_err, next_rhs) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { convergence_pass_avx2(v, inv, saved, node_err, next_rhs) };
        }
    }
    convergence_pass_body(v, inv, saved, node_err, next_rhs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn convergence_pass_avx512(v: &[C], inv: &[f64], saved: &mut [f64], node_err: &mut [f64], next_rhs: &mut [C]) -> (f64, bool) {
    convergence_pass_body(v, inv, saved, node_err, next_rhs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn convergence_pass_avx2(v: &[C], inv: &[f64], saved: &mut [f64], node_err: &mut [f64], next_rhs: &mut [C]) -> (f64, bool) {
    convergence_pass_body(v, inv, saved, node_err, next_rhs)
}

#[inline(always)]
fn convergence_pass_body(v: &[C], inv: &[f64], saved: &mut [f64], node_err: &mut [f64], next_rhs: &mut [C]) -> (f64, bool) {
    // Zipped slices: no bounds checks, and the loop vectorises.
    let mut any_nan = false;
    let nodes = v.iter().zip(inv).zip(next_rhs.iter_mut());
    for (((z, &inv), rhs), (saved, err_out)) in nodes.zip(saved.iter_mut().zip(node_err.iter_mut())) {
        // sqrt(re² + im²): hypot's overflow care is not needed here and is slow.
        let vmag = (z.re * z.re + z.im * z.im).sqrt();
        let err = (vmag - *saved).abs() * inv;
        *saved = vmag;
        *err_out = err;
        *rhs = C::new(0.0, 0.0);
        any_nan |= err.is_nan();
    }
    // The maximum in four independent lanes (one chain of comparisons
    // would be the loop's critical path); NaN is tracked above.
    let (mut m0, mut m1, mut m2, mut m3) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut chunks = node_err.chunks_exact(4);
    for c in &mut chunks {
        m0 = if c[0] > m0 { c[0] } else { m0 };
        m1 = if c[1] > m1 { c[1] } else { m1 };
        m2 = if c[2] > m2 { c[2] } else { m2 };
        m3 = if c[3] > m3 { c[3] } else { m3 };
    }
    for &e in chunks.remainder() {
        m0 = if e > m0 { e } else { m0 };
    }
    (m0.max(m1).max(m2.max(m3)), any_nan)
}

/// One load's injection `Yprim·V − I_load(V)` added into `out`, for any
/// connection (see [`wye_load_injection`] for the common wye loads).
#[inline(never)]
fn generic_load_injection(ld: &mut LoadState, nc: usize, v: &[C], out: &mut [C]) {
    let mut vt = [C::new(0.0, 0.0); MAX_LOAD_CONDUCTORS];
    for k in 0..nc {
        vt[k] = v[ld.nodes[k]];
    }
    let mut yv = [C::new(0.0, 0.0); MAX_LOAD_CONDUCTORS];
    ld.ysys.apply(&vt, &mut yv);
    let calc = &ld.calc;
    let phases = calc.phases.min(3);
    match calc.conn {
        ogg_dss::Connection::Wye => {
            let neutral = nc - 1;
            for i in 0..phases {
                let cur = calc.phase_current(vt[i] - vt[neutral]);
                ld.last_currents[i] = cur;
                yv[i] -= cur;
                yv[neutral] += cur;
            }
        }
        ogg_dss::Connection::Delta => {
            for i in 0..phases {
                let j = if i + 1 >= nc { 0 } else { i + 1 };
                let cur = calc.phase_current(vt[i] - vt[j]);
                ld.last_currents[i] = cur;
                yv[i] -= cur;
                yv[j] += cur;
            }
        }
    }
    ld.currents_valid = true;
    for k in 0..nc {
        out[ld.nodes[k]] += yv[k];
    }
}

/// [`generic_load_injection`] for a wye load of `P` phases (conductors
/// 0..P, neutral P), with the same operations in the same order (same bits)
/// but every value in registers: the generic loop's variable-length stack
/// arrays made the compiler reload pairs of values straddling two stores,
/// which stalls store forwarding.
///
/// `GROUNDED`: the neutral is node 0 and V there is +0 + 0i, so V_n is that
/// constant — `b·V_n` is still formed (b·(+0) is ±0 by b's signs: the same
/// sums), `V_i − V_n` is `V_i` exactly, and the neutral row, which would go
/// to ground and be discarded, is not formed.
///
/// Returns true (it ran: the caller's dispatch reads as one `match`).
///
/// # Safety
/// Every entry of `nodes` must be < `v.len()` and < `out.len()`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn wye_load_injection<const P: usize, const GROUNDED: bool>(
    nodes: &[usize; MAX_LOAD_CONDUCTORS],
    a: &C,
    b: &C,
    c: &C,
    calc: &LoadCalc,
    last_currents: &mut [C; 3],
    v: &[C],
    out: &mut [C],
) -> bool {
    let (a, b, c) = (*a, *b, *c);
    let vn = if GROUNDED { C::new(0.0, 0.0) } else { *v.get_unchecked(nodes[P]) };
    let mut vp = [C::new(0.0, 0.0); P];
    for i in 0..P {
        vp[i] = *v.get_unchecked(nodes[i]);
    }
    // Yprim·V as `LoadY::apply`: phase rows a·V_i + b·V_n, neutral Σ b·V_i + c·V_n.
    let mut yv = [C::new(0.0, 0.0); P];
    let mut sn = C::new(0.0, 0.0);
    let b_vn = b * vn;
    for i in 0..P {
        yv[i] = a * vp[i] + b_vn;
        if !GROUNDED {
            sn += b * vp[i];
        }
    }
    let mut yn = if GROUNDED { C::new(0.0, 0.0) } else { sn + c * vn };
    let mut vph = vp;
    if !GROUNDED {
        for i in 0..P {
            vph[i] = vp[i] - vn;
        }
    }
    // Side by side pays for two phases (the 8500-node feeder's split-phase
    // loads: −10 % there); measured slower for one and three.
    let together = if P == 2 { calc.constant_pq_currents(&vph) } else { None };
    let currents = match together {
        Some(all) => all,
        None => {
            let mut each = [C::new(0.0, 0.0); P];
            for i in 0..P {
                each[i] = calc.phase_current_inline(vph[i]);
            }
            each
        }
    };
    for i in 0..P {
        let cur = currents[i];
        last_currents[i] = cur;
        yv[i] -= cur;
        if !GROUNDED {
            yn += cur;
        }
    }
    for i in 0..P {
        *out.get_unchecked_mut(nodes[i]) += yv[i];
    }
    if !GROUNDED {
        *out.get_unchecked_mut(nodes[P]) += yn;
    }
    true
}

/// [`generic_load_injection`] for a delta load of `P` phases on `NC`
/// conductors (1 phase on 2, or 3 on 3), in registers as
/// [`wye_load_injection`]; the same operations in the same order.
/// # Safety
/// As [`wye_load_injection`].
#[inline(always)]
unsafe fn delta_load_injection<const P: usize, const NC: usize>(
    nodes: &[usize; MAX_LOAD_CONDUCTORS],
    m: &[C; 9],
    calc: &LoadCalc,
    last_currents: &mut [C; 3],
    v: &[C],
    out: &mut [C],
) -> bool {
    let mut vt = [C::new(0.0, 0.0); NC];
    for k in 0..NC {
        vt[k] = *v.get_unchecked(nodes[k]);
    }
    // Yprim·V as `LoadY::apply`.
    let mut yv = [C::new(0.0, 0.0); NC];
    for i in 0..NC {
        let mut s = C::new(0.0, 0.0);
        for j in 0..NC {
            s += m[i * 3 + j] * vt[j];
        }
        yv[i] = s;
    }
    for i in 0..P {
        let j = if i + 1 >= NC { 0 } else { i + 1 };
        let cur = calc.phase_current_inline(vt[i] - vt[j]);
        last_currents[i] = cur;
        yv[i] -= cur;
        yv[j] += cur;
    }
    for k in 0..NC {
        *out.get_unchecked_mut(nodes[k]) += yv[k];
    }
    true
}

/// The runtime-dispatched kernels (AVX-512 / AVX2 copies) against their
/// baseline `_body` build on the same random inputs: the same bits, so a
/// machine without AVX-512 or AVX2 (CI) computes what the one measured does.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) mod dispatched_kernel_tests {
    use super::*;

    /// Uniform in [-0.5, 0.5) (xorshift64).
    fn uniform(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    /// Each built-in feeder solved, its voltages then moved at random (up to
    /// ±10 % in magnitude, ±0.1 rad): inputs off the solved point.
    pub(crate) fn perturbed_feeders(seed: u64) -> Vec<(String, PowerFlow)> {
        let mut state = seed;
        crate::feeders::names()
            .into_iter()
            .map(|name| {
                let circuit = crate::feeders::circuit(name).expect("built-in feeder reads");
                let mut pf = PowerFlow::new(&circuit).expect("built-in feeder compiles");
                pf.solve().expect("built-in feeder solves");
                for v in pf.v.iter_mut().skip(1) {
                    let (m, a) = (1.0 + 0.2 * uniform(&mut state), 0.2 * uniform(&mut state));
                    *v *= C::from_polar(m, a);
                }
                (name.to_string(), pf)
            })
            .collect()
    }

    pub(crate) fn bits(v: &[C]) -> Vec<(u64, u64)> {
        v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect()
    }

    #[test]
    fn injection_currents_avx2_gives_the_baseline_bits() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        for (name, pf) in perturbed_feeders(0x5eed_0001) {
            let (mut base, mut wide) = (pf.clone(), pf);
            let mut out_base = vec![C::new(0.0, 0.0); base.v.len()];
            let mut out_wide = out_base.clone();
            base.injection_currents_body(&mut out_base);
            // SAFETY: AVX2 checked above.
            unsafe { wide.injection_currents_avx2(&mut out_wide) };
            assert_eq!(bits(&out_base), bits(&out_wide), "{name}: injections");
            // The remembered load currents (Debug prints f64s round-trip exact).
            assert_eq!(format!("{:?}", base.loads), format!("{:?}", wide.loads), "{name}: load state");
            assert!(out_base.iter().skip(1).any(|c| c.norm() > 0.0), "{name}: loads inject something");
        }
    }

    #[test]
    fn convergence_pass_avx512_and_avx2_give_the_baseline_bits() {
        let mut state = 0x5eed_0002u64;
        // Lengths around the lane counts (4, 8) and a feeder's size.
        for n in [0usize, 1, 3, 4, 5, 7, 8, 9, 17, 100, 1003] {
            let mut v: Vec<C> = (0..n).map(|_| C::new(3e3 * uniform(&mut state), 3e3 * uniform(&mut state))).collect();
            if n == 17 {
                v[9] = C::new(f64::NAN, 0.0); // the NaN flag's path
            }
            // A few nodes without a base (inv = 0), as the engine passes them.
            let inv: Vec<f64> = (0..n).map(|k| if k % 13 == 5 { 0.0 } else { 1e-3 * (1.5 + uniform(&mut state)) }).collect();
            let saved0: Vec<f64> = (0..n).map(|_| 2e3 * (0.5 + uniform(&mut state))).collect();
            let run = |pass: &dyn Fn(&mut [f64], &mut [f64], &mut [C]) -> (f64, bool)| {
                let (mut saved, mut err, mut rhs) = (saved0.clone(), vec![7.0; n], vec![C::new(1.0, -1.0); n]);
                let (max, nan) = pass(&mut saved, &mut err, &mut rhs);
                let f = |x: &[f64]| x.iter().map(|e| e.to_bits()).collect::<Vec<_>>();
                (max.to_bits(), nan, f(&saved), f(&err), bits(&rhs))
            };
            let base = run(&|s, e, r| convergence_pass_body(&v, &inv, s, e, r));
            assert_eq!(base.2.len(), n);
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 checked just above.
                let wide = run(&|s, e, r| unsafe { convergence_pass_avx2(&v, &inv, s, e, r) });
                assert!(base == wide, "AVX2, {n} nodes");
            } else {
                eprintln!("AVX2 copy skipped: this CPU has no AVX2");
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F checked just above.
                let widest = run(&|s, e, r| unsafe { convergence_pass_avx512(&v, &inv, s, e, r) });
                assert!(base == widest, "AVX-512, {n} nodes");
            } else {
                eprintln!("AVX-512 copy skipped: this CPU has no AVX-512F");
            }
        }
    }
}
