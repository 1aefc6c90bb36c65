//! Load models and Yprim (OpenDSS `Load.pas`). The nominal admittance Yeq is
//! what the system Y holds; the actual current of each phase follows the load
//! model, with OpenDSS's voltage bands (see docs/opendss-semantics.md §2):
//! below `vlowpu` a constant impedance, between `vlowpu` and `vminpu` a linear
//! interpolation of the current, above `vmaxpu` a constant impedance.

use num_complex::Complex64 as C;
use ogg_dss::{Connection, Load, LoadStatus};

use crate::cmat::CMat;

/// Number of conductors of a load (OpenDSS `SetNcondsForConnection`).
pub fn conductors(phases: usize, conn: Connection) -> usize {
    match conn {
        Connection::Wye => phases + 1,
        Connection::Delta => {
            if phases <= 2 {
                phases + 1
            } else {
                phases
            }
        }
    }
}

/// Per-phase voltage base of a load in volts.
pub fn vbase(phases: usize, conn: Connection, kv: f64) -> f64 {
    match conn {
        Connection::Delta => kv * 1000.0,
        Connection::Wye => {
            if phases == 2 || phases == 3 {
                kv * 1000.0 / 3f64.sqrt()
            } else {
                kv * 1000.0
            }
        }
    }
}

/// Everything needed to compute a load's current from its terminal voltages.
/// `repr(C)`, with what `phase_current` reads for models 1 and 2 in the first
/// two cache lines and the inputs last (see `LoadState`).
#[derive(Debug, Clone, PartialEq)]
#[repr(C)]
pub struct LoadCalc {
    pub phases: usize,
    pub nconds: usize,
    pub conn: Connection,
    pub model: u8,
    pub status: LoadStatus,
    vbase_low: f64,
    vbase95: f64,
    vbase105: f64,
    /// The same bands on |V|²: `sqrt(x) <= vbase_low` exactly when
    /// `x <= vbase_low_sq` (see [`squared_threshold`]), so the constant-PQ
    /// band test need not wait on the square root.
    vbase_low_sq: f64,
    vbase95_sq: f64,
    vbase105_sq: f64,
    /// Per-phase nominal W and var, multiplier applied.
    w_nominal: f64,
    var_nominal: f64,
    pub yeq: C,
    yeq105: C,
    ilow: C,
    m95: C,
    // The other models' constants.
    yeq95: C,
    yeq105i: C,
    m95i: C,
    var_base: f64,
    yq_fixed: f64,
    pub vbase: f64,
    pub cvrwatts: f64,
    pub cvrvars: f64,
    pub zipv: Option<[f64; 7]>,
    // Cold: inputs.
    pub vminpu: f64,
    pub vmaxpu: f64,
    /// Neutral impedance of a wye load (rneut < 0: open neutral).
    pub rneut: f64,
    pub xneut: f64,
    /// Nominal kW and kvar (before any multiplier).
    pub kw: f64,
    pub kvar: f64,
    /// (kW, kvar, LoadMult) of the last `set_nominal` (NaN after `scale`).
    nominal_inputs: [f64; 3],
    /// What [`LoadCalc::yprim_key`] gave when the time series last found the
    /// stamped Yprim equal to [`LoadCalc::yprim`] (or stamped it), with the
    /// stamped matrix's identity: equal keys skip the comparison.
    pub(crate) verified_stamp: Option<[u64; 7]>,
}

impl LoadCalc {
    /// `load_mult` is the circuit's LoadMult (ignored by fixed and exempt loads).
    pub fn new(load: &Load, load_mult: f64) -> Self {
        let mut calc = LoadCalc::from_parts(
            load.phases,
            load.conn,
            load.kv,
            load.model,
            (load.vminpu, load.vmaxpu, load.vlowpu),
            load.status,
        );
        calc.cvrwatts = load.cvrwatts;
        calc.cvrvars = load.cvrvars;
        calc.zipv = load.zipv;
        calc.rneut = load.rneut;
        calc.xneut = load.xneut;
        calc.set_nominal(load.kw, load.kvar, load_mult);
        calc
    }

