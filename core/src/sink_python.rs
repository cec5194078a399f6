//! The JSON Lines sink's loop in the core (`wirecap/sink.py` `JsonlSink`, whose Python loop stays the
//! reference and the fallback): each event numbered in place, paired with its request, written by the
//! event writer into the chunk, shown to the analyzers (whose derived events follow it, numbered and
//! observed in turn), its bodies' parsed objects let go; chunks handed to the output as they fill.
//!
//! In Python this was about 4 µs an event beside the line itself: the frame, the pairing table, the
//! numbering call, the chunk's size and the body loop. tests/test_sink.py holds the two loops to the
//! same lines, numbers and observations on every capture.

use crate::event_python::EventWriter;
use crate::pairing::{pair, Pending};
use pyo3::exceptions::{PyRecursionError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySet, PyString, PyType};
use std::collections::HashMap;

/// Derived events of derived events followed before the sink gives up (Python's own limit is its
/// recursion limit).
const MAX_DERIVED_DEPTH: usize = 100;

/// A request's key: a WS-Addressing MessageID, a .NET Remoting call's number.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Text(String),
    Number(i64),
}

/// How a kind's requests and replies are told apart (`decoders.correlate.PAIRING_RULES`).
#[derive(Clone, Copy)]
enum Rule {
    /// `_wcf_keys`: opens its `message_id`, closes its `relates_to`.
    Wcf,
    /// `_remoting_keys`: a request opens its `trans_depth`, a reply closes it.
    Remoting,
}

#[pyclass(module = "decoders._core", name = "LineSink")]
pub struct LineSink {
    writer: Py<EventWriter>,
    exclude_none: bool,
    /// (kind → rule)
    rules: HashMap<String, Rule>,
    /// each analyzer's `observe`
    analyzers: Vec<PyObject>,
    /// (event, exclude_none) → the line by pydantic, where the core's writer leaves one
    pydantic_line: PyObject,
    /// `decoders.models.replaced`: the copy numbered when an event comes a second time
    replaced: PyObject,
    json_text: Py<PyType>,
    /// the output, given UTF-8 bytes
    write: PyObject,
    chunk_lines: usize,
    chunk_bytes: usize,
    seq: u64,
    /// uid → its open requests' seqs
    requests: HashMap<Option<String>, Pending<Key>>,
    max_pending: usize,
}

#[pymethods]
impl LineSink {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (writer, exclude_none, rules, analyzers, pydantic_line, replaced, json_text, write,
        *, chunk_lines, chunk_bytes, max_pending, seq = 0))]
    fn new(
        writer: Py<EventWriter>,
        exclude_none: bool,
        rules: HashMap<String, String>,
        analyzers: Vec<PyObject>,
        pydantic_line: PyObject,
        replaced: PyObject,
        json_text: Py<PyType>,
        write: PyObject,
        chunk_lines: usize,
        chunk_bytes: usize,
        max_pending: usize,
        seq: u64,
    ) -> PyResult<Self> {
        let rules = rules
            .into_iter()
            .map(|(kind, rule)| match rule.as_str() {
                "wcf" => Ok((kind, Rule::Wcf)),
                "remoting" => Ok((kind, Rule::Remoting)),
                _ => Err(PyValueError::new_err(format!("no pairing rule {rule:?}"))),
            })
            .collect::<PyResult<_>>()?;
        Ok(LineSink {
            writer,
            exclude_none,
            rules,
            analyzers,
            pydantic_line,
            replaced,
            json_text,
            write,
            chunk_lines,
            chunk_bytes,
            seq,
            requests: HashMap::new(),
            max_pending,
        })
    }

    /// The last number given.
    #[getter]
    fn seq(&self) -> u64 {
        self.seq
    }

    /// Number, write and observe a batch of events, in order.
    fn write(&mut self, events: &Bound<'_, PyList>) -> PyResult<()> {
        let py = events.py();
        let mut chunk = String::new();
        let mut lines = 0;
        for event in events.iter() {
            self.write_one(&event, &mut chunk, &mut lines, 0)?;
            if lines >= self.chunk_lines || chunk.len() >= self.chunk_bytes {
                self.flush(py, &mut chunk, &mut lines)?;
            }
        }
        if lines > 0 {
            self.flush(py, &mut chunk, &mut lines)?;
        }
        Ok(())
    }
}

impl LineSink {
    fn flush(&self, py: Python<'_>, chunk: &mut String, lines: &mut usize) -> PyResult<()> {
        self.write
            .bind(py)
            .call1((PyBytes::new(py, chunk.as_bytes()),))?;
        chunk.clear();
        *lines = 0;
        Ok(())
    }

