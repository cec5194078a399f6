//! The iiko rules applied to bodies the core wrote as JSON text: `decoders/iiko_recognise.py`
//! `Recogniser.find` (`_walk`, `_entity`, `_is_snapshot`) over the tree of `iiko_json`, rule for rule.
//!
//! What depends on names (local names, Unicode case folding, the rules' aliases) is not redone here:
//! an `Oracle` (the Python recogniser, through the binding) answers once per object shape and once
//! per name, and the answers are kept in bounded tables, as Python keeps its own. What is found leaves
//! as text: a UserEvent as its object's span, a snapshot as its order's fields (the keys the order
//! plan reads, written as one object) and the spans of its lines, for Python to parse and normalise
//! (the binding looks lines up by their text first). Where Python would have to look further than
//! names and structure (an unknown type in a UserEvent context: its attributes decide), the whole
//! message is handed back (`Stop::HandBack`).
#![forbid(unsafe_code)]

use crate::iiko_json::{parse, Doc, Entry, Node, Value};
use crate::scope::Fnv;
use std::collections::HashMap;
use std::sync::Arc;

/// JSON nesting walked per message (`iiko_recognise.MAX_DEPTH`).
pub const MAX_DEPTH: usize = 64;

/// What the rules say of one name (a key, a type value).
#[derive(Debug, Clone, Default)]
pub struct NamePlan {
    /// `rules.types.get(name.lower())`: the type as iiko spells it, if it is a known one.
    pub known_type: Option<String>,
    /// Its local name is a UserEvent element name (`local[name] in rules.event_names`).
    pub event_name: bool,
    /// It speaks of UserEvents (`Recogniser.names_events[name]`).
    pub names_events: bool,
    /// What the lock rules say of it (`Recogniser.lock_change([name])`): Some(true) it releases a
    /// lock, Some(false) it takes one.
    pub lock: Option<bool>,
}

/// What the rules say of objects with one tuple of keys (`iiko_shapes.Shape` and the parts of
/// `Fields` recognition reads), keys given by their index in the tuple.
#[derive(Debug, Clone, Default)]
pub struct ShapePlan {
    pub type_keys: Vec<usize>,
    pub xsi_type: Option<usize>,
    pub item_list: Option<usize>,
    pub candidate: bool,
    /// (key, names UserEvents, is a UserEvent element name) of every key, in order.
    pub children: Vec<(usize, bool, bool)>,
    pub order_id: Vec<usize>,
    /// The order's number keys, then its status keys: a snapshot without lines shows one of them.
    pub order_shown: Vec<usize>,
    /// Every key the order plan reads (revision included), ascending.
    pub order_keys: Vec<usize>,
    pub product: Vec<usize>,
    pub amount: Vec<usize>,
    pub item_lists: Vec<usize>,
}

/// Answers the questions on names, from the rules (the Python recogniser).
pub trait Oracle {
    type Error;
    fn shape(&mut self, keys: &[&str]) -> Result<ShapePlan, Self::Error>;
    fn name(&mut self, name: &str) -> Result<NamePlan, Self::Error>;
}

/// Why recognition stopped: the message is Python's to read, or the oracle failed.
#[derive(Debug)]
pub enum Stop<E> {
    HandBack,
    Oracle(E),
}

/// One thing recognised, as text spans (`start..end` of the message's text).
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Event {
        ty: String,
        span: (usize, usize),
    },
    Snapshot {
        order: Vec<u8>,
        lines: Vec<(usize, usize)>,
    },
}

/// What one message's texts hold: per text, its key if it is an object of one key, and what was found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub single_keys: Vec<String>,
    /// (index of the text, what was found in it), outermost first.
    pub found: Vec<(usize, Found)>,
}

/// The oracle's answers, kept per shape and per name; each table starts over past `limit` entries.
pub struct Tables {
    shapes: HashMap<Vec<u8>, Arc<ShapePlan>, Fnv>,
    names: HashMap<String, Arc<NamePlan>, Fnv>,
    limit: usize,
    key: Vec<u8>,
}

impl Tables {
    pub fn new(limit: usize) -> Self {
        Tables {
            shapes: HashMap::default(),
            names: HashMap::default(),
            limit: limit.max(1),
            key: Vec::new(),
        }
    }

    fn shape<O: Oracle>(
        &mut self,
        oracle: &mut O,
        entries: &[Entry<'_>],
    ) -> Result<Arc<ShapePlan>, Stop<O::Error>> {
        self.key.clear();
        for e in entries {
            let len = u32::try_from(e.key.len()).map_err(|_| Stop::HandBack)?;
            self.key.extend_from_slice(&len.to_le_bytes());
            self.key.extend_from_slice(e.key.as_bytes());
        }
        if let Some(plan) = self.shapes.get(&self.key) {
            return Ok(Arc::clone(plan));
        }
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_ref()).collect();
        let plan = Arc::new(oracle.shape(&keys).map_err(Stop::Oracle)?);
        if self.shapes.len() >= self.limit {
            self.shapes.clear();
        }
        self.shapes.insert(self.key.clone(), Arc::clone(&plan));
        Ok(plan)
    }