    /// A load with zero demand; set it with [`LoadCalc::set_nominal`].
    /// `bands` = (vminpu, vmaxpu, vlowpu).
    pub fn from_parts(phases: usize, conn: Connection, kv: f64, model: u8, bands: (f64, f64, f64), status: LoadStatus) -> Self {
        let vb = vbase(phases, conn, kv);
        let (vminpu, vmaxpu, vlowpu) = bands;
        LoadCalc {
            phases,
            nconds: conductors(phases, conn),
            conn,
            model,
            status,
            vbase: vb,
            vminpu,
            vmaxpu,
            cvrwatts: 1.0,
            cvrvars: 2.0,
            zipv: None,
            rneut: -1.0,
            xneut: 0.0,
            kw: 0.0,
            kvar: 0.0,
            vbase_low: vlowpu * vb,
            vbase95: vminpu * vb,
            vbase105: vmaxpu * vb,
            vbase_low_sq: squared_threshold(vlowpu * vb),
            vbase95_sq: squared_threshold(vminpu * vb),
            vbase105_sq: squared_threshold(vmaxpu * vb),
            w_nominal: 0.0,
            var_nominal: 0.0,
            yeq: C::new(0.0, 0.0),
            yeq95: C::new(0.0, 0.0),
            yeq105: C::new(0.0, 0.0),
            yeq105i: C::new(0.0, 0.0),
            ilow: C::new(0.0, 0.0),
            m95: C::new(0.0, 0.0),
            m95i: C::new(0.0, 0.0),
            var_base: 0.0,
            yq_fixed: 0.0,
            nominal_inputs: [f64::NAN; 3],
            verified_stamp: None,
        }
    }

    /// Every input of [`LoadCalc::yprim`], as bits, with the address and
    /// first entry of the stamped matrix `stamped` (so a matrix replaced or
    /// edited since is compared again).
    pub(crate) fn yprim_key(&self, stamped: &CMat) -> [u64; 7] {
        let first = stamped.as_slice().first().map_or(0, |c| c.re.to_bits() ^ c.im.to_bits().rotate_left(1));
        let shape = (self.phases as u64) << 40 | (self.nconds as u64) << 8 | matches!(self.conn, Connection::Wye) as u64;
        [
            self.yeq.re.to_bits(),
            self.yeq.im.to_bits(),
            self.rneut.to_bits(),
            self.xneut.to_bits(),
            shape,
            stamped.as_slice().as_ptr() as u64,
            first,
        ]
    }

    /// The multiplier that applies to this load given the circuit's LoadMult.
    pub fn effective_multiplier(&self, load_mult: f64) -> f64 {
        match self.status {
            LoadStatus::Variable => load_mult,
            LoadStatus::Fixed | LoadStatus::Exempt => 1.0,
        }
    }

    /// Sets nominal kW/kvar and recomputes Yeq and the band constants
    /// (OpenDSS `SetNominalLoad`).
    pub fn set_nominal(&mut self, kw: f64, kvar: f64, load_mult: f64) {
        self.nominal_inputs = [kw, kvar, load_mult];
        self.kw = kw;
        self.kvar = kvar;
        let factor = self.effective_multiplier(load_mult);
        let nph = self.phases as f64;
        self.w_nominal = 1000.0 * kw * factor / nph;
        self.var_nominal = 1000.0 * kvar * factor / nph;
        let vb = self.vbase;
        self.yeq = C::new(self.w_nominal, -self.var_nominal) / (vb * vb);
        self.yeq95 = if self.vminpu != 0.0 { self.yeq / (self.vminpu * self.vminpu) } else { C::new(0.0, 0.0) };
        self.yeq105 = if self.vmaxpu != 0.0 { self.yeq / (self.vmaxpu * self.vmaxpu) } else { self.yeq };
        self.yeq105i = if self.vmaxpu != 0.0 { self.yeq / self.vmaxpu } else { self.yeq };
        self.ilow = self.yeq * self.vbase_low;
        let i95 = self.yeq95 * self.vbase95;
        let span = self.vbase95 - self.vbase_low;
        self.m95 = (i95 - self.ilow) / span;
        let ibase = self.yeq * vb;
        self.m95i = (ibase - self.ilow) / span;
        self.var_base = 1000.0 * kvar / nph;
        self.yq_fixed = -self.var_base / (vb * vb);
    }

