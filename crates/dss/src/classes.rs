//! Per-class element state while a script runs, mirroring the fields OpenDSS
//! keeps, so that property side effects happen in the order the script gives
//! them (`switch=y` then `r1=…`, `kvar=` then `kW=`, `wdg=2 kv=…`, …).
//! Each state is turned into its `model` struct when the script ends.

use crate::files::FileSource;
use crate::lexer::{split_line, Token};
use crate::line_constants::{self, EarthModel};
use crate::model::*;
use crate::props::*;
use crate::store::Store;
use crate::values::*;
use crate::wires::{
    CnDataState, LineGeometryState, LineSpacingState, TsDataState, WireDataState, WireKind,
    WireStores,
};

/// What setting a property did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Applied,
    /// Accepted, but it has no effect on the power flow (reported in `Circuit::ignored`).
    Ignored,
}
use Outcome::{Applied, Ignored};

/// What the other classes hold, for properties that refer to them.
pub(crate) struct Ctx<'a> {
    pub linecodes: &'a Store<LineCodeState>,
    pub xfmrcodes: &'a Store<XfmrCodeState>,
    pub loadshapes: &'a Store<LoadShapeState>,
    pub wiredata: &'a Store<WireDataState>,
    pub cndata: &'a Store<CnDataState>,
    pub tsdata: &'a Store<TsDataState>,
    pub spacings: &'a Store<LineSpacingState>,
    pub geometries: &'a Store<LineGeometryState>,
    /// `Set EarthModel=`: the model new lines start with.
    pub earth_model: EarthModel,
    /// Earth resistivity lines have pushed onto geometries (OpenDSS stores a
    /// line's `rho=` in the shared geometry object; the last one wins).
    pub geometry_rho: &'a std::cell::RefCell<std::collections::HashMap<String, f64>>,
    pub base_frequency: f64,
    pub files: &'a dyn FileSource,
    pub file: &'a str,
}

impl<'a> Ctx<'a> {
    pub fn wire_stores(&self) -> WireStores<'a> {
        WireStores {
            wire: self.wiredata,
            cn: self.cndata,
            ts: self.tsdata,
        }
    }
}

pub(crate) trait ElementState: Default + Clone {
    const CLASS: &'static str;
    const PROPS: &'static [&'static str];
    /// Hash index of `PROPS`, built at compile time (property lookups).
    const PROP_INDEX: crate::props::PropIndex = crate::props::PropIndex::new(Self::PROPS);
    fn create(name: &str, location: &Location, ctx: &Ctx) -> Self;
    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String>;
    /// Runs before each statement that edits the element.
    fn begin_edit(&mut self) {}
    /// After `like=` copied another element: OpenDSS's MakeLike copies the
    /// data but not the bus connections, so put this element's own back.
    fn keep_own_connections(&mut self, _own: &Self) {}
    /// Runs after each statement that edited the element (OpenDSS's
    /// `RecalcElementData` at the end of an edit).
    fn end_edit(&mut self) {}
    fn name_mut(&mut self) -> &mut String;
    fn location_mut(&mut self) -> &mut Location;
    fn set_enabled(&mut self, enabled: bool);
}

macro_rules! identity {
    () => {
        fn name_mut(&mut self) -> &mut String {
            &mut self.name
        }
        fn location_mut(&mut self) -> &mut Location {
            &mut self.location
        }
        fn set_enabled(&mut self, enabled: bool) {
            self.enabled = enabled;
        }
    };
}

fn lower(token: &Token<'_>) -> String {
    token.text.trim().to_ascii_lowercase()
}

fn default_bus(name: &str, terminal: usize) -> BusRef {
    // `{name}_{terminal}` without the formatting machinery (every element gets one).
    let mut bus = String::with_capacity(name.len() + 4);
    bus.push_str(name);
    bus.push('_');
    match char::from_digit(terminal as u32, 10) {
        Some(digit) if terminal < 10 => bus.push(digit),
        _ => bus.push_str(&terminal.to_string()),
    }
    BusRef {
        bus,
        nodes: Vec::new(),
    }
}

/// Copies `values` into the first slots of `target`, zeroing the rest, the way
/// OpenDSS reads an array into a fixed-size one.
fn fill(target: &mut [f64], values: &[f64]) {
    for (i, slot) in target.iter_mut().enumerate() {
        *slot = values.get(i).copied().unwrap_or(0.0);
    }
}

fn unsupported(prop: &str) -> Result<Outcome, String> {
    Err(format!("property `{prop}` is not supported by this reader"))
}

// ---------------------------------------------------------------- line codes

/// Series impedance data shared by lines and line codes.
#[derive(Debug, PartialEq)]
pub(crate) struct Impedance {
    pub phases: usize,
    pub r1: f64,
    pub x1: f64,
    pub r0: f64,
    pub x0: f64,
    /// nF per unit length.
    pub c1: f64,
    pub c0: f64,
    /// Whether the sequence values rule (OpenDSS's `SymComponentsModel`).
    pub symmetrical: bool,
    /// Row-major phases × phases matrices. Built only when the impedance
    /// stops being symmetrical (a matrix given, line constants): while the
    /// sequence values rule they are left empty, since nothing reads them
    /// then — most lines never allocate or compute them.
    pub rmat: Vec<f64>,
    pub xmat: Vec<f64>,
    pub cmat: Vec<f64>,
    /// Lines give a 1-phase element its positive-sequence values; line codes
    /// (OpenDSS's `CalcMatricesFromZ1Z0`) use the 3-phase formula even then.
    pub line_rule: bool,
}

impl Clone for Impedance {
    fn clone(&self) -> Self {
        Impedance {
            rmat: self.rmat.clone(),
            xmat: self.xmat.clone(),
            cmat: self.cmat.clone(),
            ..*self
        }
    }

    /// Reuses the matrices' buffers (a line fetching its line code).
    fn clone_from(&mut self, other: &Self) {
        let (mut rmat, mut xmat, mut cmat) = (
            std::mem::take(&mut self.rmat),
            std::mem::take(&mut self.xmat),
            std::mem::take(&mut self.cmat),
        );
        rmat.clone_from(&other.rmat);
        xmat.clone_from(&other.xmat);
        cmat.clone_from(&other.cmat);
        *self = Impedance {
            rmat,
            xmat,
            cmat,
            ..*other
        };
    }
}

/// Only a placeholder (what `std::mem::take` leaves while an element is
/// edited): no matrices. Real elements start from [`Impedance::opendss_defaults`].
impl Default for Impedance {
    fn default() -> Self {
        Impedance {
            phases: 0,
            r1: 0.0,
            x1: 0.0,
            r0: 0.0,
            x0: 0.0,
            c1: 0.0,
            c0: 0.0,
            symmetrical: true,
            rmat: Vec::new(),
            xmat: Vec::new(),
            cmat: Vec::new(),
            line_rule: true,
        }
    }
}

impl Impedance {
    /// OpenDSS's defaults for a new line or line code (3 phases, its
    /// sequence values, matrices computed from them).
    fn opendss_defaults() -> Self {
        let mut z = Impedance {
            phases: 3,
            r1: 0.058,
            x1: 0.1206,
            r0: 0.1784,
            x0: 0.4047,
            c1: 3.4,
            c0: 1.6,
            symmetrical: true,
            rmat: Vec::new(),
            xmat: Vec::new(),
            cmat: Vec::new(),
            line_rule: true,
        };
        z.matrices_from_sequence();
        z
    }

    /// The matrices as OpenDSS holds them, from the sequence values, before
    /// they are edited or used on their own.
    fn stop_being_symmetrical(&mut self) {
        if self.symmetrical {
            self.build_matrices_from_sequence();
        }
        self.symmetrical = false;
    }
}

impl Impedance {
    /// OpenDSS's `RecalcElementData` after the sequence values or the phases
    /// changed. While symmetrical the matrices are left unbuilt (see `rmat`).
    pub fn matrices_from_sequence(&mut self) {
        if self.symmetrical {
            self.rmat.clear();
            self.xmat.clear();
            self.cmat.clear();
        } else {
            self.build_matrices_from_sequence();
        }
    }

    /// Self and mutual terms from sequence values (a 1-phase line takes the
    /// positive-sequence values).
    fn build_matrices_from_sequence(&mut self) {
        let n = self.phases;
        let (rs, rm, xs, xm, cs, cm) = if n == 1 && self.line_rule {
            (self.r1, 0.0, self.x1, 0.0, self.c1, 0.0)
        } else {
            (
                (2.0 * self.r1 + self.r0) / 3.0,
                (self.r0 - self.r1) / 3.0,
                (2.0 * self.x1 + self.x0) / 3.0,
                (self.x0 - self.x1) / 3.0,
                (2.0 * self.c1 + self.c0) / 3.0,
                (self.c0 - self.c1) / 3.0,
            )
        };
        // Into the existing buffers: lines recompute these on every `phases=`.
        let build = |m: &mut Vec<f64>, diag: f64, off: f64| {
            m.clear();
            m.resize(n * n, off);
            for i in 0..n {
                m[i * n + i] = diag;
            }
        };
        build(&mut self.rmat, rs, rm);
        build(&mut self.xmat, xs, xm);
        build(&mut self.cmat, cs, cm);
    }

    fn scale(&mut self, factor: f64) {
        for v in [
            &mut self.r1,
            &mut self.x1,
            &mut self.r0,
            &mut self.x0,
            &mut self.c1,
            &mut self.c0,
        ] {
            *v *= factor;
        }
        for m in [&mut self.rmat, &mut self.xmat, &mut self.cmat] {
            m.iter_mut().for_each(|v| *v *= factor);
        }
    }

    fn set_phases(&mut self, phases: usize) {
        if phases != self.phases {
            self.phases = phases;
            self.matrices_from_sequence();
        }
    }

    /// Handles r1…c0, b1/b0 and the matrices; `None` if `prop` is none of them.
    fn set(
        &mut self,
        prop: &str,
        value: &Token<'_>,
        base_frequency: f64,
    ) -> Option<Result<(), String>> {
        // Two bytes ending in 0 or 1, or a seven-byte `…matrix`: most
        // properties (`bus1` and `bus2` too) fail on the length alone.
        let impedance_prop = match prop.len() {
            2 => matches!(prop, "r1" | "x1" | "r0" | "x0" | "c1" | "c0" | "b1" | "b0"),
            7 => matches!(prop, "rmatrix" | "xmatrix" | "cmatrix"),
            _ => false,
        };
        if !impedance_prop {
            return None;
        }
        let result = (|| -> Result<(), String> {
            match prop {
                "r1" | "x1" | "r0" | "x0" | "c1" | "c0" | "b1" | "b0" => {
                    let v = number(value)?;
                    // b in µS per unit length → nF per unit length.
                    let from_b = |b: f64| b / (2.0 * std::f64::consts::PI * base_frequency) * 1e3;
                    match prop {
                        "r1" => self.r1 = v,
                        "x1" => self.x1 = v,
                        "r0" => self.r0 = v,
                        "x0" => self.x0 = v,
                        "c1" => self.c1 = v,
                        "c0" => self.c0 = v,
                        "b1" => self.c1 = from_b(v),
                        _ => self.c0 = from_b(v),
                    }
                    self.symmetrical = true;
                    self.matrices_from_sequence();
                }
                _ => {
                    let matrix = symmetric_matrix(value, self.phases)?;
                    self.stop_being_symmetrical();
                    match prop {
                        "rmatrix" => self.rmat = matrix,
                        "xmatrix" => self.xmat = matrix,
                        _ => self.cmat = matrix,
                    }
                }
            }
            Ok(())
        })();
        Some(result)
    }

