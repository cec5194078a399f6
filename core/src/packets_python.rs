//! The per-packet loop of `Pipeline.process_batch` (wirecap/pipeline.py, whose Python loop stays the
//! reference and the fallback) in the core: each packet's time checked and the sweep run as Python
//! runs them, an Ethernet/IPv4/TCP frame's fields read without a `struct` tuple, the connection found
//! in the pipeline's own table, and an in-order segment handed to its stream with the half's fields
//! kept as `HalfStream.in_order` keeps them. Everything else is the pipeline's own methods, called as
//! its loop calls them: `_parse` for any other frame, `_open`, `Connection.packet`, `_finish`,
//! `_sweep`, `_time_backwards`; and the data of an established [MC-NMF] direction to its lane
//! (`lane_python`), which takes the common segments in the core. tests/test_pipeline_core.py runs both loops on every capture and on
//! hypothesis-made packet sequences and holds them to the same events and state.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::lane_python::NmfLane;
use crate::packets::{common_frame, Record, CONTROL_FLAGS, LINKTYPE_ETHERNET, META_SIZE, SEQ_MASK};

/// `Pipeline.process_batch` after its counting: every packet of `meta` from `buf` (the batch as
/// `bytes`: a read-ahead slot's first bytes, taken by the caller), in order.
#[pyfunction]
pub(crate) fn process_batch(
    pipeline: &Bound<'_, PyAny>,
    linktype: u32,
    buf: &Bound<'_, PyBytes>,
    meta: &Bound<'_, PyBytes>,
) -> PyResult<()> {
    let py = pipeline.py();
    let data = buf.as_bytes();
    let entries = meta.as_bytes();
    let table = pipeline
        .getattr(intern!(py, "table"))?
        .downcast_into::<PyDict>()?;
    let batch_start: u64 = pipeline.getattr(intern!(py, "clock"))?.extract()?;
    let mut clock = batch_start;
    let mut next_sweep: u64 = pipeline.getattr(intern!(py, "_next_sweep"))?.extract()?;
    let ethernet = linktype == LINKTYPE_ETHERNET;
    for entry in entries.chunks_exact(META_SIZE) {
        let Record {
            off,
            caplen,
            mut ts,
        } = Record::of(entry);
        if ts < clock {
            pipeline.call_method1(
                intern!(py, "_time_backwards"),
                (ts, clock, meta, batch_start),
            )?;
            ts = clock;
        } else if ts >= next_sweep {
            pipeline.call_method1(intern!(py, "_sweep"), (ts,))?;
            next_sweep = pipeline.getattr(intern!(py, "_next_sweep"))?.extract()?;
        }
        clock = ts;
        let frame = if ethernet {
            common_frame(data, off, caplen)
        } else {
            None
        };
        let (key, seq, ack, flags, payload) = match frame {
            Some(f) => {
                let payload = data.get(f.payload).unwrap_or_default();
                let key = PyBytes::new(py, &f.key).into_any();
                let payload = PyBytes::new(py, payload).into_any();
                (key, f.seq, f.ack, f.flags, payload)
            }
            None => {
                let args = (linktype, buf, off, caplen, ts);
                let segment = pipeline.call_method1(intern!(py, "_parse"), args)?;
                if segment.is_none() {
                    continue;
                }
                segment.extract()?
            }
        };
        let found = match table.get_item(&key)? {
            Some(found) => found,
            None => {
                pipeline.setattr(intern!(py, "clock"), clock)?;
                let opened = pipeline.call_method1(intern!(py, "_open"), (&key, flags, ts))?;
                if opened.is_none() {
                    continue;
                }
                opened
            }
        };
        let found = found.downcast::<PyTuple>()?;
        let (conn, half) = (found.get_item(0)?, found.get_item(1)?);
        let from_resp = found.get_item(2)?;
        if flags & CONTROL_FLAGS == 0 && in_order(&half, seq)? {
            let sender = Sender {
                conn: &conn,
                half: &half,
                from_resp: &from_resp,
                state: &found.get_item(3)?,
            };
            deliver(&sender, seq, &payload, ts)?;
            continue;
        }
        let args = (from_resp, seq, ack, flags, &payload, ts);
        conn.call_method1(intern!(py, "packet"), args)?;
        let reason = conn.getattr(intern!(py, "close_reason"))?;
        if !reason.is_none() {
            let state = found.get_item(3)?;
            pipeline.call_method1(intern!(py, "_finish"), (state, reason, ts))?;
        }
    }
    pipeline.setattr(intern!(py, "clock"), clock)
}

/// Whether a segment at `seq` is the next of `half` and it may take the fast path (`half.fast`).
fn in_order(half: &Bound<'_, PyAny>, seq: u32) -> PyResult<bool> {
    let py = half.py();
    if !half.getattr(intern!(py, "fast"))?.is_truthy()? {
        return Ok(false);
    }
    let next: Option<u32> = half.getattr(intern!(py, "next_seq"))?.extract()?;
    Ok(next == Some(seq))
}

/// The connection a segment belongs to, as the pipeline's table holds it.
struct Sender<'a, 'py> {
    conn: &'a Bound<'py, PyAny>,
    half: &'a Bound<'py, PyAny>,
    /// 0 from the originator, 1 from the responder: the index of its half and its lane
    from_resp: &'a Bound<'py, PyAny>,
    state: &'a Bound<'py, PyAny>,
}

/// An in-order segment on the fast path: the pipeline's loop and `HalfStream.in_order`, inlined there;
/// the data to the direction's lane (`lane_python`) if it takes it, else to `ConnState.data`.
fn deliver(sender: &Sender<'_, '_>, seq: u32, payload: &Bound<'_, PyAny>, ts: u64) -> PyResult<()> {
    let Sender {
        conn,
        half,
        from_resp,
        state,
    } = sender;
    let py = conn.py();
    conn.setattr(intern!(py, "last_ts"), ts)?;
    let packets: u64 = half.getattr(intern!(py, "packets"))?.extract()?;
    half.setattr(intern!(py, "packets"), packets + 1)?;
    let n = payload.len()?;
    if n == 0 {
        return Ok(());
    }
    let offset = half.getattr(intern!(py, "offset"))?;
    half.setattr(intern!(py, "last"), (&offset, payload))?;
    let offset: u64 = offset.extract()?;
    half.setattr(intern!(py, "offset"), offset + n as u64)?;
    half.setattr(
        intern!(py, "next_seq"),
        (u64::from(seq) + n as u64) & SEQ_MASK,
    )?;
    if !half.getattr(intern!(py, "deliver"))?.is_truthy()? {
        return Ok(());
    }
    let lanes = state.getattr(intern!(py, "lanes"))?;
    if !lanes.is_none() {
        let lane = lanes.get_item(from_resp)?;
        if let (Ok(lane), Ok(bytes)) = (lane.downcast::<NmfLane>(), payload.downcast::<PyBytes>()) {
            if lane.try_borrow_mut()?.take(state, bytes, ts)? {
                return Ok(());
            }
        }
    }
    let direction = half.getattr(intern!(py, "direction"))?;
    state.call_method1(intern!(py, "data"), (direction, payload, ts))?;
    Ok(())
}
