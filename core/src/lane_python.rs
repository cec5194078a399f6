//! An established [MC-NMF] direction's in-order segments taken by the core's packet loop
//! (`packets_python::deliver`) without `ConnState.data` → `NmfDecoder.feed` → … in Python for each,
//! when the direction stands at a record boundary with nothing buffered (or collecting a payload) and
//! its SizedEnvelopes are the core's to run, in the shapes the segments of a net.tcp session have:
//! - a piece of a payload being collected, not its last: appended to the flow's pieces and counted,
//!   as `NmfDecoder._collect` takes it;
//! - the last piece: taken so, the envelope finished by the decoder (`_finish_envelope`), and the
//!   rest of the segment taken as a segment of its own;
//! - whole SizedEnvelopes (framed, made events and paired by `envelope_run`, as `_whole_envelopes`
//!   runs them), then nothing or the start of one more: its header read and its payload so far
//!   collected, as the framer and the record loop (`_apply_sized_envelope`, `_run`) read them.
//!
//! Any other segment goes to `ConnState.data` as before, and is decided before the lane changes
//! anything. The lane reads and writes the Python flow's own fields (`decoders.nmf_records._Flow`), so
//! nothing is handed back: the decoder finds the flow as its own `feed` would have left it.
//! tests/test_core_lanes.py holds the core's loop, lanes included, to the Python loop, which has none.

use crate::nmf;
use crate::python::Session;
use crate::wcf_python::{Outstanding, WcfEventMaker};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyByteArray, PyBytes, PyList, PyTuple};

/// The lane of one direction of one `NmfDecoder` (`NmfDecoder.lane`; `ConnState.lanes`).
#[pyclass(module = "decoders._core", name = "NmfLane")]
pub struct NmfLane {
    decoder: PyObject,
    flow: PyObject,
    /// `State.ESTABLISHED`, `Envelope.NONE` and `Envelope.SIZED`, compared by identity as Python
    /// compares them
    established: PyObject,
    no_envelope: PyObject,
    sized: PyObject,
    /// the payload families whose envelopes the core makes events of (`CORE_FAMILIES`)
    families: PyObject,
    /// the codec last looked at, and its (label, string table?) if the core runs its envelopes
    codec: Option<(PyObject, Option<(PyObject, bool)>)>,
}