    /// [`LoadCalc::set_nominal`] unless the last call had these very inputs
    /// (and nothing scaled the load since): a time series whose shape value
    /// did not change then skips the recomputation — same values, bit for bit.
    pub fn set_nominal_if_changed(&mut self, kw: f64, kvar: f64, load_mult: f64) {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
        let [k, q, m] = self.nominal_inputs;
        if !(same(k, kw) && same(q, kvar) && same(m, load_mult)) {
            self.set_nominal(kw, kvar, load_mult);
        }
    }

    /// Multiplies the nominal demand by `f`: every nominal quantity is linear
    /// in (kW, kvar), so this is `set_nominal(f·kW, f·kvar)` without the
    /// divisions (equal to rounding).
    pub fn scale(&mut self, f: f64) {
        self.nominal_inputs = [f64::NAN; 3];
        self.kw *= f;
        self.kvar *= f;
        self.w_nominal *= f;
        self.var_nominal *= f;
        self.yeq *= f;
        self.yeq95 *= f;
        self.yeq105 *= f;
        self.yeq105i *= f;
        self.ilow *= f;
        self.m95 *= f;
        self.m95i *= f;
        self.var_base *= f;
        self.yq_fixed *= f;
    }

    /// Actual kW and kvar the load would draw at nominal voltage (multiplier applied).
    pub fn nominal_power_kw(&self) -> (f64, f64) {
        let nph = self.phases as f64;
        (self.w_nominal * nph / 1000.0, self.var_nominal * nph / 1000.0)
    }

    /// Primitive admittance at nominal (Yeq) in OpenDSS's layout.
    pub fn yprim(&self) -> CMat {
        let mut m = CMat::zeros(self.nconds);
        self.yprim_into(&mut m);
        m
    }

    /// [`LoadCalc::yprim`] written into `m` (of order `nconds`), without
    /// allocating: the time series compares it with the stamped one at
    /// every tap move.
    pub fn yprim_into(&self, m: &mut CMat) {
        let n = self.nconds;
        debug_assert_eq!(m.order(), n);
        let y = self.yeq;
        m.clear();
        match self.conn {
            Connection::Wye => {
                let nn = n - 1;
                for i in 0..self.phases {
                    m.set(i, i, y);
                    m.add(nn, nn, y);
                    m.set_sym(i, nn, -y);
                }
                if self.rneut < 0.0 {
                    // Open neutral (the default): scale the neutral diagonal
                    // slightly so a floating neutral stays connected.
                    let d = m.get(nn, nn) * 1.000001;
                    m.set(nn, nn, d);
                } else if self.rneut == 0.0 && self.xneut == 0.0 {
                    m.add(nn, nn, C::new(1.0e6, 0.0));
                } else {
                    m.add(nn, nn, C::new(1.0, 0.0) / C::new(self.rneut, self.xneut));
                }
            }
            Connection::Delta => {
                for i in 0..self.phases {
                    let j = if i + 1 >= n { 0 } else { i + 1 };
                    m.add(i, i, y);
                    m.add(j, j, y);
                    m.add_sym(i, j, -y);
                }
            }
        }
    }

    #[inline(always)]
    fn interp_y95(&self, vmag: f64) -> C {
        (self.ilow + self.m95 * (vmag - self.vbase_low)) / vmag
    }

    #[inline(always)]
    fn interp_y95i(&self, vmag: f64) -> C {
        (self.ilow + self.m95i * (vmag - self.vbase_low)) / vmag
    }

    /// [`LoadCalc::phase_current`] with the most common models (1 constant
    /// PQ, 2 constant Z, 5 constant current) inlined into the caller's loop;
    /// the others through the call. The same code, so the same bits.
    #[inline(always)]
    pub fn phase_current_inline(&self, v: C) -> C {
        match self.model {
            1 => self.constant_pq_current_of_norm_sqr(v, v.norm_sqr()),
            2 => self.yeq * v,
            5 => self.constant_i_current(v, v.norm_sqr().sqrt()),
            _ => self.phase_current(v),
        }
    }

    /// [`LoadCalc::constant_pq_current`] at `vmag = sqrt(norm_sqr)`, the band
    /// tests on |V|² (exact thresholds, the same branches): in band the
    /// division needs no magnitude, so the square root is taken only outside.
    #[inline(always)]
    fn constant_pq_current_of_norm_sqr(&self, v: C, norm_sqr: f64) -> C {
        if norm_sqr <= self.vbase_low_sq {
            self.yeq * v
        } else if norm_sqr <= self.vbase95_sq {
            self.interp_y95(norm_sqr.sqrt()) * v
        } else if norm_sqr > self.vbase105_sq {
            self.yeq105 * v
        } else {
            (C::new(self.w_nominal, self.var_nominal) / v).conj()
        }
    }

