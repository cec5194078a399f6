//! The SOAP view of a decoded envelope: decoders/soap.py `message_from_document` (version by
//! envelope namespace, WS-Addressing headers, the Body as JSON with the empty-operation `{}` rule,
//! SOAP 1.1/1.2 faults).
#![forbid(unsafe_code)]

use crate::error::{DecodeError, Result};
use crate::json::{to_string, Json, JsonBuilder, Obj, Scope};
use crate::text::py_strip;
use crate::tree::{Document, Node};
use std::borrow::Cow;

pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const WSA: [Option<&str>; 2] = [
    Some("http://www.w3.org/2005/08/addressing"),
    Some("http://schemas.xmlsoap.org/ws/2004/08/addressing"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub code: Option<String>,
    pub subcode: Option<String>,
    pub reason: Option<String>,
    /// element_to_json of the detail element as JSON text; None if absent.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub version: &'static str,
    pub action: Option<String>,
    pub message_id: Option<String>,
    pub relates_to: Option<String>,
    pub to: Option<String>,
    pub reply_to: Option<String>,
    pub body: String,
    pub body_element: Option<String>,
    pub fault: Option<Fault>,
}

/// The first child element `name` in one of `namespaces`, given the scope around `e` (entered).
fn find<'d>(
    e: &Node<'d, 'd>,
    scope: &Scope<'d>,
    name: &str,
    namespaces: &[Option<&str>],
) -> Option<Node<'d, 'd>> {
    e.elements()
        .find(|c| c.name() == name && namespaces.contains(&scope.namespace_of(c)))
}

fn stripped(e: Node<'_, '_>) -> String {
    py_strip(&e.text()).to_owned()
}

pub fn message_from_document<'d>(doc: &'d Document<'d>, collections: &[String]) -> Result<Message> {
    let Some(root) = doc.root() else {
        return Err(not_envelope("no root element".into(), None));
    };
    let mut scope = Scope::root();
    let envelope_ns = scope.namespace_of(&root);
    let version = match envelope_ns {
        Some(SOAP11_NS) => "1.1",
        Some(SOAP12_NS) => "1.2",
        _ => "",
    };
    if root.name() != "Envelope" || version.is_empty() {
        let detail = format!(
            "root element '{}' in namespace {envelope_ns:?}",
            root.qname()
        );
        return Err(not_envelope(
            detail,
            Some((root.qname(), envelope_ns.map(str::to_owned))),
        ));
    }
    scope.enter(&root);
    let soap_ns = [envelope_ns];
    let Some(body) = find(&root, &scope, "Body", &soap_ns) else {
        return Err(not_envelope("Envelope has no Body".into(), None));
    };
    let mut headers: [Option<String>; 5] = Default::default();
    const NAMES: [&str; 5] = ["Action", "MessageID", "RelatesTo", "To", "ReplyTo"];
    if let Some(header) = find(&root, &scope, "Header", &soap_ns) {
        let mark = scope.enter(&header);
        for child in header.elements() {
            let Some(i) = NAMES.iter().position(|n| *n == child.name()) else {
                continue;
            };
            let Some(slot) = headers.get_mut(i) else {
                continue;
            };
            if slot.is_some() || !WSA.contains(&scope.namespace_of(&child)) {
                continue;
            }
            let inner = scope.enter(&child);
            *slot = if child.name() == "ReplyTo" {
                find(&child, &scope, "Address", &WSA).map(stripped)
            } else {
                Some(stripped(child))
            };
            scope.leave(inner);
        }
        scope.leave(mark);
    }
    let body_mark = scope.enter(&body);
    let first = body.elements().next();
    let mut fault = None;
    if let Some(f) = first.filter(|f| f.name() == "Fault" && scope.namespace_of(f) == envelope_ns) {
        let mark = scope.enter(&f);
        fault = Some(read_fault(f, &mut scope, envelope_ns, version));
        scope.leave(mark);
    }
    scope.leave(body_mark);
    let body_json = body_json(body, &mut scope, collections);
    let [action, message_id, relates_to, to, reply_to] = headers;
    Ok(Message {
        version,
        action,
        message_id,
        relates_to,
        to,
        reply_to,
        body: body_json,
        body_element: first.map(|f| f.name().to_owned()),
        fault,
    })
}

fn not_envelope(detail: String, quoted: Option<(String, Option<String>)>) -> DecodeError {
    DecodeError {
        name: "soap_not_envelope",
        detail,
        offset: None,
        quoted,
    }
}

/// element_to_json of Body, but an empty operation element is {} rather than "".
fn body_json<'d>(body: Node<'d, 'd>, scope: &mut Scope<'d>, collections: &[String]) -> String {
    let mut converted = JsonBuilder::new(collections).convert(&body, scope);
    if let Json::Shared(shared) = &converted {
        converted = shared.get().clone(); // a Body with z:Id: change a copy
    }
    if let Json::Obj(obj) = &mut converted {
        for child in body.elements().filter(|c| !c.has_children()) {
            if matches!(obj.get(child.name()).map(Json::get), Some(Json::Str(s)) if s.is_empty()) {
                obj.set(Cow::Borrowed(child.name()), Json::Obj(Obj::default()));
            }
        }
    }
    to_string(&converted)
}

/// `fault`'s fields; `scope` is the scope inside it.
fn read_fault<'d>(
    fault: Node<'d, 'd>,
    scope: &mut Scope<'d>,
    soap_ns: Option<&str>,
    version: &str,
) -> Fault {
    let in_soap = [soap_ns];
    let no_namespace = [None, Some("")];
    let namespaces: &[Option<&str>] = if version == "1.1" {
        &no_namespace
    } else {
        &in_soap
    };
    let text_of = |path: &[&str], scope: &mut Scope<'d>| {
        let mark = scope.enter(&fault);
        let mut element = fault;
        let mut found = true;
        for name in path {
            match find(&element, scope, name, namespaces) {
                Some(next) => {
                    element = next;
                    scope.enter(&next);
                }
                None => {
                    found = false;
                    break;
                }
            }
        }
        scope.leave(mark);
        found.then(|| stripped(element))
    };
    let detail_name = if version == "1.1" { "detail" } else { "Detail" };
    let detail = find(&fault, scope, detail_name, namespaces).map(|d| {
        let mark = scope.enter(&d);
        let json = JsonBuilder::new(&[]).convert(&d, scope);
        scope.leave(mark);
        to_string(&json)
    });
    if version == "1.1" {
        return Fault {
            code: text_of(&["faultcode"], scope),
            subcode: None,
            reason: text_of(&["faultstring"], scope),
            detail,
        };
    }
    Fault {
        code: text_of(&["Code", "Value"], scope),
        subcode: text_of(&["Code", "Subcode", "Value"], scope),
        reason: text_of(&["Reason", "Text"], scope),
        detail,
    }
}
