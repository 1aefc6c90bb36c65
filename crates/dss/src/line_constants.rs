//! Line constants: series impedance and shunt capacitance of an overhead line
//! or a shielded cable line from its conductors and their positions, as
//! OpenDSS computes them (`LineConstants.pas`, `TLineConstants.Calc`, `Kron`;
//! `CNLineConstants.pas`, `TSLineConstants.pas` for cables), for lines given
//! by `geometry=` or by `spacing=` and `wires=`/`cncables=`/`tscables=`.
//!
//! * Self impedance: internal impedance + jωμ0/2π·ln(1/GMR) + earth return;
//!   mutual: jωμ0/2π·ln(1/Dij) + earth return. At power frequency (40–1000 Hz)
//!   only the real part of the internal impedance is kept and GMR is used
//!   (OpenDSS's way of matching published tables).
//! * Earth return: `Carson` (OpenDSS's simple Carson), `FullCarson` (Tleis'
//!   series) or `Deri` (complex depth, OpenDSS's default). Deri's internal
//!   impedance uses the Bessel-function skin-effect model on Rdc; the Carson
//!   variants use Rac.
//! * Capacitance: potential coefficients P (images at depth −h) with the
//!   conductor's capacitance radius (its radius unless `capradius` is given),
//!   inverted to the nodal jωC matrix.
//! * Kron reduction (geometry `reduce=yes`, or a spacing with more wires than
//!   phases) eliminates the last conductor one at a time until only the phases
//!   remain; the capacitance keeps the phase block of the full jωC matrix.
//!
//! OpenDSS's own constants are used, not the exact ones: ε0 = 8.854e-12,
//! μ0 = 12.56637e-7, 2π = 6.283185307. Results are per metre.

use crate::model::LengthUnit;

const E0: f64 = 8.854e-12;
const MU0: f64 = 12.56637e-7;
// OpenDSS's truncated 2π, kept so results match it to the last digits.
#[allow(clippy::approx_constant)]
const TWO_PI: f64 = 6.283185307;

/// OpenDSS's `Set EarthModel=` / Line `earthmodel=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarthModel {
    SimpleCarson,
    FullCarson,
    #[default]
    Deri,
}

impl EarthModel {
    pub(crate) fn parse(text: &str) -> Result<EarthModel, String> {
        match crate::values::keyword(text, &["carson", "fullcarson", "deri"]) {
            Some("carson") => Ok(EarthModel::SimpleCarson),
            Some("fullcarson") => Ok(EarthModel::FullCarson),
            Some(_) => Ok(EarthModel::Deri),
            None => Err(format!(
                "`{text}` is not an earth model (carson, fullcarson, deri)"
            )),
        }
    }
}

/// OpenDSS's `To_Meters`: a unit of `none` counts as one metre.
pub(crate) fn to_metres(units: LengthUnit) -> f64 {
    units.metres().unwrap_or(1.0)
}

/// One conductor, in SI units (metres, ohms per metre).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Conductor {
    pub x: f64,
    pub y: f64,
    pub rdc: f64,
    pub rac: f64,
    pub gmr: f64,
    pub radius: f64,
    /// Radius for the capacitance; negative means "use `radius`".
    pub capradius: f64,
    /// A cable's insulation and shield (CNData/TSData); `None` for a bare wire.
    pub cable: Option<Cable>,
}

/// A shielded cable's data in metres and ohms per metre, as OpenDSS's
/// `TCNLineConstants` / `TTSLineConstants` get them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cable {
    pub shield: Shield,
    /// Relative permittivity of the insulation.
    pub eps_r: f64,
    pub ins_layer: f64,
    pub dia_ins: f64,
    pub dia_cable: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Shield {
    /// `strands` concentric neutral strands of diameter `dia_strand`.
    Concentric {
        strands: f64,
        dia_strand: f64,
        gmr_strand: f64,
        r_strand: f64,
    },
    /// A copper tape shield (resistivity 2.3718e-8 Ω·m) lapped `tape_lap` %.
    Tape {
        dia_shield: f64,
        tape_layer: f64,
        tape_lap: f64,
    },
}