    /// The constant-PQ currents of `P` phases at once when every phase is
    /// inside the band (else None): the square roots and divisions side by
    /// side, so the compiler can pair them in vector instructions — the
    /// divider is what bounds the injection loop. The operations of
    /// [`LoadCalc::constant_pq_current`] (and `num_complex`'s division), so
    /// the same bits.
    #[inline(always)]
    pub fn constant_pq_currents<const P: usize>(&self, v: &[C; P]) -> Option<[C; P]> {
        if self.model != 1 {
            return None;
        }
        let mut norm_sqr = [0.0f64; P];
        for i in 0..P {
            norm_sqr[i] = v[i].re * v[i].re + v[i].im * v[i].im;
        }
        // The PQ branch of `constant_pq_current` (NaN falls through to it
        // too), tested on |V|² against the exact squared thresholds.
        let in_band = |x: f64| !(x <= self.vbase_low_sq) && !(x <= self.vbase95_sq) && !(x > self.vbase105_sq);
        if !norm_sqr.iter().all(|&x| in_band(x)) {
            return None;
        }
        // conj(S / v) with S = w + j·var: ((w·re + var·im) − j(var·re − w·im)) / |v|².
        let (w, var) = (self.w_nominal, self.var_nominal);
        let mut num = [0.0f64; 8];
        let mut den = [1.0f64; 8];
        for i in 0..P {
            num[2 * i] = w * v[i].re + var * v[i].im;
            num[2 * i + 1] = var * v[i].re - w * v[i].im;
            den[2 * i] = norm_sqr[i];
            den[2 * i + 1] = norm_sqr[i];
        }
        let mut q = [0.0f64; 8];
        for k in 0..2 * P {
            q[k] = num[k] / den[k];
        }
        let mut out = [C::new(0.0, 0.0); P];
        for i in 0..P {
            out[i] = C::new(q[2 * i], -q[2 * i + 1]);
        }
        Some(out)
    }

    #[inline(always)]
    fn constant_pq_current(&self, v: C, vmag: f64) -> C {
        if vmag <= self.vbase_low {
            self.yeq * v
        } else if vmag <= self.vbase95 {
            self.interp_y95(vmag) * v
        } else if vmag > self.vbase105 {
            self.yeq105 * v
        } else {
            (C::new(self.w_nominal, self.var_nominal) / v).conj()
        }
    }

    #[inline(always)]
    fn constant_i_current(&self, v: C, vmag: f64) -> C {
        if vmag <= self.vbase_low {
            self.yeq * v
        } else if vmag <= self.vbase95 {
            self.interp_y95i(vmag) * v
        } else if vmag > self.vbase105 {
            self.yeq105i * v
        } else {
            (C::new(self.w_nominal, self.var_nominal) / ((v / vmag) * self.vbase)).conj()
        }
    }

