//! The DSO's optimal power flow and its prices (the paper's Eqs. 12–18 and
//! two formulations beyond the paper), in the sparse branch-flow form: one
//! flow variable per line and one balance row per bus, so the problem grows
//! linearly with the feeder.
//!
//! ```text
//! minimise   LMP_source·s⁺ − p_export·s⁻ + Σ_generators c_g(P_g) + Σ_DR c_DR(P̄_d − P_d)
//! subject to, at every bus j (dual: the DLMP λ_j),
//!            P_into_j − loss_j − Σ_children P_c + Σ_j P_g − Σ_j P_d (+ s⁺ − s⁻ at the root) = 0
//!            P_g,min ≤ P_g ≤ P_g,max,   P_d,min ≤ P_d ≤ P̄_d,   s⁺, s⁻ ≥ 0
//! ```
//! * [`Formulation::Dc`] — the paper: lossless active power, |P_e| ≤ f_max.
//!   The paper writes the flows as f = H·p with the PTDF matrix H of the tree;
//!   [`ptdf::solve_ptdf`] solves that dense form and the tests show both
//!   forms give the same DLMPs (the dense form is only for small feeders).
//! * [`Formulation::LinDistFlow`] — P and Q flows, squared voltages
//!   w_j = t²·w_i − 2(r·P + x·Q) with v_min² ≤ w ≤ v_max², apparent-power limits
//!   P² + Q² ≤ S_max² (second-order cones) and losses r(P² + Q²)/w linearised
//!   at a base point (the flows of the fixed demand, or the previous solution).
//! * [`Formulation::Socp`] — the convex DistFlow (branch-flow) relaxation with
//!   squared currents ℓ: losses r·ℓ, w_j = t²w_i − 2(rP + xQ) + (r² + x²)ℓ,
//!   P² + Q² ≤ ℓ·t²w_i (rotated cone). [`DlmpSolution::socp_gap`] reports,
//!   per line, how far the relaxation is from equality (0 = exact, physical).
//!
//! `max(0, P_source)·LMP` is written with s⁺ − s⁻ = P_source, s± ≥ 0, and an
//! export price (default 0, as in the paper). A negative LMP with a price of 0
//! for exports would make the objective non-convex; the export price used is
//! therefore min(export price, LMP).
//!
//! # Solvers
//! The conic program is solved by [`ipm`] (`ConicSolver::TreeIpm`, the
//! default: our interior point, its KKT system eliminated along the feeder
//! by [`ldl`], warm-started from the last interval) or by Clarabel
//! (`ConicSolver::Clarabel`, the reference, and the fallback when ours does
//! not converge); both see the same problem and give duals in the same
//! convention. The lossless model can also be cleared exactly by [`tree`].
//!
//! # Prices and their decomposition
//! Clarabel solves min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ K, and the optimal
//! cost moves by −z_i per unit of b_i. The balance rows carry the fixed
//! demand in b, so the DLMP is λ_j = −z_j (checked by finite differences in
//! the tests). Stationarity of each line's flow P_e (edge from i into j)
//! gives λ_j = λ_i + C_e + V_e + L_e, so along the path from the root
//! λ_j = λ_root + Σ_path C_e + Σ_path V_e + Σ_path L_e:
//! **energy** λ_root (the LMP while the feeder imports), **congestion** C_e
//! (the line limit's dual), **voltage** V_e = 2 r_e β_e with β the voltage
//! row's dual driven by the voltage limits downstream, **loss** L_e (the
//! marginal loss factor times the prices: a_e λ_j + a'_e η_j for LinDistFlow;
//! for the SOCP the relaxation cone's part). Each component is computed from
//! its own duals, so [`Decomposition::residual`] — the largest difference
//! between their sum and the DLMP — is a real check of the KKT conditions.

pub mod builder;
mod interval;
pub mod ipm;
pub mod ldl;
pub mod ptdf;
pub mod tree;

use std::time::Instant;

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus,
};

use crate::error::DlmpError;
use crate::network::DlmpNetwork;
use crate::offer::{OfferKind, PlacedCost, PlacedOffer};
use builder::{Builder, Problem, Row};
use interval::IntervalPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Formulation {
    /// The paper: lossless active-power flows with limits.
    #[default]
    Dc,
    /// Linearised DistFlow with P, Q, voltages and linearised losses.
    LinDistFlow,
    /// The second-order-cone relaxation of the branch-flow model.
    Socp,
}

impl Formulation {
    pub fn as_str(self) -> &'static str {
        match self {
            Formulation::Dc => "dc",
            Formulation::LinDistFlow => "lindistflow",
            Formulation::Socp => "socp",
        }
    }
    pub const ALL: [Formulation; 3] =
        [Formulation::Dc, Formulation::LinDistFlow, Formulation::Socp];
}

impl std::fmt::Display for Formulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Formulation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "dc" | "paper" | "lossless" => Ok(Formulation::Dc),
            "lindistflow" | "ldf" | "linear" => Ok(Formulation::LinDistFlow),
            "socp" | "distflow" | "branchflow" | "convexdistflow" => Ok(Formulation::Socp),
            _ => Err(format!(
                "formulation must be dc, lindistflow or socp, got '{s}'"
            )),
        }
    }
}

/// How the lossless formulation is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DcAlgorithm {
    /// The sparse branch-flow QP through the interior point that
    /// `OpfOptions::conic_solver` names (tree-ipm unless set to Clarabel;
    /// the default). The variant's name predates tree-ipm.
    #[default]
    Clarabel,
    /// ogg-market's exact tree algorithm ([`tree`]): same answer, much faster.
    Tree,
}

impl std::str::FromStr for DcAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "clarabel" | "ipm" | "qp" => Ok(DcAlgorithm::Clarabel),
            "tree" | "exact" => Ok(DcAlgorithm::Tree),
            other => Err(format!(
                "solver must be 'clarabel' or 'tree', got '{other}'"
            )),
        }
    }
}

/// Which interior point solves the conic programs (every formulation except
/// the lossless one cleared by [`DcAlgorithm::Tree`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConicSolver {
    /// Clarabel 0.11, the reference.
    Clarabel,
    /// Our tree-structured interior point ([`ipm`]): the same problem and
    /// duals, its KKT system eliminated along the feeder; falls back to
    /// Clarabel when it does not converge.
    #[default]
    TreeIpm,
}

