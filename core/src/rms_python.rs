//! `rms.call` events made by the core from an exchange `decoders/http.py` collected: the event that
//! `decoders/http_exchange.py` `exchange_events` builds (its bodies content-decoded, read as XML into
//! JSON text, the `<result>` verdict, `<service>` and `methodName`, the headers redacted), made here
//! without about a hundred µs of Python a call (the small-message benchmark's largest share).
//!
//! Only where the pure-Python path would make the same event with no anomaly: `event` gives None for
//! anything else (a body that does not inflate or is cut, a coding or charset the core does not read
//! as Python does, XML the core leaves to expat, a query with escapes), and the caller makes it the
//! reference way. Bodies inflate through Python's `zlib`, as `decoders.inflate` does, in one step: a
//! stream that ends within it and within the size limit is what `inflate` returns; the rest is its to
//! decide. tests/test_core_rms.py holds the two to the same events.

use crate::python::limits;
use crate::resto::{self, Verdict};
use crate::structure::Limits;
use crate::textxml::body_json;
use crate::wcf_python::{adopt, body_value, Model};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyFrozenSet, PyString, PyType};

/// `zlib.decompressobj`, looked up once.
static DECOMPRESSOBJ: GILOnceCell<PyObject> = GILOnceCell::new();
/// `decoders.inflate.STEP`: output bytes of `inflate`'s first step (its ratio check starts past it).
const STEP: usize = 1 << 20;

/// A body as the event holds it: its JSON text (None: not XML, or empty) and decoded size.
type Read = (Option<String>, Option<usize>);

#[pyclass(frozen, module = "decoders._core", name = "RmsEventMaker")]
pub struct RmsEventMaker {
    model: Model,
    json_text: Py<PyType>,
    /// The header names replaced by `redacted` (None: secrets kept, the headers as they are).
    secret_headers: Option<Py<PyFrozenSet>>,
    redacted: Py<PyString>,
    limits: Limits,
    /// A body's limit after content decoding (`min(max_http_body, max_decompressed)`).
    max_size: usize,
}

#[pymethods]
impl RmsEventMaker {
    /// `model`: (`RmsCall`, its template, names given); `json_text`: `decoders.json_text.JsonText`;
    /// `secret_headers`, `redacted`: `decoders.http_exchange.SECRET_HEADERS` and `REDACTED`, or None
    /// to keep secrets.
    #[new]
    #[pyo3(signature = (model, json_text, secret_headers, redacted, *, max_size,
        max_depth = crate::nbfx::MAX_DEPTH, max_elements = crate::nbfx::MAX_ELEMENTS))]
    fn new(
        model: Model,
        json_text: Py<PyType>,
        secret_headers: Option<Py<PyFrozenSet>>,
        redacted: Py<PyString>,
        max_size: usize,
        max_depth: usize,
        max_elements: usize,
    ) -> PyResult<Self> {
        Ok(RmsEventMaker {
            model,
            json_text,
            secret_headers,
            redacted,
            limits: limits(max_depth, max_elements)?,
            max_size,
        })
    }

    /// The `rms.call` of `exchange` (a `decoders.http_exchange.Exchange`) emitted at `ts`, or None:
    /// the pure-Python path's to make, with its anomalies.
    fn event<'py>(
        &self,
        py: Python<'py>,
        exchange: &Bound<'py, PyAny>,
        ts: Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let headers = exchange
            .getattr(intern!(py, "headers"))?
            .downcast_into::<PyDict>()?;
        let response_headers = exchange
            .getattr(intern!(py, "response_headers"))?
            .downcast_into::<PyDict>()?;
        let request_body = exchange.getattr(intern!(py, "request"))?;
        let response_body = exchange.getattr(intern!(py, "response"))?;
        let status = exchange.getattr(intern!(py, "status"))?;
        let Some(request) = self.read(py, &request_body, &headers)? else {
            return Ok(None);
        };
        let response = if status.is_none() {
            (None, None)
        } else {
            match self.read(py, &response_body, &response_headers)? {
                Some(read) => read,
                None => return Ok(None),
            }
        };
        let Some((success, error_string)): Option<Verdict> =
            resto::verdict(response.0.as_deref().map(str::as_bytes))
        else {
            return Ok(None);
        };
        let target = exchange.getattr(intern!(py, "target"))?;
        let Ok(uri) = target.downcast::<PyString>()?.to_str() else {
            return Ok(None);
        };
        let (path, query) = resto::split_uri(uri);
        let Some(method_name) = resto::method_name(query.unwrap_or("")) else {
            return Ok(None);
        };
        let request_ts = exchange.getattr(intern!(py, "ts"))?;
        let request_complete = request_body.getattr(intern!(py, "complete"))?.is_truthy()?;
        let response_complete = response_body
            .getattr(intern!(py, "complete"))?
            .is_truthy()?;
        let duration_ms = if response_complete {
            Some(ts.sub(&request_ts)?.div(1e6)?)
        } else {
            None
        };
        let fields = self.model.1.bind(py).copy()?;
        fields.set_item(intern!(py, "ts"), ts)?;
        fields.set_item(
            intern!(py, "method"),
            exchange.getattr(intern!(py, "method"))?,
        )?;
        fields.set_item(intern!(py, "uri"), &target)?;
        fields.set_item(intern!(py, "service"), resto::service(path))?;
        fields.set_item(intern!(py, "method_name"), method_name)?;
        for (field, header) in [
            (
                intern!(py, "terminal_id"),
                intern!(py, "x-resto-terminalid"),
            ),
            (intern!(py, "login_name"), intern!(py, "x-resto-loginname")),
            (
                intern!(py, "correlation_id"),
                intern!(py, "x-resto-correlationid"),
            ),
        ] {
            fields.set_item(field, headers.get_item(header)?)?;
        }
        fields.set_item(intern!(py, "request_headers"), self.headers(py, &headers)?)?;
        fields.set_item(intern!(py, "status"), status)?;
        fields.set_item(
            intern!(py, "reason"),
            exchange.getattr(intern!(py, "reason"))?,
        )?;
        fields.set_item(intern!(py, "success"), success)?;
        fields.set_item(intern!(py, "error_string"), error_string)?;
        fields.set_item(intern!(py, "request_ts"), request_ts)?;
        fields.set_item(intern!(py, "duration_ms"), duration_ms)?;
        let size = intern!(py, "size");
        fields.set_item(
            intern!(py, "request_body_bytes"),
            request_body.getattr(size)?,
        )?;
        fields.set_item(intern!(py, "request_decoded_bytes"), request.1)?;
        fields.set_item(
            intern!(py, "response_body_bytes"),
            response_body.getattr(size)?,
        )?;
        fields.set_item(intern!(py, "response_decoded_bytes"), response.1)?;
        fields.set_item(
            intern!(py, "response_headers"),
            self.headers(py, &response_headers)?,
        )?;
        fields.set_item(
            intern!(py, "complete"),
            request_complete && response_complete,
        )?;
        fields.set_item(intern!(py, "request"), self.body(py, request.0)?)?;
        fields.set_item(intern!(py, "response"), self.body(py, response.0)?)?;
        adopt(py, &self.model, fields).map(Some)
    }
}

