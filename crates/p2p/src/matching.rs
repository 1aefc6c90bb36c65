//! The market maker's matching of producers with consumers.
//!
//! * [`random_matching`]: the paper's rule — shuffle both sides and pair them
//!   off, with no regard to location or amount.
//! * [`max_weight_matching`]: the alternative the paper names — the matching
//!   of maximum total weight, solved exactly as a rectangular assignment
//!   problem with the Hungarian algorithm (Kuhn–Munkres with potentials,
//!   O(n²·m) for n ≤ m). UC2 weighs a pair by the energy the two can trade
//!   (Σ_t min(offer_t, need_t)), discounted by their electrical distance
//!   (see [`pair_weight`]).

use std::collections::HashMap;

use ogg_core::rng::SplitMix64;
use ogg_dss::Circuit;

/// Pairs (producer, consumer) of the given sizes at random: both sides are
/// shuffled (Fisher–Yates) and paired off; the longer side's rest is unmatched.
pub fn random_matching(producers: usize, consumers: usize, rng: &mut SplitMix64) -> Vec<(usize, usize)> {
    let shuffle = |n: usize, rng: &mut SplitMix64| {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = ((rng.next_f64() * (i + 1) as f64) as usize).min(i);
            v.swap(i, j);
        }
        v
    };
    let p = shuffle(producers, rng);
    let c = shuffle(consumers, rng);
    p.into_iter().zip(c).collect()
}

