//! The binding of `iiko_find` (`decoders._core.IikoFinder`, used by `decoders/iiko_core.py`): the
//! Python recogniser answers as the oracle, results leave as text spans, and order lines already
//! normalised are found by their exact text. The core writes one text for one value, so a line's text
//! decides its parsed object and so its normalised line: a 4000-line order sent again costs hashing.

use crate::generations::Generations;
use crate::iiko_find::{find, Found, NamePlan, Oracle, ShapePlan, Stop, Tables};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

/// Normalised lines kept per generation (two of them: `Generations`); longer lines are not kept.
const MAX_LINES: usize = 8192;
const MAX_LINES_BYTES: usize = 32 << 20;
const MAX_LINE_BYTES: usize = 64 << 10;

/// Normalised lines by their text.
type LineCache = Generations<Box<[u8]>, PyObject>;

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
        let (known_type, event_name, names_events) = self.name.call1((name,))?.extract()?;
        Ok(NamePlan {
            known_type,
            event_name,
            names_events,
        })
    }
}

/// The iiko rules over the core's JSON text (`decoders.iiko_core.CoreFinder` holds one).
#[pyclass(module = "decoders._core", name = "IikoFinder")]
pub struct IikoFinder {
    shape: PyObject,
    name: PyObject,
    tables: Tables,
    lines: LineCache,
    /// messages read, handed back, lines found by their text, lines given to Python to normalise
    counts: [u64; 4],
}

#[pymethods]
impl IikoFinder {
    #[new]
    #[pyo3(signature = (shape, name, max_entries))]
    fn new(shape: PyObject, name: PyObject, max_entries: usize) -> Self {
        IikoFinder {
            shape,
            name,
            tables: Tables::new(max_entries),
            lines: LineCache::new(MAX_LINES, MAX_LINES_BYTES),
            counts: [0; 4],
        }
    }

    /// None (Python's to read), or (single keys, found): found items are (text index, "event", type,
    /// object text) and (text index, "snapshot", order fields text, lines: each the normalised line or
    /// None, [(position, line text)] of the Nones, for Python to normalise and `remember`).
    fn find<'py>(
        &mut self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyBytes>>,
        in_events: bool,
    ) -> PyResult<Option<(Vec<String>, Bound<'py, PyList>)>> {
        self.counts[0] += 1;
        let data: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let (shape, name) = (self.shape.bind(py), self.name.bind(py));
        let mut oracle = Callbacks { shape, name };
        let findings = match find(&data, in_events, &mut oracle, &mut self.tables) {
            Ok(findings) => findings,
            Err(Stop::Oracle(err)) => return Err(err),
            Err(Stop::HandBack) => {
                self.counts[1] += 1;
                return Ok(None);
            }
        };
        let out = PyList::empty(py);
        for (index, found) in findings.found {
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
                        match self.lines.get(line).map(|item| item.clone_ref(py)) {
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
        Ok(Some((findings.single_keys, out)))
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
