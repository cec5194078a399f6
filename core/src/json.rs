//! An element's content as JSON after DataContractSerializer conventions: decoders/soap.py
//! `element_to_json`/`_JsonBuilder`, rule for rule (repeated names -> lists, collections, i:nil,
//! i:type -> "@type", z:Id/z:Ref resolved within MAX_REF_EXPANSION, "#text"/"#items").
#![forbid(unsafe_code)]

use crate::numbers::{format_double, format_float, json_double};
use crate::text::{json_string, py_strip};
use crate::tree::{Attribute, Item, Leaf, Node, Val};
use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use crate::scope::{Fnv, Scope, LINEAR};

pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const SERIALIZATION_NS: &str = "http://schemas.microsoft.com/2003/10/Serialization/";
pub const ARRAYS_NS: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
pub const MAX_REF_EXPANSION: usize = 100_000;

/// What an attribute means to the DataContract conventions: one rule for the tree path and the
/// streaming writer (`stream.rs`), so that the two cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `xmlns` or `xmlns:p`: not data.
    Declaration,
    /// `i:nil`: the element is null when the value is true.
    Nil,
    /// `i:type`, written as `"@type"`.
    Type,
    /// `z:Id`, written as `"@id"`; what a `z:Ref` names.
    Id,
    /// `z:Ref`: the element is the object with that `z:Id`.
    Ref,
    /// `z:Size`: the element is a collection.
    Size,
    /// Any other attribute, written as `"@name"`.
    Other,
}

/// The role of `a` on an element whose prefixes `scope` resolves.
pub fn role(a: &Attribute<'_>, scope: &Scope<'_>) -> Role {
    if a.declares().is_some() {
        return Role::Declaration;
    }
    let namespace = if a.prefix.is_empty() {
        None
    } else {
        scope.get(&a.prefix)
    };
    match (namespace, a.name.as_ref()) {
        (Some(XSI_NS), "nil") => Role::Nil,
        (Some(XSI_NS), "type") => Role::Type,
        (Some(SERIALIZATION_NS), "Id") => Role::Id,
        (Some(SERIALIZATION_NS), "Ref") => Role::Ref,
        (Some(SERIALIZATION_NS), "Size") => Role::Size,
        _ => Role::Other,
    }
}

/// `i:nil`'s value read as .NET's XmlConvert.ToBoolean does after Python's strip.
pub fn is_true(value: &str) -> bool {
    matches!(py_strip(value), "true" | "1")
}

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    /// A text value of the document, written as its JSON value.
    Leaf(&'a Leaf<'a>),
    Arr(Vec<Json<'a>>),
    Obj(Obj<'a>),
    /// A value that a z:Id names, shared with every z:Ref that embeds it (Python shares the object).
    Shared(Rc<Json<'a>>),
}

impl<'a> Json<'a> {
    /// The value itself, through any sharing.
    pub fn get(&self) -> &Json<'a> {
        match self {
            Json::Shared(inner) => inner.get(),
            other => other,
        }
    }
}

/// A JSON object with Python dict semantics: insertion order, a key set again keeps its place.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj<'a> {
    pub entries: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Obj<'a> {
    pub fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn set(&mut self, key: Cow<'a, str>, value: Json<'a>) {
        match self.position(&key).and_then(|i| self.entries.get_mut(i)) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

/// The keys that children added (from `named` on, always borrowed from the document) -> slot.
fn child_keys<'a, T>(slots: &[(Cow<'a, str>, T)], named: usize) -> HashMap<&'a str, usize, Fnv> {
    let keys = slots.iter().enumerate().skip(named);
    keys.filter_map(|(i, (k, _))| match k {
        Cow::Borrowed(k) => Some((*k, i)),
        Cow::Owned(_) => None,
    })
    .collect()
}

fn simple_value<'a>(e: &Node<'a, 'a>) -> Json<'a> {
    let mut children = e.children();
    match (children.next(), children.next()) {
        (None, _) => Json::Str(Cow::Borrowed("")),
        (Some((_, Item::Leaf(leaf))), None) => Json::Leaf(leaf),
        (Some(_), None) => Json::Str(Cow::Borrowed("")),
        _ => Json::Str(e.text()),
    }
}

pub struct JsonBuilder<'c, 'a> {
    collections: &'c [String],
    ids: HashMap<&'a str, (Rc<Json<'a>>, usize)>,
    converted: usize,
    budget: usize,
}

