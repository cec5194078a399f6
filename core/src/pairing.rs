//! Open requests and the pairing rule of `decoders/correlate.py` (`Pending`, `pair`), for the sink in
//! the core: an insertion-ordered table of open requests with a cap, the oldest forgotten first, and a
//! reply closing the request its key names.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Open requests, oldest first (`decoders.correlate.Pending`): key → value (a request's seq for the
/// sink, its time for the decoder's latency).
pub struct Pending<K, V = u64> {
    /// key → (its place in the order, value)
    open: HashMap<K, (u64, V)>,
    /// place → key, oldest first
    order: BTreeMap<u64, K>,
    next: u64,
    limit: usize,
}

impl<K: Hash + Eq + Clone, V: Copy> Pending<K, V> {
    pub fn new(limit: usize) -> Self {
        Pending {
            open: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            limit,
        }
    }

    /// Remember a request; the oldest one's key if it had to be forgotten to make room. As a Python
    /// dict, a key opened again keeps its place and takes the new value.
    pub fn open(&mut self, key: K, value: V) -> Option<K> {
        let mut forgotten = None;
        if self.open.len() >= self.limit {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.open.remove(&oldest);
                forgotten = Some(oldest);
            }
        }
        match self.open.get_mut(&key) {
            Some(entry) => entry.1 = value,
            None => {
                self.order.insert(self.next, key.clone());
                self.open.insert(key, (self.next, value));
                self.next += 1;
            }
        }
        forgotten
    }

    /// The value of the request `key` answers, forgotten now; None if unknown.
    pub fn close(&mut self, key: &K) -> Option<V> {
        let (place, value) = self.open.remove(key)?;
        self.order.remove(&place);
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    pub fn contains(&self, key: &K) -> bool {
        self.open.contains_key(key)
    }
}

/// `decoders.correlate.pair`: the value remembered for the request this message answers, and the key
/// forgotten to make room. A message that closes a key is a reply; one that only opens one, a request.
pub fn pair<K: Hash + Eq + Clone, V: Copy>(
    pending: &mut Pending<K, V>,
    opens: Option<K>,
    closes: Option<K>,
    value: V,
) -> (Option<V>, Option<K>) {
    if let Some(key) = closes {
        return (pending.close(&key), None);
    }
    match opens {
        Some(key) => (None, pending.open(key, value)),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_gets_its_request_once() {
        let mut pending = Pending::new(4);
        assert_eq!(pair(&mut pending, Some("a"), None, 1), (None, None));
        assert_eq!(pair(&mut pending, Some("b"), Some("a"), 2), (Some(1), None));
        assert_eq!(pair(&mut pending, None, Some("a"), 3), (None, None));
        assert!(pending.open.is_empty() && pending.order.is_empty());
    }

    #[test]
    fn the_oldest_is_forgotten_at_the_cap_even_for_a_key_already_open() {
        let mut pending = Pending::new(2);
        assert_eq!(pending.open("a", 1), None);
        assert_eq!(pending.open("b", 2), None);
        // as Python: the room is made first, then "b" takes its new value in its old place
        assert_eq!(pending.open("b", 3), Some("a"));
        assert_eq!((pending.open.len(), pending.order.len()), (1, 1));
        assert_eq!(pending.open("c", 4), None);
        assert_eq!(pending.open("d", 5), Some("b"));
        assert_eq!(pending.close(&"c"), Some(4));
        assert_eq!(pending.close(&"b"), None);
    }

    #[test]
    fn nothing_to_pair() {
        let mut pending: Pending<&str> = Pending::new(1);
        assert_eq!(pair(&mut pending, None, None, 1), (None, None));
        assert!(pending.open.is_empty() && pending.order.is_empty());
    }
}
