//! Unit tests of `nbfx`: every text record's rendering and errors, session ids resolved by odd id.
use crate::structure::{decode, Limits};
use crate::xml::document_xml;

fn leaf(record: &[u8]) -> String {
    let mut doc = b"\x40\x01a".to_vec();
    doc.extend_from_slice(record);
    decode(&doc, 0, &[], Limits::default()).map_or_else(
        |e| format!("{}: {}", e.name, e.detail),
        |d| document_xml(&d),
    )
}

#[test]
fn text_records() {
    assert_eq!(leaf(b"\x8b\xff\xff"), "<a>-1</a>");
    assert_eq!(leaf(b"\x93\x00\x00\x00\x00\x00\x00\xf0\x7f"), "<a>INF</a>");
    assert_eq!(leaf(b"\x91\xcd\xcc\xcc\x3d"), "<a>0.1</a>");
    assert_eq!(leaf(b"\xb7\x02A\x00"), "<a>A</a>");
    assert_eq!(
        leaf(b"\xb7\x01A"),
        "nbfx_bad_text: UTF-16 text of odd byte length"
    );
    assert_eq!(leaf(b"\x9f\x03abc"), "<a>YWJj</a>");
    assert_eq!(
        leaf(b"\xab\x04"),
        "<a>http://www.w3.org/2003/05/soap-envelope</a>"
    );
    assert_eq!(leaf(b"\xab\x05"), "<a>session:5</a>");
    assert_eq!(
        leaf(b"\xbd\x1a\x02"),
        "nbfx_bad_value: QName prefix index 26 beyond 'z'"
    );
    assert_eq!(
        leaf(b"\x9d\xff\xff\xff\xff"),
        "nbfx_bad_value: negative length -1"
    );
    assert_eq!(
        leaf(b"\x8d\x01\x00"),
        "nbfx_truncated: record needs 4 bytes, 2 left"
    );
}

#[test]
fn session_strings_resolve_by_odd_id() {
    let known = vec!["x".to_owned(), "y".to_owned()];
    let doc = decode(b"\x42\x03\x01", 0, &known, Limits::default());
    assert_eq!(
        doc.map(|d| (document_xml(&d), d.unresolved)),
        Ok(("<y/>".to_owned(), 0))
    );
    let doc = decode(b"\x42\x07\x01", 0, &known, Limits::default());
    assert_eq!(
        doc.map(|d| (document_xml(&d), d.unresolved)),
        Ok(("<session:7/>".to_owned(), 1))
    );
}