impl std::str::FromStr for ConicSolver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "clarabel" => Ok(ConicSolver::Clarabel),
            "tree-ipm" | "treeipm" | "ipm" => Ok(ConicSolver::TreeIpm),
            other => Err(format!(
                "conic solver must be 'clarabel' or 'tree-ipm', got '{other}'"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpfOptions {
    pub formulation: Formulation,
    /// Solver of the lossless formulation.
    pub dc_algorithm: DcAlgorithm,
    /// Interior point of the conic programs (LinDistFlow, SOCP, and the
    /// lossless model unless `dc_algorithm` is the tree algorithm).
    pub conic_solver: ConicSolver,
    /// Transmission price at the feeder head, $/MWh.
    pub lmp_source: f64,
    /// Price paid for exports to the transmission grid, $/MWh (the paper: 0).
    pub export_price: f64,
    /// Source voltage, per unit (LinDistFlow, SOCP).
    pub v_source_pu: f64,
    /// Voltage band at every other bus, per unit (LinDistFlow, SOCP); 0 / ∞ switch a side off.
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    /// LinDistFlow, SOCP: regulators hold their band with a floating ratio
    /// (else their ratio is fixed at the base case's tap).
    pub regulators: bool,
    /// Buses exempt from the voltage band (e.g. the substation side of a
    /// regulator, which the regulator corrects), by name.
    pub v_exempt: Vec<String>,
    /// LinDistFlow: model the losses (linearised).
    pub losses: bool,
    /// LinDistFlow: re-linearise the losses at the solution this many times
    /// (0: the base point is the flow of the fixed demand alone).
    pub loss_iterations: usize,
    /// LinDistFlow: a given base point for the losses, (kW, kvar) per edge
    /// (indexed by bus id), instead of the flows of the fixed demand.
    pub loss_base_kw: Option<Vec<(f64, f64)>>,
    /// SOCP: a line's relaxation counts as exact when its relative gap is below this.
    pub exactness_tol: f64,
    /// Clarabel's gap and feasibility tolerances (its KKT-ratio tolerance is 100× this).
    pub tolerance: f64,
}

impl Default for OpfOptions {
    fn default() -> Self {
        OpfOptions {
            formulation: Formulation::Dc,
            dc_algorithm: DcAlgorithm::Clarabel,
            conic_solver: ConicSolver::default(),
            lmp_source: 30.0,
            export_price: 0.0,
            v_source_pu: 1.0,
            v_min_pu: 0.95,
            v_max_pu: 1.05,
            regulators: true,
            v_exempt: Vec::new(),
            losses: true,
            loss_iterations: 0,
            loss_base_kw: None,
            exactness_tol: 1e-4,
            tolerance: 1e-9,
        }
    }
}

impl OpfOptions {
    pub fn with_formulation(mut self, f: Formulation) -> Self {
        self.formulation = f;
        self
    }
    pub fn with_lmp(mut self, lmp: f64) -> Self {
        self.lmp_source = lmp;
        self
    }
    /// Sets the solver from its name (the CLI's `--solver`): `clarabel`
    /// (Clarabel for everything), `tree-ipm` (our interior point for every
    /// formulation) or `tree` (the exact tree algorithm for the lossless
    /// model; the others keep their interior point).
    pub fn set_solver(&mut self, name: &str) -> Result<(), String> {
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "tree" | "exact" => self.dc_algorithm = DcAlgorithm::Tree,
            other => {
                self.conic_solver = other.parse().map_err(|_| {
                    format!("solver must be 'clarabel', 'tree-ipm' or 'tree', got '{name}'")
                })?;
                self.dc_algorithm = DcAlgorithm::Clarabel;
            }
        }
        Ok(())
    }
    fn check(&self) -> Result<(), DlmpError> {
        for (name, v) in [
            ("lmp_source", self.lmp_source),
            ("export_price", self.export_price),
            ("v_source_pu", self.v_source_pu),
        ] {
            if !v.is_finite() {
                return Err(DlmpError::Input(format!(
                    "{name} is {v}, must be a finite number"
                )));
            }
        }
        if self.v_source_pu <= 0.0
            || self.v_min_pu.is_nan()
            || self.v_max_pu.is_nan()
            || self.v_min_pu > self.v_max_pu
        {
            return Err(DlmpError::Input(format!(
                "voltages: source {} pu, band [{}, {}] pu are not usable",
                self.v_source_pu, self.v_min_pu, self.v_max_pu
            )));
        }
        Ok(())
    }
    /// The export price the OPF uses: min(export price, LMP) (see the module docs).
    pub fn effective_export_price(&self) -> f64 {
        self.export_price.min(self.lmp_source)
    }
}

/// How the OPF ended.
#[derive(Debug, Clone, PartialEq)]
pub enum OpfStatus {
    Optimal,
    /// No dispatch meets the hard constraints; `agents` are those whose hard
    /// minimums (fixed demand, minimum consumption, must-run output) are involved.
    Infeasible {
        reason: String,
        agents: Vec<String>,
    },
    /// The solver stopped without an answer (iteration limit, numerical trouble).
    Failed {
        reason: String,
    },
}

impl OpfStatus {
    pub fn is_optimal(&self) -> bool {
        matches!(self, OpfStatus::Optimal)
    }
    pub fn label(&self) -> &'static str {
        match self {
            OpfStatus::Optimal => "optimal",
            OpfStatus::Infeasible { .. } => "infeasible",
            OpfStatus::Failed { .. } => "failed",
        }
    }
    pub fn reason(&self) -> String {
        match self {
            OpfStatus::Optimal => String::new(),
            OpfStatus::Infeasible { reason, .. } | OpfStatus::Failed { reason } => reason.clone(),
        }
    }
}

/// DLMP components per bus, $/MWh (see the module docs). energy + congestion
/// + voltage + loss = DLMP.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decomposition {
    pub energy: f64,
    pub congestion: Vec<f64>,
    pub voltage: Vec<f64>,
    pub loss: Vec<f64>,
}

impl Decomposition {
    /// Sum of the components at bus j.
    pub fn total(&self, j: usize) -> f64 {
        self.energy + self.congestion[j] + self.voltage[j] + self.loss[j]
    }
    /// Largest |Σ components − DLMP| over the buses, $/MWh.
    pub fn residual(&self, dlmp: &[f64]) -> f64 {
        dlmp.iter()
            .enumerate()
            .map(|(j, &l)| (self.total(j) - l).abs())
            .fold(0.0, f64::max)
    }
}

/// Everything one OPF produces. Per-bus vectors are indexed by bus id,
/// per-edge vectors by the child bus id (the root's entry is unused).
#[derive(Debug, Clone, PartialEq)]
pub struct DlmpSolution {
    pub status: OpfStatus,
    pub formulation: Formulation,
    pub lmp_source: f64,
    /// Price of active power at every bus, $/MWh.
    pub dlmp: Vec<f64>,
    /// Price of reactive power at every bus, $/Mvarh (0 for the lossless model).
    pub q_price: Vec<f64>,
    pub decomposition: Decomposition,
    /// Per offer: net active injection, kW (+ produced, − consumed).
    pub injection_kw: Vec<f64>,
    /// Per offer: reactive injection, kvar.
    pub injection_kvar: Vec<f64>,
    /// Per offer: its decision variable (generator output or DR curtailment), kW.
    pub variable_kw: Vec<f64>,
    /// Active and reactive flow into each bus at the sending end, kW / kvar.
    pub flow_p_kw: Vec<f64>,
    pub flow_q_kvar: Vec<f64>,
    /// Losses of each edge in the model, kW.
    pub loss_kw: Vec<f64>,
    /// Voltage ratio of each edge in the model (a regulator's chosen tap; 1 for lines).
    pub tap: Vec<f64>,
    /// Voltage magnitude of each bus in the model, pu (1 for the lossless model).
    pub voltage_pu: Vec<f64>,
    /// SOCP: relaxation gap per edge, (ℓ − (P² + Q²)/t²w) / max(ℓ, 10⁻³): 0 where
    /// the relaxation is exact (NaN for the other formulations).
    pub socp_gap: Vec<f64>,
    /// SOCP: losses the relaxation invents on each edge (r·(ℓ − (P² + Q²)/t²w)), kW.
    pub socp_phantom_loss_kw: Vec<f64>,
    /// Per edge: its congestion term C_e, $/MWh (≠ 0 when its limit binds).
    pub congestion_dual: Vec<f64>,
    pub source_p_kw: f64,
    pub source_q_kvar: f64,
    /// LinDistFlow: the base point of the loss linearisation per edge (kW, kvar).
    pub loss_base_kw: Vec<(f64, f64)>,
    /// Offered cost of the dispatch plus the energy bought at the source, $/h.
    pub objective: f64,
    pub iterations: u32,
    /// Solver time of the last solve (excluding problem assembly), s.
    pub solve_seconds: f64,
    /// Whether the last solve had to build a new solver (else it updated one in place).
    pub rebuilt: bool,
    /// Which solver produced it: "clarabel", "tree-ipm", "tree", or
    /// "clarabel (tree-ipm fallback)" when our interior point did not converge.
    pub solver: &'static str,
}

impl DlmpSolution {
    fn empty(n: usize, k: usize, formulation: Formulation, lmp: f64, status: OpfStatus) -> Self {
        DlmpSolution {
            status,
            formulation,
            lmp_source: lmp,
            dlmp: vec![f64::NAN; n],
            q_price: vec![f64::NAN; n],
            decomposition: Decomposition {
                energy: f64::NAN,
                congestion: vec![f64::NAN; n],
                voltage: vec![f64::NAN; n],
                loss: vec![f64::NAN; n],
            },
            injection_kw: vec![0.0; k],
            injection_kvar: vec![0.0; k],
            variable_kw: vec![0.0; k],
            flow_p_kw: vec![0.0; n],
            flow_q_kvar: vec![0.0; n],
            loss_kw: vec![0.0; n],
            tap: vec![1.0; n],
            voltage_pu: vec![f64::NAN; n],
            socp_gap: vec![f64::NAN; n],
            socp_phantom_loss_kw: vec![f64::NAN; n],
            congestion_dual: vec![0.0; n],
            source_p_kw: f64::NAN,
            source_q_kvar: f64::NAN,
            loss_base_kw: vec![(0.0, 0.0); n],
            objective: f64::NAN,
            iterations: 0,
            solve_seconds: 0.0,
            rebuilt: false,
            solver: "",
        }
    }
    pub fn is_optimal(&self) -> bool {
        self.status.is_optimal()
    }
    /// Edges whose limit binds (|C_e| above `tol` $/MWh).
    pub fn congested_edges(&self, net: &DlmpNetwork, tol: f64) -> Vec<usize> {
        net.edges()
            .filter(|&e| self.congestion_dual[e].abs() > tol)
            .collect()
    }
    /// Largest relative SOCP gap (NaN for the other formulations).
    pub fn max_socp_gap(&self) -> f64 {
        self.socp_gap
            .iter()
            .copied()
            .filter(|g| !g.is_nan())
            .fold(f64::NAN, |a, g| if a.is_nan() { g } else { a.max(g) })
    }
    /// Whether the SOCP relaxation is exact on every line (within `tol`).
    pub fn relaxation_exact(&self, tol: f64) -> Option<bool> {
        (self.formulation == Formulation::Socp && self.is_optimal())
            .then(|| self.socp_gap.iter().all(|g| g.is_nan() || *g <= tol))
    }
}

