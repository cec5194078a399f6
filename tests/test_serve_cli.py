"""``wirecap serve`` and ``live --serve`` as a user mistypes them: one clear line, exit 2, no traceback."""

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

STORE = str(Path(__file__).resolve().parent.parent / "captures" / "store.pcap")
Run = Callable[..., subprocess.CompletedProcess[bytes]]


def refused(run: subprocess.CompletedProcess[bytes], *said: str) -> None:
    text = run.stderr.decode()
    assert run.returncode == 2 and "Traceback" not in text and run.stdout == b"", text
    for words in said:
        assert words in text, text


def test_help(wirecap: Run) -> None:
    run = wirecap("serve", "--help")
    text = run.stdout.decode()
    assert run.returncode == 0
    for words in ("--listen ADDR:PORT", "127.0.0.1:8765", "--token", "--speed", "/api/orders", "Ctrl-C"):
        assert words in text
    assert "--serve ADDR:PORT" in wirecap("live", "--help").stdout.decode()


@pytest.mark.parametrize("listen", ["8765", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:0", "127.0.0.1:70000", ":80"])
def test_bad_listen(wirecap: Run, listen: str) -> None:
    refused(wirecap("serve", STORE, "--listen", listen), "Invalid value for '--listen'", "expected ADDR:PORT")


def test_missing_capture(wirecap: Run) -> None:
    refused(wirecap("serve", "no-such.pcap"), "no-such.pcap: no such file")


@pytest.mark.parametrize("listen", ["0.0.0.0:8765", "192.0.2.7:8765", "[::]:8765", "pos-server:8765"])
def test_off_loopback_without_a_token(wirecap: Run, listen: str) -> None:
    refused(wirecap("serve", STORE, "--listen", listen), "is not a loopback address", "--token")


def test_live_serve_off_loopback_without_a_token(wirecap: Run) -> None:
    refused(wirecap("live", "-i", "lo", "--serve", "0.0.0.0:8765"), "is not a loopback address", "--token")


def test_port_taken(wirecap: Run) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused(wirecap("serve", STORE, "--listen", f"127.0.0.1:{port}"), f"cannot listen on 127.0.0.1:{port}")
