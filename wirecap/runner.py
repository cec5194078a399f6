"""Running a capture for a command: inputs checked and opened, packets windowed, stops and errors.

What ``replay``, ``orders`` and ``inspect`` share between parsing their options and printing their
result. ``run_capture`` opens the inputs (a file whose link type wirecap cannot read is skipped and
named), passes the packets through the window the options ask for (``-c``, ``--since``, ``--until``,
``-w``), feeds the pipeline and hands the events to the command's ``write``. A stop signal, a damaged
input or an output error ends the run the same way: the connections are closed, their last events
written, the read-ahead process ended at once, and the caller learns why (``Outcome``).
"""

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pcapy

from decoders.events import Event, format_ts

from . import packets
from .pcapng_out import PcapngWriter
from .pipeline import SECOND, Pipeline, Stats, merged_batches
from .readahead import open_source
from .source import META, Batch, CaptureError, PacketBuffer, Source
from .stopping import StopGuard, Stopped

# Every link type packets.PacketParser decodes is one of its LINKTYPE_ constants.
LINKTYPES = frozenset(v for k, v in vars(packets).items() if k.startswith("LINKTYPE_") and isinstance(v, int))
LINKTYPE_NAMES = {
    0: "NULL", 1: "ETHERNET", 6: "IEEE802_5", 9: "PPP", 10: "FDDI", 50: "PPP_HDLC", 104: "C_HDLC",
    105: "IEEE802_11", 113: "LINUX_SLL", 119: "PRISM_HEADER", 127: "IEEE802_11_RADIOTAP", 192: "PPI",
    195: "IEEE802_15_4", 220: "USB_LINUX_MMAPPED", 249: "NETLINK", 276: "LINUX_SLL2",
    **{147 + n: f"USER{n}" for n in range(16)},
}  # fmt: skip


def linktype_name(linktype: int) -> str:
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


def unreadable_linktype(name: str, linktype: int) -> CaptureError:
    return CaptureError(name, None, f"link type {linktype_name(linktype)}: wirecap cannot decode its packets")


@dataclass(frozen=True)
class CaptureArgs:
    """What the options of a command that reads captures ask for (times in ns)."""

    inputs: tuple[str, ...]
    bpf: str | None = None
    count: int | None = None
    since: int | None = None
    until: int | None = None
    read_ahead: bool | None = None
    write: str | None = None  # -w: the packets read, as pcapng


@dataclass
class Outcome:
    """How a run ended, and what the summary line and the messages need."""

    stats: Stats
    elapsed: float = 0.0
    error: CaptureError | None = None  # the input that could not be read further
    skipped: list[CaptureError] = field(default_factory=list)  # inputs left out (unreadable link type)
    stopped: Stopped | None = None
    inputs: int = 0
    first_ts: int | None = None  # time span of the packets read
    last_ts: int | None = None

    @property
    def status(self) -> int:
        if self.stopped is not None:
            return self.stopped.status
        return 1 if self.error is not None or self.skipped else 0

    def span(self) -> str:
        if self.first_ts is None or self.last_ts is None:
            return "no packets"
        return f"{format_ts(self.first_ts)} to {format_ts(self.last_ts)}"


def open_inputs(args: CaptureArgs) -> tuple[list[Source], list[CaptureError]]:
    """The sources of ``args.inputs``; files whose link type wirecap cannot read are left out, named."""
    sources: list[Source] = []
    skipped: list[CaptureError] = []
    for path in args.inputs:
        if os.path.isfile(path):  # not a pipe: its header would be read twice
            try:
                linktype = pcapy.open_offline(path).datalink()
            except pcapy.PcapError:
                linktype = None  # not a capture: reading it says where and why
            if linktype is not None and linktype not in LINKTYPES:
                skipped.append(unreadable_linktype(path, linktype))
                continue
        sources.append(open_source(path, args.bpf, args.read_ahead))
    return sources, skipped


