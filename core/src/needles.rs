//! Whether a text holds any of a few names, ASCII letters compared without case: the question the
//! redaction and the iiko layer's prefilter ask of every body before parsing it. One Aho-Corasick pass
//! instead of Python's lower-cased copy searched once per name (12 ms for a 1.2 MB body and ten names).
//!
//! The names must be lower case: the reference (`decoders/needles.py`) searches `data.lower()`, where an
//! upper-case name can never occur, so such a name is refused rather than matched differently.

use aho_corasick::AhoCorasick;

/// Why a set of names cannot be compiled.
#[derive(Debug, PartialEq, Eq)]
pub enum NeedlesError {
    /// The name at this index has an upper-case ASCII letter.
    UpperCase(usize),
    /// The automaton would exceed the library's size limits.
    TooLarge,
}

/// Compiled names, searched for in one pass.
#[derive(Debug)]
pub struct Needles {
    automaton: AhoCorasick,
}

impl Needles {
    pub fn new<N: AsRef<[u8]>>(names: &[N]) -> Result<Self, NeedlesError> {
        if let Some(at) = names
            .iter()
            .position(|n| n.as_ref().iter().any(u8::is_ascii_uppercase))
        {
            return Err(NeedlesError::UpperCase(at));
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(names)
            .map_err(|_| NeedlesError::TooLarge)?;
        Ok(Needles { automaton })
    }

    /// Whether any name occurs in `text`, its ASCII letters in any case (an empty name occurs in any text).
    pub fn found_in(&self, text: &[u8]) -> bool {
        self.automaton.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the names are found; false also where they are refused (the test that expects true fails).
    fn found(names: &[&str], text: &str) -> bool {
        Needles::new(names).is_ok_and(|n| n.found_in(text.as_bytes()))
    }

    #[test]
    fn ascii_letters_match_in_any_case() {
        assert!(found(&["pass", "token"], r#"{"UserPassword":"x"}"#));
        assert!(found(&["token"], "ACCESS_TOKEN"));
        assert!(!found(&["pass", "token"], r#"{"orderId":"1"}"#));
    }

    #[test]
    fn other_bytes_match_exactly() {
        // U+0130 (İ) lower-cases to "i" + U+0307 in Python's str, but bytes.lower() leaves it: so here
        assert!(found(&["\u{130}"], "DAT\u{130}"));
        assert!(!found(&["\u{130}"], "DATi\u{307}"));
        assert!(!found(&["pass"], "p\u{c4}ss"));
    }

    #[test]
    fn no_names_find_nothing_and_an_empty_name_finds_everything() {
        assert!(!found(&[], "anything"));
        assert!(found(&[""], ""));
    }

    #[test]
    fn upper_case_names_are_refused() {
        assert_eq!(
            Needles::new(&["ok", "Bad"]).map(|_| ()),
            Err(NeedlesError::UpperCase(1))
        );
    }
}
