"""Reassembled streams, for tests and analysts: the pipeline with one decoder that keeps every byte."""

from collections.abc import Iterable
from dataclasses import dataclass

from decoders.events import ConnFields, Direction, Event
from decoders.interface import Accounting

from .pipeline import Options, Pipeline, run
from .source import CaptureSource


@dataclass
class StreamCapture:
    uid: str
    orig: str
    resp: str
    data: dict[str, bytes]
    gaps: dict[str, list[tuple[int, int]]]


class _Collector:
    """A decoder that keeps every byte: ``collect_streams`` plugs it in as the only decoder."""

    name = "collect"
    wants_data = True

    def __init__(self, conn: ConnFields, captures: list[StreamCapture]) -> None:
        self.chunks: dict[str, bytearray] = {"orig": bytearray(), "resp": bytearray()}
        self.capture = StreamCapture(conn["uid"], conn["orig"], conn["resp"], {}, {"orig": [], "resp": []})
        captures.append(self.capture)

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        self.chunks[direction] += data
        return []

    def gap(self, direction: Direction, length: int, ts: int) -> list[Event]:
        offset = len(self.chunks[direction]) + sum(n for _, n in self.capture.gaps[direction])
        self.capture.gaps[direction].append((offset, length))
        return []

    def eof(self, direction: Direction, ts: int) -> list[Event]:
        self.capture.data[direction] = bytes(self.chunks[direction])
        return []

    def accounting(self, direction: Direction) -> Accounting:
        return Accounting(decoded=len(self.chunks[direction]))


def collect_streams(
    paths: Iterable[str], *, any_port: bool = True, ports: Iterable[int] = (8506, 8080)
) -> list[StreamCapture]:
    """Reassembled bytes of every connection direction in the inputs (gaps omitted, listed apart)."""
    captures: list[StreamCapture] = []
    options = Options(
        ports=frozenset(ports),
        any_port=any_port,
        protocols=(),
        fallback=lambda conn, _opts: _Collector(conn, captures),
    )
    pipeline = Pipeline(options)
    run([CaptureSource(p) for p in paths], pipeline, lambda events: None)
    return captures