impl RmsEventMaker {
    /// `body_json` of a body under `headers`, or None: Python's to read (and to raise).
    fn read(
        &self,
        py: Python<'_>,
        body: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyDict>,
    ) -> PyResult<Option<Read>> {
        let complete = body.getattr(intern!(py, "complete"))?.is_truthy()?;
        let size: usize = body.getattr(intern!(py, "size"))?.extract()?;
        if !complete || size == 0 {
            return Ok(Some((None, None)));
        }
        let wire = body
            .getattr(intern!(py, "wire"))?
            .downcast_into::<PyByteArray>()?;
        if size > wire.len() {
            return Ok(None);
        }
        let encoding = text(headers, intern!(py, "content-encoding"))?;
        let Some(coding) = resto::coding(encoding.as_deref()) else {
            return Ok(None);
        };
        let plain = match coding.window_bits() {
            None => wire.to_vec(),
            Some(bits) => match self.inflated(py, &wire, bits)? {
                Some(plain) => plain,
                None => return Ok(None),
            },
        };
        let content_type = text(headers, intern!(py, "content-type"))?.unwrap_or_default();
        if !resto::is_xml(&content_type, &plain) {
            return Ok(Some((None, Some(plain.len()))));
        }
        let Some(charset) = resto::charset(&content_type) else {
            return Ok(None);
        };
        Ok(body_json(&plain, charset, self.limits).map(|json| (Some(json), Some(plain.len()))))
    }

    /// `inflate`'s output where its first step ends the stream within the size limit; None else.
    /// `zlib` reads the body's bytearray as it is (no copy to hand it over).
    fn inflated(
        &self,
        py: Python<'_>,
        wire: &Bound<'_, PyByteArray>,
        bits: i32,
    ) -> PyResult<Option<Vec<u8>>> {
        let decompressobj = DECOMPRESSOBJ.get_or_try_init(py, || -> PyResult<PyObject> {
            Ok(py.import("zlib")?.getattr("decompressobj")?.unbind())
        })?;
        let inflater = decompressobj.bind(py).call1((bits,))?;
        let step = STEP.min(self.max_size.saturating_add(1));
        let Ok(out) = inflater.call_method1(intern!(py, "decompress"), (wire, step)) else {
            return Ok(None); // zlib.error: `inflate` raises its anomaly
        };
        if !inflater.getattr(intern!(py, "eof"))?.is_truthy()? {
            return Ok(None);
        }
        let out = out.downcast_into::<PyBytes>()?;
        let plain = out.as_bytes();
        Ok((plain.len() <= self.max_size).then(|| plain.to_vec()))
    }

    /// `redacted(headers)`, or the headers themselves when secrets are kept.
    fn headers<'py>(
        &self,
        py: Python<'py>,
        headers: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let Some(secret) = &self.secret_headers else {
            return Ok(headers.clone());
        };
        let secret = secret.bind(py);
        let out = PyDict::new(py);
        for (name, value) in headers.iter() {
            if secret.contains(&name)? {
                out.set_item(name, self.redacted.bind(py))?;
            } else {
                out.set_item(name, value)?;
            }
        }
        Ok(out)
    }

    /// A body field's value: None for no JSON, else as `body_value` makes it.
    fn body<'py>(
        &self,
        py: Python<'py>,
        json: Option<String>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match json {
            Some(json) => body_value(py, &self.json_text, &json),
            None => Ok(None),
        }
    }
}

/// `headers.get(name)` as text.
fn text(headers: &Bound<'_, PyDict>, name: &Bound<'_, PyString>) -> PyResult<Option<String>> {
    headers
        .get_item(name)?
        .map(|value| value.extract())
        .transpose()
}
