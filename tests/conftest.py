"""Shared fixtures for the capture-side tests; capture recipes live in ``torture.py``."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from torture import View, view

from decoders.events import Event
from wirecap.reassembly import HalfStream
from wirecap.streams import collect_streams

REPO = Path(__file__).resolve().parent.parent
# The CLI as a user runs it, in a child process (stdin, stdout, exit codes and pipes are real), whether
# or not the package is installed in the environment.
WIRECAP = [sys.executable, "-c", "import sys; from wirecap.cli import main; sys.argv[0] = 'wirecap'; main()"]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def ok(run: subprocess.CompletedProcess[bytes]) -> bytes:
    """stdout of a run that must have succeeded without a traceback."""
    assert run.returncode == 0, run.stderr.decode()
    assert b"Traceback" not in run.stderr
    return run.stdout


def events(run: subprocess.CompletedProcess[bytes]) -> list[dict]:
    """The JSON lines of a successful run."""
    return [json.loads(line) for line in ok(run).splitlines()]


def mb31(n: int) -> bytes:
    """[MC-NMF] 2.2.2 MultiByteInt31 (also [MC-NBFX]'s lengths): 7 bits a byte, low first, high bit "more".
    Built here for test inputs only; the readers under test are ``decoders._buffer`` and the core."""
    out = bytearray([n & 0x7F])
    while n > 0x7F:
        out[-1] |= 0x80
        n >>= 7
        out.append(n & 0x7F)
    return bytes(out)


@pytest.fixture(params=["inlined", "general"])
def tcp_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: as the pipeline runs, and with its inlined in-order path switched off, so that
    every segment goes through ``Connection.packet`` (the rules must not depend on the path taken)."""
    if request.param == "general":
        monkeypatch.setattr(HalfStream, "fast", property(lambda _half: False, lambda _half, _value: None))
    return request.param


@pytest.fixture
def reassemble() -> Callable[..., list[View]]:
    """wirecap's reassembly of capture files, in the orientation-free form ``torture.tshark_follow`` gives."""

    def run(*paths: Path) -> list[View]:
        streams = collect_streams([str(p) for p in paths])
        return sorted(view(s.orig, s.resp, s.data, s.gaps) for s in streams)

    return run


@pytest.fixture
def wirecap(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run ``wirecap ARGS...`` to completion in ``tmp_path`` (60 s at most), capturing stdout/stderr."""

    def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        cmd = [*WIRECAP, *args]
        return subprocess.run(cmd, input=stdin, capture_output=True, cwd=tmp_path, env=ENV, timeout=60, check=False)

    return run


class Keep:
    """A sink analyzer that keeps every numbered event it sees, derived ones (the iiko layer's) among them."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def observe(self, event: Event) -> list[Event]:
        self.events.append(event)
        return []
