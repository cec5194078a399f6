//! The fields of an iikoRMS call that decoders/http_body.py reads from its text (the content coding,
//! the charset, whether a body is XML, `<service>` and `methodName` of the URI, the `<result>`
//! verdict), read exactly as Python reads them, or not at all: `None` leaves the exchange to the
//! pure-Python path (a percent-escape in the query, a non-ASCII header, a body Python parses
//! otherwise). `rms_python.rs` makes the `rms.call` event from them.
#![forbid(unsafe_code)]

use crate::iiko_json::{self, Value};
use crate::text::py_strip;
use memchr::memmem;

/// How a body is content-coded, where the core reads the coding as `decode_content` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    /// `gzip` / `x-gzip`: zlib's window bits 16 + 15.
    Gzip,
    /// `deflate`, zlib-wrapped (Python tries raw deflate after: a failure is Python's to retry).
    Zlib,
}

impl Coding {
    /// The window bits zlib takes for it (`decoders.inflate`'s GZIP, ZLIB); None for identity.
    pub fn window_bits(self) -> Option<i32> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some(16 + 15),
            Coding::Zlib => Some(15),
        }
    }
}

/// `(encoding or "identity").strip().lower()` read as `decode_content` reads it; None for a coding
/// it refuses or text that is not ASCII (Python's `lower` is Unicode's).
pub fn coding(encoding: Option<&str>) -> Option<Coding> {
    let text = py_strip(encoding.filter(|e| !e.is_empty()).unwrap_or("identity"));
    if !text.is_ascii() {
        return None;
    }
    match text.to_ascii_lowercase().as_str() {
        "identity" | "" => Some(Coding::Identity),
        "gzip" | "x-gzip" => Some(Coding::Gzip),
        "deflate" => Some(Coding::Zlib),
        _ => None,
    }
}

/// `charset=\"?([\w.-]+)` searched without case in a Content-Type, as `xml_to_json` does: the
/// charset, or none; None (Python's) for text that is not ASCII, where `\w` is Unicode's.
pub fn charset(content_type: &str) -> Option<Option<&str>> {
    if !content_type.is_ascii() {
        return None;
    }
    let lower = content_type.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower.get(from..)?.find("charset=") {
        let mut start = from + found + "charset=".len();
        if content_type.as_bytes().get(start) == Some(&b'"') {
            start += 1;
        }
        let rest = content_type.get(start..)?;
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(rest.len());
        if end > 0 {
            return Some(rest.get(..end));
        }
        from += found + 1;
    }
    Some(None)
}

/// `is_xml`: an XML media type, or a body whose first byte after ASCII white space is `<`.
pub fn is_xml(content_type: &str, body: &[u8]) -> bool {
    content_type.contains("xml")
        || body
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c'))
            == Some(&b'<')
}

/// `split_uri`: (what precedes the query, the query or None if there is no `?`), the fragment off.
pub fn split_uri(uri: &str) -> (&str, Option<&str>) {
    let before_fragment = uri.split_once('#').map_or(uri, |(before, _)| before);
    match before_fragment.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (before_fragment, None),
    }
}

/// `RESTO_SERVICE` (`/resto/services/([^/?]+)`) searched in a URI's path: the first occurrence
/// followed by a name.
pub fn service(path: &str) -> Option<&str> {
    const MARK: &str = "/resto/services/";
    let mut from = 0;
    while let Some(found) = path.get(from..)?.find(MARK) {
        let start = from + found + MARK.len();
        let rest = path.get(start..)?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if end > 0 {
            return rest.get(..end);
        }
        from = start;
    }
    None
}

/// `parse_qs(query).get("methodName")`'s first value; None (Python's) where the query holds a `%`
/// or a `+`, which `parse_qs` decodes.
pub fn method_name(query: &str) -> Option<Option<&str>> {
    if query.contains(['%', '+']) {
        return None;
    }
    let value = query
        .split('&')
        .filter_map(|field| field.split_once('='))
        .find(|(name, value)| *name == "methodName" && !value.is_empty());
    Some(value.map(|(_, value)| value))
}

/// iikoRMS's verdict (`result_fields`): (`success` read as a boolean, `errorString`), each None
/// when the reply lacks it; the outer None where Python must parse the text (`iiko_json::parse`).
pub type Verdict = (Option<bool>, Option<String>);

