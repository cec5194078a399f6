//! The CPython binding of `nmf` (registered in `python`): converts the records framed from a chunk,
//! nothing else.

use crate::nmf;
use crate::nmf_search::{self, Found};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use std::borrow::Cow;

/// (record type, stream offset, next state code, stream offset of its payload or the next record, fields)
type NmfRecord = (u8, usize, u8, usize, PyObject);

fn nmf_role(initiator: bool) -> nmf::Role {
    if initiator {
        nmf::Role::Initiator
    } else {
        nmf::Role::Receiver
    }
}

fn nmf_fields(py: Python<'_>, fields: nmf::Fields<'_>) -> PyObject {
    match fields {
        nmf::Fields::None => py.None(),
        nmf::Fields::Version(raw) => PyBytes::new(py, &raw).into_any().unbind(),
        nmf::Fields::Byte(value) => {
            let Ok(value) = value.into_pyobject(py);
            value.into_any().unbind()
        }
        nmf::Fields::Text(text) => PyString::new(py, text).into_any().unbind(),
        nmf::Fields::Payload(payload) => PyBytes::new(py, &payload).into_any().unbind(),
        nmf::Fields::Size(size) => {
            let Ok(size) = size.into_pyobject(py);
            size.into_any().unbind()
        }
    }
}

/// The complete, well-formed records at the start of `data[start:]` (stream offset `base`), read from
/// the state of code `state` (`nmf::State`): ([NmfRecord], bytes consumed). decoders/nmf_core.py
/// applies them.
#[pyfunction]
#[pyo3(signature = (data, base, state, initiator, max_envelope, start = 0))]
pub(crate) fn nmf_records(
    py: Python<'_>,
    data: &[u8],
    base: usize,
    state: u8,
    initiator: bool,
    max_envelope: usize,
    start: usize,
) -> PyResult<(Vec<NmfRecord>, usize)> {
    let data = data.get(start..).unwrap_or_default();
    let Some(state) = nmf::State::from_code(state) else {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "no [MC-NMF] state of code {state}"
        )));
    };
    let framed = nmf::frame(data, state, nmf_role(initiator), max_envelope);
    let records = framed
        .records
        .into_iter()
        .map(|record| {
            (
                record.kind,
                base.saturating_add(record.offset),
                record.next.code(),
                base.saturating_add(record.content),
                nmf_fields(py, record.fields),
            )
        })
        .collect();
    Ok((records, framed.consumed))
}

/// A role's transition table as (state, record type, next state) codes, for the test that holds it to
/// decoders/nmf_records.py `TRANSITIONS`.
#[pyfunction]
pub(crate) fn nmf_transitions(initiator: bool) -> Vec<(u8, u8, u8)> {
    nmf::transitions(nmf_role(initiator))
        .map(|(from, kind, to)| (from.code(), *kind, to.code()))
        .collect()
}

/// decoders/nmf_search.py `envelope_start` in the core: does `head[pos:]` look like a SizedEnvelope of
/// `family` SOAP? None: too few bytes to tell.
#[pyfunction]
#[pyo3(signature = (head, pos = 0, max_size = nmf_search::MAX_ENVELOPE, family = "binary-session"))]
pub(crate) fn nmf_envelope_start(
    head: Cow<'_, [u8]>,
    pos: usize,
    max_size: usize,
    family: &str,
) -> Option<bool> {
    nmf_search::envelope_start(&head, pos, max_size, nmf_search::Family::from_name(family))
}

/// (outcome code, stream offset, payload offset, size, until, prefix_checked): what `nmf_search::find`
/// stopped at, as decoders/nmf_search.py `find_candidate` returns it.
type Candidate = (u8, usize, usize, usize, Option<usize>, Option<usize>);

/// The next candidate of `chunk` (stream offset `base`) from index `start` that the envelope search
/// must decide on (`nmf_search::find`).
#[pyfunction]
#[pyo3(signature = (chunk, base, start, limit, max_envelope, max_scan, family, prefix_checked))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn nmf_find_candidate(
    chunk: &[u8],
    base: usize,
    start: usize,
    limit: usize,
    max_envelope: usize,
    max_scan: usize,
    family: &str,
    prefix_checked: Option<usize>,
) -> Candidate {
    let search = nmf_search::Search {
        family: nmf_search::Family::from_name(family),
        max_envelope,
        max_scan,
        limit,
        prefix_checked,
        chunk,
        base,
        from: start,
    };
    let (found, checked) = nmf_search::find(search);
    match found {
        Found::Whole {
            offset,
            payload,
            size,
        } => (FOUND_WHOLE, offset, payload, size, None, checked),
        Found::Wait { offset, until } => (FOUND_WAIT, offset, 0, 0, until, checked),
        Found::Limit { offset } => (FOUND_LIMIT, offset, 0, 0, None, checked),
        Found::End { offset } => (FOUND_END, offset, 0, 0, None, checked),
    }
}

// the outcome codes of decoders/nmf_search.py `Found`
const FOUND_WHOLE: u8 = 0;
const FOUND_WAIT: u8 = 1;
const FOUND_LIMIT: u8 = 2;
const FOUND_END: u8 = 3;
