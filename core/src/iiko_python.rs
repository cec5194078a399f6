//! The binding of `iiko_find` (`decoders._core.IikoFinder`, used by `decoders/iiko_core.py`): the
//! Python recogniser answers as the oracle, results leave as text spans, and order lines already
//! normalised are found by their exact text. The core writes one text for one value, so a line's text
//! decides its parsed object and so its normalised line: a 4000-line order sent again costs hashing.

use crate::generations::Generations;
use crate::iiko_find::{
    find, lock_change, speak_of_events, Found, NamePlan, Oracle, ShapePlan, Stop, Tables,
};
use crate::iiko_json::first_key;
use crate::python::PyNeedles;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

/// Normalised lines kept per generation (two of them: `Generations`); longer lines are not kept.
const MAX_LINES: usize = 8192;
const MAX_LINES_BYTES: usize = 32 << 20;
const MAX_LINE_BYTES: usize = 64 << 10;

/// Normalised lines by their text.
type LineCache = Generations<Box<[u8]>, PyObject>;

/// A lock change, (is_unlock, the name that said so).
type Change = (bool, String);
/// What `IikoFinder.read` gives: the lock change where nothing is found, and what was found.
type Reading<'py> = (Option<Change>, Bound<'py, PyList>);
/// A message as the tracker reads it: its operation names and its bodies' texts.
type Message<'py> = (Vec<String>, Vec<Bound<'py, PyBytes>>);

/// The oracle: the Python callables `shape(keys) -> tuple` and `name(name) -> tuple`.
struct Callbacks<'a, 'py> {
    shape: &'a Bound<'py, PyAny>,
    name: &'a Bound<'py, PyAny>,
}

type ShapeTuple = (
    Vec<usize>,
    Option<usize>,
    Option<usize>,
    bool,
    Vec<(usize, bool, bool)>,
    Vec<usize>,
    Vec<usize>,
    Vec<usize>,
    Vec<usize>,
    Vec<usize>,
    Vec<usize>,
);

impl Oracle for Callbacks<'_, '_> {
    type Error = PyErr;

    fn shape(&mut self, keys: &[&str]) -> PyResult<ShapePlan> {
        let keys = PyTuple::new(self.shape.py(), keys)?;
        let plan: ShapeTuple = self.shape.call1((keys,))?.extract()?;
        let (type_keys, xsi_type, item_list, candidate, children, order_id) =
            (plan.0, plan.1, plan.2, plan.3, plan.4, plan.5);
        let (order_shown, order_keys, product, amount, item_lists) =
            (plan.6, plan.7, plan.8, plan.9, plan.10);
        Ok(ShapePlan {
            type_keys,
            xsi_type,
            item_list,
            candidate,
            children,
            order_id,
            order_shown,
            order_keys,
            product,
            amount,
            item_lists,
        })
    }

    fn name(&mut self, name: &str) -> PyResult<NamePlan> {
        let (known_type, event_name, names_events, lock) = self.name.call1((name,))?.extract()?;
        Ok(NamePlan {
            known_type,
            event_name,
            names_events,
            lock,
        })
    }
}

/// The iiko rules over the core's JSON text (`decoders.iiko_core.CoreFinder` holds one).
#[pyclass(module = "decoders._core", name = "IikoFinder")]
pub struct IikoFinder {
    shape: PyObject,
    name: PyObject,
    /// `decoders.json_text.JsonText`: the bodies read here are of that exact type
    json_text: PyObject,
    /// the names the rules look for in a text and the characters that lower-case to them
    /// (`OrderTracker._text_needles`); None: every text is read
    needles: Option<Py<PyNeedles>>,
    tables: Tables,
    lines: LineCache,
    /// messages read, handed back, lines found by their text, lines given to Python to normalise
    counts: [u64; 4],
}

#[pymethods]
impl IikoFinder {
    #[new]
    #[pyo3(signature = (shape, name, max_entries, json_text, needles))]
    fn new(
        shape: PyObject,
        name: PyObject,
        max_entries: usize,
        json_text: PyObject,
        needles: Option<Py<PyNeedles>>,
    ) -> Self {
        IikoFinder {
            shape,
            name,
            json_text,
            needles,
            tables: Tables::new(max_entries),
            lines: LineCache::new(MAX_LINES, MAX_LINES_BYTES),
            counts: [0; 4],
        }
    }