/// Variable and row indices of one assembled problem.
struct Layout {
    /// Per offer: first variable and count (0 if none), and the Q variable.
    offer_vars: Vec<(usize, usize)>,
    offer_q_var: Vec<Option<usize>>,
    s_plus: usize,
    s_minus: usize,
    q_source: Option<usize>,
    /// Per bus/edge (NO = usize::MAX).
    flow_p: Vec<usize>,
    flow_q: Vec<usize>,
    w: Vec<usize>,
    ell: Vec<usize>,
    /// Regulated edges: squared voltage after the floating ratio (t²·w_parent).
    w_sec: Vec<usize>,
    /// Regulated edges: ratio range rows (upper, lower) and band rows on the regulated bus.
    tap_rows: Vec<Option<(Row, Row)>>,
    band_rows: Vec<Option<(Row, Row)>>,
    p_bal: Vec<Row>,
    q_bal: Vec<Option<Row>>,
    vdrop: Vec<Option<Row>>,
    /// DC: (upper, lower) limit rows; others: SOC block first row.
    dc_limit: Vec<Option<(Row, Row)>>,
    soc_limit: Vec<Option<Row>>,
    relax: Vec<Option<Row>>,
    /// Voltage limit rows (upper, lower).
    v_upper: Vec<Option<Row>>,
    v_lower: Vec<Option<Row>>,
    /// LinDistFlow loss linearisation per edge: (a, b, a', b', constant P, constant Q).
    loss_coef: Vec<[f64; 6]>,
    /// The first single-variable bound row (offers' variables in order, then
    /// s⁺, s⁻: consecutive rows, two per variable).
    first_bound_row: Option<Row>,
}

/// The layout's rows as indices into the duals z (NO where a bus or edge has
/// none): resolved once per structure, read by `extract` for every interval.
struct DualRows {
    p_bal: Vec<usize>,
    q_bal: Vec<usize>,
    vdrop: Vec<usize>,
    /// Second row of each |S| limit's cone (its P component).
    soc_p: Vec<usize>,
    /// Second row of each SOCP relaxation cone (its 2P component).
    relax_p: Vec<usize>,
    v_upper: Vec<usize>,
    v_lower: Vec<usize>,
    tap_upper: Vec<usize>,
    tap_lower: Vec<usize>,
    band_upper: Vec<usize>,
    band_lower: Vec<usize>,
    dc_upper: Vec<usize>,
    dc_lower: Vec<usize>,
}

impl DualRows {
    fn new(problem: &Problem, lay: &Layout) -> Self {
        let at = |r: Option<Row>| r.map_or(NO, |r| problem.row(r));
        let next = |r: Option<Row>| r.map_or(NO, |r| problem.row(r) + 1);
        let pair = |rows: &[Option<(Row, Row)>]| -> (Vec<usize>, Vec<usize>) {
            rows.iter()
                .map(|r| r.map_or((NO, NO), |(u, l)| (problem.row(u), problem.row(l))))
                .unzip()
        };
        let (tap_upper, tap_lower) = pair(&lay.tap_rows);
        let (band_upper, band_lower) = pair(&lay.band_rows);
        let (dc_upper, dc_lower) = pair(&lay.dc_limit);
        DualRows {
            p_bal: lay.p_bal.iter().map(|&r| problem.row(r)).collect(),
            q_bal: lay.q_bal.iter().map(|&r| at(r)).collect(),
            vdrop: lay.vdrop.iter().map(|&r| at(r)).collect(),
            soc_p: lay.soc_limit.iter().map(|&r| next(r)).collect(),
            relax_p: lay.relax.iter().map(|&r| next(r)).collect(),
            v_upper: lay.v_upper.iter().map(|&r| at(r)).collect(),
            v_lower: lay.v_lower.iter().map(|&r| at(r)).collect(),
            tap_upper,
            tap_lower,
            band_upper,
            band_lower,
            dc_upper,
            dc_lower,
        }
    }
}

const NO: usize = usize::MAX;

/// Squared current (pu) below which the SOCP gap is measured absolutely.
pub const SOCP_GAP_FLOOR: f64 = 1e-3;

fn settings(tol: f64) -> DefaultSettings<f64> {
    let tol = if tol.is_finite() && tol > 0.0 {
        tol
    } else {
        1e-9
    };
    DefaultSettingsBuilder::default()
        .verbose(false)
        .presolve_enable(false)
        .input_sparse_dropzeros(false)
        .tol_gap_abs(tol)
        .tol_gap_rel(tol)
        .tol_feas(tol)
        .tol_ktratio((tol * 100.0).min(1e-4))
        // Iterative refinement doubles the time of each KKT solve on these
        // tree-structured systems; on only for tight tolerances (≤ 1e-10),
        // where Clarabel serves as the reference of tests.
        .iterative_refinement_enable(tol <= 1e-10)
        .max_iter(200)
        .build()
        .expect("static Clarabel settings are valid")
}

/// A reusable OPF: keeps the Clarabel solver of the last problem and updates
/// it in place when the next problem has the same structure (same network,
/// formulation, offers' buses and curve shapes), so that a new interval's
/// data (LMP, costs, demand) costs only the interior-point iterations.
#[derive(Default)]
pub struct OpfSolver {
    /// The last problem's data, its solver, and the tolerance it was built with.
    cached: Option<(Problem, DefaultSolver<f64>, f64)>,
    /// The same for our interior point.
    cached_ipm: Option<(Problem, builder::BuildMap, ipm::TreeIpm, f64)>,
    /// Where a new interval's values go in `cached_ipm`'s problem (re-solves
    /// of the same structure skip the assembly).
    ipm_plan: Option<IntervalPlan>,
    /// The last interval's builder, emptied, for the next assembly.
    spare_builder: Builder,
    auctioneer: ogg_market::Auctioneer,
    tree_work: tree::TreeWorkspace,
}

impl std::fmt::Debug for OpfSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpfSolver")
            .field("cached", &self.cached.is_some())
            .field("cached_ipm", &self.cached_ipm.is_some())
            .finish()
    }
}

impl Clone for OpfSolver {
    /// A clone starts without a cached solver (Clarabel's solver is not clonable).
    fn clone(&self) -> Self {
        OpfSolver::default()
    }
}