    /// Current drawn by one phase (into the load) at phase voltage `v`
    /// (OpenDSS `DoConstantPQLoad` and siblings).
    pub fn phase_current(&self, v: C) -> C {
        let vmag = v.norm_sqr().sqrt();
        match self.model {
            2 => self.yeq * v,
            1 => self.constant_pq_current(v, vmag),
            3 => {
                if vmag <= self.vbase_low {
                    self.yeq * v
                } else if vmag <= self.vbase95 {
                    self.interp_y95(vmag) * v
                } else if vmag > self.vbase105 {
                    self.yeq105 * v
                } else {
                    (C::new(self.w_nominal, 0.0) / v).conj() + C::new(0.0, self.yeq.im) * v
                }
            }
            4 => {
                if vmag <= self.vbase_low {
                    self.yeq * v
                } else if vmag <= self.vbase95 {
                    self.interp_y95(vmag) * v
                } else if vmag > self.vbase105 {
                    self.yeq105 * v
                } else {
                    let vratio = vmag / self.vbase;
                    let watt_factor = if self.cvrwatts != 1.0 { vratio.powf(self.cvrwatts) } else { vratio };
                    let mut curr = if watt_factor > 0.0 {
                        (C::new(self.w_nominal * watt_factor, 0.0) / v).conj()
                    } else {
                        C::new(0.0, 0.0)
                    };
                    let cvar = if vmag == 0.0 {
                        C::new(0.0, 0.0)
                    } else if self.cvrvars == 2.0 {
                        C::new(0.0, self.yeq.im) * v
                    } else if self.cvrvars == 3.0 {
                        let f = vratio * vratio * vratio;
                        (C::new(0.0, self.var_nominal * f) / v).conj()
                    } else {
                        let f = vratio.powf(self.cvrvars);
                        (C::new(0.0, self.var_nominal * f) / v).conj()
                    };
                    curr += cvar;
                    curr
                }
            }
            5 => self.constant_i_current(v, vmag),
            6 => {
                if vmag <= self.vbase_low {
                    self.yeq * v
                } else if vmag <= self.vbase95 {
                    C::new(self.yeq95.re, self.yq_fixed) * v
                } else if vmag > self.vbase105 {
                    C::new(self.yeq105.re, self.yq_fixed) * v
                } else {
                    (C::new(self.w_nominal, self.var_base) / v).conj()
                }
            }
            7 => {
                if vmag <= self.vbase_low {
                    self.yeq * v
                } else if vmag <= self.vbase95 {
                    C::new(self.yeq95.re, self.yq_fixed) * v
                } else if vmag > self.vbase105 {
                    C::new(self.yeq105.re, self.yq_fixed) * v
                } else {
                    (C::new(self.w_nominal, 0.0) / v).conj() + C::new(0.0, self.yq_fixed) * v
                }
            }
            8 => self.zipv_current(v, vmag),
            _ => self.yeq * v,
        }
    }

    fn zipv_current(&self, v: C, vmag: f64) -> C {
        let Some(z) = self.zipv else {
            return self.yeq * v;
        };
        if vmag <= self.vbase_low {
            return self.yeq * v;
        }
        let zero = C::new(0.0, 0.0);
        let mut curr;
        if vmag <= self.vbase95 {
            let cz = if z[0] != 0.0 || z[3] != 0.0 { C::new(self.yeq.re * z[0], self.yeq.im * z[3]) } else { zero };
            let cp = if z[2] != 0.0 || z[5] != 0.0 {
                let y = self.interp_y95(vmag);
                C::new(y.re * z[2], y.im * z[5])
            } else {
                zero
            };
            let ci = if z[1] != 0.0 || z[4] != 0.0 {
                let y = self.interp_y95i(vmag);
                C::new(y.re * z[1], y.im * z[4])
            } else {
                zero
            };
            curr = (cz + ci + cp) * v;
        } else if vmag > self.vbase105 {
            let cz = if z[0] != 0.0 || z[3] != 0.0 { C::new(self.yeq.re * z[0], self.yeq.im * z[3]) } else { zero };
            let cp = if z[2] != 0.0 || z[5] != 0.0 {
                C::new(self.yeq105.re * z[2], self.yeq105.im * z[5])
            } else {
                zero
            };
            let ci = if z[1] != 0.0 || z[4] != 0.0 {
                C::new(self.yeq105i.re * z[1], self.yeq105i.im * z[4])
            } else {
                zero
            };
            curr = (cz + ci + cp) * v;
        } else {
            let cz = if z[0] != 0.0 || z[3] != 0.0 {
                C::new(self.yeq.re * z[0], self.yeq.im * z[3]) * v
            } else {
                zero
            };
            let ci = if z[1] != 0.0 || z[4] != 0.0 {
                (C::new(self.w_nominal * z[1], self.var_nominal * z[4]) / ((v / vmag) * self.vbase)).conj()
            } else {
                zero
            };
            let cp = if z[2] != 0.0 || z[5] != 0.0 {
                (C::new(self.w_nominal * z[2], self.var_nominal * z[5]) / v).conj()
            } else {
                zero
            };
            curr = cz + ci + cp;
        }
        if z[6] > 0.0 {
            let vx = 500.0 * (vmag / self.vbase - z[6]);
            let evx = (2.0 * vx).exp();
            let yv = 0.5 * (1.0 + (evx - 1.0) / (evx + 1.0));
            curr *= yv;
        }
        curr
    }
}

