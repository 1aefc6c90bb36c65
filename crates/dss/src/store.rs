//! Elements of one class in definition order, found by (lower-case) name.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: element names are short and trusted, so it hashes several times
/// faster than the default SipHash (large feeders look up a name per
/// statement). Also the grid's map for bus and element names.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[derive(Debug, Clone)]
pub(crate) struct Store<T> {
    pub items: Vec<T>,
    index: FastMap<String, usize>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            items: Vec::new(),
            index: FastMap::default(),
        }
    }
}

impl<T> Store<T> {
    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn get(&self, name: &str) -> Option<&T> {
        self.find(name).map(|i| &self.items[i])
    }

    /// Makes room for `additional()` more elements if the store is full.
    pub fn reserve_if_full(&mut self, additional: impl FnOnce() -> usize) {
        if self.items.len() == self.items.capacity() {
            let additional = additional();
            self.items.reserve(additional);
            self.index.reserve(additional);
        }
    }

    pub fn insert(&mut self, name: String, item: T) -> usize {
        let i = self.items.len();
        self.items.push(item);
        self.index.insert(name, i);
        i
    }
}
