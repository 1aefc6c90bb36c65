//! Exact clearing on a tree by parametric dynamic programming over prices.
//!
//! # Why it is exact
//! The auction is a separable concave QP: maximise Σ benefit − Σ cost subject
//! to bus balances and |flow| ≤ limit on every edge. Its KKT conditions say:
//! every order sits on its curve at its bus price λ (or at a quantity bound),
//! and across an edge the price is equal unless the edge is at its limit, in
//! which case the price on the importing side is the higher one.
//!
//! Let N_i(λ) be the net demand (buys − sells, kW) of the subtree under bus i
//! when bus i's price is λ and the subtree clears itself optimally. It is a
//! non-increasing, piecewise-linear, set-valued (at flat orders) function:
//!   N_i(λ) = Σ_{orders at i} ±q_k(λ) + Σ_{children c} clip(N_c(λ), −L_c, L_c),
//! because a child c either imports what it wants at the parent's price, or its
//! edge saturates and its own price moves to the λ_c where N_c(λ_c) = ±L_c.
//! Bottom-up we build each N_i as breakpoints (price, slope change, downward
//! jump) in a sorted set (a sorted Vec, or an ordered map once merging into
//! the Vec would move too much of it), merged small-to-large and clipped at
//! each edge, which
//! records λ_hi (where N_c reaches +L_c) and λ_lo (where it reaches −L_c).
//! At the root, 0 ∈ N_root(λ*) gives the price; top-down, λ_c = clamp(λ_parent,
//! λ_hi_c, λ_lo_c). These prices with the quantities below satisfy every KKT
//! condition, so they are optimal (the problem is convex); we also verify the
//! KKT residuals numerically after every clearing.
//!
//! Quantities follow from prices, except flat orders at exactly their price,
//! which may take any amount in their range: a last O(n) pass over ranges
//! (bottom-up subtree ranges, top-down targets) settles them and the flows,
//! splitting any freedom proportionally to each range.
//!
//! Cost: O(m log² m) for m breakpoints (small-to-large merging: a merge into
//! a Vec moves at most `MOVE_BASE + MOVE_PER_KINK·k` kinks for k merged in,
//! else the set becomes a map), O(n + m) memory kept between clearings.
//!
//! Non-unique prices (the net demand is flat at the clearing level over an
//! interval of prices) are resolved by convention: at the root the midpoint of
//! the interval; below a congested edge the price closest to the parent's
//! (the smallest congestion price).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{PlacedOrder, Status};
use crate::network::{RadialNetwork, NO_PARENT};

/// A breakpoint of N: its price, the change of slope and the downward jump there.
#[derive(Debug, Clone, Copy, Default)]
struct Kink {
    price: f64,
    dslope: f64,
    jump: f64,
}

/// Prices are compared by `total_cmp` (they are finite here), so that −0 and
/// +0 stay distinct keys exactly as they would in an ordered map.
#[inline]
fn cmp_price(a: f64, b: f64) -> Ordering {
    a.total_cmp(&b)
}

/// A price as an ordered-map key (same order as [`cmp_price`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Price(f64);
impl Eq for Price {}
impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Price {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_price(self.0, other.0)
    }
}

/// A merge into a sorted Vec that would move more than this many kinks (plus
/// `MOVE_PER_KINK` per kink merged in) switches the set to an ordered map:
/// memmove costs ~1 ns a kink, a B-tree insertion ~60. On feeder-like trees
/// sets stay Vecs; on a long unlimited chain the trunk's set becomes a map
/// early and the merge cost stays O(m log m) instead of O(m · depth).
const MOVE_BASE: usize = 512;
const MOVE_PER_KINK: usize = 64;