/// The load's Yprim in compact form, for the injection loop: Yprim·V with
/// exactly the arithmetic of [`CMat::mul_vec`] on the full matrix (same
/// products, same order), so Y and the injections stay consistent to the bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadY {
    /// Phase rows: a·V_i + b·V_n; neutral row: Σ b·V_i + c·V_n.
    Wye { phases: usize, a: C, b: C, c: C },
    /// Full matrix (at most 3 conductors).
    Delta { nconds: usize, m: [C; 9] },
}

/// Whether two [`LoadCalc::yprim_key`]s are equal: word by word without a
/// branch (`==` on the arrays calls `memcmp`, which cost more than the
/// comparison).
#[inline]
pub(crate) fn same_key(a: &[u64; 7], b: &[u64; 7]) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Most conductors a load can have (3 phases + neutral).
pub const MAX_LOAD_CONDUCTORS: usize = 4;

impl LoadY {
    pub fn from_yprim(calc: &LoadCalc, y: &CMat) -> Option<Self> {
        let nc = calc.nconds;
        match calc.conn {
            Connection::Wye => {
                if nc > MAX_LOAD_CONDUCTORS {
                    return None;
                }
                let n = nc - 1;
                Some(LoadY::Wye { phases: calc.phases, a: y.get(0, 0), b: y.get(0, n), c: y.get(n, n) })
            }
            Connection::Delta => {
                if nc > 3 {
                    return None;
                }
                let mut m = [C::new(0.0, 0.0); 9];
                for i in 0..nc {
                    for j in 0..nc {
                        m[i * 3 + j] = y.get(i, j);
                    }
                }
                Some(LoadY::Delta { nconds: nc, m })
            }
        }
    }

    #[inline]
    pub fn apply(&self, v: &[C; MAX_LOAD_CONDUCTORS], out: &mut [C; MAX_LOAD_CONDUCTORS]) {
        match *self {
            LoadY::Wye { phases, a, b, c } => {
                let n = phases;
                let mut sn = C::new(0.0, 0.0);
                for i in 0..phases {
                    out[i] = a * v[i] + b * v[n];
                    sn += b * v[i];
                }
                out[n] = sn + c * v[n];
            }
            // Three-phase delta, unrolled (the same additions, in the same order).
            LoadY::Delta { nconds: 3, m } => {
                let zero = C::new(0.0, 0.0);
                out[0] = zero + m[0] * v[0] + m[1] * v[1] + m[2] * v[2];
                out[1] = zero + m[3] * v[0] + m[4] * v[1] + m[5] * v[2];
                out[2] = zero + m[6] * v[0] + m[7] * v[1] + m[8] * v[2];
            }
            LoadY::Delta { nconds, m } => {
                for i in 0..nconds {
                    let mut s = C::new(0.0, 0.0);
                    for j in 0..nconds {
                        s += m[i * 3 + j] * v[j];
                    }
                    out[i] = s;
                }
            }
        }
    }
}

/// The largest `x` with `x.sqrt() <= t` (sqrt is correctly rounded, hence
/// monotone): for every `x ≥ 0` or NaN, `x <= T` ⇔ `x.sqrt() <= t` and
/// `x > T` ⇔ `x.sqrt() > t`, so a band test on |V| can be made on |V|²
/// with the same outcome.
pub(crate) fn squared_threshold(t: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    if t < 0.0 {
        // No square root (of x ≥ 0) is below a negative bound.
        return -1.0;
    }
    if t == f64::INFINITY {
        return f64::INFINITY;
    }
    let mut x = t * t;
    while x > 0.0 && x.sqrt() > t {
        x = x.next_down();
    }
    while x < f64::INFINITY && x.next_up().sqrt() <= t {
        x = x.next_up();
    }
    x
}

