//! The CPython binding `decoders._core`: converts arguments and results, nothing else. Errors
//! leave as `decoders.anomalies.DecodeError(name, detail, offset)`, the very exception the
//! pure-Python path raises.

use crate::error::DecodeError;
use crate::http::{self, Complete, Field, Message, Outcome, StartLine};
use crate::session::{SessionStrings, MAX_SESSION_BYTES};
use crate::soap::message_from_document;
use crate::structure::{decode, Limits};
use crate::textxml::{body_json, read};
use crate::xml::document_xml;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

static DECODE_ERROR: GILOnceCell<PyObject> = GILOnceCell::new();

/// The deepest nesting the renderers (recursive, as Python's) may be asked for: far above the
/// nesting_depth limit's own maximum (120), and far below what a thread's stack holds.
const MAX_SAFE_DEPTH: usize = 1024;

pub(crate) fn limits(max_depth: usize, max_elements: usize) -> PyResult<Limits> {
    if max_depth > MAX_SAFE_DEPTH {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "max_depth {max_depth} is above {MAX_SAFE_DEPTH}"
        )));
    }
    Ok(Limits {
        max_depth,
        max_elements,
    })
}

pub(crate) fn raise(py: Python<'_>, e: DecodeError) -> PyErr {
    let class = match DECODE_ERROR.get_or_try_init(py, || -> PyResult<PyObject> {
        Ok(py
            .import("decoders.anomalies")?
            .getattr("DecodeError")?
            .unbind())
    }) {
        Ok(class) => class,
        Err(err) => return err,
    };
    let detail = match &e.quoted {
        Some((qname, namespace)) => {
            let quote = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
            let ns = match namespace {
                Some(ns) => quote(ns),
                None => Ok("None".to_owned()),
            };
            match (quote(qname), ns) {
                (Ok(q), Ok(n)) => format!("root element {q} in namespace {n}"),
                _ => e.detail.clone(),
            }
        }
        None => e.detail.clone(),
    };
    match class.bind(py).call1((e.name, detail, e.offset)) {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// [MC-NBFSE] session strings of one direction (decoders.nbfx.SessionStrings' interface).
#[pyclass(module = "decoders._core", name = "SessionStrings")]
pub struct Session {
    pub(crate) inner: SessionStrings,
}

#[pymethods]
impl Session {
    #[new]
    #[pyo3(signature = (known_start = true))]
    fn new(known_start: bool) -> Self {
        Session {
            inner: SessionStrings::new(known_start),
        }
    }

    fn lost(&mut self) {
        self.inner.lost();
    }

    fn __len__(&self) -> usize {
        self.inner.known.len()
    }

    #[getter]
    fn anchored(&self) -> bool {
        self.inner.anchored
    }

    #[getter]
    fn size(&self) -> usize {
        self.inner.size
    }

    #[getter]
    fn known<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.known)
    }

    #[getter]
    fn unanchored<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.unanchored)
    }

    #[pyo3(signature = (payload, pos = 0, max_bytes = MAX_SESSION_BYTES))]
    fn read_table(
        &mut self,
        py: Python<'_>,
        payload: &[u8],
        pos: usize,
        max_bytes: usize,
    ) -> PyResult<usize> {
        self.inner
            .read_table(payload, pos, max_bytes)
            .map(|(end, _)| end)
            .map_err(|e| raise(py, e))
    }
}

type Fields = (
    &'static str,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
/// (fields, fault, body JSON, XML, unresolved, session strings added)
type Decoded<'py> = (
    Fields,
    FaultFields,
    Bound<'py, PyBytes>,
    Option<String>,
    usize,
    usize,
);
type FaultFields = Option<(
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
)>;

/// One envelope payload decoded: the SOAP view, the XML text when asked for, the session ids rendered
/// `session:N` and the strings its [MC-NBFSE] table added.
pub(crate) struct Envelope {
    pub message: crate::soap::Message,
    pub xml: Option<String>,
    pub unresolved: usize,
    pub added: usize,
}

/// How a direction's payloads are read (DecoderOptions' limits, `--xml`).
#[derive(Clone, Copy)]
pub(crate) struct Reading {
    pub limits: Limits,
    pub max_session_bytes: usize,
    pub xml: bool,
}

/// A payload of the binary or binary-session family (already inflated) to its `Envelope`, reading the
/// string table at its start into `strings` if `table`; errors as DecodeError.
pub(crate) fn decode_payload(
    py: Python<'_>,
    payload: &[u8],
    strings: &mut SessionStrings,
    table: bool,
    reading: Reading,
    collections: &[String],
) -> PyResult<Envelope> {
    read_payload(payload, strings, table, reading, collections).map_err(|e| raise(py, e))
}