/// `result_fields` of a reply's JSON text (the core's, or None for no body JSON).
pub fn verdict(json: Option<&[u8]>) -> Option<Verdict> {
    const NONE: Verdict = (None, None);
    let Some(text) = json.filter(|text| memmem::find(text, b"\"result\":{").is_some()) else {
        return Some(NONE);
    };
    let (doc, root) = iiko_json::parse(text)?;
    if root.value != Value::Object {
        return Some(NONE);
    }
    let entries = doc.entries(&root)?;
    let Some(result) = entries.iter().find(|entry| entry.key == "result") else {
        return Some(NONE);
    };
    if result.node.value != Value::Object {
        return Some(NONE);
    }
    let fields = doc.entries(&result.node)?;
    let text_of = |key: &str| {
        fields
            .iter()
            .find(|entry| entry.key == key)
            .and_then(|entry| entry.node.as_str())
    };
    let success = text_of("success").map(|s| py_strip(s).eq_ignore_ascii_case("true"));
    Some((success, text_of("errorString").map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_read_as_python_reads_them() {
        assert_eq!(coding(None), Some(Coding::Identity));
        assert_eq!(coding(Some("")), Some(Coding::Identity));
        assert_eq!(coding(Some("  ")), Some(Coding::Identity));
        assert_eq!(coding(Some(" GZip\t")), Some(Coding::Gzip));
        assert_eq!(coding(Some("x-gzip")), Some(Coding::Gzip));
        assert_eq!(coding(Some("Deflate")), Some(Coding::Zlib));
        assert_eq!(coding(Some("br")), None);
        assert_eq!(coding(Some("gzip, identity")), None);
        assert_eq!(coding(Some("gzıp")), None);
    }

    #[test]
    fn the_charset_is_the_first_that_names_one() {
        assert_eq!(charset("text/xml; charset=UTF-8"), Some(Some("UTF-8")));
        assert_eq!(charset("text/xml;CharSet=\"utf-8\""), Some(Some("utf-8")));
        assert_eq!(
            charset("text/xml; charset=; charset=koi8-r"),
            Some(Some("koi8-r"))
        );
        assert_eq!(charset("text/xml; charset=\"\"; x"), Some(None));
        assert_eq!(charset("text/xml"), Some(None));
        assert_eq!(charset("text/xml; charset=é"), None);
    }

    #[test]
    fn xml_by_type_or_first_byte() {
        assert!(is_xml("text/xml", b"{}"));
        assert!(is_xml("", b" \r\n\x0b\x0c\t<a/>"));
        assert!(!is_xml("", b"\xa0<a/>"));
        assert!(!is_xml("application/json", b""));
    }

    #[test]
    fn service_and_method_as_the_regex_and_parse_qs_find_them() {
        let (path, query) = split_uri("/resto/services/orders?methodName=save#x?y");
        assert_eq!(
            (path, query),
            ("/resto/services/orders", Some("methodName=save"))
        );
        assert_eq!(split_uri("/a#b?c"), ("/a", None));
        assert_eq!(service("/resto/services//resto/services/x/y"), Some("x"));
        assert_eq!(service("/resto/services/"), None);
        assert_eq!(service("/x/resto/services/a b"), Some("a b"));
        assert_eq!(
            method_name("methodName=&methodName&a=1&methodName=b&methodName=c"),
            Some(Some("b"))
        );
        assert_eq!(method_name(""), Some(None));
        assert_eq!(method_name("methodName=a=b"), Some(Some("a=b")));
        assert_eq!(method_name("methodName=a+b"), None);
        assert_eq!(method_name("method%4Eame=a"), None);
    }

    #[test]
    fn the_verdict_of_the_result_element() {
        let of = |text: &str| verdict(Some(text.as_bytes()));
        assert_eq!(
            of(r#"{"result":{"success":" TRUE ","errorString":"x"}}"#),
            Some((Some(true), Some("x".into())))
        );
        assert_eq!(
            of(r#"{"result":{"success":"false","errorString":{"a":1}}}"#),
            Some((Some(false), None))
        );
        assert_eq!(of(r#"{"result":{"success":null}}"#), Some((None, None)));
        assert_eq!(
            of(r#"{"other":{"result":{"success":"true"}}}"#),
            Some((None, None))
        );
        assert_eq!(of(r#"{"result":"x"}"#), Some((None, None)));
        assert_eq!(
            of(r#"{"result":{"success":"true","success":"false"}}"#),
            None
        );
        assert_eq!(verdict(None), Some((None, None)));
    }
}
