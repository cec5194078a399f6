//! The document as XML text, as WCF's XmlDictionaryWriter (text) writes it: `Document.to_xml` of
//! decoders/nbfx.py (no declaration; empty elements as `<a/>`; XmlUTF8NodeWriter escaping).
#![forbid(unsafe_code)]

use crate::text::{escape_attribute, escape_text};
use crate::tree::{Document, Item, Leaf, Node, Val};

pub fn document_xml(doc: &Document<'_>) -> String {
    let mut out = String::with_capacity(doc.items.len() * 24 + 64);
    for (i, item) in doc.top() {
        match item {
            Item::Element(_) => {
                if let Some(node) = doc.node(i) {
                    render(node, &mut out);
                }
            }
            Item::Comment(c) => comment(c, &mut out),
            Item::Leaf(_) => {}
        }
    }
    out
}

fn comment(text: &str, out: &mut String) {
    out.push_str("<!--");
    out.push_str(text);
    out.push_str("-->");
}

fn qname(node: &Node<'_, '_>, out: &mut String) {
    if !node.prefix().is_empty() {
        out.push_str(node.prefix());
        out.push(':');
    }
    out.push_str(node.name());
}

/// A value's text, escaped; numbers and dates need no escaping.
fn leaf_text(leaf: &Leaf<'_>, out: &mut String) {
    match leaf {
        Leaf::Plain(s) => escape_text(s, out),
        Leaf::Typed(v) => {
            if !v.write_plain_text(out) {
                escape_text(&leaf.text(), out);
            }
        }
    }
}

fn is_empty(leaf: &Leaf<'_>) -> bool {
    match leaf {
        Leaf::Plain(s) => s.is_empty(),
        Leaf::Typed(Val::Bytes(b)) => b.is_empty(),
        Leaf::Typed(Val::List(_)) => leaf.text().is_empty(),
        Leaf::Typed(_) => false,
    }
}

pub fn render(node: Node<'_, '_>, out: &mut String) {
    out.push('<');
    qname(&node, out);
    for a in node.attributes() {
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
    for (i, child) in node.children() {
        if let Item::Leaf(leaf) = child {
            if is_empty(leaf) {
                continue;
            }
        }
        if !opened {
            out.push('>');
            opened = true;
        }
        match child {
            Item::Element(_) => {
                if let Some(inner) = node.doc.node(i) {
                    render(inner, out);
                }
            }
            Item::Comment(c) => comment(c, out),
            Item::Leaf(leaf) => leaf_text(leaf, out),
        }
    }
    if opened {
        out.push_str("</");
        qname(&node, out);
        out.push('>');
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