enum Slot<'a> {
    One(Json<'a>),
    Many(Vec<Json<'a>>),
}

impl<'c, 'a> JsonBuilder<'c, 'a> {
    pub fn new(collections: &'c [String]) -> Self {
        JsonBuilder {
            collections,
            ids: HashMap::new(),
            converted: 0,
            budget: MAX_REF_EXPANSION,
        }
    }

    fn is_collection_name(&self, name: &str) -> bool {
        self.collections.iter().any(|c| c == name)
    }

    /// `element`'s content as JSON; `scope` is the scope around it.
    pub fn convert(&mut self, e: &Node<'a, 'a>, scope: &mut Scope<'a>) -> Json<'a> {
        if e.attributes().is_empty() {
            let mut children = e.children();
            if let (Some((_, Item::Leaf(leaf))), None) = (children.next(), children.next()) {
                self.converted += 1;
                return Json::Leaf(leaf);
            }
        }
        let mark = scope.enter(e);
        let result = self.convert_inner(e, scope);
        scope.leave(mark);
        result
    }

    fn convert_inner(&mut self, e: &Node<'a, 'a>, scope: &mut Scope<'a>) -> Json<'a> {
        let first = self.converted;
        self.converted += 1;
        let mut attributes = Obj::default();
        let (mut object_id, mut reference) = (None, None);
        let (mut collection, mut nil) = (false, false);
        for a in e.attributes() {
            match role(a, scope) {
                Role::Declaration => {}
                Role::Nil => nil = is_true(&a.value),
                Role::Type => attributes.set(Cow::Borrowed("@type"), Json::Str(a.value.clone())),
                Role::Id => {
                    object_id = Some(a.value.as_ref());
                    attributes.set(Cow::Borrowed("@id"), Json::Str(Cow::Borrowed(&a.value)));
                }
                Role::Ref => reference = Some(a.value.as_ref()),
                Role::Size => collection = true,
                Role::Other => attributes.set(
                    Cow::Owned(format!("@{}", a.name)),
                    Json::Str(a.value.clone()),
                ),
            }
        }
        if let Some(reference) = reference {
            return self.resolve(reference);
        }
        if nil {
            return Json::Null;
        }
        let mut elements = e.elements();
        let first_child = elements.next();
        let has_elements = first_child.is_some();
        let elements = first_child.into_iter().chain(elements);
        let with = |mut attributes: Obj<'a>, key: &'static str, value: Json<'a>| {
            if attributes.entries.is_empty() {
                value
            } else {
                attributes.set(Cow::Borrowed(key), value);
                Json::Obj(attributes)
            }
        };
        let result =
            if !has_elements && self.is_collection_name(e.name()) && py_strip(&e.text()).is_empty()
            {
                with(attributes, "#items", Json::Arr(Vec::new()))
            } else if !has_elements {
                with(attributes, "#text", simple_value(e))
            } else {
                let first_name = first_child.map_or("", |f| f.name());
                let same_names =
                    e.elements().nth(1).is_some() && e.elements().all(|c| c.name() == first_name);
                let collection = collection
                    || self.is_collection_name(e.name())
                    || same_names
                    || e.elements()
                        .all(|c| scope.namespace_of(&c) == Some(ARRAYS_NS));
                if collection {
                    let items = elements.map(|c| self.convert(&c, scope)).collect();
                    with(attributes, "#items", Json::Arr(items))
                } else {
                    let named = attributes.entries.len(); // "@…" keys, which a child's name may equal
                    let mut slots: Vec<(Cow<'a, str>, Slot<'a>)> = attributes
                        .entries
                        .into_iter()
                        .map(|(k, v)| (k, Slot::One(v)))
                        .collect();
                    // names -> slot, once an object is large enough for a linear search to hurt
                    let mut index: Option<HashMap<&'a str, usize, Fnv>> = None;
                    for child in elements {
                        let value = self.convert(&child, scope);
                        let name = child.name();
                        let at = match &index {
                            Some(index) => index
                                .get(name)
                                .copied()
                                .or_else(|| slots.iter().take(named).position(|(k, _)| k == name)),
                            None => slots.iter().position(|(k, _)| k == name),
                        };
                        match at.and_then(|i| slots.get_mut(i)) {
                            Some((_, Slot::Many(values))) => values.push(value),
                            Some((_, slot)) => {
                                let previous = core::mem::replace(slot, Slot::Many(Vec::new()));
                                if let Slot::One(previous) = previous {
                                    *slot = Slot::Many(vec![previous, value]);
                                }
                            }
                            None => {
                                if let Some(index) = &mut index {
                                    index.insert(name, slots.len());
                                }
                                slots.push((Cow::Borrowed(name), Slot::One(value)));
                                if index.is_none() && slots.len() > LINEAR {
                                    index = Some(child_keys(&slots, named));
                                }
                            }
                        }
                    }
                    let mut obj = Obj {
                        entries: slots
                            .into_iter()
                            .map(|(k, s)| match s {
                                Slot::One(v) => (k, v),
                                Slot::Many(vs) => (k, Json::Arr(vs)),
                            })
                            .collect(),
                    };
                    let text = e.text();
                    if !py_strip(&text).is_empty() {
                        obj.set(
                            Cow::Borrowed("#text"),
                            Json::Str(Cow::Owned(text.into_owned())),
                        );
                    }
                    Json::Obj(obj)
                }
            };
        match object_id {
            Some(id) => {
                let shared = Rc::new(result);
                let count = self.converted - first;
                self.ids.insert(id, (Rc::clone(&shared), count));
                Json::Shared(shared)
            }
            None => result,
        }
    }

    fn resolve(&mut self, reference: &'a str) -> Json<'a> {
        match self.ids.get(reference) {
            Some((json, count)) if *count <= self.budget => {
                self.budget -= count;
                Json::Shared(Rc::clone(json))
            }
            _ => {
                let mut obj = Obj::default();
                obj.set(Cow::Borrowed("@ref"), Json::Str(Cow::Borrowed(reference)));
                Json::Obj(obj)
            }
        }
    }
}

/// JSON text, as pydantic-core writes the same Python value.
pub fn write(json: &Json<'_>, out: &mut String) {
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(v) => out.push_str(&v.to_string()),
        Json::UInt(v) => out.push_str(&v.to_string()),
        Json::Float(v) => json_double(*v, out),
        Json::Str(s) => json_string(s, out),
        Json::Shared(inner) => write(inner, out),
        Json::Leaf(leaf) => write_leaf(leaf, out),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Obj(obj) => {
            out.push('{');
            for (i, (k, v)) in obj.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
    }
}

/// A text value as its JSON: numbers and booleans as such, the rest as the string .NET renders.
pub fn write_leaf(leaf: &Leaf<'_>, out: &mut String) {
    match leaf {
        Leaf::Plain(s) => json_string(s, out),
        Leaf::Typed(v) => match v {
            Val::Int(_) | Val::UInt(_) => {
                v.write_plain_text(out);
            }
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Double(d) if d.is_finite() => json_double(*d, out),
            Val::Double(d) => json_string(&format_double(*d), out),
            Val::Single(f) => {
                // the number .NET prints (0.1), not the single widened to double (0.10000000149…)
                let text = format_float(f64::from(*f));
                match text.parse::<f64>() {
                    Ok(value) if text.ends_with(|c: char| c.is_ascii_digit()) => {
                        json_double(value, out)
                    }
                    _ => json_string(&text, out),
                }
            }
            Val::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_leaf(item, out);
                }
                out.push(']');
            }
            Val::QName(..) => json_string(&v.text(), out),
            _ => {
                out.push('"');
                v.write_plain_text(out);
                out.push('"');
            }
        },
    }
}

pub fn to_string(json: &Json<'_>) -> String {
    let mut out = String::with_capacity(256);
    write(json, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use crate::soap::message_from_document;
    use crate::structure::{decode, Limits};

    /// The body JSON of <s:Envelope xmlns:s=SOAP12><s:Body>{body}</s:Body></s:Envelope>.
    fn body(records: &[u8]) -> String {
        let mut doc = b"\x56\x02\x0b\x01s\x04\x56\x0e".to_vec();
        doc.extend_from_slice(records);
        doc.extend_from_slice(b"\x01\x01");
        let decoded = decode(&doc, 0, &[], Limits::default());
        decoded
            .and_then(|d| message_from_document(&d, &[]).map(|m| m.body))
            .unwrap_or_else(|e| e.name.to_owned())
    }

    #[test]
    fn datacontract_conventions() {
        // repeated names become a list; an empty operation is {}
        assert_eq!(
            body(b"\x40\x02Op\x40\x01a\x83\x40\x01b\x85\x40\x01a\x81\x01"),
            r#"{"Op":{"a":[1,0],"b":false}}"#
        );
        assert_eq!(body(b"\x40\x02Op\x01"), r#"{"Op":{}}"#);
        // i:nil="true" -> null
        let nil = b"\x40\x02Op\x09\x01i\x29http://www.w3.org/2001/XMLSchema-instance\x40\x01a\x2e\x03nil\x86\x01\x01";
        assert_eq!(body(nil), r#"{"Op":{"a":null}}"#);
    }
}
