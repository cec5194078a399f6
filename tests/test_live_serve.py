"""``wirecap live --serve`` on the store's LAN (Mono main cash and terminals in network namespaces, as in
``test_live.py``): while it captures, the API serves the orders, and at the end of the evening they are
what the main cash itself held."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ENV, WIRECAP
from interop.lan import StoreLan
from interop.store import wait_for_line
from test_api import by_field_names
from test_orders import assert_main_cash_orders

PORT = 8765
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())"


@pytest.fixture
def lan() -> Iterator[StoreLan]:
    with StoreLan(f"{os.getpid() % 10000 + 1}") as created:
        yield created


def test_live_serve_gives_the_main_cash_orders(lan: StoreLan, tmp_path: Path) -> None:
    argv = [*WIRECAP, "live", "-i", "any", "--serve", f"127.0.0.1:{PORT}", "-o", os.devnull, "-q"]
    live = subprocess.Popen(lan.cmd("term", argv), stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert live.stderr is not None
        wait_for_line(live.stderr, "listening on")
        work = lan.evening(tmp_path / "work")
        fetch = [sys.executable, "-c", FETCH, f"http://127.0.0.1:{PORT}/api/orders"]
        answer = subprocess.run(lan.cmd("term", fetch), capture_output=True, text=True, check=True, timeout=30)
        stats = [sys.executable, "-c", FETCH, f"http://127.0.0.1:{PORT}/api/stats"]
        served = json.loads(subprocess.run(lan.cmd("term", stats), capture_output=True, check=True).stdout)
    finally:
        live.send_signal(signal.SIGINT)
        _, err = live.communicate(timeout=30)
    assert live.returncode == 0 and "Traceback" not in err, err
    assert served["mode"] == "live" and served["source"] == "any" and served["events"]["iiko.event"] > 0
    assert_main_cash_orders(by_field_names(json.loads(answer.stdout)), work / "orders.json")
