//! The SOAP view of a decoded envelope: decoders/soap.py `message_from_document` (version by
//! envelope namespace, WS-Addressing headers, the Body as JSON with the empty-operation `{}` rule,
//! SOAP 1.1/1.2 faults).
#![forbid(unsafe_code)]

use crate::error::{DecodeError, Result};
use crate::json::{to_string, Json, JsonBuilder, Obj};
use crate::scope::Scope;
use crate::stream::{streamable, Writer};
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
        fault = Some(read_fault(doc, f, &mut scope, envelope_ns, version));
        scope.leave(mark);
    }
    scope.leave(body_mark);
    let body_json = body_json(doc, body, &mut scope, collections);
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
fn body_json<'d>(
    doc: &'d Document<'d>,
    body: Node<'d, 'd>,
    scope: &mut Scope<'d>,
    collections: &[String],
) -> String {
    if streamable(doc) {
        let mut writer = Writer::new(collections, doc.items.len() * 16 + 64);
        writer.element(&body, scope, true);
        return writer.out;
    }
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

/// element_to_json of a fault's detail element.
fn detail_json<'d>(doc: &'d Document<'d>, detail: Node<'d, 'd>, scope: &mut Scope<'d>) -> String {
    if streamable(doc) {
        let mut writer = Writer::new(&[], 256);
        writer.element(&detail, scope, false);
        return writer.out;
    }
    to_string(&JsonBuilder::new(&[]).convert(&detail, scope))
}

/// `fault`'s fields; `scope` is the scope inside it.
fn read_fault<'d>(
    doc: &'d Document<'d>,
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
        let json = detail_json(doc, d, scope);
        scope.leave(mark);
        json
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionStrings, MAX_SESSION_BYTES};
    use crate::structure::{decode, Limits};

    const VECTORS: &str = include_str!("../../tests/vectors/net_tcp_vectors.txt");

    fn vector(label: &str) -> Vec<u8> {
        let line = VECTORS
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_default();
        (0..line.len() / 2)
            .filter_map(|i| {
                line.get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect()
    }

    #[test]
    fn a_dotnet_envelope_with_its_session_table() {
        let payload = vector("msg1: ");
        let mut session = SessionStrings::new(true);
        let (pos, added) = session
            .read_table(&payload, 0, MAX_SESSION_BYTES)
            .unwrap_or_default();
        assert_eq!(added, 6);
        let doc = decode(&payload, pos, &session.known, Limits::default());
        let message = doc.and_then(|d| message_from_document(&d, &[]));
        let message = message.map(|m| (m.version, m.action, m.body, m.body_element));
        let body = r#"{"LeaveRequest":{"EmployeeId":"E1","ReasonText":"Personal","TotalDays":1}}"#;
        let expected = (
            "1.2",
            Some("urn:DemoService/create".to_owned()),
            body.to_owned(),
            Some("LeaveRequest".to_owned()),
        );
        assert_eq!(message, Ok(expected));
    }

    #[test]
    fn not_an_envelope_and_every_cut() {
        let doc = decode(b"\x40\x01a\x01", 0, &[], Limits::default());
        let err = doc
            .and_then(|d| message_from_document(&d, &[]))
            .map(|m| m.version);
        assert_eq!(err.map_err(|e| e.name), Err("soap_not_envelope"));
        let payload = vector("msg1: ");
        for cut in 0..payload.len() {
            let part = payload.get(..cut).unwrap_or_default();
            let mut session = SessionStrings::new(true);
            let result = session
                .read_table(part, 0, MAX_SESSION_BYTES)
                .and_then(|(pos, _)| {
                    decode(part, pos, &session.known, Limits::default()).map(|d| d.items.len())
                });
            assert!(result.is_err(), "cut at {cut}");
        }
    }
}
