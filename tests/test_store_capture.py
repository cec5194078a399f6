"""captures/store.pcap: a small iiko store made by real peers, against what the peers themselves logged.

Mono main cash and two Mono terminals (WCF duplex on 8506: Register, LockOrder/UnlockOrder, SyncOrder of
the whole order, OrderLocked/OrderUnlocked/OrderChanged pushed to the other terminal) and UserEvents
posted with HttpWebRequest to an http.server link on 8080 (``tests/interop/run_store.sh``). The truth is
one line per step, written by the terminals; ``store.orders.json`` is the main cash's open orders at the
end. Both are deterministic (only MessageIDs and times change between runs), so a fresh run must
reproduce them exactly. ``wirecap orders`` against ``store.orders.json`` is in ``test_orders.py``.
"""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import ENV, events
from interop.store import run_store
from scapy.layers.inet import TCP
from scapy.utils import PcapReader

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
PCAP = CAPTURES / "store.pcap"
TERMINALS = 2  # each opens its session with Register (request + reply) and authenticates once over HTTP
# The scripted evening (StoreEvening.cs), step by step: (terminal, order number, UserEvent type, lock).
EVENING = [
    ("T1", 12, "orderOpened", "lock"),
    ("T1", 12, "addItemToOrder", None),
    ("T1", 12, "addItemToOrder", None),
    ("T1", 12, "addItemToOrder", None),
    ("T1", 12, "deletedNewItems", None),
    ("T1", 12, "serviceChequeForDishesPrinted", "unlock"),
    ("T2", 13, "orderOpened", "lock"),
    ("T2", 13, "addItemToOrder", None),
    ("T2", 13, "addItemToOrder", None),
    ("T2", 13, "serviceChequeForDishesPrinted", "unlock"),
    ("T1", 12, "addItemToOrder", "lock"),
    ("T1", 12, "serviceChequeForDishesPrinted", None),
    ("T1", 12, "deletedPrintedItems", None),
    ("T1", 12, "changedOrderGuestCount", "unlock"),
    ("T1", 14, "orderOpened", "lock"),
    ("T1", 14, "addItemToOrder", None),
    ("T1", 14, "addItemToOrder", None),
    ("T1", 14, None, "unlock"),  # an item comment: synced, no UserEvent
    ("T2", 12, "orderMoved", "lock"),
    ("T2", 12, "orderPrechequed", None),
    ("T2", 12, "orderPaid", "unlock"),
    ("T2", 13, "changedOrderGuestCount", "lock"),
    ("T2", 13, "addItemToOrder", "unlock"),
]


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


TRUTH = read_lines(CAPTURES / "store.truth.jsonl")
ORDERS = json.loads((CAPTURES / "store.orders.json").read_text(encoding="utf-8"))


def as_list(value: Any) -> list[Any]:
    """A collection as decoded JSON has it: "" when empty, {"OrderItem": {...}} for one, {"OrderItem": [...]}."""
    if value == "":
        return []
    inner = next(iter(value.values())) if isinstance(value, dict) else value
    return inner if isinstance(inner, list) else [inner]


@pytest.fixture(scope="module")
def replayed() -> list[dict[str, Any]]:
    """``wirecap replay -q captures/store.pcap`` as a user runs it."""
    cmd = [sys.executable, "-m", "wirecap", "replay", "-q", str(PCAP)]
    return events(subprocess.run(cmd, capture_output=True, env=ENV, timeout=60, check=False))


def test_fresh_run_reproduces_the_committed_truth_and_orders(tmp_path: Path) -> None:
    pcap, truth, orders = run_store(tmp_path)
    payload: Counter[int] = Counter()
    with PcapReader(str(pcap)) as packets:
        for packet in packets:
            tcp = packet[TCP]
            if tcp.payload:
                payload[min(tcp.sport, tcp.dport)] += len(tcp.payload)
    assert set(payload) == {8080, 8506} and min(payload.values()) > 10_000
    assert read_lines(truth) == TRUTH
    assert json.loads(orders.read_text(encoding="utf-8")) == ORDERS


