//! The namespace scope of an element (decoders/soap.py `declare`/`namespace_of`), and the small
//! hasher of the JSON builder's key maps.
#![forbid(unsafe_code)]

use crate::json::XML_NS;
use crate::tree::Node;
use std::hash::{BuildHasherDefault, Hasher};

/// The namespace scope: (prefix, uri) declarations, innermost last ("" is the default namespace).
pub struct Scope<'d> {
    pairs: Vec<(&'d str, &'d str)>,
}

impl<'d> Scope<'d> {
    pub fn root() -> Self {
        let mut pairs = Vec::with_capacity(8); // an envelope declares a few: no growing step by step
        pairs.push(("xml", XML_NS));
        Scope { pairs }
    }

    /// Enter `e`: its declarations join the scope; returns the mark to `leave` with.
    pub fn enter(&mut self, e: &Node<'d, '_>) -> usize {
        let mark = self.pairs.len();
        for a in e.attributes() {
            if let Some(prefix) = a.declares() {
                self.pairs.push((prefix, &a.value));
            }
        }
        mark
    }

    pub fn leave(&mut self, mark: usize) {
        self.pairs.truncate(mark);
    }

    pub fn get(&self, prefix: &str) -> Option<&'d str> {
        self.pairs
            .iter()
            .rev()
            .find(|(p, _)| same(p, prefix))
            .map(|(_, uri)| *uri)
    }

    /// Namespace of `e` given its own declarations and this (outer) scope.
    pub fn namespace_of(&self, e: &Node<'d, '_>) -> Option<&'d str> {
        let own = e
            .attributes()
            .iter()
            .rev()
            .find(|a| a.declares().is_some_and(|p| same(p, e.prefix())));
        match own {
            Some(a) => Some(&a.value),
            None => self.get(e.prefix()),
        }
    }
}

/// String equality for names and prefixes, which mostly repeat one slice of the dictionary, the
/// session table or the prefix letters: the same pointer answers without calling memcmp, and so
/// does a different first byte (distinct names of one length).
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && (core::ptr::eq(a.as_ptr(), b.as_ptr())
            || (a.as_bytes().first() == b.as_bytes().first() && a == b))
}

/// Objects up to this many keys are searched linearly.
pub const LINEAR: usize = 16;

/// FNV-1a: element names are short and not attacker-chosen for collisions that matter here (a
/// flooded object only slows its own message), and SipHash dominated the profile.
#[derive(Default)]
pub struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub type Fnv = BuildHasherDefault<FnvHasher>;