class Window:
    """The packets of the merged inputs that the options keep; notes the time span read."""

    def __init__(self, args: CaptureArgs) -> None:
        self.count = args.count
        self.since = args.since
        self.until = args.until
        # Files were checked when opened (by their first link type: a pcapng's other interfaces may
        # differ and become anomalies); stdin and pipes can only be checked batch by batch.
        unchecked = ["<stdin>" if p == "-" else p for p in args.inputs if not os.path.isfile(p)]
        self.unchecked = unchecked[0] if unchecked else None
        self.writer = PcapngWriter(args.write) if args.write else None
        self.first_ts: int | None = None
        self.last_ts: int | None = None

    def apply(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        trimming = self.count is not None or self.since is not None or self.until is not None
        for linktype, buf, meta in batches:
            if self.unchecked is not None and linktype not in LINKTYPES:
                raise unreadable_linktype(self.unchecked, linktype)
            if trimming:
                kept, more = self._trim(buf, meta)
                if kept:
                    linktype, buf, meta = self._repack(linktype, buf, kept)
                    yield from self._deliver(linktype, buf, meta)
                if not more:
                    return
            else:
                yield from self._deliver(linktype, buf, meta)

    def _deliver(self, linktype: int, buf: PacketBuffer, meta: bytes) -> Iterator[Batch]:
        sec, usec, _, _ = META.unpack_from(meta, 0)
        if self.first_ts is None:
            self.first_ts = sec * SECOND + usec * 1000
        sec, usec, _, _ = META.unpack_from(meta, len(meta) - META.size)
        self.last_ts = sec * SECOND + usec * 1000
        if self.writer is not None:
            self.writer.write(linktype, buf, meta)
        yield linktype, buf, meta

    def _trim(self, buf: PacketBuffer, meta: bytes) -> tuple[list[tuple[int, int, int, int]], bool]:
        """The records of a batch inside the window, and whether later packets may be (False: stop)."""
        kept = []
        for record in META.iter_unpack(meta):
            ts = record[0] * SECOND + record[1] * 1000
            if self.until is not None and ts > self.until:
                return kept, False
            if self.since is not None and ts < self.since:
                continue
            kept.append(record)
            if self.count is not None:
                self.count -= 1
                if self.count == 0:
                    return kept, False
        return kept, True

    @staticmethod
    def _repack(linktype: int, buf: PacketBuffer, kept: list[tuple[int, int, int, int]]) -> Batch:
        """The kept packets end to end from offset 0, as the pipeline expects them."""
        parts, metas, off = [], [], 0
        for sec, usec, start, caplen in kept:
            parts.append(buf[start : start + caplen])
            metas.append(META.pack(sec, usec, off, caplen))
            off += caplen
        return linktype, b"".join(parts), b"".join(metas)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_capture(
    args: CaptureArgs,
    pipeline: Pipeline,
    write: Callable[[list[Event]], None],
    guard: StopGuard,
    on_batch: Callable[[list[Source]], None] | None = None,
    pace: Callable[[Iterator[Batch]], Iterator[Batch]] | None = None,
) -> Outcome:
    """Read ``args.inputs`` through ``pipeline`` into ``write``. Output errors (``OSError``) propagate,
    after the inputs were closed; everything else that ends the run is in the ``Outcome``. ``pace``
    may hold the packets back (``wirecap serve --speed``), outside the blocks a stop waits for."""
    sources, skipped = open_inputs(args)
    outcome = Outcome(pipeline.stats, skipped=skipped, inputs=len(args.inputs))
    started = time.perf_counter()
    window = Window(args)
    batches = window.apply(merged_batches(sources) if sources else iter(()))
    if pace is not None:
        batches = pace(batches)
    try:
        try:
            for linktype, buf, meta in batches:
                with guard.whole():
                    pipeline.process_batch(linktype, buf, meta)
                    if pipeline.events:
                        write(pipeline.drain())
                if on_batch is not None:
                    on_batch(sources)
        except CaptureError as exc:
            outcome.error = exc
        except Stopped as exc:
            outcome.stopped = exc
        finally:
            batches.close()  # ends a read-ahead process now, not when the generator is collected
            window.close()
        if guard.stopping and outcome.stopped is None:  # a read cut short by the signal (stdin)
            outcome.stopped, outcome.error = Stopped(guard.signum), None
        if outcome.stopped is None or not outcome.stopped.forced:
            if outcome.stopped is not None:
                guard.arm()
            with guard.whole():  # the connections' last events
                pipeline.finish()
                write(pipeline.drain())
    except Stopped as exc:  # arrived while the last events were written
        outcome.stopped = exc
    outcome.elapsed = time.perf_counter() - started
    outcome.first_ts, outcome.last_ts = window.first_ts, window.last_ts
    return outcome


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def summary(outcome: Outcome, events: int) -> str:
    stats = outcome.stats
    anomalies = sum(stats.anomalies.values())
    rate = stats.packets / outcome.elapsed if outcome.elapsed > 0 else 0.0
    return (
        f"wirecap: {plural(stats.packets, 'packet')}, {plural(stats.bytes, 'byte')}, "
        f"{plural(stats.connections, 'connection')}, {plural(events, 'event')}, "
        f"{anomalies:,} {'anomaly' if anomalies == 1 else 'anomalies'} in {outcome.elapsed:.2f} s "
        f"({rate:,.0f} packets/s)"
    )


def report(outcome: Outcome) -> None:
    """The errors of a run on stderr, one line each."""
    for skipped in outcome.skipped:
        rest = "; the other inputs were read" if len(outcome.skipped) < outcome.inputs else ""
        print(f"wirecap: error: {skipped}{rest}", file=sys.stderr)
    if outcome.error is not None:
        print(f"wirecap: error: {outcome.error}", file=sys.stderr)
