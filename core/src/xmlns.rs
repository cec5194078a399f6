//! Namespaces of a text-XML start tag as expat (namespace processing on) and decoders/soap.py's
//! `_TreeBuilder` see them: declarations in the order written and listed first among the
//! attributes, each prefix recovered as the innermost one bound to its namespace (not the one
//! written), unbound prefixes and duplicate expanded names refused (None: not mine).
#![forbid(unsafe_code)]

use crate::json::XML_NS;
use crate::tree::{Attribute, Str};
use std::borrow::Cow;

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// An attribute as written in a start tag.
pub struct Written<'a> {
    pub prefix: &'a str,
    pub local: &'a str,
    pub qname: &'a str,
    pub value: Str<'a>,
}

/// The (prefix, uri) declarations in force, outermost first ("" is the default namespace).
pub struct Namespaces<'a> {
    scope: Vec<(&'a str, Str<'a>)>,
}

impl Default for Namespaces<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Namespaces<'a> {
    pub fn new() -> Self {
        Namespaces {
            scope: vec![("xml", Cow::Borrowed(XML_NS))],
        }
    }

    /// Where the declarations of the element about to start begin (to `leave` at its end).
    pub fn mark(&self) -> usize {
        self.scope.len()
    }

    pub fn leave(&mut self, mark: usize) {
        self.scope.truncate(mark);
    }

    /// A start tag's attributes into `out`: its declarations (entering the scope), then the rest.
    pub fn start(&mut self, written: Vec<Written<'a>>, out: &mut Vec<Attribute<'a>>) -> Option<()> {
        self.declare(&written, out)?;
        self.attributes(written, out)
    }

    /// The prefix `_TreeBuilder` gives an element written with `prefix`; None if unbound.
    pub fn element_prefix(&self, prefix: &str) -> Option<&'a str> {
        Some(match self.namespace(prefix)? {
            Some(uri) => self.recovered_prefix(uri, false),
            None => "",
        })
    }
}

/// The declarations a start tag makes, in the order written; refused: `xml`/`xmlns` (or any
/// `xml…` prefix), an undeclared prefix, the reserved namespaces, and `}` (the parser's separator).
fn declared<'a>(written: &Written<'a>) -> Option<Option<&'a str>> {
    let value = &written.value;
    let declares = match (written.prefix, written.local) {
        ("", "xmlns") => "",
        ("xmlns", declared) => declared,
        _ => return Some(None),
    };
    let reserved = declares
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("xml"));
    let refused = reserved
        || (value.is_empty() && !declares.is_empty())
        || value == XML_NS
        || value == XMLNS_NS
        || value.contains('}');
    (!refused).then_some(Some(declares))
}

impl<'a> Namespaces<'a> {
    /// The start tag's namespace declarations: into the scope, and first among its attributes.
    fn declare(&mut self, written: &[Written<'a>], out: &mut Vec<Attribute<'a>>) -> Option<()> {
        for attribute in written {
            let Some(prefix) = declared(attribute)? else {
                continue;
            };
            let value = attribute.value.clone();
            self.scope.push((prefix, value.clone()));
            out.push(if prefix.is_empty() {
                Attribute {
                    prefix: Cow::Borrowed(""),
                    name: Cow::Borrowed("xmlns"),
                    value,
                }
            } else {
                Attribute {
                    prefix: Cow::Borrowed("xmlns"),
                    name: Cow::Borrowed(prefix),
                    value,
                }
            });
        }
        Some(())
    }

    /// The other attributes, each prefix recovered; refused: two with one expanded name.
    fn attributes(
        &mut self,
        written: Vec<Written<'a>>,
        out: &mut Vec<Attribute<'a>>,
    ) -> Option<()> {
        let mut expanded: Vec<(Str<'a>, &'a str)> = Vec::new();
        for attribute in written {
            if declared(&attribute)?.is_some() {
                continue;
            }
            let Written {
                prefix,
                local,
                value,
                ..
            } = attribute;
            let recovered = if prefix.is_empty() {
                ""
            } else {
                let uri = self.bound(prefix)?.clone();
                if expanded.iter().any(|(u, l)| *u == uri && *l == local) {
                    return None;
                }
                let recovered = self.recovered_prefix(&uri, true);
                expanded.push((uri, local));
                recovered
            };
            out.push(Attribute {
                prefix: Cow::Borrowed(recovered),
                name: Cow::Borrowed(local),
                value,
            });
        }
        Some(())
    }

    /// The namespace a prefix is bound to (the innermost declaration); None if unbound.
    fn bound(&self, prefix: &str) -> Option<&Str<'a>> {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| *p == prefix)
            .map(|(_, uri)| uri)
    }

    /// An element's namespace: Some(None) for none, None (refused) for an unbound prefix.
    fn namespace(&self, prefix: &str) -> Option<Option<&Str<'a>>> {
        match prefix {
            "" => Some(self.bound("").filter(|uri| !uri.is_empty())),
            "xmlns" => None,
            _ => self.bound(prefix).map(Some),
        }
    }

    /// `_TreeBuilder._prefix`: the innermost prefix bound to `uri` (for an attribute, not "").
    fn recovered_prefix(&self, uri: &str, attribute: bool) -> &'a str {
        self.scope
            .iter()
            .rev()
            .find(|(p, u)| u == uri && !(attribute && p.is_empty()))
            .map_or("", |(p, _)| *p)
    }
}
