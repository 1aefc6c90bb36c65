//! Results of a solved circuit: terminal currents and powers of every
//! element (OpenDSS convention: flowing *into* the element at each
//! conductor), losses, source power, node and line-to-line voltages.

use num_complex::Complex64 as C;
use ogg_dss::ElementClass;
use serde::Serialize;

use crate::engine::PowerFlow;
use crate::network::Element;

/// Currents into each conductor of element `e` (terminal-major).
pub fn element_currents(pf: &PowerFlow, e: usize) -> Vec<C> {
    let k = pf.elements[e].nodes.len();
    let mut vt = vec![C::new(0.0, 0.0); k];
    let mut cur = vec![C::new(0.0, 0.0); k];
    element_currents_into(pf, e, &mut vt, &mut cur);
    cur
}

/// As [`element_currents`], into `cur` (and the terminal voltages into `vt`),
/// both of the element's conductor count.
fn element_currents_into(pf: &PowerFlow, e: usize, vt: &mut [C], cur: &mut [C]) {
    let el: &Element = &pf.elements[e];
    for (v, &n) in vt.iter_mut().zip(&el.nodes) {
        *v = pf.v[n];
    }
    cur.iter_mut().for_each(|c| *c = C::new(0.0, 0.0));
    match el.class {
        ElementClass::Load => {
            let Some(ld) = pf.load_of_element(e).map(|i| &pf.loads[i]) else { return };
            let calc = &ld.calc;
            let nc = el.nconds;
            for i in 0..calc.phases {
                let (j, vph) = match calc.conn {
                    ogg_dss::Connection::Wye => (nc - 1, vt[i] - vt[nc - 1]),
                    ogg_dss::Connection::Delta => {
                        let j = if i + 1 >= nc { 0 } else { i + 1 };
                        (j, vt[i] - vt[j])
                    }
                };
                let c = if ld.currents_valid { ld.last_currents[i] } else { calc.phase_current(vph) };
                cur[i] += c;
                cur[j] -= c;
            }
        }
        ElementClass::Generator | ElementClass::PvSystem | ElementClass::Storage => {
            if let Some(d) = pf.ders.iter().find(|d| d.elem == e) {
                for (c, t) in cur.iter_mut().zip(d.terminal_currents(&pf.v)) {
                    *c = t;
                }
            }
        }
        ElementClass::Vsource => {
            el.yprim.mul_vec(vt, cur);
            if let Some(s) = pf.sources.iter().find(|s| s.elem == e) {
                for (c, inj) in cur.iter_mut().zip(&s.injection) {
                    *c -= inj;
                }
            }
        }
        _ => el.yprim.mul_vec(vt, cur),
    }
}

/// An element's powers without its per-conductor table: (terminal-1 kW +
/// j kvar, total into the element), the same sums as [`PowerFlow::element_flows`].
fn element_power_sums(pf: &PowerFlow, e: usize) -> (C, C) {
    const STACK: usize = 16;
    let el = &pf.elements[e];
    let k = el.nodes.len();
    let (mut vt_s, mut cur_s) = ([C::new(0.0, 0.0); STACK], [C::new(0.0, 0.0); STACK]);
    let (mut vt_h, mut cur_h);
    let (vt, cur): (&mut [C], &mut [C]) = if k <= STACK {
        (&mut vt_s[..k], &mut cur_s[..k])
    } else {
        vt_h = vec![C::new(0.0, 0.0); k];
        cur_h = vec![C::new(0.0, 0.0); k];
        (&mut vt_h, &mut cur_h)
    };
    element_currents_into(pf, e, vt, cur);
    let mut p1 = 0.0f64;
    let mut q1 = 0.0f64;
    let mut total = C::new(0.0, 0.0);
    for (i, &c) in cur.iter().enumerate() {
        let s = pf.v[el.nodes[i]] * c.conj() / 1000.0;
        total += s;
        if i / el.nconds == 0 {
            p1 += s.re;
            q1 += s.im;
        }
    }
    (C::new(p1, q1), total)
}