/// A net-demand function N(λ): its value far left, far right, and its kinks.
///
/// The kinks live in `kinks[head..]`, sorted by price with one entry per
/// price (or, once a merge would move too much, in `map`, and `kinks` is
/// empty). A flat sorted Vec instead of a B-tree: the clipping walks pop from
/// either end (the front by advancing `head`, which leaves room to push a
/// clipped kink back in front without moving anything), and merging a small
/// set into a large one moves only the large set's tail above the small
/// one's first price. Buffers are kept between clearings.
///
/// Equal prices are combined in the same pairs and the same order as the
/// ordered map always did (an entry starts at `0.0 + value`, then `+=` each
/// further value), so the clearing is bit for bit the one of the B-tree
/// version whichever representation a set has.
#[derive(Debug, Default)]
struct NetDemand {
    v_left: f64,
    v_right: f64,
    kinks: Vec<Kink>,
    head: usize,
    map: Option<BTreeMap<Price, (f64, f64)>>,
}

impl NetDemand {
    fn reset(&mut self) {
        self.v_left = 0.0;
        self.v_right = 0.0;
        self.kinks.clear();
        self.head = 0;
        self.map = None;
    }

    fn len(&self) -> usize {
        match &self.map {
            Some(m) => m.len(),
            None => self.kinks.len() - self.head,
        }
    }

    fn first(&self) -> Option<Kink> {
        match &self.map {
            Some(m) => m.first_key_value().map(|(p, &(dslope, jump))| Kink { price: p.0, dslope, jump }),
            None => self.kinks.get(self.head).copied(),
        }
    }

    fn last(&self) -> Option<Kink> {
        match &self.map {
            Some(m) => m.last_key_value().map(|(p, &(dslope, jump))| Kink { price: p.0, dslope, jump }),
            None if self.head < self.kinks.len() => self.kinks.last().copied(),
            None => None,
        }
    }

    fn pop_first(&mut self) {
        if let Some(m) = &mut self.map {
            m.pop_first();
            return;
        }
        self.head += 1;
        if self.head == self.kinks.len() {
            self.kinks.clear();
            self.head = 0;
        }
    }

    fn pop_last(&mut self) {
        if let Some(m) = &mut self.map {
            m.pop_last();
            return;
        }
        self.kinks.pop();
        if self.head == self.kinks.len() {
            self.kinks.clear();
            self.head = 0;
        }
    }

    fn add_kink(&mut self, p: f64, dslope: f64, jump: f64) {
        if let Some(m) = &mut self.map {
            let e = m.entry(Price(p)).or_insert((0.0, 0.0));
            e.0 += dslope;
            e.1 += jump;
            return;
        }
        let live = &mut self.kinks[self.head..];
        match live.binary_search_by(|k| cmp_price(k.price, p)) {
            Ok(at) => {
                live[at].dslope += dslope;
                live[at].jump += jump;
            }
            Err(at) => {
                let kink = Kink { price: p, dslope: 0.0 + dslope, jump: 0.0 + jump };
                if at == 0 && self.head > 0 {
                    self.head -= 1;
                    self.kinks[self.head] = kink;
                } else {
                    self.kinks.insert(self.head + at, kink);
                }
            }
        }
    }

    /// Moves the kinks from the Vec into an ordered map.
    fn to_map(&mut self) {
        let map = self.kinks[self.head..].iter().map(|k| (Price(k.price), (k.dslope, k.jump))).collect();
        self.kinks.clear();
        self.head = 0;
        self.map = Some(map);
    }

    fn add_order(&mut self, o: &PlacedOrder) {
        let c = &o.curve;
        let sign = o.side.sign();
        // Far left (λ → −∞) buyers take q_max, sellers q_min; far right the opposite.
        let (left, right) = match o.side {
            super::Side::Buy => (c.q_max, c.q_min),
            super::Side::Sell => (c.q_min, c.q_max),
        };
        self.v_left += sign * left;
        self.v_right += sign * right;
        let width = c.q_max - c.q_min;
        if c.is_flat() {
            self.add_kink(c.p_max, 0.0, width);
        } else {
            // Both sides lower N at rate width/(p_max − p_min) between p_min and p_max.
            let w = width / (c.p_max - c.p_min);
            self.add_kink(c.p_min, -w, 0.0);
            self.add_kink(c.p_max, w, 0.0);
        }
    }

