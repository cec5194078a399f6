"""``wirecap replay`` on a terminal (``wirecap.human``): one readable, coloured line per event; JSON Lines
with ``--json``. Run under a pseudo-terminal, as a user at a shell sees it."""

import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

from conftest import ENV, WIRECAP, events

from decoders.events import CaptureStats, WcfMessage
from wirecap.human import human_line

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
STORE = str(CAPTURES / "store.pcap")
ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def on_a_terminal(*args: str, env: dict[str, str] = ENV) -> bytes:
    """stdout of ``wirecap ARGS`` written to a pty (stderr apart), until the program exits."""
    main, child = pty.openpty()
    proc = subprocess.Popen([*WIRECAP, *args], stdout=child, stderr=subprocess.PIPE, env=env)
    os.close(child)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 30)
            assert ready, "no output for 30 s"
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the pty closes with the program (EIO on Linux)
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.stderr.close()
        os.close(main)
    return out.replace(b"\r\n", b"\n")


def test_one_readable_line_per_event_with_colour(wirecap) -> None:
    out = on_a_terminal("replay", "-q", STORE)
    lines = out.decode().splitlines()
    assert len(lines) == len(events(wirecap("replay", "-q", STORE)))
    assert ANSI.search(out)
    plain = ANSI.sub(b"", out).decode().splitlines()
    assert (
        plain[0].startswith("2026-11-29 01:10:33.804Z  conn.open ") and "127.0.0.1:49918 → 127.0.0.1:8506" in plain[0]
    )
    assert any("wcf.message" in line and "IMainCash/Register, 275 B" in line for line in plain)
    assert any("(reply to #3, 286 ms)" in line for line in plain)  # RegisterResponse
    iiko = [line for line in plain if "iiko.event" in line]
    assert iiko and all("order " in line for line in iiko) and any("table 7" in line for line in iiko)


def test_no_colour_is_respected() -> None:
    out = on_a_terminal("replay", "-q", STORE, env={**ENV, "NO_COLOR": "1"})
    assert out and not ANSI.search(out)


def test_json_on_a_terminal_when_asked(wirecap) -> None:
    out = on_a_terminal("replay", "-q", "--json", STORE)
    assert [json.loads(line) for line in out.splitlines()] == events(wirecap("replay", "-q", STORE))


def test_every_kind_in_the_store_has_a_gist(wirecap) -> None:
    """No line of the store capture ends after the connection: each kind says something."""
    out = ANSI.sub(b"", on_a_terminal("replay", "-q", "--any-port", STORE)).decode()
    assert all(not line.endswith("  ") and len(line.split("  ")) >= 4 for line in out.splitlines())


def test_a_message_line_without_colour() -> None:
    conn = {"uid": "C1", "community_id": "1:x", "orig": "10.0.0.5:50000", "resp": "10.0.0.1:8506"}
    conn |= {"orig_h": "10.0.0.5", "orig_p": 50000, "resp_h": "10.0.0.1", "resp_p": 8506}
    reply = WcfMessage(ts=1_764_374_400_123_456_789, dir="resp", action="http://tempuri.org/IMainCash/SyncOrderResponse",
                       message_id=None, relates_to="urn:1", to=None, reply_to=None, size=1234, soap_version="1.2",
                       encoding="soap1.2-binary-session", unresolved=0, session_strings_added=0, request_seq=7,
                       latency_ms=12.4, body={}, body_element="SyncOrderResponse", **conn)  # fmt: skip
    assert human_line(reply, colour=False) == (
        "2025-11-29 00:00:00.123Z  wcf.message          10.0.0.5:50000 ← 10.0.0.1:8506  "
        "IMainCash/SyncOrderResponse, 1,234 B (reply to #7, 12 ms)"
    )


def test_capture_statistics_read_as_counts() -> None:
    stats = CaptureStats(ts=0, final=True, elapsed=1.0, received=1200, dropped=1, ifdropped=2, queue_dropped=3,
                         queue_high_water=10, queue_limit=100, output_blocked=0.0, packets=1200, events=40,
                         anomalies=0)  # fmt: skip
    line = human_line(stats, colour=False)
    assert line == "1970-01-01 00:00:00.000Z  capture.stats        -  1,200 received, 6 dropped, 40 events"
