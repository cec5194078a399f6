//! `iiko_find` with a small oracle standing in for the Python rules (ASCII names, a few aliases);
//! the differential tests (tests/test_core_iiko.py) hold it to the Python recogniser itself.

use super::*;

/// The default rules' essentials: ASCII only, local name = after the last ':' or '.', lower case.
struct Rules {
    asked: usize,
}

fn local(name: &str) -> String {
    let name = name.rsplit([':', '.']).next().unwrap_or(name);
    name.trim_start_matches('@').to_ascii_lowercase()
}

fn at(keys: &[&str], aliases: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for alias in aliases {
        if let Some(i) = keys.iter().position(|k| local(k) == *alias) {
            out.push(i);
        }
    }
    out
}

impl Oracle for Rules {
    type Error = ();

    fn shape(&mut self, keys: &[&str]) -> Result<ShapePlan, ()> {
        self.asked += 1;
        let type_keys = at(keys, &["type", "eventtype"]);
        let item_lists = at(keys, &["items"]);
        let xsi_type = keys.iter().position(|k| *k == "@type");
        let mut order_keys = at(keys, &["orderid", "id", "number", "status"]);
        order_keys.sort_unstable();
        Ok(ShapePlan {
            candidate: !type_keys.is_empty() || !item_lists.is_empty() || xsi_type.is_some(),
            item_list: item_lists.first().copied(),
            children: (0..keys.len())
                .map(|i| {
                    let name = keys.get(i).map_or(String::new(), |k| local(k));
                    (i, name.contains("userevent"), name == "userevent")
                })
                .collect(),
            order_id: at(keys, &["orderid", "id"]),
            order_shown: at(keys, &["number", "status"]),
            order_keys,
            product: at(keys, &["product", "name"]),
            amount: at(keys, &["amount"]),
            type_keys,
            item_lists,
            xsi_type,
        })
    }

    fn name(&mut self, name: &str) -> Result<NamePlan, ()> {
        self.asked += 1;
        let known = ["orderOpened", "addItemToOrder"];
        Ok(NamePlan {
            known_type: known
                .iter()
                .find(|t| t.eq_ignore_ascii_case(name))
                .map(|t| (*t).to_owned()),
            event_name: local(name) == "userevent",
            names_events: local(name).contains("userevent"),
            lock: local(name)
                .contains("lock")
                .then(|| local(name).contains("unlock")),
        })
    }
}

fn run(texts: &[&str], in_events: bool) -> Option<Findings> {
    let texts: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
    find(
        &texts,
        in_events,
        &mut Rules { asked: 0 },
        &mut Tables::new(8),
    )
    .ok()
}

fn spans<'t>(text: &'t str, findings: &Findings) -> Vec<(&'t str, String)> {
    let mut out = Vec::new();
    for (_, found) in &findings.found {
        match found {
            Found::Event { ty, span: (a, b) } => {
                out.push((text.get(*a..*b).unwrap_or("?"), ty.clone()))
            }
            Found::Snapshot { order, lines } => {
                out.push(("snapshot", String::from_utf8_lossy(order).into_owned()));
                for (a, b) in lines {
                    out.push((text.get(*a..*b).unwrap_or("?"), String::new()));
                }
            }
        }
    }
    out
}