    /// Merges `other` into `self` (small into large: the larger buffer is
    /// kept) and leaves `other` empty.
    fn absorb(&mut self, other: &mut NetDemand, move_base: usize) {
        if other.len() > self.len() {
            std::mem::swap(&mut self.kinks, &mut other.kinks);
            std::mem::swap(&mut self.head, &mut other.head);
            std::mem::swap(&mut self.map, &mut other.map);
        }
        self.v_left += other.v_left;
        self.v_right += other.v_right;
        if other.len() == 0 {
            other.reset();
            return;
        }
        // A merge moves at most len() kinks: only a large Vec needs the count.
        if self.map.is_none() && self.len() > move_base {
            let (first, merged) = match &other.map {
                // Only after a swap of a map-held set that has fewer kinks.
                Some(small) => (small.first_key_value().map_or(f64::INFINITY, |(p, _)| p.0), small.len()),
                None => (other.kinks[other.head].price, other.len()),
            };
            let staying = self.kinks[self.head..].partition_point(|k| cmp_price(k.price, first) != Ordering::Greater);
            if self.len() - staying > move_base + MOVE_PER_KINK * merged {
                self.to_map();
            }
        }
        if let Some(map) = &mut self.map {
            let mut add = |p: f64, dslope: f64, jump: f64| {
                let e = map.entry(Price(p)).or_insert((0.0, 0.0));
                e.0 += dslope;
                e.1 += jump;
            };
            match &other.map {
                Some(small) => small.iter().for_each(|(p, &(d, j))| add(p.0, d, j)),
                None => other.kinks[other.head..].iter().for_each(|k| add(k.price, k.dslope, k.jump)),
            }
            other.reset();
            return;
        }
        let small_map;
        let small: &[Kink] = match other.map.take() {
            Some(m) => {
                small_map = m.into_iter().map(|(p, (dslope, jump))| Kink { price: p.0, dslope, jump }).collect::<Vec<_>>();
                &small_map
            }
            None => &other.kinks[other.head..],
        };
        // Backward merge in place: only the large set's kinks above the
        // small set's first price move.
        let old_end = self.kinks.len();
        let new_end = old_end + small.len();
        self.kinks.resize(new_end, Kink::default());
        let kinks = &mut self.kinks;
        let (mut read, mut write) = (old_end, new_end);
        for b in small.iter().rev() {
            while read > self.head && cmp_price(kinks[read - 1].price, b.price) == Ordering::Greater {
                kinks[write - 1] = kinks[read - 1];
                read -= 1;
                write -= 1;
            }
            if read > self.head && cmp_price(kinks[read - 1].price, b.price) == Ordering::Equal {
                let a = kinks[read - 1];
                kinks[write - 1] = Kink { price: a.price, dslope: a.dslope + b.dslope, jump: a.jump + b.jump };
                read -= 1;
            } else {
                kinks[write - 1] = Kink { price: b.price, dslope: 0.0 + b.dslope, jump: 0.0 + b.jump };
            }
            write -= 1;
        }
        // `write − read` prices were shared: close the gap they left.
        let shared = write - read;
        if shared > 0 {
            kinks.copy_within(write..new_end, read);
            kinks.truncate(new_end - shared);
        }
        other.reset();
    }

    /// Replaces N by min(N, level) and returns inf{λ : N(λ) reaches level}
    /// (−∞ if N never exceeds it). Caller checks v_right ≤ level first.
    fn clip_above(&mut self, level: f64) -> f64 {
        if self.v_left <= level {
            return f64::NEG_INFINITY;
        }
        let mut v = self.v_left;
        let mut slope = 0.0;
        let mut x = f64::NEG_INFINITY;
        while let Some(k) = self.first() {
            let b = k.price;
            let v_before = if slope == 0.0 { v } else { v + slope * (b - x) };
            if v_before <= level {
                // Crosses inside the segment (x, b].
                let lambda = if slope < 0.0 { (x + (level - v) / slope).min(b) } else { b };
                self.add_kink(lambda, slope, 0.0);
                self.v_left = level;
                return lambda;
            }
            self.pop_first();
            let v_after = v_before - k.jump;
            slope += k.dslope;
            if v_after <= level {
                // Crosses at the jump at b.
                self.add_kink(b, slope, level - v_after);
                self.v_left = level;
                return b;
            }
            v = v_after;
            x = b;
        }
        // Only reachable through rounding (v_right ≤ level was checked): flat tail.
        self.v_left = level;
        x
    }

