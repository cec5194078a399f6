//! Whether a text holds any of a few names, ASCII letters compared without case: the question the
//! redaction and the iiko layer's prefilter ask of every body before parsing it. One pass instead of
//! Python's lower-cased copy searched once per name (12 ms for a 1.2 MB body and ten names).
//!
//! The names must be lower case: the reference (`decoders/needles.py`) searches `data.lower()`, where an
//! upper-case name can never occur, so such a name is refused rather than matched differently.
//!
//! The text is lower-cased a chunk at a time (ASCII letters only, as `bytes.lower()`) and the chunk
//! searched by a SIMD multi-pattern searcher (Teddy, `aho_corasick::packed`): about 1 instruction a
//! byte, where the case-insensitive automaton took 12–16 on the benchmarks' bodies (its prefilter
//! cannot work on names like these). Chunks overlap by one byte less than the longest name, so no
//! occurrence falls between two. Where Teddy cannot be built (no SIMD, too many or too long names)
//! the automaton searches.
#![forbid(unsafe_code)]

use aho_corasick::packed;
use aho_corasick::AhoCorasick;

/// Bytes lower-cased and searched at a time.
const CHUNK: usize = 8192;
/// Names longer than this are searched by the automaton (the chunks' overlap stays small).
const MAX_PACKED_NAME: usize = 256;

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
pub struct Needles(Search);

/// How the names are searched for: one of the two, never both.
#[derive(Debug)]
enum Search {
    /// Teddy over lower-cased chunks; `longest`: the longest name's length.
    Packed {
        searcher: packed::Searcher,
        longest: usize,
    },
    Automaton(AhoCorasick),
}

impl Needles {
    pub fn new<N: AsRef<[u8]>>(names: &[N]) -> Result<Self, NeedlesError> {
        if let Some(at) = names
            .iter()
            .position(|n| n.as_ref().iter().any(u8::is_ascii_uppercase))
        {
            return Err(NeedlesError::UpperCase(at));
        }
        let longest = names.iter().map(|n| n.as_ref().len()).max().unwrap_or(0);
        // an empty name is in every text: the automaton says so at once
        if !names.iter().any(|n| n.as_ref().is_empty()) && longest <= MAX_PACKED_NAME {
            if let Some(searcher) = packed::Config::new().builder().extend(names).build() {
                return Ok(Needles(Search::Packed { searcher, longest }));
            }
        }
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(names)
            .map(|automaton| Needles(Search::Automaton(automaton)))
            .map_err(|_| NeedlesError::TooLarge)
    }

    /// Whether any name occurs in `text`, its ASCII letters in any case (an empty name occurs in any text).
    pub fn found_in(&self, text: &[u8]) -> bool {
        match &self.0 {
            Search::Packed { searcher, longest } => found_lowered(searcher, *longest, text),
            Search::Automaton(automaton) => automaton.is_match(text),
        }
    }
}

/// `text` lower-cased a chunk at a time and searched; each chunk starts `longest - 1` bytes before the
/// end of the one before it.
fn found_lowered(searcher: &packed::Searcher, longest: usize, text: &[u8]) -> bool {
    let overlap = longest.saturating_sub(1);
    // no larger than a window: most bodies are far shorter than a chunk
    let mut lowered = vec![0u8; text.len().min(CHUNK + overlap)];
    let mut start = 0;
    while start < text.len() {
        let from = start.saturating_sub(overlap);
        let end = text.len().min(start.saturating_add(CHUNK));
        let window = text.get(from..end).unwrap_or_default();
        let chunk = lowered.get_mut(..window.len()).unwrap_or_default();
        for (low, byte) in chunk.iter_mut().zip(window) {
            *low = byte.to_ascii_lowercase();
        }
        if searcher.find(&*chunk).is_some() {
            return true;
        }
        start = end;
    }
    false
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
    fn a_name_across_a_chunk_boundary_is_found() {
        let names = ["proxy-authenticate", "pwd", "\u{130}"];
        let needles = Needles::new(&names).unwrap_or_else(|_| unreachable!());
        assert!(
            matches!(needles.0, Search::Packed { .. }),
            "Teddy is built here"
        );
        for name in ["Proxy-Authenticate", "PWD", "\u{130}"] {
            for at in CHUNK - 24..CHUNK + 4 {
                let mut text = vec![b'x'; 3 * CHUNK];
                text.splice(at..at + name.len(), name.bytes());
                assert!(needles.found_in(&text), "{name} at {at}");
                assert!(
                    !needles.found_in(text.get(..at + name.len() - 1).unwrap_or_default()),
                    "{name} cut at {at}"
                );
                assert!(!needles.found_in(text.get(at + 1..).unwrap_or_default()));
            }
        }
        assert!(!needles.found_in(&vec![b'p'; 5 * CHUNK]));
    }

    #[test]
    fn where_teddy_is_not_built_the_automaton_answers() {
        let long = "n".repeat(MAX_PACKED_NAME + 1);
        let needles = Needles::new(&[long.as_str(), "ab"]).unwrap_or_else(|_| unreachable!());
        assert!(matches!(needles.0, Search::Automaton(_)));
        assert!(needles.found_in(b"xxABxx") && !needles.found_in(b"xxAxBx"));
    }

    #[test]
    fn upper_case_names_are_refused() {
        assert_eq!(
            Needles::new(&["ok", "Bad"]).map(|_| ()),
            Err(NeedlesError::UpperCase(1))
        );
    }
}