#[test]
fn user_events_by_type_element_name_and_xsi_type() {
    let text = r#"{"Save":{"list":[{"type":"ORDEROPENED","orderId":"1"},{"UserEvent":{"type":"newKind"}},{"@type":"a:UserEvent","x":1}]}}"#;
    let findings = run(&[text], false);
    let findings = findings.unwrap_or_default();
    assert_eq!(findings.single_keys, ["Save"]);
    assert_eq!(
        spans(text, &findings),
        [
            (
                r#"{"type":"ORDEROPENED","orderId":"1"}"#,
                "orderOpened".to_owned()
            ),
            (r#"{"type":"newKind"}"#, "newKind".to_owned()),
            (r#"{"@type":"a:UserEvent","x":1}"#, "UserEvent".to_owned()),
        ]
    );
}

#[test]
fn snapshots_give_their_order_fields_and_lines() {
    let text = r#"{"o":{"Id":"7","junk":[1],"Number":5,"Items":{"i":[{"Product":"tea","Amount":1},{"Product":"x","Amount":2}]}}}"#;
    let findings = run(&[text], false).unwrap_or_default();
    assert_eq!(
        spans(text, &findings),
        [
            ("snapshot", r#"{"Id":"7","Number":5}"#.to_owned()),
            (r#"{"Product":"tea","Amount":1}"#, String::new()),
            (r#"{"Product":"x","Amount":2}"#, String::new()),
        ]
    );
    // no amount on the first line: not a snapshot; no lines: the number shows it is an order
    assert_eq!(
        run(&[r#"{"Id":"7","Items":[{"Product":"tea"}]}"#], false).map(|f| f.found.len()),
        Some(0)
    );
    assert_eq!(
        run(&[r#"{"Id":"7","Number":"","Items":""}"#], false).map(|f| f.found.len()),
        Some(0)
    );
    assert_eq!(
        run(&[r#"{"Id":"7","Number":"1","Items":""}"#], false).map(|f| f.found.len()),
        Some(1)
    );
}

#[test]
fn an_unknown_type_where_user_events_are_spoken_of_is_handed_back() {
    let text = r#"{"saveUserEvents":[{"type":"newer","orderId":"1"}]}"#;
    assert!(run(&[text], false).is_none());
    assert_eq!(
        run(&[r#"{"save":[{"type":"newer","orderId":"1"}]}"#], false),
        Some(Findings {
            single_keys: vec!["save".to_owned()],
            found: Vec::new()
        })
    );
    assert!(run(&[r#"{"save":[{"type":"newer"}]}"#], true).is_none());
}

#[test]
fn text_python_must_read_is_handed_back_and_depth_is_bounded() {
    assert!(run(&[r#"{"a":1,"a":2}"#], false).is_none());
    assert!(run(&["{", "{}"], false).is_none());
    let deep = format!(
        "{}{}{}",
        "[".repeat(70),
        r#"{"type":"orderOpened"}"#,
        "]".repeat(70)
    );
    assert_eq!(run(&[&deep], false).map(|f| f.found.len()), Some(0));
    let shallow = format!(
        "{}{}{}",
        "[".repeat(64),
        r#"{"type":"orderOpened"}"#,
        "]".repeat(64)
    );
    assert_eq!(run(&[&shallow], false).map(|f| f.found.len()), Some(1));
}

#[test]
fn the_oracle_is_asked_once_per_shape_and_name_and_the_tables_stay_bounded() {
    let text = r#"[{"type":"orderOpened"},{"type":"orderOpened"},{"type":"orderOpened"}]"#;
    let mut rules = Rules { asked: 0 };
    let mut tables = Tables::new(8);
    assert!(find(&[text.as_bytes()], false, &mut rules, &mut tables).is_ok());
    assert_eq!(rules.asked, 3); // "", the shape, "orderOpened"
    for i in 0..100 {
        let text = format!(r#"{{"k{i}":{{"type":"t{i}"}}}}"#);
        assert!(find(&[text.as_bytes()], false, &mut rules, &mut tables).is_ok());
        assert!(tables.shapes.len() <= 8 && tables.names.len() <= 8);
    }
}

#[test]
fn mutated_texts_never_panic() {
    let seeds = [
        r#"{"Save":{"list":[{"type":"ORDEROPENED","orderId":"1"},{"UserEvent":{"type":"newKind"}}]}}"#,
        r#"{"o":{"Id":"7","Number":5,"Items":{"i":[{"Product":"tea","Amount":1},{"Product":"x","Amount":2}]}}}"#,
        r#"[{"@type":"a:UserEvent","x":[1,2,{"Items":[],"Id":"\u00e9"}]}]"#,
    ];
    let alphabet = b"{}[]\",:\\0123456789eE+-.ntrul IdItemsProductAmounttype\xc3\xa9\xff";
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rules = Rules { asked: 0 };
    let mut tables = Tables::new(16);
    let mut read = 0;
    for round in 0..30_000_usize {
        let mut text = seeds
            .get(round % seeds.len())
            .copied()
            .unwrap_or("")
            .as_bytes()
            .to_vec();
        for _ in 0..1 + round % 3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = usize::try_from(state >> 40).unwrap_or(0) % (text.len() + 1);
            let byte = alphabet
                .get(usize::try_from(state & 0xff).unwrap_or(0) % alphabet.len())
                .copied()
                .unwrap_or(b' ');
            match state % 3 {
                0 => text.insert(at, byte),
                1 if at < text.len() => {
                    text.remove(at);
                }
                _ => {
                    if let Some(b) = text.get_mut(at) {
                        *b = byte;
                    }
                }
            }
        }
        if find(&[&text], round % 2 == 0, &mut rules, &mut tables).is_ok() {
            read += 1;
        }
    }
    assert!(read > 1000, "{read}");
}
