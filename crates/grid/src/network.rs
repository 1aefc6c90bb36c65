//! Buses, nodes and the compiled elements of a circuit.
//!
//! Numbering follows OpenDSS: elements are visited in definition order, each
//! terminal's bus is added when first seen and each of its nodes gets the next
//! system index when first seen. Node 0 of every bus is ground and gets no
//! index (index 0 below means "ground").
//!
//! Bus-spec defaulting (OpenDSS `ProcessBusDefs`): conductor i of an element
//! with p phases is node i for i ≤ p and node 0 otherwise; nodes given in the
//! bus spec override the first conductors.

/// The reader's FNV-1a map (short, trusted names), re-exported for the grid.
pub use ogg_dss::{FastMap, Fnv};

use ogg_dss::{BusRef, ElementClass};

use crate::cmat::CMat;

#[derive(Debug, Clone, PartialEq)]
pub struct Bus {
    pub name: String,
    /// (node number, system index) in the order the nodes were first seen.
    pub nodes: Vec<(u32, usize)>,
    /// Line-to-neutral base kV from CalcVoltageBases (0 if none).
    pub kv_base_ln: f64,
}

/// A short list kept inside its owner (no heap block) while it has at most
/// `N` entries, as an element's conductors and terminals almost always do;
/// longer lists (a three-winding transformer's twelve conductors) go to the
/// heap. A compile makes three such lists per element: as `Vec`s they were
/// a third of `PowerFlow::new`'s allocations.
#[derive(Clone)]
pub enum InlineList<T: Copy + Default, const N: usize> {
    Inline { len: u8, items: [T; N] },
    Heap(Vec<T>),
}

impl<T: Copy + Default, const N: usize> Default for InlineList<T, N> {
    fn default() -> Self {
        InlineList::Inline { len: 0, items: [T::default(); N] }
    }
}

impl<T: Copy + Default, const N: usize> InlineList<T, N> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, value: T) {
        match self {
            InlineList::Inline { len, items } if (*len as usize) < N => {
                items[*len as usize] = value;
                *len += 1;
            }
            InlineList::Inline { len, items } => {
                let mut heap = Vec::with_capacity(2 * N);
                heap.extend_from_slice(&items[..*len as usize]);
                heap.push(value);
                *self = InlineList::Heap(heap);
            }
            InlineList::Heap(heap) => heap.push(value),
        }
    }

    pub fn as_slice(&self) -> &[T] {
        match self {
            InlineList::Inline { len, items } => &items[..*len as usize],
            InlineList::Heap(heap) => heap,
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            InlineList::Inline { len, items } => &mut items[..*len as usize],
            InlineList::Heap(heap) => heap,
        }
    }
}

