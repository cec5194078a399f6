//! The iiko layer's events made by the core (`decoders._core.IikoEventMaker`): what
//! `decoders.iiko.OrderTracker.observe` builds from what was found in a message the core read —
//! UserEvents, order snapshots, the item events derived from two snapshots of an order
//! (`item_changes`), lock changes — made as `construct` makes them (template copies, `adopt`), in
//! the same order, with the tracker's own tables (`last`, `locked`: its insertion-ordered dicts,
//! shared with the reference path for the messages the core hands back). About 10 µs of Python a
//! message with something in it, and 2–3 ms for each sync of a 4000-line order.
//!
//! The values stay Python's: an order's id, a line's key and amount are compared by Python's own
//! hashing and equality (dict lookups, `!=`), a revision read by Python's `int` unless it is a
//! short run of ASCII digits. tests/test_core_iiko.py holds the events to the reference's.

use crate::wcf_python::{adopt, Model};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use std::collections::HashSet;

/// Revisions of up to this many ASCII digits are compared here (they fit a u64); others by `int`.
const NATIVE_DIGITS: usize = 18;

#[pyclass(module = "decoders._core", name = "IikoEventMaker")]
pub struct IikoEventMaker {
    /// `IikoSource`, `IikoEvent` (found, derived), `IikoOrderSnapshot`, `IikoOrderLock`,
    /// `IikoOrderUnlock`: class, template, names given (`decoders.events.core_model`)
    source: Model,
    event: Model,
    derived: Model,
    snapshot: Model,
    lock: Model,
    unlock: Model,
    /// the connection fields an iiko event copies from its source (`iiko.CONN_FIELDS`)
    conn_fields: Vec<Py<PyString>>,
    /// `decoders.iiko_recognise.Snapshot`: a found item of that class is a snapshot, else a UserEvent
    snapshot_class: Py<PyType>,
    /// UserEvent types that end an order (`iiko.CLOSING`)
    closing: HashSet<String>,
    /// a snapshot's status, lower-cased, that says its order ended (`iiko.CLOSED_STATUSES`)
    closed: HashSet<String>,
    /// order id → latest snapshot; order id → locked (`OrderTracker.last`, `.locked`)
    last: Py<PyDict>,
    locked: Py<PyDict>,
    max_orders: usize,
}

/// What a found item, a snapshot or a lock adds: its events, and the orders they end.
struct Out<'py> {
    events: Bound<'py, PyList>,
    ended: Vec<Bound<'py, PyAny>>,
}

#[pymethods]
impl IikoEventMaker {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        models: (Model, Model, Model, Model, Model, Model),
        conn_fields: Vec<Py<PyString>>,
        snapshot_class: Py<PyType>,
        closing: HashSet<String>,
        closed: HashSet<String>,
        last: Py<PyDict>,
        locked: Py<PyDict>,
        max_orders: usize,
    ) -> Self {
        let (source, event, derived, snapshot, lock, unlock) = models;
        IikoEventMaker {
            source,
            event,
            derived,
            snapshot,
            lock,
            unlock,
            conn_fields,
            snapshot_class,
            closing,
            closed,
            last,
            locked,
            max_orders,
        }
    }

    /// The events of one message (`transport`: "wcf", "http"): `found` as `CoreFinder.read` gives it
    /// (normalised), `change` the lock change, `order` the order a lock is about.
    #[pyo3(signature = (event, transport, found, change, order))]
    fn events<'py>(
        &self,
        event: &Bound<'py, PyAny>,
        transport: &Bound<'py, PyString>,
        found: &Bound<'py, PyList>,
        change: Option<(bool, Bound<'py, PyString>)>,
        order: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = event.py();
        let fields = event
            .getattr(intern!(py, "__dict__"))?
            .downcast_into::<PyDict>()?;
        let get = |name: &Bound<'py, PyString>| -> PyResult<Bound<'py, PyAny>> {
            fields
                .get_item(name)?
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.clone().unbind()))
        };
        let source = self.source.1.bind(py).copy()?;
        source.set_item(intern!(py, "uid"), get(intern!(py, "uid"))?)?;
        source.set_item(intern!(py, "seq"), get(intern!(py, "seq"))?)?;
        source.set_item(intern!(py, "transport"), transport)?;
        let common = PyDict::new(py);
        common.set_item(intern!(py, "ts"), get(intern!(py, "ts"))?)?;
        common.set_item(intern!(py, "source"), adopt(py, &self.source, source)?)?;
        for name in &self.conn_fields {
            common.set_item(name.bind(py), get(name.bind(py))?)?;
        }
        let mut out = Out {
            events: PyList::empty(py),
            ended: Vec::new(),
        };
        for item in found.iter() {
            if item.is_instance(self.snapshot_class.bind(py))? {
                self.snapshot_events(&item, &common, &mut out)?;
            } else {
                self.user_event(&item, &common, &mut out)?;
            }
        }
        if let (Some((is_unlock, operation)), Some(order)) = (change, order) {
            self.lock_event(is_unlock, &operation, &order, &common, &mut out)?;
        }
        let (last, locked) = (self.last.bind(py), self.locked.bind(py));
        for id in &out.ended {
            if id.is_truthy()? {
                // what is kept per order lives as long as the order
                if last.contains(id)? {
                    last.del_item(id)?;
                }
                if locked.contains(id)? {
                    locked.del_item(id)?;
                }
            }
        }
        Ok(out.events)
    }
}

