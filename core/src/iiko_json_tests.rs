//! `iiko_json` on the core's text, on what Python would read otherwise, and on random bytes.

use super::*;
use crate::iiko_check::plain_run;

/// The keys of the root object, None if the text or the object is refused.
fn keys(text: &str) -> Option<Vec<String>> {
    let (doc, root) = parse(text.as_bytes())?;
    let entries = doc.entries(&root)?;
    Some(entries.iter().map(|e| e.key.to_string()).collect())
}

#[test]
fn reads_what_the_core_writes_with_spans() {
    let text = r#"{"a":[1,-2.5e3,true,null,{"x":[]}],"b\"c":"x\u00e9\ud83d\ude00","d":{}}"#;
    let parsed = parse(text.as_bytes());
    assert!(parsed.is_some());
    let Some((doc, root)) = parsed else { return };
    let entries = doc.entries(&root).unwrap_or_default();
    let spans: Vec<&str> = entries
        .iter()
        .filter_map(|e| text.get(e.key_start..e.node.end))
        .collect();
    assert_eq!(
        spans,
        [
            r#""a":[1,-2.5e3,true,null,{"x":[]}]"#,
            r#""b\"c":"x\u00e9\ud83d\ude00""#,
            r#""d":{}"#
        ]
    );
    assert_eq!(entries.get(1).map(|e| e.key.as_ref()), Some("b\"c"));
    assert_eq!(
        entries.get(1).and_then(|e| e.node.as_str()),
        Some("x\u{e9}\u{1f600}")
    );
    let items = entries
        .first()
        .and_then(|e| doc.items(&e.node))
        .unwrap_or_default();
    let kinds: Vec<(&Value<'_>, &str)> = items
        .iter()
        .map(|n| (&n.value, text.get(n.start..n.end).unwrap_or("?")))
        .collect();
    assert_eq!(
        kinds,
        [
            (&Value::Number, "1"),
            (&Value::Number, "-2.5e3"),
            (&Value::Bool(true), "true"),
            (&Value::Null, "null"),
            (&Value::Object, r#"{"x":[]}"#)
        ]
    );
}

#[test]
fn refuses_what_python_would_read_otherwise_or_not_at_all() {
    for text in [
        r#"{"a":1,"a":2}"#,
        r#"{"a":"\ud800"}"#,
        r#"{"a":"\udc00x"}"#,
        r#"{"a":"\ud800\u0041"}"#,
        "[01]",
        "[1.]",
        "[-]",
        "[1e]",
        "NaN",
        "[Infinity]",
        "{\"a\":\"\t\"}",
        "[1,]",
        "{\"a\" 1}",
        "{} x",
        "\u{feff}{}",
        "",
    ] {
        assert!(keys(text).is_none(), "{text}");
    }
    assert!(parse(&[b'"', 0xff, b'"']).is_none());
    assert_eq!(
        keys(r#" { "a" : 1 , "b":2 } "#),
        Some(vec!["a".into(), "b".into()])
    );
    // a repeat in an object whose members are not read is Python's to parse with the object
    assert!(parse(br#"[{"a":1,"a":2}]"#).is_some());
}

#[test]
fn string_runs_end_at_the_first_quote_backslash_or_control_character() {
    let text = "abcdefghijklmnopqrstuvwxyz\u{e9}\u{7f}";
    for (stop, at) in [("\"", 0), ("\\", 1), ("\u{1f}", 2), ("\u{0}", 3)] {
        for cut in 0..text.len() {
            let Some((head, tail)) = text.split_at_checked(cut) else {
                continue;
            };
            let bytes = format!("{head}{stop}{tail}{stop}").into_bytes();
            for start in 0..=cut {
                assert_eq!(plain_run(&bytes, start), cut, "{at} {cut} {start}");
            }
        }
    }
    assert_eq!(plain_run(text.as_bytes(), 0), text.len());
    assert_eq!(plain_run(text.as_bytes(), text.len() + 5), text.len() + 5);
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(parse(deep(MAX_NESTING).as_bytes()).is_some());
    assert!(parse(deep(MAX_NESTING + 1).as_bytes()).is_none());
    assert!(parse(deep(100_000).as_bytes()).is_none());
}

#[test]
fn many_keys_are_checked_for_repeats_too() {
    let mut text: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    assert!(keys(&format!("{{{}}}", text.join(","))).is_some());
    text.push("\"k3\":0".into());
    assert!(keys(&format!("{{{}}}", text.join(","))).is_none());
}

/// Every container of the text read, members and items, to the leaves.
fn read_all(doc: &Doc<'_>, node: &Node<'_>) {
    match node.value {
        Value::Array => doc
            .items(node)
            .iter()
            .flatten()
            .for_each(|n| read_all(doc, n)),
        Value::Object => doc
            .entries(node)
            .iter()
            .flatten()
            .for_each(|e| read_all(doc, &e.node)),
        _ => {}
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let alphabet = b"{}[]\",:\\u0123456789abcdefeE+-.ntrl \xc3\xa9\xff";
    let mut read = 0;
    for _ in 0..50_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = usize::try_from(state % 24).unwrap_or(0);
        let mut s = state;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                s = s.rotate_left(5).wrapping_mul(0x2545_F491_4F6C_DD1D);
                let at = usize::try_from(s >> 58).unwrap_or(0) % alphabet.len();
                alphabet.get(at).copied().unwrap_or(b' ')
            })
            .collect();
        let _ = first_key(&bytes);
        if let Some((doc, root)) = parse(&bytes) {
            read += 1;
            read_all(&doc, &root);
        }
    }
    assert!(read > 100, "{read}");
}

#[test]
fn the_first_key_is_read_from_the_prefix_where_it_ends_there() {
    assert_eq!(first_key(b"[1]"), Ok(None));
    assert_eq!(first_key(b"{ \"a\":1}"), Ok(None)); // `{"` or nothing, as Python reads
    assert_eq!(
        first_key(br#"{"SaveOrder":{"x":1}}"#),
        Ok(Some("SaveOrder".into()))
    );
    assert_eq!(
        first_key(br#"{"a\"b\u00e9":1}"#),
        Ok(Some("a\"b\u{e9}".into()))
    );
    // the rest of the text is not read: Python's scanstring stops at the key's end too
    assert_eq!(first_key(br#"{"k":[[[not json"#), Ok(Some("k".into())));
    // a key longer than the prefix, and one whose prefix cut falls inside a character
    let long = format!("{{\"{}\":1}}", "\u{416}".repeat(400));
    assert_eq!(first_key(long.as_bytes()), Ok(Some("\u{416}".repeat(400))));
    let mut cut = b"{\"".to_vec();
    cut.extend(b"a".repeat(KEY_PREFIX - 3));
    cut.extend("\u{416}\":1}".as_bytes());
    assert_eq!(
        first_key(&cut).map(|k| k.map(|k| k.len())),
        Ok(Some(KEY_PREFIX - 1))
    );
    // Python's to read: a lone surrogate, a raw control character, a key that never ends, not UTF-8
    for text in [
        &br#"{"\ud800":1}"#[..],
        b"{\"a\x01\":1}",
        b"{\"abc",
        b"{\"\xff\":1}",
    ] {
        assert_eq!(first_key(text), Err(()), "{text:?}");
    }
}