impl OpfSolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Solves the OPF for these offers (LinDistFlow: repeated
    /// `loss_iterations` times with the losses re-linearised at the solution).
    pub fn solve(
        &mut self,
        net: &DlmpNetwork,
        offers: &[PlacedOffer],
        opts: &OpfOptions,
    ) -> Result<DlmpSolution, DlmpError> {
        opts.check()?;
        if opts.formulation == Formulation::Dc && opts.dc_algorithm == DcAlgorithm::Tree {
            return tree::solve_tree(net, offers, opts, &mut self.auctioneer, &mut self.tree_work);
        }
        let kb = net.s_base_kva;
        let mut base = match &opts.loss_base_kw {
            Some(b) if b.len() == net.len() => b.iter().map(|&(p, q)| (p / kb, q / kb)).collect(),
            Some(b) => {
                return Err(DlmpError::Input(format!(
                    "loss base point has {} entries for {} buses",
                    b.len(),
                    net.len()
                )));
            }
            // Only the linearised losses use a base point.
            None if opts.formulation == Formulation::LinDistFlow && opts.losses => {
                demand_flows(net, offers)
            }
            None => Vec::new(),
        };
        let mut sol = self.solve_once(net, offers, opts, &base)?;
        if opts.formulation == Formulation::LinDistFlow && opts.losses {
            for _ in 0..opts.loss_iterations {
                if !sol.is_optimal() {
                    break;
                }
                base = (0..net.len())
                    .map(|e| (sol.flow_p_kw[e] / kb, sol.flow_q_kvar[e] / kb))
                    .collect();
                sol = self.solve_once(net, offers, opts, &base)?;
            }
        }
        Ok(sol)
    }

    fn solve_once(
        &mut self,
        net: &DlmpNetwork,
        offers: &[PlacedOffer],
        opts: &OpfOptions,
        loss_base: &[(f64, f64)],
    ) -> Result<DlmpSolution, DlmpError> {
        let mut fallback_reason = None;
        if opts.conic_solver == ConicSolver::TreeIpm {
            match self.solve_tree_ipm(net, offers, opts, loss_base)? {
                Ok(sol) => return Ok(sol),
                Err(reason) => fallback_reason = Some(reason),
            }
        }
        // Clarabel (or, after our interior point failed, Clarabel decides).
        let recycled = std::mem::take(&mut self.spare_builder);
        let (builder, layout) = assemble_rows(net, offers, opts, loss_base, recycled);
        let problem = builder.build();
        let rebuilt;
        let reuse = matches!(&self.cached, Some((p, _, tol)) if p.same_pattern(&problem) && *tol == opts.tolerance);
        if reuse {
            let (old, solver, _) = self.cached.as_mut().expect("checked above");
            solver
                .update_P(&problem.p.nzval)
                .and_then(|_| solver.update_q(&problem.q))
                .and_then(|_| solver.update_A(&problem.a.nzval))
                .and_then(|_| solver.update_b(&problem.b))
                .map_err(|e| DlmpError::Solver(format!("Clarabel update failed: {e:?}")))?;
            *old = problem;
            rebuilt = false;
        } else {
            let solver = DefaultSolver::new(
                &problem.p,
                &problem.q,
                &problem.a,
                &problem.b,
                &problem.cones,
                settings(opts.tolerance),
            )
            .map_err(|e| DlmpError::Solver(format!("Clarabel setup failed: {e:?}")))?;
            self.cached = Some((problem, solver, opts.tolerance));
            rebuilt = true;
        }
        let (problem, solver, _) = self.cached.as_mut().expect("set above");
        let start = Instant::now();
        solver.solve();
        let solve_seconds = start.elapsed().as_secs_f64();
        let status = match solver.solution.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => RawStatus::Solved,
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
                RawStatus::PrimalInfeasible
            }
            SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => {
                RawStatus::DualInfeasible
            }
            other => RawStatus::Other(format!(
                "Clarabel stopped with status {other:?} after {} iterations",
                solver.solution.iterations
            )),
        };
        let raw = RawResult {
            status,
            x: &solver.solution.x,
            z: &solver.solution.z,
            iterations: solver.solution.iterations,
        };
        let rows = DualRows::new(problem, &layout);
        let mut sol = extract(net, offers, opts, &layout, &rows, &raw);
        sol.solve_seconds = solve_seconds;
        sol.rebuilt = rebuilt;
        sol.solver = if fallback_reason.is_some() {
            "clarabel (tree-ipm fallback)"
        } else {
            "clarabel"
        };
        if opts.formulation == Formulation::LinDistFlow && opts.losses {
            let kb = net.s_base_kva;
            sol.loss_base_kw = loss_base.iter().map(|&(p, q)| (p * kb, q * kb)).collect();
        }
        Ok(sol)
    }

    /// Our interior point on this interval's problem: Ok(Err(reason)) when
    /// it did not converge (the caller asks Clarabel).
    fn solve_tree_ipm(
        &mut self,
        net: &DlmpNetwork,
        offers: &[PlacedOffer],
        opts: &OpfOptions,
        loss_base: &[(f64, f64)],
    ) -> Result<Result<DlmpSolution, String>, DlmpError> {
        // The plan of the cached problem fits this interval: its values go
        // straight into the cached problem, no assembly.
        let planned = match (&mut self.cached_ipm, &mut self.ipm_plan) {
            (Some((problem, _, _, tol)), Some(plan))
                if *tol == opts.tolerance && plan.matches(net, offers, opts) =>
            {
                plan.write(net, offers, opts, loss_base, problem);
                true
            }
            _ => false,
        };
        let mut assembled = None;
        let mut rebuilt = false;
        if planned {
            let (problem, _, solver, _) = self.cached_ipm.as_mut().expect("matched above");
            solver.update(problem);
        } else {
            // The plan no longer describes the cached problem once other values go in.
            self.ipm_plan = None;
            let recycled = std::mem::take(&mut self.spare_builder);
            let (builder, layout) = assemble_rows(net, offers, opts, loss_base, recycled);
            // The same structure as the last interval: its new values go
            // into the cached problem and solver.
            let reuse = match &mut self.cached_ipm {
                Some((p, map, _, tol)) if *tol == opts.tolerance => builder.update_problem(p, map),
                _ => false,
            };
            if reuse {
                let (problem, _, solver, _) = self.cached_ipm.as_mut().expect("checked above");
                solver.update(problem);
                self.spare_builder = builder;
            } else {
                let (problem, map) = builder.build_with_map();
                let mut settings = ipm::IpmSettings::with_tolerance(opts.tolerance);
                // The crossover serves LinDistFlow (1k buses: −15 % of a
                // re-solve's instructions; the lossless model's interior
                // point needs ~4 iterations, nothing to gain). A floating
                // regulator ratio leaves the voltages below it free within
                // the band (the optimum is not unique there): the interior
                // point from the last solution ends at the centre of that
                // range, a crossover or a start from an earlier iterate at
                // other points of it (up to 1e-2 pu apart on IEEE 37), so
                // neither is used there.
                let floating_ratio = opts.formulation != Formulation::Dc
                    && opts.regulators
                    && net.regulation.iter().any(Option::is_some);
                if opts.formulation != Formulation::LinDistFlow || floating_ratio {
                    settings.crossover_below_gap = 0.0;
                }
                if opts.formulation == Formulation::Socp && floating_ratio {
                    // The same for Newton on the SOCP's last active set
                    // (LinDistFlow's keeps it: its re-solves on IEEE 37 were
                    // measured with it, `ogg run uc3`).
                    settings.active_set = false;
                }
                if opts.formulation == Formulation::Dc || floating_ratio {
                    // (The lossless model: −1 % at 1k buses, not worth a
                    // different path.)
                    settings.central_start_gap = 0.0;
                }
                self.cached_ipm = None;
                self.ipm_plan = None;
                let solver = ipm::TreeIpm::new(&problem, settings).map_err(DlmpError::Solver)?;
                self.cached_ipm = Some((problem, map, solver, opts.tolerance));
                rebuilt = true;
            }
            assembled = Some(layout);
        }
        let (problem, map, solver, _) = self.cached_ipm.as_mut().expect("set above");
        let start = Instant::now();
        let status = solver.solve();
        let solve_seconds = start.elapsed().as_secs_f64();
        let status = match status {
            ipm::IpmStatus::Solved => RawStatus::Solved,
            ipm::IpmStatus::PrimalInfeasible => RawStatus::PrimalInfeasible,
            ipm::IpmStatus::Failed(reason) => return Ok(Err(reason)),
        };
        let unplanned;
        let (layout, rows) = match assembled {
            // The problem was assembled (a new structure, or new fixed
            // values): a new plan for the next interval.
            Some(layout) => {
                match IntervalPlan::new(net, offers, opts, problem, layout, map.merged_entries()) {
                    Ok(plan) => {
                        let plan = self.ipm_plan.insert(plan);
                        (&plan.layout, &plan.rows)
                    }
                    Err(layout) => {
                        self.ipm_plan = None;
                        let rows = DualRows::new(problem, &layout);
                        unplanned = (layout, rows);
                        (&unplanned.0, &unplanned.1)
                    }
                }
            }
            None => match &self.ipm_plan {
                Some(plan) => (&plan.layout, &plan.rows),
                None => {
                    return Err(DlmpError::Solver(
                        "internal: a planned problem update without its plan".into(),
                    ))
                }
            },
        };
        let raw = RawResult {
            status,
            x: solver.x(),
            z: solver.z(),
            iterations: solver.iterations,
        };
        let mut sol = extract(net, offers, opts, layout, rows, &raw);
        sol.solve_seconds = solve_seconds;
        sol.rebuilt = rebuilt;
        sol.solver = "tree-ipm";
        if opts.formulation == Formulation::LinDistFlow && opts.losses {
            let kb = net.s_base_kva;
            sol.loss_base_kw = loss_base.iter().map(|&(p, q)| (p * kb, q * kb)).collect();
        }
        Ok(Ok(sol))
    }
}