impl<T: Copy + Default, const N: usize> std::ops::Deref for InlineList<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default, const N: usize> std::ops::DerefMut for InlineList<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<'a, T: Copy + Default, const N: usize> IntoIterator for &'a InlineList<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T: Copy + Default, const N: usize> IntoIterator for &'a mut InlineList<T, N> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl<T: Copy + Default + std::fmt::Debug, const N: usize> std::fmt::Debug for InlineList<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for InlineList<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// An index of names that live in their owner's vector (bus names in
/// `NodeMap::buses`, element names in `PowerFlow::elements`): open
/// addressing over positions into that vector, the names compared where
/// they are. A map keyed by `String` held a second copy of every name (one
/// allocation per bus and per element in a compile).
#[derive(Debug, Clone, Default)]
pub struct NameTable {
    /// Position + 1 of the entry in each slot, 0 = empty; a power of two long.
    slots: Vec<u32>,
    len: usize,
}

impl NameTable {
    fn hash(tag: u8, name: &str) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ tag as u64;
        for &b in name.as_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // FNV's low bits mix poorly: fold the high ones in.
        h ^ (h >> 29)
    }

    /// Room for `n` entries without growing.
    pub fn with_capacity(n: usize) -> Self {
        NameTable { slots: vec![0; (2 * n).next_power_of_two().max(16)], len: 0 }
    }

    /// Position of the entry whose key is (`tag`, `name`); `key_of(i)` gives
    /// entry i's key.
    pub fn get<'a>(&self, tag: u8, name: &str, key_of: impl Fn(usize) -> (u8, &'a str)) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = Self::hash(tag, name) as usize & mask;
        loop {
            match self.slots[at] {
                0 => return None,
                s if key_of(s as usize - 1) == (tag, name) => return Some(s as usize - 1),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// The position of the entry under (`tag`, `name`) if there is one;
    /// otherwise indexes `pos` under it (the caller then adds entry `pos`)
    /// and returns `None`. `key_of` is only asked about existing entries.
    pub fn get_or_insert<'a>(&mut self, tag: u8, name: &str, pos: usize, key_of: impl Fn(usize) -> (u8, &'a str)) -> Option<usize> {
        let (at, existing) = self.slot_for(tag, name, &key_of);
        if existing.is_none() {
            self.slots[at] = pos as u32 + 1;
            self.len += 1;
        }
        existing
    }

    /// Indexes entry `pos` under (`tag`, `name`), replacing an entry with the
    /// same key (as a map's insert would).
    pub fn insert<'a>(&mut self, tag: u8, name: &str, pos: usize, key_of: impl Fn(usize) -> (u8, &'a str)) {
        let (at, existing) = self.slot_for(tag, name, &key_of);
        self.slots[at] = pos as u32 + 1;
        if existing.is_none() {
            self.len += 1;
        }
    }

    /// The slot holding (`tag`, `name`) and its entry, or the empty slot where
    /// it would go (with room for one more entry made first).
    fn slot_for<'a>(&mut self, tag: u8, name: &str, key_of: &impl Fn(usize) -> (u8, &'a str)) -> (usize, Option<usize>) {
        self.grow_for_one_more(key_of);
        let mask = self.slots.len() - 1;
        let mut at = Self::hash(tag, name) as usize & mask;
        loop {
            match self.slots[at] {
                0 => return (at, None),
                s if key_of(s as usize - 1) == (tag, name) => return (at, Some(s as usize - 1)),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Rehashes into a larger table if one more entry would make it more than half full.
    fn grow_for_one_more<'a>(&mut self, key_of: &impl Fn(usize) -> (u8, &'a str)) {
        if 2 * (self.len + 1) > self.slots.len() {
            let old = std::mem::replace(&mut self.slots, vec![0; (4 * (self.len + 1)).next_power_of_two().max(16)]);
            let mask = self.slots.len() - 1;
            for s in old.into_iter().filter(|&s| s != 0) {
                let (t, n) = key_of(s as usize - 1);
                let mut at = Self::hash(t, n) as usize & mask;
                while self.slots[at] != 0 {
                    at = (at + 1) & mask;
                }
                self.slots[at] = s;
            }
        }
    }
}

/// Conductors kept inline per element: two terminals of four conductors.
pub const INLINE_CONDUCTORS: usize = 8;

/// An element as the engine sees it: where its conductors connect and its
/// primitive admittance.
#[derive(Debug, Clone)]
pub struct Element {
    pub class: ElementClass,
    /// Lower-case name without class prefix.
    pub name: String,
    /// Index into the circuit's vector of this class.
    pub model_index: usize,
    pub nterms: usize,
    pub nconds: usize,
    /// System node of each conductor (terminal-major), 0 = ground.
    pub nodes: InlineList<usize, INLINE_CONDUCTORS>,
    /// Bus index of each terminal.
    pub terminal_bus: InlineList<usize, 2>,
    /// Node number (within its bus) of each conductor.
    pub node_numbers: InlineList<u32, INLINE_CONDUCTORS>,
    /// The admittance this element contributes to the system Y.
    pub yprim: CMat,
    /// OpenDSS's "series" Yprim, used for the no-load solution.
    pub yprim_series: CMat,
}

impl Element {
    pub fn class_name(&self) -> &'static str {
        class_name(self.class)
    }

    /// `Class.name`, as OpenDSS reports it.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.class_name(), self.name)
    }

    /// Power-delivery element (lines, transformers, capacitors, reactors).
    pub fn is_pd(&self) -> bool {
        matches!(self.class, ElementClass::Line | ElementClass::Transformer | ElementClass::Capacitor | ElementClass::Reactor)
    }
}

