//! The body as JSON written straight into one output string, for documents without z:Ref (all
//! the traffic seen so far): the same text as `json::JsonBuilder` + `json::write`, without building
//! a value tree. With no reference to resolve, the order in which members are converted cannot
//! change a value, so repeated names are grouped as they are written. Documents with a z:Ref, and
//! objects whose member names could collide with "@…" or "#text" keys, take the tree path.
#![forbid(unsafe_code)]

use crate::json::{self, JsonBuilder, Role, ARRAYS_NS};
use crate::scope::{same, Fnv, Scope, LINEAR};
use crate::text::{json_string, py_strip};
use crate::tree::{Document, Item, Node};
use std::borrow::Cow;
use std::collections::HashMap;

/// Whether the streaming writer gives the tree path's text: no attribute named Ref at all.
pub fn streamable(doc: &Document<'_>) -> bool {
    !doc.attributes.iter().any(|a| a.name == "Ref")
}

pub struct Writer<'c> {
    collections: &'c [String],
    pub out: String,
}

impl<'c> Writer<'c> {
    pub fn new(collections: &'c [String], capacity: usize) -> Self {
        Writer {
            collections,
            out: String::with_capacity(capacity),
        }
    }

    fn is_collection_name(&self, name: &str) -> bool {
        self.collections.iter().any(|c| c == name)
    }