/// Total power (kW + j kvar) into a power-delivery element, whose currents
/// are Yprim·V: Σᵢ Vᵢ·conj((Yprim·V)ᵢ), without the per-conductor table (a
/// time series sums this over every line and transformer at every step).
/// Rows go two at a time, so two independent sums hide the additions'
/// latency. (Not the cheaper quadratic form Vᴴ·G·V: with a 1e-7 Ω switch it
/// cancels away digits that the currents keep.)
fn yprim_power(pf: &PowerFlow, e: usize) -> C {
    const STACK: usize = 16;
    let el = &pf.elements[e];
    let k = el.nodes.len();
    if k > STACK {
        return element_power_sums(pf, e).1;
    }
    let mut vt = [C::new(0.0, 0.0); STACK];
    for (x, &n) in vt.iter_mut().zip(&el.nodes) {
        *x = pf.v[n];
    }
    let vt = &vt[..k];
    let y = el.yprim.as_slice();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above); y is k×k.
            return unsafe { yprim_power_avx2(y, vt) } / 1000.0;
        }
        if std::is_x86_feature_detected!("sse3") {
            // SAFETY: the CPU has SSE3 (checked just above); y is k×k.
            return unsafe { yprim_power_sse3(y, vt) } / 1000.0;
        }
    }
    yprim_power_scalar(y, vt) / 1000.0
}

/// Σ Vᵢ·conj((Yprim·V)ᵢ) of [`yprim_power`] (before the /1000), `y` k×k.
fn yprim_power_scalar(y: &[C], vt: &[C]) -> C {
    let k = vt.len();
    let mut total = C::new(0.0, 0.0);
    let mut i = 0;
    while i + 1 < k {
        let (r0, r1) = (&y[i * k..(i + 1) * k], &y[(i + 1) * k..(i + 2) * k]);
        let (mut c0, mut c1) = (C::new(0.0, 0.0), C::new(0.0, 0.0));
        for ((a, b), x) in r0.iter().zip(r1).zip(vt) {
            c0 += a * x;
            c1 += b * x;
        }
        total += vt[i] * c0.conj();
        total += vt[i + 1] * c1.conj();
        i += 2;
    }
    if i < k {
        let mut c = C::new(0.0, 0.0);
        for (a, x) in y[i * k..(i + 1) * k].iter().zip(vt) {
            c += a * x;
        }
        total += vt[i] * c.conj();
    }
    total
}

/// Σ Vᵢ·conj((Yprim·V)ᵢ) of [`yprim_power`] (before the /1000), each
/// complex product as one packed multiply pair and `addsub`: every lane does
/// the scalar code's IEEE operations in its order (no FMA), so the same bits
/// at a third of the instructions. Rows two at a time as there.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse3")]
unsafe fn yprim_power_sse3(y: &[C], vt: &[C]) -> C {
    use std::arch::x86_64::*;
    const STACK: usize = 16;
    let k = vt.len();
    assert!(k <= STACK && y.len() >= k * k);
    // V as [re, im] and swapped [im, re] (C is repr(C): two f64).
    let mut v = [_mm_setzero_pd(); STACK];
    let mut v_swapped = [_mm_setzero_pd(); STACK];
    for j in 0..k {
        let x = _mm_loadu_pd(vt.as_ptr().add(j) as *const f64);
        v[j] = x;
        v_swapped[j] = _mm_shuffle_pd(x, x, 1);
    }
    let yp = y.as_ptr() as *const f64;
    // a·x = [a.re·x.re − a.im·x.im, a.re·x.im + a.im·x.re]
    let product = |q: usize, j: usize| {
        let a = yp.add(2 * q);
        _mm_addsub_pd(_mm_mul_pd(_mm_loaddup_pd(a), v[j]), _mm_mul_pd(_mm_loaddup_pd(a.add(1)), v_swapped[j]))
    };
    let to_c = |x: __m128d| {
        let mut out = [0.0f64; 2];
        _mm_storeu_pd(out.as_mut_ptr(), x);
        C::new(out[0], out[1])
    };
    let mut total = C::new(0.0, 0.0);
    let mut i = 0;
    while i + 1 < k {
        let (mut c0, mut c1) = (_mm_setzero_pd(), _mm_setzero_pd());
        for j in 0..k {
            c0 = _mm_add_pd(c0, product(i * k + j, j));
            c1 = _mm_add_pd(c1, product((i + 1) * k + j, j));
        }
        total += vt[i] * to_c(c0).conj();
        total += vt[i + 1] * to_c(c1).conj();
        i += 2;
    }
    if i < k {
        let mut c = _mm_setzero_pd();
        for j in 0..k {
            c = _mm_add_pd(c, product(i * k + j, j));
        }
        total += vt[i] * to_c(c).conj();
    }
    total
}

