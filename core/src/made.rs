//! The texts of nested models the event writer keeps (`event_python::Writer::nested_model`): an
//! order line is written once and copied into every snapshot of its order after.
#![forbid(unsafe_code)]

use crate::generations::Generations;
use crate::scope::Fnv;
use pyo3::prelude::*;
use pyo3::types::{PyWeakrefMethods, PyWeakrefReference};

/// Texts of nested models kept per generation, and the longest kept.
const MAX_MADE: usize = 8192;
const MAX_MADE_BYTES: usize = 8 << 20;
pub const MAX_MADE_TEXT: usize = 4096;

/// The texts of nested models whose text cannot change — frozen models whose values are all scalars
/// (str, int, float, bool, None, Decimal), such as the iiko layer's order lines, which every snapshot
/// of an order holds again — by (the object's address, `exclude_none`), with a weak reference that
/// tells whether the object at that address is still the one written. A text is kept from the second
/// time its object is written (an event's own `source` is written once: keeping it would only push
/// lines out). A 4000-line order's snapshot is then written by copying texts.
/// A model's address and `exclude_none`.
type Key = (usize, bool);

/// Keyed by address, not by anything from the wire: FNV, not SipHash.
pub struct Made {
    texts: Generations<Key, (Py<PyWeakrefReference>, Box<str>), Fnv>,
    /// addresses written once; one reused by another object only makes that object's text kept early
    seen: Generations<Key, (), Fnv>,
}

impl Made {
    pub fn new() -> Self {
        Made {
            texts: Generations::new(MAX_MADE, MAX_MADE_BYTES),
            seen: Generations::new(MAX_MADE, usize::MAX),
        }
    }

    /// Appends the kept text of `obj` (at `key`) to `out`; false if there is none.
    pub fn write_text(&mut self, key: Key, obj: &Bound<'_, PyAny>, out: &mut String) -> bool {
        self.texts
            .get_with(&key, |(kept, text)| {
                let same = kept
                    .bind(obj.py())
                    .upgrade()
                    .is_some_and(|kept| kept.is(obj));
                if same {
                    out.push_str(text);
                }
                same
            })
            .unwrap_or(false)
    }

    /// Whether the object at `key` was written before; it is from now on.
    pub fn seen_before(&mut self, key: Key) -> bool {
        let seen = self.seen.get_with(&key, |()| ()).is_some();
        if !seen {
            self.seen.insert(key, (), 1);
        }
        seen
    }

    pub fn keep(&mut self, key: Key, kept: Bound<'_, PyWeakrefReference>, text: &str) {
        self.texts
            .insert(key, (kept.unbind(), text.into()), text.len());
    }
}