/// One OPF with a fresh solver.
pub fn solve(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    opts: &OpfOptions,
) -> Result<DlmpSolution, DlmpError> {
    OpfSolver::new().solve(net, offers, opts)
}

/// Flows (pu) that the fixed demand alone (loads, DR baselines) would cause:
/// the default base point of the linearised losses.
pub fn demand_flows(net: &DlmpNetwork, offers: &[PlacedOffer]) -> Vec<(f64, f64)> {
    let mut flows = vec![(0.0, 0.0); net.len()];
    for o in offers {
        let (p, q) = &mut flows[o.bus];
        *p += o.fixed_demand;
        *q += o.fixed_demand * o.q_per_p;
    }
    // Children after parents: accumulate bottom-up.
    for &i in net.tree.order.iter().rev() {
        if let Some(par) = net.parent(i) {
            let (p, q) = flows[i];
            flows[par].0 += p;
            flows[par].1 += q;
        }
    }
    flows
}

fn assemble(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    opts: &OpfOptions,
    loss_base: &[(f64, f64)],
) -> (Problem, Layout) {
    let (b, lay) = assemble_rows(net, offers, opts, loss_base, Builder::new());
    (b.build(), lay)
}

/// The problem's rows in a builder (built by [`assemble`], or written into
/// the last interval's problem in place when the structure is the same).
fn assemble_rows(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    opts: &OpfOptions,
    loss_base: &[(f64, f64)],
    mut b: Builder,
) -> (Builder, Layout) {
    let n = net.len();
    let f = opts.formulation;
    let branch = f != Formulation::Dc;
    let mw = net.s_base_kva / 1000.0;
    let root = net.root();
    b.recycle();
    let mut lay = Layout {
        offer_vars: Vec::with_capacity(offers.len()),
        offer_q_var: Vec::with_capacity(offers.len()),
        s_plus: NO,
        s_minus: NO,
        q_source: None,
        flow_p: vec![NO; n],
        flow_q: vec![NO; n],
        w: vec![NO; n],
        ell: vec![NO; n],
        w_sec: vec![NO; n],
        tap_rows: vec![None; n],
        band_rows: vec![None; n],
        p_bal: Vec::with_capacity(n),
        q_bal: vec![None; n],
        vdrop: vec![None; n],
        dc_limit: vec![None; n],
        soc_limit: vec![None; n],
        relax: vec![None; n],
        v_upper: vec![None; n],
        v_lower: vec![None; n],
        loss_coef: vec![[0.0; 6]; n],
        first_bound_row: None,
    };
    // Injection terms per bus: (variable, coefficient) for P and Q, and fixed demand.
    let mut p_terms = BusTerms::with_capacity(offers.len() + 2);
    let mut q_terms = BusTerms::with_capacity(offers.len() + 1);
    let mut p_demand = vec![0.0; n];
    let mut q_demand = vec![0.0; n];
    // Single-variable bounds: ((variable, ±1), right-hand side).
    let mut bound_rows: Vec<((usize, f64), f64)> = Vec::with_capacity(2 * offers.len() + 4);

    for o in offers {
        let shape = OfferShape::of(o, branch);
        add_fixed_injections(o, shape, branch, &mut p_demand, &mut q_demand);
        if !shape.p_var {
            // A fixed output (or none): a constant injection (in p_demand).
            lay.offer_vars.push((NO, 0));
        } else {
            // The variable (output or curtailment) enters the balance as an
            // injection; curtailment also removes its reactive demand.
            let q_coef = shape.q_coef(o);
            match &o.cost {
                PlacedCost::Quadratic { c1, c2 } => {
                    let v = b.var_quadratic(*c1, 2.0 * c2);
                    p_terms.push(o.bus, (v, 1.0));
                    if shape.q_term {
                        q_terms.push(o.bus, (v, q_coef));
                    }
                    bound_rows.push(((v, 1.0), o.hi));
                    bound_rows.push(((v, -1.0), -o.lo));
                    lay.offer_vars.push((v, 1));
                }
                PlacedCost::Segments { widths, slopes } => {
                    // x = lo + Σ segments: the constant lo is an injection (in p_demand).
                    let first = b.n_vars();
                    for (w, s) in widths.iter().zip(slopes) {
                        let v = b.var(*s);
                        p_terms.push(o.bus, (v, 1.0));
                        if shape.q_term {
                            q_terms.push(o.bus, (v, q_coef));
                        }
                        bound_rows.push(((v, 1.0), *w));
                        bound_rows.push(((v, -1.0), 0.0));
                    }
                    lay.offer_vars.push((first, widths.len()));
                }
            }
        }
        if shape.q_var {
            let v = b.var(0.0);
            q_terms.push(o.bus, (v, 1.0));
            bound_rows.push(((v, 1.0), o.q_hi));
            bound_rows.push(((v, -1.0), -o.q_lo));
            lay.offer_q_var.push(Some(v));
        } else {
            lay.offer_q_var.push(None);
        }
    }
    // Source: s⁺ − s⁻ at the root (energy bought at the LMP, sold at the export price).
    lay.s_plus = b.var(opts.lmp_source * mw);
    lay.s_minus = b.var(-opts.effective_export_price() * mw);
    p_terms.push(root, (lay.s_plus, 1.0));
    p_terms.push(root, (lay.s_minus, -1.0));
    bound_rows.push(((lay.s_plus, -1.0), 0.0));
    bound_rows.push(((lay.s_minus, -1.0), 0.0));
    if branch {
        let v = b.var(0.0);
        q_terms.push(root, (v, 1.0));
        lay.q_source = Some(v);
    }
    // Flow variables.
    for e in net.edges() {
        lay.flow_p[e] = b.var(0.0);
        if branch {
            lay.flow_q[e] = b.var(0.0);
            lay.w[e] = b.var(0.0);
        }
        if f == Formulation::Socp {
            lay.ell[e] = b.var(0.0);
        }
        if branch && opts.regulators && net.regulation[e].is_some() {
            lay.w_sec[e] = b.var(0.0);
        }
    }
    let w0 = opts.v_source_pu * opts.v_source_pu;
    // LinDistFlow losses r(P² + Q²)/w linearised at the base point (P0, Q0), w = 1.
    if f == Formulation::LinDistFlow && opts.losses {
        for e in net.edges() {
            lay.loss_coef[e] = loss_coefficients(net, loss_base, e);
        }
    }
    let (p_terms, q_terms) = (p_terms.by_bus(n), q_terms.by_bus(n));
    // One buffer for the rows below (assembly runs for every interval).
    let mut row: Vec<(usize, f64)> = Vec::with_capacity(16);
    // Balance rows: supply − consumption = fixed demand.
    for j in 0..n {
        row.clear();
        row.extend_from_slice(p_terms.of(j));
        let mut rhs = p_demand[j];
        if net.parent(j).is_some() {
            let e = j;
            let c = lay.loss_coef[e];
            match f {
                Formulation::Dc => row.push((lay.flow_p[e], 1.0)),
                Formulation::LinDistFlow => {
                    row.push((lay.flow_p[e], 1.0 - c[0]));
                    row.push((lay.flow_q[e], -c[1]));
                    rhs += c[4];
                }
                Formulation::Socp => {
                    row.push((lay.flow_p[e], 1.0));
                    row.push((lay.ell[e], -net.r_pu[e]));
                }
            }
        }
        for &c in net.children(j) {
            row.push((lay.flow_p[c], -1.0));
        }
        lay.p_bal.push(b.eq(&row, rhs));
    }
    if branch {
        for j in 0..n {
            row.clear();
            row.extend_from_slice(q_terms.of(j));
            let mut rhs = q_demand[j];
            if net.parent(j).is_some() {
                let e = j;
                let c = lay.loss_coef[e];
                match f {
                    Formulation::LinDistFlow => {
                        row.push((lay.flow_q[e], 1.0 - c[3]));
                        row.push((lay.flow_p[e], -c[2]));
                        rhs += c[5];
                    }
                    _ => {
                        row.push((lay.flow_q[e], 1.0));
                        row.push((lay.ell[e], -net.x_pu[e]));
                    }
                }
            }
            for &c in net.children(j) {
                row.push((lay.flow_q[c], -1.0));
            }
            lay.q_bal[j] = Some(b.eq(&row, rhs));
        }
        // Voltage drop along each edge: w_j − t²·w_i + 2(rP + xQ) [− |z|²ℓ] = 0.
        for e in net.edges() {
            let i = net.tree.parent[e];
            let t2 = net.tap[e] * net.tap[e];
            let (r, x) = (net.r_pu[e], net.x_pu[e]);
            row.clear();
            row.extend_from_slice(&[
                (lay.w[e], 1.0),
                (lay.flow_p[e], 2.0 * r),
                (lay.flow_q[e], 2.0 * x),
            ]);
            let mut rhs = 0.0;
            if lay.w_sec[e] != NO {
                row.push((lay.w_sec[e], -1.0));
            } else if i == root {
                rhs = t2 * w0;
            } else {
                row.push((lay.w[i], -t2));
            }
            if f == Formulation::Socp {
                row.push((lay.ell[e], -(r * r + x * x)));
            }
            lay.vdrop[e] = Some(b.eq(&row, rhs));
        }
    }
    // Inequalities: offer bounds, source, line limits (lossless), voltages.
    for (k, &(coeff, rhs)) in bound_rows.iter().enumerate() {
        let r = b.le(&[coeff], rhs);
        if k == 0 {
            lay.first_bound_row = Some(r);
        }
    }
    let kb = net.s_base_kva;
    for e in net.edges() {
        let lim = net.limit_kw(e) / kb;
        if f == Formulation::Dc && lim.is_finite() {
            let up = b.le(&[(lay.flow_p[e], 1.0)], lim);
            let lo = b.le(&[(lay.flow_p[e], -1.0)], lim);
            lay.dc_limit[e] = Some((up, lo));
        }
    }
    if branch {
        // Regulators: t_min²·w_i ≤ w_sec ≤ t_max²·w_i, and the regulated bus within the band.
        for e in net.edges() {
            let (Some(reg), true) = (net.regulation[e], lay.w_sec[e] != NO) else {
                continue;
            };
            let i = net.tree.parent[e];
            let (hi2, lo2) = (reg.tap_max * reg.tap_max, reg.tap_min * reg.tap_min);
            let ws = lay.w_sec[e];
            let rows = if i == root {
                (b.le(&[(ws, 1.0)], hi2 * w0), b.le(&[(ws, -1.0)], -lo2 * w0))
            } else {
                (
                    b.le(&[(ws, 1.0), (lay.w[i], -hi2)], 0.0),
                    b.le(&[(ws, -1.0), (lay.w[i], lo2)], 0.0),
                )
            };
            lay.tap_rows[e] = Some(rows);
            lay.band_rows[e] = Some((
                b.le(&[(lay.w[e], 1.0)], reg.v_high_pu * reg.v_high_pu),
                b.le(&[(lay.w[e], -1.0)], -reg.v_low_pu * reg.v_low_pu),
            ));
        }
        let (vmin2, vmax2) = (opts.v_min_pu * opts.v_min_pu, opts.v_max_pu * opts.v_max_pu);
        let exempt: Vec<usize> = opts
            .v_exempt
            .iter()
            .filter_map(|b| net.bus_index(b))
            .collect();
        for e in net.edges().filter(|e| !exempt.contains(e)) {
            if vmax2.is_finite() {
                lay.v_upper[e] = Some(b.le(&[(lay.w[e], 1.0)], vmax2));
            }
            if opts.v_min_pu > 0.0 {
                lay.v_lower[e] = Some(b.le(&[(lay.w[e], -1.0)], -vmin2));
            }
        }
        // Apparent-power limits: (S_max, P, Q) ∈ SOC.
        for e in net.edges() {
            let lim = net.limit_kw(e) / kb;
            if lim.is_finite() {
                let r = b.soc(&[
                    (&[], lim),
                    (&[(lay.flow_p[e], -1.0)], 0.0),
                    (&[(lay.flow_q[e], -1.0)], 0.0),
                ]);
                lay.soc_limit[e] = Some(r);
            }
        }
        // SOCP relaxation: (ℓ + t²w_i, 2P, 2Q, ℓ − t²w_i) ∈ SOC.
        if f == Formulation::Socp {
            for e in net.edges() {
                let i = net.tree.parent[e];
                let t2 = net.tap[e] * net.tap[e];
                let l = lay.ell[e];
                // The sending end's voltage: a variable (w_sec or w_i) or, at the root, a constant.
                let (wc, wb): (Option<(usize, f64)>, f64) = if lay.w_sec[e] != NO {
                    (Some((lay.w_sec[e], 1.0)), 0.0)
                } else if i == root {
                    (None, t2 * w0)
                } else {
                    (Some((lay.w[i], t2)), 0.0)
                };
                // On the stack: this runs for every line and interval.
                let (first, last, len) = match wc {
                    Some((v, c)) => ([(l, -1.0), (v, -c)], [(l, -1.0), (v, c)], 2),
                    None => ([(l, -1.0), (NO, 0.0)], [(l, -1.0), (NO, 0.0)], 1),
                };
                let r = b.soc(&[
                    (&first[..len], wb),
                    (&[(lay.flow_p[e], -2.0)], 0.0),
                    (&[(lay.flow_q[e], -2.0)], 0.0),
                    (&last[..len], -wb),
                ]);
                lay.relax[e] = Some(r);
            }
        }
    }
    (b, lay)
}