def test_truth_follows_the_scripted_evening() -> None:
    numbers = {line["order_id"]: line["order_after"]["number"] for line in TRUTH}
    steps = [
        (line["terminal"], numbers[line["order_id"]], (line["user_event"] or {}).get("type"), line["lock"])
        for line in TRUTH
    ]
    assert steps == EVENING
    assert [line["step"] for line in TRUTH] == list(range(1, len(EVENING) + 1))
    assert [(o["number"], o["table"], o["guests"], o["sum"], o["last_changed_terminal"]) for o in ORDERS] == [
        (13, 7, 5, "2710.00", "T2"),
        (14, 3, 1, "500.00", "T1"),
    ]


def test_every_wcf_message_decodes_and_carries_what_the_terminal_sent(replayed: list[dict[str, Any]]) -> None:
    kinds = Counter(e["kind"] for e in replayed)
    assert kinds["anomaly"] == 0 and kinds["wcf.fault"] == 0
    locks = sum(line["lock"] is not None for line in TRUTH)
    # per step: SyncOrder, its reply, OrderChanged to the other terminal; the same three per lock/unlock
    assert kinds["wcf.message"] == 3 * (len(TRUTH) + locks) + 2 * TERMINALS
    messages = [e for e in replayed if e["kind"] == "wcf.message"]
    assert all(m["unresolved"] == 0 for m in messages)
    synced = [m["body"]["SyncOrder"]["order"] for m in messages if m["body_element"] == "SyncOrder"]
    pushed = [m["body"]["OrderChanged"]["order"] for m in messages if m["body_element"] == "OrderChanged"]
    assert pushed == synced
    sent = [
        {
            "id": o["Id"],
            "number": o["Number"],
            "status": o["Status"],
            "table": as_list(o["Tables"])[0]["Num"],
            "waiter": o["Waiter"],
            "guests": o["Guests"],
            "revision": o["SyncRevision"],
            "items": [
                {k.lower(): i[k] for k in ("Id", "Product", "Amount", "Price", "Printed", "Deleted")}
                for i in as_list(o["Items"])
            ],
        }
        for o in synced
    ]
    assert sent == [line["order_after"] for line in TRUTH]


def test_every_http_call_is_an_rms_call(replayed: list[dict[str, Any]]) -> None:
    calls = [e for e in replayed if e["kind"] == "rms.call"]
    posted = [line for line in TRUTH if line["user_event"]]
    assert [c["method_name"] for c in calls].count("saveUserEvents") == len(posted)
    assert len(calls) == len(posted) + TERMINALS
    assert all(c["complete"] and c["status"] == 200 and c["success"] is True for c in calls)
    assert {c["request_headers"]["x-resto-passwordhash"] for c in calls} == {"<redacted>"}
    assert len({c["correlation_id"] for c in calls}) == len(calls)
    assert len({c["uid"] for c in calls}) == TERMINALS  # one keep-alive connection per terminal
    bodies = [c["request"]["args"]["events"]["event"] for c in calls if c["method_name"] == "saveUserEvents"]
    assert [b["type"] for b in bodies] == [line["user_event"]["type"] for line in posted]


def test_iiko_events_are_the_user_events_the_terminals_posted(replayed: list[dict[str, Any]]) -> None:
    posted = [line["user_event"] for line in TRUTH if line["user_event"]]
    got = [e for e in replayed if e["kind"] == "iiko.event" and not e["derived"]]
    assert [(e["type"], e["order"]["id"]) for e in got] == [(u["type"], u["attributes"]["orderId"]) for u in posted]
    for event, user_event in zip(got, posted, strict=True):
        attributes = user_event["attributes"]
        assert {k: event["attributes"][k] for k in attributes} == attributes
        assert event["order"]["number"] == attributes["orderNum"]
        assert event["order"]["table"] == attributes["tableNum"]
