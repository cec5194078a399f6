//! Event lines written by the core: a pydantic event model's fields straight to the sink's JSON, the
//! bytes pydantic-core's `to_json` gives (`wirecap/lines.py` holds the models to that, and falls back
//! to pydantic for any line this leaves alone).
//!
//! pydantic-core serialises through its schema and calls back into Python for the timestamp and body
//! fields: 4–12 µs an event, a tenth of a small message's whole cost. Here a model is a plan built
//! once per class by Python (`plan_of`: field names and the few kinds whose JSON depends on the
//! declared type), and the values are written by their runtime type with pydantic's own text rules
//! (`numbers::json_double`, `text::json_string`). Anything outside those rules — a big integer, a
//! string with a lone surrogate, a type the plan does not cover, a time outside 1970..=9999 — makes
//! the whole line `None`, and the caller asks pydantic: what it writes, or raises, stays the truth.
//! A nested model whose text cannot change (frozen, scalars only: an order line) is written once and
//! its text copied after (`Made`): snapshots repeat their order's lines, and were most of the time.

use crate::format::push_digits;
use crate::made::{Made, MAX_MADE_TEXT};
use crate::numbers::{json_double, push_int};
use crate::scope::Fnv;
use crate::text::json_string;
use crate::timestamp::Clock;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType, PyWeakrefReference,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Nesting written before the line is left to pydantic (whose own recursion guard then decides).
const MAX_DEPTH: usize = 200;
/// Model classes whose plans are kept (the table starts over past it: classes made at run time).
const MAX_PLANS: usize = 4096;
/// Integers a double holds exactly: a float field given an int is written as that double.
const EXACT_INT: i64 = 1 << 53;

/// How a field's value is written; codes as `wirecap/lines.py` gives them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// By the value's runtime type.
    Any = 0,
    /// Integer nanoseconds as the timestamp text (`Timestamp`).
    Time = 1,
    /// Declared float: an int is written as a double (`3` → `3.0`).
    Float = 2,
    /// Declared int: a bool is written as 0 or 1.
    Int = 3,
    /// A body (`JsonBody`): a `JsonText` is written as its text, anything else by its type.
    Body = 4,
}

impl Kind {
    fn from_code(code: u8) -> Option<Kind> {
        [Kind::Any, Kind::Time, Kind::Float, Kind::Int, Kind::Body]
            .into_iter()
            .find(|k| *k as u8 == code)
    }
}

struct Field {
    name: Py<PyString>,
    key: String, // `"name":`
    kind: Kind,
}

/// A model's fields in schema order; `frozen`: its class refuses attribute assignment.
struct Plan {
    fields: Vec<Field>,
    frozen: bool,
}

/// The line is left to pydantic.
struct Bail;

type Written = Result<(), Bail>;

impl From<PyErr> for Bail {
    fn from(_: PyErr) -> Self {
        Bail
    }
}

/// type address → (the type, kept alive so that the address is not reused; its plan, None if it has none);
/// keyed by address: FNV, not SipHash
type Plans = HashMap<usize, (Py<PyType>, Option<Arc<Plan>>), Fnv>;

#[pyclass(frozen)]
pub struct EventWriter {
    /// cls → ((field name, kind code), …) or None: a class it cannot write.
    plan_of: PyObject,
    json_text: Py<PyType>,
    decimal: Py<PyType>,
    plans: Mutex<Plans>,
    clock: Mutex<Clock>,
    made: Mutex<Made>,
}

#[pymethods]
impl EventWriter {
    #[new]
    fn new(plan_of: PyObject, json_text: Py<PyType>, decimal: Py<PyType>) -> Self {
        EventWriter {
            plan_of,
            json_text,
            decimal,
            plans: Mutex::new(HashMap::default()),
            clock: Mutex::new(Clock::default()),
            made: Mutex::new(Made::new()),
        }
    }

    /// The event's JSON line (no newline), None fields left out if `exclude_none`; None where the
    /// line must come from pydantic.
    fn line<'py>(
        &self,
        event: &Bound<'py, PyAny>,
        exclude_none: bool,
    ) -> Option<Bound<'py, PyBytes>> {
        let mut out = String::with_capacity(1024);
        self.write_line(event, exclude_none, &mut out)
            .then(|| PyBytes::new(event.py(), out.as_bytes()))
    }
}

