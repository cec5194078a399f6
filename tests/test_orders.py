"""``wirecap orders`` and ``wirecap inspect`` as a user runs them, on captures of real peers.

``rms_session.pcap``: http.client posting UserEvents for order 17 (opened, Borscht ×2 and Kompot added,
Kompot deleted, guests 2 → 3, prechequed), then a long poll returning the order entity. The Mono WCF
captures: orders saved and fetched with SDK-style names; their truth says which end open.
"""

import json
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from conftest import Keep, events, ok

from decoders.iiko import OrderTracker
from decoders.iiko_events import IikoEvent
from wirecap.orders import OrderBook, analyse, read_rules

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
RMS = str(CAPTURES / "rms_session.pcap")
TERMINAL = "6f1b2c3d-0000-4a5b-8c9d-0e1f2a3b4c5d"
Run = Callable[..., subprocess.CompletedProcess[bytes]]


def open_orders(wirecap: Run, *args: str) -> list[dict[str, Any]]:
    return json.loads(ok(wirecap("orders", "--json", *args)))


def test_open_order_at_the_end_of_the_capture(wirecap: Run) -> None:
    (order,) = open_orders(wirecap, RMS)
    assert (order["number"], order["table"], order["waiter"], order["guests"]) == ("17", "5", "Ivanova A.", 3)
    assert order["status"] == "BILL" and order["sum"] == "450"  # orderSumAfterDiscount of the precheque
    assert [(i["product"], i["amount"]) for i in order["items"]] == [("Borscht", "2")]
    assert order["changed_by"] == TERMINAL


def test_open_order_at_an_earlier_time(wirecap: Run) -> None:
    posts = [e["ts"] for e in events(wirecap("replay", RMS)) if e.get("method_name") == "saveUserEvents"]
    (order,) = open_orders(wirecap, RMS, "--at", posts[0])
    assert [(i["product"], i["amount"]) for i in order["items"]] == [("Borscht", "2"), ("Kompot", "1")]
    assert (order["status"], order["guests"]) == ("NEW", 2)
    (order,) = open_orders(wirecap, RMS, "--at", posts[1])
    assert [(i["product"], i["amount"]) for i in order["items"]] == [("Borscht", "2")]
    assert (order["status"], order["guests"]) == ("BILL", 3)
    assert open_orders(wirecap, RMS, "--at", "2000-01-01T00:00:00") == []


def test_orders_open_after_mono_terminal_sync(wirecap: Run) -> None:
    last: dict[str, dict[str, Any]] = {}
    for line in (CAPTURES / "wcf_concurrent.truth.jsonl").read_text().splitlines():
        order = json.loads(line)["body"].get("order") or {}
        if "Items" in order:
            last[order["Id"]] = order
    expected = sorted(str(o["Number"]) for o in last.values() if o["Status"] not in ("Closed", "Deleted"))
    got = open_orders(wirecap, str(CAPTURES / "wcf_concurrent.pcap"))
    assert sorted(o["number"] for o in got) == expected
    table = ok(wirecap("orders", str(CAPTURES / "wcf_concurrent.pcap"))).decode()
    assert table.splitlines()[0].split()[:4] == ["number", "table", "waiter", "guests"]
    *rows, total = table.splitlines()[1:]
    assert len(rows) == len(expected)
    sums = sum(Decimal(o["sum"]) for o in got)
    assert total.split() == ["total", f"{len(expected)}", "orders", f"{sums:.2f}"]


def test_no_orders_is_said_on_stderr(wirecap: Run) -> None:
    run = wirecap("orders", str(CAPTURES / "wcf_streamed.pcap"))
    assert ok(run) == b"" and b"no open orders" in run.stderr


def test_inspect_lists_methods_fields_and_what_is_recognised(wirecap: Run) -> None:
    text = ok(wirecap("inspect", RMS)).decode()
    assert "http events.saveUserEvents" in text
    assert 'request/args/events[]/attribute[]{orderNum}  e.g. "17"' in text
    assert "iiko.event orderOpened" in text and "iiko.order_snapshot" in text
    shapes = json.loads(ok(wirecap("inspect", "--json", str(CAPTURES / "wcf_buffered.pcap"))))
    assert shapes["messages"]["wcf http://tempuri.org/IOrderSync/SaveOrder"] == 11
    paths = {(p["message"], p["path"]) for p in shapes["paths"]}
    assert ("wcf http://tempuri.org/IOrderSync/SaveOrder", "body/SaveOrder/order/Items[]/Product") in paths


