"""Output: one event per line, numbered in output order — JSON Lines, or (``human.HumanSink``) text.

The sink assigns ``seq`` and links replies to requests by the decoders' own rule (``decoders.correlate``):
a request's seq is remembered in its connection's ``Pending`` table under its key (``PAIRING_KEYS``: the
MessageID, a Remoting call's number), a later reply whose key names it gets ``request_seq``, and the table
goes with the connection's ``conn.close``.

Analyzers (``Analyzer.observe``) see every event once it has its ``seq`` and may derive new events from
it — e.g. iiko order events from a decoded message, citing the message's seq. Derived events are
written right after the event they came from, and are observed in turn.

A field whose value is null is left out of the line unless ``all_fields``: the schema lists every
field that may be null as optional (``decoders.schema.json_schema``). Only the events' own fields are
dropped — a null inside a message body (``i:nil``) is data and stays. Measured on
captures/wcf_buffered.pcap, pydantic's ``exclude_none`` costs nothing measurable (the lines get shorter).

The models are the schema, not a cost per line: events are numbered in place (``number``) and
written by the core from their fields, as pydantic would write them (``wirecap.lines``); a field that a
kind does not have is read from the instance dict, since a missing attribute on a pydantic model goes
through its slow ``__getattr__``. Where the lines are that JSON, the loop itself — numbering, pairing,
chunks, analyzers — runs in the core too (``decoders._core.LineSink``, core/src/sink_python.rs): about
4 µs an event of Python. The Python loop here is its reference and the fallback (a subclass's own
lines, no core); tests/test_sink.py holds the two to the same output and observations.
"""

import codecs
import io
from collections.abc import Callable, Hashable
from typing import IO, Any, Protocol

from decoders.core import RUST
from decoders.correlate import MAX_PENDING, PAIRING_KEYS, PAIRING_RULES, Pending, pair
from decoders.events import Event
from decoders.json_text import JsonText
from decoders.models import number, replaced

from .lines import WRITER, json_bytes, json_bytes_all_fields, pydantic_line, text_fields

# lines joined into one write: a batch of packets can complete thousands of events, and the text of all
# of them at once (twice, joined) was a peak of the resident set; so was a count of lines alone, when
# they are megabytes each (a 4000-line order's message and its snapshot: 256 of them were 550 MB)
CHUNK_LINES = 256
CHUNK_BYTES = 1 << 20


class Analyzer(Protocol):
    def observe(self, event: Event) -> list[Event]: ...


def byte_writer(out: IO[str]) -> Callable[[bytes], object]:
    """How to write UTF-8 lines to ``out``: its own ``write_bytes``, the binary buffer under a UTF-8 text
    stream (a line-buffered one, a terminal's, still flushed per write), else decoded into ``out.write``.

    Measured on the benchmarks' captures, decoding each line to ``str`` and encoding it again on the way
    out was a quarter of a replay's time: bodies of Cyrillic text become two-byte strings, copied once
    more by every join.
    """
    write_bytes = getattr(out, "write_bytes", None)
    if write_bytes is not None:
        return write_bytes  # type: ignore[no-any-return]
    if isinstance(out, io.TextIOWrapper) and codecs.lookup(out.encoding).name == "utf-8":
        out.flush()  # what the text layer holds goes first
        buffer = out.buffer
        if out.line_buffering:
            return lambda data: (buffer.write(data), buffer.flush())
        return buffer.write
    return lambda data: out.write(data.decode())


