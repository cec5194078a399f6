//! Text XML (the iikoRMS HTTP bodies) to the element tree decoders/xml_text.py `parse_text_xml` builds
//! with defusedxml/expat and its `_TreeBuilder`: prefixes recovered from the declarations in scope,
//! xmlns attributes first, comments kept, text runs joined. Only well-formed UTF-8 input in the
//! plain shape is read here; anything else (a DTD, a processing instruction, another encoding, a
//! non-ASCII name, any error, a limit reached) is `None` and the Python reader runs, so every
//! error text stays expat's own.
#![forbid(unsafe_code)]

use crate::json::{self, JsonBuilder};
use crate::scope::Scope;
use crate::stream::{streamable, Writer};
use crate::structure::{index32, Limits};
use crate::text::json_string;
use crate::tree::{Document, Elem, Item, Leaf, Str};
use crate::xmlchars::{append, Cursor};
use crate::xmlns::{Namespaces, Written};
use std::borrow::Cow;

/// Attributes of one start tag read here (duplicates are found pairwise); a tag with more is
/// left to expat, which hashes them.
const MAX_ATTRIBUTES: usize = 64;

/// The text expat would parse: `payload` after its BOM, or as decoders/soap.py hands it over when
/// the transport names the encoding (its XML declaration dropped). None: not UTF-8.
fn prepare<'a>(payload: &'a [u8], encoding: Option<&str>) -> Option<&'a str> {
    if payload.starts_with(b"\xff\xfe") || payload.starts_with(b"\xfe\xff") {
        return None;
    }
    if let Some(after_bom) = payload.strip_prefix(b"\xef\xbb\xbf") {
        return core::str::from_utf8(after_bom).ok();
    }
    let text = core::str::from_utf8(payload).ok()?;
    let Some(encoding) = encoding else {
        return Some(text);
    };
    if !(encoding.eq_ignore_ascii_case("utf-8") || encoding.eq_ignore_ascii_case("utf8")) {
        return None;
    }
    // re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1), for ASCII \s (other spaces: not mine)
    let declaration = text.trim_start_matches([' ', '\t', '\r', '\n']);
    let rest = match declaration.strip_prefix("<?xml") {
        Some(after) => match after.find('>') {
            Some(end) if after.get(..end)?.ends_with('?') => after.get(end + 1..)?,
            _ => text,
        },
        None => text,
    };
    (!rest.starts_with('\u{FEFF}')).then_some(rest)
}

/// decoders/http_body.py `xml_to_json`: `{root name: element_to_json(root)}` as JSON text, or None:
/// the Python reader's to decide.
pub fn body_json(payload: &[u8], encoding: Option<&str>, limits: Limits) -> Option<String> {
    let doc = read(payload, encoding, limits)?;
    root_json(&doc, payload.len())
}

fn root_json<'d>(doc: &'d Document<'d>, size: usize) -> Option<String> {
    let root = doc.root()?;
    let mut out = String::with_capacity(size + 16);
    let mut scope = Scope::root();
    out.push('{');
    json_string(root.name(), &mut out);
    out.push(':');
    if streamable(doc) {
        let mut writer = Writer::new(&[], size + 16);
        writer.element(&root, &mut scope, false);
        out.push_str(&writer.out);
    } else {
        json::write(&JsonBuilder::new(&[]).convert(&root, &mut scope), &mut out);
    }
    out.push('}');
    Some(out)
}

/// ` name="value"` of the XML declaration: the value as written (no references), None if absent.
fn pseudo_attribute<'a>(name: &str, cursor: &mut Cursor<'a>) -> Option<Option<&'a str>> {
    let mark = cursor.pos;
    if !(cursor.space() && cursor.eat(name)) {
        cursor.pos = mark;
        return Some(None);
    }
    cursor.space();
    cursor.eat("=").then_some(())?;
    cursor.space();
    let quote = cursor.peek().filter(|q| matches!(q, b'"' | b'\''))?;
    cursor.pos += 1;
    let rest = cursor.rest();
    let end = rest.find(quote as char)?;
    cursor.pos += end + 1;
    rest.get(..end).map(Some)
}