pub fn class_name(c: ElementClass) -> &'static str {
    match c {
        ElementClass::Vsource => "Vsource",
        ElementClass::Line => "Line",
        ElementClass::Transformer => "Transformer",
        ElementClass::Load => "Load",
        ElementClass::Capacitor => "Capacitor",
        ElementClass::Reactor => "Reactor",
        ElementClass::RegControl => "RegControl",
        ElementClass::CapControl => "CapControl",
        ElementClass::Generator => "Generator",
        ElementClass::PvSystem => "PVSystem",
        ElementClass::Storage => "Storage",
    }
}

#[derive(Debug, Clone, Default)]
pub struct NodeMap {
    pub buses: Vec<Bus>,
    /// Bus position by name (`find_bus`).
    bus_index: NameTable,
    /// (bus index, node number) of each system node; entry 0 is ground.
    pub node_label: Vec<(usize, u32)>,
}

impl NodeMap {
    pub fn new() -> Self {
        NodeMap { buses: Vec::new(), bus_index: NameTable::default(), node_label: vec![(usize::MAX, 0)] }
    }

    /// Room for about `buses` buses of up to three nodes (no regrowth while compiling).
    pub fn with_capacity(buses: usize) -> Self {
        let mut node_label = Vec::with_capacity(3 * buses + 1);
        node_label.push((usize::MAX, 0));
        NodeMap { buses: Vec::with_capacity(buses), bus_index: NameTable::with_capacity(buses), node_label }
    }

    /// Number of system nodes (excluding ground).
    pub fn n_nodes(&self) -> usize {
        self.node_label.len() - 1
    }

    /// Position of the bus named exactly `name`.
    pub fn find_bus(&self, name: &str) -> Option<usize> {
        let buses = &self.buses;
        self.bus_index.get(0, name, |i| (0, buses[i].name.as_str()))
    }

    pub fn add_bus(&mut self, name: &str) -> usize {
        // One probe of the table whether the bus is new or not (a new bus's
        // name is hashed once).
        let i = self.buses.len();
        let buses = &self.buses;
        if let Some(existing) = self.bus_index.get_or_insert(0, name, i, |k| (0, buses[k].name.as_str())) {
            return existing;
        }
        self.buses.push(Bus { name: name.to_string(), nodes: Vec::new(), kv_base_ln: 0.0 });
        i
    }

    /// System index of `bus.node`, created if new (node 0 → ground, 0).
    pub fn add_node(&mut self, bus: usize, node: u32) -> usize {
        if node == 0 {
            return 0;
        }
        if let Some(&(_, idx)) = self.buses[bus].nodes.iter().find(|(n, _)| *n == node) {
            return idx;
        }
        let idx = self.node_label.len();
        self.node_label.push((bus, node));
        self.buses[bus].nodes.push((node, idx));
        idx
    }

    /// Renumbers system nodes: `new_index[old] = new` (entry 0, ground, stays 0).
    pub fn renumber(&mut self, new_index: &[usize]) {
        let mut labels = vec![(usize::MAX, 0); self.node_label.len()];
        for (old, &lab) in self.node_label.iter().enumerate().skip(1) {
            labels[new_index[old]] = lab;
        }
        self.node_label = labels;
        for b in &mut self.buses {
            for (_, idx) in &mut b.nodes {
                *idx = new_index[*idx];
            }
        }
    }

    pub fn node_name(&self, idx: usize) -> String {
        if idx == 0 {
            return "ground".into();
        }
        let (b, n) = self.node_label[idx];
        format!("{}.{}", self.buses[b].name, n)
    }

    /// Resolves one terminal: node numbers per conductor with OpenDSS
    /// defaulting, bus created/looked up, nodes numbered.
    pub fn connect(&mut self, bus_ref: &BusRef, phases: usize, nconds: usize) -> (usize, Vec<u32>, Vec<usize>) {
        let mut numbers = vec![0; nconds];
        fill_conductor_nodes(bus_ref, phases, &mut numbers);
        let bus = self.add_bus(&bus_ref.bus);
        let idx = numbers.iter().map(|&n| self.add_node(bus, n)).collect();
        (bus, numbers, idx)
    }

