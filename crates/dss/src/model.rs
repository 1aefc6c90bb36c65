//! The circuit as an OpenDSS script leaves it: every element with its properties
//! resolved (defaults applied, `like=` copied, line codes and transformer codes
//! expanded, `kW`/`kvar`/`pf` interplay settled), but nothing computed yet.
//!
//! This is the contract between the reader (`crate::reader`) and the power-flow
//! engine (`ogg-grid`), which builds admittances from it. Units are those of
//! OpenDSS unless a field says otherwise. Names (elements, buses) are stored
//! lower-case, as OpenDSS compares them case-insensitively.

use std::collections::BTreeMap;

/// Where a statement came from, for error messages and reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Shared by every element of a file (one allocation per file, not per element).
    pub file: std::sync::Arc<str>,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A bus reference such as `671.1.2.3`: the bus name and the nodes given
/// explicitly (possibly none). Which conductor gets which node when fewer nodes
/// are given than the element has conductors is the engine's rule
/// (phases default to 1, 2, 3…, any other conductor to node 0).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BusRef {
    pub bus: String,
    pub nodes: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connection {
    #[default]
    Wye,
    Delta,
}

/// OpenDSS length units (`units=` on lines and line codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthUnit {
    #[default]
    None,
    Mi,
    Kft,
    Km,
    M,
    Ft,
    In,
    Cm,
    Mm,
}

impl LengthUnit {
    /// Metres per unit; `None` has no length of its own.
    pub fn metres(self) -> Option<f64> {
        Some(match self {
            LengthUnit::None => return None,
            LengthUnit::Mi => 1609.344,
            LengthUnit::Kft => 304.8,
            LengthUnit::Km => 1000.0,
            LengthUnit::M => 1.0,
            LengthUnit::Ft => 0.3048,
            LengthUnit::In => 0.0254,
            LengthUnit::Cm => 0.01,
            LengthUnit::Mm => 0.001,
        })
    }
}

