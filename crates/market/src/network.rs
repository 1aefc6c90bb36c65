//! The radial network as the auction sees it: a rooted tree of buses where
//! every non-root bus has exactly one edge to its parent, with a flow limit.
//!
//! Built from an [`ogg_core::Topology`] (parallel branches between the same two
//! buses, e.g. a bank of single-phase regulators, are merged and their ratings
//! added) or from an explicit edge list. Ratings in kVA are used as kW limits:
//! the auction is a lossless active-power model (unity power factor).

use std::collections::HashMap;

use ogg_core::Topology;

use crate::error::MarketError;

/// Sentinel parent of the root.
pub const NO_PARENT: usize = usize::MAX;

#[derive(Debug, Clone, PartialEq)]
pub struct RadialNetwork {
    /// Bus names (as given), indexed by bus id.
    pub buses: Vec<String>,
    pub root: usize,
    /// Parent bus of every bus (`NO_PARENT` for the root). The edge into bus i
    /// (from `parent[i]` to `i`) is "edge i".
    pub parent: Vec<usize>,
    /// Flow limit of edge i in kW (`f64::INFINITY` for the root or an unrated edge).
    pub limit_kw: Vec<f64>,
    /// Name(s) of the branch(es) forming edge i, joined by '+' (empty for the root).
    pub edge_name: Vec<String>,
    /// Buses in breadth-first order from the root: parents before children.
    pub order: Vec<usize>,
    /// Buses of the topology not connected to the root (for error messages).
    pub disconnected: Vec<String>,
    lookup: HashMap<String, usize>,
}

/// One edge of an explicit edge list.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSpec {
    pub name: String,
    pub from: String,
    pub to: String,
    pub limit_kw: f64,
}

impl RadialNetwork {
    /// From the grid's topology; `Branch::rating_kva` becomes the kW limit.
    pub fn from_topology(topology: &Topology) -> Result<Self, MarketError> {
        if topology.buses.is_empty() {
            return Err(MarketError::Network("the topology has no buses".into()));
        }
        if topology.root >= topology.buses.len() {
            return Err(MarketError::Network(format!(
                "root index {} outside the {} buses",
                topology.root,
                topology.buses.len()
            )));
        }
        let edges = topology
            .branches
            .iter()
            .map(|b| {
                let bus = |i: usize| {
                    topology.buses.get(i).cloned().ok_or_else(|| {
                        MarketError::Network(format!("branch {} refers to bus index {i}", b.name))
                    })
                };
                Ok(EdgeSpec { name: b.name.clone(), from: bus(b.from)?, to: bus(b.to)?, limit_kw: b.rating_kva })
            })
            .collect::<Result<Vec<_>, MarketError>>()?;
        Self::from_edges(&topology.buses, &topology.buses[topology.root], &edges)
    }

    /// From bus names, the root's name and an edge list (edges may be given in
    /// either direction; parallel edges are merged, their limits added).
    pub fn from_edges(buses: &[String], root: &str, edges: &[EdgeSpec]) -> Result<Self, MarketError> {
        let mut lookup: HashMap<String, usize> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut intern = |name: &str, names: &mut Vec<String>| -> usize {
            let key = name.to_ascii_lowercase();
            *lookup.entry(key).or_insert_with(|| {
                names.push(name.to_string());
                names.len() - 1
            })
        };
        for b in buses {
            intern(b, &mut names);
        }
        let root_id = intern(root, &mut names);
        // Merge parallel edges: key = unordered bus pair.
        let mut pair_index: HashMap<(usize, usize), usize> = HashMap::new();
        let mut merged: Vec<(usize, usize, f64, String)> = Vec::new();
        for e in edges {
            if e.limit_kw.is_nan() || e.limit_kw < 0.0 {
                return Err(MarketError::Network(format!(
                    "edge {} ({} – {}): limit {} kW must be ≥ 0",
                    e.name, e.from, e.to, e.limit_kw
                )));
            }
            let a = intern(&e.from, &mut names);
            let b = intern(&e.to, &mut names);
            if a == b {
                continue; // a branch inside one bus (e.g. a switch to itself) carries no market flow
            }
            let key = (a.min(b), a.max(b));
            match pair_index.get(&key) {
                Some(&k) => {
                    merged[k].2 += e.limit_kw;
                    merged[k].3.push('+');
                    merged[k].3.push_str(&e.name);
                }
                None => {
                    pair_index.insert(key, merged.len());
                    merged.push((a, b, e.limit_kw, e.name.clone()));
                }
            }
        }
        let n = names.len();
        let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (k, &(a, b, _, _)) in merged.iter().enumerate() {
            adjacency[a].push(k);
            adjacency[b].push(k);
        }
        let mut parent = vec![NO_PARENT; n];
        let mut limit_kw = vec![f64::INFINITY; n];
        let mut edge_name = vec![String::new(); n];
        let mut visited = vec![false; n];
        let mut used_edge = vec![false; merged.len()];
        let mut order = Vec::with_capacity(n);
        visited[root_id] = true;
        order.push(root_id);
        let mut head = 0;
        while head < order.len() {
            let u = order[head];
            head += 1;
            for &k in &adjacency[u] {
                if used_edge[k] {
                    continue;
                }
                used_edge[k] = true;
                let (a, b, lim, ref name) = merged[k];
                let v = if a == u { b } else { a };
                if visited[v] {
                    return Err(MarketError::Network(format!(
                        "the network is not radial: branch {name} ({} – {}) closes a loop",
                        names[a], names[b]
                    )));
                }
                visited[v] = true;
                parent[v] = u;
                limit_kw[v] = lim;
                edge_name[v] = name.clone();
                order.push(v);
            }
        }
        // Keep only the connected component of the root, re-indexed in BFS order
        // so that ids are contiguous (and children follow parents).
        let disconnected: Vec<String> =
            (0..n).filter(|&i| !visited[i]).map(|i| names[i].clone()).collect();
        let mut new_id = vec![NO_PARENT; n];
        for (k, &old) in order.iter().enumerate() {
            new_id[old] = k;
        }
        let m = order.len();
        let mut net = RadialNetwork {
            buses: Vec::with_capacity(m),
            root: 0,
            parent: Vec::with_capacity(m),
            limit_kw: Vec::with_capacity(m),
            edge_name: Vec::with_capacity(m),
            order: (0..m).collect(),
            disconnected,
            lookup: HashMap::with_capacity(m),
        };
        for &old in &order {
            net.buses.push(names[old].clone());
            net.parent.push(if parent[old] == NO_PARENT { NO_PARENT } else { new_id[parent[old]] });
            net.limit_kw.push(limit_kw[old]);
            net.edge_name.push(edge_name[old].clone());
        }
        for (i, b) in net.buses.iter().enumerate() {
            net.lookup.insert(b.to_ascii_lowercase(), i);
        }
        Ok(net)
    }

