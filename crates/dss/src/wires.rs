//! WireData, LineSpacing and LineGeometry: the physical description of
//! overhead lines, from which `line_constants` computes their impedances.
//! Property side effects follow OpenDSS's `ConductorData.pas`,
//! `LineSpacing.pas` and `LineGeometry.pas`.

use crate::classes::{Ctx, ElementState, Outcome};
use crate::lexer::Token;
use crate::line_constants::{to_metres, Conductor};
use crate::model::{LengthUnit, Location};
use crate::props::{LINEGEOMETRY_PROPS, LINESPACING_PROPS, WIREDATA_PROPS};
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
}

impl WireDataState {
    /// The conductor's data in metres and ohms per metre, as OpenDSS's
    /// `UpdateLineGeometryData` hands them to the line constants.
    pub fn conductor(&self, x_m: f64, y_m: f64) -> Conductor {
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
        Conductor {
            x: x_m,
            y: y_m,
            rdc: self.rdc * per_metre,
            rac: self.rac * per_metre,
            gmr,
            radius,
            capradius: self.capradius * radius_scale,
        }
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
    /// Wire data names, one per conductor (`None` until given).
    pub wires: Vec<Option<String>>,
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
        self.x = vec![0.0; n];
        self.h = vec![0.0; n];
        self.units = vec![None; n];
        self.last_unit = LengthUnit::Ft;
        self.active = 0;
    }

    fn ratings_from_first_wire(&mut self, ctx: &Ctx) {
        if let Some(Some(name)) = self.wires.first() {
            if let Some(w) = ctx.wiredata.get(name) {
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
    pub fn conductors(
        &self,
        wiredata: &crate::store::Store<WireDataState>,
    ) -> Result<Vec<Conductor>, String> {
        let mut out = Vec::with_capacity(self.wires.len());
        for i in 0..self.wires.len() {
            let Some(name) = &self.wires[i] else {
                return Err(format!(
                    "linegeometry.{}: conductor {} has no wire",
                    self.name,
                    i + 1
                ));
            };
            let wire = wiredata
                .get(name)
                .ok_or_else(|| format!("wire data `{name}` is not defined"))?;
            let scale = self.units[i].map_or(1.0, to_metres);
            out.push(wire.conductor(self.x[i] * scale, self.h[i] * scale));
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
            "wire" => {
                need_conductors(self)?;
                let name = value.text.trim().to_ascii_lowercase();
                if ctx.wiredata.get(&name).is_none() {
                    return Err(format!("wire data `{name}` is not defined"));
                }
                self.wires[self.active] = Some(name);
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
                let names = words(value)?;
                if names.len() != self.wires.len() {
                    return Err(format!(
                        "{} wires given, the geometry has {} conductors",
                        names.len(),
                        self.wires.len()
                    ));
                }
                for (slot, name) in self.wires.iter_mut().zip(names) {
                    let name = name.to_ascii_lowercase();
                    if ctx.wiredata.get(&name).is_none() {
                        return Err(format!("wire data `{name}` is not defined"));
                    }
                    *slot = Some(name);
                }
                self.active = self.wires.len() - 1;
                self.ratings_from_first_wire(ctx);
            }
            "cncable" | "tscable" | "cncables" | "tscables" => {
                return Err(format!(
                    "`{prop}`: cable line constants (CNData/TSData) are not supported by this reader"
                ))
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