/// Series impedance and shunt capacitance of a line per unit length
/// (in `LineImpedance::units`).
#[derive(Debug, Clone, PartialEq)]
pub enum ImpedanceData {
    /// Full n×n matrices, row-major (the reader expands lower-triangular input).
    /// Ohms and nanofarads per unit length.
    Matrix {
        r: Vec<f64>,
        x: Vec<f64>,
        c_nf: Vec<f64>,
    },
    /// Sequence values, ohms and nanofarads per unit length.
    Sequence {
        r1: f64,
        x1: f64,
        r0: f64,
        x0: f64,
        c1_nf: f64,
        c0_nf: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineImpedance {
    pub data: ImpedanceData,
    /// Unit of length the per-unit-length values refer to.
    pub units: LengthUnit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub bus1: BusRef,
    pub bus2: BusRef,
    pub phases: usize,
    pub length: f64,
    /// Unit of `length`. The per-length data are in `impedance.units`; the total
    /// is data × length × (metres per `length_units` / metres per `impedance.units`),
    /// with a factor of 1 when either is `None` (OpenDSS's `ConvertLineUnits`).
    pub length_units: LengthUnit,
    pub impedance: LineImpedance,
    pub switch: bool,
    pub enabled: bool,
    /// Amps; used for loadings and market line limits.
    pub normamps: f64,
    pub emergamps: f64,
    /// Name of the line code, if one was used (informational).
    pub linecode: Option<String>,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Winding {
    pub bus: BusRef,
    pub conn: Connection,
    /// Rated kV: line-to-line for 2- and 3-phase windings, across the winding
    /// for 1-phase ones.
    pub kv: f64,
    pub kva: f64,
    /// Percent resistance of this winding on its own kVA base.
    pub pct_r: f64,
    /// Tap in per unit.
    pub tap: f64,
    pub min_tap: f64,
    pub max_tap: f64,
    pub num_taps: usize,
    /// Neutral resistance/reactance in ohms; rneut < 0 means ungrounded
    /// inside the element.
    pub rneut: f64,
    pub xneut: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transformer {
    pub name: String,
    pub phases: usize,
    pub windings: Vec<Winding>,
    /// Percent reactances on winding 1's kVA base, as OpenDSS uses them: X12,
    /// and for 3 windings X13 and X23 (all from `xsc`). For a 2-winding unit
    /// `xht`/`xlt` are the (unused) XHT/XLT properties, 35 and 30 by default.
    pub xhl: f64,
    pub xht: f64,
    pub xlt: f64,
    pub pct_noload_loss: f64,
    pub pct_imag: f64,
    /// Parts per million of shunt capacitive susceptance per winding (default 1).
    pub ppm_antifloat: f64,
    pub enabled: bool,
    pub bank: Option<String>,
    pub xfmrcode: Option<String>,
    pub location: Location,
    /// Every pairwise short-circuit reactance in percent on winding 1's kVA
    /// base, in OpenDSS's `XscArray` order (X12, X13, …, X1n, X23, …). For 2-
    /// and 3-winding units the first entries equal `xhl` (and `xht`, `xlt`).
    pub xsc: Vec<f64>,
    /// `LeadLag=Lead`/`Euro`: the high-voltage side leads the low-voltage side
    /// in delta–wye units (default false: ANSI 30° lag).
    pub hv_leads_lv: bool,
    /// `Sub=yes` (informational).
    pub sub: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadStatus {
    #[default]
    Variable,
    Fixed,
    Exempt,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub name: String,
    pub bus1: BusRef,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    /// Nominal kW and kvar after the kW/kvar/pf/kVA interplay is settled.
    pub kw: f64,
    pub kvar: f64,
    /// 1 PQ, 2 Z, 3 P with Q∝V², 4 CVR, 5 |I|, 6 P with fixed Q, 7 P with fixed X, 8 ZIP.
    pub model: u8,
    pub vminpu: f64,
    pub vmaxpu: f64,
    pub vlowpu: f64,
    pub cvrwatts: f64,
    pub cvrvars: f64,
    /// ZIP coefficients (model 8): Z, I, P fractions for P then for Q, then the cut-off voltage.
    pub zipv: Option<[f64; 7]>,
    pub status: LoadStatus,
    pub daily: Option<String>,
    pub yearly: Option<String>,
    pub duty: Option<String>,
    pub enabled: bool,
    pub location: Location,
    /// Neutral impedance in ohms of a wye load; `rneut < 0` (default −1) is an
    /// open neutral.
    pub rneut: f64,
    pub xneut: f64,
    /// Growth shape name (only used by yearly studies; informational).
    pub growth: Option<String>,
    /// Power factor after the interplay (negative when kW and kvar have opposite signs).
    pub pf: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Capacitor {
    pub name: String,
    pub bus1: BusRef,
    /// A second bus makes a series capacitor; `None` means shunt (bus2 = bus1's node 0).
    pub bus2: Option<BusRef>,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    /// kvar of each step (total over phases).
    pub kvar: Vec<f64>,
    /// 1 = closed, 0 = open, per step.
    pub states: Vec<u8>,
    /// Series R and XL per step, ohms.
    pub r: Vec<f64>,
    pub xl: Vec<f64>,
    pub enabled: bool,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reactor {
    pub name: String,
    pub bus1: BusRef,
    pub bus2: Option<BusRef>,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    pub kvar: f64,
    /// Series resistance and reactance, ohms. X is derived from `kvar` and `kv`
    /// unless X (or Z, LmH) was given; R is as given (default 0).
    pub r: f64,
    pub x: f64,
    pub parallel: bool,
    pub enabled: bool,
    pub location: Location,
    /// Shunt resistance in ohms in parallel with the reactance (`Rp`), if given.
    pub rp: Option<f64>,
}

/// Which of the Vsource's impedance forms was given last, as OpenDSS decides by it:
/// `ShortCircuitMva` (`mvasc3`/`mvasc1` with `x1r1`/`x0r0`), `ShortCircuitCurrent`
/// (`isc3`/`isc1` with the ratios) or `Impedance` (`r1 x1 r0 x0`, or `puZ1`/`puZ0`).
/// The reader then derives the other forms exactly as OpenDSS's
/// `RecalcElementData` does, so `r1 x1 r0 x0` are always the ohms OpenDSS uses
/// (for a 1-phase source given by impedance, Z0 is Z1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceImpedanceSpec {
    #[default]
    ShortCircuitMva,
    ShortCircuitCurrent,
    Impedance,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vsource {
    pub name: String,
    pub bus1: BusRef,
    /// Defaults to bus1 with all nodes at 0.
    pub bus2: Option<BusRef>,
    pub phases: usize,
    pub base_kv: f64,
    pub pu: f64,
    pub angle_deg: f64,
    pub frequency: f64,
    pub spec: SourceImpedanceSpec,
    pub mvasc3: f64,
    pub mvasc1: f64,
    pub isc3: f64,
    pub isc1: f64,
    pub r1: f64,
    pub x1: f64,
    pub r0: f64,
    pub x0: f64,
    pub x1r1: f64,
    pub x0r0: f64,
    pub base_mva: f64,
    pub enabled: bool,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegControl {
    pub name: String,
    pub transformer: String,
    pub winding: usize,
    pub vreg: f64,
    pub band: f64,
    pub ptratio: f64,
    pub ctprim: f64,
    /// Line-drop compensator R and X in volts.
    pub r: f64,
    pub x: f64,
    pub delay: f64,
    pub tapdelay: f64,
    pub maxtapchange: usize,
    pub reversible: bool,
    /// 1-based phase the PT samples; 0 means "max", -1 "min" as OpenDSS's `ptphase=max/min`.
    pub ptphase: i32,
    pub tapwinding: usize,
    pub vlimit: f64,
    pub enabled: bool,
    pub location: Location,
    /// Bus whose voltage is regulated instead of the winding's (`bus=`).
    pub bus: Option<String>,
    pub revvreg: f64,
    pub revband: f64,
    pub rev_r: f64,
    pub rev_x: f64,
    /// kW of reverse power that triggers reverse mode.
    pub rev_threshold: f64,
    pub rev_delay: f64,
    pub rev_neutral: bool,
    pub cogen: bool,
    pub inverse_time: bool,
    /// Z-based line-drop compensation magnitude in volts (0 = not used).
    pub ldc_z: f64,
    pub rev_z: f64,
    pub remote_ptratio: f64,
    /// `TapNum=` given in the script: force this tap position (steps from 1.0 pu).
    pub tapnum: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapControlType {
    #[default]
    Current,
    Voltage,
    Kvar,
    PowerFactor,
    Time,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CapControl {
    pub name: String,
    /// Monitored element, e.g. `line.l1`.
    pub element: String,
    pub terminal: usize,
    pub capacitor: String,
    pub kind: CapControlType,
    pub ptratio: f64,
    pub ctratio: f64,
    pub on_setting: f64,
    pub off_setting: f64,
    pub delay: f64,
    pub delay_off: f64,
    pub dead_time: f64,
    pub volt_override: bool,
    pub vmax: f64,
    pub vmin: f64,
    /// 1-based phase, or `PHASE_MAX` (0), `PHASE_MIN` (−1), `PHASE_AVG` (−2).
    pub ptphase: i32,
    pub enabled: bool,
    pub location: Location,
    /// Same coding as `ptphase`.
    pub ctphase: i32,
    /// Percent of kvar reached before a PF/kvar controller switches the next step.
    pub pct_min_kvar: f64,
    /// Bus whose voltage the controller watches instead of the element's terminal.
    pub vbus: Option<String>,
}

/// How a generator or storage element is dispatched (`dispmode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DispatchMode {
    /// Follow the element's shape (generators) or its trigger levels on the
    /// shape (storage).
    #[default]
    Default,
    /// On when the circuit's generator dispatch reference (LoadMult × the
    /// `default` shape in time modes) reaches `dispvalue` (storage: compare
    /// with the triggers).
    LoadLevel,
    /// On when the price signal reaches `dispvalue` (no price shapes: 25, OpenDSS's default).
    Price,
    /// Storage only: the state is set from outside (script, API, agent).
    External,
    /// Storage only: the daily shape is the per-unit kW (positive discharges).
    Follow,
}

/// `pf=` or `kvar=` given last (OpenDSS's `varMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VarMode {
    #[default]
    Pf,
    Kvar,
}

/// OpenDSS `Generator`. kW/kvar are settled from the pair given last
/// (`kW`+`pf` or `kW`+`kvar`), as OpenDSS's `SyncUpPowerQuantities` does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Generator {
    pub name: String,
    pub bus1: BusRef,
    pub phases: usize,
    pub conn: Connection,
    /// Line-to-line kV for 2- and 3-phase units, else across the unit.
    pub kv: f64,
    pub kw: f64,
    pub kvar: f64,
    pub pf: f64,
    /// 1 constant PQ, 2 constant Z, 3 constant P with |V| regulated (vpu,
    /// minkvar..maxkvar), 4 constant P and fixed kvar, 5 constant P and fixed
    /// reactance, 7 current-limited PQ.
    pub model: u8,
    /// `Balanced=yes` (model 7, 3-phase): currents from the positive-sequence voltage.
    pub balanced: bool,
    pub vminpu: f64,
    pub vmaxpu: f64,
    pub vpu: f64,
    pub maxkvar: f64,
    pub minkvar: f64,
    pub pvfactor: f64,
    pub kva: f64,
    pub daily: Option<String>,
    pub yearly: Option<String>,
    pub duty: Option<String>,
    pub dispmode: DispatchMode,
    pub dispvalue: f64,
    /// Hours added to the time when the duty shape is read (`DutyStart`).
    pub duty_start: f64,
    /// `status=fixed`: ignores shapes (always at kW/kvar).
    pub fixed: bool,
    pub forceon: bool,
    pub enabled: bool,
    pub location: Location,
}

/// OpenDSS `PVSystem` (the inverter-based model of OpenDSS 9+).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PvSystem {
    pub name: String,
    pub bus1: BusRef,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    /// kW/m² base value the irradiance shapes multiply.
    pub irradiance: f64,
    pub pmpp: f64,
    pub pct_pmpp: f64,
    pub temperature: f64,
    pub pf: f64,
    pub kvar: f64,
    pub var_mode: VarMode,
    pub kva: f64,
    /// Largest kvar produced / absorbed (`kvarMax`, `kvarMaxAbs`).
    pub kvar_max: f64,
    pub kvar_max_abs: f64,
    pub pct_cutin: f64,
    pub pct_cutout: f64,
    /// `%PminNoVars` / `%PminkvarMax` (of Pmpp; ≤ 0: off): no vars below the
    /// first, vars ramped up to the limits below the second.
    pub pct_pmin_no_vars: f64,
    pub pct_pmin_kvar_max: f64,
    /// XYcurve of per-unit efficiency vs per-unit power (panel kW / kVA).
    pub eff_curve: Option<String>,
    /// XYcurve of per-unit Pmpp vs temperature.
    pub p_t_curve: Option<String>,
    pub daily: Option<String>,
    pub yearly: Option<String>,
    pub duty: Option<String>,
    pub tdaily: Option<String>,
    pub tyearly: Option<String>,
    pub tduty: Option<String>,
    /// Hours added to the time when the duty (and, as OpenDSS does, the
    /// yearly) irradiance shape is read (`DutyStart`).
    pub duty_start: f64,
    /// 1 constant PQ, 2 constant Z.
    pub model: u8,
    pub vminpu: f64,
    pub vmaxpu: f64,
    pub watt_priority: bool,
    pub pf_priority: bool,
    pub var_follow_inverter: bool,
    /// `LimitCurrent=yes`: current capped at what the power needs at Vminpu.
    pub limit_current: bool,
    /// `Balanced=yes` (3-phase): currents from the positive-sequence voltage.
    pub balanced: bool,
    pub enabled: bool,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageState {
    Charging,
    #[default]
    Idling,
    Discharging,
}

/// OpenDSS `Storage` (the inverter-based model of OpenDSS 9+).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Storage {
    pub name: String,
    pub bus1: BusRef,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    pub kw_rated: f64,
    /// `%kWrated`: limit on |kW| in per unit of kWrated.
    pub pu_kw_rated: f64,
    pub kwh_rated: f64,
    pub kwh_stored: f64,
    pub pct_reserve: f64,
    pub state: StorageState,
    pub pct_discharge: f64,
    pub pct_charge: f64,
    pub pct_eff_charge: f64,
    pub pct_eff_discharge: f64,
    pub pct_idling_kw: f64,
    pub kva: f64,
    pub kvar_max: f64,
    pub kvar_max_abs: f64,
    pub pf: f64,
    pub kvar: f64,
    pub var_mode: VarMode,
    pub pct_cutin: f64,
    pub pct_cutout: f64,
    /// Inverter efficiency vs per-unit power (XYcurve name).
    pub eff_curve: Option<String>,
    /// `%PminNoVars` / `%PminkvarMax` (of kWrated; ≤ 0: off).
    pub pct_pmin_no_vars: f64,
    pub pct_pmin_kvar_max: f64,
    pub model: u8,
    pub vminpu: f64,
    pub vmaxpu: f64,
    pub daily: Option<String>,
    pub yearly: Option<String>,
    pub duty: Option<String>,
    pub dispmode: DispatchMode,
    pub discharge_trigger: f64,
    pub charge_trigger: f64,
    /// Hour of day at which charging starts when idle (`TimeChargeTrig`, 0 = off).
    pub time_charge_trig: f64,
    pub watt_priority: bool,
    pub pf_priority: bool,
    pub var_follow_inverter: bool,
    /// `LimitCurrent=yes`: current capped at what the power needs at Vminpu.
    pub limit_current: bool,
    /// `Balanced=yes` (3-phase): currents from the positive-sequence voltage.
    pub balanced: bool,
    pub enabled: bool,
    pub location: Location,
}

/// OpenDSS `XYcurve`: y(x) by linear interpolation, extrapolated from the end segments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct XyCurve {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub location: Location,
}

/// OpenDSS `TShape`: temperatures over time, looked up like a load shape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TShape {
    pub name: String,
    pub npts: usize,
    pub interval_h: f64,
    pub temp: Vec<f64>,
    pub hour: Vec<f64>,
    pub location: Location,
}

/// `ptphase`/`ctphase` codes besides a 1-based phase number.
pub const PHASE_MAX: i32 = 0;
pub const PHASE_MIN: i32 = -1;
pub const PHASE_AVG: i32 = -2;

/// A load shape: per-unit multipliers over time.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadShape {
    pub name: String,
    pub npts: usize,
    /// Hours between points; 0 means the points are at the times in `hour`.
    pub interval_h: f64,
    /// P multipliers (or actual kW when `useactual`), `npts` long.
    pub mult: Vec<f64>,
    /// Q multipliers; empty means "same as `mult`" (OpenDSS's rule).
    pub qmult: Vec<f64>,
    /// Hour of each point when `interval_h` is 0.
    pub hour: Vec<f64>,
    pub useactual: bool,
    pub pmax: f64,
    pub qmax: f64,
    pub pbase: f64,
    pub qbase: f64,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControlMode {
    #[default]
    Static,
    Event,
    Time,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SolutionMode {
    #[default]
    Snapshot,
    Daily,
    Yearly,
    Duty,
}

/// `Set` options that affect the solution.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveOptions {
    pub tolerance: f64,
    pub max_iterations: usize,
    pub max_control_iterations: usize,
    pub control_mode: ControlMode,
    pub mode: SolutionMode,
    pub load_mult: f64,
    pub number: usize,
    pub stepsize_s: f64,
    pub base_frequency: f64,
    pub algorithm: Algorithm,
    /// `Set hour=`/`sec=` starting time, in hours.
    pub start_hour: f64,
    pub min_iterations: usize,
    /// `Set PriceSignal=` (OpenDSS's default 25): what price-dispatched
    /// generators and storage compare with (price shapes are not read).
    pub price_signal: f64,
    /// `Set GenMult=` (default 1): multiplies every variable generator's kW and kvar.
    pub gen_mult: f64,
}

/// `Set Algorithm=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// OpenDSS's fixed-point current-injection iteration.
    #[default]
    Normal,
    Newton,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            tolerance: 1e-4,
            max_iterations: 15,
            max_control_iterations: 10,
            control_mode: ControlMode::Static,
            mode: SolutionMode::Snapshot,
            load_mult: 1.0,
            number: 1,
            stepsize_s: 3600.0,
            base_frequency: 60.0,
            algorithm: Algorithm::Normal,
            start_hour: 0.0,
            min_iterations: 2,
            price_signal: 25.0,
            gen_mult: 1.0,
        }
    }
}

/// Something the reader accepted but that does not affect the power flow
/// (e.g. `Show`, `Plot`, `New EnergyMeter`), reported so that nothing is
/// silently dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Ignored {
    pub what: String,
    pub location: Location,
}