/// [`yprim_power_sse3`] with the two rows of each pair side by side in one
/// 256-bit register (lane by lane the same operations, so the same bits):
/// half the multiplies and adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn yprim_power_avx2(y: &[C], vt: &[C]) -> C {
    use std::arch::x86_64::*;
    const STACK: usize = 16;
    let k = vt.len();
    assert!(k <= STACK && y.len() >= k * k);
    // V broadcast to both halves, as [re, im] and swapped [im, re].
    let mut v = [_mm256_setzero_pd(); STACK];
    let mut v_swapped = [_mm256_setzero_pd(); STACK];
    for j in 0..k {
        let x = _mm_loadu_pd(vt.as_ptr().add(j) as *const f64);
        v[j] = _mm256_set_m128d(x, x);
        v_swapped[j] = _mm256_permute_pd::<0b0101>(v[j]);
    }
    let yp = y.as_ptr() as *const f64;
    let to_c = |x: __m128d| {
        let mut out = [0.0f64; 2];
        _mm_storeu_pd(out.as_mut_ptr(), x);
        C::new(out[0], out[1])
    };
    let mut total = C::new(0.0, 0.0);
    let mut i = 0;
    while i + 1 < k {
        let mut c = _mm256_setzero_pd();
        for j in 0..k {
            // [y(i, j), y(i + 1, j)] = [re₀, im₀, re₁, im₁].
            let a = _mm256_loadu2_m128d(yp.add(2 * ((i + 1) * k + j)), yp.add(2 * (i * k + j)));
            let re = _mm256_movedup_pd(a);
            let im = _mm256_permute_pd::<0b1111>(a);
            c = _mm256_add_pd(c, _mm256_addsub_pd(_mm256_mul_pd(re, v[j]), _mm256_mul_pd(im, v_swapped[j])));
        }
        total += vt[i] * to_c(_mm256_castpd256_pd128(c)).conj();
        total += vt[i + 1] * to_c(_mm256_extractf128_pd::<1>(c)).conj();
        i += 2;
    }
    if i < k {
        let mut c = _mm_setzero_pd();
        for j in 0..k {
            let a = yp.add(2 * (i * k + j));
            let x = _mm256_castpd256_pd128(v[j]);
            let xs = _mm256_castpd256_pd128(v_swapped[j]);
            c = _mm_add_pd(c, _mm_addsub_pd(_mm_mul_pd(_mm_loaddup_pd(a), x), _mm_mul_pd(_mm_loaddup_pd(a.add(1)), xs)));
        }
        total += vt[i] * to_c(c).conj();
    }
    total
}

/// One conductor of one terminal of an element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConductorFlow {
    pub terminal: usize,
    pub conductor: usize,
    pub bus: String,
    pub node: u32,
    pub current: (f64, f64),
    /// kW and kvar into the element at this conductor.
    pub p_kw: f64,
    pub q_kvar: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementFlows {
    /// `Class.name`.
    pub element: String,
    pub conductors: Vec<ConductorFlow>,
    /// Σ over terminal 1 and terminal 2 (kW, kvar).
    pub p1_kw: f64,
    pub q1_kvar: f64,
    pub p2_kw: f64,
    pub q2_kvar: f64,
    /// Total power into the element (= losses for PD elements), kW/kvar.
    pub loss_kw: f64,
    pub loss_kvar: f64,
    /// Largest |I| at terminal 1 (A).
    pub imax_t1: f64,
}