    pub fn len(&self) -> usize {
        self.buses.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buses.is_empty()
    }

    /// Bus id by name (case-insensitive).
    pub fn bus_index(&self, name: &str) -> Option<usize> {
        self.lookup.get(&name.to_ascii_lowercase()).copied()
    }

    /// Why a bus name is unknown, for error messages.
    pub fn unknown_bus_hint(&self, name: &str) -> String {
        if self.disconnected.iter().any(|b| b.eq_ignore_ascii_case(name)) {
            " (it is not connected to the source)".to_string()
        } else {
            format!(" (the network has {} buses, e.g. '{}')", self.len(), self.buses[self.len().min(2) - 1])
        }
    }

    /// Edge ids (= child bus ids) of every edge, in BFS order.
    pub fn edges(&self) -> impl Iterator<Item = usize> + '_ {
        self.order.iter().copied().filter(move |&i| self.parent[i] != NO_PARENT)
    }

    /// The edge between two buses, in whichever direction (its id = the child bus).
    pub fn edge_between(&self, a: &str, b: &str) -> Option<usize> {
        let (i, j) = (self.bus_index(a)?, self.bus_index(b)?);
        if self.parent[j] == i {
            Some(j)
        } else if self.parent[i] == j {
            Some(i)
        } else {
            None
        }
    }

    /// Overrides the limit of the edge between two buses.
    pub fn set_limit(&mut self, a: &str, b: &str, limit_kw: f64) -> Result<(), MarketError> {
        if limit_kw.is_nan() || limit_kw < 0.0 {
            return Err(MarketError::Network(format!("limit {limit_kw} kW for {a} – {b} must be ≥ 0")));
        }
        let e = self.edge_between(a, b).ok_or_else(|| {
            MarketError::Network(format!("no line between buses '{a}' and '{b}'"))
        })?;
        self.limit_kw[e] = limit_kw;
        Ok(())
    }

    /// Overrides the limit of the edge whose (merged) name contains `branch`
    /// as one of its '+'-separated parts (case-insensitive, e.g. `line.l24`).
    pub fn set_limit_by_name(&mut self, branch: &str, limit_kw: f64) -> Result<(), MarketError> {
        let e = (0..self.len())
            .find(|&i| self.edge_name[i].split('+').any(|p| p.eq_ignore_ascii_case(branch)))
            .ok_or_else(|| MarketError::Network(format!("no branch named '{branch}'")))?;
        self.limit_kw[e] = limit_kw;
        Ok(())
    }

    /// Children lists (bus ids), built on demand.
    pub fn children(&self) -> Vec<Vec<usize>> {
        let mut ch = vec![Vec::new(); self.len()];
        for &i in &self.order {
            if self.parent[i] != NO_PARENT {
                ch[self.parent[i]].push(i);
            }
        }
        ch
    }

    /// Depth of each bus (root = 0).
    pub fn depth(&self) -> Vec<usize> {
        let mut d = vec![0; self.len()];
        for &i in &self.order {
            if self.parent[i] != NO_PARENT {
                d[i] = d[self.parent[i]] + 1;
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ogg_core::{Branch, Topology};

    fn br(name: &str, from: usize, to: usize, kva: f64) -> Branch {
        Branch { name: name.into(), from, to, phases: 3, rating_kva: kva }
    }

    #[test]
    fn merges_parallel_branches_and_orders_parents_first() {
        let topo = Topology {
            buses: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            root: 0,
            branches: vec![br("l1", 1, 0, 10.0), br("r1", 1, 2, 5.0), br("r2", 2, 1, 7.0)],
            bus_kv: vec![],
        };
        let net = RadialNetwork::from_topology(&topo).unwrap();
        assert_eq!(net.len(), 3);
        assert_eq!(net.disconnected, vec!["d".to_string()]);
        let c = net.bus_index("C").unwrap();
        assert_eq!(net.limit_kw[c], 12.0);
        assert_eq!(net.edge_name[c], "r1+r2");
        assert_eq!(net.buses[net.parent[c]], "b");
        assert!(net.unknown_bus_hint("d").contains("not connected"));
    }

    #[test]
    fn loops_are_rejected_by_name() {
        let topo = Topology {
            buses: vec!["a".into(), "b".into(), "c".into()],
            root: 0,
            branches: vec![br("l1", 0, 1, 1.0), br("l2", 1, 2, 1.0), br("l3", 2, 0, 1.0)],
            bus_kv: vec![],
        };
        let e = RadialNetwork::from_topology(&topo).unwrap_err().to_string();
        assert!(e.contains("loop") && e.contains("l"), "{e}");
    }
}
