//! Elements of one class in definition order, found by (lower-case) name.

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub(crate) struct Store<T> {
    pub items: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            items: Vec::new(),
            index: HashMap::new(),
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

    pub fn insert(&mut self, name: String, item: T) -> usize {
        let i = self.items.len();
        self.items.push(item);
        self.index.insert(name, i);
        i
    }
}
