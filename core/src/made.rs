//! The texts of nested models the event writer keeps (`event_python::Writer::nested_model`): an
//! order line is written once and copied into every snapshot of its order after.
#![forbid(unsafe_code)]

use crate::generations::Generations;
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
pub struct Made {
    texts: Generations<(usize, bool), (Py<PyWeakrefReference>, Box<str>)>,
    /// addresses written once; one reused by another object only makes that object's text kept early
    seen: Generations<(usize, bool), ()>,
}

impl Made {
    pub fn new() -> Self {
        Made {
            texts: Generations::new(MAX_MADE, MAX_MADE_BYTES),
            seen: Generations::new(MAX_MADE, usize::MAX),
        }
    }

    pub fn text(&mut self, key: (usize, bool), obj: &Bound<'_, PyAny>) -> Option<&str> {
        let (kept, text) = self.texts.get(&key)?;
        let same = kept
            .bind(obj.py())
            .upgrade()
            .is_some_and(|kept| kept.is(obj));
        same.then_some(&**text)
    }

    /// Whether the object at `key` was written before; it is from now on.
    pub fn seen_before(&mut self, key: (usize, bool)) -> bool {
        let seen = self.seen.get(&key).is_some();
        if !seen {
            self.seen.insert(key, (), 1);
        }
        seen
    }

    pub fn keep(&mut self, key: (usize, bool), kept: Bound<'_, PyWeakrefReference>, text: &str) {
        self.texts
            .insert(key, (kept.unbind(), text.into()), text.len());
    }
}