#[pymethods]
impl NmfLane {
    /// `states`, `envelopes`: the enums `State` and `Envelope` of `decoders.nmf_records`.
    #[new]
    fn new(
        decoder: PyObject,
        flow: PyObject,
        states: &Bound<'_, PyAny>,
        envelopes: &Bound<'_, PyAny>,
        families: PyObject,
    ) -> PyResult<Self> {
        let member = |of: &Bound<'_, PyAny>, name: &str| of.getattr(name).map(Bound::unbind);
        Ok(NmfLane {
            established: member(states, "ESTABLISHED")?,
            no_envelope: member(envelopes, "NONE")?,
            sized: member(envelopes, "SIZED")?,
            decoder,
            flow,
            families,
            codec: None,
        })
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
        if payload.as_bytes().is_empty()
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
        let lane = Lane {
            state,
            decoder: &decoder,
            flow: &flow,
            buf: &buf,
            ts: &ts.into_pyobject(py)?.into_any(),
        };
        let envelope = flow.getattr(intern!(py, "envelope"))?;
        let pending: usize = flow.getattr(intern!(py, "pending"))?.extract()?;
        if pending > 0 {
            if flow.getattr(intern!(py, "discard"))?.is_truthy()? {
                return Ok(false);
            }
            if pending > payload.as_bytes().len() {
                lane.collect(payload, pending)?;
                return Ok(true);
            }
            if !envelope.is(&self.sized) {
                return Ok(false); // a chunk of an unsized envelope: the record loop reads the next size
            }
            let taken = lane.finish(payload, pending)?;
            if let Some(rest) = taken {
                if !self.take(state, &rest, ts)? {
                    let direction = flow.getattr(intern!(py, "dir"))?;
                    state.call_method1(intern!(py, "data"), (direction, rest, ts))?;
                }
            }
            return Ok(true);
        }
        if !envelope.is(&self.no_envelope) {
            return Ok(false);
        }
        let Some((label, table)) = self.run_codec(&flow)? else {
            return Ok(false);
        };
        let max_envelope: usize = decoder.getattr(intern!(py, "_max_envelope"))?.extract()?;
        let Some(shape) = nmf::established(payload.as_bytes(), max_envelope) else {
            return Ok(false);
        };
        lane.run(payload, &shape, max_envelope, label.bind(py), table)?;
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

/// What one segment's take works on.
struct Lane<'a, 'py> {
    state: &'a Bound<'py, PyAny>,
    decoder: &'a Bound<'py, PyAny>,
    flow: &'a Bound<'py, PyAny>,
    buf: &'a Bound<'py, PyAny>,
    ts: &'a Bound<'py, PyAny>,
}

impl Lane<'_, '_> {
    /// The last piece of the payload (`pending` bytes) collected and the envelope finished by the
    /// decoder, its events emitted; the rest of the segment, if any and the decoder did not fail.
    fn finish<'py>(
        &self,
        payload: &Bound<'py, PyBytes>,
        pending: usize,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let py = payload.py();
        let bytes = payload.as_bytes();
        let piece = if pending == bytes.len() {
            payload.clone()
        } else {
            PyBytes::new(py, bytes.get(..pending).unwrap_or_default())
        };
        self.collect(&piece, pending)?;
        let events = PyList::empty(py);
        let finished = self.decoder.call_method1(
            intern!(py, "_finish_envelope"),
            (self.flow, self.ts, &events),
        );
        if let Err(err) = finished {
            self.failed(err)?;
            return Ok(None);
        }
        self.emit(&events, true)?;
        let rest = bytes.get(pending..).unwrap_or_default();
        Ok((!rest.is_empty()).then(|| PyBytes::new(py, rest)))
    }

    /// The whole envelopes of `shape` run, then the one it opens started. Should the run stop short of
    /// them (it reads envelopes as `shape` was read, so it does not), the rest goes to `ConnState.data`
    /// from where it stopped, as `feed` would go on: nothing is lost.
    fn run(
        &self,
        payload: &Bound<'_, PyBytes>,
        shape: &nmf::Established,
        max_envelope: usize,
        label: &Bound<'_, PyAny>,
        table: bool,
    ) -> PyResult<()> {
        let py = payload.py();
        let bytes = payload.as_bytes();
        let base: usize = self.buf.getattr(intern!(py, "_base"))?.extract()?;
        let mut end = 0;
        if shape.whole > 0 {
            let events = PyList::empty(py);
            let run = envelope_run(
                self.decoder,
                self.flow,
                &events,
                bytes,
                0,
                base,
                max_envelope,
                self.ts,
                label,
                table,
            );
            let (ran_to, stopped) = match run {
                Ok(run) => run,
                Err(err) => return self.failed(err),
            };
            self.emit(&events, stopped)?;
            end = ran_to;
        }
        // the buffer as feed leaves it: the segment appended, consumed and compacted away
        self.buf
            .setattr(intern!(py, "_base"), base.saturating_add(end))?;
        match shape.open {
            Some((start, size)) if end == shape.whole => self.open(payload, base, end, start, size),
            _ if end < bytes.len() => {
                let rest = PyBytes::new(py, bytes.get(end..).unwrap_or_default());
                let direction = self.flow.getattr(intern!(py, "dir"))?;
                let args = (direction, rest, self.ts);
                self.state.call_method1(intern!(py, "data"), args)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The SizedEnvelope at `at` (its payload at `start`, `size` bytes) started and its bytes so far
    /// collected, as `_apply_sized_envelope` after the framer, then the record loop, do.
    fn open(
        &self,
        payload: &Bound<'_, PyBytes>,
        base: usize,
        at: usize,
        start: usize,
        size: usize,
    ) -> PyResult<()> {
        let py = payload.py();
        let (offset, payload_offset) = (base.saturating_add(at), base.saturating_add(start));
        add(
            &self.flow.getattr(intern!(py, "ledger"))?,
            intern!(py, "decoded"),
            start.saturating_sub(at),
        )?;
        self.buf.setattr(intern!(py, "_base"), payload_offset)?;
        let kwargs = [("unsized", false)].into_py_dict(py)?;
        let args = (offset, payload_offset);
        self.flow
            .call_method(intern!(py, "start_envelope"), args, Some(&kwargs))?;
        self.flow.setattr(intern!(py, "pending"), size)?;
        let piece = payload.as_bytes().get(start..).unwrap_or_default();
        if !piece.is_empty() {
            self.collect(&PyBytes::new(py, piece), size)?;
        }
        Ok(())
    }

    /// Payload bytes being collected, the segment's or a part of it, `pending` of the payload still to
    /// come before them (`NmfDecoder._collect`, not discarding); they pass the (empty) buffer by, whose
    /// offset stays the stream's (`skip_stream`).
    fn collect(&self, piece: &Bound<'_, PyBytes>, pending: usize) -> PyResult<()> {
        let (py, flow) = (piece.py(), self.flow);
        let n = piece.as_bytes().len();
        flow.getattr(intern!(py, "pieces"))?
            .downcast::<PyList>()?
            .append(piece)?;
        add(
            &flow.getattr(intern!(py, "ledger"))?,
            intern!(py, "decoded"),
            n,
        )?;
        flow.setattr(intern!(py, "pending"), pending.saturating_sub(n))?;
        add(flow, intern!(py, "collected"), n)?;
        add(self.buf, intern!(py, "_base"), n)
    }

    /// `events` to the connection as `ConnState.data` gives a feed's: through `_emit` where one may be
    /// an anomaly (`checked`), straight to the pipeline's list where none is.
    fn emit(&self, events: &Bound<'_, PyList>, checked: bool) -> PyResult<()> {
        let py = events.py();
        if checked {
            self.state.call_method1(intern!(py, "_emit"), (events,))?;
        } else if !events.is_empty() {
            let out = self
                .state
                .getattr(intern!(py, "pipeline"))?
                .getattr(intern!(py, "events"))?;
            out.call_method1(intern!(py, "extend"), (events,))?;
        }
        Ok(())
    }

    /// A decoder error, reported as `ConnState.data` reports one (the events of the segment lost with it).
    fn failed(&self, err: PyErr) -> PyResult<()> {
        let args = (err.into_value(self.ts.py()), self.ts);
        self.state
            .call_method1(intern!(self.ts.py(), "_decoder_failed"), args)?;
        Ok(())
    }
}

fn add(obj: &Bound<'_, PyAny>, name: &Bound<'_, pyo3::types::PyString>, n: usize) -> PyResult<()> {
    let value: usize = obj.getattr(name)?.extract()?;
    obj.setattr(name, value.saturating_add(n))
}

/// The whole SizedEnvelopes within `max_envelope` at `chunk[start:]` (`base`: its stream offset) of
/// `flow`, a direction of `decoder` in the established state, made events into `events`
/// (`WcfEventMaker.envelopes`, run again after each stop) and counted decoded; what a run stops after is the decoder's to report
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
    max_envelope: usize,
    ts: &Bound<'_, PyAny>,
    label: &Bound<'_, PyAny>,
    table: bool,
) -> PyResult<(usize, bool)> {
    let py = decoder.py();
    let maker = decoder.getattr(intern!(py, "_maker"))?;
    let maker = maker.downcast::<WcfEventMaker>()?.get();
    let outstanding = decoder.getattr(intern!(py, "_outstanding"))?;
    let outstanding = outstanding.downcast::<Outstanding>()?;
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
