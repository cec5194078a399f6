"""How ``wirecap orders`` shows the orders (``wirecap.orders_view``): the table, the --json document and
its schema, ``--tz`` and ``--follow``, on the store capture (two terminals and a main cash)."""

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import jsonschema
from conftest import ENV, WIRECAP, ok

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
STORE = CAPTURES / "store.pcap"


def test_line_sums_are_computed_where_iiko_sent_none_and_say_so(wirecap) -> None:
    """The terminals' sync carries price and amount only; the server link's UserEvents carry sums."""
    synced = json.loads(ok(wirecap("orders", "--json", str(STORE))))
    lines = [i for o in synced for i in o["items"]]
    assert lines and all(i["sum_computed"] for i in lines)
    assert all(Decimal(i["sum"]) == Decimal(i["price"]) * Decimal(i["amount"]) for i in lines)
    posted = json.loads(ok(wirecap("orders", "--json", "--port", "8080", str(STORE))))
    assert [i["sum_computed"] for o in posted for i in o["items"]] == [False] * sum(len(o["items"]) for o in posted)


def test_numbers_also_as_integers_and_the_document_matches_its_schema(wirecap) -> None:
    doc = json.loads(ok(wirecap("orders", "--json", str(STORE))))
    assert {(o["number"], o["number_int"], o["table"], o["table_int"]) for o in doc} == {
        ("14", 14, "3", 3),
        ("13", 13, "7", 7),
    }
    schema = json.loads(ok(wirecap("schema", "--orders")))
    jsonschema.Draft202012Validator(schema).validate(doc)
    props = schema["$defs"]["OrderDocument"]["properties"]
    assert props["number"]["anyOf"][0]["type"] == "string" and props["number_int"]["anyOf"][0]["type"] == "integer"


def test_the_table_has_a_total_row_and_zoned_times(wirecap) -> None:
    table = ok(wirecap("orders", str(STORE))).decode().splitlines()
    assert table[-1].split() == ["total", "2", "orders", "3210.00"]
    assert "2026-11-29 01:10:37 UTC" in table[1] and "Пельмени ×4 1680.00" in table[2]
    moscow = ok(wirecap("orders", "--tz", "Europe/Moscow", str(STORE))).decode().splitlines()
    assert "2026-11-29 04:10:37 MSK" in moscow[1]
    run = wirecap("orders", "--tz", "Mars/Olympus", str(STORE))
    assert run.returncode == 2 and b"unknown time zone: 'Mars/Olympus'" in run.stderr


def _read_until(fd: int, marker: bytes, seconds: float = 20) -> bytes:
    got = b""
    deadline = time.monotonic() + seconds
    while marker not in got:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {marker!r} within {seconds} s; got {got[-300:]!r}"
        chunk = os.read(fd, 65536)
        assert chunk, f"output ended before {marker!r}"
        got += chunk
    return got


def test_follow_redraws_the_table_as_a_stream_arrives() -> None:
    """``tcpdump -U -w - | wirecap orders - --follow``: half the capture, a table; the rest, the final one."""
    data = STORE.read_bytes()
    proc = subprocess.Popen([*WIRECAP, "orders", "-", "--follow"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    try:
        proc.stdin.write(data[: len(data) // 2])
        proc.stdin.flush()
        early = _read_until(proc.stdout.fileno(), b"open orders at ")
        rest, _ = proc.communicate(data[len(data) // 2 :], timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    tables = (early + rest).decode().split("open orders at ")[1:]
    assert len(tables) > 2
    assert re.match(r"2026-11-29 01:10:3\d UTC: 2\n", tables[-1])  # the time of the last change
    assert tables[-1].splitlines()[1:-1] == ok_table()  # a blank line after each table


def ok_table() -> list[str]:
    run = subprocess.run([*WIRECAP, "orders", str(STORE)], capture_output=True, env=ENV, check=True)
    return run.stdout.decode().splitlines()


def test_follow_on_a_terminal_redraws_in_place() -> None:
    main, child = pty.openpty()
    proc = subprocess.Popen([*WIRECAP, "orders", "--follow", str(STORE)], stdout=child, stderr=child, env=ENV)
    os.close(child)
    try:
        out = _read_until(main, b"total ")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(main)
    assert out.startswith(b"\x1b[H\x1b[2J")  # home, clear: the table replaces the previous one


def test_ctrl_c_ends_the_live_view_with_the_last_table() -> None:
    data = STORE.read_bytes()
    proc = subprocess.Popen([*WIRECAP, "orders", "-", "--follow"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)  # fmt: skip
    try:
        proc.stdin.write(data[: len(data) // 2])
        proc.stdin.flush()
        shown = _read_until(proc.stdout.fileno(), b"total ")
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130 and elapsed < 2.0  # the bound of tests/test_stopping.py
    assert b"Traceback" not in err and b"Aborted" not in err
    assert (shown + rest).decode().count("open orders at ") >= 1