/// `decode_payload` with the error as the core's, for a caller that reports it itself.
pub(crate) fn read_payload(
    payload: &[u8],
    strings: &mut SessionStrings,
    table: bool,
    reading: Reading,
    collections: &[String],
) -> Result<Envelope, DecodeError> {
    let (pos, added) = if table {
        strings.read_table(payload, 0, reading.max_session_bytes)?
    } else {
        (0, 0)
    };
    let known: &[String] = &strings.known;
    let doc = decode(payload, pos, known, reading.limits)?;
    let message = message_from_document(&doc, collections)?;
    let xml = reading.xml.then(|| document_xml(&doc));
    Ok(Envelope {
        message,
        xml,
        unresolved: doc.unresolved,
        added,
    })
}

/// One envelope payload (binary or binary-session family, already inflated) to
/// ((version, action, message_id, relates_to, to, reply_to, body_element), fault, body JSON (UTF-8 bytes),
/// XML text or None, unresolved, session strings added). With `table`, the payload opens with the
/// [MC-NBFSE] string table, read into `session`.
#[pyfunction]
#[pyo3(signature = (payload, session = None, *, table = false, xml = false,
    max_depth = crate::nbfx::MAX_DEPTH, max_elements = crate::nbfx::MAX_ELEMENTS,
    max_session_bytes = MAX_SESSION_BYTES, collections = Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn decode_envelope<'py>(
    py: Python<'py>,
    payload: &[u8],
    session: Option<PyRefMut<'_, Session>>,
    table: bool,
    xml: bool,
    max_depth: usize,
    max_elements: usize,
    max_session_bytes: usize,
    collections: Vec<String>,
) -> PyResult<Decoded<'py>> {
    let limits = limits(max_depth, max_elements)?;
    let mut local = SessionStrings::new(true);
    let mut session = session;
    let strings: &mut SessionStrings = match session.as_deref_mut() {
        Some(s) => &mut s.inner,
        None => &mut local,
    };
    let reading = Reading {
        limits,
        max_session_bytes,
        xml,
    };
    let decoded = decode_payload(py, payload, strings, table, reading, &collections)?;
    let message = decoded.message;
    let fields = (
        message.version,
        message.action,
        message.message_id,
        message.relates_to,
        message.to,
        message.reply_to,
        message.body_element,
    );
    let fault = message
        .fault
        .map(|f| (f.code, f.subcode, f.reason, f.detail));
    let body = PyBytes::new(py, message.body.as_bytes());
    Ok((
        fields,
        fault,
        body,
        decoded.xml,
        decoded.unresolved,
        decoded.added,
    ))
}

/// Just the document: (XML text, unresolved), or DecodeError (for the differential tests).
#[pyfunction]
#[pyo3(signature = (payload, pos = 0, session = None, *, max_depth = crate::nbfx::MAX_DEPTH,
    max_elements = crate::nbfx::MAX_ELEMENTS))]
fn decode_xml(
    py: Python<'_>,
    payload: &[u8],
    pos: usize,
    session: Option<PyRef<'_, Session>>,
    max_depth: usize,
    max_elements: usize,
) -> PyResult<(String, usize)> {
    let known: &[String] = session.as_deref().map_or(&[], |s| &s.inner.known);
    let limits = limits(max_depth, max_elements)?;
    let doc = decode(payload, pos, known, limits).map_err(|e| raise(py, e))?;
    Ok((document_xml(&doc), doc.unresolved))
}

/// An iikoRMS HTTP body (text XML) as `{root name: content}` JSON text (UTF-8 bytes), or None where
/// the pure-Python reader must decide (any error, limit, DTD, other encoding...): it raises the anomaly.
#[pyfunction]
#[pyo3(signature = (payload, encoding = None, *, max_depth = crate::nbfx::MAX_DEPTH,
    max_elements = crate::nbfx::MAX_ELEMENTS))]
fn text_xml_json<'py>(
    py: Python<'py>,
    payload: &[u8],
    encoding: Option<&str>,
    max_depth: usize,
    max_elements: usize,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let limits = limits(max_depth, max_elements)?;
    Ok(body_json(payload, encoding, limits).map(|json| PyBytes::new(py, json.as_bytes())))
}

/// The tree `text_xml_json` reads, as XML text (Python's `Document.to_xml()`), or None: for the
/// differential tests.
#[pyfunction]
#[pyo3(signature = (payload, encoding = None, *, max_depth = crate::nbfx::MAX_DEPTH,
    max_elements = crate::nbfx::MAX_ELEMENTS))]
fn text_xml_tree(
    payload: &[u8],
    encoding: Option<&str>,
    max_depth: usize,
    max_elements: usize,
) -> PyResult<Option<String>> {
    let limits = limits(max_depth, max_elements)?;
    Ok(read(payload, encoding, limits).map(|doc| document_xml(&doc)))
}

// --- HTTP/1.1 framing (decoders/http.py's fast path; h11 stays the reference) ---