/// Per-metre series impedance and shunt admittance (jωC), full n×n, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PerMetre {
    pub n: usize,
    pub z: Vec<Cx>,
    pub yc: Vec<Cx>,
}

/// The small complex type this dependency-free crate needs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Cx {
    pub re: f64,
    pub im: f64,
}

const fn cx(re: f64, im: f64) -> Cx {
    Cx { re, im }
}

impl std::ops::Add for Cx {
    type Output = Cx;
    fn add(self, o: Cx) -> Cx {
        cx(self.re + o.re, self.im + o.im)
    }
}
impl std::ops::Sub for Cx {
    type Output = Cx;
    fn sub(self, o: Cx) -> Cx {
        cx(self.re - o.re, self.im - o.im)
    }
}
impl std::ops::Mul for Cx {
    type Output = Cx;
    fn mul(self, o: Cx) -> Cx {
        cx(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
}
impl std::ops::Mul<f64> for Cx {
    type Output = Cx;
    fn mul(self, k: f64) -> Cx {
        cx(self.re * k, self.im * k)
    }
}
impl std::ops::Div for Cx {
    type Output = Cx;
    fn div(self, o: Cx) -> Cx {
        let d = o.re * o.re + o.im * o.im;
        cx(
            (self.re * o.re + self.im * o.im) / d,
            (self.im * o.re - self.re * o.im) / d,
        )
    }
}

impl Cx {
    fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }
    fn inv(self) -> Cx {
        cx(1.0, 0.0) / self
    }
    fn ln(self) -> Cx {
        cx(self.abs().ln(), self.im.atan2(self.re))
    }
    fn sqrt(self) -> Cx {
        let r = self.abs().sqrt();
        let a = self.im.atan2(self.re) / 2.0;
        cx(r * a.cos(), r * a.sin())
    }
}

/// Modified Bessel function I0 of a complex argument (OpenDSS's series).
fn bessel_i0(a: Cx) -> Cx {
    let z2 = a * a * 0.25;
    let mut sum = cx(1.0, 0.0) + z2;
    let mut term = z2;
    let mut i = 1;
    loop {
        term = z2 * term;
        i += 1;
        term = term * (1.0 / (i as f64 * i as f64));
        sum = sum + term;
        if i > 1000 || term.re * term.re + term.im * term.im < 1e-20 {
            return sum;
        }
    }
}

/// Modified Bessel function I1 of a complex argument (OpenDSS's series).
fn bessel_i1(x: Cx) -> Cx {
    let mut term = x * 0.5;
    let mut sum = term;
    let mut inc = term;
    let mut i = 4;
    loop {
        let new = x * (1.0 / i as f64);
        term = term * (inc * new);
        sum = sum + term;
        inc = new;
        i += 2;
        if i > 1000 || term.re * term.re + term.im * term.im < 1e-20 {
            return sum;
        }
    }
}

/// In-place inverse of an n×n complex matrix (Gauss–Jordan, partial pivoting).
fn invert(m: &mut [Cx], n: usize) -> Result<(), String> {
    let mut a = m.to_vec();
    let mut inv = vec![Cx::default(); n * n];
    for i in 0..n {
        inv[i * n + i] = cx(1.0, 0.0);
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&p, &q| a[p * n + col].abs().total_cmp(&a[q * n + col].abs()))
            .unwrap_or(col);
        if a[pivot * n + col].abs() == 0.0 {
            return Err("singular matrix".into());
        }
        if pivot != col {
            for k in 0..n {
                a.swap(pivot * n + k, col * n + k);
                inv.swap(pivot * n + k, col * n + k);
            }
        }
        let d = a[col * n + col].inv();
        for k in 0..n {
            a[col * n + k] = a[col * n + k] * d;
            inv[col * n + k] = inv[col * n + k] * d;
        }
        for r in 0..n {
            if r != col {
                let f = a[r * n + col];
                if f.re != 0.0 || f.im != 0.0 {
                    for k in 0..n {
                        a[r * n + k] = a[r * n + k] - f * a[col * n + k];
                        inv[r * n + k] = inv[r * n + k] - f * inv[col * n + k];
                    }
                }
            }
        }
    }
    m.copy_from_slice(&inv);
    Ok(())
}

