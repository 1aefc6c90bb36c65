//! From an OpenDSS circuit to what the market needs: the bus-to-bus topology
//! with ratings, and the demand at each load bus.
//!
//! Used when the grid does not provide `Grid::topology()`, by the CLI for
//! `--feeder FILE.dss`, and by UC1 to place one consumer per load bus.

use std::collections::{BTreeMap, HashMap};

use ogg_core::{Branch, Topology};
use ogg_dss::Circuit;

const SQRT3: f64 = 1.732_050_807_568_877_2;

/// Buses and branches of a circuit: enabled lines and switches (rating
/// normamps × kV_LN × phases, i.e. × √3 × kV_LL for three phases),
/// transformers (rating kVA of winding 1, one edge from winding 1 to each
/// other winding) and series reactors/capacitors (unrated). Bus kV comes from
/// the source and transformer windings and is carried across lines.
pub fn topology_from_circuit(c: &Circuit) -> Topology {
    let mut buses: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut id = |name: &str, buses: &mut Vec<String>| -> usize {
        let key = name.to_ascii_lowercase();
        *index.entry(key.clone()).or_insert_with(|| {
            buses.push(key);
            buses.len() - 1
        })
    };
    let source = c.vsources.iter().find(|v| v.enabled);
    let root = source.map(|v| id(&v.bus1.bus, &mut buses)).unwrap_or(0);
    let mut kv: HashMap<usize, f64> = HashMap::new();
    if let Some(v) = source {
        kv.insert(root, v.base_kv);
    }
    struct Raw {
        name: String,
        from: usize,
        to: usize,
        phases: usize,
        /// Line current rating (A) to be turned into kVA once kV is known, or a kVA rating.
        amps: Option<f64>,
        kva: f64,
        carries_kv: bool,
    }
    let mut raw: Vec<Raw> = Vec::new();
    for l in c.lines.iter().filter(|l| l.enabled) {
        let (a, b) = (id(&l.bus1.bus, &mut buses), id(&l.bus2.bus, &mut buses));
        raw.push(Raw {
            name: format!("line.{}", l.name),
            from: a,
            to: b,
            phases: l.phases,
            amps: Some(l.normamps),
            kva: f64::INFINITY,
            carries_kv: true,
        });
    }
    for t in c.transformers.iter().filter(|t| t.enabled) {
        let Some(w1) = t.windings.first() else { continue };
        let a = id(&w1.bus.bus, &mut buses);
        for w in &t.windings {
            let bus = id(&w.bus.bus, &mut buses);
            // 1-phase windings are rated line-to-neutral.
            let ll = if t.phases == 1 { w.kv * SQRT3 } else { w.kv };
            kv.entry(bus).or_insert(ll);
        }
        for w in t.windings.iter().skip(1) {
            let b = id(&w.bus.bus, &mut buses);
            raw.push(Raw {
                name: format!("transformer.{}", t.name),
                from: a,
                to: b,
                phases: t.phases,
                amps: None,
                kva: if w1.kva > 0.0 { w1.kva } else { f64::INFINITY },
                carries_kv: false,
            });
        }
    }
    for r in c.reactors.iter().filter(|r| r.enabled) {
        if let Some(b2) = &r.bus2 {
            let (a, b) = (id(&r.bus1.bus, &mut buses), id(&b2.bus, &mut buses));
            raw.push(Raw { name: format!("reactor.{}", r.name), from: a, to: b, phases: r.phases, amps: None, kva: f64::INFINITY, carries_kv: true });
        }
    }
    for cap in c.capacitors.iter().filter(|c| c.enabled) {
        if let Some(b2) = &cap.bus2 {
            let (a, b) = (id(&cap.bus1.bus, &mut buses), id(&b2.bus, &mut buses));
            if a != b {
                raw.push(Raw { name: format!("capacitor.{}", cap.name), from: a, to: b, phases: cap.phases, amps: None, kva: f64::INFINITY, carries_kv: true });
            }
        }
    }
    // Carry kV across lines until nothing changes (feeders are trees: few passes).
    loop {
        let mut changed = false;
        for r in raw.iter().filter(|r| r.carries_kv) {
            match (kv.get(&r.from).copied(), kv.get(&r.to).copied()) {
                (Some(k), None) => {
                    kv.insert(r.to, k);
                    changed = true;
                }
                (None, Some(k)) => {
                    kv.insert(r.from, k);
                    changed = true;
                }
                _ => {}
            }
        }
        if !changed {
            break;
        }
    }
    let branches = raw
        .into_iter()
        .map(|r| {
            let rating_kva = match r.amps {
                Some(amps) => {
                    let kv_ll = kv.get(&r.from).or(kv.get(&r.to)).copied().unwrap_or(0.0);
                    if amps > 0.0 && kv_ll > 0.0 {
                        amps * kv_ll / SQRT3 * r.phases.max(1) as f64
                    } else {
                        f64::INFINITY
                    }
                }
                None => r.kva,
            };
            Branch { name: r.name, from: r.from, to: r.to, phases: r.phases, rating_kva }
        })
        .collect();
    let bus_kv = (0..buses.len()).map(|i| kv.get(&i).copied().unwrap_or(0.0)).collect();
    Topology { buses, root, branches, bus_kv }
}

