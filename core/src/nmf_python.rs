//! The CPython binding of `nmf` (registered in `python`): converts the records framed from a chunk,
//! nothing else.

use crate::nmf;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

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
    }
}

/// The complete, well-formed records at the start of `data` (stream offset `base`), read from the
/// state of code `state` (`nmf::State`): ([NmfRecord], bytes consumed). decoders/nmf_core.py applies them.
#[pyfunction]
pub(crate) fn nmf_records(
    py: Python<'_>,
    data: &[u8],
    base: usize,
    state: u8,
    initiator: bool,
    max_envelope: usize,
) -> PyResult<(Vec<NmfRecord>, usize)> {
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