impl PowerFlow {
    /// Currents and powers of one element, by index in definition order.
    pub fn element_flows(&self, e: usize) -> ElementFlows {
        let el = &self.elements[e];
        let cur = element_currents(self, e);
        let mut conductors = Vec::with_capacity(cur.len());
        let mut p = [0.0f64; 2];
        let mut q = [0.0f64; 2];
        let mut total = C::new(0.0, 0.0);
        let mut imax: f64 = 0.0;
        for (k, &i) in cur.iter().enumerate() {
            let term = k / el.nconds;
            let s = self.v[el.nodes[k]] * i.conj() / 1000.0;
            total += s;
            if term < 2 {
                p[term] += s.re;
                q[term] += s.im;
            }
            if term == 0 {
                imax = imax.max(i.norm());
            }
            conductors.push(ConductorFlow {
                terminal: term + 1,
                conductor: k % el.nconds + 1,
                bus: self.nodes.buses[el.terminal_bus[term]].name.clone(),
                node: el.node_numbers[k],
                current: (i.re, i.im),
                p_kw: s.re,
                q_kvar: s.im,
            });
        }
        ElementFlows {
            element: el.full_name(),
            conductors,
            p1_kw: p[0],
            q1_kvar: q[0],
            p2_kw: p[1],
            q2_kvar: q[1],
            loss_kw: total.re,
            loss_kvar: total.im,
            imax_t1: imax,
        }
    }

    /// Shunt PD element: a capacitor or reactor whose second terminal is grounded.
    pub(crate) fn is_shunt(&self, e: usize) -> bool {
        let el = &self.elements[e];
        matches!(el.class, ElementClass::Capacitor | ElementClass::Reactor)
            && el.nterms == 2
            && el.nodes[el.nconds..].iter().all(|&n| n == 0)
    }

    pub fn n_elements(&self) -> usize {
        self.elements.len()
    }

    /// Index of an element given as `Class.name` (case-insensitive).
    pub fn element_position(&self, full_name: &str) -> Option<usize> {
        let lower = full_name.to_ascii_lowercase();
        self.elements.iter().position(|e| e.full_name().to_ascii_lowercase() == lower)
    }

    /// Power delivered by the sources (kW, kvar), positive when supplying.
    pub fn total_power(&self) -> (f64, f64) {
        let mut s = C::new(0.0, 0.0);
        for src in &self.sources {
            s += element_power_sums(self, src.elem).0;
        }
        (-s.re, -s.im)
    }

    /// Losses of all series power-delivery elements (kW, kvar); shunt
    /// capacitors and reactors are excluded, as in OpenDSS's circuit losses.
    pub fn losses(&self) -> (f64, f64) {
        let mut s = C::new(0.0, 0.0);
        for (e, el) in self.elements.iter().enumerate() {
            if el.is_pd() && !self.is_shunt(e) {
                s += yprim_power(self, e);
            }
        }
        (s.re, s.im)
    }

    /// Total power drawn by loads (kW, kvar).
    pub fn load_power(&self) -> (f64, f64) {
        let mut s = C::new(0.0, 0.0);
        for ld in &self.loads {
            s += element_power_sums(self, ld.elem).1;
        }
        (s.re, s.im)
    }

    /// Power drawn by one load (kW, kvar), by load index.
    pub fn load_power_of(&self, i: usize) -> (f64, f64) {
        let total = element_power_sums(self, self.loads[i].elem).1;
        (total.re, total.im)
    }

    /// Node-to-ground voltages, buses in OpenDSS order and nodes sorted.
    pub fn voltage_table(&self) -> Vec<NodeVoltage> {
        let mut out = Vec::with_capacity(self.n_nodes());
        for bus in &self.nodes.buses {
            let mut nodes = bus.nodes.clone();
            nodes.sort_by_key(|(n, _)| *n);
            for (n, idx) in nodes {
                let v = self.v[idx];
                let base = bus.kv_base_ln * 1000.0;
                out.push(NodeVoltage {
                    bus: bus.name.clone(),
                    node: n,
                    kv_base_ln: bus.kv_base_ln,
                    v,
                    pu: if base > 0.0 { v.norm() / base } else { 0.0 },
                });
            }
        }
        out
    }