/// What of an offer decides the problem's structure (its variables, rows
/// and entries); everything else about it only sets values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OfferShape {
    bus: usize,
    kind: OfferKind,
    /// An active-power decision variable (output or curtailment).
    p_var: bool,
    /// Segments of a piecewise-linear cost (None: quadratic).
    segments: Option<usize>,
    /// Branch formulations: the curtailment also enters the reactive balance.
    q_term: bool,
    /// Branch formulations: a reactive-output variable.
    q_var: bool,
}

impl OfferShape {
    #[inline]
    pub(crate) fn of(o: &PlacedOffer, branch: bool) -> Self {
        OfferShape {
            bus: o.bus,
            kind: o.kind,
            p_var: o.kind != OfferKind::Load && o.hi > o.lo,
            segments: match &o.cost {
                PlacedCost::Quadratic { .. } => None,
                PlacedCost::Segments { widths, slopes } => Some(widths.len().min(slopes.len())),
            },
            q_term: branch && o.kind == OfferKind::DemandResponse && o.q_per_p != 0.0,
            q_var: branch && o.kind == OfferKind::Generator && o.q_hi > o.q_lo,
        }
    }
    /// The reactive coefficient of the active variable (curtailment removes its Q).
    fn q_coef(self, o: &PlacedOffer) -> f64 {
        if o.kind == OfferKind::DemandResponse {
            o.q_per_p
        } else {
            0.0
        }
    }
}

/// Adds an offer's fixed demand and constant injections to the balance rows'
/// right-hand sides (per unit): the fixed demand, a fixed output, the
/// constant `lo` of a segmented curve, a fixed reactive output.
fn add_fixed_injections(
    o: &PlacedOffer,
    shape: OfferShape,
    branch: bool,
    p_demand: &mut [f64],
    q_demand: &mut [f64],
) {
    p_demand[o.bus] += o.fixed_demand;
    q_demand[o.bus] += o.fixed_demand * o.q_per_p;
    if !shape.p_var {
        let constant = o.injection(o.lo) + o.fixed_demand;
        p_demand[o.bus] -= constant;
        if o.kind == OfferKind::DemandResponse {
            q_demand[o.bus] -= constant * o.q_per_p;
        }
    } else if matches!(o.cost, PlacedCost::Segments { .. }) {
        p_demand[o.bus] -= o.lo;
        if branch {
            q_demand[o.bus] -= o.lo * shape.q_coef(o);
        }
    }
    if !shape.q_var && branch && o.kind == OfferKind::Generator && o.q_hi == o.q_lo && o.q_lo != 0.0
    {
        q_demand[o.bus] -= o.q_lo;
    }
}