    /// Replaces N by max(N, level) and returns sup{λ : N(λ) reaches level}
    /// (+∞ if N never falls below it). Caller checks v_left ≥ level first.
    fn clip_below(&mut self, level: f64) -> f64 {
        if self.v_right >= level {
            return f64::INFINITY;
        }
        let mut v = self.v_right;
        // Slope of N just left of the current position x.
        let mut slope = 0.0;
        let mut x = f64::INFINITY;
        while let Some(k) = self.last() {
            let b = k.price;
            let v_after_b = if slope == 0.0 { v } else { v + slope * (b - x) };
            if v_after_b >= level {
                let lambda = if slope < 0.0 { (x + (level - v) / slope).max(b) } else { b };
                self.add_kink(lambda, -slope, 0.0);
                self.v_right = level;
                return lambda;
            }
            self.pop_last();
            let v_before_b = v_after_b + k.jump;
            slope -= k.dslope;
            if v_before_b >= level {
                self.add_kink(b, -slope, v_before_b - level);
                self.v_right = level;
                return b;
            }
            v = v_before_b;
            x = b;
        }
        self.v_right = level;
        x
    }
}

/// Result of the tree DP: bus prices, or why the market cannot clear.
pub(crate) struct TreePrices {
    pub bus_price: Vec<f64>,
    /// True where the root price was not pinned by any order (no price-setting order).
    pub undetermined: bool,
}

/// Reusable buffers for repeated clearings on the same network.
#[derive(Debug, Default)]
pub struct TreeWorkspace {
    funcs: Vec<NetDemand>,
    lambda_hi: Vec<f64>,
    lambda_lo: Vec<f64>,
    /// Flat orders sitting at their price (free within their range), by bus:
    /// `flexible[flexible_start[i]..flexible_start[i + 1]]` (order ids).
    flexible: Vec<usize>,
    flexible_start: Vec<usize>,
    flexible_pairs: Vec<(usize, usize)>,
    own_lo: Vec<f64>,
    own_hi: Vec<f64>,
    sub_lo: Vec<f64>,
    sub_hi: Vec<f64>,
    target: Vec<f64>,
    /// Children of bus i: `child[child_start[i]..child_start[i + 1]]`, in `order`.
    child: Vec<usize>,
    child_start: Vec<usize>,
    /// Tests only: overrides `MOVE_BASE` (0 puts every merged set in a map,
    /// a huge value keeps every set a Vec).
    pub(crate) move_base: Option<usize>,
}

/// Fills `v` with n copies of `value`, keeping its buffer.
fn refill(v: &mut Vec<f64>, n: usize, value: f64) {
    v.clear();
    v.resize(n, value);
}

/// Counting sort of `items` by key into CSR form (`start` has n + 1 entries);
/// within a key, items keep their order.
fn bucket(n: usize, items: impl Iterator<Item = (usize, usize)> + Clone, start: &mut Vec<usize>, out: &mut Vec<usize>) {
    start.clear();
    start.resize(n + 2, 0);
    for (key, _) in items.clone() {
        start[key + 2] += 1;
    }
    for i in 2..n + 2 {
        start[i] += start[i - 1];
    }
    out.clear();
    out.resize(start[n + 1], 0);
    for (key, item) in items {
        out[start[key + 1]] = item;
        start[key + 1] += 1;
    }
    start.truncate(n + 1);
}

