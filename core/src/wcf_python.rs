//! `wcf.message` and `wcf.fault` events made by the core from an envelope payload: the model that
//! `decoders/nmf_events.py` builds with `construct` from the pure-Python decoders' SOAP view, made
//! here without the fields crossing first as a tuple, a SOAP view and a keyword dict (about 9 µs of a
//! small message's Python, against the 1–2 µs this takes).
//!
//! A connection's maker holds each model's template: every field in schema order with its default,
//! the connection's fields set (`decoders.models.template`). An event is a copy of it with the
//! message's fields set, made an instance as `construct` makes one (`object.__new__`, the dict and
//! the fields given set with `object.__setattr__`, as pydantic's frozen models require). The
//! differential tests hold its events to the pure-Python decoders' on every capture.
//!
//! `envelopes` goes one step further for the established state: the whole SizedEnvelopes of a chunk
//! framed, made events and paired in one call (`Outstanding`: the connection's open requests, kept
//! here while the core is in use), where the framer handed each payload to Python and Python back.

use crate::nmf;
use crate::pairing::{pair, Pending};
use crate::python::{decode_payload, limits, raise, read_payload, Envelope, Reading, Session};
use crate::session::{SessionStrings, MAX_SESSION_BYTES};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyFrozenSet, PyList, PyType};

/// `object.__new__`, `object.__setattr__` and `set`, looked up once.
static BUILTINS: GILOnceCell<(PyObject, PyObject, PyObject)> = GILOnceCell::new();

/// A model class, its template, and the names its instances' `__pydantic_fields_set__` holds.
pub(crate) type Model = (Py<PyType>, Py<PyDict>, Py<PyFrozenSet>);

#[pyclass(frozen, module = "decoders._core", name = "WcfEventMaker")]
pub struct WcfEventMaker {
    message: Model,
    fault: Model,
    json_text: Py<PyType>,
    reading: Reading,
}

#[pymethods]
impl WcfEventMaker {
    /// `message`, `fault`: (model class, template, names given) of `WcfMessage` and `WcfFault`;
    /// `json_text`: the class a body's JSON text is kept in (`decoders.json_text.JsonText`).
    #[new]
    #[pyo3(signature = (message, fault, json_text, *, xml = false,
        max_depth = crate::nbfx::MAX_DEPTH, max_elements = crate::nbfx::MAX_ELEMENTS,
        max_session_bytes = MAX_SESSION_BYTES))]
    fn new(
        message: Model,
        fault: Model,
        json_text: Py<PyType>,
        xml: bool,
        max_depth: usize,
        max_elements: usize,
        max_session_bytes: usize,
    ) -> PyResult<Self> {
        Ok(WcfEventMaker {
            message,
            fault,
            json_text,
            reading: Reading {
                limits: limits(max_depth, max_elements)?,
                max_session_bytes,
                xml,
            },
        })
    }

    /// The event of one payload of the binary or binary-session family (inflated already; `table`:
    /// it opens with the session's string table), `latency_ms` left None for the caller's pairing;
    /// `size`: the payload's bytes on the wire. DecodeError if it does not decode.
    #[allow(clippy::too_many_arguments)]
    fn event<'py>(
        &self,
        py: Python<'py>,
        payload: &[u8],
        mut session: PyRefMut<'_, Session>,
        ts: Bound<'py, PyAny>,
        direction: Bound<'py, PyAny>,
        size: usize,
        encoding: Bound<'py, PyAny>,
        table: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let decoded = decode_payload(py, payload, &mut session.inner, table, self.reading, &[])?;
        let context = Context {
            ts: &ts,
            direction: &direction,
            encoding: &encoding,
        };
        Ok(self.made(py, decoded, &context, size)?.0)
    }
}

/// The fields every event of one call shares.
struct Context<'a, 'py> {
    ts: &'a Bound<'py, PyAny>,
    direction: &'a Bound<'py, PyAny>,
    encoding: &'a Bound<'py, PyAny>,
}

