//! WireData, CNData, TSData, LineSpacing and LineGeometry: the physical
//! description of overhead lines and cables, from which `line_constants`
//! computes their impedances. Property side effects follow OpenDSS's
//! `ConductorData.pas`, `CableData.pas`, `CNData.pas`, `TSData.pas`,
//! `LineSpacing.pas` and `LineGeometry.pas`.

use crate::classes::{Ctx, ElementState, Outcome};
use crate::lexer::Token;
use crate::line_constants::{to_metres, Cable, Conductor, Shield};
use crate::model::{LengthUnit, Location};
use crate::props::{
    CNDATA_PROPS, LINEGEOMETRY_PROPS, LINESPACING_PROPS, TSDATA_PROPS, WIREDATA_PROPS,
};
use crate::store::Store;
use crate::values::*;

// ---------------------------------------------------------------- wire data

/// A bare conductor. Negative values mean "not given" (OpenDSS's -1).
#[derive(Debug, Clone, Default)]
pub(crate) struct WireDataState {
    pub name: String,
    pub location: Location,
    pub enabled: bool,
    pub rdc: f64,
    pub rac: f64,
    pub gmr: f64,
    pub radius: f64,
    pub capradius: f64,
    pub r_units: LengthUnit,
    pub gmr_units: LengthUnit,
    pub radius_units: LengthUnit,
    pub normamps: f64,
    pub emergamps: f64,
    /// Bare wire, or which kind of cable (CNData/TSData share the conductor data).
    pub kind: WireKind,
    pub cable: CableFields,
}

/// Which class a conductor's data come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum WireKind {
    #[default]
    Bare,
    ConcentricNeutral,
    TapeShield,
}

impl WireKind {
    pub fn class(self) -> &'static str {
        match self {
            WireKind::Bare => "wiredata",
            WireKind::ConcentricNeutral => "cndata",
            WireKind::TapeShield => "tsdata",
        }
    }
}

/// CableData (insulation) plus the CNData or TSData shield, as given; -1 = not
/// given. Lengths are in the conductor's radius units, except `gmr_strand`
/// (GMR units) and `r_strand` (ohms per resistance unit).
#[derive(Debug, Clone, Default)]
pub(crate) struct CableFields {
    pub eps_r: f64,
    pub ins_layer: f64,
    pub dia_ins: f64,
    pub dia_cable: f64,
    pub strands: i64,
    pub dia_strand: f64,
    pub gmr_strand: f64,
    pub r_strand: f64,
    pub dia_shield: f64,
    pub tape_layer: f64,
    pub tape_lap: f64,
}

/// The data objects a conductor may name, by class.
#[derive(Clone, Copy)]
pub(crate) struct WireStores<'a> {
    pub wire: &'a Store<WireDataState>,
    pub cn: &'a Store<CnDataState>,
    pub ts: &'a Store<TsDataState>,
}

impl<'a> WireStores<'a> {
    pub fn get(&self, kind: WireKind, name: &str) -> Option<&'a WireDataState> {
        match kind {
            WireKind::Bare => self.wire.get(name),
            WireKind::ConcentricNeutral => self.cn.get(name).map(|c| &c.0),
            WireKind::TapeShield => self.ts.get(name).map(|t| &t.0),
        }
    }

    /// The named data object, or a located-by-caller error.
    pub fn require(&self, kind: WireKind, name: &str) -> Result<&'a WireDataState, String> {
        self.get(kind, name)
            .ok_or_else(|| format!("{} `{name}` is not defined", kind.class()))
    }
}