pub(crate) fn solve_prices(
    net: &RadialNetwork,
    orders: &[PlacedOrder],
    ws: &mut TreeWorkspace,
) -> Result<TreePrices, Status> {
    let n = net.len();
    // Keep each bus's kink buffer; drop them all if they hold far more than
    // the last clearing needed (buffers move between buses as sets merge).
    let held: usize = ws.funcs.iter().map(|f| f.kinks.capacity()).sum();
    if held > 8 * (2 * orders.len() + 2 * n) + 1024 {
        ws.funcs.clear();
    }
    for f in &mut ws.funcs {
        f.reset();
    }
    ws.funcs.resize_with(n, NetDemand::default);
    ws.funcs.truncate(n);
    let move_base = ws.move_base.unwrap_or(MOVE_BASE);
    refill(&mut ws.lambda_hi, n, f64::NEG_INFINITY);
    refill(&mut ws.lambda_lo, n, f64::INFINITY);
    for o in orders {
        ws.funcs[o.bus].add_order(o);
    }
    // Bottom-up: children were appended after parents in `order`.
    for &i in net.order.iter().rev() {
        let p = net.parent[i];
        if p == NO_PARENT {
            continue;
        }
        let mut f = std::mem::take(&mut ws.funcs[i]);
        let limit = net.limit_kw[i];
        if limit.is_finite() {
            if f.v_right > limit + 1e-9 * limit.max(1.0) {
                return Err(Status::Infeasible {
                    reason: format!(
                        "the buses fed through {} ({} → {}) must import at least {:.6} kW but its limit is {} kW",
                        edge_label(net, i),
                        net.buses[p],
                        net.buses[i],
                        f.v_right,
                        limit
                    ),
                });
            }
            if f.v_left < -limit - 1e-9 * limit.max(1.0) {
                return Err(Status::Infeasible {
                    reason: format!(
                        "the buses fed through {} ({} → {}) must export at least {:.6} kW but its limit is {} kW",
                        edge_label(net, i),
                        net.buses[p],
                        net.buses[i],
                        -f.v_left,
                        limit
                    ),
                });
            }
            ws.lambda_hi[i] = f.clip_above(limit);
            ws.lambda_lo[i] = f.clip_below(-limit);
        }
        ws.funcs[p].absorb(&mut f, move_base);
        // The (now empty) buffer stays with bus i for the next clearing.
        ws.funcs[i] = f;
    }
    let root = net.root;
    let mut f = std::mem::take(&mut ws.funcs[root]);
    let tol = 1e-9 * f.v_left.abs().max(f.v_right.abs()).max(1.0);
    if f.v_right > tol {
        return Err(Status::Infeasible {
            reason: format!(
                "demand cannot be served: buyers' minimum exceeds sellers' maximum by {:.6} kW",
                f.v_right
            ),
        });
    }
    if f.v_left < -tol {
        return Err(Status::Infeasible {
            reason: format!(
                "supply cannot be absorbed: sellers' minimum exceeds buyers' maximum by {:.6} kW",
                -f.v_left
            ),
        });
    }
    let lo = f.clip_above(0.0);
    let hi = f.clip_below(0.0);
    ws.funcs[root] = f;
    let (root_price, undetermined) = match (lo.is_finite(), hi.is_finite()) {
        (true, true) => (0.5 * (lo + hi), false),
        (true, false) => (lo, false),
        (false, true) => (hi, false),
        (false, false) => (0.0, true),
    };
    let mut bus_price = vec![0.0; n];
    bus_price[root] = root_price;
    for &i in &net.order {
        let p = net.parent[i];
        if p == NO_PARENT {
            continue;
        }
        let parent_price = bus_price[p];
        bus_price[i] = if parent_price < ws.lambda_hi[i] {
            ws.lambda_hi[i]
        } else if parent_price > ws.lambda_lo[i] {
            ws.lambda_lo[i]
        } else {
            parent_price
        };
    }
    Ok(TreePrices { bus_price, undetermined })
}

fn edge_label(net: &RadialNetwork, i: usize) -> String {
    if net.edge_name[i].is_empty() {
        "the line".to_string()
    } else {
        net.edge_name[i].clone()
    }
}