    /// As [`Impedance::data`], moving the matrices.
    pub fn into_data(self) -> ImpedanceData {
        if self.symmetrical {
            self.data()
        } else {
            ImpedanceData::Matrix {
                r: self.rmat,
                x: self.xmat,
                c_nf: self.cmat,
            }
        }
    }

    pub fn data(&self) -> ImpedanceData {
        if self.symmetrical {
            ImpedanceData::Sequence {
                r1: self.r1,
                x1: self.x1,
                r0: self.r0,
                x0: self.x0,
                c1_nf: self.c1,
                c0_nf: self.c0,
            }
        } else {
            ImpedanceData::Matrix {
                r: self.rmat.clone(),
                x: self.xmat.clone(),
                c_nf: self.cmat.clone(),
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LineCodeState {
    pub name: String,
    pub location: Location,
    pub z: Impedance,
    pub units: LengthUnit,
    pub normamps: f64,
    pub emergamps: f64,
    pub enabled: bool,
}

impl ElementState for LineCodeState {
    const CLASS: &'static str = "LineCode";
    const PROPS: &'static [&'static str] = LINECODE_PROPS;
    identity!();

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        let mut z = Impedance {
            line_rule: false,
            ..Impedance::opendss_defaults()
        };
        z.matrices_from_sequence();
        LineCodeState {
            name: name.to_string(),
            location: location.clone(),
            z,
            units: LengthUnit::None,
            normamps: 400.0,
            emergamps: 600.0,
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        if let Some(result) = self.z.set(prop, value, ctx.base_frequency) {
            return result.map(|_| Applied);
        }
        match prop {
            "nphases" => self.z.set_phases(count(value, 1, 100)?),
            "units" => self.units = length_unit(value.text)?,
            "normamps" => self.normamps = number(value)?,
            "emergamps" => self.emergamps = number(value)?,
            "kron" => {
                if boolean(value)? {
                    return Err(
                        "Kron reduction of line codes is not supported by this reader".into(),
                    );
                }
            }
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- lines

#[derive(Debug, Clone, Default)]
pub(crate) struct LineState {
    pub name: String,
    pub location: Location,
    pub bus1: BusRef,
    pub bus2: BusRef,
    pub z: Impedance,
    pub length: f64,
    pub length_units: LengthUnit,
    /// Units the per-length data are in (the line code's, or the first units
    /// given after the impedances).
    pub data_units: LengthUnit,
    pub linecode: Option<String>,
    pub switch: bool,
    pub enabled: bool,
    pub normamps: f64,
    pub emergamps: f64,
    /// Sequence values were given since the last solve (OpenDSS's
    /// `SymComponentsChanged`): when Y is next built, the matrices are
    /// recomputed from them, even if matrices were given after them.
    pub sym_changed: bool,
    /// Capacitance given by the user (`c1 c0 b1 b0 cmatrix`; OpenDSS's FCapSpecified).
    pub cap_specified: bool,
    /// OpenDSS's `FUnitsConvert`: the total is data × length / this. Usually
    /// it equals `convert_units(data_units, length_units)`; a chain such as
    /// `units=mi units=km units=none` is the exception `to_model` handles.
    pub units_convert: f64,
    /// Impedances from conductors (`geometry=`, or `spacing=` with `wires=`).
    pub constants: Option<ConstantsSource>,
    pub earth_model: EarthModel,
    /// Earth resistivity (ohm-m) and whether `rho=` was given.
    pub rho: f64,
    pub rho_specified: bool,
}

/// Where a line's line-constants data come from. OpenDSS keeps references,
/// so the objects are looked up when the circuit is finished.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConstantsSource {
    Geometry(String),
    Spacing {
        spacing: String,
        /// One per wire of the spacing: the class and name of its data.
        wires: Vec<Option<(WireKind, String)>>,
        /// OpenDSS's FPhaseChoice: unknown until `wires=` (bare) or
        /// `cncables=`/`tscables=` (the phases; a later `wires=` gives the neutrals).
        choice: Option<WireKind>,
    },
}

/// What `LineState::to_model` needs to compute line constants.
pub(crate) struct ConstantsLookup<'a> {
    pub wires: WireStores<'a>,
    pub spacings: &'a Store<LineSpacingState>,
    pub geometries: &'a Store<LineGeometryState>,
    pub frequency: f64,
}

/// The earth model and resistivity a line's impedances are computed with.
/// OpenDSS caches a geometry's matrices: the first line (in circuit order)
/// that uses a geometry computes them with its own earth model, and the
/// others reuse them; see `Reader::finish`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EarthChoice {
    pub model: EarthModel,
    pub rho: f64,
}

/// OpenDSS's `ConvertLineUnits(from, to)`: metres per `from` over metres per
/// `to`, or 1 when either is `none`.
fn convert_units(from: LengthUnit, to: LengthUnit) -> f64 {
    match (from.metres(), to.metres()) {
        (Some(f), Some(t)) => f / t,
        _ => 1.0,
    }
}

impl LineState {
    /// What building Y (Solve, CalcVoltageBases) does to pending sequence values.
    pub fn settle(&mut self) {
        if self.sym_changed {
            if !self.cap_specified {
                // OpenDSS takes capacitances nobody gave (the defaults, or
                // switch=y's) as per kft and converts them to the line's units.
                if let Some(metres) = self.length_units.metres() {
                    let factor = metres / 304.8;
                    self.z.c1 *= factor;
                    self.z.c0 *= factor;
                }
                self.cap_specified = true;
            }
            self.z.symmetrical = true;
            self.z.matrices_from_sequence();
            self.sym_changed = false;
        }
    }

    /// OpenDSS's `ResetLengthUnits` (and forgetting the line code) after
    /// impedances are given directly.
    fn impedances_given_directly(&mut self) {
        self.linecode = None;
        self.constants = None;
        self.length_units = LengthUnit::None;
        self.data_units = LengthUnit::None;
        self.units_convert = 1.0;
    }

    fn fetch_linecode(&mut self, code: &LineCodeState) {
        let own = (self.z.r1, self.z.x1, self.z.r0, self.z.x0, self.z.c1, self.z.c0);
        // clone_from: the matrices reuse the line's own buffers.
        self.z.clone_from(&code.z);
        self.z.line_rule = true;
        if !code.z.symmetrical {
            // OpenDSS copies the sequence values only when the code uses them;
            // the line keeps its own for a later `r1=` edit.
            (
                self.z.r1, self.z.x1, self.z.r0, self.z.x0, self.z.c1, self.z.c0,
            ) = own;
        }
        if code.z.symmetrical {
            // OpenDSS recomputes the matrices right away, which clears the
            // pending-sequence flag; a matrix code leaves it as it was.
            self.sym_changed = false;
        }
        self.data_units = code.units;
        self.units_convert = convert_units(code.units, self.length_units);
        self.normamps = code.normamps;
        self.emergamps = code.emergamps;
        self.linecode = Some(code.name.clone());
        self.constants = None;
    }

    /// Per-metre impedances from the conductors, as OpenDSS's
    /// `FMakeZFromGeometry` / `FMakeZFromSpacing` at the solution frequency.
    fn constants_data(
        &self,
        source: &ConstantsSource,
        lookup: &ConstantsLookup,
        earth: EarthChoice,
    ) -> Result<ImpedanceData, String> {
        let (conductors, phases, reduce) = match source {
            ConstantsSource::Geometry(name) => {
                let g = lookup
                    .geometries
                    .get(name)
                    .ok_or_else(|| format!("line geometry `{name}` is not defined"))?;
                (g.conductors(&lookup.wires)?, g.phases, g.reduce)
            }
            ConstantsSource::Spacing { spacing, wires, .. } => {
                let s = lookup
                    .spacings
                    .get(spacing)
                    .ok_or_else(|| format!("line spacing `{spacing}` is not defined"))?;
                let scale = line_constants::to_metres(s.units);
                let mut conductors = Vec::with_capacity(wires.len());
                for (i, wire) in wires.iter().enumerate() {
                    let Some((kind, name)) = wire else {
                        return Err(format!(
                            "spacing `{spacing}`: wire {} not given (wires=, cncables=, tscables=)",
                            i + 1
                        ));
                    };
                    let w = lookup.wires.require(*kind, name)?;
                    let (x, h) = (
                        s.x.get(i).copied().unwrap_or(0.0),
                        s.h.get(i).copied().unwrap_or(0.0),
                    );
                    conductors.push(w.conductor(x * scale, h * scale)?);
                }
                (conductors, s.phases, wires.len() > s.phases)
            }
        };
        let pm = line_constants::per_metre(
            &conductors,
            phases,
            reduce,
            lookup.frequency,
            earth.rho,
            earth.model,
        )?;
        if pm.n != self.z.phases {
            return Err(format!(
                "the conductor data give {} conductors, the line has {}",
                pm.n, self.z.phases
            ));
        }
        // The engine forms jωC with the exact 2π; store C so it gets OpenDSS's jωC back.
        let w = 2.0 * std::f64::consts::PI * lookup.frequency;
        Ok(ImpedanceData::Matrix {
            r: pm.z.iter().map(|v| v.re).collect(),
            x: pm.z.iter().map(|v| v.im).collect(),
            c_nf: pm.yc.iter().map(|v| v.im / w * 1e9).collect(),
        })
    }
}

impl ElementState for LineState {
    const CLASS: &'static str = "Line";
    const PROPS: &'static [&'static str] = LINE_PROPS;
    identity!();

    fn keep_own_connections(&mut self, own: &Self) {
        self.bus1 = own.bus1.clone();
        self.bus2 = own.bus2.clone();
    }

    fn create(name: &str, location: &Location, ctx: &Ctx) -> Self {
        LineState {
            name: name.to_string(),
            location: location.clone(),
            // Left empty until `into_model`: most scripts give both buses.
            bus1: BusRef::default(),
            bus2: BusRef::default(),
            z: Impedance::opendss_defaults(),
            length: 1.0,
            length_units: LengthUnit::None,
            data_units: LengthUnit::None,
            linecode: None,
            switch: false,
            enabled: true,
            normamps: 400.0,
            emergamps: 600.0,
            sym_changed: false,
            cap_specified: false,
            units_convert: 1.0,
            constants: None,
            earth_model: ctx.earth_model,
            rho: 100.0,
            rho_specified: false,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        if let Some(result) = self.z.set(prop, value, ctx.base_frequency) {
            result?;
            self.impedances_given_directly();
            if !prop.ends_with("matrix") {
                self.sym_changed = true;
            }
            if matches!(prop, "c1" | "c0" | "b1" | "b0" | "cmatrix") {
                self.cap_specified = true;
            }
            return Ok(Applied);
        }
        match prop {
            "bus1" => self.bus1 = bus(value.text)?,
            "bus2" => self.bus2 = bus(value.text)?,
            "linecode" => {
                let code = with_lowercase(value.text, |name| ctx.linecodes.get(name))
                    .ok_or_else(|| format!("line code `{}` is not defined", lower(value)))?;
                self.fetch_linecode(code);
            }
            "length" => self.length = number(value)?,
            "phases" => {
                let phases = count(value, 1, 100)?;
                if phases != self.z.phases && self.constants.is_some() {
                    return Err(format!(
                        "cannot change phases from {} to {phases}: the line uses line constants",
                        self.z.phases
                    ));
                }
                if phases != self.z.phases {
                    if !self.z.symmetrical {
                        return Err(format!(
                            "cannot change phases from {} to {phases}: the impedances are matrices",
                            self.z.phases
                        ));
                    }
                    self.z.set_phases(phases);
                }
            }
            "switch" => {
                self.switch = boolean(value)?;
                if self.switch {
                    // OpenDSS's side effects; later properties may override them.
                    self.z.r1 = 1.0;
                    self.z.x1 = 1.0;
                    self.z.r0 = 1.0;
                    self.z.x0 = 1.0;
                    self.z.c1 = 1.1;
                    self.z.c0 = 1.0;
                    self.z.symmetrical = true;
                    self.z.matrices_from_sequence();
                    self.length = 0.001;
                    self.impedances_given_directly();
                    self.sym_changed = true;
                }
            }
            "units" => {
                let units = length_unit(value.text)?;
                if self.linecode.is_some() {
                    self.units_convert = convert_units(self.data_units, units);
                } else {
                    self.units_convert *= convert_units(self.length_units, units);
                    if self.data_units == LengthUnit::None {
                        self.data_units = units;
                    }
                }
                self.length_units = units;
            }
            "normamps" => self.normamps = number(value)?,
            "emergamps" => self.emergamps = number(value)?,
            "enabled" => self.enabled = boolean(value)?,
            "geometry" => {
                let name = lower(value);
                let g = ctx
                    .geometries
                    .get(&name)
                    .ok_or_else(|| format!("line geometry `{name}` is not defined"))?;
                let n = g.line_conductors();
                if n == 0 {
                    return Err(format!(
                        "line geometry `{name}` has no conductors (nconds, nphases)"
                    ));
                }
                if self.rho_specified {
                    ctx.geometry_rho.borrow_mut().insert(name.clone(), self.rho);
                }
                self.use_constants(ConstantsSource::Geometry(name), n);
                self.normamps = g.normamps;
                self.emergamps = g.emergamps;
            }
            "spacing" => {
                let name = lower(value);
                let s = ctx
                    .spacings
                    .get(&name)
                    .ok_or_else(|| format!("line spacing `{name}` is not defined"))?;
                let wires = vec![None; s.x.len()];
                let phases = s.phases;
                self.use_constants(
                    ConstantsSource::Spacing {
                        spacing: name,
                        wires,
                        choice: None,
                    },
                    phases,
                );
            }
            "wires" | "cncables" | "tscables" => {
                let spacing_phases = match &self.constants {
                    Some(ConstantsSource::Spacing { spacing, .. }) => {
                        ctx.spacings.get(spacing).map_or(0, |s| s.phases)
                    }
                    _ => {
                        return Err(format!(
                            "the line spacing (spacing=) must come before {prop}="
                        ));
                    }
                };
                let Some(ConstantsSource::Spacing { wires, choice, .. }) = &mut self.constants
                else {
                    unreachable!("checked above");
                };
                let kind = match prop {
                    "wires" => WireKind::Bare,
                    "cncables" => WireKind::ConcentricNeutral,
                    _ => WireKind::TapeShield,
                };
                // OpenDSS's FetchWireList / FetchCNCableList / FetchTSCableList:
                // cables reset the list and fill the phases; `wires=` fills every
                // wire the first time, only those after the phases once a choice
                // was made.
                let (start, end) = if kind == WireKind::Bare {
                    match choice {
                        None => (0, wires.len()),
                        Some(_) => (spacing_phases.min(wires.len()), wires.len()),
                    }
                } else {
                    *wires = vec![None; wires.len()];
                    (0, spacing_phases.min(wires.len()))
                };
                if choice.is_none() || kind != WireKind::Bare {
                    *choice = Some(kind);
                }
                let names = words(value)?;
                if names.len() != end - start {
                    return Err(format!(
                        "{} names given, expected {} (wires {}..{} of the spacing)",
                        names.len(),
                        end - start,
                        start + 1,
                        end
                    ));
                }
                for (i, name) in (start..end).zip(names) {
                    let name = name.to_ascii_lowercase();
                    let w = ctx.wire_stores().require(kind, &name)?;
                    if i == 0 {
                        // OpenDSS rates the line as its first wire.
                        self.normamps = w.normamps;
                        self.emergamps = w.emergamps;
                    }
                    wires[i] = Some((kind, name));
                }
            }
            "earthmodel" => self.earth_model = EarthModel::parse(value.text)?,
            "rho" => {
                self.rho = number(value)?;
                self.rho_specified = true;
                if let Some(ConstantsSource::Geometry(name)) = &self.constants {
                    ctx.geometry_rho.borrow_mut().insert(name.clone(), self.rho);
                }
            }
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

impl LineState {
    fn use_constants(&mut self, source: ConstantsSource, phases: usize) {
        self.linecode = None;
        self.z.set_phases(phases);
        self.z.stop_being_symmetrical();
        self.sym_changed = false;
        self.constants = Some(source);
    }

    /// Impedances from the conductors, for a line that has them (`geometry=`
    /// or `spacing=`; `None` otherwise). `earth` is the model and
    /// resistivity `Reader::finish` chose for the line.
    pub fn constants_impedance(
        &self,
        lookup: &ConstantsLookup,
        earth: EarthChoice,
    ) -> Result<Option<ImpedanceData>, String> {
        match &self.constants {
            Some(source) => self.constants_data(source, lookup, earth).map(Some),
            None => Ok(None),
        }
    }

    /// The model line, moving the state's names and buses into it.
    /// `constants` is what [`LineState::constants_impedance`] returned.
    pub fn into_model(mut self, constants: Option<ImpedanceData>) -> Line {
        // A bus never given is OpenDSS's default `name_1` / `name_2`.
        for (terminal, bus) in [(1, &mut self.bus1), (2, &mut self.bus2)] {
            if bus.bus.is_empty() {
                *bus = default_bus(&self.name, terminal);
            }
        }
        if let Some(data) = constants {
            return Line {
                name: self.name,
                bus1: self.bus1,
                bus2: self.bus2,
                phases: self.z.phases,
                length: self.length,
                length_units: self.length_units,
                impedance: LineImpedance {
                    data,
                    units: LengthUnit::M,
                },
                switch: self.switch,
                enabled: self.enabled,
                normamps: self.normamps,
                emergamps: self.emergamps,
                linecode: None,
                location: self.location,
            };
        }
        let mut settled = self;
        settled.settle();
        let mut data_units = settled.data_units;
        let expected = convert_units(data_units, settled.length_units);
        if (expected - settled.units_convert).abs() > 1e-12 * expected.abs().max(1.0) {
            // A units chain through `none`: express the data per length unit.
            settled.z.scale(1.0 / settled.units_convert);
            data_units = settled.length_units;
        }
        Line {
            phases: settled.z.phases,
            length: settled.length,
            length_units: settled.length_units,
            impedance: LineImpedance {
                data: settled.z.into_data(),
                units: data_units,
            },
            switch: settled.switch,
            enabled: settled.enabled,
            normamps: settled.normamps,
            emergamps: settled.emergamps,
            name: settled.name,
            bus1: settled.bus1,
            bus2: settled.bus2,
            linecode: settled.linecode,
            location: settled.location,
        }
    }
}

// ---------------------------------------------------------------- transformers

#[derive(Debug, Clone, Default)]
pub(crate) struct TransformerState {
    pub name: String,
    pub location: Location,
    pub phases: usize,
    pub windings: Vec<Winding>,
    /// 0-based active winding (`wdg=`).
    pub active: usize,
    /// The reactances OpenDSS builds Y from (`XscArray`: X12, X13, …, in percent).
    pub xsc: Vec<f64>,
    /// The `XHL`/`XHT`/`XLT` properties. OpenDSS copies them into `xsc` at the
    /// end of an edit that set one of them (2- and 3-winding units only).
    pub xhl: f64,
    pub xht: f64,
    pub xlt: f64,
    pub xhl_changed: bool,
    pub pct_noload_loss: f64,
    pub pct_imag: f64,
    pub ppm_antifloat: f64,
    pub enabled: bool,
    pub bank: Option<String>,
    pub xfmrcode: Option<String>,
    pub sub: bool,
    pub hv_leads_lv: bool,
}

/// A winding's defaults, with an empty bus (given later, or named by default in `into_model`).
fn default_winding_data() -> Winding {
    Winding {
        bus: BusRef::default(),
        conn: Connection::Wye,
        kv: 12.47,
        kva: 1000.0,
        pct_r: 0.2,
        tap: 1.0,
        min_tap: 0.9,
        max_tap: 1.1,
        num_taps: 32,
        rneut: -1.0,
        xneut: 0.0,
    }
}

impl TransformerState {
    fn new(name: &str, location: &Location) -> Self {
        TransformerState {
            name: name.to_string(),
            location: location.clone(),
            phases: 3,
            // Buses left empty until `into_model`: most scripts give them all.
            windings: vec![default_winding_data(), default_winding_data()],
            active: 0,
            xsc: vec![7.0],
            xhl: 7.0,
            xht: 35.0,
            xlt: 30.0,
            xhl_changed: false,
            pct_noload_loss: 0.0,
            pct_imag: 0.0,
            ppm_antifloat: 1.0,
            enabled: true,
            bank: None,
            xfmrcode: None,
            sub: false,
            hv_leads_lv: false,
        }
    }

    /// OpenDSS's `windings=` side effect: every winding's data goes back to the
    /// defaults, even when the count does not change; bus names stay, new
    /// windings get default ones; new reactance pairs start at 30%.
    fn set_num_windings(&mut self, n: usize) {
        // In place: the kept windings' bus buffers stay; new ones get an empty
        // bus, named by default in `into_model` if never given.
        self.windings.truncate(n);
        for w in &mut self.windings {
            *w = Winding {
                bus: std::mem::take(&mut w.bus),
                ..default_winding_data()
            };
        }
        self.windings.resize_with(n, default_winding_data);
        self.xsc.resize(n * (n - 1) / 2, 30.0);
        if self.active >= n {
            self.active = 0;
        }
    }

    /// The per-winding arrays leave the last winding active, however many
    /// values they had (checked against OpenDSS).
    fn activate_last(&mut self, _given: usize) {
        self.active = self.windings.len() - 1;
    }

    /// OpenDSS's `RecalcElementData`: an edit that set XHL/XHT/XLT copies them
    /// into the reactance array (2- and 3-winding units).
    fn apply_reactances(&mut self) {
        if self.xhl_changed && self.windings.len() <= 3 {
            for (slot, v) in self.xsc.iter_mut().zip([self.xhl, self.xht, self.xlt]) {
                *slot = v;
            }
        }
        self.xhl_changed = false;
    }

    fn fetch_code(&mut self, code: &TransformerState) {
        self.phases = code.phases;
        self.set_num_windings(code.windings.len());
        for (own, theirs) in self.windings.iter_mut().zip(&code.windings) {
            *own = Winding {
                bus: std::mem::take(&mut own.bus),
                ..*theirs
            };
        }
        self.xsc.clone_from(&code.xsc);
        self.xhl = code.xhl;
        self.xht = code.xht;
        self.xlt = code.xlt;
        self.pct_noload_loss = code.pct_noload_loss;
        self.pct_imag = code.pct_imag;
        self.ppm_antifloat = code.ppm_antifloat;
        self.xfmrcode = Some(code.name.clone());
    }

    fn set_common(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        let n = self.windings.len();
        let active = self.active;
        match prop {
            "phases" => self.phases = count(value, 1, 100)?,
            "windings" => self.set_num_windings(count(value, 2, 100)?),
            "wdg" => {
                let w = count(value, 1, 1_000_000)?;
                if w > n {
                    return Err(format!("wdg={w} but the transformer has {n} windings"));
                }
                self.active = w - 1;
            }
            "bus" => self.windings[active].bus = bus(value.text)?,
            "conn" => self.windings[active].conn = connection(value.text)?,
            "kv" => self.windings[active].kv = number(value)?,
            "kva" => {
                let kva = number(value)?;
                self.windings[active].kva = kva;
                // OpenDSS: winding 1's rating becomes every winding's; a
                // 2-winding unit always has equal ratings.
                if active == 0 {
                    self.windings.iter_mut().for_each(|w| w.kva = kva);
                } else if n == 2 {
                    self.windings[0].kva = kva;
                }
            }
            "tap" => self.windings[active].tap = number(value)?,
            "%r" => self.windings[active].pct_r = number(value)?,
            "rneut" => self.windings[active].rneut = number(value)?,
            "xneut" => self.windings[active].xneut = number(value)?,
            "maxtap" => self.windings[active].max_tap = number(value)?,
            "mintap" => self.windings[active].min_tap = number(value)?,
            "numtaps" => self.windings[active].num_taps = count(value, 0, 10_000)?,
            // The per-winding arrays leave the last winding active, as OpenDSS
            // does (a later `kv=` applies to it).
            "buses" => {
                let values = words(value)?;
                for (w, text) in self.windings.iter_mut().zip(&values) {
                    w.bus = bus(text)?;
                }
                self.activate_last(values.len());
            }
            "conns" => {
                let values = words(value)?;
                for (w, text) in self.windings.iter_mut().zip(&values) {
                    w.conn = connection(text)?;
                }
                self.activate_last(values.len());
            }
            "kvs" | "kvas" | "taps" | "%rs" => {
                let values = numbers(value)?;
                for (w, &v) in self.windings.iter_mut().zip(&values) {
                    match prop {
                        "kvs" => w.kv = v,
                        "kvas" => w.kva = v,
                        "taps" => w.tap = v,
                        _ => w.pct_r = v,
                    }
                }
                self.activate_last(values.len());
            }
            "xhl" | "x12" | "xht" | "x13" | "xlt" | "x23" => {
                // A zero means "the default" (OpenDSS's PropertyTrapZero)…
                let v = number(value)?;
                match prop {
                    // OpenDSS substitutes the default before its percent
                    // scaling, so a zero becomes 700% (sic), 3500%, 3000%.
                    "xhl" | "x12" => self.xhl = if v == 0.0 { 700.0 } else { v },
                    "xht" | "x13" => self.xht = if v == 0.0 { 3500.0 } else { v },
                    _ => self.xlt = if v == 0.0 { 3000.0 } else { v },
                }
                self.xhl_changed = true;
            }
            // Unlike the per-winding arrays, missing values become 0 here.
            "xscarray" => fill(&mut self.xsc, &numbers(value)?),
            "%loadloss" => {
                // Split evenly between the first two windings, as OpenDSS does.
                let v = number(value)?;
                self.windings[0].pct_r = v / 2.0;
                self.windings[1].pct_r = v / 2.0;
            }
            "%noloadloss" => self.pct_noload_loss = number(value)?,
            "%imag" => self.pct_imag = number(value)?,
            "ppm_antifloat" => self.ppm_antifloat = number(value)?,
            "sub" => self.sub = boolean(value)?,
            "bank" => self.bank = Some(lower(value)),
            "leadlag" => {
                self.hv_leads_lv = match keyword(value.text, &["lag", "lead", "ansi", "euro"]) {
                    Some("lead" | "euro") => true,
                    Some(_) => false,
                    None => return Err(format!("`{}` is not Lead/Lag/ANSI/Euro", value.text)),
                };
            }
            "xfmrcode" => {
                let code = with_lowercase(value.text, |name| ctx.xfmrcodes.get(name))
                    .ok_or_else(|| format!("XfmrCode `{}` is not defined", lower(value)))?;
                self.fetch_code(&code.0);
            }
            "enabled" => self.enabled = boolean(value)?,
            "xrconst" => {
                if boolean(value)? {
                    return unsupported(prop);
                }
            }
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }

    /// The model transformer, moving the state's names, windings and reactances into it.
    pub fn into_model(mut self) -> Transformer {
        let n = self.windings.len();
        // A bus never given is OpenDSS's default `name_1`, `name_2`, ….
        for (i, w) in self.windings.iter_mut().enumerate() {
            if w.bus.bus.is_empty() {
                w.bus = default_bus(&self.name, i + 1);
            }
        }
        Transformer {
            phases: self.phases,
            xhl: self.xsc.first().copied().unwrap_or(self.xhl),
            xht: if n >= 3 { self.xsc[1] } else { self.xht },
            xlt: if n >= 3 { self.xsc[n - 1] } else { self.xlt },
            pct_noload_loss: self.pct_noload_loss,
            pct_imag: self.pct_imag,
            ppm_antifloat: self.ppm_antifloat,
            enabled: self.enabled,
            hv_leads_lv: self.hv_leads_lv,
            sub: self.sub,
            name: self.name,
            windings: self.windings,
            bank: self.bank,
            xfmrcode: self.xfmrcode,
            location: self.location,
            xsc: self.xsc,
        }
    }
}

impl ElementState for TransformerState {
    const CLASS: &'static str = "Transformer";
    const PROPS: &'static [&'static str] = TRANSFORMER_PROPS;
    identity!();

    fn keep_own_connections(&mut self, own: &Self) {
        // MakeLike copies neither the buses nor the active winding.
        self.active = own.active.min(self.windings.len() - 1);
        for (i, w) in self.windings.iter_mut().enumerate() {
            w.bus = own
                .windings
                .get(i)
                .map_or_else(BusRef::default, |o| o.bus.clone());
        }
        // Nor %imag and ppm_antifloat (TTransfObj.MakeLike copies %noloadloss
        // but not these two: the 123-bus regulators repeat `ppm=0` after like=).
        self.pct_imag = own.pct_imag;
        self.ppm_antifloat = own.ppm_antifloat;
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        TransformerState::new(name, location)
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        self.set_common(prop, value, ctx)
    }

    fn begin_edit(&mut self) {
        self.xhl_changed = false;
    }

    fn end_edit(&mut self) {
        self.apply_reactances();
    }
}

/// An XfmrCode holds the same data as a transformer, without buses.
#[derive(Debug, Clone, Default)]
pub(crate) struct XfmrCodeState(pub TransformerState);

impl ElementState for XfmrCodeState {
    const CLASS: &'static str = "XfmrCode";
    const PROPS: &'static [&'static str] = XFMRCODE_PROPS;

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        XfmrCodeState(TransformerState::new(name, location))
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        self.0.set_common(prop, value, ctx)
    }

    fn begin_edit(&mut self) {
        self.0.xhl_changed = false;
    }

    fn end_edit(&mut self) {
        self.0.apply_reactances();
    }

    fn name_mut(&mut self) -> &mut String {
        &mut self.0.name
    }
    fn location_mut(&mut self) -> &mut Location {
        &mut self.0.location
    }
    fn set_enabled(&mut self, enabled: bool) {
        self.0.enabled = enabled;
    }
}

// ---------------------------------------------------------------- loads

/// Which pair of values defines the load (OpenDSS's `LoadSpecType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum LoadSpec {
    #[default]
    KwPf,
    KwKvar,
    KvaPf,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LoadState {
    pub name: String,
    pub location: Location,
    pub bus1: BusRef,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    pub kw: f64,
    pub kvar: f64,
    pub kva: f64,
    pub pf: f64,
    pub spec: LoadSpec,
    pub pf_specified: bool,
    pub model: u8,
    pub vminpu: f64,
    pub vmaxpu: f64,
    pub vlowpu: f64,
    pub cvrwatts: f64,
    pub cvrvars: f64,
    pub zipv: Option<[f64; 7]>,
    pub status: LoadStatus,
    pub daily: Option<String>,
    pub yearly: Option<String>,
    pub duty: Option<String>,
    pub growth: Option<String>,
    pub rneut: f64,
    pub xneut: f64,
    pub enabled: bool,
}

impl LoadState {
    fn shape(&mut self, value: &Token<'_>, ctx: &Ctx) -> Result<Option<String>, String> {
        let name = lower(value);
        if name.is_empty() || name == "none" {
            return Ok(None);
        }
        let shape = ctx
            .loadshapes
            .get(&name)
            .ok_or_else(|| format!("load shape `{name}` is not defined"))?;
        if shape.useactual {
            // OpenDSS's SetkWkvar(MaxP, MaxQ).
            self.kw = shape.mult.iter().copied().fold(f64::MIN, f64::max).max(0.0);
            self.kvar = shape
                .qmult
                .iter()
                .copied()
                .fold(f64::MIN, f64::max)
                .max(0.0);
            self.spec = if self.pf_specified {
                LoadSpec::KwPf
            } else {
                LoadSpec::KwKvar
            };
        }
        Ok(Some(name))
    }

    /// The model load, moving the state's names and bus into it.
    pub fn into_model(self) -> Load {
        let bus1 = if self.bus1.bus.is_empty() {
            default_bus(&self.name, 1)
        } else {
            self.bus1
        };
        Load {
            name: self.name,
            bus1,
            phases: self.phases,
            conn: self.conn,
            kv: self.kv,
            kw: self.kw,
            kvar: self.kvar,
            model: self.model,
            vminpu: self.vminpu,
            vmaxpu: self.vmaxpu,
            vlowpu: self.vlowpu,
            cvrwatts: self.cvrwatts,
            cvrvars: self.cvrvars,
            zipv: self.zipv,
            status: self.status,
            daily: self.daily,
            yearly: self.yearly,
            duty: self.duty,
            enabled: self.enabled,
            location: self.location,
            rneut: self.rneut,
            xneut: self.xneut,
            growth: self.growth,
            pf: self.pf,
        }
    }
}

impl ElementState for LoadState {
    const CLASS: &'static str = "Load";
    const PROPS: &'static [&'static str] = LOAD_PROPS;
    identity!();

    fn keep_own_connections(&mut self, own: &Self) {
        self.bus1 = own.bus1.clone();
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        let mut load = LoadState {
            name: name.to_string(),
            location: location.clone(),
            // Left empty until `into_model` (OpenDSS's default `name_1`).
            bus1: BusRef::default(),
            phases: 3,
            conn: Connection::Wye,
            kv: 12.47,
            kw: 10.0,
            kvar: 5.0,
            kva: 10.0 / 0.88,
            pf: 0.88,
            spec: LoadSpec::KwPf,
            pf_specified: false,
            model: 1,
            vminpu: 0.95,
            vmaxpu: 1.05,
            vlowpu: 0.5,
            cvrwatts: 1.0,
            cvrvars: 2.0,
            zipv: None,
            status: LoadStatus::Variable,
            daily: None,
            yearly: None,
            duty: None,
            growth: None,
            rneut: -1.0,
            xneut: 0.0,
            enabled: true,
        };
        // The defaults settle to the same kvar and kVA for every load: once
        // per process, not a square root and a `hypot` per load.
        static DEFAULTS_SETTLED: std::sync::OnceLock<(f64, f64)> = std::sync::OnceLock::new();
        (load.kvar, load.kva) = *DEFAULTS_SETTLED.get_or_init(|| {
            let mut settled = load.clone();
            settled.end_edit();
            (settled.kvar, settled.kva)
        });
        load
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        match prop {
            "phases" => self.phases = count(value, 1, 100)?,
            "bus1" => self.bus1 = bus(value.text)?,
            "kv" => self.kv = number(value)?,
            "kw" => {
                self.kw = number(value)?;
                self.spec = LoadSpec::KwPf;
            }
            "pf" => {
                self.pf = number(value)?;
                self.pf_specified = true;
            }
            "kvar" => {
                self.kvar = number(value)?;
                self.spec = LoadSpec::KwKvar;
                self.pf_specified = false;
            }
            "kva" => {
                self.kva = number(value)?;
                self.spec = LoadSpec::KvaPf;
            }
            "model" => {
                let model = integer(value)?;
                if !(1..=8).contains(&model) {
                    return Err(format!("load model {model} does not exist (1..8)"));
                }
                self.model = model as u8;
            }
            "conn" => self.conn = connection(value.text)?,
            "vminpu" => self.vminpu = number(value)?,
            "vmaxpu" => self.vmaxpu = number(value)?,
            "vlowpu" => self.vlowpu = number(value)?,
            "cvrwatts" => self.cvrwatts = number(value)?,
            "cvrvars" => self.cvrvars = number(value)?,
            "zipv" => {
                let v = numbers(value)?;
                if v.len() != 7 {
                    return Err(format!("ZIPV needs 7 values, got {}", v.len()));
                }
                let mut zipv = [0.0; 7];
                zipv.copy_from_slice(&v);
                self.zipv = Some(zipv);
            }
            "status" => {
                self.status = match keyword(value.text, &["variable", "fixed", "exempt"]) {
                    Some("fixed") => LoadStatus::Fixed,
                    Some("exempt") => LoadStatus::Exempt,
                    Some(_) => LoadStatus::Variable,
                    None => return Err(format!("`{}` is not fixed/variable/exempt", value.text)),
                }
            }
            "daily" => {
                self.daily = self.shape(value, ctx)?;
                if self.yearly.is_none() {
                    self.yearly = self.daily.clone();
                }
            }
            "yearly" => self.yearly = self.shape(value, ctx)?,
            "duty" => self.duty = self.shape(value, ctx)?,
            "growth" => {
                self.growth = Some(lower(value));
                return Ok(Ignored);
            }
            "rneut" => self.rneut = number(value)?,
            "xneut" => self.xneut = number(value)?,
            "enabled" => self.enabled = boolean(value)?,
            "xfkva" | "allocationfactor" | "kwh" | "kwhdays" | "cfactor" => {
                return unsupported(prop)
            }
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }

    /// OpenDSS's `RecalcElementData`: settle kW/kvar/kVA/pf from the pair that
    /// was given last.
    fn end_edit(&mut self) {
        match self.spec {
            LoadSpec::KwPf => {
                self.kvar = self.kw * (1.0 / (self.pf * self.pf) - 1.0).sqrt();
                if self.pf < 0.0 {
                    self.kvar = -self.kvar;
                }
                self.kva = self.kw.hypot(self.kvar);
            }
            LoadSpec::KwKvar => {
                self.kva = self.kw.hypot(self.kvar);
                if self.kva > 0.0 {
                    self.pf = self.kw / self.kva;
                    if self.kvar != 0.0 {
                        self.pf *= (self.kw * self.kvar).signum();
                    }
                }
            }
            LoadSpec::KvaPf => {
                self.kw = self.kva * self.pf.abs();
                self.kvar = self.kw * (1.0 / (self.pf * self.pf) - 1.0).sqrt();
                if self.pf < 0.0 {
                    self.kvar = -self.kvar;
                }
            }
        }
        if !self.kvar.is_finite() {
            // pf = 0 gives an infinite kvar in OpenDSS too; keep the model finite.
            self.kvar = 0.0;
        }
    }
}

// ---------------------------------------------------------------- capacitors

#[derive(Debug, Clone, Default)]
pub(crate) struct CapacitorState {
    pub name: String,
    pub location: Location,
    pub bus1: BusRef,
    pub bus2: Option<BusRef>,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    /// Number of steps. The per-step vectors may be longer: like OpenDSS's
    /// reallocated arrays, shrinking keeps the old values beyond `steps`, and
    /// growing again brings them back.
    pub steps: usize,
    pub kvar: Vec<f64>,
    pub r: Vec<f64>,
    pub xl: Vec<f64>,
    pub states: Vec<u8>,
    pub enabled: bool,
}

impl CapacitorState {
    /// OpenDSS's `numsteps` side effect: from a single step (even to a single
    /// step) the bank is split evenly, R and XL scaled, and every step switched
    /// on; otherwise new steps start at zero (OpenDSS leaves them uninitialised).
    fn set_num_steps(&mut self, n: usize) {
        if self.steps == 1 {
            let total = self.kvar[0];
            let (r, xl) = (self.r[0] * n as f64, self.xl[0] * n as f64);
            self.kvar = vec![total / n as f64; n];
            self.r = vec![r; n];
            self.xl = vec![xl; n];
            self.states = vec![1; n];
        } else if n > self.kvar.len() {
            self.kvar.resize(n, 0.0);
            self.r.resize(n, 0.0);
            self.xl.resize(n, 0.0);
            self.states.resize(n, 0);
        }
        self.steps = n;
    }

    pub fn to_model(&self) -> Capacitor {
        Capacitor {
            name: self.name.clone(),
            bus1: self.bus1.clone(),
            bus2: self.bus2.clone(),
            phases: self.phases,
            conn: self.conn,
            kv: self.kv,
            kvar: self.kvar[..self.steps].to_vec(),
            states: self.states[..self.steps].to_vec(),
            r: self.r[..self.steps].to_vec(),
            xl: self.xl[..self.steps].to_vec(),
            enabled: self.enabled,
            location: self.location.clone(),
        }
    }
}

impl ElementState for CapacitorState {
    const CLASS: &'static str = "Capacitor";
    const PROPS: &'static [&'static str] = CAPACITOR_PROPS;
    identity!();

    fn keep_own_connections(&mut self, own: &Self) {
        self.bus1 = own.bus1.clone();
        self.bus2 = own.bus2.clone();
    }

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        CapacitorState {
            name: name.to_string(),
            location: location.clone(),
            bus1: default_bus(name, 1),
            bus2: None,
            phases: 3,
            conn: Connection::Wye,
            kv: 12.47,
            steps: 1,
            kvar: vec![1200.0],
            r: vec![0.0],
            xl: vec![0.0],
            states: vec![1],
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        match prop {
            "bus1" => self.bus1 = bus(value.text)?,
            "bus2" => self.bus2 = Some(bus(value.text)?),
            "phases" => self.phases = count(value, 1, 100)?,
            "kvar" => fill(&mut self.kvar[..self.steps], &numbers(value)?),
            "kv" => self.kv = number(value)?,
            "conn" => self.conn = connection(value.text)?,
            "r" => fill(&mut self.r[..self.steps], &numbers(value)?),
            "xl" => fill(&mut self.xl[..self.steps], &numbers(value)?),
            "numsteps" => self.set_num_steps(count(value, 1, 1000)?),
            "states" => {
                let values = numbers(value)?;
                for (i, slot) in self.states[..self.steps].iter_mut().enumerate() {
                    *slot = u8::from(values.get(i).copied().unwrap_or(0.0) != 0.0);
                }
            }
            "enabled" => self.enabled = boolean(value)?,
            "cmatrix" | "cuf" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- reactors

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ReactorSpec {
    #[default]
    Kvar,
    Impedance,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ReactorState {
    pub name: String,
    pub location: Location,
    pub bus1: BusRef,
    pub bus2: Option<BusRef>,
    pub phases: usize,
    pub conn: Connection,
    pub kv: f64,
    pub kvar: f64,
    pub r: f64,
    pub x: f64,
    pub rp: Option<f64>,
    pub parallel: bool,
    pub spec: ReactorSpec,
    pub base_frequency: f64,
    pub enabled: bool,
}

impl ReactorState {
    pub fn to_model(&self) -> Reactor {
        let (r, x) = match self.spec {
            ReactorSpec::Impedance => (self.r, self.x),
            ReactorSpec::Kvar => {
                // OpenDSS: X = kV_phase² · 1000 / kvar_per_phase.
                let per_phase = self.kvar / self.phases as f64;
                let kv_phase = if self.conn == Connection::Wye && self.phases > 1 {
                    self.kv / 3f64.sqrt()
                } else {
                    self.kv
                };
                (self.r, kv_phase * kv_phase * 1000.0 / per_phase)
            }
        };
        Reactor {
            name: self.name.clone(),
            bus1: self.bus1.clone(),
            bus2: self.bus2.clone(),
            phases: self.phases,
            conn: self.conn,
            kv: self.kv,
            kvar: self.kvar,
            r,
            x,
            parallel: self.parallel,
            enabled: self.enabled,
            location: self.location.clone(),
            rp: self.rp,
        }
    }
}

impl ElementState for ReactorState {
    const CLASS: &'static str = "Reactor";
    const PROPS: &'static [&'static str] = REACTOR_PROPS;
    identity!();

    fn keep_own_connections(&mut self, own: &Self) {
        self.bus1 = own.bus1.clone();
        self.bus2 = own.bus2.clone();
    }

    fn create(name: &str, location: &Location, ctx: &Ctx) -> Self {
        ReactorState {
            name: name.to_string(),
            location: location.clone(),
            bus1: default_bus(name, 1),
            bus2: None,
            phases: 3,
            conn: Connection::Wye,
            kv: 12.47,
            kvar: 100.0,
            r: 0.0,
            x: 0.0,
            rp: None,
            parallel: false,
            spec: ReactorSpec::Kvar,
            base_frequency: ctx.base_frequency,
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        match prop {
            "bus1" => self.bus1 = bus(value.text)?,
            "bus2" => self.bus2 = Some(bus(value.text)?),
            "phases" => self.phases = count(value, 1, 100)?,
            "kvar" => {
                self.kvar = number(value)?;
                self.spec = ReactorSpec::Kvar;
            }
            "kv" => self.kv = number(value)?,
            "conn" => self.conn = connection(value.text)?,
            "parallel" => self.parallel = boolean(value)?,
            // Only X decides the specification; R is kept with a kvar rating too.
            "r" => self.r = number(value)?,
            "x" => {
                self.x = number(value)?;
                self.spec = ReactorSpec::Impedance;
            }
            "z" => {
                let v = numbers(value)?;
                if v.len() != 2 {
                    return Err("Z needs [R X]".into());
                }
                self.r = v[0];
                self.x = v[1];
                self.spec = ReactorSpec::Impedance;
            }
            "lmh" => {
                self.x = 2.0 * std::f64::consts::PI * self.base_frequency * number(value)? / 1000.0;
                self.spec = ReactorSpec::Impedance;
            }
            "rp" => self.rp = Some(number(value)?),
            "enabled" => self.enabled = boolean(value)?,
            "rmatrix" | "xmatrix" | "z1" | "z2" | "z0" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- sources

#[derive(Debug, Clone, Default)]
pub(crate) struct VsourceState {
    pub v: Option<Vsource>,
    pub name: String,
    pub location: Location,
    pub enabled: bool,
    /// Per-unit impedances (`puZ1`/`puZ0`), converted at the end of the edit.
    pub pu_z1: Option<(f64, f64)>,
    pub pu_z0: Option<(f64, f64)>,
}

fn default_vsource(name: &str, location: &Location, bus1: &str, base_frequency: f64) -> Vsource {
    Vsource {
        name: name.to_string(),
        bus1: BusRef {
            bus: bus1.to_string(),
            nodes: Vec::new(),
        },
        bus2: None,
        phases: 3,
        base_kv: 115.0,
        pu: 1.0,
        angle_deg: 0.0,
        frequency: base_frequency,
        spec: SourceImpedanceSpec::ShortCircuitMva,
        mvasc3: 2000.0,
        mvasc1: 2100.0,
        // What OpenDSS derives from the defaults above (read back from DSS C-API).
        isc3: 10040.8742467761,
        isc1: 10542.9179591149,
        r1: 1.60376682055275,
        x1: 6.41506728221101,
        r0: 1.79603583012335,
        x0: 5.38810749037006,
        x1r1: 4.0,
        x0r0: 3.0,
        base_mva: 100.0,
        enabled: true,
        location: location.clone(),
    }
}

impl VsourceState {
    pub fn new_source(name: &str, location: &Location, bus1: &str, base_frequency: f64) -> Self {
        VsourceState {
            v: Some(default_vsource(name, location, bus1, base_frequency)),
            name: name.to_string(),
            location: location.clone(),
            enabled: true,
            pu_z1: None,
            pu_z0: None,
        }
    }

    pub fn to_model(&self) -> Vsource {
        let mut v = self
            .v
            .clone()
            .unwrap_or_else(|| default_vsource(&self.name, &self.location, "sourcebus", 60.0));
        v.name = self.name.clone();
        v.location = self.location.clone();
        v.enabled = self.enabled;
        v
    }
}

fn complex_pair(value: &Token<'_>) -> Result<(f64, f64), String> {
    let v = numbers(value)?;
    match v.as_slice() {
        [re, im] => Ok((*re, *im)),
        _ => Err(format!("`{}` must be [real imaginary]", value.text)),
    }
}

impl ElementState for VsourceState {
    const CLASS: &'static str = "Vsource";
    const PROPS: &'static [&'static str] = VSOURCE_PROPS;
    identity!();

    fn keep_own_connections(&mut self, own: &Self) {
        if let (Some(v), Some(o)) = (self.v.as_mut(), own.v.as_ref()) {
            v.bus1 = o.bus1.clone();
            v.bus2 = o.bus2.clone();
        }
    }

    fn create(name: &str, location: &Location, ctx: &Ctx) -> Self {
        VsourceState::new_source(name, location, &format!("{name}_1"), ctx.base_frequency)
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        let Some(v) = self.v.as_mut() else {
            return Err("source has no data".into());
        };
        match prop {
            "bus1" => v.bus1 = bus(value.text)?,
            "bus2" => v.bus2 = Some(bus(value.text)?),
            "basekv" => v.base_kv = number(value)?,
            "pu" => v.pu = number(value)?,
            "angle" => v.angle_deg = number(value)?,
            "frequency" => v.frequency = number(value)?,
            "phases" => v.phases = count(value, 1, 100)?,
            "mvasc3" | "mvasc1" => {
                let x = number(value)?;
                if prop == "mvasc3" {
                    v.mvasc3 = x
                } else {
                    v.mvasc1 = x
                }
                v.spec = SourceImpedanceSpec::ShortCircuitMva;
            }
            "isc3" | "isc1" => {
                let x = number(value)?;
                if prop == "isc3" {
                    v.isc3 = x
                } else {
                    v.isc1 = x
                }
                v.spec = SourceImpedanceSpec::ShortCircuitCurrent;
            }
            "x1r1" => v.x1r1 = number(value)?,
            "x0r0" => v.x0r0 = number(value)?,
            "r1" | "x1" | "r0" | "x0" => {
                let x = number(value)?;
                match prop {
                    "r1" => v.r1 = x,
                    "x1" => v.x1 = x,
                    "r0" => v.r0 = x,
                    _ => v.x0 = x,
                }
                v.spec = SourceImpedanceSpec::Impedance;
            }
            "z1" | "z0" => {
                let (re, im) = complex_pair(value)?;
                if prop == "z1" {
                    (v.r1, v.x1) = (re, im);
                } else {
                    (v.r0, v.x0) = (re, im);
                }
                v.spec = SourceImpedanceSpec::Impedance;
            }
            "puz1" => self.pu_z1 = Some(complex_pair(value)?),
            "puz0" => self.pu_z0 = Some(complex_pair(value)?),
            "basemva" => v.base_mva = number(value)?,
            "enabled" => self.enabled = boolean(value)?,
            "model" => {
                if lower(value).starts_with('i') {
                    return Err("Vsource model=ideal is not supported by this reader".into());
                }
            }
            // A negative-sequence impedance other than Z1, or a source that
            // follows a shape in time, would change the power flow.
            "z2" | "puz2" => return unsupported(prop),
            "yearly" | "daily" | "duty" => {
                if !value.text.trim().is_empty() {
                    return unsupported(prop);
                }
            }
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }

    /// OpenDSS's `RecalcElementData`: derive every impedance form from the one
    /// given last, so that `r1 x1 r0 x0` (ohms), `isc*` and `mvasc*` agree.
    fn end_edit(&mut self) {
        let Some(v) = self.v.as_mut() else { return };
        if self.pu_z1.is_some() || self.pu_z0.is_some() {
            let zbase = v.base_kv * v.base_kv / v.base_mva;
            if let Some((r, x)) = self.pu_z1.take() {
                (v.r1, v.x1) = (r * zbase, x * zbase);
            }
            if let Some((r, x)) = self.pu_z0.take() {
                (v.r0, v.x0) = (r * zbase, x * zbase);
            }
            v.spec = SourceImpedanceSpec::Impedance;
        }
        recalc_source(v);
    }
}

/// The larger root of a·x² + b·x + c (OpenDSS's `QuadSolver`); 0 when there is none.
fn larger_root(a: f64, b: f64, c: f64) -> f64 {
    let d = b * b - 4.0 * a * c;
    if a == 0.0 || d < 0.0 {
        return 0.0;
    }
    ((-b + d.sqrt()) / (2.0 * a)).max((-b - d.sqrt()) / (2.0 * a))
}

fn recalc_source(v: &mut Vsource) {
    let sqrt3 = 3f64.sqrt();
    let factor = if v.phases == 1 { 1.0 } else { sqrt3 };
    let kv = v.base_kv;
    let positive_and_zero = |v: &mut Vsource| {
        v.x1 = kv * kv / v.mvasc3 / (1.0 + 1.0 / (v.x1r1 * v.x1r1)).sqrt();
        v.r1 = v.x1 / v.x1r1;
        let z1sq = v.r1 * v.r1 + v.x1 * v.x1;
        let v_over_i = 3.0 * kv * 1000.0 / factor / v.isc1;
        v.r0 = larger_root(
            1.0 + v.x0r0 * v.x0r0,
            4.0 * (v.r1 + v.x1 * v.x0r0),
            4.0 * z1sq - v_over_i * v_over_i,
        );
        v.x0 = v.r0 * v.x0r0;
    };
    match v.spec {
        SourceImpedanceSpec::ShortCircuitMva => {
            v.isc3 = v.mvasc3 * 1000.0 / (sqrt3 * kv);
            v.isc1 = v.mvasc1 * 1000.0 / (factor * kv);
            positive_and_zero(v);
        }
        SourceImpedanceSpec::ShortCircuitCurrent => {
            v.mvasc3 = sqrt3 * kv * v.isc3 / 1000.0;
            v.mvasc1 = factor * kv * v.isc1 / 1000.0;
            positive_and_zero(v);
        }
        SourceImpedanceSpec::Impedance => {
            v.isc3 = kv * 1000.0 / sqrt3 / v.r1.hypot(v.x1);
            if v.phases == 1 {
                (v.r0, v.x0) = (v.r1, v.x1);
            }
            let (rs, xs) = ((2.0 * v.r1 + v.r0) / 3.0, (2.0 * v.x1 + v.x0) / 3.0);
            v.isc1 = kv * 1000.0 / factor / rs.hypot(xs);
            v.mvasc3 = sqrt3 * kv * v.isc3 / 1000.0;
            v.mvasc1 = factor * kv * v.isc1 / 1000.0;
        }
    }
}

// ---------------------------------------------------------------- controls

fn phase_code(value: &Token<'_>) -> Result<i32, String> {
    match lower(value).as_str() {
        "max" => Ok(PHASE_MAX),
        "min" => Ok(PHASE_MIN),
        "avg" => Ok(PHASE_AVG),
        _ => {
            let p = integer(value)?;
            if !(1..=100).contains(&p) {
                return Err(format!(
                    "`{}` is not a phase (1.., max, min, avg)",
                    value.text
                ));
            }
            Ok(p as i32)
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RegControlState {
    pub r: Option<RegControl>,
    pub name: String,
    pub location: Location,
    pub enabled: bool,
}

impl ElementState for RegControlState {
    const CLASS: &'static str = "RegControl";
    const PROPS: &'static [&'static str] = REGCONTROL_PROPS;
    identity!();

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        RegControlState {
            r: Some(RegControl {
                name: name.to_string(),
                transformer: String::new(),
                winding: 1,
                vreg: 120.0,
                band: 3.0,
                ptratio: 60.0,
                ctprim: 300.0,
                r: 0.0,
                x: 0.0,
                delay: 15.0,
                tapdelay: 2.0,
                maxtapchange: 16,
                reversible: false,
                ptphase: 1,
                tapwinding: 1,
                vlimit: 0.0,
                enabled: true,
                location: location.clone(),
                bus: None,
                revvreg: 120.0,
                revband: 3.0,
                rev_r: 0.0,
                rev_x: 0.0,
                rev_threshold: 100.0,
                rev_delay: 60.0,
                rev_neutral: false,
                cogen: false,
                inverse_time: false,
                ldc_z: 0.0,
                rev_z: 0.0,
                remote_ptratio: 60.0,
                tapnum: None,
            }),
            name: name.to_string(),
            location: location.clone(),
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        let Some(r) = self.r.as_mut() else {
            return Err("regulator has no data".into());
        };
        match prop {
            "transformer" => {
                let name = lower(value);
                r.transformer = name
                    .strip_prefix("transformer.")
                    .unwrap_or(&name)
                    .to_string();
            }
            // `winding=` also sets the tap winding (a later `tapwinding=` overrides).
            "winding" => {
                r.winding = count(value, 1, 100)?;
                r.tapwinding = r.winding;
            }
            "tapwinding" => r.tapwinding = count(value, 1, 100)?,
            "vreg" => r.vreg = number(value)?,
            "band" => r.band = number(value)?,
            "ptratio" => r.ptratio = number(value)?,
            "ctprim" => r.ctprim = number(value)?,
            "r" => r.r = number(value)?,
            "x" => r.x = number(value)?,
            "bus" => {
                let b = lower(value);
                r.bus = if b.is_empty() { None } else { Some(b) };
            }
            "delay" => r.delay = number(value)?,
            "reversible" => r.reversible = boolean(value)?,
            "revvreg" => r.revvreg = number(value)?,
            "revband" => r.revband = number(value)?,
            "revr" => r.rev_r = number(value)?,
            "revx" => r.rev_x = number(value)?,
            "tapdelay" => r.tapdelay = number(value)?,
            "maxtapchange" => r.maxtapchange = count(value, 0, 10_000)?,
            "inversetime" => r.inverse_time = boolean(value)?,
            "vlimit" => r.vlimit = number(value)?,
            "ptphase" => r.ptphase = phase_code(value)?,
            "revthreshold" => r.rev_threshold = number(value)?,
            "revdelay" => r.rev_delay = number(value)?,
            "revneutral" => r.rev_neutral = boolean(value)?,
            "remoteptratio" => r.remote_ptratio = number(value)?,
            "tapnum" => r.tapnum = Some(integer(value)?.clamp(-10_000, 10_000) as i32),
            "ldc_z" => r.ldc_z = number(value)?,
            "rev_z" => r.rev_z = number(value)?,
            "cogen" => r.cogen = boolean(value)?,
            "enabled" => self.enabled = boolean(value)?,
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CapControlState {
    pub c: Option<CapControl>,
    pub name: String,
    pub location: Location,
    pub enabled: bool,
}

impl ElementState for CapControlState {
    const CLASS: &'static str = "CapControl";
    const PROPS: &'static [&'static str] = CAPCONTROL_PROPS;
    identity!();

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        CapControlState {
            c: Some(CapControl {
                name: name.to_string(),
                element: String::new(),
                terminal: 1,
                capacitor: String::new(),
                kind: CapControlType::Current,
                ptratio: 60.0,
                ctratio: 60.0,
                on_setting: 300.0,
                off_setting: 200.0,
                delay: 15.0,
                delay_off: 15.0,
                dead_time: 300.0,
                volt_override: false,
                vmax: 126.0,
                vmin: 115.0,
                ptphase: 1,
                enabled: true,
                location: location.clone(),
                ctphase: 1,
                pct_min_kvar: 50.0,
                vbus: None,
            }),
            name: name.to_string(),
            location: location.clone(),
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        let Some(c) = self.c.as_mut() else {
            return Err("controller has no data".into());
        };
        match prop {
            "element" => c.element = lower(value),
            "terminal" => c.terminal = count(value, 1, 100)?,
            "capacitor" => {
                let name = lower(value);
                c.capacitor = name.strip_prefix("capacitor.").unwrap_or(&name).to_string();
            }
            "type" => {
                c.kind = match keyword(value.text, &["current", "voltage", "kvar", "pf", "time"]) {
                    Some("current") => CapControlType::Current,
                    Some("voltage") => CapControlType::Voltage,
                    Some("kvar") => CapControlType::Kvar,
                    Some("pf") => CapControlType::PowerFactor,
                    Some(_) => CapControlType::Time,
                    None => {
                        return Err(format!(
                            "`{}` is not a CapControl type (current/voltage/kvar/pf/time)",
                            value.text
                        ))
                    }
                }
            }
            "ptratio" => c.ptratio = number(value)?,
            "ctratio" => c.ctratio = number(value)?,
            "onsetting" => c.on_setting = number(value)?,
            "offsetting" => c.off_setting = number(value)?,
            "delay" => c.delay = number(value)?,
            "voltoverride" => c.volt_override = boolean(value)?,
            "vmax" => c.vmax = number(value)?,
            "vmin" => c.vmin = number(value)?,
            "delayoff" => c.delay_off = number(value)?,
            "deadtime" => c.dead_time = number(value)?,
            "ctphase" => c.ctphase = phase_code(value)?,
            "ptphase" => c.ptphase = phase_code(value)?,
            "vbus" => {
                let b = lower(value);
                c.vbus = if b.is_empty() { None } else { Some(b) };
            }
            "pctminkvar" => c.pct_min_kvar = number(value)?,
            "enabled" => self.enabled = boolean(value)?,
            "usermodel" => {
                if !value.text.trim().is_empty() {
                    return unsupported(prop);
                }
                return Ok(Ignored);
            }
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

// ---------------------------------------------------------------- load shapes

#[derive(Debug, Clone, Default)]
pub(crate) struct LoadShapeState {
    pub name: String,
    pub location: Location,
    pub npts: usize,
    pub interval_h: f64,
    pub mult: Vec<f64>,
    pub qmult: Vec<f64>,
    pub hour: Vec<f64>,
    /// Whether `mult`/`qmult`/`hour` were ever given. Like OpenDSS's
    /// reallocated arrays, the vectors may hold values beyond `npts` that a
    /// larger `npts` brings back; `points` gives the visible part.
    pub allocated: [bool; 3],
    pub useactual: bool,
    pub pmax: Option<f64>,
    pub qmax: Option<f64>,
    pub pbase: f64,
    pub qbase: f64,
    pub enabled: bool,
}

/// Largest `npts` accepted: a minute-resolution year is 525,600 points; this
/// keeps a hostile script from allocating gigabytes.
pub(crate) const MAX_SHAPE_POINTS: usize = 10_000_000;

/// OpenDSS's built-in `default` daily shape (24 hourly points).
pub(crate) const DEFAULT_LOADSHAPE: [f64; 24] = [
    0.677, 0.6256, 0.6087, 0.5833, 0.58028, 0.6025, 0.657, 0.7477, 0.832, 0.88, 0.94, 0.989, 0.985,
    0.98, 0.9898, 0.999, 1.0, 0.958, 0.936, 0.913, 0.876, 0.876, 0.828, 0.756,
];

impl LoadShapeState {
    pub fn builtin_default() -> Self {
        LoadShapeState {
            name: "default".into(),
            location: Location {
                file: "<built-in>".into(),
                line: 0,
            },
            npts: 24,
            interval_h: 1.0,
            mult: DEFAULT_LOADSHAPE.to_vec(),
            qmult: Vec::new(),
            hour: Vec::new(),
            allocated: [true, false, false],
            useactual: false,
            pmax: None,
            qmax: None,
            pbase: 0.0,
            qbase: 0.0,
            enabled: true,
        }
    }

    /// A new `npts` resizes the arrays that have values; one never given stays
    /// empty (new points are 0; OpenDSS leaves them uninitialised).
    fn resize(&mut self) {
        let n = self.npts;
        for (v, allocated) in [&mut self.mult, &mut self.qmult, &mut self.hour]
            .into_iter()
            .zip(self.allocated)
        {
            if allocated && v.len() < n {
                v.resize(n, 0.0);
            }
        }
    }

    /// The visible values of array `which` (0 mult, 1 qmult, 2 hour): `npts` of
    /// them once given, none otherwise.
    pub fn points(&self, which: usize) -> Vec<f64> {
        let v = [&self.mult, &self.qmult, &self.hour][which];
        if !self.allocated[which] {
            return Vec::new();
        }
        let mut out: Vec<f64> = v.iter().copied().take(self.npts).collect();
        out.resize(self.npts, 0.0);
        out
    }

    /// Reads a column of numbers from `(file=x.csv col=2 header=yes)`,
    /// `(sngfile=x.sng)` or `(dblfile=x.dbl)`; `None` if the value is an inline list.
    fn values_from_file(&self, value: &Token<'_>, ctx: &Ctx) -> Result<Option<Vec<f64>>, String> {
        let text = value.text.trim_start();
        let lower_text = text.to_ascii_lowercase();
        if !(lower_text.starts_with("file")
            || lower_text.starts_with("sngfile")
            || lower_text.starts_with("dblfile"))
        {
            return Ok(None);
        }
        let mut kind = "file";
        let mut path = String::new();
        let mut column = 1usize;
        let mut header = false;
        for param in split_line(text)? {
            let name = param.name.unwrap_or("").to_ascii_lowercase();
            match name.as_str() {
                "file" | "sngfile" | "dblfile" => {
                    kind = match name.as_str() {
                        "file" => "file",
                        "sngfile" => "sngfile",
                        _ => "dblfile",
                    };
                    path = param.value.text.to_string();
                }
                "col" | "column" => column = count(&param.value, 1, 1000)?,
                "header" => header = boolean(&param.value)?,
                _ => {
                    return Err(format!(
                        "unknown file option `{name}` (file, sngfile, dblfile, col, header)"
                    ))
                }
            }
        }
        if path.is_empty() {
            return Err("file name missing".into());
        }
        Ok(Some(read_values(ctx, kind, &path, column, header)?))
    }

    /// Returns whether the values were kept (OpenDSS drops inline values given
    /// while `npts` is 0).
    fn set_values(&mut self, which: &str, value: &Token<'_>, ctx: &Ctx) -> Result<bool, String> {
        let (values, from_file) = match self.values_from_file(value, ctx)? {
            Some(values) => (values, true),
            None => (numbers(value)?, false),
        };
        if from_file && (self.npts == 0 || values.len() < self.npts) {
            // OpenDSS resets npts to the number of values found in a file.
            self.npts = values.len();
            self.resize();
        }
        let index = match which {
            "mult" => 0,
            "qmult" => 1,
            _ => 2,
        };
        if self.npts == 0 {
            // OpenDSS keeps nothing of values given before `npts`.
            return Ok(false);
        }
        self.allocated[index] = true;
        let target = match index {
            0 => &mut self.mult,
            1 => &mut self.qmult,
            _ => &mut self.hour,
        };
        *target = vec![0.0; self.npts];
        fill(target, &values);
        Ok(true)
    }

    pub fn to_model(&self) -> LoadShape {
        let max = |v: &[f64]| v.iter().copied().fold(0.0f64, |a, b| a.max(b.abs()));
        LoadShape {
            name: self.name.clone(),
            npts: self.npts,
            interval_h: self.interval_h,
            mult: self.points(0),
            qmult: self.points(1),
            hour: self.points(2),
            useactual: self.useactual,
            pmax: self.pmax.unwrap_or_else(|| max(&self.points(0))),
            qmax: self.qmax.unwrap_or_else(|| max(&self.points(1))),
            pbase: self.pbase,
            qbase: self.qbase,
            location: self.location.clone(),
        }
    }
}

fn read_values(
    ctx: &Ctx,
    kind: &str,
    path: &str,
    column: usize,
    header: bool,
) -> Result<Vec<f64>, String> {
    match kind {
        "sngfile" | "dblfile" => {
            let (_, bytes) = ctx
                .files
                .read_bytes(path, ctx.file)
                .map_err(|e| format!("cannot read `{path}`: {e}"))?;
            if kind == "sngfile" {
                Ok(bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                    .collect())
            } else {
                Ok(bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect())
            }
        }
        _ => {
            let (name, text) = ctx
                .files
                .read(path, ctx.file)
                .map_err(|e| format!("cannot read `{path}`: {e}"))?;
            let mut values = Vec::new();
            for (i, line) in text.lines().enumerate().skip(usize::from(header)) {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let field = line
                    .split(|c: char| c == ',' || c.is_ascii_whitespace())
                    .filter(|s| !s.is_empty())
                    .nth(column - 1)
                    .ok_or_else(|| format!("{name}:{}: no column {column}", i + 1))?;
                let v = crate::rpn::parse_number(field)
                    .ok_or_else(|| format!("{name}:{}: `{field}` is not a number", i + 1))?;
                values.push(v);
            }
            Ok(values)
        }
    }
}

impl ElementState for LoadShapeState {
    const CLASS: &'static str = "LoadShape";
    const PROPS: &'static [&'static str] = LOADSHAPE_PROPS;
    identity!();

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        LoadShapeState {
            name: name.to_string(),
            location: location.clone(),
            npts: 0,
            interval_h: 1.0,
            mult: Vec::new(),
            qmult: Vec::new(),
            hour: Vec::new(),
            allocated: [false; 3],
            useactual: false,
            pmax: None,
            qmax: None,
            pbase: 0.0,
            qbase: 0.0,
            enabled: true,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        match prop {
            "npts" => {
                self.npts = count(value, 0, MAX_SHAPE_POINTS)?;
                self.resize();
            }
            "interval" => self.interval_h = number(value)?,
            "sinterval" => self.interval_h = number(value)? / 3600.0,
            "minterval" => self.interval_h = number(value)? / 60.0,
            "mult" | "pmult" | "qmult" | "hour" => {
                let which = if prop == "pmult" { "mult" } else { prop };
                if prop == "hour" {
                    // OpenDSS: `hour=` makes the shape variable-interval (Interval := 0).
                    self.interval_h = 0.0;
                }
                if !self.set_values(which, value, ctx)? {
                    // Reported in `ignored`: OpenDSS drops values given before npts.
                    return Ok(Ignored);
                }
            }
            "csvfile" | "sngfile" | "dblfile" => {
                let kind = if prop == "csvfile" { "file" } else { prop };
                let values = read_values(ctx, kind, value.text.trim(), 1, false)?;
                if self.npts == 0 || values.len() < self.npts {
                    self.npts = values.len();
                }
                self.mult = vec![0.0; self.npts];
                fill(&mut self.mult, &values);
                self.allocated[0] = true;
                self.resize();
            }
            "useactual" => self.useactual = boolean(value)?,
            "pmax" => self.pmax = Some(number(value)?),
            "qmax" => self.qmax = Some(number(value)?),
            "pbase" => self.pbase = number(value)?,
            "qbase" => self.qbase = number(value)?,
            "action" => {
                let action = lower(value);
                if action.starts_with('n') {
                    // Normalize: scale mult (and qmult) so the peak magnitude is 1.
                    for v in [&mut self.mult, &mut self.qmult] {
                        let peak = v.iter().fold(0.0f64, |a, b| a.max(b.abs()));
                        if peak > 0.0 {
                            v.iter_mut().for_each(|x| *x /= peak);
                        }
                    }
                } else {
                    return Ok(Ignored);
                }
            }
            "pqcsvfile" => return unsupported(prop),
            _ => return Ok(Ignored),
        }
        Ok(Applied)
    }
}

#[cfg(test)]
pub(crate) mod inventory {
    //! Which properties of each class change the circuit, which are accepted
    //! and ignored, and which are refused — worked out from the code itself so
    //! the README's lists can be checked against it.
    use super::*;
    use crate::files::MemoryFiles;

    pub(crate) struct Inventory {
        pub class: &'static str,
        pub used: Vec<&'static str>,
        pub ignored: Vec<&'static str>,
        pub unsupported: Vec<&'static str>,
    }

    fn classify<T: ElementState>() -> Inventory {
        let files = MemoryFiles::new();
        let (linecodes, xfmrcodes, mut loadshapes) =
            (Store::default(), Store::default(), Store::default());
        loadshapes.insert("1".into(), LoadShapeState::builtin_default());
        let (wiredata, spacings, geometries) =
            (Store::default(), Store::default(), Store::default());
        let (cndata, tsdata) = (Store::default(), Store::default());
        let geometry_rho = Default::default();
        let ctx = Ctx {
            linecodes: &linecodes,
            xfmrcodes: &xfmrcodes,
            loadshapes: &loadshapes,
            wiredata: &wiredata,
            cndata: &cndata,
            tsdata: &tsdata,
            spacings: &spacings,
            geometries: &geometries,
            earth_model: EarthModel::default(),
            geometry_rho: &geometry_rho,
            base_frequency: 60.0,
            files: &files,
            file: "x",
        };
        let location = Location::default();
        let mut inv = Inventory {
            class: T::CLASS,
            used: Vec::new(),
            ignored: Vec::new(),
            unsupported: Vec::new(),
        };
        for prop in T::PROPS {
            // `like` and `basefreq` are handled by the reader for every class.
            if *prop == "like" || *prop == "basefreq" {
                inv.used.push(prop);
                continue;
            }
            let mut element = T::create("x", &location, &ctx);
            let value = Token {
                text: if *prop == "usermodel" { "m.dll" } else { "y" },
                quoted: false,
            };
            match element.set(prop, &value, &ctx) {
                Ok(Outcome::Ignored) => inv.ignored.push(prop),
                Err(message) if message.contains("not supported") => inv.unsupported.push(prop),
                _ => inv.used.push(prop),
            }
        }
        inv
    }

    pub(crate) fn all() -> Vec<Inventory> {
        vec![
            classify::<VsourceState>(),
            classify::<LineState>(),
            classify::<LineCodeState>(),
            classify::<TransformerState>(),
            classify::<XfmrCodeState>(),
            classify::<LoadState>(),
            classify::<CapacitorState>(),
            classify::<ReactorState>(),
            classify::<RegControlState>(),
            classify::<CapControlState>(),
            classify::<LoadShapeState>(),
            classify::<WireDataState>(),
            classify::<CnDataState>(),
            classify::<TsDataState>(),
            classify::<LineSpacingState>(),
            classify::<LineGeometryState>(),
            classify::<crate::ders::GeneratorState>(),
            classify::<crate::ders::PvSystemState>(),
            classify::<crate::ders::StorageElemState>(),
            classify::<crate::ders::XyCurveState>(),
            classify::<crate::ders::TShapeState>(),
        ]
    }

    /// The README's table: one row per class.
    pub(crate) fn markdown_table() -> String {
        let list = |v: &[&str]| {
            if v.is_empty() {
                "—".to_string()
            } else {
                v.iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let mut out = String::from("| class | used | accepted, no effect on the power flow | refused (error) |\n| --- | --- | --- | --- |\n");
        for inv in all() {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                inv.class,
                list(&inv.used),
                list(&inv.ignored),
                list(&inv.unsupported)
            ));
        }
        out
    }

    #[test]
    fn readme_property_table_matches_the_code() {
        let readme = include_str!("../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's property table is out of date; it should read:\n{table}"
        );
    }

    #[test]
    fn print_inventory() {
        for inv in all() {
            println!("### {}", inv.class);
            println!(
                "used: {}",
                inv.used
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "ignored: {}",
                inv.ignored
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "refused: {}",
                inv.unsupported
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}
