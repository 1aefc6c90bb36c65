//! Synthetic radial feeders of any size, for benchmarks and scaling tests.
//!
//! A 12.47 kV three-phase tree behind a stiff source: every bus has nodes
//! 1, 2, 3 and is fed by a short line from an earlier bus chosen at random
//! among the later half of the buses so far (so the depth grows like log n,
//! as on real feeders with laterals). Every bus but the source carries a
//! load: three-phase constant PQ, constant Z or constant current loads and
//! single-phase loads rotating over the phases. Total demand is about 3 MW
//! whatever the size, so voltages stay in band. Deterministic for a seed.

use ogg_dss::{Circuit, MemoryFiles};

use crate::error::GridError;

/// Small deterministic generator (SplitMix64), so results do not depend on a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The OpenDSS script of a synthetic feeder with about `nodes` nodes
/// (3 per bus, at least 2 buses).
pub fn script(nodes: usize, seed: u64) -> String {
    use std::fmt::Write;
    let buses = (nodes / 3).max(2);
    let mut rng = Rng(seed ^ 0x5EED);
    let mut s = String::with_capacity(buses * 160);
    let _ = writeln!(s, "Clear");
    let _ = writeln!(s, "New Circuit.synthetic{nodes} basekv=12.47 pu=1.02 phases=3 bus1=b0 mvasc3=200 mvasc1=210");
    let _ = writeln!(s, "New LineCode.oh nphases=3 r1=0.19 x1=0.38 r0=0.58 x0=1.25 c1=9.6 c0=4.4 units=km normamps=400");
    let total_kw = 3000.0;
    let per_bus = total_kw / (buses - 1) as f64;
    for i in 1..buses {
        let lo = i / 2;
        let parent = lo + ((i - lo) as f64 * rng.uniform()) as usize;
        let parent = parent.min(i - 1);
        let len = 0.05 + 0.15 * rng.uniform();
        let _ = writeln!(s, "New Line.l{i} bus1=b{parent} bus2=b{i} linecode=oh length={len:.4} units=km");
        let kind = rng.next() % 6;
        let kw = per_bus * (0.5 + rng.uniform());
        let kvar = kw * 0.4;
        match kind {
            0..=2 => {
                let model = [1, 2, 5][kind as usize];
                let _ = writeln!(s, "New Load.d{i} bus1=b{i} phases=3 conn=wye kv=12.47 kw={kw:.4} kvar={kvar:.4} model={model}");
            }
            _ => {
                let ph = 1 + (i % 3);
                let _ = writeln!(s, "New Load.d{i} bus1=b{i}.{ph} phases=1 conn=wye kv=7.2 kw={kw:.4} kvar={kvar:.4} model=1");
            }
        }
    }
    let _ = writeln!(s, "Set VoltageBases=[12.47]");
    let _ = writeln!(s, "CalcVoltageBases");
    s
}

/// A synthetic feeder as a circuit (see [`script`]).
pub fn circuit(nodes: usize, seed: u64) -> Result<Circuit, GridError> {
    let text = script(nodes, seed);
    ogg_dss::read_str(&text, "synthetic.dss", &MemoryFiles::new()).map_err(|e| GridError::Read(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PowerFlow;

    #[test]
    fn synthetic_feeders_solve_in_band() {
        for n in [30, 3000] {
            let c = circuit(n, 7).unwrap();
            let mut pf = PowerFlow::new(&c).unwrap();
            let r = pf.solve().unwrap();
            assert!(r.converged, "{r:?}");
            assert_eq!(pf.n_nodes(), 3 * (n / 3));
            let (p, _) = pf.total_power();
            assert!(p > 2500.0 && p < 3600.0, "{p}");
            for v in pf.voltage_table() {
                assert!(v.pu > 0.93 && v.pu < 1.05, "{} {}", v.bus, v.pu);
            }
        }
        assert_eq!(script(300, 1), script(300, 1));
        assert_ne!(script(300, 1), script(300, 2));
    }
}