impl IikoEventMaker {
    /// A model of `model`'s class: its template with `common` and `fields` set.
    fn made<'py>(
        &self,
        model: &Model,
        common: &Bound<'py, PyDict>,
        fields: &[(&Bound<'py, PyString>, Bound<'py, PyAny>)],
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = common.py();
        let values = model.1.bind(py).copy()?;
        for (name, value) in fields {
            values.set_item(name, value)?;
        }
        values.update(common.as_mapping())?;
        adopt(py, model, values)
    }

    /// A UserEvent found: `IikoEvent` (`OrderTracker._user_event`); one whose type ends an order
    /// ends it.
    fn user_event<'py>(
        &self,
        found: &Bound<'py, PyAny>,
        common: &Bound<'py, PyDict>,
        out: &mut Out<'py>,
    ) -> PyResult<()> {
        let py = found.py();
        let ty = found.getattr(intern!(py, "type"))?;
        let order = found.getattr(intern!(py, "order"))?;
        let fields = [
            (intern!(py, "type"), ty.clone()),
            (intern!(py, "order"), order.clone()),
            (intern!(py, "items"), found.getattr(intern!(py, "items"))?),
            (
                intern!(py, "attributes"),
                found.getattr(intern!(py, "attributes"))?,
            ),
        ];
        out.events
            .append(self.made(&self.event, common, &fields)?)?;
        let closes = ty
            .downcast::<PyString>()
            .ok()
            .and_then(|ty| ty.to_str().ok())
            .is_some_and(|ty| self.closing.contains(ty));
        if closes {
            out.ended.push(order.getattr(intern!(py, "id"))?);
        }
        Ok(())
    }

    /// A snapshot found: `IikoOrderSnapshot`, and the item events since the order's last one unless
    /// this one is stale (`OrderTracker._snapshot`).
    fn snapshot_events<'py>(
        &self,
        found: &Bound<'py, PyAny>,
        common: &Bound<'py, PyDict>,
        out: &mut Out<'py>,
    ) -> PyResult<()> {
        let py = found.py();
        let order = found.getattr(intern!(py, "order"))?;
        let items = found.getattr(intern!(py, "items"))?;
        let revision = found.getattr(intern!(py, "revision"))?;
        let fields = [
            (intern!(py, "order"), order.clone()),
            (intern!(py, "items"), items.clone()),
            (intern!(py, "revision"), revision.clone()),
        ];
        let snapshot = self.made(&self.snapshot, common, &fields)?;
        out.events.append(&snapshot)?;
        let id = order.getattr(intern!(py, "id"))?;
        if self.closed_status(&order.getattr(intern!(py, "status"))?)? {
            out.ended.push(id.clone());
        }
        let order_id = if id.is_truthy()? {
            id
        } else {
            PyString::new(py, "").into_any()
        };
        let last = self.last.bind(py);
        let previous = last.get_item(&order_id)?;
        if let Some(previous) = &previous {
            if older(&revision, &previous.getattr(intern!(py, "revision"))?)? {
                return Ok(()); // a stale copy (e.g. a terminal's list at registration)
            }
            last.del_item(&order_id)?;
            let before = previous.getattr(intern!(py, "items"))?;
            for (kind, line) in item_changes(&before, &items)? {
                let fields = [
                    (intern!(py, "type"), PyString::new(py, kind).into_any()),
                    (intern!(py, "order"), order.clone()),
                    (intern!(py, "items"), PyList::new(py, [line])?.into_any()),
                    (intern!(py, "attributes"), PyDict::new(py).into_any()),
                    (
                        intern!(py, "derived"),
                        true.into_pyobject(py)?.to_owned().into_any(),
                    ),
                ];
                out.events
                    .append(self.made(&self.derived, common, &fields)?)?;
            }
        }
        last.set_item(&order_id, &snapshot)?;
        if last.len() > self.max_orders {
            if let Some((oldest, _)) = last.iter().next() {
                last.del_item(oldest)?;
            }
        }
        Ok(())
    }

    /// `(order.status or "").lower() in CLOSED_STATUSES`
    fn closed_status(&self, status: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(status) = status.downcast::<PyString>() else {
            return Ok(false); // None, or not text: no status
        };
        Ok(match status.to_str() {
            Ok(text) if text.is_ascii() => self.closed.contains(&text.to_ascii_lowercase()),
            _ => {
                let lower = status.call_method0(intern!(status.py(), "lower"))?;
                let lower = lower.downcast::<PyString>()?.to_str().ok();
                lower.is_some_and(|text| self.closed.contains(text))
            }
        })
    }

    /// A lock change: `IikoOrderLock` or `IikoOrderUnlock`, unless the order's lock is known to be in
    /// that state already (`OrderTracker._lock`).
    fn lock_event<'py>(
        &self,
        is_unlock: bool,
        operation: &Bound<'py, PyString>,
        order: &Bound<'py, PyAny>,
        common: &Bound<'py, PyDict>,
        out: &mut Out<'py>,
    ) -> PyResult<()> {
        let py = order.py();
        let id = order.getattr(intern!(py, "id"))?;
        if !id.is_none() {
            let locked = self.locked.bind(py);
            if let Some(known) = locked.get_item(&id)? {
                if known.eq(!is_unlock)? {
                    return Ok(()); // no change: e.g. the main cash telling of a lock already seen
                }
                locked.del_item(&id)?;
            }
            locked.set_item(&id, !is_unlock)?;
            if locked.len() > self.max_orders {
                if let Some((oldest, _)) = locked.iter().next() {
                    locked.del_item(oldest)?;
                }
            }
        }
        let fields = [
            (intern!(py, "order_id"), id),
            (
                intern!(py, "terminal"),
                order.getattr(intern!(py, "terminal"))?,
            ),
            (intern!(py, "operation"), operation.clone().into_any()),
        ];
        let model = if is_unlock { &self.unlock } else { &self.lock };
        out.events.append(self.made(model, common, &fields)?)?;
        Ok(())
    }
}