/// The stream offset of `chunk[at]`, `base` being that of `chunk[start]`.
fn stream_offset(base: usize, at: usize, start: usize) -> usize {
    base.saturating_add(at.saturating_sub(start))
}

impl WcfEventMaker {
    /// The whole SizedEnvelopes of `chunk[start:]` (`base`: its stream offset), a direction in the
    /// established state: each made its event as `event` makes it, paired with `outstanding` (its
    /// `latency_ms` set) and appended to `events` — what the framer and `WcfEvents._message` do an
    /// envelope at a time (`lane_python::envelope_run` runs it). Stops before anything else, left to the framer: a record of another type,
    /// an envelope not all in the chunk or over `max_envelope`; and after an envelope that did not
    /// decode or made `outstanding` forget a request, for the caller's anomaly. Returns (where it
    /// stopped in `chunk`, None or ("undecodable", the DecodeError, payload offset, payload size) or
    /// ("forgotten", the key forgotten, the event, envelope offset)).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn envelopes<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyList>,
        chunk: &[u8],
        start: usize,
        base: usize,
        max_envelope: usize,
        mut session: PyRefMut<'_, Session>,
        mut outstanding: PyRefMut<'_, Outstanding>,
        ts: &Bound<'py, PyAny>,
        direction: &Bound<'py, PyAny>,
        encoding: &Bound<'py, PyAny>,
        table: bool,
    ) -> PyResult<(usize, Option<PyObject>)> {
        let Ok(now) = ts.extract::<i64>() else {
            return Ok((start, None)); // not a time the table keeps: Python's own path
        };
        let context = Context {
            ts,
            direction,
            encoding,
        };
        let strings: &mut SessionStrings = &mut session.inner;
        let mut pos = start;
        while let Some((payload, content, end)) = nmf::whole_envelope(chunk, pos, max_envelope) {
            let envelope_offset = stream_offset(base, pos, start);
            let payload_offset = stream_offset(base, content, start);
            pos = end;
            let decoded = match read_payload(payload, strings, table, self.reading, &[]) {
                Ok(decoded) => decoded,
                Err(e) => {
                    let error = raise(py, e).into_value(py).into_any();
                    let stop = ("undecodable", error, payload_offset, payload.len());
                    return Ok((pos, Some(stop.into_pyobject(py)?.into_any().unbind())));
                }
            };
            let (event, fields, opens, closes) = self.made(py, decoded, &context, payload.len())?;
            let (sent, forgotten) = pair(&mut outstanding.pending, opens, closes, now);
            if let Some(sent) = sent {
                // Python's (ts - sent) / 1e6: the exact difference, rounded once to a float
                let latency = (i128::from(now) - i128::from(sent)) as f64 / 1e6;
                fields.set_item(intern!(py, "latency_ms"), latency)?;
            }
            if let Some(key) = forgotten {
                let stop = ("forgotten", key, event, envelope_offset);
                return Ok((pos, Some(stop.into_pyobject(py)?.into_any().unbind())));
            }
            events.append(event)?;
        }
        Ok((pos, None))
    }

    /// The event of a decoded payload, its fields (`__dict__`), and the keys it opens and closes
    /// (MessageID, RelatesTo).
    #[allow(clippy::type_complexity)]
    fn made<'py>(
        &self,
        py: Python<'py>,
        decoded: Envelope,
        context: &Context<'_, 'py>,
        size: usize,
    ) -> PyResult<(
        Bound<'py, PyAny>,
        Bound<'py, PyDict>,
        Option<String>,
        Option<String>,
    )> {
        let message = decoded.message;
        let model = if message.fault.is_some() {
            &self.fault
        } else {
            &self.message
        };
        let fields = model.1.bind(py).copy()?;
        fields.set_item(intern!(py, "ts"), context.ts)?;
        fields.set_item(intern!(py, "dir"), context.direction)?;
        fields.set_item(intern!(py, "action"), message.action)?;
        fields.set_item(intern!(py, "message_id"), message.message_id.as_deref())?;
        fields.set_item(intern!(py, "relates_to"), message.relates_to.as_deref())?;
        fields.set_item(intern!(py, "to"), message.to)?;
        fields.set_item(intern!(py, "reply_to"), message.reply_to)?;
        fields.set_item(intern!(py, "size"), size)?;
        fields.set_item(intern!(py, "soap_version"), message.version)?;
        fields.set_item(intern!(py, "encoding"), context.encoding)?;
        fields.set_item(intern!(py, "unresolved"), decoded.unresolved)?;
        fields.set_item(intern!(py, "session_strings_added"), decoded.added)?;
        fields.set_item(intern!(py, "xml"), decoded.xml)?;
        match message.fault {
            None => {
                fields.set_item(
                    intern!(py, "body"),
                    body_value(py, &self.json_text, &message.body)?,
                )?;
                fields.set_item(intern!(py, "body_element"), message.body_element)?;
            }
            Some(fault) => {
                let detail = match fault.detail {
                    Some(detail) => body_value(py, &self.json_text, &detail)?,
                    None => None,
                };
                fields.set_item(intern!(py, "code"), fault.code)?;
                fields.set_item(intern!(py, "subcode"), fault.subcode)?;
                fields.set_item(intern!(py, "reason"), fault.reason)?;
                fields.set_item(intern!(py, "detail"), detail)?;
            }
        }
        let event = adopt(py, model, fields.clone())?;
        Ok((event, fields, message.message_id, message.relates_to))
    }
}