impl EventWriter {
    /// `line` appended to `out` (the sink's chunk); false, and `out` as it was, where the line must
    /// come from pydantic.
    pub(crate) fn write_line(
        &self,
        event: &Bound<'_, PyAny>,
        exclude_none: bool,
        out: &mut String,
    ) -> bool {
        let start = out.len();
        let mut writer = Writer {
            owner: self,
            exclude_none,
            out,
            containers: 0,
        };
        let written = self
            .plan(event)
            .and_then(|plan| writer.model(event, &plan, 0))
            .is_ok();
        if !written {
            out.truncate(start);
        }
        written
    }

    fn plan(&self, value: &Bound<'_, PyAny>) -> Result<Arc<Plan>, Bail> {
        let cls = value.get_type();
        let address = cls.as_ptr() as usize;
        if let Some((_, plan)) = self.plans.lock().map_err(|_| Bail)?.get(&address) {
            return plan.clone().ok_or(Bail);
        }
        let plan = self.compile(&cls).ok().map(Arc::new);
        let mut plans = self.plans.lock().map_err(|_| Bail)?;
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        plans.insert(address, (cls.unbind(), plan.clone()));
        plan.ok_or(Bail)
    }

    fn compile(&self, cls: &Bound<'_, PyType>) -> Result<Plan, Bail> {
        let spec = self.plan_of.bind(cls.py()).call1((cls,))?;
        let spec = spec.downcast::<PyTuple>().map_err(|_| Bail)?;
        let frozen = cls
            .getattr(pyo3::intern!(cls.py(), "model_config"))
            .and_then(|config| config.get_item("frozen"))
            .and_then(|frozen| frozen.is_truthy())
            .unwrap_or(false);
        let mut fields = Vec::with_capacity(spec.len());
        for item in spec.iter() {
            let (name, code): (Bound<'_, PyString>, u8) = item.extract()?;
            let mut key = String::new();
            json_string(name.to_str()?, &mut key);
            key.push(':');
            let kind = Kind::from_code(code).ok_or(Bail)?;
            fields.push(Field {
                name: name.unbind(),
                key,
                kind,
            });
        }
        Ok(Plan { fields, frozen })
    }
}

struct Writer<'w> {
    owner: &'w EventWriter,
    exclude_none: bool,
    out: &'w mut String,
    /// containers, models and bodies written so far: a nested model during which none was written
    /// holds only scalars
    containers: usize,
}