/// An open element: its tape index, its name as written (the end tag must repeat it) and where its
/// declarations start in the scope.
struct Open<'a> {
    index: usize,
    qname: &'a str,
    scope_mark: usize,
}

struct Reader<'a> {
    cursor: Cursor<'a>,
    doc: Document<'a>,
    open: Vec<Open<'a>>,
    namespaces: Namespaces<'a>,
    text: Option<Str<'a>>,
    limits: Limits,
    elements: usize,
}

/// The tree of a well-formed UTF-8 document, or None: the Python reader's to decide.
pub fn read<'a>(payload: &'a [u8], encoding: Option<&str>, limits: Limits) -> Option<Document<'a>> {
    let text = prepare(payload, encoding)?;
    let mut reader = Reader {
        cursor: Cursor { text, pos: 0 },
        doc: Document::default(),
        open: Vec::new(),
        namespaces: Namespaces::new(),
        text: None,
        limits,
        elements: 0,
    };
    reader.document()?;
    Some(reader.doc)
}

impl<'a> Reader<'a> {
    fn document(&mut self) -> Option<()> {
        if self.cursor.eat("<?xml") {
            self.declaration()?;
        }
        self.misc()?;
        self.start_tag()?;
        while !self.open.is_empty() {
            self.content()?;
        }
        self.misc()?;
        (self.cursor.peek().is_none()).then_some(())
    }

    /// `version="1.0"`, an optional UTF-8 `encoding`, an optional `standalone`, then `?>`.
    fn declaration(&mut self) -> Option<()> {
        let version = pseudo_attribute("version", &mut self.cursor)?;
        let encoding = pseudo_attribute("encoding", &mut self.cursor)?;
        let standalone = pseudo_attribute("standalone", &mut self.cursor)?;
        self.cursor.space();
        let fine = version == Some("1.0")
            && encoding.is_none_or(|e| e.eq_ignore_ascii_case("utf-8"))
            && standalone.is_none_or(|s| s == "yes" || s == "no")
            && self.cursor.eat("?>");
        fine.then_some(())
    }

    /// Space and comments around the root element; then `<` of an element or the end.
    fn misc(&mut self) -> Option<()> {
        loop {
            self.cursor.space();
            if self.cursor.eat("<!--") {
                let comment = self.cursor.comment()?;
                self.doc.items.push(Item::Comment(comment));
            } else if self.cursor.rest().starts_with(['<']) {
                let next = self.cursor.rest().as_bytes().get(1).copied();
                return (!matches!(next, Some(b'!' | b'?' | b'/'))).then_some(());
            } else {
                return self.cursor.peek().is_none().then_some(());
            }
        }
    }

    /// One piece of an element's content: text, a child's start, an end tag, a comment or CDATA.
    fn content(&mut self) -> Option<()> {
        match self.cursor.peek()? {
            b'<' => {}
            _ => {
                let data = self.cursor.char_data()?;
                append(&mut self.text, data);
                return Some(());
            }
        }
        if self.cursor.eat("<![CDATA[") {
            let data = self.cursor.cdata()?;
            append(&mut self.text, data);
        } else if self.cursor.eat("<!--") {
            let comment = self.cursor.comment()?;
            self.flush_text();
            self.doc.items.push(Item::Comment(comment));
        } else if self.cursor.eat("</") {
            self.end_tag()?;
        } else {
            self.start_tag()?;
        }
        Some(())
    }

    fn flush_text(&mut self) {
        if let Some(text) = self.text.take() {
            self.doc.items.push(Item::Leaf(Leaf::Plain(text)));
        }
    }

    fn end_tag(&mut self) -> Option<()> {
        let (_, _, qname) = self.cursor.qname()?;
        self.cursor.space();
        let open = self.open.pop()?;
        if !self.cursor.eat(">") || qname != open.qname {
            return None;
        }
        self.flush_text();
        self.close(open);
        Some(())
    }

    fn close(&mut self, open: Open<'a>) {
        let end = index32(self.doc.items.len());
        if let Some(Item::Element(e)) = self.doc.items.get_mut(open.index) {
            e.end = end;
        }
        self.namespaces.leave(open.scope_mark);
    }

