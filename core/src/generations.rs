//! A bounded table that keeps two generations: the entries put since it last filled up, and the ones
//! before them, an entry of which moves up when found. Starting over at the bound (as the first caches
//! here did) misses everything at every pass once a working set outgrows it — a 4000-line order synced
//! again and again; two generations keep a working set of up to one generation, and most of one up to
//! twice that, in at most twice the bound.
#![forbid(unsafe_code)]

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// `S`: the hashing, SipHash by default (keys from the wire); a table keyed by addresses may take a
/// cheaper one.
pub struct Generations<K, V, S = RandomState> {
    current: HashMap<K, V, S>,
    previous: HashMap<K, V, S>,
    /// the weights (e.g. bytes) of the current generation's entries
    weight: usize,
    max_entries: usize,
    max_weight: usize,
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> Generations<K, V, S> {
    /// A generation ends at `max_entries` entries or `max_weight` of their weights.
    pub fn new(max_entries: usize, max_weight: usize) -> Self {
        Generations {
            current: HashMap::default(),
            previous: HashMap::default(),
            weight: 0,
            max_entries,
            max_weight,
        }
    }

    /// `read` of the value of `key`, moved into the current generation if it was in the previous one;
    /// a closure, so that an entry of the current generation is found with one hash, not a second to
    /// hand out a reference.
    pub fn get_with<Q, R>(&mut self, key: &Q, read: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(value) = self.current.get(key) {
            return Some(read(value));
        }
        let (key, value) = self.previous.remove_entry(key)?;
        let out = read(&value);
        self.insert(key, value, 0);
        Some(out)
    }

    /// Puts `key`, starting a new generation first if this one is full. A moved-up entry weighs 0: its
    /// weight was counted in the generation it came from, whose bound it kept.
    pub fn insert(&mut self, key: K, value: V, weight: usize) {
        if self.current.len() >= self.max_entries || self.weight + weight > self.max_weight {
            self.previous = std::mem::take(&mut self.current);
            self.weight = 0;
        }
        self.weight += weight;
        self.current.insert(key, value);
    }

    /// Entries in both generations.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Generations;

    #[test]
    fn a_working_set_of_one_generation_stays_whole() {
        let mut table: Generations<_, _> = Generations::new(4, usize::MAX);
        for pass in 0..5 {
            for key in 0..4 {
                if pass > 0 {
                    assert_eq!(
                        table.get_with(&key, |v| *v),
                        Some(key * 10),
                        "pass {pass}, key {key}"
                    );
                } else {
                    table.insert(key, key * 10, 1);
                }
            }
        }
        // a fifth key starts a generation; the four before it are found again (moved up)
        table.insert(4, 40, 1);
        for key in 0..4 {
            assert_eq!(table.get_with(&key, |v| *v), Some(key * 10));
        }
        assert!(table.len() <= 8);
    }

    #[test]
    fn the_oldest_generation_is_dropped() {
        let mut table: Generations<_, _> = Generations::new(2, usize::MAX);
        for key in 0..6 {
            table.insert(key, (), 1);
        }
        assert_eq!(table.len(), 4);
        assert!(table.get_with(&0, |_| ()).is_none() && table.get_with(&1, |_| ()).is_none());
        assert!(table.get_with(&4, |_| ()).is_some() && table.get_with(&5, |_| ()).is_some());
    }

    #[test]
    fn the_weight_ends_a_generation() {
        let mut table: Generations<_, _> = Generations::new(100, 10);
        table.insert("a", 1, 6);
        table.insert("b", 2, 6); // 12 > 10: "a" goes to the previous generation
        table.insert("c", 3, 6); // and is dropped now
        assert!(table.get_with("a", |_| ()).is_none());
        assert_eq!(table.get_with("b", |v| *v), Some(2));
        assert_eq!(table.get_with("c", |v| *v), Some(3));
        assert!(!table.is_empty());
    }
}