/// LinDistFlow: losses r(P² + Q²)/w of edge e linearised at the base point
/// (P0, Q0), w = 1: (a, b, a', b', constant P, constant Q).
fn loss_coefficients(net: &DlmpNetwork, loss_base: &[(f64, f64)], e: usize) -> [f64; 6] {
    let (p0, q0) = loss_base.get(e).copied().unwrap_or((0.0, 0.0));
    let (r, x) = (net.r_pu[e], net.x_pu[e]);
    [
        2.0 * r * p0,
        2.0 * r * q0,
        2.0 * x * p0,
        2.0 * x * q0,
        -r * (p0 * p0 + q0 * q0),
        -x * (p0 * p0 + q0 * q0),
    ]
}

/// Injection terms (variable, coefficient) of every bus in one flat list
/// (a list per bus cost two allocations per bus and interval).
struct BusTerms {
    pushed: Vec<(usize, (usize, f64))>,
}

/// The same terms grouped by bus, each bus's in push order.
struct TermsByBus {
    start: Vec<usize>,
    terms: Vec<(usize, f64)>,
}

impl BusTerms {
    fn with_capacity(capacity: usize) -> Self {
        BusTerms {
            pushed: Vec::with_capacity(capacity),
        }
    }
    fn push(&mut self, bus: usize, term: (usize, f64)) {
        self.pushed.push((bus, term));
    }
    /// A stable counting sort by bus.
    fn by_bus(self, n_buses: usize) -> TermsByBus {
        let mut start = vec![0usize; n_buses + 1];
        for &(bus, _) in &self.pushed {
            start[bus + 1] += 1;
        }
        for j in 0..n_buses {
            start[j + 1] += start[j];
        }
        let mut fill = start[..n_buses].to_vec();
        let mut terms = vec![(0usize, 0.0f64); self.pushed.len()];
        for &(bus, term) in &self.pushed {
            terms[fill[bus]] = term;
            fill[bus] += 1;
        }
        TermsByBus { start, terms }
    }
}

impl TermsByBus {
    fn of(&self, bus: usize) -> &[(usize, f64)] {
        &self.terms[self.start[bus]..self.start[bus + 1]]
    }
}

/// How an interior point ended, in the terms `extract` needs.
enum RawStatus {
    Solved,
    PrimalInfeasible,
    DualInfeasible,
    Other(String),
}

/// An interior point's answer: primal x and the duals z of every row
/// (Clarabel's convention: Px + q + Aᵀz = 0).
struct RawResult<'a> {
    status: RawStatus,
    x: &'a [f64],
    z: &'a [f64],
    iterations: u32,
}

fn extract(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    opts: &OpfOptions,
    lay: &Layout,
    rows: &DualRows,
    sol: &RawResult,
) -> DlmpSolution {
    let n = net.len();
    let f = opts.formulation;
    let mut out = DlmpSolution::empty(n, offers.len(), f, opts.lmp_source, OpfStatus::Optimal);
    out.iterations = sol.iterations;
    match &sol.status {
        RawStatus::Solved => {}
        RawStatus::PrimalInfeasible => {
            let (reason, agents) = diagnose_infeasibility(net, offers, opts);
            out.status = OpfStatus::Infeasible { reason, agents };
            return out;
        }
        RawStatus::DualInfeasible => {
            out.status = OpfStatus::Failed {
                reason: "the OPF is unbounded (an offer can lower the cost without limit)".into(),
            };
            return out;
        }
        RawStatus::Other(reason) => {
            out.status = OpfStatus::Failed {
                reason: reason.clone(),
            };
            return out;
        }
    }
    // (A re-solve runs this for every interval: the outputs are filled in
    // place, no temporary vectors, the edges visited in one pass per stage.)
    let mw = net.s_base_kva / 1000.0;
    let kb = net.s_base_kva;
    let root = net.root();
    let branch = f != Formulation::Dc;
    let x = sol.x;
    let z = sol.z;
    // The dual of row r, 0 where there is no row.
    let zr = |r: usize| if r != NO { z[r] } else { 0.0 };
    // Prices per MW: −z per unit, divided by MW per unit.
    for (d, &r) in out.dlmp.iter_mut().zip(&rows.p_bal) {
        *d = -z[r] / mw;
    }
    for (d, &r) in out.q_price.iter_mut().zip(&rows.q_bal) {
        *d = if r != NO { -z[r] / mw } else { 0.0 };
    }
    // Dispatch.
    let mut objective =
        opts.lmp_source * x[lay.s_plus] * mw - opts.effective_export_price() * x[lay.s_minus] * mw;
    // (Zipped: no bounds checks in a loop over every offer.)
    let per_offer = offers
        .iter()
        .zip(&lay.offer_vars)
        .zip(&lay.offer_q_var)
        .zip(out.variable_kw.iter_mut())
        .zip(
            out.injection_kw
                .iter_mut()
                .zip(out.injection_kvar.iter_mut()),
        );
    for ((((o, &(first, count)), &q_var), variable_kw), (injection_kw, injection_kvar)) in per_offer
    {
        let var = if count == 0 {
            o.lo
        } else if matches!(o.cost, PlacedCost::Segments { .. }) {
            o.lo + x[first..first + count].iter().sum::<f64>()
        } else {
            x[first]
        };
        *variable_kw = var * kb;
        *injection_kw = o.injection(var) * kb;
        let q = match (o.kind, q_var) {
            (OfferKind::Generator, Some(v)) => x[v],
            (OfferKind::Generator, None) => o.q_lo,
            _ => o.injection(var) * o.q_per_p,
        };
        *injection_kvar = q * kb;
        objective += o.offered_cost(var, mw);
    }
    out.objective = objective;
    out.source_p_kw = (x[lay.s_plus] - x[lay.s_minus]) * kb;
    out.source_q_kvar = lay.q_source.map(|v| x[v] * kb).unwrap_or(0.0);
    // Flows, voltages, regulators' ratios, losses and SOCP gaps.
    let w0 = opts.v_source_pu * opts.v_source_pu;
    let w_of = |i: usize| if i == root { w0 } else { x[lay.w[i]] };
    if branch {
        out.voltage_pu[root] = opts.v_source_pu;
    } else {
        out.voltage_pu.fill(1.0);
    }
    out.tap.copy_from_slice(&net.tap);
    for e in net.edges() {
        let (p, q) = (
            x[lay.flow_p[e]],
            if lay.flow_q[e] != NO {
                x[lay.flow_q[e]]
            } else {
                0.0
            },
        );
        out.flow_p_kw[e] = p * kb;
        if lay.flow_q[e] != NO {
            out.flow_q_kvar[e] = q * kb;
        }
        if !branch {
            continue;
        }
        out.voltage_pu[e] = x[lay.w[e]].max(0.0).sqrt();
        let i = net.tree.parent[e];
        if lay.w_sec[e] != NO {
            let wi = if i == root {
                opts.v_source_pu * opts.v_source_pu
            } else {
                x[lay.w[i]]
            };
            out.tap[e] = (x[lay.w_sec[e]].max(0.0) / wi.max(1e-12)).sqrt();
        }
        if f == Formulation::LinDistFlow {
            let c = lay.loss_coef[e];
            out.loss_kw[e] = (c[0] * p + c[1] * q + c[4]) * kb;
        } else {
            let l = x[lay.ell[e]];
            out.loss_kw[e] = net.r_pu[e] * l * kb;
            let t2w = if lay.w_sec[e] != NO {
                x[lay.w_sec[e]]
            } else {
                net.tap[e] * net.tap[e] * w_of(i)
            }
            .max(1e-12);
            // Excess squared current over what the flows need: phantom current.
            let excess = (l - (p * p + q * q) / t2w).max(0.0);
            out.socp_phantom_loss_kw[e] = net.r_pu[e] * excess * kb;
            // Relative to the line's current, with a floor (|I| ≈ 0.03 pu)
            // so that idle lines report solver noise as ≈ 0.
            out.socp_gap[e] = excess / l.max(SOCP_GAP_FLOOR);
        }
    }
    // Decomposition along the tree (see the module docs).
    // Voltage-limit part of the voltage rows' duals, accumulated bottom-up:
    // β̃_e = Σ_children t_c² β̃_c − (z_upper − z_lower) at the bus.
    let mut beta = Vec::new();
    if branch {
        beta = vec![0.0; n];
        for &j in net.tree.order.iter().rev() {
            if net.parent(j).is_none() {
                continue;
            }
            let mut bsum = 0.0;
            for &c in net.children(j) {
                match (rows.tap_upper[c], &net.regulation[c]) {
                    // A regulated child couples to w_j only through its ratio range.
                    (up, Some(reg)) if up != NO => {
                        bsum += reg.tap_max * reg.tap_max * z[up]
                            - reg.tap_min * reg.tap_min * z[rows.tap_lower[c]]
                    }
                    _ => bsum += net.tap[c] * net.tap[c] * beta[c],
                }
            }
            // The bus's own voltage limits, then a regulated bus's band.
            if rows.v_upper[j] != NO {
                bsum -= z[rows.v_upper[j]];
            }
            if rows.v_lower[j] != NO {
                bsum += z[rows.v_lower[j]];
            }
            if rows.band_upper[j] != NO {
                bsum -= z[rows.band_upper[j]];
                bsum += z[rows.band_lower[j]];
            }
            beta[j] = bsum;
        }
    }
    // Each edge's terms, summed from the root down (edges come parents first).
    let dec = &mut out.decomposition;
    dec.energy = out.dlmp[root];
    dec.congestion.fill(0.0);
    dec.voltage.fill(0.0);
    dec.loss.fill(0.0);
    for e in net.edges() {
        let (r, j, i) = (net.r_pu[e], e, net.tree.parent[e]);
        let (mut volt_e, mut loss_e) = (0.0, 0.0);
        let mut cong_e = 0.0;
        match f {
            Formulation::Dc => {
                if rows.dc_upper[e] != NO {
                    cong_e = (z[rows.dc_upper[e]] - z[rows.dc_lower[e]]) / mw;
                }
            }
            Formulation::LinDistFlow | Formulation::Socp => {
                if rows.soc_p[e] != NO {
                    cong_e = -z[rows.soc_p[e]] / mw;
                }
                let zv = zr(rows.vdrop[e]);
                // Stationarity of P_e: λ_j = λ_i + C_e + 2r·z_v + loss term.
                if f == Formulation::LinDistFlow {
                    let c = lay.loss_coef[e];
                    loss_e = c[0] * out.dlmp[j] + c[2] * out.q_price[j];
                    // In LinDistFlow z_v equals β̃ (no other term touches w), so the
                    // voltage part is 2r·z_v; keep the dual itself for accuracy.
                    volt_e = 2.0 * r * zv / mw;
                } else {
                    volt_e = 2.0 * r * beta[e] / mw;
                    let rel = if rows.relax_p[e] != NO {
                        -2.0 * z[rows.relax_p[e]]
                    } else {
                        0.0
                    };
                    loss_e = (2.0 * r * (zv - beta[e]) + rel) / mw;
                }
            }
        }
        out.congestion_dual[e] = cong_e;
        dec.congestion[j] = dec.congestion[i] + cong_e;
        dec.voltage[j] = dec.voltage[i] + volt_e;
        dec.loss[j] = dec.loss[i] + loss_e;
    }
    out
}

