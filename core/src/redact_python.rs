//! The redaction gate (`decoders._core.RedactGate`, used by `wirecap.redact.redact_events`): which
//! events of a batch may hold a credential. Most events hold none, and telling so costs a search of
//! their bodies' text (`crate::needles`); read here, the Python walk (`redact`, the reference) runs only
//! for the events this gate names. It answers "maybe" wherever it is not certain: a body given as
//! objects, a list, a text field of envelope XML, a string that is not UTF-8.

use crate::python::PyNeedles;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use std::collections::HashMap;

/// Event kinds kept with their fields; the table starts over past this (there are a few dozen).
const MAX_KINDS: usize = 256;

/// How a field is redacted (`wirecap.redact._FIELDS`), so what would make it change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    /// `redact_json`: a body, a headers' object, attributes
    Json,
    /// `redact_uri`: the query's parameter names
    Uri,
    /// anything else (`redact_xml`): always Python's to read
    Text,
}

/// The fields of one event kind that redaction reads.
type Fields = Vec<(Py<PyString>, How)>;

#[pyclass(module = "decoders._core", name = "RedactGate")]
pub struct RedactGate {
    json_text: PyObject,
    /// field name → how it is redacted
    fields: Vec<(String, How)>,
    /// a text holding none of these holds no secret name (`redact.SUSPECT_NAMES`)
    suspects: Py<PyNeedles>,
    /// a URI holding none of these has no secret query parameter (`redact_uri`'s test)
    query: Py<PyNeedles>,
    /// what a secret's value becomes (`redact.REDACTED`)
    redacted: String,
    /// event type's address → (the type, kept alive so the address stays its own; its fields)
    kinds: HashMap<usize, (Py<PyType>, Fields)>,
}

#[pymethods]
impl RedactGate {
    /// `fields`: field name → "json" (`redact_json`), "uri" (`redact_uri`) or any other word (text).
    #[new]
    fn new(
        json_text: PyObject,
        fields: Vec<(String, String)>,
        suspects: Py<PyNeedles>,
        query: Py<PyNeedles>,
        redacted: String,
    ) -> Self {
        let fields = fields
            .into_iter()
            .map(|(name, how)| {
                let how = match how.as_str() {
                    "json" => How::Json,
                    "uri" => How::Uri,
                    _ => How::Text,
                };
                (name, how)
            })
            .collect();
        RedactGate {
            json_text,
            fields,
            suspects,
            query,
            redacted,
            kinds: HashMap::new(),
        }
    }

    /// The indices of the events that may hold a credential, ascending.
    fn suspects(&mut self, events: &Bound<'_, PyList>) -> PyResult<Vec<usize>> {
        let mut out = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if self.suspect(&event)? {
                out.push(index);
            }
        }
        Ok(out)
    }
}

impl RedactGate {
    fn suspect(&mut self, event: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = event.py();
        let kind = event.get_type();
        let address = kind.as_ptr() as usize;
        if !self.kinds.contains_key(&address) {
            let fields = self.fields_of(&kind)?;
            if self.kinds.len() >= MAX_KINDS {
                self.kinds.clear();
            }
            self.kinds.insert(address, (kind.unbind(), fields));
        }
        let Some((_, fields)) = self.kinds.get(&address) else {
            return Ok(true);
        };
        if fields.is_empty() {
            return Ok(false);
        }
        let values = event
            .getattr(intern!(py, "__dict__"))?
            .downcast_into::<PyDict>()?;
        for (name, how) in fields {
            if let Some(value) = values.get_item(name.bind(py))? {
                if self.may_change(&value, *how)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The fields redaction reads that this event model has (`redact._fields_of`).
    fn fields_of(&self, kind: &Bound<'_, PyType>) -> PyResult<Fields> {
        let py = kind.py();
        let model_fields = kind.getattr(intern!(py, "model_fields"))?;
        let mut out = Vec::new();
        for (name, how) in &self.fields {
            if model_fields.contains(name)? {
                out.push((PyString::new(py, name).unbind(), *how));
            }
        }
        Ok(out)
    }

    /// Whether redaction could change this value (`redact` reads str, dict, list and `JsonText`).
    fn may_change(&self, value: &Bound<'_, PyAny>, how: How) -> PyResult<bool> {
        let py = value.py();
        let suspects = &self.suspects.get().0;
        if value.is_none() {
            return Ok(false);
        }
        if how == How::Json && value.is_exact_instance(self.json_text.bind(py)) {
            let data = value.getattr(intern!(py, "data"))?;
            // text that is not bytes is not the core's: Python's to read
            return Ok(data
                .extract::<&[u8]>()
                .map_or(true, |data| suspects.found_in(data)));
        }
        if how == How::Json && value.is_exact_instance_of::<PyDict>() {
            let object = value.downcast::<PyDict>()?;
            return Ok(flat_suspect(object, &self.redacted, |text| {
                suspects.found_in(text)
            }));
        }
        if how == How::Uri && value.is_exact_instance_of::<PyString>() {
            let text = value.downcast::<PyString>()?.to_str();
            return Ok(text.map_or(true, |text| self.query.get().0.found_in(text.as_bytes())));
        }
        Ok(value.is_instance_of::<PyString>()
            || value.is_instance_of::<PyDict>()
            || value.is_instance_of::<PyList>()
            || value.is_instance(self.json_text.bind(py))?)
    }
}

/// Whether an object of text values may hold a credential (`redact._flat_redacted`): a value holding
/// a suspect name, or a key holding one whose value is not empty or redacted already. A key's local
/// name is a secret field's only if the key holds a suspect name, and it changes only what is neither;
/// a name/value pair names a secret only with a value holding one; the pair's value changes only if
/// neither. Any other object (a value that is not text, text that is not UTF-8) may.
fn flat_suspect(
    value: &Bound<'_, PyDict>,
    redacted: &str,
    found_in: impl Fn(&[u8]) -> bool,
) -> bool {
    for (key, item) in value.iter() {
        let (Ok(key), Ok(item)) = (
            key.downcast_exact::<PyString>(),
            item.downcast_exact::<PyString>(),
        ) else {
            return true;
        };
        let (Ok(key), Ok(item)) = (key.to_str(), item.to_str()) else {
            return true;
        };
        let unset = item.is_empty() || item == redacted;
        if found_in(item.as_bytes()) || (!unset && found_in(key.as_bytes())) {
            return true;
        }
    }
    false
}
