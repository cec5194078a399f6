//! The document as XML text, as WCF's XmlDictionaryWriter (text) writes it: `Document.to_xml` of
//! decoders/nbfx.py (no declaration; empty elements as `<a/>`; XmlUTF8NodeWriter escaping).
#![forbid(unsafe_code)]

use crate::text::{escape_attribute, escape_text};
use crate::tree::{Document, Element, Node};

pub fn document_xml(doc: &Document<'_>) -> String {
    let mut out = String::with_capacity(1024);
    for node in &doc.nodes {
        match node {
            Node::Element(e) => render(e, &mut out),
            Node::Comment(c) => comment(c, &mut out),
            Node::Plain(_) | Node::Text(_) => {}
        }
    }
    out
}

fn comment(text: &str, out: &mut String) {
    out.push_str("<!--");
    out.push_str(text);
    out.push_str("-->");
}

fn qname(e: &Element<'_>, out: &mut String) {
    if !e.prefix.is_empty() {
        out.push_str(&e.prefix);
        out.push(':');
    }
    out.push_str(&e.name);
}

fn text_of<'n>(node: &'n Node<'_>) -> Option<&'n str> {
    match node {
        Node::Plain(s) => Some(s),
        Node::Text(t) => Some(&t.text),
        Node::Element(_) | Node::Comment(_) => None,
    }
}

fn end_tag(e: &Element<'_>, out: &mut String) {
    out.push_str("</");
    qname(e, out);
    out.push('>');
}

pub fn render(e: &Element<'_>, out: &mut String) {
    out.push('<');
    qname(e, out);
    for a in &e.attributes {
        out.push(' ');
        if !a.prefix.is_empty() {
            out.push_str(&a.prefix);
            out.push(':');
        }
        out.push_str(&a.name);
        out.push_str("=\"");
        escape_attribute(&a.value, out);
        out.push('"');
    }
    let mut opened = false;
    for child in &e.children {
        match child {
            Node::Element(inner) => {
                if !opened {
                    out.push('>');
                    opened = true;
                }
                render(inner, out);
            }
            Node::Comment(c) => {
                if !opened {
                    out.push('>');
                    opened = true;
                }
                comment(c, out);
            }
            _ => {
                let text = text_of(child).unwrap_or_default();
                if !text.is_empty() {
                    if !opened {
                        out.push('>');
                        opened = true;
                    }
                    escape_text(text, out);
                }
            }
        }
    }
    if opened {
        end_tag(e, out);
    } else {
        out.push_str("/>");
    }
}

#[cfg(test)]
mod tests {
    use crate::structure::{decode, Limits};

    fn xml(data: &[u8]) -> String {
        decode(data, 0, &[], Limits::default())
            .map_or_else(|e| e.name.to_string(), |d| super::document_xml(&d))
    }

    #[test]
    fn leaves_empties_and_comments() {
        // <a b="x&lt;">t</a>, then <a/> with an empty Chars8, then a comment in an element
        assert_eq!(
            xml(b"\x40\x01a\x04\x01b\x98\x02x<\x99\x01t"),
            "<a b=\"x&lt;\">t</a>"
        );
        assert_eq!(xml(b"\x40\x01a\x99\x00"), "<a/>");
        assert_eq!(
            xml(b"\x02\x01c\x40\x01a\x02\x02hi\x01"),
            "<!--c--><a><!--hi--></a>"
        );
        assert_eq!(
            xml(b"\x40\x01a\x40\x01b\x01\x98\x01\r\x01"),
            "<a><b/>&#xD;</a>"
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let whole: &[u8] = b"\x56\x02\x0b\x01s\x04\x0b\x01a\x06\x40\x03Foo\x8b\x01\x00\x01";
        assert_eq!(xml(whole), "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://www.w3.org/2005/08/addressing\"><Foo>1</Foo></s:Envelope>");
        for cut in 0..whole.len() {
            let part = whole.get(..cut).unwrap_or_default();
            assert_eq!(xml(part), "nbfx_truncated", "cut at {cut}");
        }
    }
}