/// Eliminates the last row and column (OpenDSS's `TcMatrix.Kron`).
fn kron_last(m: &[Cx], n: usize) -> Vec<Cx> {
    let k = n - 1;
    let pivot = m[k * n + k];
    let mut out = vec![Cx::default(); k * k];
    for i in 0..k {
        for j in 0..k {
            out[i * k + j] = m[i * n + j] - m[i * n + k] * m[k * n + j] / pivot;
        }
    }
    out
}

/// OpenDSS's `ConductorsInSameSpace`: heights must be positive and conductors
/// must not overlap.
pub(crate) fn check_positions(conductors: &[Conductor]) -> Result<(), String> {
    for (i, c) in conductors.iter().enumerate() {
        if c.y <= 0.0 {
            return Err(format!("conductor {} height must be > 0", i + 1));
        }
    }
    for i in 0..conductors.len() {
        for j in i + 1..conductors.len() {
            let (a, b) = (&conductors[i], &conductors[j]);
            if (a.x - b.x).hypot(a.y - b.y) < a.radius + b.radius {
                return Err(format!(
                    "conductors {} and {} occupy the same space",
                    i + 1,
                    j + 1
                ));
            }
        }
    }
    Ok(())
}

/// Z and jωC per metre at `frequency`, reduced to `phases` conductors when
/// `reduce` (and there are more conductors than phases).
pub(crate) fn per_metre(
    conductors: &[Conductor],
    phases: usize,
    reduce: bool,
    frequency: f64,
    rho: f64,
    model: EarthModel,
) -> Result<PerMetre, String> {
    let is_cable = conductors.iter().any(|k| k.cable.is_some());
    if !is_cable {
        check_positions(conductors)?;
    }
    let n = conductors.len();
    let w = TWO_PI * frequency;
    let me = cx(0.0, w * MU0 / rho).sqrt();
    let l_factor = cx(0.0, w * MU0 / TWO_PI);
    let power_frequency = frequency < 1000.0 && frequency > 40.0;
    let c = conductors;

    let z_internal = |i: usize| -> Cx {
        match model {
            EarthModel::SimpleCarson | EarthModel::FullCarson => {
                cx(c[i].rac, w * MU0 / (8.0 * std::f64::consts::PI))
            }
            EarthModel::Deri => {
                let one_j = cx(1.0, 1.0);
                let alpha = one_j * (frequency * MU0 / c[i].rdc).sqrt();
                let ratio = if alpha.abs() > 35.0 {
                    cx(1.0, 0.0)
                } else {
                    bessel_i0(alpha) / bessel_i1(alpha)
                };
                one_j * ratio * ((c[i].rdc * frequency * MU0).sqrt() / 2.0)
            }
        }
    };

    let z_earth = |i: usize, j: usize| -> Cx {
        let (yi, yj) = (c[i].y.abs(), c[j].y.abs());
        match model {
            EarthModel::SimpleCarson => cx(
                w * MU0 / 8.0,
                (w * MU0 / TWO_PI) * (658.5 * (rho / frequency).sqrt()).ln(),
            ),
            EarthModel::FullCarson => {
                let pi = std::f64::consts::PI;
                let b1 = 1.0 / (3.0 * 2f64.sqrt());
                let b2 = 1.0 / 16.0;
                let b3 = b1 / 3.0 / 5.0;
                let b4 = b2 / 4.0 / 6.0;
                let d2 = b2 * pi / 4.0;
                let d4 = b4 * pi / 4.0;
                let c2: f64 = 1.3659315;
                let c4: f64 = c2 + 1.0 / 4.0 + 1.0 / 6.0;
                let (theta, dij) = if i == j {
                    (0.0, 2.0 * yi)
                } else {
                    let d = ((yi + yj).powi(2) + (c[i].x - c[j].x).powi(2)).sqrt();
                    (((yi + yj) / d).acos(), d)
                };
                let m = 2.8099e-3 * dij * (frequency / rho).sqrt();
                let re = pi / 8.0 - b1 * m * theta.cos()
                    + b2 * m
                        * m
                        * ((c2.exp() / m).ln() * (2.0 * theta).cos() + theta * (2.0 * theta).sin())
                    + b3 * m * m * m * (3.0 * theta).cos()
                    - d4 * m * m * m * m * (4.0 * theta).cos();
                let term1 = 0.5 * (1.85138 / m).ln();
                let term2 = b1 * m * theta.cos();
                let term3 = -d2 * m * m * (2.0 * theta).cos();
                let term4 = b3 * m * m * m * (3.0 * theta).cos();
                let term5 = -b4
                    * m
                    * m
                    * m
                    * m
                    * ((c4.exp() / m).ln() * (4.0 * theta).cos() + theta * (4.0 * theta).sin());
                let im = term1 + term2 + term3 + term4 + term5 + 0.5 * dij.ln();
                cx(re, im) * (w * MU0 / pi)
            }
            EarthModel::Deri => {
                if i != j {
                    let h = cx(yi + yj, 0.0) + me.inv() * 2.0;
                    let x = cx(c[i].x - c[j].x, 0.0);
                    cx(0.0, w * MU0 / TWO_PI) * (h * h + x * x).sqrt().ln()
                } else {
                    let h = cx(yi, 0.0) + me.inv();
                    cx(0.0, w * MU0 / TWO_PI) * (h * 2.0).ln()
                }
            }
        }
    };

    if is_cable {
        return cable_per_metre(
            c,
            phases,
            reduce,
            w,
            l_factor,
            power_frequency,
            &z_internal,
            &z_earth,
        );
    }

    let mut z = vec![Cx::default(); n * n];
    for i in 0..n {
        let mut zi = z_internal(i);
        let spacing = if power_frequency {
            zi.im = 0.0;
            l_factor * (1.0 / c[i].gmr).ln()
        } else {
            l_factor * (1.0 / c[i].radius).ln()
        };
        z[i * n + i] = zi + spacing + z_earth(i, i);
    }
    for i in 0..n {
        for j in 0..i {
            let d = (c[i].x - c[j].x).hypot(c[i].y - c[j].y);
            let v = l_factor * (1.0 / d).ln() + z_earth(i, j);
            z[i * n + j] = v;
            z[j * n + i] = v;
        }
    }

    let p_factor = -1.0 / TWO_PI / E0 / w;
    let mut yc = vec![Cx::default(); n * n];
    for i in 0..n {
        let r = if c[i].capradius < 0.0 {
            c[i].radius
        } else {
            c[i].capradius
        };
        yc[i * n + i] = cx(0.0, p_factor * (2.0 * c[i].y / r).ln());
    }
    for i in 0..n {
        for j in 0..i {
            let d = (c[i].x - c[j].x).hypot(c[i].y - c[j].y);
            let d_image = (c[i].x - c[j].x).hypot(c[i].y + c[j].y);
            let v = cx(0.0, p_factor * (d_image / d).ln());
            yc[i * n + j] = v;
            yc[j * n + i] = v;
        }
    }
    invert(&mut yc, n).map_err(|e| format!("potential coefficients: {e}"))?;

    if reduce && phases > 0 && phases < n {
        let mut order = n;
        while order > phases {
            z = kron_last(&z, order);
            order -= 1;
        }
        let mut reduced = vec![Cx::default(); phases * phases];
        for i in 0..phases {
            for j in 0..phases {
                reduced[i * phases + j] = yc[i * n + j];
            }
        }
        return Ok(PerMetre {
            n: phases,
            z,
            yc: reduced,
        });
    }
    Ok(PerMetre { n, z, yc })
}