impl WireDataState {
    /// The cable data in metres and ohms per metre, checked as OpenDSS's
    /// property checks do (they report errors; here they stop the read).
    fn cable(&self) -> Result<Option<Cable>, String> {
        let c = &self.cable;
        let r = to_metres(self.radius_units);
        let who = format!("{}.{}", self.kind.class(), self.name);
        let positive = |what: &str, v: f64| {
            if v > 0.0 {
                Ok(v)
            } else {
                Err(format!("{who}: {what} must be given and > 0"))
            }
        };
        let shield = match self.kind {
            WireKind::Bare => return Ok(None),
            WireKind::ConcentricNeutral => {
                if c.strands < 2 {
                    return Err(format!(
                        "{who}: k must be at least 2 concentric neutral strands"
                    ));
                }
                Shield::Concentric {
                    strands: c.strands as f64,
                    dia_strand: positive("diastrand", c.dia_strand)? * r,
                    gmr_strand: positive("gmrstrand", c.gmr_strand)? * to_metres(self.gmr_units),
                    r_strand: positive("rstrand", c.r_strand)? / to_metres(self.r_units),
                }
            }
            WireKind::TapeShield => {
                if !(0.0..100.0).contains(&c.tape_lap) {
                    return Err(format!("{who}: tapelap must be from 0 to below 100"));
                }
                Shield::Tape {
                    dia_shield: positive("diashield", c.dia_shield)? * r,
                    tape_layer: positive("tapelayer", c.tape_layer)? * r,
                    tape_lap: c.tape_lap,
                }
            }
        };
        if c.eps_r < 1.0 {
            return Err(format!("{who}: epsr must be at least 1"));
        }
        let cable = Cable {
            shield,
            eps_r: c.eps_r,
            ins_layer: positive("inslayer", c.ins_layer)? * r,
            dia_ins: positive("diains", c.dia_ins)? * r,
            dia_cable: positive("diacable", c.dia_cable)? * r,
        };
        if cable.ins_layer >= 0.5 * cable.dia_ins {
            return Err(format!("{who}: inslayer must be less than half of diains"));
        }
        Ok(Some(cable))
    }

    /// The conductor's data in metres and ohms per metre, as OpenDSS's
    /// `UpdateLineGeometryData` hands them to the line constants.
    pub fn conductor(&self, x_m: f64, y_m: f64) -> Result<Conductor, String> {
        let radius_scale = to_metres(self.radius_units);
        let mut radius = self.radius * radius_scale;
        let mut gmr = self.gmr * to_metres(self.gmr_units);
        // TLineConstants' own defaults when only one of the two is known.
        if radius < 0.0 && gmr >= 0.0 {
            radius = gmr / 0.7788;
        }
        if gmr < 0.0 && radius >= 0.0 {
            gmr = radius * 0.7788;
        }
        let per_metre = 1.0 / to_metres(self.r_units);
        Ok(Conductor {
            x: x_m,
            y: y_m,
            rdc: self.rdc * per_metre,
            rac: self.rac * per_metre,
            gmr,
            radius,
            capradius: self.capradius * radius_scale,
            cable: self.cable()?,
        })
    }
}

impl ElementState for WireDataState {
    const CLASS: &'static str = "WireData";
    const PROPS: &'static [&'static str] = WIREDATA_PROPS;

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        WireDataState {
            name: name.to_string(),
            location: location.clone(),
            enabled: true,
            rdc: -1.0,
            rac: -1.0,
            gmr: -1.0,
            radius: -1.0,
            capradius: -1.0,
            r_units: LengthUnit::None,
            gmr_units: LengthUnit::None,
            radius_units: LengthUnit::None,
            normamps: -1.0,
            emergamps: -1.0,
            kind: WireKind::Bare,
            cable: CableFields::default(),
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        let positive = |v: f64| {
            if v > 0.0 {
                Ok(v)
            } else {
                Err(format!("`{}` must be > 0", value.text))
            }
        };
        match prop {
            "rdc" => {
                self.rdc = number(value)?;
                if self.rac < 0.0 {
                    self.rac = 1.02 * self.rdc;
                }
            }
            "rac" => {
                self.rac = number(value)?;
                if self.rdc < 0.0 {
                    self.rdc = self.rac / 1.02;
                }
            }
            "runits" => self.r_units = length_unit(value.text)?,
            "gmrac" => {
                self.gmr = positive(number(value)?)?;
                if self.radius < 0.0 {
                    self.radius = self.gmr / 0.7788;
                }
            }
            "gmrunits" => {
                self.gmr_units = length_unit(value.text)?;
                if self.radius_units == LengthUnit::None {
                    self.radius_units = self.gmr_units;
                }
            }
            "radius" | "diam" => {
                let v = positive(number(value)?)?;
                self.radius = if prop == "diam" { v / 2.0 } else { v };
                if self.gmr < 0.0 {
                    self.gmr = 0.7788 * self.radius;
                }
                if self.capradius < 0.0 {
                    self.capradius = self.radius;
                }
            }
            "radunits" => {
                self.radius_units = length_unit(value.text)?;
                if self.gmr_units == LengthUnit::None {
                    self.gmr_units = self.radius_units;
                }
            }
            "capradius" => {
                let v = number(value)?;
                if v == 0.0 {
                    return Err("capradius must not be 0".into());
                }
                self.capradius = v;
            }
            "normamps" => {
                self.normamps = number(value)?;
                if self.emergamps < 0.0 {
                    self.emergamps = 1.5 * self.normamps;
                }
            }
            "emergamps" => {
                self.emergamps = number(value)?;
                if self.normamps < 0.0 {
                    self.normamps = self.emergamps / 1.5;
                }
            }
            _ => return Ok(Outcome::Ignored),
        }
        Ok(Outcome::Applied)
    }

    fn name_mut(&mut self) -> &mut String {
        &mut self.name
    }
    fn location_mut(&mut self) -> &mut Location {
        &mut self.location
    }
    fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }
}

