"""Running ``wirecap live``: the capture process's batches through the pipeline, as they come.

The loop waits at most ``TICK`` seconds for the capture process, so that without packets it still
closes idle connections (``Pipeline.advance``, by the wall clock), writes statistics every
``--stats-interval`` and notices a stop: SIGINT, SIGTERM, ``--duration`` or ``-c``. A stop asks the
capture process for what it still holds and its last counters, decodes those packets, closes the open
connections (reason ``shutdown``) and writes the final statistics. A live capture has no end of its
own: a stop is how it ends normally, so the exit status is 0 (systemd counts a service that exits
143 on its stop as failed); replay's 130/143 say instead that a file was not read to its end.
"""

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from decoders.events import CaptureStats, Event

from .capture import LiveCapture
from .pipeline import SECOND, Pipeline
from .runner import CaptureArgs, Window

TICK = 0.25  # seconds the loop waits for packets before looking at the clock
QUIET_LAG = SECOND  # the wall-clock sweep runs this far behind now: no packet on its way is older
STALL = 1.0  # seconds a write may block before it is reported as a stalled output


@dataclass(frozen=True)
class RunOptions:
    count: int | None = None
    duration: float | None = None
    stats_interval: float = 60.0  # 0: only at exit
    quiet: bool = False  # no statistics on stderr


class _Stop:
    """SIGINT / SIGTERM: the first asks for a clean stop, a second one exits at once."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handler)

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            os._exit(128 + signum)  # asked twice: the output may be incomplete, so not 0
        self.requested = True


class LiveRun:
    def __init__(
        self,
        capture: LiveCapture,
        pipeline: Pipeline,
        write: Callable[[list[Event]], None],
        events: Callable[[], int],
        opts: RunOptions,
        window: Window,
    ) -> None:
        self.capture = capture
        self.pipeline = pipeline
        self.write = write
        self.events = events
        self.opts = opts
        self.window = window
        self.stop = _Stop()
        self.started = time.monotonic()
        self.blocked = 0.0  # seconds the output was stalled, in total
        self.error: str | None = None

    def run(self) -> None:
        """Until stopped (the capture process is started: ``LiveCapture.start``); output errors
        (``OSError``, ``BrokenPipeError``) propagate to the caller."""
        self.stop.install()
        names = ", ".join(self.capture.opts.interfaces)  # said as tcpdump does, even with -q
        print(f"wirecap: listening on {names}, filter {self.capture.opts.bpf!r}", file=sys.stderr, flush=True)
        try:
            self._loop()
        finally:
            self.capture.close()
            self.window.close()

    def _loop(self) -> None:
        opts = self.opts
        deadline = self.started + opts.duration if opts.duration else None
        next_stats = self.started + opts.stats_interval if opts.stats_interval else None
        last_packet = time.monotonic()
        stopping = False
        while True:
            ended = False
            for message in self.capture.messages(TICK):
                tag = message[0]
                if tag == "batch":
                    last_packet = time.monotonic()
                    if self.window.count != 0:  # None (no -c), or packets still to take
                        self._decode(message[1], message[2], message[3])
                elif tag == "error":
                    self.error = message[1]
                    ended = True
                elif tag == "end":
                    ended = True
            if ended:
                break
            now = time.monotonic()
            if not stopping and (
                self.stop.requested or (deadline is not None and now >= deadline) or self.window.count == 0
            ):
                stopping = True
                self.capture.stop()
            if now - last_packet >= TICK:
                self.pipeline.advance(time.time_ns() - QUIET_LAG)
                self._write(self.pipeline.drain())
            if next_stats is not None and now >= next_stats:
                next_stats = now + opts.stats_interval
                self.statistics(final=False)
        self.pipeline.finish("shutdown")
        self._write(self.pipeline.drain())
        self.statistics(final=True)

    def _decode(self, linktype: int, buf: bytes, meta: bytes) -> None:
        for batch in self.window.apply(iter([(linktype, buf, meta)])):
            self.pipeline.process_batch(*batch)
        self._write(self.pipeline.drain())

    def _write(self, events: list[Event]) -> None:
        if not events:
            return
        started = time.monotonic()
        self.write(events)
        took = time.monotonic() - started
        if took >= STALL:
            self.blocked += took
            queue = self.capture.counters
            print(
                f"wirecap: the output was blocked for {took:.1f} s; packets waited in the capture queue "
                f"(high water {queue.queue_high_water:,} bytes, {queue.queue_dropped:,} packets dropped)",
                file=sys.stderr,
                flush=True,
            )

    def statistics(self, final: bool) -> None:
        """The counters as a ``capture.stats`` event and, unless quiet, one line on stderr."""
        c = self.capture.counters
        stats = self.pipeline.stats
        anomalies = sum(stats.anomalies.values())
        event = CaptureStats(
            ts=max(time.time_ns(), self.pipeline.clock),
            final=final,
            elapsed=round(time.monotonic() - self.started, 3),
            received=c.received,
            dropped=c.dropped,
            ifdropped=c.ifdropped,
            queue_dropped=c.queue_dropped,
            queue_high_water=c.queue_high_water,
            queue_limit=self.capture.opts.queue_size,
            output_blocked=round(self.blocked, 3),
            packets=stats.packets,
            events=self.events(),
            anomalies=anomalies,
        )
        self._write([event])
        if not self.opts.quiet:
            print(stats_line(event), file=sys.stderr, flush=True)


def stats_line(s: CaptureStats) -> str:
    return (
        f"wirecap: {'final: ' if s.final else ''}{s.received:,} packets received, {s.dropped:,} dropped by the "
        f"kernel, {s.ifdropped:,} by the interface, {s.queue_dropped:,} by the queue (high water "
        f"{s.queue_high_water:,} of {s.queue_limit:,} bytes); {s.packets:,} decoded, {s.events:,} events, "
        f"{s.anomalies:,} anomalies" + (f"; output blocked {s.output_blocked:.1f} s" if s.output_blocked else "")
    )


def capture_window(count: int | None) -> Window:
    """``-c`` counts the packets given to the decoder, as in replay; ``-w`` is set by the caller."""
    return Window(CaptureArgs(inputs=(), count=count))