    /// Line-to-line voltages V12, V23, V31 for buses with at least two of
    /// nodes 1..3 (pairs whose nodes exist), pu on √3·kV_ln.
    pub fn line_to_line_voltages(&self) -> Vec<LineVoltage> {
        let mut out = Vec::new();
        for bus in &self.nodes.buses {
            let find = |n: u32| bus.nodes.iter().find(|(m, _)| *m == n).map(|&(_, i)| i);
            let present = (1..=3).filter(|&n| find(n).is_some()).count();
            if present < 2 {
                continue;
            }
            let pairs = [(1u32, 2u32), (2, 3), (3, 1)];
            for (a, b) in pairs {
                let (Some(ia), Some(ib)) = (find(a), find(b)) else { continue };
                let v = self.v[ia] - self.v[ib];
                let base = bus.kv_base_ln * 3f64.sqrt() * 1000.0;
                out.push(LineVoltage {
                    bus: bus.name.clone(),
                    pair: (a, b),
                    v,
                    pu: if base > 0.0 { v.norm() / base } else { 0.0 },
                });
            }
        }
        out
    }

    /// Buses in OpenDSS order with their line-to-neutral base kV.
    pub fn buses(&self) -> Vec<(String, f64)> {
        self.nodes.buses.iter().map(|b| (b.name.clone(), b.kv_base_ln)).collect()
    }

    /// Mean per-unit magnitude over a bus's phase nodes (1..3, else all nodes).
    pub fn bus_voltage_pu(&self, bus: usize) -> f64 {
        let b = &self.nodes.buses[bus];
        let base = b.kv_base_ln * 1000.0;
        if base <= 0.0 || b.nodes.is_empty() {
            return f64::NAN;
        }
        let mut phase: Vec<usize> = b.nodes.iter().filter(|(n, _)| (1..=3).contains(n)).map(|&(_, i)| i).collect();
        if phase.is_empty() {
            phase = b.nodes.iter().map(|&(_, i)| i).collect();
        }
        phase.iter().map(|&i| self.v[i].norm()).sum::<f64>() / phase.len() as f64 / base
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeVoltage {
    pub bus: String,
    pub node: u32,
    pub kv_base_ln: f64,
    pub v: C,
    pub pu: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineVoltage {
    pub bus: String,
    pub pair: (u32, u32),
    pub v: C,
    pub pu: f64,
}

#[cfg(test)]
mod yprim_power_tests {
    use super::*;

    /// The packed path gives the scalar path's bits (orders 1 to 9, odd and
    /// even, values spread over many magnitudes).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn packed_yprim_power_is_bit_identical_to_scalar() {
        if !std::is_x86_feature_detected!("sse3") {
            return;
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 10f64.powi((seed % 9) as i32 - 4)
        };
        for k in 1..=9 {
            for _ in 0..50 {
                let y: Vec<C> = (0..k * k).map(|_| C::new(next(), next())).collect();
                let v: Vec<C> = (0..k).map(|_| C::new(next() * 1e3, next() * 1e3)).collect();
                let scalar = yprim_power_scalar(&y, &v);
                // SAFETY: SSE3 checked above.
                let packed = unsafe { yprim_power_sse3(&y, &v) };
                assert_eq!((scalar.re.to_bits(), scalar.im.to_bits()), (packed.re.to_bits(), packed.im.to_bits()), "order {k}");
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 checked just above.
                    let wide = unsafe { yprim_power_avx2(&y, &v) };
                    assert_eq!((scalar.re.to_bits(), scalar.im.to_bits()), (wide.re.to_bits(), wide.im.to_bits()), "AVX2, order {k}");
                }
            }
        }
    }
}
