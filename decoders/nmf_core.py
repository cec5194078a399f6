"""[MC-NMF] records framed by the compiled core: the seam between ``core/src/nmf.rs`` and the record loop.

When the core is in use (``decoders.core``, the choice ``decoders.nmf_codecs`` makes too), each chunk fed
at a record boundary is first walked by ``_core.nmf_records``: it reads the complete, well-formed records
at the start of the chunk by the same transition table (``decoders.nmf_records.TRANSITIONS``) and returns
their fields, whole envelope payloads (an unsized one's chunks joined) and the states they lead to. This
module applies them with the record readers' own steps (``decoders.nmf_readers``), so the events,
anomalies and accounting are those of the pure-Python loop. The core stops before anything it is not
certain of — a record the table refuses, a malformed, incomplete or oversized one, an upgrade, a capture
starting mid-session — and the Python loop (``NmfDecoder._run``) goes on from there, at that offset and
in that state, as it does without the core. tests/test_core_nmf.py holds the two framings to the same
output.
"""

from collections.abc import Callable
from typing import Any, ClassVar

from .core import RUST
from .events import Event
from .nmf_readers import RecordReaders
from .nmf_records import Envelope, RecordType, State, _Flow

# The states the core frames from, in the order of its codes (core/src/nmf.rs ``State``). UPGRADED only
# ever comes back as a record's next state: the core stops before an upgrade.
CORE_STATES = (
    State.START,
    State.VERSION,
    State.MODE,
    State.VIA,
    State.ENCODING,
    State.ESTABLISHED,
    State.ENDED,
    State.FAULTED,
    State.UPGRADED,
)
_CODES = {state: code for code, state in enumerate(CORE_STATES) if state is not State.UPGRADED}
_ENVELOPES = frozenset({int(RecordType.SIZED_ENVELOPE), int(RecordType.UNSIZED_ENVELOPE)})

# (chunk, stream offset, state code, initiator?, max envelope) -> ([(record type, offset, next state code,
# payload offset or record end, fields)], bytes consumed)
Framer = Callable[[bytes, int, int, bool, int], tuple[list[tuple[int, int, int, int, Any]], int]]
FRAMER: Framer | None = None if RUST is None else RUST.nmf_records
"""The core's record framer, or None: the pure-Python loop frames everything."""


class CoreFraming(RecordReaders):
    """The record layer of ``NmfDecoder`` with the compiled framer in front of the Python loop."""

    _framer: ClassVar[Framer | None] = FRAMER

    def _frame_in_core(self, flow: _Flow, data: bytes, ts: int, events: list[Event]) -> None:
        """Let the core consume the complete records at the cursor; ``data`` was just appended to the buffer.

        Only at a record boundary in a framed state, and only while what was buffered before is no
        longer than ``data``: the core then reads every byte about once, however a record is split.
        """
        framer = self._framer
        buf = flow.buf
        buffered = len(buf)
        code = _CODES.get(flow.state)
        if framer is None or code is None or flow.envelope is not Envelope.NONE or buffered > 2 * len(data):
            return
        chunk = data if buffered == len(data) else bytes(buf.data[buf.pos :])
        records, consumed = framer(chunk, buf.offset, code, flow.dir == "orig", self._max_envelope)
        if not consumed:
            return
        buf.advance(consumed)
        buf.commit()
        flow.ledger.decoded += consumed
        applies = self._applies
        for kind, offset, state, content, fields in records:
            if kind in _ENVELOPES:  # a whole envelope: as _finish_envelope / _read_chunk complete one
                flow.envelope_offset, flow.payload_offset = offset, content
                self._message(flow, fields, ts, events)
                continue
            applies[kind](self, flow, fields, offset, ts, events)
            flow.move(CORE_STATES[state])