// ---------------------------------------------------------------- cables

/// CableData's own properties (`EpsR InsLayer DiaIns DiaCable`); `None` when
/// `prop` is not one of them.
fn set_cable_insulation(
    w: &mut WireDataState,
    prop: &str,
    value: &Token<'_>,
) -> Result<Option<Outcome>, String> {
    let c = &mut w.cable;
    match prop {
        "epsr" => c.eps_r = number(value)?,
        "inslayer" => c.ins_layer = number(value)?,
        "diains" => c.dia_ins = number(value)?,
        "diacable" => c.dia_cable = number(value)?,
        _ => return Ok(None),
    }
    Ok(Some(Outcome::Applied))
}

fn cable_defaults(kind: WireKind) -> CableFields {
    CableFields {
        eps_r: 2.3,
        ins_layer: -1.0,
        dia_ins: -1.0,
        dia_cable: -1.0,
        strands: 2,
        dia_strand: -1.0,
        gmr_strand: -1.0,
        r_strand: -1.0,
        dia_shield: -1.0,
        tape_layer: -1.0,
        tape_lap: if kind == WireKind::TapeShield {
            20.0
        } else {
            -1.0
        },
    }
}

/// A concentric-neutral cable (OpenDSS `CNData`): conductor data for the core,
/// insulation, and `k` neutral strands.
#[derive(Debug, Clone, Default)]
pub(crate) struct CnDataState(pub WireDataState);

impl ElementState for CnDataState {
    const CLASS: &'static str = "CNData";
    const PROPS: &'static [&'static str] = CNDATA_PROPS;

    fn create(name: &str, location: &Location, ctx: &Ctx) -> Self {
        let mut w = WireDataState::create(name, location, ctx);
        w.kind = WireKind::ConcentricNeutral;
        w.cable = cable_defaults(w.kind);
        CnDataState(w)
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        let c = &mut self.0.cable;
        match prop {
            "k" => c.strands = count(value, 2, 10_000)? as i64,
            "diastrand" => {
                c.dia_strand = number(value)?;
                if c.gmr_strand <= 0.0 {
                    c.gmr_strand = 0.7788 * 0.5 * c.dia_strand;
                }
            }
            "gmrstrand" => c.gmr_strand = number(value)?,
            "rstrand" => c.r_strand = number(value)?,
            _ => {
                return match set_cable_insulation(&mut self.0, prop, value)? {
                    Some(outcome) => Ok(outcome),
                    None => self.0.set(prop, value, ctx),
                }
            }
        }
        Ok(Outcome::Applied)
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

/// A tape-shielded cable (OpenDSS `TSData`).
#[derive(Debug, Clone, Default)]
pub(crate) struct TsDataState(pub WireDataState);

impl ElementState for TsDataState {
    const CLASS: &'static str = "TSData";
    const PROPS: &'static [&'static str] = TSDATA_PROPS;

    fn create(name: &str, location: &Location, ctx: &Ctx) -> Self {
        let mut w = WireDataState::create(name, location, ctx);
        w.kind = WireKind::TapeShield;
        w.cable = cable_defaults(w.kind);
        TsDataState(w)
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        let c = &mut self.0.cable;
        match prop {
            "diashield" => c.dia_shield = number(value)?,
            "tapelayer" => c.tape_layer = number(value)?,
            "tapelap" => c.tape_lap = number(value)?,
            _ => {
                return match set_cable_insulation(&mut self.0, prop, value)? {
                    Some(outcome) => Ok(outcome),
                    None => self.0.set(prop, value, ctx),
                }
            }
        }
        Ok(Outcome::Applied)
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

// ---------------------------------------------------------------- spacings

#[derive(Debug, Clone, Default)]
pub(crate) struct LineSpacingState {
    pub name: String,
    pub location: Location,
    pub enabled: bool,
    pub phases: usize,
    pub x: Vec<f64>,
    pub h: Vec<f64>,
    pub units: LengthUnit,
}

impl ElementState for LineSpacingState {
    const CLASS: &'static str = "LineSpacing";
    const PROPS: &'static [&'static str] = LINESPACING_PROPS;

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        LineSpacingState {
            name: name.to_string(),
            location: location.clone(),
            enabled: true,
            phases: 3,
            x: vec![0.0; 3],
            h: vec![0.0; 3],
            units: LengthUnit::Ft,
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, _ctx: &Ctx) -> Result<Outcome, String> {
        match prop {
            "nconds" => {
                // Reallocates: coordinates back to zero, units back to feet.
                let n = count(value, 1, 100)?;
                self.x = vec![0.0; n];
                self.h = vec![0.0; n];
                self.units = LengthUnit::Ft;
            }
            "nphases" => self.phases = count(value, 1, 100)?,
            "x" => fill_from(&mut self.x, &numbers(value)?),
            "h" => fill_from(&mut self.h, &numbers(value)?),
            "units" => self.units = length_unit(value.text)?,
            _ => return Ok(Outcome::Ignored),
        }
        Ok(Outcome::Applied)
    }

    fn name_mut(&mut self) -> &mut String {
        &mut self.name
    }
    fn location_mut(&mut self) -> &mut Location {
        &mut self.location
    }
    fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }
}

