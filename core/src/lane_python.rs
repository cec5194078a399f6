//! An established [MC-NMF] direction's in-order segments taken by the core's packet loop
//! (`packets_python::deliver`) without `ConnState.data` → `NmfDecoder.feed` → … in Python for each,
//! in the two shapes most segments of a net.tcp session have:
//! - a piece of an envelope payload being collected, not its last: appended to the flow's pieces and
//!   counted, as `NmfDecoder._collect` takes it;
//! - whole SizedEnvelopes and nothing else: framed, made events and paired by `envelope_run`, as the
//!   decoder's `_whole_envelopes` runs them once the segment is in its (empty) buffer.
//!
//! Any other segment, and either shape while the flow is not where the Python decoder would take that
//! path, goes to `ConnState.data` as before. The lane reads and writes the Python flow's own fields
//! (`decoders.nmf_records._Flow`), so nothing is handed back: the decoder finds the flow as its own
//! `feed` would have left it. tests/test_pipeline_core.py holds the core's loop, lanes included, to
//! the Python loop, which has none.

use crate::nmf;
use crate::python::Session;
use crate::wcf_python::{Outstanding, WcfEventMaker};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyTuple};

/// The lane of one direction of one `NmfDecoder` (`NmfDecoder.lane`; `ConnState.lanes`).
#[pyclass(module = "decoders._core", name = "NmfLane")]
pub struct NmfLane {
    decoder: PyObject,
    flow: PyObject,
    /// `State.ESTABLISHED` and `Envelope.NONE`, compared by identity as Python compares them
    established: PyObject,
    no_envelope: PyObject,
    /// the payload families whose envelopes the core makes events of (`CORE_FAMILIES`)
    families: PyObject,
    /// the codec last looked at, and its (label, string table?) if the core runs its envelopes
    codec: Option<(PyObject, Option<(PyObject, bool)>)>,
}

#[pymethods]
impl NmfLane {
    #[new]
    fn new(
        decoder: PyObject,
        flow: PyObject,
        established: PyObject,
        no_envelope: PyObject,
        families: PyObject,
    ) -> Self {
        NmfLane {
            decoder,
            flow,
            established,
            no_envelope,
            families,
            codec: None,
        }
    }
}

impl NmfLane {
    /// Whether the lane took `payload` (the next bytes of its direction, `state`'s connection); if not,
    /// the caller hands it to `state.data`. A decoder error is reported as `ConnState.data` reports it.
    pub(crate) fn take(
        &mut self,
        state: &Bound<'_, PyAny>,
        payload: &Bound<'_, PyBytes>,
        ts: u64,
    ) -> PyResult<bool> {
        let py = state.py();
        let decoder = self.decoder.bind(py).clone();
        let flow = self.flow.bind(py).clone();
        let n = payload.as_bytes().len();
        if n == 0
            || !state.getattr(intern!(py, "decoder"))?.is(&decoder)
            || !flow.getattr(intern!(py, "state"))?.is(&self.established)
        {
            return Ok(false);
        }
        let buf = flow.getattr(intern!(py, "buf"))?;
        if !buf
            .getattr(intern!(py, "_data"))?
            .downcast::<PyByteArray>()?
            .is_empty()
        {
            return Ok(false); // a record's start is buffered: the record loop's
        }
        let pending: usize = flow.getattr(intern!(py, "pending"))?.extract()?;
        if pending > 0 {
            return collect(&flow, payload, pending);
        }
        if !flow.getattr(intern!(py, "envelope"))?.is(&self.no_envelope) {
            return Ok(false);
        }
        let Some((label, table)) = self.run_codec(&flow)? else {
            return Ok(false);
        };
        let max_envelope: usize = decoder.getattr(intern!(py, "_max_envelope"))?.extract()?;
        if !nmf::only_whole_envelopes(payload.as_bytes(), max_envelope) {
            return Ok(false);
        }
        let base: usize = buf.getattr(intern!(py, "_base"))?.extract()?;
        let events = PyList::empty(py);
        let ts = ts.into_pyobject(py)?.into_any();
        let label = label.bind(py);
        let run = envelope_run(
            &decoder,
            &flow,
            &events,
            payload.as_bytes(),
            0,
            base,
            &ts,
            label,
            table,
        );
        match run {
            Ok((0, false)) => return Ok(false), // nothing run (a time beyond the table's): Python's
            Ok((end, stopped)) => {
                // the buffer as feed leaves it: the segment appended, consumed and compacted away
                buf.setattr(intern!(py, "_base"), base.saturating_add(end))?;
                if stopped {
                    state.call_method1(intern!(py, "_emit"), (events,))?;
                } else if !events.is_empty() {
                    let out = state
                        .getattr(intern!(py, "pipeline"))?
                        .getattr(intern!(py, "events"))?;
                    out.call_method1(intern!(py, "extend"), (events,))?;
                }
                if let Some(rest) = payload
                    .as_bytes()
                    .get(end..)
                    .filter(|rest| !rest.is_empty())
                {
                    // not expected (the run takes every whole envelope), never lost: fed as feed goes on
                    let direction = flow.getattr(intern!(py, "dir"))?;
                    let args = (direction, PyBytes::new(py, rest), ts);
                    state.call_method1(intern!(py, "data"), args)?;
                }
            }
            Err(err) => {
                let args = (err.into_value(py), ts);
                state.call_method1(intern!(py, "_decoder_failed"), args)?;
            }
        }
        Ok(true)
    }