def test_rules_files_reach_every_command(wirecap: Run, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.toml"
    renamed.write_text('[order]\nnumber = ["tableNum"]\n')
    (order,) = open_orders(wirecap, RMS, "--rules", str(renamed))
    assert order["number"] == "5"
    bad = tmp_path / "bad.toml"
    bad.write_text("[orders]\n")
    for command in ("replay", "orders", "inspect"):
        run = wirecap(command, RMS, "--rules", str(renamed), "--rules", str(bad))
        assert run.returncode == 2 and f"{bad}: unknown section [orders]".encode() in run.stderr
        assert b"rules file" not in run.stderr  # not "rules file 3", counting the shipped rules


def test_store_open_orders_match_the_main_cash(wirecap: Run) -> None:
    assert_main_cash_orders(open_orders(wirecap, str(CAPTURES / "store.pcap")))


def test_user_events_posted_after_the_sync_are_not_applied_twice() -> None:
    """iikoFront posts its journal in batches, after it synced the order: replay the store's own events
    with every UserEvent moved behind all the snapshots; the open orders must not change."""

    recorder = Keep()
    analyse([str(CAPTURES / "store.pcap")], (OrderTracker(read_rules(())), recorder))
    journal = [e for e in recorder.events if isinstance(e, IikoEvent) and not e.derived]
    late = [e for e in recorder.events if e not in journal] + journal
    book = OrderBook()
    for event in late:
        book.observe(event)
    assert_main_cash_orders([o.as_json() for o in book.open_orders()])


def assert_main_cash_orders(orders: list[dict[str, Any]], held: Path = CAPTURES / "store.orders.json") -> None:
    """The open orders equal what the store's main cash held when it stopped (``held``: what it wrote)."""
    main_cash = json.loads(held.read_text())
    got = {o["id"]: o for o in orders}
    assert got.keys() == {o["id"] for o in main_cash}
    for want in main_cash:
        order = got[want["id"]]
        assert (order["number"], order["table"], order["waiter"], order["guests"], order["status"]) == (
            str(want["number"]),
            str(want["table"]),
            want["waiter"],
            want["guests"],
            want["status"],
        )
        assert order["sum"] == str(want["sum"]) and order["changed_by"] == want["last_changed_terminal_id"]
        assert [(i["position_id"], i["product"], i["amount"], i["price"], i["printed"]) for i in order["items"]] == [
            (i["id"], i["product"], str(i["amount"]), str(i["price"]), i["printed"]) for i in want["items"]
        ]


def test_store_user_events_alone_give_the_same_open_orders(wirecap: Run) -> None:
    """Only the server link (8080): the orders come from UserEvents, line sums from their ``sum``."""
    main_cash = json.loads((CAPTURES / "store.orders.json").read_text())
    got = {o["id"]: o for o in open_orders(wirecap, str(CAPTURES / "store.pcap"), "--port", "8080")}
    assert got.keys() == {o["id"] for o in main_cash}
    for want in main_cash:
        order = got[want["id"]]
        assert (order["number"], order["table"], order["guests"], order["sum"]) == (
            str(want["number"]),
            str(want["table"]),
            want["guests"],
            str(want["sum"]),
        )
        assert [(i["product"], i["amount"]) for i in order["items"]] == [
            (i["product"], str(i["amount"])) for i in want["items"]
        ]


def _damaged_store(tmp_path: Path) -> tuple[Path, Path]:
    """store.pcap cut inside its 300th record, and its first 299 records intact."""
    data = (CAPTURES / "store.pcap").read_bytes()
    pos = 24
    for _ in range(299):
        pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
    (tmp_path / "damaged.pcap").write_bytes(data[: pos + 20])
    (tmp_path / "intact.pcap").write_bytes(data[:pos])
    return tmp_path / "damaged.pcap", tmp_path / "intact.pcap"


def test_a_damaged_capture_shows_what_was_rebuilt_then_the_error(wirecap: Run, tmp_path: Path) -> None:
    damaged, intact = _damaged_store(tmp_path)
    for command in (["orders"], ["orders", "--json"], ["inspect"], ["inspect", "--json"]):
        run = wirecap(*command, str(damaged))
        assert run.returncode == 1 and run.stdout
        assert run.stdout == ok(wirecap(*command, str(intact)))
        [line] = run.stderr.decode().splitlines()
        assert line.startswith(f"wirecap: error: {damaged} at byte offset ")


def test_orders_and_inspect_read_stdin(wirecap: Run) -> None:
    store = CAPTURES / "store.pcap"
    for command in (["orders", "--json"], ["inspect"]):
        assert ok(wirecap(*command, "-", stdin=store.read_bytes())) == ok(wirecap(*command, str(store)))


def test_at_outside_the_capture_says_its_span(wirecap: Run) -> None:
    run = wirecap("orders", RMS, "--at", "2000-01-01T00:00:00Z")
    assert run.returncode == 0
    first, last = (e["ts"] for e in [events(wirecap("replay", RMS, "-c", "1"))[0], events(wirecap("replay", RMS))[-1]])
    assert f"--at 2000-01-01T00:00:00Z is outside the capture, which spans {first} to {last}" in run.stderr.decode()
    inside = wirecap("orders", RMS, "--at", last)
    assert b"outside" not in inside.stderr


def test_terminal_names_from_the_terminals_introducing_themselves(wirecap: Run) -> None:
    """In the store, T1 and T2 register with the main cash (``Register(terminalId, name)``)."""
    store = str(CAPTURES / "store.pcap")
    names = {
        e["body"]["Register"]["terminalId"]: e["body"]["Register"]["name"]
        for e in events(wirecap("replay", store))
        if e.get("body_element") == "Register"
    }
    assert sorted(names.values()) == ["T1", "T2"]
    got = open_orders(wirecap, store)
    assert got and all(o["changed_by_name"] == names[o["changed_by"]] for o in got)
    assert all(o["terminal_name"] == names[o["terminal"]] for o in got)
    table = ok(wirecap("orders", store)).decode()
    assert all(f"  {names[o['changed_by']]}  " in table for o in got) and "987f9b83" not in table