    /// `<name attributes>` or `<name attributes/>`, whole and checked before the element is added
    /// (as expat checks it before its start handler runs).
    fn start_tag(&mut self) -> Option<()> {
        self.cursor.eat("<").then_some(())?;
        let (prefix, local, qname) = self.cursor.qname()?;
        let mut written: Vec<Written<'a>> = Vec::new();
        let empty = loop {
            let spaced = self.cursor.space();
            if self.cursor.eat("/>") {
                break true;
            }
            if self.cursor.eat(">") {
                break false;
            }
            if !spaced || written.len() >= MAX_ATTRIBUTES {
                return None;
            }
            let attribute = self.attribute()?;
            if written.iter().any(|w| w.qname == attribute.qname) {
                return None; // duplicate attribute
            }
            written.push(attribute);
        };
        if self.open.len() >= self.limits.max_depth || self.elements >= self.limits.max_elements {
            return None; // Python raises the limit's anomaly
        }
        self.elements += 1;
        self.flush_text();
        let scope_mark = self.namespaces.mark();
        let attrs_start = index32(self.doc.attributes.len());
        self.namespaces.start(written, &mut self.doc.attributes)?;
        let prefix = self.namespaces.element_prefix(prefix)?;
        let index = self.doc.items.len();
        self.doc.items.push(Item::Element(Elem {
            prefix,
            name: Cow::Borrowed(local),
            attrs: (attrs_start, index32(self.doc.attributes.len())),
            end: index32(index + 1),
        }));
        let open = Open {
            index,
            qname,
            scope_mark,
        };
        if empty {
            self.close(open);
        } else {
            self.open.push(open);
        }
        Some(())
    }

    /// ` name="value"` in a start tag.
    fn attribute(&mut self) -> Option<Written<'a>> {
        let (prefix, local, qname) = self.cursor.qname()?;
        self.cursor.space();
        self.cursor.eat("=").then_some(())?;
        self.cursor.space();
        let value = self.cursor.attribute_value()?;
        Some(Written {
            prefix,
            local,
            qname,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::document_xml;

    fn tree(payload: &[u8], encoding: Option<&str>) -> Option<String> {
        read(payload, encoding, Limits::default()).map(|doc| document_xml(&doc))
    }

    #[test]
    fn prefixes_are_the_innermost_bound_to_the_namespace() {
        let doc = b"<a xmlns='u' xmlns:p='u'><p:b p:c='1'/><b xmlns:q='u' q:c='2'/></a>";
        let doc = read(doc, None, Limits::default());
        let names: Vec<String> = doc
            .iter()
            .flat_map(|d| d.items.iter())
            .filter_map(|item| match item {
                Item::Element(e) => Some(format!("{}:{}", e.prefix, e.name)),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["p:a", "p:b", "q:b"]);
    }

    #[test]
    fn the_transport_encoding_drops_the_declaration() {
        let doc = b" <?xml version='1.0' encoding='windows-1251'?><a>x</a>";
        assert!(tree(doc, Some("UTF-8")).is_some());
        assert_eq!(tree(doc, None), None);
        assert_eq!(tree(b"<a/>", Some("windows-1251")), None);
        assert_eq!(tree(b"\xff\xfe<\x00a\x00/\x00>\x00", None), None);
    }

    #[test]
    fn not_mine_on_any_error_or_limit() {
        for bad in [
            &b"<a>x</b>"[..],
            b"<a b='1' b='2'/>",
            b"<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
            b"<p:a/>",
            b"<!DOCTYPE a><a/>",
            b"<a/><b/>",
            b"<a>&#0;</a>",
        ] {
            assert_eq!(tree(bad, None), None);
        }
        let limits = Limits {
            max_depth: 1,
            max_elements: 10,
        };
        assert!(read(b"<a/>", None, limits).is_some());
        assert!(read(b"<a><b/></a>", None, limits).is_none());
    }

    #[test]
    fn the_body_json_is_keyed_by_the_root_name() {
        let json = body_json(
            b"<p:r xmlns:p='u'><a>1</a><b/></p:r>",
            None,
            Limits::default(),
        );
        assert_eq!(json.as_deref(), Some(r#"{"r":{"a":"1","b":""}}"#));
    }
}