/// OpenDSS reads an array into the first slots and leaves the rest as they were.
fn fill_from(target: &mut [f64], values: &[f64]) {
    for (slot, v) in target.iter_mut().zip(values) {
        *slot = *v;
    }
}

// ---------------------------------------------------------------- geometries

#[derive(Debug, Clone, Default)]
pub(crate) struct LineGeometryState {
    pub name: String,
    pub location: Location,
    pub enabled: bool,
    pub phases: usize,
    /// Wire data names, one per conductor (`None` until given), and the class
    /// each names (`wire=` WireData, `cncable=` CNData, `tscable=` TSData).
    pub wires: Vec<Option<String>>,
    pub kinds: Vec<WireKind>,
    pub x: Vec<f64>,
    pub h: Vec<f64>,
    /// Units of each conductor's coordinates; `None` in the Option = never set
    /// (OpenDSS's -1, which converts as metres).
    pub units: Vec<Option<LengthUnit>>,
    pub last_unit: LengthUnit,
    /// 0-based active conductor (`cond=`).
    pub active: usize,
    pub reduce: bool,
    pub normamps: f64,
    pub emergamps: f64,
}

impl LineGeometryState {
    /// Conductors a line using this geometry has (the phases after Kron reduction).
    pub fn line_conductors(&self) -> usize {
        if self.reduce {
            self.phases
        } else {
            self.wires.len()
        }
    }

    fn resize(&mut self, n: usize) {
        self.wires = vec![None; n];
        self.kinds = vec![WireKind::Bare; n];
        self.x = vec![0.0; n];
        self.h = vec![0.0; n];
        self.units = vec![None; n];
        self.last_unit = LengthUnit::Ft;
        self.active = 0;
    }

    fn ratings_from_first_wire(&mut self, ctx: &Ctx) {
        if let Some(Some(name)) = self.wires.first() {
            if let Some(w) = ctx.wire_stores().get(self.kinds[0], name) {
                if w.normamps > 0.0 && self.normamps == 0.0 {
                    self.normamps = w.normamps;
                }
                if w.emergamps > 0.0 && self.emergamps == 0.0 {
                    self.emergamps = w.emergamps;
                }
            }
        }
    }

    /// The conductors in metres and ohms per metre.
    pub fn conductors(&self, stores: &WireStores) -> Result<Vec<Conductor>, String> {
        let mut out = Vec::with_capacity(self.wires.len());
        for i in 0..self.wires.len() {
            let Some(name) = &self.wires[i] else {
                return Err(format!(
                    "linegeometry.{}: conductor {} has no wire",
                    self.name,
                    i + 1
                ));
            };
            let wire = stores.require(self.kinds[i], name)?;
            let scale = self.units[i].map_or(1.0, to_metres);
            out.push(wire.conductor(self.x[i] * scale, self.h[i] * scale)?);
        }
        Ok(out)
    }
}