/// Demand at one load bus: total nominal kW of its enabled loads, and their names.
#[derive(Debug, Clone, PartialEq)]
pub struct BusLoad {
    pub bus: String,
    pub kw: f64,
    pub loads: Vec<String>,
}

/// Load buses in the order their first load is defined.
pub fn bus_loads(c: &Circuit) -> Vec<BusLoad> {
    let mut order: Vec<String> = Vec::new();
    let mut by_bus: BTreeMap<String, BusLoad> = BTreeMap::new();
    for l in c.loads.iter().filter(|l| l.enabled) {
        let bus = l.bus1.bus.to_ascii_lowercase();
        let entry = by_bus.entry(bus.clone()).or_insert_with(|| {
            order.push(bus.clone());
            BusLoad { bus: bus.clone(), kw: 0.0, loads: Vec::new() }
        });
        entry.kw += l.kw;
        entry.loads.push(l.name.clone());
    }
    order.into_iter().filter_map(|b| by_bus.remove(&b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::RadialNetwork;

    /// The shared reference feeders, if present (`<repo>/../shared` or $OGG_SHARED).
    pub(crate) fn shared_dir() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("OGG_SHARED").map(Into::into).unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        });
        dir.join("feeders").is_dir().then_some(dir)
    }

    #[test]
    fn ieee34_topology_and_loads() {
        let Some(shared) = shared_dir() else {
            eprintln!("skipped: the shared reference folder (../shared or $OGG_SHARED) is absent");
            return;
        };
        let c = ogg_dss::read_file(&shared.join("feeders/ieee34/ieee34Mod1.dss")).unwrap();
        let topo = topology_from_circuit(&c);
        let net = RadialNetwork::from_topology(&topo).unwrap();
        // sourcebus, 800 … 890, plus 814r and 852r: 37 buses in one tree.
        assert_eq!(net.len(), 37, "{:?}", net.buses);
        assert!(net.disconnected.is_empty());
        assert_eq!(net.buses[net.root], "sourcebus");
        let loads = bus_loads(&c);
        assert_eq!(loads.len(), 28);
        let total: f64 = loads.iter().map(|l| l.kw).sum();
        assert!((total - 1769.0).abs() < 1e-9, "{total}");
        // Line 800–802: 3 phases, default 400 A at 24.9 kV → √3·24.9·400 kVA.
        let e = net.edge_between("800", "802").unwrap();
        assert!((net.limit_kw[e] - SQRT3 * 24.9 * 400.0).abs() < 1e-6, "{}", net.limit_kw[e]);
        // The three single-phase regulators 814–814r are merged: 3 × 20000 kVA.
        let r = net.edge_between("814", "814r").unwrap();
        assert_eq!(net.limit_kw[r], 60000.0);
        // 1-phase line 808–810: 400 A at 24.9/√3 kV.
        let s = net.edge_between("808", "810").unwrap();
        assert!((net.limit_kw[s] - 400.0 * 24.9 / SQRT3).abs() < 1e-6);
    }
}