    fn write_one(
        &mut self,
        event: &Bound<'_, PyAny>,
        chunk: &mut String,
        lines: &mut usize,
        depth: usize,
    ) -> PyResult<()> {
        if depth > MAX_DERIVED_DEPTH {
            return Err(PyRecursionError::new_err(
                "analyzers derived events from derived events too deep",
            ));
        }
        let py = event.py();
        self.seq += 1;
        let fields = event
            .getattr(intern!(py, "__dict__"))?
            .downcast_into::<PyDict>()?;
        let request = self.pair(&fields)?;
        let numbered = self.number(event, &fields, request)?;
        let writer = self.writer.get();
        if !writer.write_line(&numbered, self.exclude_none, chunk) {
            let line = self
                .pydantic_line
                .bind(py)
                .call1((&numbered, self.exclude_none))?;
            let line = std::str::from_utf8(line.downcast::<PyBytes>()?.as_bytes())?.to_owned();
            chunk.push_str(&line);
        }
        chunk.push('\n');
        *lines += 1;
        let mut index = 0;
        while let Some(observe) = self.analyzers.get(index).map(|a| a.clone_ref(py)) {
            // an analyzer's derived events are written and observed by all before the next one looks
            for derived in observe.bind(py).call1((&numbered,))?.try_iter()? {
                self.write_one(&derived?, chunk, lines, depth + 1)?;
            }
            index += 1;
        }
        let json_text = self.json_text.bind(py);
        for value in fields.values() {
            if value.is_exact_instance(json_text) {
                value.call_method0(intern!(py, "forget"))?;
            }
        }
        Ok(())
    }

    /// The seq of the request this event answers, the table of its connection kept as the Python
    /// sink keeps it (`JsonlSink._write_one`).
    fn pair(&mut self, fields: &Bound<'_, PyDict>) -> PyResult<Option<u64>> {
        let py = fields.py();
        let kind = match fields.get_item(intern!(py, "kind"))? {
            Some(kind) => kind,
            None => return Ok(None),
        };
        let kind = kind.downcast::<PyString>()?.to_str()?;
        let uid = || -> PyResult<Option<String>> {
            match fields.get_item(intern!(py, "uid"))? {
                Some(uid) if !uid.is_none() => Ok(Some(uid.extract()?)),
                _ => Ok(None),
            }
        };
        let Some(rule) = self.rules.get(kind).copied() else {
            if kind == "conn.close" {
                self.requests.remove(&uid()?);
            }
            return Ok(None);
        };
        let (opens, closes) = keys(fields, rule)?;
        if opens.is_none() && closes.is_none() {
            return Ok(None);
        }
        let max_pending = self.max_pending;
        let pending = self
            .requests
            .entry(uid()?)
            .or_insert_with(|| Pending::new(max_pending));
        Ok(pair(pending, opens, closes, self.seq).0) // the decoder reports the overflow
    }

    /// `decoders.models.number`: set in place on an event not numbered before, else on a copy.
    fn number<'py>(
        &self,
        event: &Bound<'py, PyAny>,
        fields: &Bound<'py, PyDict>,
        request: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = event.py();
        let numbered_before = match fields.get_item(intern!(py, "seq"))? {
            Some(seq) => seq.is_truthy()?,
            None => false,
        };
        if numbered_before {
            let update = PyDict::new(py);
            update.set_item(intern!(py, "seq"), self.seq)?;
            if let Some(request) = request {
                update.set_item(intern!(py, "request_seq"), request)?;
            }
            return self.replaced.bind(py).call((event,), Some(&update));
        }
        let given = event
            .getattr(intern!(py, "__pydantic_fields_set__"))?
            .downcast_into::<PySet>()?;
        fields.set_item(intern!(py, "seq"), self.seq)?;
        given.add(intern!(py, "seq"))?;
        if let Some(request) = request {
            fields.set_item(intern!(py, "request_seq"), request)?;
            given.add(intern!(py, "request_seq"))?;
        }
        Ok(event.clone())
    }
}

/// (what a request opens, what a reply closes) by the kind's rule.
fn keys(fields: &Bound<'_, PyDict>, rule: Rule) -> PyResult<(Option<Key>, Option<Key>)> {
    let py = fields.py();
    let field = |name: &Bound<'_, PyString>| -> PyResult<Option<Key>> {
        match fields.get_item(name)? {
            None => Ok(None),
            Some(value) if value.is_none() => Ok(None),
            Some(value) => key(&value).map(Some),
        }
    };
    match rule {
        Rule::Wcf => Ok((
            field(intern!(py, "message_id"))?,
            field(intern!(py, "relates_to"))?,
        )),
        Rule::Remoting => {
            let operation = fields.get_item(intern!(py, "operation"))?;
            let operation = match &operation {
                Some(op) => op.extract::<Option<String>>()?,
                None => None,
            };
            let depth = field(intern!(py, "trans_depth"))?;
            Ok(match operation.as_deref() {
                Some("request") => (depth, None),
                Some("reply") => (None, depth),
                _ => (None, None),
            })
        }
    }
}

fn key(value: &Bound<'_, PyAny>) -> PyResult<Key> {
    if let Ok(text) = value.downcast::<PyString>() {
        return Ok(Key::Text(text.to_str()?.to_owned()));
    }
    value
        .extract::<i64>()
        .map(Key::Number)
        .map_err(|_| PyTypeError::new_err("a request key is neither a string nor an integer"))
}
