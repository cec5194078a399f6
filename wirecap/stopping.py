"""Stopping on SIGINT (Ctrl-C) and SIGTERM: at once, with whole events, as shells expect.

``StopGuard.install`` turns either signal into ``Stopped``, raised where the program is — typically
waiting for input, which is where it spends its time when a capture is big or a pipe is slow. Inside
``StopGuard.whole()`` (a batch being decoded and its events written) the signal waits for the block to
end, so a stop leaves neither half a line nor a connection half-updated: the caller then closes the
connections, writes their last events and the summary, and exits 128 + the signal's number (130, 143).

A block that does not end within ``GRACE`` seconds of the signal — a write blocked on a pipe nobody
reads, a batch of heavy messages — is cut short (``Stopped.forced``): nothing more is written to the
output then, and the line being written may be incomplete. A second signal exits at once.
"""

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE = 0.5  # seconds a block may still run after a stop signal


class Stopped(Exception):
    """A stop signal arrived; ``status`` is the exit status a shell expects for it."""

    def __init__(self, signum: int, forced: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.status = 128 + signum
        self.forced = forced  # raised inside a block: the pipeline and the output are mid-update


class StopGuard:
    def __init__(self) -> None:
        self.depth = 0  # nesting of whole()
        self.pending: int | None = None  # a signal that arrived inside whole()
        self.stopping = False
        self.signum = signal.SIGINT.value  # the signal that stopped us, once ``stopping``

    def install(self) -> None:
        for signum in SIGNALS:
            signal.signal(signum, self._handler)
        signal.signal(signal.SIGALRM, self._grace_over)

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            os._exit(128 + signum)  # asked twice: no more waiting
        self.stopping = True
        self.signum = signum
        if self.depth:
            self.pending = signum
            signal.setitimer(signal.ITIMER_REAL, GRACE)
            return
        raise Stopped(signum)

    def arm(self) -> None:
        """Stopping: the next block (the last events) gets ``GRACE`` s, then is cut short."""
        self.pending = self.signum
        signal.setitimer(signal.ITIMER_REAL, GRACE)

    def _grace_over(self, _signum: int, _frame: FrameType | None) -> None:
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Stopped(signum, forced=True)

    @contextmanager
    def whole(self) -> Iterator[None]:
        """A block a stop must not cut (for up to ``GRACE`` s): the signal is raised when it ends."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signum, self.pending = self.pending, None
                raise Stopped(signum)
