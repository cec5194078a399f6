//! [MC-NBFS] static dictionary, read from the package's own `decoders/nbfs_dictionary.txt` (one
//! source of truth with the Python decoder): `<wire id>\t<hex id>\t<string>` lines, ids 0, 2, 4…
#![forbid(unsafe_code)]

use std::sync::OnceLock;

const TABLE: &str = include_str!("../../decoders/nbfs_dictionary.txt");

fn parse() -> Vec<&'static str> {
    let mut entries = Vec::with_capacity(490);
    for line in TABLE.split('\n') {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (Some(id), Some(_hex), Some(string)) = (parts.next(), parts.next(), parts.next())
        else {
            return Vec::new(); // a malformed table: the unit test below fails
        };
        if id.parse::<usize>().ok() != Some(2 * entries.len()) {
            return Vec::new();
        }
        entries.push(string);
    }
    entries
}

/// Index i is wire id 2*i.
pub fn table() -> &'static [&'static str] {
    static ENTRIES: OnceLock<Vec<&'static str>> = OnceLock::new();
    ENTRIES.get_or_init(parse)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_whole_table() {
        let t = super::table();
        assert_eq!(t.len(), 487);
        assert_eq!(t.first().copied(), Some("mustUnderstand"));
        assert_eq!(t.get(1).copied(), Some("Envelope"));
        assert_eq!(t.get(81).copied(), Some(""));
        assert!(t.get(212).is_some_and(|s| s.starts_with(' ')));
    }
}