/// Minimum-cost assignment of every row to a distinct column (rows ≤ columns),
/// `cost` row-major `rows × cols`. Returns the column of each row.
/// Non-finite costs are treated as forbidden (a very large cost).
pub fn hungarian_min_cost(cost: &[f64], rows: usize, cols: usize) -> Vec<usize> {
    assert!(rows <= cols, "hungarian_min_cost needs rows ≤ cols");
    assert_eq!(cost.len(), rows * cols);
    if rows == 0 {
        return Vec::new();
    }
    let finite_max = cost.iter().filter(|c| c.is_finite()).fold(0.0_f64, |m, c| m.max(c.abs()));
    let big = (finite_max + 1.0) * (rows as f64 + 1.0) * 4.0;
    let a = |i: usize, j: usize| {
        let c = cost[(i - 1) * cols + (j - 1)];
        if c.is_finite() {
            c
        } else {
            big
        }
    };
    // 1-based arrays; column 0 is a virtual start column.
    let mut u = vec![0.0; rows + 1];
    let mut v = vec![0.0; cols + 1];
    let mut owner = vec![0usize; cols + 1];
    let mut way = vec![0usize; cols + 1];
    for i in 1..=rows {
        owner[0] = i;
        let mut j0 = 0;
        let mut min_v = vec![f64::INFINITY; cols + 1];
        let mut used = vec![false; cols + 1];
        loop {
            used[j0] = true;
            let i0 = owner[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=cols {
                if !used[j] {
                    let cur = a(i0, j) - u[i0] - v[j];
                    if cur < min_v[j] {
                        min_v[j] = cur;
                        way[j] = j0;
                    }
                    if min_v[j] < delta {
                        delta = min_v[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=cols {
                if used[j] {
                    u[owner[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_v[j] -= delta;
                }
            }
            j0 = j1;
            if owner[j0] == 0 {
                break;
            }
        }
        // Augment along the alternating path.
        loop {
            let j1 = way[j0];
            owner[j0] = owner[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut col_of = vec![usize::MAX; rows];
    for j in 1..=cols {
        if owner[j] != 0 {
            col_of[owner[j] - 1] = j - 1;
        }
    }
    col_of
}

/// The matching of maximum total weight between `producers` and `consumers`
/// (`weight` row-major producers × consumers). Pairs of weight ≤ 0 (or NaN)
/// are never matched: with non-negative weights a maximum-weight matching
/// extends to one that matches the smaller side completely, which is what the
/// assignment solves; the zero-weight pairs are then dropped.
pub fn max_weight_matching(weight: &[f64], producers: usize, consumers: usize) -> Vec<(usize, usize)> {
    assert_eq!(weight.len(), producers * consumers);
    let w = |p: usize, c: usize| {
        let x = weight[p * consumers + c];
        if x > 0.0 {
            x
        } else {
            0.0
        }
    };
    let mut pairs = Vec::new();
    if producers <= consumers {
        let cost: Vec<f64> = (0..producers).flat_map(|p| (0..consumers).map(move |c| (p, c))).map(|(p, c)| -w(p, c)).collect();
        for (p, c) in hungarian_min_cost(&cost, producers, consumers).into_iter().enumerate() {
            pairs.push((p, c));
        }
    } else {
        let cost: Vec<f64> = (0..consumers).flat_map(|c| (0..producers).map(move |p| (p, c))).map(|(p, c)| -w(p, c)).collect();
        for (c, p) in hungarian_min_cost(&cost, consumers, producers).into_iter().enumerate() {
            pairs.push((p, c));
        }
    }
    pairs.retain(|&(p, c)| w(p, c) > 0.0);
    pairs.sort_unstable();
    pairs
}

/// Weight of a producer–consumer pair: the energy they can trade over the
/// market interval, Σ_t min(offer_t, need_t), discounted linearly by their
/// distance along the feeder: × max(0, 1 − β · d / d_max). β = 0 matches on
/// quantities alone.
pub fn pair_weight(offer: &[f64], need: &[f64], distance: f64, max_distance: f64, beta: f64) -> f64 {
    let energy: f64 = offer.iter().zip(need).map(|(o, n)| o.min(*n).max(0.0)).sum();
    let discount = if max_distance > 0.0 && distance.is_finite() { (1.0 - beta * distance / max_distance).max(0.0) } else { 1.0 };
    energy * discount
}

/// Distances along the feeder between buses (metres), from the circuit's
/// lines (transformers, regulators and switches count as 0 m).
#[derive(Debug, Clone, Default)]
pub struct BusDistances {
    index: HashMap<String, usize>,
    /// Row-major all-pairs distances (the feeder is small: n² numbers).
    dist: Vec<f64>,
    n: usize,
}

impl BusDistances {
    pub fn from_circuit(c: &Circuit) -> Self {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut adj: Vec<Vec<(usize, f64)>> = Vec::new();
        let mut id = |name: &str, adj: &mut Vec<Vec<(usize, f64)>>| {
            let key = name.to_ascii_lowercase();
            let next = index.len();
            let i = *index.entry(key).or_insert(next);
            if i == adj.len() {
                adj.push(Vec::new());
            }
            i
        };
        let mut edge = |a: &str, b: &str, len: f64, adj: &mut Vec<Vec<(usize, f64)>>| {
            let (i, j) = (id(a, adj), id(b, adj));
            if i != j {
                adj[i].push((j, len));
                adj[j].push((i, len));
            }
        };
        for l in c.lines.iter().filter(|l| l.enabled) {
            let metres = if l.switch { 0.0 } else { l.length * l.length_units.metres().unwrap_or(1.0) };
            edge(&l.bus1.bus, &l.bus2.bus, metres.max(0.0), &mut adj);
        }
        for t in c.transformers.iter().filter(|t| t.enabled) {
            if let Some(w1) = t.windings.first() {
                for w in t.windings.iter().skip(1) {
                    edge(&w1.bus.bus, &w.bus.bus, 0.0, &mut adj);
                }
            }
        }
        let n = adj.len();
        let mut dist = vec![f64::INFINITY; n * n];
        // The feeder is a tree (or nearly): a search from every bus is exact on
        // a tree; with loops it gives the distance along the search tree.
        for s in 0..n {
            let row = &mut dist[s * n..(s + 1) * n];
            row[s] = 0.0;
            let mut stack = vec![s];
            while let Some(u) = stack.pop() {
                for &(v, len) in &adj[u] {
                    if row[v].is_infinite() {
                        row[v] = row[u] + len;
                        stack.push(v);
                    }
                }
            }
        }
        BusDistances { index, dist, n }
    }

    /// Distance in metres between two buses (case-insensitive names; a
    /// `bus.1.2` suffix is ignored); `None` if either is unknown or they are
    /// not connected.
    pub fn get(&self, a: &str, b: &str) -> Option<f64> {
        let key = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
        let (i, j) = (*self.index.get(&key(a))?, *self.index.get(&key(b))?);
        let d = self.dist[i * self.n + j];
        d.is_finite().then_some(d)
    }

    /// The largest finite distance between any two buses.
    pub fn max(&self) -> f64 {
        self.dist.iter().filter(|d| d.is_finite()).cloned().fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maximum total weight over every (partial) matching, by enumeration.
    fn brute_force(w: &[f64], np: usize, nc: usize) -> f64 {
        fn go(p: usize, used: &mut Vec<bool>, w: &[f64], np: usize, nc: usize) -> f64 {
            if p == np {
                return 0.0;
            }
            let mut best = go(p + 1, used, w, np, nc);
            for c in 0..nc {
                if !used[c] {
                    used[c] = true;
                    best = best.max(w[p * nc + c].max(0.0) + go(p + 1, used, w, np, nc));
                    used[c] = false;
                }
            }
            best
        }
        go(0, &mut vec![false; nc], w, np, nc)
    }

    #[test]
    fn hungarian_matches_brute_force() {
        let mut rng = SplitMix64::new(11);
        for case in 0..300 {
            let np = 1 + (rng.next_u64() % 6) as usize;
            let nc = 1 + (rng.next_u64() % 6) as usize;
            let w: Vec<f64> = (0..np * nc)
                .map(|_| if rng.next_f64() < 0.2 { 0.0 } else { (rng.next_f64() * 10.0).round() / 2.0 })
                .collect();
            let pairs = max_weight_matching(&w, np, nc);
            let total: f64 = pairs.iter().map(|&(p, c)| w[p * nc + c]).sum();
            assert!((total - brute_force(&w, np, nc)).abs() < 1e-9, "case {case}: {np}×{nc} {w:?} → {pairs:?}");
            // A matching: no producer or consumer twice.
            let mut ps: Vec<usize> = pairs.iter().map(|p| p.0).collect();
            let mut cs: Vec<usize> = pairs.iter().map(|p| p.1).collect();
            ps.dedup();
            cs.sort_unstable();
            cs.dedup();
            assert_eq!(ps.len(), pairs.len());
            assert_eq!(cs.len(), pairs.len());
        }
    }

    #[test]
    fn hungarian_min_cost_known_case() {
        // Optimum: rows → cols (1, 0, 2), cost 1 + 2 + 2 = 5.
        let cost = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        let a = hungarian_min_cost(&cost, 3, 3);
        let total: f64 = a.iter().enumerate().map(|(i, &j)| cost[i * 3 + j]).sum();
        assert_eq!(total, 5.0);
        // Rectangular: 2 rows, 3 columns.
        let cost = [7.0, 1.0, 9.0, 1.0, 8.0, 9.0];
        assert_eq!(hungarian_min_cost(&cost, 2, 3), vec![1, 0]);
    }

    #[test]
    fn random_matching_is_a_seeded_matching() {
        let mut a = SplitMix64::new(5);
        let mut b = SplitMix64::new(5);
        let m1 = random_matching(7, 4, &mut a);
        assert_eq!(m1, random_matching(7, 4, &mut b));
        assert_eq!(m1.len(), 4);
        let mut cs: Vec<usize> = m1.iter().map(|p| p.1).collect();
        cs.sort_unstable();
        assert_eq!(cs, vec![0, 1, 2, 3]);
    }

    #[test]
    fn weights_discount_distance() {
        assert_eq!(pair_weight(&[3.0, 1.0], &[2.0, 4.0], 0.0, 10.0, 0.5), 3.0);
        assert_eq!(pair_weight(&[3.0, 1.0], &[2.0, 4.0], 10.0, 10.0, 0.5), 1.5);
        assert_eq!(pair_weight(&[3.0], &[2.0], 10.0, 10.0, 2.0), 0.0);
    }
}
