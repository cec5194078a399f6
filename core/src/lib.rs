//! wirecap's compiled decoding core: [MC-NBFX]/[MC-NBFS]/[MC-NBFSE] binary XML to the SOAP view, the
//! body as JSON text and the XML text, with the same results (and the same errors) as the pure-Python
//! reference in `decoders/nbfx.py` and `decoders/soap.py`; and the iikoRMS link's well-formed text-XML
//! bodies to the same tree and JSON (`textxml`, `xmlns`, `xmlchars`), everything else left to expat.
//!
//! Layers, after Suricata's: pure functions over `&[u8]` (`reader`, `format`, `nbfx`), per-direction
//! state (`session`), views of the tree (`xml`, `json`, `soap`), and the PyO3 binding (`python`,
//! only with the `python` feature) that converts and nothing else.

pub mod dictionary;
pub mod error;
pub mod format;
pub mod generations;
pub mod http;
pub mod http_chunked;
pub mod http_lines;
pub mod json;
pub mod nbfx;
pub mod needles;
pub mod numbers;
pub mod reader;
pub mod records;
pub mod scope;
pub mod session;
pub mod shape;
pub mod soap;
pub mod stream;
pub mod structure;
pub mod text;
pub mod textxml;
pub mod timestamp;
pub mod tree;
pub mod xml;
pub mod xmlchars;
pub mod xmlns;

// the pipeline's per-packet loop: what it reads of a packet, and the loop
pub mod packets;
#[cfg(feature = "python")]
mod packets_python;

// [MC-NMF] record framing, the mid-session envelope search and their binding
pub mod nmf;
#[cfg(feature = "python")]
mod nmf_python;
pub mod nmf_search;
#[cfg(feature = "python")]
mod wcf_python;
// an established direction's segments taken in the packet loop
#[cfg(feature = "python")]
mod lane_python;

// the iikoRMS call's fields read from its text, and the rms.call events made from them
pub mod resto;
#[cfg(feature = "python")]
mod rms_python;

// events written as JSON lines from their models' fields, and the sink's loop around it
#[cfg(feature = "python")]
mod event_python;
#[cfg(feature = "python")]
mod made;
pub mod pairing;
#[cfg(feature = "python")]
mod sink_python;

// the iiko rules over the core's JSON text and their binding
pub mod iiko_check;
#[cfg(feature = "python")]
mod iiko_events_python;
pub mod iiko_find;
pub mod iiko_json;
#[cfg(feature = "python")]
mod iiko_python;

#[cfg(feature = "python")]
mod python;
// which events may hold a credential, for `wirecap.redact`
#[cfg(feature = "python")]
mod redact_python;