/// A connection's open WCF requests, for the replies' latency (`decoders.correlate.Pending[str, int]`,
/// `WcfEvents._outstanding`): request MessageID → its time.
#[pyclass(module = "decoders._core", name = "Outstanding")]
pub struct Outstanding {
    pending: Pending<String, i64>,
    #[pyo3(get)]
    limit: usize,
}

#[pymethods]
impl Outstanding {
    #[new]
    fn new(limit: usize) -> Self {
        Outstanding {
            pending: Pending::new(limit),
            limit,
        }
    }

    /// Remember a request; the oldest one's key if it had to be forgotten to make room.
    fn open(&mut self, key: String, value: i64) -> Option<String> {
        self.pending.open(key, value)
    }

    /// The time of the request `key` answers, forgotten now; None if unknown.
    fn close(&mut self, key: String) -> Option<i64> {
        self.pending.close(&key)
    }

    fn __len__(&self) -> usize {
        self.pending.len()
    }

    fn __contains__(&self, key: String) -> bool {
        self.pending.contains(&key)
    }
}

/// A body field's value for the core's JSON text (`decoders.json_text.from_core`): None for
/// `null`, else the text kept as `json_text` (`JsonText`).
pub(crate) fn body_value<'py>(
    py: Python<'py>,
    json_text: &Py<PyType>,
    json: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if json == "null" {
        return Ok(None);
    }
    let text = PyBytes::new(py, json.as_bytes());
    json_text.bind(py).call1((text,)).map(Some)
}

/// An instance of the model whose fields are `fields`, unvalidated (`decoders.models.construct`).
pub(crate) fn adopt<'py>(
    py: Python<'py>,
    model: &Model,
    fields: Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let (new, set_attr, set) = BUILTINS.get_or_try_init(py, || -> PyResult<_> {
        let builtins = py.import("builtins")?;
        let object = builtins.getattr("object")?;
        Ok((
            object.getattr("__new__")?.unbind(),
            object.getattr("__setattr__")?.unbind(),
            builtins.getattr("set")?.unbind(),
        ))
    })?;
    let (cls, _, given) = model;
    let obj = new.bind(py).call1((cls.bind(py),))?;
    let set_attr = set_attr.bind(py);
    let fields_set = set.bind(py).call1((given.bind(py),))?;
    set_attr.call1((&obj, intern!(py, "__dict__"), fields))?;
    set_attr.call1((&obj, intern!(py, "__pydantic_fields_set__"), fields_set))?;
    set_attr.call1((&obj, intern!(py, "__pydantic_extra__"), py.None()))?;
    set_attr.call1((&obj, intern!(py, "__pydantic_private__"), py.None()))?;
    Ok(obj)
}