    /// `e`'s content; `scope` is the scope around it. `body`: an empty member is {} (the Body rule).
    pub fn element<'a>(&mut self, e: &Node<'a, 'a>, scope: &mut Scope<'a>, body: bool) {
        if e.attributes().is_empty() {
            let mut children = e.children();
            if let (Some((_, Item::Leaf(leaf))), None) = (children.next(), children.next()) {
                json::write_leaf(leaf, &mut self.out);
                return;
            }
        }
        let mark = scope.enter(e);
        self.inner(e, scope, body);
        scope.leave(mark);
    }

    fn inner<'a>(&mut self, e: &Node<'a, 'a>, scope: &mut Scope<'a>, body: bool) {
        let mut attributes: Vec<(Cow<'a, str>, &'a str)> = Vec::new();
        let (mut nil, mut collection) = (false, false);
        let mut set = |key: Cow<'a, str>, value: &'a str| match attributes
            .iter_mut()
            .find(|(k, _)| *k == key)
        {
            Some(slot) => slot.1 = value,
            None => attributes.push((key, value)),
        };
        for a in e.attributes() {
            match json::role(a, scope) {
                Role::Declaration => {}
                Role::Nil => nil = json::is_true(&a.value),
                Role::Type => set(Cow::Borrowed("@type"), &a.value),
                Role::Id => set(Cow::Borrowed("@id"), &a.value),
                Role::Size => collection = true,
                Role::Ref | Role::Other => set(Cow::Owned(format!("@{}", a.name)), &a.value), // no Ref here
            }
        }
        if nil {
            self.out.push_str("null");
            return;
        }
        if e.elements().next().is_none() {
            if self.is_collection_name(e.name()) && py_strip(&e.text()).is_empty() {
                self.open(&attributes, "#items");
                self.out.push_str("[]");
            } else {
                self.open(&attributes, "#text");
                self.simple_value(e);
            }
            self.close(&attributes);
            return;
        }
        let shape = Shape::of(e);
        let same_names = shape.elements > 1 && shape.one_name;
        if collection
            || self.is_collection_name(e.name())
            || same_names
            || e.elements()
                .all(|c| scope.namespace_of(&c) == Some(ARRAYS_NS))
        {
            self.open(&attributes, "#items");
            self.out.push('[');
            for (i, child) in e.elements().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.element(&child, scope, false);
            }
            self.out.push(']');
            self.close(&attributes);
            return;
        }
        if shape.colliding {
            // a member that would share a key with an attribute or the text: the tree path
            let mut builder = JsonBuilder::new(self.collections);
            let value = builder.convert(e, scope);
            json::write(&value, &mut self.out);
            return;
        }
        self.out.push('{');
        for (i, (key, value)) in attributes.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            json_string(key, &mut self.out);
            self.out.push(':');
            json_string(value, &mut self.out);
        }
        let mut members = !attributes.is_empty();
        if shape.adjacent {
            // the common case: each name's elements are adjacent; write them as they come
            let mut children = e.elements().peekable();
            while let Some(first) = children.next() {
                let mut run = vec![];
                while let Some(next) = children.next_if(|c| same(c.name(), first.name())) {
                    run.push(next);
                }
                self.member(first, &run, scope, body, &mut members);
            }
        } else {
            let (children, runs) = grouped(e);
            for run in runs.windows(2) {
                let (Some(&start), Some(&end)) = (run.first(), run.get(1)) else {
                    continue;
                };
                let mut run = children
                    .get(start..end)
                    .unwrap_or_default()
                    .iter()
                    .map(|(_, c)| *c);
                let Some(first) = run.next() else { continue };
                let rest: Vec<Node<'a, 'a>> = run.collect();
                self.member(first, &rest, scope, body, &mut members);
            }
        }
        let text = if shape.text {
            e.text()
        } else {
            Cow::Borrowed("")
        };
        if !py_strip(&text).is_empty() {
            self.out.push_str(",\"#text\":");
            json_string(&text, &mut self.out);
        }
        self.out.push('}');
    }

    /// One object member: `first` and the `rest` of its name's elements (a list when there are more).
    fn member<'a>(
        &mut self,
        first: Node<'a, 'a>,
        rest: &[Node<'a, 'a>],
        scope: &mut Scope<'a>,
        body: bool,
        members: &mut bool,
    ) {
        if *members {
            self.out.push(',');
        }
        *members = true;
        json_string(first.name(), &mut self.out);
        self.out.push(':');
        if rest.is_empty() {
            let start = self.out.len();
            self.element(&first, scope, false);
            if body && !first.has_children() && self.out.get(start..) == Some("\"\"") {
                self.out.truncate(start);
                self.out.push_str("{}");
            }
            return;
        }
        self.out.push('[');
        self.element(&first, scope, false);
        for child in rest {
            self.out.push(',');
            self.element(child, scope, false);
        }
        self.out.push(']');
    }

    /// `{"@a":"v",…,"key":` when there are attributes (the value follows), else nothing.
    fn open(&mut self, attributes: &[(Cow<'_, str>, &str)], key: &str) {
        if attributes.is_empty() {
            return;
        }
        self.out.push('{');
        for (k, v) in attributes {
            json_string(k, &mut self.out);
            self.out.push(':');
            json_string(v, &mut self.out);
            self.out.push(',');
        }
        json_string(key, &mut self.out);
        self.out.push(':');
    }

    fn close(&mut self, attributes: &[(Cow<'_, str>, &str)]) {
        if !attributes.is_empty() {
            self.out.push('}');
        }
    }

    fn simple_value(&mut self, e: &Node<'_, '_>) {
        let mut children = e.children();
        match (children.next(), children.next()) {
            (None, _) => self.out.push_str("\"\""),
            (Some((_, Item::Leaf(leaf))), None) => json::write_leaf(leaf, &mut self.out),
            (Some(_), None) => self.out.push_str("\"\""),
            _ => json_string(&e.text(), &mut self.out),
        }
    }
}

/// What the object rules need to know of an element's children, in one pass.
struct Shape {
    elements: usize,
    /// All child elements have one name.
    one_name: bool,
    /// Every name's elements are adjacent (checked without allocating for up to LINEAR names;
    /// more is answered false and grouped the general way).
    adjacent: bool,
    /// A child element's name could collide with an "@…" or "#text" key.
    colliding: bool,
    /// There is a text child.
    text: bool,
}

impl Shape {
    fn of(e: &Node<'_, '_>) -> Shape {
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
            let Some(child) = e.doc.node(i) else {
                shape.text |= matches!(item, Item::Leaf(_));
                continue;
            };
            let name = child.name();
            shape.elements += 1;
            shape.colliding |= name.starts_with('@') || name == "#text";
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

/// The child elements of `e` grouped by name, groups in order of first appearance, each in document
/// order (Python's dict of repeated names): (children tagged with their group, group boundaries).
#[allow(clippy::type_complexity)]
fn grouped<'a>(e: &Node<'a, 'a>) -> (Vec<(u32, Node<'a, 'a>)>, Vec<usize>) {
    let mut names: Vec<&'a str> = Vec::new();
    let mut index: Option<HashMap<&'a str, u32, Fnv>> = None;
    let mut children: Vec<(u32, Node<'a, 'a>)> = Vec::new();
    let mut sorted = true;
    for child in e.elements() {
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
    (children, runs)
}