/// Bytes as latin-1 text (`bytes.decode("latin-1")`).
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// h11's header list as decoders/http.py `_headers` makes it: latin-1 text, repeats joined by ", ".
fn header_dict<'py>(py: Python<'py>, fields: &[Field<'_>]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in fields {
        let text = latin1(value);
        match dict.get_item(name)? {
            Some(seen) => dict.set_item(name, format!("{}, {text}", seen.extract::<String>()?))?,
            None => dict.set_item(name, text)?,
        }
    }
    Ok(dict)
}

/// A framed message as (end, method or status, target or reason, headers, body, left), or None.
fn framed<'py>(
    py: Python<'py>,
    outcome: Outcome<Message<'_>>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let Complete(message) = outcome else {
        return Ok(None);
    };
    let (first, second) = match message.start {
        StartLine::Request { method, target } => {
            (latin1(method).into_pyobject(py)?.into_any(), latin1(target))
        }
        StartLine::Status { code, reason } => (code.into_pyobject(py)?.into_any(), latin1(reason)),
    };
    let headers = header_dict(py, &message.headers)?;
    let body = PyBytes::new(py, &message.body);
    (message.end, first, second, headers, body, message.left)
        .into_pyobject(py)
        .map(Some)
}

/// (end, method, target, headers, body, left) of the request at `pos`, or None: h11's to read (not
/// certain h11 reads it the same way, or its head or chunked body is not complete in `data`). `left`:
/// the Content-Length body bytes still to come after `data` (0: the message is complete).
#[pyfunction]
#[pyo3(signature = (data, pos = 0))]
fn http_request<'py>(
    py: Python<'py>,
    data: &[u8],
    pos: usize,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    framed(py, http::request(data, pos))
}

/// (end, status, reason, headers, body, left) of the response at `pos` (to a HEAD request if
/// `head`), or None: h11's to read (as `http_request`).
#[pyfunction]
#[pyo3(signature = (data, pos = 0, *, head = false))]
fn http_response<'py>(
    py: Python<'py>,
    data: &[u8],
    pos: usize,
    head: bool,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    framed(py, http::response(data, pos, head))
}

/// Names searched for in a body's text in one pass (`crate::needles`), ASCII letters without case.
#[pyclass(frozen, module = "decoders._core", name = "Needles")]
pub(crate) struct PyNeedles(pub(crate) crate::needles::Needles);

#[pymethods]
impl PyNeedles {
    #[new]
    fn new(names: Vec<Vec<u8>>) -> PyResult<Self> {
        use crate::needles::{Needles, NeedlesError};
        match Needles::new(&names) {
            Ok(needles) => Ok(PyNeedles(needles)),
            Err(NeedlesError::UpperCase(at)) => {
                Err(pyo3::exceptions::PyValueError::new_err(format!(
                "name {at} has an upper-case letter: names are matched against lower-cased text"
            )))
            }
            Err(NeedlesError::TooLarge) => {
                Err(pyo3::exceptions::PyValueError::new_err("too many names"))
            }
        }
    }

    fn found_in(&self, text: &[u8]) -> bool {
        self.0.found_in(text)
    }
}

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Session>()?;
    m.add_class::<PyNeedles>()?;
    m.add_class::<crate::event_python::EventWriter>()?;
    m.add_class::<crate::sink_python::LineSink>()?;
    m.add_class::<crate::iiko_python::IikoFinder>()?;
    m.add_class::<crate::iiko_events_python::IikoEventMaker>()?;
    m.add_class::<crate::wcf_python::WcfEventMaker>()?;
    m.add_class::<crate::wcf_python::Outstanding>()?;
    m.add_class::<crate::lane_python::NmfLane>()?;
    m.add_class::<crate::rms_python::RmsEventMaker>()?;
    m.add_class::<crate::redact_python::RedactGate>()?;
    m.add_function(wrap_pyfunction!(decode_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(decode_xml, m)?)?;
    m.add_function(wrap_pyfunction!(text_xml_json, m)?)?;
    m.add_function(wrap_pyfunction!(text_xml_tree, m)?)?;
    m.add_function(wrap_pyfunction!(http_request, m)?)?;
    m.add_function(wrap_pyfunction!(http_response, m)?)?;
    m.add_function(wrap_pyfunction!(crate::nmf_python::nmf_records, m)?)?;
    m.add_function(wrap_pyfunction!(crate::packets_python::process_batch, m)?)?;
    m.add_function(wrap_pyfunction!(crate::nmf_python::nmf_transitions, m)?)?;
    m.add_function(wrap_pyfunction!(crate::nmf_python::nmf_envelope_start, m)?)?;
    m.add_function(wrap_pyfunction!(crate::lane_python::envelope_run, m)?)?;
    m.add_function(wrap_pyfunction!(crate::nmf_python::nmf_find_candidate, m)?)?;
    Ok(())
}