/// Why the OPF is infeasible, naming the agents whose hard minimums cause it.
/// Checks every limited line: the least the subtree below it must import
/// (fixed demand and minimum consumption minus maximum output) against its
/// limit, and the least it must export (must-run output) likewise.
pub fn diagnose_infeasibility(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    opts: &OpfOptions,
) -> (String, Vec<String>) {
    let n = net.len();
    let kb = net.s_base_kva;
    // Least and most net import of each bus (per unit), accumulated bottom-up.
    let mut min_import = vec![0.0; n];
    let mut max_import = vec![0.0; n];
    // Reactive demand that cannot be avoided (branch formulations: limits are on |S|).
    let mut min_import_q = vec![0.0; n];
    for o in offers {
        let (lo_inj, hi_inj) = (o.injection(o.lo), o.injection(o.hi));
        min_import[o.bus] -= hi_inj.max(lo_inj);
        max_import[o.bus] -= hi_inj.min(lo_inj);
        min_import_q[o.bus] += match o.kind {
            OfferKind::Generator => -o.q_hi,
            _ => -hi_inj.max(lo_inj) * o.q_per_p,
        };
    }
    for &i in net.tree.order.iter().rev() {
        if let Some(p) = net.parent(i) {
            min_import[p] += min_import[i];
            max_import[p] += max_import[i];
            min_import_q[p] += min_import_q[i];
        }
    }
    if opts.formulation != Formulation::Dc {
        // The least apparent power each line must carry (losses ignored: a lower bound).
        for i in 0..n {
            let (p, q) = (min_import[i].max(0.0), min_import_q[i].max(0.0));
            if p > 0.0 {
                min_import[i] = (p * p + q * q).sqrt();
            }
        }
    }
    let in_subtree = |root: usize| {
        let mut mark = vec![false; n];
        mark[root] = true;
        for &i in &net.tree.order {
            if let Some(p) = net.parent(i) {
                if mark[p] {
                    mark[i] = true;
                }
            }
        }
        mark
    };
    let mut worst: Option<(f64, usize, bool)> = None;
    for e in net.edges() {
        let lim = net.limit_kw(e) / kb;
        if !lim.is_finite() {
            continue;
        }
        for (excess, importing) in [(min_import[e] - lim, true), (-max_import[e] - lim, false)] {
            let worse = match worst {
                None => true,
                Some((w, _, _)) => excess > w,
            };
            if excess > 1e-9 && worse {
                worst = Some((excess, e, importing));
            }
        }
    }
    let name_agents = |mark: &[bool], importing: bool| -> Vec<String> {
        let mut v: Vec<(f64, String)> = offers
            .iter()
            .filter(|o| mark[o.bus])
            .map(|o| {
                let hard = if importing {
                    -o.injection(o.hi.max(o.lo))
                } else {
                    o.injection(o.lo)
                };
                (hard, o.agent.clone())
            })
            .filter(|(h, _)| *h > 0.0)
            .collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        v.into_iter().map(|(_, a)| a).collect()
    };
    if let Some((excess, e, importing)) = worst {
        let mark = in_subtree(e);
        let agents = name_agents(&mark, importing);
        let shown: Vec<&str> = agents.iter().take(5).map(String::as_str).collect();
        let limit = net.limit_kw(e);
        let reason = if importing {
            format!(
                "line {} ({} kW/kVA limit) cannot carry the {:.1} kW/kVA that the buses below it need at least (hard demand of {}{})",
                net.edge_label(e),
                limit,
                limit + excess * kb,
                shown.join(", "),
                if agents.len() > 5 { format!(" and {} more", agents.len() - 5) } else { String::new() }
            )
        } else {
            format!(
                "line {} ({} kW limit) cannot export the {:.1} kW of must-run output below it (agents {})",
                net.edge_label(e),
                limit,
                limit + excess * kb,
                shown.join(", ")
            )
        };
        return (reason, agents);
    }
    let all = vec![true; n];
    let agents = name_agents(&all, true);
    let shown: Vec<&str> = agents.iter().take(5).map(String::as_str).collect();
    // The line closest to its limit before losses, as a hint.
    let tightest = net
        .edges()
        .filter(|&e| net.limit_kw(e).is_finite() && net.limit_kw(e) > 0.0)
        .map(|e| (min_import[e] * kb / net.limit_kw(e), e))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hint = match tightest {
        Some((ratio, e)) if ratio > 0.8 => {
            format!(
                "; line {} must carry at least {:.0} % of its limit before losses",
                net.edge_label(e),
                ratio * 100.0
            )
        }
        _ => String::new(),
    };
    let reason = match opts.formulation {
        Formulation::Dc => format!("no dispatch meets the offers' hard minimums (largest hard demands: {}){hint}", shown.join(", ")),
        _ => format!(
            "no dispatch meets the hard demands within the line limits and the voltage band [{}, {}] pu once losses are counted (largest hard demands: {}){hint}",
            opts.v_min_pu,
            opts.v_max_pu,
            shown.join(", ")
        ),
    };
    (reason, agents)
}

/// The problem data as Clarabel sees it (for benchmarks and debugging).
pub fn problem(net: &DlmpNetwork, offers: &[PlacedOffer], opts: &OpfOptions) -> Problem {
    assemble(net, offers, opts, &demand_flows(net, offers)).0
}

/// Variables, rows and non-zeros of A (for tests and debugging).
pub fn problem_size(
    net: &DlmpNetwork,
    offers: &[PlacedOffer],
    opts: &OpfOptions,
) -> (usize, usize, usize) {
    let p = problem(net, offers, opts);
    let a: &CscMatrix<f64> = &p.a;
    (a.n, a.m, a.nzval.len())
}