/// Quantities and flows consistent with the bus prices (see the module docs).
/// Returns (quantity per order, flow per edge id = child bus; 0 at the root).
pub(crate) fn quantities_from_prices(
    net: &RadialNetwork,
    orders: &[PlacedOrder],
    bus_price: &[f64],
    ws: &mut TreeWorkspace,
) -> (Vec<f64>, Vec<f64>) {
    let n = net.len();
    let mut quantity = vec![0.0; orders.len()];
    // Per bus: range of own net demand [lo, hi]; flexible (flat, at price) orders listed.
    refill(&mut ws.own_lo, n, 0.0);
    refill(&mut ws.own_hi, n, 0.0);
    let (own_lo, own_hi) = (&mut ws.own_lo, &mut ws.own_hi);
    // (bus, order) of the flexible orders, bucketed by bus below.
    let flexible = &mut ws.flexible_pairs;
    flexible.clear();
    for (k, o) in orders.iter().enumerate() {
        let lambda = bus_price[o.bus];
        let c = &o.curve;
        let sign = o.side.sign();
        if c.is_flat() && (lambda - c.p_max).abs() <= 1e-12 * c.p_max.abs().max(1.0) {
            flexible.push((o.bus, k));
            let (a, b) = (sign * c.q_min, sign * c.q_max);
            own_lo[o.bus] += a.min(b);
            own_hi[o.bus] += a.max(b);
        } else {
            let q = c.quantity_at(o.side, lambda);
            quantity[k] = q;
            own_lo[o.bus] += sign * q;
            own_hi[o.bus] += sign * q;
        }
    }
    bucket(n, flexible.iter().copied(), &mut ws.flexible_start, &mut ws.flexible);
    let edges = net.order.iter().filter(|&&i| net.parent[i] != NO_PARENT).map(|&i| (net.parent[i], i));
    bucket(n, edges, &mut ws.child_start, &mut ws.child);
    // Subtree ranges as seen from the parent (already limited by the edge).
    ws.sub_lo.clone_from(own_lo);
    ws.sub_hi.clone_from(own_hi);
    let (sub_lo, sub_hi) = (&mut ws.sub_lo, &mut ws.sub_hi);
    for &i in net.order.iter().rev() {
        let p = net.parent[i];
        if p == NO_PARENT {
            continue;
        }
        let (lo, hi) = edge_range(net, bus_price, i, sub_lo[i], sub_hi[i]);
        sub_lo[i] = lo;
        sub_hi[i] = hi;
        sub_lo[p] += lo;
        sub_hi[p] += hi;
    }
    // Top-down: split each bus's target over its flexible orders and children.
    refill(&mut ws.target, n, 0.0);
    let target = &mut ws.target;
    let mut flow = vec![0.0; n];
    for &i in &net.order {
        let t = target[i];
        let children = &ws.child[ws.child_start[i]..ws.child_start[i + 1]];
        // sub_lo/sub_hi of i now hold the parent-side range; recompute the
        // bus-side sum of item ranges.
        let mut lo_sum = own_lo[i];
        let mut hi_sum = own_hi[i];
        for &c in children {
            lo_sum += sub_lo[c];
            hi_sum += sub_hi[c];
        }
        let theta = if hi_sum > lo_sum { ((t - lo_sum) / (hi_sum - lo_sum)).clamp(0.0, 1.0) } else { 0.5 };
        for &k in &ws.flexible[ws.flexible_start[i]..ws.flexible_start[i + 1]] {
            let c = &orders[k].curve;
            // A seller's range of net demand [−q_max, −q_min] runs the other way.
            quantity[k] = match orders[k].side {
                super::Side::Buy => c.q_min + theta * (c.q_max - c.q_min),
                super::Side::Sell => c.q_max - theta * (c.q_max - c.q_min),
            };
        }
        for &c in children {
            target[c] = sub_lo[c] + theta * (sub_hi[c] - sub_lo[c]);
            flow[c] = target[c];
        }
    }
    (quantity, flow)
}

/// Range of the flow into bus i's subtree allowed by prices and the edge limit.
fn edge_range(net: &RadialNetwork, bus_price: &[f64], i: usize, lo: f64, hi: f64) -> (f64, f64) {
    let limit = net.limit_kw[i];
    let (pi, pp) = (bus_price[i], bus_price[net.parent[i]]);
    if pi > pp {
        return (limit, limit);
    }
    if pi < pp {
        return (-limit, -limit);
    }
    let lo2 = lo.max(-limit).min(limit);
    let hi2 = hi.min(limit).max(-limit);
    if lo2 > hi2 {
        (lo2, lo2)
    } else {
        (lo2, hi2)
    }
}