    /// `OrderTracker.observe`'s reading of a WCF message or an iikoRMS call (`transport` "wcf" or
    /// "http") whose bodies are the core's JSON text: None (the reference reads it: other bodies, or
    /// text the core is not certain to read as Python does), or (the lock change where nothing is
    /// found, found). Found items are (text index, "event", type, object text) and (text index,
    /// "snapshot", order fields text, lines: each the normalised line or None, [(position, line
    /// text)] of the Nones, for Python to normalise and `remember`).
    fn read<'py>(
        &mut self,
        event: &Bound<'py, PyAny>,
        transport: &str,
    ) -> PyResult<Option<Reading<'py>>> {
        let py = event.py();
        let Some((mut names, texts)) = self.message(event, transport)? else {
            return Ok(None);
        };
        let data: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let (shape, name) = (self.shape.bind(py), self.name.bind(py));
        let mut oracle = Callbacks { shape, name };
        let tables = &mut self.tables;
        if self
            .needles
            .as_ref()
            .is_some_and(|needles| !data.iter().any(|text| needles.get().0.found_in(text)))
        {
            // `OrderTracker._nothing_in`: no name the rules look for; a lock is read from names
            let mut gate = names.clone();
            for text in &data {
                match first_key(text) {
                    Ok(key) => gate.extend(key.filter(|k| !k.is_empty())),
                    Err(()) => return Ok(None),
                }
            }
            if lock_change(&gate, &mut oracle, tables)?.is_none() {
                return Ok(Some((None, PyList::empty(py))));
            }
        }
        self.counts[0] += 1;
        let in_events = speak_of_events(&names, &mut oracle, tables)?;
        let findings = match find(&data, in_events, &mut oracle, tables) {
            Ok(findings) => findings,
            Err(Stop::Oracle(err)) => return Err(err),
            Err(Stop::HandBack) => {
                self.counts[1] += 1;
                return Ok(None);
            }
        };
        let change = if findings.found.is_empty() {
            names.extend(findings.single_keys.into_iter().filter(|k| !k.is_empty()));
            lock_change(&names, &mut oracle, tables)?
        } else {
            None
        };
        Ok(Some((change, self.found(py, &data, findings.found)?)))
    }

    /// Keep normalised lines under their texts (the misses of `find`, once Python normalised them).
    fn remember(&mut self, texts: Vec<Vec<u8>>, items: Vec<PyObject>) {
        for (text, item) in texts.into_iter().zip(items) {
            if text.len() <= MAX_LINE_BYTES {
                let size = text.len();
                self.lines.insert(text.into_boxed_slice(), item, size);
            }
        }
    }

    /// (messages read, handed back to Python, lines found by their text, lines normalised by Python)
    #[getter]
    fn counts(&self) -> (u64, u64, u64, u64) {
        let [read, handed_back, known, normalised] = self.counts;
        (read, handed_back, known, normalised)
    }
}

impl IikoFinder {
    /// (operation names, body texts) of the message as `OrderTracker` reads them (`_operation_names`
    /// without keys, `_texts`); None where a body is not the core's text or a name is not UTF-8.
    fn message<'py>(
        &self,
        event: &Bound<'py, PyAny>,
        transport: &str,
    ) -> PyResult<Option<Message<'py>>> {
        let py = event.py();
        let fields = event
            .getattr(intern!(py, "__dict__"))?
            .downcast_into::<PyDict>()?;
        let text = |key: &Bound<'py, PyString>| -> PyResult<Option<Option<String>>> {
            Ok(match fields.get_item(key)? {
                Some(value) => value.extract::<Option<String>>().ok(),
                None => Some(None),
            })
        };
        let (names, bodies) = match transport {
            "wcf" => {
                let (Some(action), Some(element)) = (
                    text(intern!(py, "action"))?,
                    text(intern!(py, "body_element"))?,
                ) else {
                    return Ok(None);
                };
                let action = action.unwrap_or_default();
                let last = action.rsplit('/').next().unwrap_or_default().to_owned();
                (
                    vec![last, element.unwrap_or_default()],
                    vec![intern!(py, "body")],
                )
            }
            "http" => {
                let Some(method) = text(intern!(py, "method_name"))? else {
                    return Ok(None);
                };
                let bodies = vec![intern!(py, "request"), intern!(py, "response")];
                (vec![method.unwrap_or_default()], bodies)
            }
            _ => return Ok(None),
        };
        let json_text = self.json_text.bind(py);
        let mut texts = Vec::with_capacity(bodies.len());
        for key in bodies {
            match fields.get_item(key)? {
                Some(body) if body.is_exact_instance(json_text) => texts.push(
                    body.getattr(intern!(py, "data"))?
                        .downcast_into::<PyBytes>()?,
                ),
                Some(body) if !body.is_none() => return Ok(None),
                _ => {}
            }
        }
        let names = names.into_iter().filter(|n| !n.is_empty()).collect();
        Ok(Some((names, texts)))
    }

    /// What was found, for Python: spans as bytes, lines already normalised looked up by their text.
    fn found<'py>(
        &mut self,
        py: Python<'py>,
        data: &[&[u8]],
        found: Vec<(usize, Found)>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (index, found) in found {
            let text = data.get(index).copied().unwrap_or_default();
            let span =
                |(a, b): (usize, usize)| PyBytes::new(py, text.get(a..b).unwrap_or_default());
            match found {
                Found::Event { ty, span: at } => out.append((index, "event", ty, span(at)))?,
                Found::Snapshot { order, lines } => {
                    let items = PyList::empty(py);
                    let misses = PyList::empty(py);
                    for (position, at) in lines.into_iter().enumerate() {
                        let line = text.get(at.0..at.1).unwrap_or_default();
                        match self.lines.get_with(line, |item| item.clone_ref(py)) {
                            Some(item) => {
                                self.counts[2] += 1;
                                items.append(item)?;
                            }
                            None => {
                                self.counts[3] += 1;
                                items.append(py.None())?;
                                misses.append((position, span(at)))?;
                            }
                        }
                    }
                    out.append((index, "snapshot", PyBytes::new(py, &order), items, misses))?;
                }
            }
        }
        Ok(out)
    }
}