    fn name<O: Oracle>(&mut self, oracle: &mut O, name: &str) -> Result<Arc<NamePlan>, O::Error> {
        if let Some(plan) = self.names.get(name) {
            return Ok(Arc::clone(plan));
        }
        let plan = Arc::new(oracle.name(name)?);
        if self.names.len() >= self.limit {
            self.names.clear();
        }
        self.names.insert(name.to_owned(), Arc::clone(&plan));
        Ok(plan)
    }
}

/// `Recogniser.lock_change`: (is_unlock, the name) for the first of `names` the lock rules match.
pub fn lock_change<O: Oracle>(
    names: &[String],
    oracle: &mut O,
    tables: &mut Tables,
) -> Result<Option<(bool, String)>, O::Error> {
    for name in names {
        if let Some(is_unlock) = tables.name(oracle, name)?.lock {
            return Ok(Some((is_unlock, name.clone())));
        }
    }
    Ok(None)
}

/// Whether any of `names` speaks of UserEvents (`Recogniser.names_events`).
pub fn speak_of_events<O: Oracle>(
    names: &[String],
    oracle: &mut O,
    tables: &mut Tables,
) -> Result<bool, O::Error> {
    for name in names {
        if tables.name(oracle, name)?.names_events {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `Recogniser.find` of each text (the bodies of one message, `OrderTracker.observe`): `in_events`
/// says whether the message's operation names speak of UserEvents; the texts' single keys are added
/// to them here, as Python adds them.
pub fn find<O: Oracle>(
    texts: &[&[u8]],
    in_events: bool,
    oracle: &mut O,
    tables: &mut Tables,
) -> Result<Findings, Stop<O::Error>> {
    let trees = texts
        .iter()
        .map(|text| parse(text).ok_or(Stop::HandBack))
        .collect::<Result<Vec<_>, _>>()?;
    let mut findings = Findings::default();
    let mut in_events = in_events;
    for (doc, tree) in &trees {
        if tree.value == Value::Object {
            if let [only] = doc.entries(tree).ok_or(Stop::HandBack)?.as_slice() {
                if !only.key.is_empty() {
                    in_events |= tables
                        .name(oracle, &only.key)
                        .map_err(Stop::Oracle)?
                        .names_events;
                }
                findings.single_keys.push(only.key.to_string());
            }
        }
    }
    let root = tables.name(oracle, "").map_err(Stop::Oracle)?;
    let (event_name, in_events) = (root.event_name, in_events || root.names_events);
    for (index, ((doc, tree), text)) in trees.iter().zip(texts).enumerate() {
        let mut walk = Walk {
            oracle: &mut *oracle,
            tables: &mut *tables,
            doc,
            text,
            found: Vec::new(),
        };
        walk.walk(tree, event_name, 0, in_events)?;
        findings
            .found
            .extend(walk.found.into_iter().map(|f| (index, f)));
    }
    Ok(findings)
}

struct Walk<'w, 'a, O: Oracle> {
    oracle: &'w mut O,
    tables: &'w mut Tables,
    doc: &'w Doc<'a>,
    text: &'w [u8],
    found: Vec<Found>,
}

fn entry<'n, 'a, E>(entries: &'n [Entry<'a>], index: usize) -> Result<&'n Node<'a>, Stop<E>> {
    entries.get(index).map(|e| &e.node).ok_or(Stop::HandBack)
}

/// `iiko_json.first_of`: the first of these keys holding a value (not null, not "").
fn first_of<'n, 'a, E>(
    entries: &'n [Entry<'a>],
    keys: &[usize],
) -> Result<Option<&'n Node<'a>>, Stop<E>> {
    for &index in keys {
        let node = entry(entries, index)?;
        if !node.is_blank() {
            return Ok(Some(node));
        }
    }
    Ok(None)
}

/// `iiko_json.unwrap`: a collection as the XML→JSON conversion leaves it → its content.
fn unwrap<'a, E>(doc: &Doc<'a>, mut node: Node<'a>) -> Result<Node<'a>, Stop<E>> {
    while node.value == Value::Object {
        match doc.entries(&node).ok_or(Stop::HandBack)?.as_slice() {
            [only] if only.node.is_container() => node = only.node.clone(),
            _ => break,
        }
    }
    Ok(node)
}

/// `iiko_json.as_list`.
fn as_list<'a, E>(doc: &Doc<'a>, node: Option<&Node<'a>>) -> Result<Vec<Node<'a>>, Stop<E>> {
    let Some(node) = node else {
        return Ok(Vec::new());
    };
    let node = unwrap(doc, node.clone())?;
    match node.value {
        Value::Null => Ok(Vec::new()),
        Value::Array => doc.items(&node).ok_or(Stop::HandBack),
        _ => Ok(vec![node]),
    }
}

impl<'a, O: Oracle> Walk<'_, 'a, O> {
    fn walk(
        &mut self,
        node: &Node<'a>,
        event_name: bool,
        depth: usize,
        in_events: bool,
    ) -> Result<(), Stop<O::Error>> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let entries = match node.value {
            Value::Array => {
                for item in self.doc.items(node).ok_or(Stop::HandBack)? {
                    self.walk(&item, event_name, depth + 1, in_events)?;
                }
                return Ok(());
            }
            Value::Object => self.doc.entries(node).ok_or(Stop::HandBack)?,
            _ => return Ok(()),
        };
        let shape = self.tables.shape(self.oracle, &entries)?;
        if shape.candidate || event_name {
            if let Some(found) = self.entity(node, &entries, &shape, event_name, in_events)? {
                self.found.push(found);
                return Ok(());
            }
        }
        for &(index, names_events, child_event_name) in &shape.children {
            let child = entry(&entries, index)?;
            if child.is_container() {
                self.walk(
                    child,
                    child_event_name,
                    depth + 1,
                    in_events || names_events,
                )?;
            }
        }
        Ok(())
    }

    fn is_event_name(&mut self, name: &str) -> Result<bool, Stop<O::Error>> {
        Ok(self
            .tables
            .name(self.oracle, name)
            .map_err(Stop::Oracle)?
            .event_name)
    }

    fn entity(
        &mut self,
        node: &Node<'a>,
        entries: &[Entry<'a>],
        shape: &ShapePlan,
        event_name: bool,
        in_events: bool,
    ) -> Result<Option<Found>, Stop<O::Error>> {
        let mut types = Vec::new();
        for &index in &shape.type_keys {
            if let Some(value) = entry(entries, index)?.as_str() {
                types.push(value);
            }
        }
        let span = (node.start, node.end);
        for value in &types {
            if let Some(known) = &self
                .tables
                .name(self.oracle, value)
                .map_err(Stop::Oracle)?
                .known_type
            {
                return Ok(Some(Found::Event {
                    ty: known.clone(),
                    span,
                }));
            }
        }
        let mut named = event_name;
        if let Some(index) = shape.xsi_type {
            if let Some(xsi_type) = entry(entries, index)?.as_str() {
                named = named || self.is_event_name(xsi_type)?;
            }
        }
        for value in &types {
            named = named || self.is_event_name(value)?;
        }
        if named {
            let mut ty = "UserEvent";
            for value in &types {
                if !value.is_empty() && !self.is_event_name(value)? {
                    ty = value;
                    break;
                }
            }
            return Ok(Some(Found::Event {
                ty: ty.to_owned(),
                span,
            }));
        }
        if in_events && types.iter().any(|t| !t.is_empty()) {
            return Err(Stop::HandBack); // its attributes decide: Python's to read
        }
        match shape.item_list {
            Some(list) if self.is_snapshot(entries, shape, list)? => {
                Ok(Some(self.snapshot(entries, shape)?))
            }
            _ => Ok(None),
        }
    }

    fn is_snapshot(
        &mut self,
        entries: &[Entry<'a>],
        shape: &ShapePlan,
        list: usize,
    ) -> Result<bool, Stop<O::Error>> {
        if first_of(entries, &shape.order_id)?.is_none() {
            return Ok(false);
        }
        let mut lines = as_list(self.doc, Some(entry(entries, list)?))?;
        lines.retain(|line| !matches!(&line.value, Value::Str(s) if s.is_empty()));
        let Some(first) = lines.first() else {
            return Ok(first_of(entries, &shape.order_shown)?.is_some());
        };
        if !lines.iter().all(|line| line.value == Value::Object) {
            return Ok(false);
        }
        let line = self.doc.entries(first).ok_or(Stop::HandBack)?;
        let plan = self.tables.shape(self.oracle, &line)?;
        Ok(first_of(&line, &plan.product)?.is_some() && first_of(&line, &plan.amount)?.is_some())
    }

    /// The order's fields as one object's text, and the spans of its lines (`Recogniser.items`).
    fn snapshot(&self, entries: &[Entry<'a>], shape: &ShapePlan) -> Result<Found, Stop<O::Error>> {
        let mut order = vec![b'{'];
        for (n, &index) in shape.order_keys.iter().enumerate() {
            let member = entries.get(index).ok_or(Stop::HandBack)?;
            if n > 0 {
                order.push(b',');
            }
            let text = self.text.get(member.key_start..member.node.end);
            order.extend_from_slice(text.ok_or(Stop::HandBack)?);
        }
        order.push(b'}');
        let lines = as_list(self.doc, first_of(entries, &shape.item_lists)?)?
            .into_iter()
            .filter(|line| line.value == Value::Object)
            .map(|line| (line.start, line.end))
            .collect();
        Ok(Found::Snapshot { order, lines })
    }
}

#[cfg(test)]
#[path = "iiko_find_tests.rs"]
mod tests;