impl ElementState for LineGeometryState {
    const CLASS: &'static str = "LineGeometry";
    const PROPS: &'static [&'static str] = LINEGEOMETRY_PROPS;

    fn create(name: &str, location: &Location, _ctx: &Ctx) -> Self {
        LineGeometryState {
            name: name.to_string(),
            location: location.clone(),
            enabled: true,
            phases: 0,
            last_unit: LengthUnit::Ft,
            ..Default::default()
        }
    }

    fn set(&mut self, prop: &str, value: &Token<'_>, ctx: &Ctx) -> Result<Outcome, String> {
        let need_conductors = |g: &Self| {
            if g.wires.is_empty() {
                Err(format!("`{prop}` needs nconds first"))
            } else {
                Ok(())
            }
        };
        match prop {
            "nconds" => {
                let n = count(value, 1, 100)?;
                if n != self.wires.len() {
                    self.resize(n);
                }
            }
            "nphases" => self.phases = count(value, 1, 100)?,
            "cond" => {
                need_conductors(self)?;
                let i = count(value, 1, self.wires.len())?;
                self.active = i - 1;
                if self.units[self.active].is_none() {
                    self.units[self.active] = Some(self.last_unit);
                }
            }
            "wire" | "cncable" | "tscable" => {
                need_conductors(self)?;
                let kind = match prop {
                    "wire" => WireKind::Bare,
                    "cncable" => WireKind::ConcentricNeutral,
                    _ => WireKind::TapeShield,
                };
                let name = value.text.trim().to_ascii_lowercase();
                ctx.wire_stores().require(kind, &name)?;
                self.wires[self.active] = Some(name);
                self.kinds[self.active] = kind;
                if self.active == 0 {
                    self.ratings_from_first_wire(ctx);
                }
            }
            "x" => {
                need_conductors(self)?;
                self.x[self.active] = number(value)?;
            }
            "h" => {
                need_conductors(self)?;
                self.h[self.active] = number(value)?;
            }
            "units" => {
                need_conductors(self)?;
                let u = length_unit(value.text)?;
                self.units[self.active] = Some(u);
                self.last_unit = u;
            }
            "normamps" => self.normamps = number(value)?,
            "emergamps" => self.emergamps = number(value)?,
            "reduce" => self.reduce = boolean(value)?,
            "spacing" => {
                let name = value.text.trim().to_ascii_lowercase();
                let spacing = ctx
                    .spacings
                    .get(&name)
                    .ok_or_else(|| format!("line spacing `{name}` is not defined"))?;
                if spacing.x.len() != self.wires.len() {
                    return Err(format!(
                        "line spacing `{name}` has {} wires, the geometry {}",
                        spacing.x.len(),
                        self.wires.len()
                    ));
                }
                self.x = spacing.x.clone();
                self.h = spacing.h.clone();
                self.last_unit = spacing.units;
                self.units = vec![Some(spacing.units); spacing.x.len()];
            }
            "wires" => {
                need_conductors(self)?;
                // After cables, `wires=` gives only the bare neutrals (OpenDSS
                // starts after the phases when the active conductor is a cable).
                let start = if self.wires[self.active].is_some()
                    && self.kinds[self.active] != WireKind::Bare
                {
                    self.phases.min(self.wires.len())
                } else {
                    0
                };
                let names = words(value)?;
                if names.len() != self.wires.len() - start {
                    return Err(format!(
                        "{} wires given, expected {} (conductors {}..{})",
                        names.len(),
                        self.wires.len() - start,
                        start + 1,
                        self.wires.len()
                    ));
                }
                for (i, name) in (start..self.wires.len()).zip(names) {
                    let name = name.to_ascii_lowercase();
                    ctx.wire_stores().require(WireKind::Bare, &name)?;
                    self.wires[i] = Some(name);
                    self.kinds[i] = WireKind::Bare;
                }
                self.active = self.wires.len() - 1;
                if start == 0 {
                    self.ratings_from_first_wire(ctx);
                }
            }
            "cncables" | "tscables" => {
                // OpenDSS 0.14.5 fills these arrays in a way that does not give a
                // usable cable geometry; `cond=` with `cncable=`/`tscable=` does.
                return Err(format!(
                    "`{prop}` on a LineGeometry is not supported by this reader: give each cable with cond= and {}=",
                    &prop[..7]
                ));
            }
            _ => return Ok(Outcome::Ignored),
        }
        Ok(Outcome::Applied)
    }

    fn name_mut(&mut self) -> &mut String {
        &mut self.name
    }
    fn location_mut(&mut self) -> &mut Location {
        &mut self.location
    }
    fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }
}