    /// The flow's codec's (label, string table?) if its envelopes are the core's to run, as
    /// `_whole_envelopes` decides; remembered per codec object (a flow's changes only with its preamble).
    fn run_codec(&mut self, flow: &Bound<'_, PyAny>) -> PyResult<Option<(PyObject, bool)>> {
        let py = flow.py();
        let codec = flow.getattr(intern!(py, "codec"))?;
        if let Some((seen, verdict)) = &self.codec {
            if seen.bind(py).is(&codec) {
                return Ok(verdict
                    .as_ref()
                    .map(|(label, table)| (label.clone_ref(py), *table)));
            }
        }
        let family = codec.getattr(intern!(py, "family"))?;
        let runs = self.families.bind(py).contains(&family)?
            && !codec.getattr(intern!(py, "compression"))?.is_truthy()?;
        let verdict = if runs {
            let label = codec.getattr(intern!(py, "label"))?.unbind();
            Some((label, family.eq("binary-session")?))
        } else {
            None
        };
        let answer = verdict
            .as_ref()
            .map(|(label, table)| (label.clone_ref(py), *table));
        self.codec = Some((codec.unbind(), verdict));
        Ok(answer)
    }
}

/// A piece of the payload being collected that does not complete it (`NmfDecoder._collect`, the
/// segment all taken); a discarded (oversized) envelope's, or the last piece, is left to Python.
fn collect(
    flow: &Bound<'_, PyAny>,
    payload: &Bound<'_, PyBytes>,
    pending: usize,
) -> PyResult<bool> {
    let py = flow.py();
    let n = payload.as_bytes().len();
    if pending <= n || flow.getattr(intern!(py, "discard"))?.is_truthy()? {
        return Ok(false);
    }
    flow.getattr(intern!(py, "pieces"))?
        .downcast::<PyList>()?
        .append(payload)?;
    add(
        &flow.getattr(intern!(py, "ledger"))?,
        intern!(py, "decoded"),
        n,
    )?;
    flow.setattr(intern!(py, "pending"), pending - n)?;
    add(flow, intern!(py, "collected"), n)?;
    // the bytes pass the (empty) buffer by, whose offset stays the stream's (`Buffer.skip_stream`)
    add(&flow.getattr(intern!(py, "buf"))?, intern!(py, "_base"), n)?;
    Ok(true)
}

fn add(obj: &Bound<'_, PyAny>, name: &Bound<'_, pyo3::types::PyString>, n: usize) -> PyResult<()> {
    let value: usize = obj.getattr(name)?.extract()?;
    obj.setattr(name, value.saturating_add(n))
}

/// The whole SizedEnvelopes at `chunk[start:]` (`base`: its stream offset) of `flow`, a direction of
/// `decoder` in the established state, made events into `events` (`WcfEventMaker.envelopes`, run
/// again after each stop) and counted decoded; what a run stops after is the decoder's to report
/// (`_envelope_stop`). Returns (where it stopped in `chunk`, whether any run stopped so).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn envelope_run(
    decoder: &Bound<'_, PyAny>,
    flow: &Bound<'_, PyAny>,
    events: &Bound<'_, PyList>,
    chunk: &[u8],
    start: usize,
    base: usize,
    ts: &Bound<'_, PyAny>,
    label: &Bound<'_, PyAny>,
    table: bool,
) -> PyResult<(usize, bool)> {
    let py = decoder.py();
    let maker = decoder.getattr(intern!(py, "_maker"))?;
    let maker = maker.downcast::<WcfEventMaker>()?.get();
    let outstanding = decoder.getattr(intern!(py, "_outstanding"))?;
    let outstanding = outstanding.downcast::<Outstanding>()?;
    let max_envelope: usize = decoder.getattr(intern!(py, "_max_envelope"))?.extract()?;
    let session = flow.getattr(intern!(py, "session"))?;
    let session = session.downcast::<Session>()?;
    let direction = flow.getattr(intern!(py, "dir"))?;
    let ledger = flow.getattr(intern!(py, "ledger"))?;
    let (mut pos, mut stopped) = (start, false);
    loop {
        let offset = base.saturating_add(pos.saturating_sub(start));
        let (end, stop) = maker.envelopes(
            py,
            events,
            chunk,
            pos,
            offset,
            max_envelope,
            session.try_borrow_mut()?,
            outstanding.try_borrow_mut()?,
            ts,
            &direction,
            label,
            table,
        )?;
        add(&ledger, intern!(py, "decoded"), end.saturating_sub(pos))?;
        pos = end;
        let Some(stop) = stop else {
            return Ok((pos, stopped));
        };
        stopped = true;
        let stop = stop.bind(py).downcast::<PyTuple>()?.clone();
        decoder.call_method1(intern!(py, "_envelope_stop"), (flow, stop, ts, events))?;
    }
}