class JsonlSink:
    render: Callable[[Event], bytes] = staticmethod(json_bytes)
    core_loop: bool = True  # False: the Python loop below, the reference (tests/test_sink.py compares them)

    def __init__(
        self,
        out: IO[str],
        *,
        flush_each: bool = False,
        analyzers: tuple[Analyzer, ...] = (),
        all_fields: bool = False,
    ) -> None:
        self.out = out
        self._write = byte_writer(out) if out is not None else None
        self.flush_each = flush_each
        self.analyzers = analyzers
        if all_fields:
            self.render = json_bytes_all_fields
        self.seq = 0
        self._requests: dict[str, Pending[Hashable, int]] = {}  # uid -> the connection's open requests' seqs
        self._loop: Callable[[list[Event]], None] | None = None  # chosen at the first write
        self._core: Any = None

    def write(self, events: list[Event]) -> None:
        if self._loop is None:
            self._loop = self._choose_loop()
        self._loop(events)
        if events and self.flush_each:
            self.out.flush()

    def _choose_loop(self) -> Callable[[list[Event]], None]:
        """The core's loop (``decoders._core.LineSink``) where it writes the lines this sink would (JSON
        by the core's writer: not a subclass's own rendering) and the core is in use; else Python's."""
        exclude_none = {json_bytes: True, json_bytes_all_fields: False}.get(self.render)  # type: ignore[dict-item]
        if not self.core_loop or WRITER is None or exclude_none is None or self._write is None:
            return self._write_python
        self._core = RUST.LineSink(  # type: ignore[union-attr]
            WRITER,
            exclude_none,
            PAIRING_RULES,
            [analyzer.observe for analyzer in self.analyzers],
            pydantic_line,
            replaced,
            JsonText,
            self._write,
            chunk_lines=CHUNK_LINES,
            chunk_bytes=CHUNK_BYTES,
            max_pending=MAX_PENDING,
            seq=self.seq,
        )
        return self._write_core

    def _write_core(self, events: list[Event]) -> None:
        try:
            self._core.write(events)
        finally:  # an output or analyzer error stops it mid-batch: the count stays that of the numbered
            self.seq = self._core.seq

    def _write_python(self, events: list[Event]) -> None:
        lines: list[bytes] = []
        size = 0
        for event in events:
            done = len(lines)
            self._write_one(event, lines)
            size += sum(map(len, lines[done:]))
            if len(lines) >= CHUNK_LINES or size >= CHUNK_BYTES:
                self._write_lines(lines)
                size = 0
        if lines:
            self._write_lines(lines)

    def _write_lines(self, lines: list[bytes]) -> None:
        lines.append(b"")  # the last line's newline, without copying the joined text once more
        self._write(b"\n".join(lines))  # type: ignore[misc]
        lines.clear()

    def _write_one(self, event: Event, lines: list[bytes]) -> None:
        self.seq += 1
        fields = event.__dict__
        uid = fields.get("uid")
        request = None
        keys = PAIRING_KEYS.get(event.kind)
        opens, closes = (None, None) if keys is None else keys(fields)
        if opens is not None or closes is not None:
            pending = self._requests.get(uid)
            if pending is None:
                pending = self._requests[uid] = Pending(MAX_PENDING)
            request, _ = pair(pending, opens, closes, self.seq)  # the decoder reports the overflow
        elif event.kind == "conn.close":
            self._requests.pop(uid, None)
        numbered = number(event, seq=self.seq) if request is None else number(event, seq=self.seq, request_seq=request)
        lines.append(self.render(numbered))
        for analyzer in self.analyzers:
            for derived in analyzer.observe(numbered):
                self._write_one(derived, lines)
        for name in text_fields(type(event)):
            if type(body := fields[name]) is JsonText:
                body.forget()

    def close(self) -> None:
        self.out.flush()


class NumberingSink(JsonlSink):
    """Numbers events and runs the analyzers, writing nothing (``orders``, ``inspect``)."""

    def __init__(self, *, analyzers: tuple[Analyzer, ...] = ()) -> None:
        super().__init__(None, analyzers=analyzers)  # type: ignore[arg-type]

    def write(self, events: list[Event]) -> None:
        lines: list[bytes] = []
        for event in events:
            self._write_one(event, lines)

    @staticmethod
    def render(event: Event) -> bytes:
        return b""

    def close(self) -> None:
        pass