#[cfg(test)]
mod tests {
    #[test]
    fn squared_thresholds_decide_as_the_square_root_does() {
        use super::squared_threshold;
        // Per-unit bands of usual bases (V), their edges, and odd cases.
        let mut bounds = vec![0.0, -0.0, -1.0, 1e-300, 1e300, f64::INFINITY, f64::MAX];
        for vb in [120.0, 277.128, 2401.777, 7200.0, 14_376.022, 69_000.0 / 3f64.sqrt()] {
            for pu in [0.5, 0.95, 1.05, 0.9, 1.1, 0.0, 0.7] {
                bounds.push(pu * vb);
            }
        }
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for &t in &bounds {
            let big_t = squared_threshold(t);
            let mut probes = vec![0.0, f64::INFINITY, f64::NAN];
            if big_t.is_finite() {
                let mut x = big_t;
                let mut y = big_t;
                for _ in 0..50 {
                    probes.push(x);
                    probes.push(y);
                    x = x.next_up();
                    y = if y > 0.0 { y.next_down() } else { y };
                }
            }
            for _ in 0..2000 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let scale = if t.is_finite() && t > 0.0 { t * t } else { 1.0 };
                probes.push(scale * 2.0 * (seed >> 11) as f64 / (1u64 << 53) as f64);
            }
            for x in probes.into_iter().filter(|x| *x >= 0.0 || x.is_nan()) {
                assert_eq!(x <= big_t, x.sqrt() <= t, "t {t:e}, x {x:e}");
                assert_eq!(x > big_t, x.sqrt() > t, "t {t:e}, x {x:e}");
            }
        }
    }

    use super::*;

    fn kw_at(model: u8, pu: f64) -> f64 {
        let mut l = LoadCalc::from_parts(1, Connection::Wye, 1.0, model, (0.95, 1.05, 0.5), LoadStatus::Variable);
        l.set_nominal(1000.0, 500.0, 1.0);
        let v = C::new(pu * 1000.0, 0.0);
        (v * l.phase_current(v).conj()).re / 1000.0
    }

    #[test]
    fn compact_yprim_product_is_bit_identical() {
        let v = [C::new(2400.3, -13.7), C::new(-1203.9, -2077.1), C::new(-1195.2, 2081.4), C::new(0.37, -0.21)];
        for (phases, conn) in [
            (1, Connection::Wye),
            (2, Connection::Wye),
            (3, Connection::Wye),
            (1, Connection::Delta),
            (2, Connection::Delta),
            (3, Connection::Delta),
        ] {
            for rneut in [-1.0, 0.0, 5.0] {
                let mut l = LoadCalc::from_parts(phases, conn, 4.16, 1, (0.95, 1.05, 0.5), LoadStatus::Variable);
                l.rneut = rneut;
                l.xneut = 1.0;
                l.set_nominal(123.4, 56.7, 1.0);
                let y = l.yprim();
                let compact = LoadY::from_yprim(&l, &y).unwrap();
                let nc = l.nconds;
                let mut full = [C::new(0.0, 0.0); 4];
                y.mul_vec(&v[..nc], &mut full[..nc]);
                let mut fast = [C::new(0.0, 0.0); 4];
                compact.apply(&v, &mut fast);
                assert_eq!(full[..nc], fast[..nc], "{phases} {conn:?} rneut {rneut}");
            }
        }
    }

    #[test]
    fn scaling_equals_recomputing() {
        for model in 1..=8u8 {
            let mut a = LoadCalc::from_parts(3, Connection::Wye, 12.47, model, (0.9, 1.05, 0.5), LoadStatus::Variable);
            a.zipv = Some([0.2, 0.3, 0.5, 0.1, 0.2, 0.7, 0.6]);
            let mut b = a.clone();
            a.set_nominal(400.0, 150.0, 1.2);
            a.scale(1.37);
            b.set_nominal(400.0 * 1.37, 150.0 * 1.37, 1.2);
            for pu in [0.3, 0.7, 0.93, 1.0, 1.08] {
                let v = C::from_polar(pu * b.vbase, 0.3);
                let (ia, ib) = (a.phase_current(v), b.phase_current(v));
                assert!((ia - ib).norm() <= 1e-13 * ib.norm(), "model {model} at {pu}: {ia} vs {ib}");
            }
        }
    }

    /// The numbers quoted in docs/opendss-semantics.md §2.
    #[test]
    fn voltage_bands_match_opendss() {
        assert!((kw_at(1, 0.90) - 892.1).abs() < 0.05, "{}", kw_at(1, 0.90));
        assert!((kw_at(1, 1.10) - 1097.5).abs() < 0.05, "{}", kw_at(1, 1.10));
        assert!((kw_at(5, 0.90) - 850.0).abs() < 0.05, "{}", kw_at(5, 0.90));
        assert!((kw_at(1, 1.00) - 1000.0).abs() < 1e-9);
        assert!((kw_at(2, 0.90) - 810.0).abs() < 1e-9);
    }
}