impl Writer<'_> {
    /// A model's fields in schema order: read in the instance dict's own order while its keys are the
    /// plan's names (the dict `construct` and pydantic build), looked up by name otherwise.
    fn model(&mut self, obj: &Bound<'_, PyAny>, plan: &Plan, depth: usize) -> Written {
        let py = obj.py();
        let fields = obj.getattr(pyo3::intern!(py, "__dict__"))?;
        let fields = fields.downcast::<PyDict>().map_err(|_| Bail)?;
        let mut in_order = fields.len() == plan.fields.len();
        let mut items = fields.iter();
        self.out.push('{');
        let mut first = true;
        for field in &plan.fields {
            let name = field.name.bind(py);
            let mut next = None;
            if in_order {
                match items.next() {
                    Some((key, value)) if key.is(name) => next = Some(value),
                    _ => in_order = false,
                }
            }
            let value = match next {
                Some(value) => value,
                None => fields.get_item(name)?.ok_or(Bail)?,
            };
            if self.exclude_none && value.is_none() {
                continue;
            }
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(&field.key);
            self.field(&value, field.kind, depth + 1)?;
        }
        self.out.push('}');
        Ok(())
    }

    fn field(&mut self, value: &Bound<'_, PyAny>, kind: Kind, depth: usize) -> Written {
        match kind {
            Kind::Time => {
                let ns: i64 = value.downcast::<PyInt>().map_err(|_| Bail)?.extract()?;
                self.out.push('"');
                let mut clock = self.owner.clock.lock().map_err(|_| Bail)?;
                clock.write(ns, self.out).ok_or(Bail)?;
                self.out.push('"');
                Ok(())
            }
            Kind::Float if value.is_exact_instance_of::<PyInt>() => {
                let int: i64 = value.extract()?;
                if !(-EXACT_INT..=EXACT_INT).contains(&int) {
                    return Err(Bail);
                }
                #[allow(clippy::cast_precision_loss)] // exact: |int| <= 2^53
                json_double(int as f64, self.out);
                Ok(())
            }
            Kind::Float if !value.is_none() && !value.is_instance_of::<PyFloat>() => Err(Bail),
            Kind::Int if value.is_instance_of::<PyBool>() => {
                self.out.push(if value.is_truthy()? { '1' } else { '0' });
                Ok(())
            }
            Kind::Int if !value.is_none() && !value.is_instance_of::<PyInt>() => Err(Bail),
            Kind::Body if value.is_exact_instance(self.owner.json_text.bind(value.py())) => {
                self.containers += 1;
                let data = value.getattr(pyo3::intern!(value.py(), "data"))?;
                let data = data.downcast::<PyBytes>().map_err(|_| Bail)?;
                self.out
                    .push_str(std::str::from_utf8(data.as_bytes()).map_err(|_| Bail)?);
                Ok(())
            }
            Kind::Body => {
                self.containers += 1; // a body may be given as text now and as objects later
                self.value(value, depth)
            }
            _ => self.value(value, depth),
        }
    }

    /// A model inside the line: a frozen one holding only scalars is copied from its text once kept.
    fn nested_model(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> Written {
        let plan = self.owner.plan(obj)?;
        self.containers += 1;
        if !plan.frozen {
            return self.model(obj, &plan, depth);
        }
        let key = (obj.as_ptr() as usize, self.exclude_none);
        {
            let mut made = self.owner.made.lock().map_err(|_| Bail)?;
            if made.write_text(key, obj, self.out) {
                return Ok(());
            }
        }
        let (start, containers) = (self.out.len(), self.containers);
        self.model(obj, &plan, depth)?;
        let text = self.out.get(start..).unwrap_or_default();
        let made = &self.owner.made;
        if self.containers == containers
            && text.len() <= MAX_MADE_TEXT
            && made.lock().map_err(|_| Bail)?.seen_before(key)
        {
            // made outside the lock: making an object may start a collection, which runs Python; an
            // object without weak references is written each time
            if let Ok(kept) = PyWeakrefReference::new(obj) {
                made.lock().map_err(|_| Bail)?.keep(key, kept, text);
            }
        }
        Ok(())
    }

    /// A value by its runtime type, as pydantic-core infers it.
    fn value(&mut self, value: &Bound<'_, PyAny>, depth: usize) -> Written {
        if depth > MAX_DEPTH {
            return Err(Bail);
        }
        if value.is_none() {
            self.out.push_str("null");
        } else if let Ok(text) = value.downcast::<PyString>() {
            json_string(text.to_str()?, self.out);
        } else if value.is_instance_of::<PyBool>() {
            self.out
                .push_str(if value.is_truthy()? { "true" } else { "false" });
        } else if let Ok(int) = value.downcast::<PyInt>() {
            match int.extract::<i64>() {
                Ok(int) => push_int(int, self.out),
                Err(_) => push_digits(self.out, u128::from(int.extract::<u64>()?), 1),
            }
        } else if let Ok(float) = value.downcast::<PyFloat>() {
            let float = float.value();
            if float.is_finite() {
                json_double(float, self.out);
            } else {
                self.out.push_str("null"); // ser_json_inf_nan="null", pydantic's default
            }
        } else if let Ok(dict) = value.downcast::<PyDict>() {
            self.containers += 1;
            self.out.push('{');
            for (i, (key, item)) in dict.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                json_string(
                    key.downcast::<PyString>().map_err(|_| Bail)?.to_str()?,
                    self.out,
                );
                self.out.push(':');
                self.value(&item, depth + 1)?;
            }
            self.out.push('}');
        } else if let Ok(list) = value.downcast::<PyList>() {
            self.array(list.iter(), depth)?;
        } else if let Ok(tuple) = value.downcast::<PyTuple>() {
            self.array(tuple.iter(), depth)?;
        } else if value.is_exact_instance(self.owner.decimal.bind(value.py())) {
            json_string(value.str()?.to_str()?, self.out);
        } else {
            self.nested_model(value, depth)?;
        }
        Ok(())
    }

    fn array<'py>(
        &mut self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        depth: usize,
    ) -> Written {
        self.containers += 1;
        self.out.push('[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.value(&item, depth + 1)?;
        }
        self.out.push(']');
        Ok(())
    }
}
