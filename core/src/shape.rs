//! What the streaming writer (`stream.rs`) needs to know of an element's children before it writes
//! the element: whether it is a lone text value, whether its children make an object of distinct
//! lone text values (most objects), else their shape (names, adjacency, collisions, text), and the
//! grouping of repeated names the object rules need.
#![forbid(unsafe_code)]

use crate::json::{self, Role};
use crate::scope::{same, Fnv, Scope, LINEAR};
use crate::tree::{Item, Leaf, Node};
use std::collections::HashMap;

/// What the object rules need to know of an element's children, in one pass.
pub struct Shape {
    pub elements: usize,
    /// All child elements have one name.
    pub one_name: bool,
    /// Every name's elements are adjacent (checked without allocating for up to LINEAR names;
    /// more is answered false and grouped the general way).
    pub adjacent: bool,
    /// A child element's name could collide with an "@…" or "#text" key.
    pub colliding: bool,
    /// There is a text child.
    pub text: bool,
}

impl Shape {
    /// The shape of `e`'s children, its child elements appended to `kids` in document order.
    pub fn of<'a>(e: &Node<'a, 'a>, kids: &mut Vec<Node<'a, 'a>>) -> Shape {
        let mut shape = Shape {
            elements: 0,
            one_name: true,
            adjacent: true,
            colliding: false,
            text: false,
        };
        let mut seen: [&str; LINEAR] = [""; LINEAR];
        let mut count = 0;
        let mut current: Option<&str> = None;
        for (i, item) in e.children() {
            let elem = match item {
                Item::Element(elem) => elem,
                Item::Leaf(_) => {
                    shape.text = true;
                    continue;
                }
                Item::Comment(_) => continue,
            };
            kids.push(Node {
                doc: e.doc,
                index: i,
                elem,
            });
            let name: &str = &elem.name;
            shape.elements += 1;
            shape.colliding |= colliding(name);
            if current.is_some_and(|c| same(c, name)) {
                continue;
            }
            shape.one_name &= current.is_none();
            if !shape.adjacent {
                continue;
            }
            if seen
                .get(..count)
                .unwrap_or_default()
                .iter()
                .any(|s| same(s, name))
            {
                shape.adjacent = false;
            } else if let Some(slot) = seen.get_mut(count) {
                *slot = name;
                count += 1;
            } else {
                shape.adjacent = false;
            }
            current = Some(name);
        }
        shape
    }
}

/// Child elements grouped by name, groups in order of first appearance, each in document order
/// (Python's dict of repeated names): (the children in that order, group boundaries).
pub fn grouped<'a>(kids: &[Node<'a, 'a>]) -> (Vec<Node<'a, 'a>>, Vec<usize>) {
    let mut names: Vec<&'a str> = Vec::new();
    let mut index: Option<HashMap<&'a str, u32, Fnv>> = None;
    let mut children: Vec<(u32, Node<'a, 'a>)> = Vec::new();
    let mut sorted = true;
    for child in kids.iter().copied() {
        let name = child.name();
        let found = match &index {
            Some(index) => index.get(name).copied(),
            None => names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| u32::try_from(i).ok()),
        };
        let group = found.unwrap_or_else(|| {
            let group = u32::try_from(names.len()).unwrap_or(u32::MAX);
            names.push(name);
            if let Some(index) = &mut index {
                index.insert(name, group);
            } else if names.len() > LINEAR {
                index = Some(names.iter().zip(0..).map(|(n, i)| (*n, i)).collect());
            }
            group
        });
        sorted &= children.last().is_none_or(|(last, _)| *last <= group);
        children.push((group, child));
    }
    if !sorted {
        children.sort_by_key(|(group, _)| *group); // stable: document order within a group
    }
    let mut runs = vec![0];
    for (i, pair) in children.windows(2).enumerate() {
        if let [(a, _), (b, _)] = pair {
            if a != b {
                runs.push(i + 1);
            }
        }
    }
    runs.push(children.len());
    (children.into_iter().map(|(_, c)| c).collect(), runs)
}

/// The text of an element with no attributes whose one child is text: most elements.
#[inline]
pub fn lone_leaf<'d, 'a>(e: &Node<'d, 'a>) -> Option<&'d Leaf<'a>> {
    if !e.attributes().is_empty() || usize::try_from(e.elem.end).ok()? != e.index + 2 {
        return None;
    }
    match e.doc.items.get(e.index + 1)? {
        Item::Leaf(leaf) => Some(leaf),
        _ => None,
    }
}

/// A member of a flat object: its name, and its text value (None: null).
pub type Member<'a> = (&'a str, Option<&'a Leaf<'a>>);

/// Whether `e`'s children are elements with distinct names (at most LINEAR of them, none that could
/// collide with an "@…" or "#text" key), each a lone text value or nil, and nothing else: an object
/// the writer can write from `members` (filled here), as the general rules would. `scope`: the
/// scope in `e`.
pub fn flat<'a>(e: &Node<'a, 'a>, scope: &Scope<'_>, members: &mut Vec<Member<'a>>) -> bool {
    members.clear();
    let mut i = e.index + 1;
    let end = usize::try_from(e.elem.end).unwrap_or(0);
    while i < end {
        let Some(child) = e.doc.node(i) else {
            return false;
        };
        let leaf = lone_leaf(&child);
        if leaf.is_none() && !nil(&child, scope) {
            return false;
        }
        let name = child.name();
        if members.len() == LINEAR || colliding(name) || members.iter().any(|(s, _)| same(s, name))
        {
            return false;
        }
        members.push((name, leaf));
        i = next(&child);
    }
    !members.is_empty()
}

/// Whether `e`'s one attribute is an i:nil that is true (so the element is null, whatever it holds);
/// `scope`: the scope around `e`, which such an attribute does not change.
pub fn nil(e: &Node<'_, '_>, scope: &Scope<'_>) -> bool {
    match e.attributes() {
        [a] => json::role(a, scope) == Role::Nil && json::is_true(&a.value),
        _ => false,
    }
}

/// Whether a member named `name` could share its key with an attribute's ("@…") or the text's.
#[inline]
fn colliding(name: &str) -> bool {
    // the first byte first: five-letter names are common, and comparing them would call memcmp
    match name.as_bytes().first() {
        Some(b'@') => true,
        Some(b'#') => name == "#text",
        _ => false,
    }
}

/// The tape index after `e` and its descendants.
pub fn next(e: &Node<'_, '_>) -> usize {
    usize::try_from(e.elem.end).unwrap_or(0).max(e.index + 1)
}
