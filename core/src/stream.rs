//! The body as JSON written straight into one output string, for documents without z:Ref (all
//! the traffic seen so far): the same text as `json::JsonBuilder` + `json::write`, without building
//! a value tree. With no reference to resolve, the order in which members are converted cannot
//! change a value, so repeated names are grouped as they are written. Documents with a z:Ref, and
//! objects whose member names could collide with "@…" or "#text" keys, take the tree path.
#![forbid(unsafe_code)]

use crate::json::{self, JsonBuilder, Role, ARRAYS_NS};
use crate::scope::{same, Scope, LINEAR};
use crate::shape::{flat, grouped, lone_leaf, Member, Shape};
use crate::text::{json_string, py_strip};
use crate::tree::{Document, Item, Node};
use std::borrow::Cow;

/// Whether the streaming writer gives the tree path's text: no attribute named Ref at all.
pub fn streamable(doc: &Document<'_>) -> bool {
    !doc.attributes.iter().any(|a| a.name == "Ref")
}

pub struct Writer<'c, 'a> {
    collections: &'c [String],
    pub out: String,
    /// The child elements of the objects being written, innermost last: each level pushes its
    /// own in one pass over its children and truncates them when done, so no level allocates.
    kids: Vec<Node<'a, 'a>>,
    /// The members of the flat object being written (`shape::flat`).
    flat: Vec<Member<'a>>,
}

impl<'c, 'a> Writer<'c, 'a> {
    pub fn new(collections: &'c [String], capacity: usize) -> Self {
        Writer {
            collections,
            out: String::with_capacity(capacity),
            // room for usual documents from the start: grown a step at a time, they cost more
            kids: Vec::with_capacity(64),
            flat: Vec::with_capacity(LINEAR),
        }
    }

    fn is_collection_name(&self, name: &str) -> bool {
        self.collections.iter().any(|c| c == name)
    }

    /// `e`'s content; `scope` is the scope around it. `body`: an empty member is {} (the Body rule).
    #[inline]
    pub fn element(&mut self, e: &Node<'a, 'a>, scope: &mut Scope<'a>, body: bool) {
        if let Some(leaf) = lone_leaf(e) {
            json::write_leaf(leaf, &mut self.out);
            return;
        }
        let mark = scope.enter(e);
        self.inner(e, scope, body);
        scope.leave(mark);
    }

    /// An element that is not a lone text value: kept out of line, so that the text values (most
    /// elements) are written without this frame's set-up.
    #[inline(never)]
    fn inner(&mut self, e: &Node<'a, 'a>, scope: &mut Scope<'a>, body: bool) {
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
        if !collection && flat(e, scope, &mut self.flat) && !self.is_collection_name(e.name()) {
            let first = e.doc.node(e.index + 1);
            if first.is_some_and(|c| scope.namespace_of(&c) != Some(ARRAYS_NS)) {
                return self.flat_object(&attributes);
            }
        }
        let first = self.kids.len();
        let shape = Shape::of(e, &mut self.kids);
        if shape.elements == 0 {
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
        let same_names = shape.elements > 1 && shape.one_name;
        let kids = first..self.kids.len();
        if collection
            || self.is_collection_name(e.name())
            || same_names
            || self
                .kids
                .get(kids.clone())
                .unwrap_or_default()
                .iter()
                .all(|c| scope.namespace_of(c) == Some(ARRAYS_NS))
        {
            self.open(&attributes, "#items");
            self.out.push('[');
            for k in kids {
                if k > first {
                    self.out.push(',');
                }
                if let Some(child) = self.kids.get(k).copied() {
                    self.element(&child, scope, false);
                }
            }
            self.out.push(']');
            self.close(&attributes);
            self.kids.truncate(first);
            return;
        }
        if shape.colliding {
            // a member that would share a key with an attribute or the text: the tree path
            self.kids.truncate(first);
            let mut builder = JsonBuilder::new(self.collections);
            let value = builder.convert(e, scope);
            json::write(&value, &mut self.out);
            return;
        }
        let mut members = self.object_start(&attributes);
        if shape.adjacent {
            // the common case: each name's elements are adjacent; write them as they come
            let mut k = first;
            while let Some(head) = self.kids.get(k).copied() {
                let run = self.kids.get(k + 1..).unwrap_or_default();
                let more = run
                    .iter()
                    .take_while(|c| same(c.name(), head.name()))
                    .count();
                self.member(k..k + 1 + more, scope, body, &mut members);
                k += 1 + more;
            }
        } else {
            let (ordered, runs) = grouped(self.kids.get(first..).unwrap_or_default());
            let start = self.kids.len();
            self.kids.extend(ordered);
            for run in runs.windows(2) {
                if let [a, b] = *run {
                    self.member(start + a..start + b, scope, body, &mut members);
                }
            }
        }
        self.kids.truncate(first);
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

    /// `{` and the attributes' members; whether there were any.
    fn object_start(&mut self, attributes: &[(Cow<'_, str>, &str)]) -> bool {
        self.out.push('{');
        for (i, (key, value)) in attributes.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            json_string(key, &mut self.out);
            self.out.push(':');
            json_string(value, &mut self.out);
        }
        !attributes.is_empty()
    }

    /// An object whose children `shape::flat` vouches for: what the general rules write for it
    /// (a member per child: its text value, or null), without their bookkeeping.
    fn flat_object(&mut self, attributes: &[(Cow<'a, str>, &'a str)]) {
        let mut members = self.object_start(attributes);
        for (name, leaf) in &self.flat {
            if members {
                self.out.push(',');
            }
            members = true;
            json_string(name, &mut self.out);
            self.out.push(':');
            match leaf {
                Some(leaf) => json::write_leaf(leaf, &mut self.out),
                None => self.out.push_str("null"),
            }
        }
        self.out.push('}');
    }

    /// One object member: the elements `self.kids[run]`, which share a name (a list when more than one).
    fn member(
        &mut self,
        run: core::ops::Range<usize>,
        scope: &mut Scope<'a>,
        body: bool,
        members: &mut bool,
    ) {
        let Some(first) = self.kids.get(run.start).copied() else {
            return;
        };
        if *members {
            self.out.push(',');
        }
        *members = true;
        json_string(first.name(), &mut self.out);
        self.out.push(':');
        if run.len() == 1 {
            let start = self.out.len();
            self.element(&first, scope, false);
            if body && !first.has_children() && self.out.get(start..) == Some("\"\"") {
                self.out.truncate(start);
                self.out.push_str("{}");
            }
            return;
        }
        self.out.push('[');
        for k in run.clone() {
            if k > run.start {
                self.out.push(',');
            }
            if let Some(child) = self.kids.get(k).copied() {
                self.element(&child, scope, false);
            }
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