/// `iiko._older`: whether a snapshot's revision is below the last one seen, both read by `int`.
fn older(revision: &Bound<'_, PyAny>, than: &Bound<'_, PyAny>) -> PyResult<bool> {
    if revision.is_none() || than.is_none() {
        return Ok(false);
    }
    let digits = |value: &Bound<'_, PyAny>| -> Option<u64> {
        let text = value.downcast::<PyString>().ok()?.to_str().ok()?;
        let plain = !text.is_empty()
            && text.len() <= NATIVE_DIGITS
            && text.bytes().all(|b| b.is_ascii_digit());
        plain.then(|| text.parse().ok()).flatten()
    };
    if let (Some(a), Some(b)) = (digits(revision), digits(than)) {
        return Ok(a < b);
    }
    let py = revision.py();
    let int = py.get_type::<pyo3::types::PyInt>();
    match (int.call1((revision,)), int.call1((than,))) {
        (Ok(a), Ok(b)) => a.lt(b),
        (Err(err), _) | (_, Err(err))
            if err.is_instance_of::<pyo3::exceptions::PyValueError>(py) =>
        {
            Ok(false)
        }
        (Err(err), _) | (_, Err(err)) => Err(err),
    }
}

/// `iiko.item_changes`: the journal-style item events between two snapshots of an order, lines
/// matched by their keys (`OrderTracker`'s rules: position id, else product and place).
fn item_changes<'py>(
    before: &Bound<'py, PyAny>,
    after: &Bound<'py, PyAny>,
) -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>> {
    let (old, new) = (by_key(before)?, by_key(after)?);
    let py = before.py();
    let flag = |line: &Bound<'py, PyAny>, name: &Bound<'py, PyString>| -> PyResult<bool> {
        line.getattr(name)?.is_truthy()
    };
    let (deleted, printed) = (intern!(py, "deleted"), intern!(py, "printed"));
    let amount = intern!(py, "amount");
    let mut changes = Vec::new();
    for (position, line) in new.iter() {
        let was = old.get_item(&position)?;
        match was {
            Some(was) if !flag(&was, deleted)? => {
                if flag(&line, deleted)? {
                    let printed = flag(&was, printed)? || flag(&line, printed)?;
                    changes.push((deleted_kind(printed), line));
                } else if line.getattr(amount)?.ne(was.getattr(amount)?)? {
                    changes.push(("changedItemAmount", line));
                }
            }
            _ => {
                if !flag(&line, deleted)? {
                    changes.push(("addItemToOrder", line));
                }
            }
        }
    }
    for (position, was) in old.iter() {
        if !new.contains(&position)? && !flag(&was, deleted)? {
            changes.push((deleted_kind(flag(&was, printed)?), was));
        }
    }
    Ok(changes)
}

fn deleted_kind(printed: bool) -> &'static str {
    if printed {
        "deletedPrintedItems"
    } else {
        "deletedNewItems"
    }
}

/// `{key(i, line): line for i, line in enumerate(lines)}`, key: the position id, else
/// `f"{line.product_id or line.product}#{i}"`.
fn by_key<'py>(lines: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = lines.py();
    let out = PyDict::new(py);
    for (index, line) in lines.try_iter()?.enumerate() {
        let line = line?;
        let position = line.getattr(intern!(py, "position_id"))?;
        let key = if position.is_truthy()? {
            position
        } else {
            let product = line.getattr(intern!(py, "product_id"))?;
            let product = if product.is_truthy()? {
                product
            } else {
                line.getattr(intern!(py, "product"))?
            };
            let text = product.str()?;
            match text.to_str() {
                Ok(text) => PyString::new(py, &format!("{text}#{index}")).into_any(),
                Err(_) => text.add(format!("#{index}"))?,
            }
        };
        out.set_item(key, line)?;
    }
    Ok(out)
}
