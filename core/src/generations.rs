//! A bounded table that keeps two generations: the entries put since it last filled up, and the ones
//! before them, an entry of which moves up when found. Starting over at the bound (as the first caches
//! here did) misses everything at every pass once a working set outgrows it — a 4000-line order synced
//! again and again; two generations keep a working set of up to one generation, and most of one up to
//! twice that, in at most twice the bound.
#![forbid(unsafe_code)]

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

pub struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    /// the weights (e.g. bytes) of the current generation's entries
    weight: usize,
    max_entries: usize,
    max_weight: usize,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    /// A generation ends at `max_entries` entries or `max_weight` of their weights.
    pub fn new(max_entries: usize, max_weight: usize) -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            weight: 0,
            max_entries,
            max_weight,
        }
    }

    /// The value of `key`, moved into the current generation if it was in the previous one.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.current.contains_key(key) {
            let (key, value) = self.previous.remove_entry(key)?;
            self.insert(key, value, 0);
        }
        self.current.get(key)
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
        let mut table = Generations::new(4, usize::MAX);
        for pass in 0..5 {
            for key in 0..4 {
                if pass > 0 {
                    assert_eq!(table.get(&key), Some(&(key * 10)), "pass {pass}, key {key}");
                } else {
                    table.insert(key, key * 10, 1);
                }
            }
        }
        // a fifth key starts a generation; the four before it are found again (moved up)
        table.insert(4, 40, 1);
        for key in 0..4 {
            assert_eq!(table.get(&key), Some(&(key * 10)));
        }
        assert!(table.len() <= 8);
    }

    #[test]
    fn the_oldest_generation_is_dropped() {
        let mut table = Generations::new(2, usize::MAX);
        for key in 0..6 {
            table.insert(key, (), 1);
        }
        assert_eq!(table.len(), 4);
        assert!(table.get(&0).is_none() && table.get(&1).is_none());
        assert!(table.get(&4).is_some() && table.get(&5).is_some());
    }

    #[test]
    fn the_weight_ends_a_generation() {
        let mut table = Generations::new(100, 10);
        table.insert("a", 1, 6);
        table.insert("b", 2, 6); // 12 > 10: "a" goes to the previous generation
        table.insert("c", 3, 6); // and is dropped now
        assert!(table.get("a").is_none());
        assert_eq!(table.get("b"), Some(&2));
        assert_eq!(table.get("c"), Some(&3));
        assert!(!table.is_empty());
    }
}