    /// As [`NodeMap::connect`], appending the terminal's node numbers and
    /// system nodes to the element's own vectors (no vectors per terminal).
    pub fn connect_into<const N: usize>(
        &mut self,
        bus_ref: &BusRef,
        phases: usize,
        nconds: usize,
        numbers: &mut InlineList<u32, N>,
        idx: &mut InlineList<usize, N>,
    ) -> usize {
        let bus = self.add_bus(&bus_ref.bus);
        for i in 0..nconds {
            let default = if i < phases { i as u32 + 1 } else { 0 };
            let n = bus_ref.nodes.get(i).map_or(default, |&n| n as u32);
            numbers.push(n);
            idx.push(self.add_node(bus, n));
        }
        bus
    }
}

/// Node number of each conductor of a terminal (OpenDSS `ProcessBusDefs`).
pub fn conductor_nodes(bus_ref: &BusRef, phases: usize, nconds: usize) -> Vec<u32> {
    let mut buf = vec![0; nconds];
    fill_conductor_nodes(bus_ref, phases, &mut buf);
    buf
}

/// [`conductor_nodes`] into a given buffer (one slot per conductor).
fn fill_conductor_nodes(bus_ref: &BusRef, phases: usize, out: &mut [u32]) {
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = bus_ref.nodes.get(i).map_or(if i < phases { i as u32 + 1 } else { 0 }, |&n| n as u32);
    }
}

/// A bus reference to `bus` with every conductor grounded (OpenDSS's default
/// second terminal of shunt elements, `bus.0.0.0`).
pub fn grounded(bus: &str, nconds: usize) -> BusRef {
    BusRef { bus: bus.to_string(), nodes: vec![0; nconds] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_table_finds_replaces_and_grows() {
        // Starts small so that it grows several times; tags keep equal names apart.
        let mut keys: Vec<(u8, String)> = Vec::new();
        let mut table = NameTable::default();
        for i in 0..1000 {
            keys.push(((i % 3) as u8, format!("n{}", i / 3)));
            let (tag, name) = keys[i].clone();
            table.insert(tag, &name, i, |k| (keys[k].0, keys[k].1.as_str()));
        }
        for (i, (tag, name)) in keys.iter().enumerate() {
            assert_eq!(table.get(*tag, name, |k| (keys[k].0, keys[k].1.as_str())), Some(i));
        }
        assert_eq!(table.get(3, "n0", |k| (keys[k].0, keys[k].1.as_str())), None);
        assert_eq!(table.get(0, "n9999", |k| (keys[k].0, keys[k].1.as_str())), None);
        // A second entry under an existing key replaces the first, as a map's insert does.
        keys.push((1, "n5".to_string()));
        table.insert(1, "n5", 1000, |k| (keys[k].0, keys[k].1.as_str()));
        assert_eq!(table.get(1, "n5", |k| (keys[k].0, keys[k].1.as_str())), Some(1000));
        assert_eq!(NameTable::default().get(0, "x", |_| (0, "")), None);
        // get_or_insert: an existing key is found and kept; a new one takes the given position.
        let mut names: Vec<String> = Vec::new();
        let mut table = NameTable::default();
        for i in 0..300 {
            let name = format!("b{}", i % 100);
            let known = table.get_or_insert(0, &name, names.len(), |k| (0, names[k].as_str()));
            match known {
                Some(k) => assert_eq!((k, i >= 100), (i % 100, true)),
                None => {
                    assert!(i < 100);
                    names.push(name);
                }
            }
        }
        assert_eq!(table.get(0, "b42", |k| (0, names[k].as_str())), Some(42));
    }

    #[test]
    fn inline_lists_spill_to_the_heap() {
        let mut list: InlineList<usize, 2> = InlineList::new();
        for v in 0..5 {
            list.push(v);
        }
        assert_eq!(list.as_slice(), &[0, 1, 2, 3, 4]);
        for x in &mut list {
            *x *= 2;
        }
        assert_eq!(&list[..], &[0, 2, 4, 6, 8]);
    }
}