/// OpenDSS's cable line constants (`TCNLineConstants.Calc`,
/// `TTSLineConstants.Calc`): the first `phases` conductors are cables whose
/// shields (concentric neutrals or tape) are added as extra conductors at the
/// cores' positions and always Kron-reduced; the rest are bare neutrals. The
/// shunt admittance is the insulation's, phase by phase (zero for the bare
/// neutrals), and reduction keeps its phase block.
#[allow(clippy::too_many_arguments)]
fn cable_per_metre(
    c: &[Conductor],
    phases: usize,
    reduce: bool,
    w: f64,
    l_factor: Cx,
    power_frequency: bool,
    z_internal: &dyn Fn(usize) -> Cx,
    z_earth: &dyn Fn(usize, usize) -> Cx,
) -> Result<PerMetre, String> {
    const RHO_TAPE: f64 = 2.3718e-8; // copper tape shield, ohm-m
                                     // OpenDSS's tape-shield resistance factor (a truncated 1/π).
    #[allow(clippy::approx_constant)]
    const TAPE_FACTOR: f64 = 0.3183;
    let n = c.len();
    if phases == 0 || phases > n {
        return Err(format!(
            "a cable line needs 1..{n} phases (nphases), got {phases}"
        ));
    }
    let mut cables = Vec::with_capacity(phases);
    for (i, k) in c.iter().enumerate().take(phases) {
        let Some(cable) = k.cable else {
            return Err(format!(
                "conductor {} is a phase of a cable line but has no cable data (cncable/tscable)",
                i + 1
            ));
        };
        cables.push(cable);
    }
    // TCableConstants.ConductorsInSameSpace: heights do not matter; phases
    // are sized by their core, neutrals by half their cable diameter.
    let size = |i: usize| {
        if i < phases {
            c[i].radius
        } else {
            c[i].cable.map_or(0.0, |k| 0.5 * k.dia_cable)
        }
    };
    let dist = |i: usize, j: usize| (c[i].x - c[j].x).hypot(c[i].y - c[j].y);
    for i in 0..n {
        for j in i + 1..n {
            if dist(i, j) < size(i) + size(j) {
                return Err(format!(
                    "cable conductors {} and {} occupy the same space",
                    i + 1,
                    j + 1
                ));
            }
        }
    }

    let big = n + phases;
    let mut z = vec![Cx::default(); big * big];
    let put = |z: &mut Vec<Cx>, i: usize, j: usize, v: Cx| {
        z[i * big + j] = v;
        z[j * big + i] = v;
    };
    for (i, conductor) in c.iter().enumerate() {
        let mut zi = z_internal(i);
        let spacing = if power_frequency {
            zi.im = 0.0;
            l_factor * (1.0 / conductor.gmr).ln()
        } else {
            l_factor * (1.0 / conductor.radius).ln()
        };
        put(&mut z, i, i, zi + spacing + z_earth(i, i));
    }
    for (i, cable) in cables.iter().enumerate() {
        let (resistance, gmr) = match cable.shield {
            Shield::Concentric {
                strands,
                dia_strand,
                gmr_strand,
                r_strand,
            } => {
                let radius = 0.5 * (cable.dia_cable - dia_strand);
                (
                    r_strand / strands,
                    (gmr_strand * strands * radius.powf(strands - 1.0)).powf(1.0 / strands),
                )
            }
            Shield::Tape {
                dia_shield,
                tape_layer,
                tape_lap,
            } => (
                TAPE_FACTOR * RHO_TAPE
                    / (dia_shield * tape_layer * (50.0 / (100.0 - tape_lap)).sqrt()),
                0.5 * (dia_shield - tape_layer),
            ),
        };
        put(
            &mut z,
            n + i,
            n + i,
            cx(resistance, 0.0) + l_factor * (1.0 / gmr).ln() + z_earth(i, i),
        );
    }
    for i in 0..n {
        for j in 0..i {
            put(
                &mut z,
                i,
                j,
                l_factor * (1.0 / dist(i, j)).ln() + z_earth(i, j),
            );
        }
    }
    for (i, cable) in cables.iter().enumerate() {
        for j in 0..i {
            put(
                &mut z,
                n + i,
                n + j,
                l_factor * (1.0 / dist(i, j)).ln() + z_earth(i, j),
            );
        }
        for j in 0..n {
            let d = match cable.shield {
                Shield::Concentric {
                    strands,
                    dia_strand,
                    ..
                } => {
                    let radius = 0.5 * (cable.dia_cable - dia_strand);
                    if i == j {
                        radius
                    } else {
                        (dist(i, j).powf(strands) - radius.powf(strands)).powf(1.0 / strands)
                    }
                }
                Shield::Tape {
                    dia_shield,
                    tape_layer,
                    ..
                } => {
                    if i == j {
                        0.5 * (dia_shield - tape_layer)
                    } else {
                        dist(i, j)
                    }
                }
            };
            put(&mut z, n + i, j, l_factor * (1.0 / d).ln() + z_earth(i, j));
        }
    }
    let mut order = big;
    while order > n {
        z = kron_last(&z, order);
        order -= 1;
    }

    let mut yc = vec![Cx::default(); n * n];
    for (i, cable) in cables.iter().enumerate() {
        let y_factor = TWO_PI * E0 * cable.eps_r * w;
        let outer = 0.5 * cable.dia_ins;
        let inner = outer - cable.ins_layer;
        yc[i * n + i] = cx(0.0, y_factor / (outer / inner).ln());
    }

    if reduce && phases < n {
        while order > phases {
            z = kron_last(&z, order);
            order -= 1;
        }
        let mut reduced = vec![Cx::default(); phases * phases];
        for i in 0..phases {
            for j in 0..phases {
                reduced[i * phases + j] = yc[i * n + j];
            }
        }
        return Ok(PerMetre {
            n: phases,
            z,
            yc: reduced,
        });
    }
    Ok(PerMetre { n, z, yc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity() {
        let m = vec![cx(2.0, 1.0), cx(0.5, -0.2), cx(0.5, -0.2), cx(3.0, 0.4)];
        let mut inv = m.clone();
        invert(&mut inv, 2).unwrap();
        for i in 0..2 {
            for j in 0..2 {
                let mut s = Cx::default();
                for k in 0..2 {
                    s = s + m[i * 2 + k] * inv[k * 2 + j];
                }
                let expect = if i == j { 1.0 } else { 0.0 };
                assert!((s.re - expect).abs() < 1e-14 && s.im.abs() < 1e-14);
            }
        }
    }

    #[test]
    fn bessel_series_match_known_values() {
        // I0(1) = 1.2660658777520082, I1(1) = 0.5651591039924851.
        assert!((bessel_i0(cx(1.0, 0.0)).re - 1.2660658777520082).abs() < 1e-9);
        assert!((bessel_i1(cx(1.0, 0.0)).re - 0.5651591039924851).abs() < 1e-9);
    }

    #[test]
    fn kron_of_two_by_two_is_schur_complement() {
        let m = vec![cx(4.0, 1.0), cx(1.0, 0.5), cx(1.0, 0.5), cx(2.0, 2.0)];
        let r = kron_last(&m, 2);
        let expect = cx(4.0, 1.0) - cx(1.0, 0.5) * cx(1.0, 0.5) / cx(2.0, 2.0);
        assert!((r[0].re - expect.re).abs() < 1e-15 && (r[0].im - expect.im).abs() < 1e-15);
    }
}