/// Element classes, for [`Circuit::definition_order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementClass {
    Vsource,
    Line,
    Transformer,
    Load,
    Capacitor,
    Reactor,
    RegControl,
    CapControl,
    Generator,
    PvSystem,
    Storage,
}

/// One entry of [`Circuit::definition_order`]: the class and the index into
/// that class's vector in [`Circuit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ElementRef {
    pub class: ElementClass,
    pub index: usize,
}

/// The whole circuit, in definition order within each class.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Circuit {
    pub name: String,
    /// `Set VoltageBases=[…]`, kV line-to-line.
    pub voltage_bases: Vec<f64>,
    /// Whether the script ran CalcVoltageBases (or `calcv`).
    pub calc_voltage_bases: bool,
    /// How many `Solve` commands the script issued.
    pub solve_count: usize,
    pub options: SolveOptions,
    /// The circuit's own source (`New Circuit.x …`) comes first.
    pub vsources: Vec<Vsource>,
    pub lines: Vec<Line>,
    pub transformers: Vec<Transformer>,
    pub loads: Vec<Load>,
    pub capacitors: Vec<Capacitor>,
    pub reactors: Vec<Reactor>,
    pub regcontrols: Vec<RegControl>,
    pub capcontrols: Vec<CapControl>,
    pub generators: Vec<Generator>,
    pub pvsystems: Vec<PvSystem>,
    pub storages: Vec<Storage>,
    pub xycurves: Vec<XyCurve>,
    pub tshapes: Vec<TShape>,
    /// Load shapes; OpenDSS's built-in `default` (24 hourly points) comes first.
    pub loadshapes: Vec<LoadShape>,
    /// Bus name → (x, y) from `BusCoords`.
    pub bus_coords: BTreeMap<String, (f64, f64)>,
    /// Every element in the order the script first defined it (`New …`), as
    /// indices into the class vectors above. OpenDSS numbers buses and nodes in
    /// this order, so the engine lists buses as OpenDSS does. (Added by the
    /// engine helper: the reader pushes one entry whenever it creates an
    /// element.) Empty means unknown: the engine then uses class order
    /// (sources, transformers, lines, loads, capacitors, reactors).
    pub definition_order: Vec<ElementRef>,
    pub ignored: Vec<Ignored>,
}
