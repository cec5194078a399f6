"""decoders.iiko: what the default rules recognise in messages real peers sent, and how rules files change it.

Real peers: ``captures/rms_session.pcap`` (http.client posting journal-shaped UserEvents as gzip XML,
``tests/interop/rms/gen_rms.py``) and the Mono WCF captures (``captures/wcf_*.pcap``, orders with
SDK-style names ``Id``/``Number``/``Items``/``Product``…, truth written by the Mono peer itself).
"""

import gzip
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.events import WcfMessage
from decoders.iiko import OrderTracker, RulesError, default_rules_text, item_changes, load_rules
from decoders.iiko_events import IikoEvent, IikoItem, IikoOrderLock, IikoOrderSnapshot, IikoOrderUnlock
from decoders.schema import json_schema
from wirecap.flow import conn_fields
from wirecap.pipeline import Options, Pipeline, run
from wirecap.sink import JsonlSink
from wirecap.source import CaptureSource

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
RULES = load_rules([default_rules_text()])
CONN = conn_fields("C1", "1:x", "10.0.0.5:50000", "10.0.0.1:8506")


def tracked(pcap: Path, rules_texts: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The JSONL lines ``wirecap replay`` writes for a capture, with the iiko analyzer in the sink."""
    out = io.StringIO()
    sink = JsonlSink(out, all_fields=True, analyzers=(OrderTracker(load_rules([default_rules_text(), *rules_texts])),))
    run([CaptureSource(str(pcap))], Pipeline(Options()), sink.write)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def wcf(body: Any, action: str = "http://tempuri.org/ISync/Save", seq: int = 7) -> WcfMessage:
    return WcfMessage(
        ts=1,
        seq=seq,
        dir="orig",
        **CONN,
        action=action,
        message_id=None,
        relates_to=None,
        to=None,
        reply_to=None,
        size=0,
        soap_version="1.2",
        encoding="binary",
        unresolved=0,
        session_strings_added=0,
        body=body,
        body_element=next(iter(body)) if isinstance(body, dict) and body else None,
    )


def test_user_events_posted_over_http_match_what_the_client_sent() -> None:
    lines = tracked(CAPTURES / "rms_session.pcap")
    got = [e for e in lines if e["kind"] == "iiko.event"]
    sent = []
    for truth in map(json.loads, (CAPTURES / "rms_session.truth.jsonl").read_text().splitlines()):
        if truth["request_xml"]:
            sent += ET.fromstring(truth["request_xml"]).iter("UserEvent")
    assert [e["type"] for e in got] == [u.findtext("type") for u in sent]
    for event, user_event in zip(got, sent, strict=True):
        pairs = {a.findtext("name"): a.findtext("value") for a in user_event.iter("attribute")}
        assert {k: event["attributes"][k] for k in pairs} == pairs
        assert event["order"]["id"] == pairs["orderId"] and event["order"]["number"] == pairs["orderNum"]
        assert event["order"]["table"] == pairs["tableNum"] and event["order"]["waiter"] == pairs["waiter"]
        source = next(line for line in lines if line["seq"] == event["source"]["seq"])
        assert source["kind"] == "rms.call" and event["source"]["transport"] == "http"
        assert event["uid"] == source["uid"] and event["seq"] > source["seq"]
        if "dishes" in pairs:
            (item,) = event["items"]
            assert (item["product"], item["amount"]) == (pairs["dishes"], str(pairs["rowCount"]))
        else:
            assert event["items"] == []
    assert [e["order"]["guests"] for e in got if e["type"] == "changedOrderGuestCount"] == [3]


def test_order_entity_in_a_long_poll_reply_is_a_snapshot() -> None:
    (snapshot,) = [e for e in tracked(CAPTURES / "rms_session.pcap") if e["kind"] == "iiko.order_snapshot"]
    assert snapshot["order"]["number"] == "17" and snapshot["order"]["status"] == "BILL"
    assert snapshot["order"]["table"] == "5" and snapshot["revision"] == "42"
    assert snapshot["order"]["terminal"] == "6f1b2c3d-0000-4a5b-8c9d-0e1f2a3b4c5d"
    assert snapshot["items"] == [
        {
            "position_id": "pos-1",
            "product_id": None,
            "product": "Borscht",
            "amount": "2",
            "price": "250",
            "sum": None,
            "deleted": False,
            "printed": True,
        }
    ]


def _truth_orders(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Items" in value and "Id" in value:
                found.append(value)
                return
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for line in (CAPTURES / f"{name}.truth.jsonl").read_text().splitlines():
        walk(json.loads(line)["body"])
    return found


@pytest.mark.parametrize("name", ["wcf_buffered", "wcf_concurrent"])
def test_orders_synced_over_wcf_by_a_mono_peer_are_snapshots(name: str) -> None:
    lines = tracked(CAPTURES / f"{name}.pcap")
    snapshots = [e for e in lines if e["kind"] == "iiko.order_snapshot"]
    truth = _truth_orders(name)
    assert sorted(s["order"]["id"] for s in snapshots) == sorted(t["Id"] for t in truth)
    by_id = {t["Id"]: t for t in truth}
    for snapshot in snapshots:
        order, sent = snapshot["order"], by_id[snapshot["order"]["id"]]
        assert order["number"] == str(sent["Number"]) and order["waiter"] == sent["Waiter"]
        assert order["guests"] == sent["Guests"] and order["status"] == sent["Status"]
        assert order["sum"] == str(sent["Sum"])
        assert order["table"] == (str(sent["Tables"][0]["Num"]) if sent["Tables"] else None)
        assert snapshot["revision"] == str(sent["Revision"])
        assert [(i["position_id"], i["product"], i["amount"], i["price"], i["deleted"]) for i in snapshot["items"]] == [
            (i["Id"], i["Product"], str(i["Amount"]), str(i["Price"]), i["Deleted"]) for i in sent["Items"]
        ]
        assert [bool(i["printed"]) for i in snapshot["items"]] == [i["PrintTime"] is not None for i in sent["Items"]]
        assert snapshot["source"]["transport"] == "wcf"
    assert not [e for e in lines if e["kind"] == "iiko.event"]  # the same order sent again changes nothing


def _order(items: list[dict[str, Any]], status: str = "New") -> dict[str, Any]:
    return {"SaveOrder": {"order": {"Id": "o-1", "Number": 5, "Status": status, "Items": items}}}


def test_item_events_are_derived_from_successive_snapshots() -> None:
    tracker = OrderTracker(RULES)
    soup = {"Id": "p1", "Product": "Borscht", "Amount": "1", "Price": "250", "Deleted": False, "PrintTime": "t"}
    tea = {"Id": "p2", "Product": "Tea", "Amount": "1", "Price": "50", "Deleted": False, "PrintTime": None}
    assert [e.kind for e in tracker.observe(wcf(_order([soup])))] == ["iiko.order_snapshot"]
    out = tracker.observe(wcf(_order([{**soup, "Amount": "2"}, tea]), seq=9))
    derived = [(e.type, e.items[0].product) for e in out if isinstance(e, IikoEvent)]
    assert derived == [("changedItemAmount", "Borscht"), ("addItemToOrder", "Tea")]
    assert all(e.derived and e.source.seq == 9 for e in out if isinstance(e, IikoEvent))
    out = tracker.observe(wcf(_order([{**soup, "Amount": "2", "Deleted": True}])))
    assert [(e.type, e.items[0].product) for e in out if isinstance(e, IikoEvent)] == [
        ("deletedPrintedItems", "Borscht"),
        ("deletedNewItems", "Tea"),
    ]


def test_a_stale_copy_of_an_order_derives_nothing() -> None:
    tracker = OrderTracker(RULES)
    tea = {"Id": "p2", "Product": "Tea", "Amount": "1"}
    newer = _order([tea, {**tea, "Id": "p3"}])
    newer["SaveOrder"]["order"]["SyncRevision"] = 8
    older = _order([tea])
    older["SaveOrder"]["order"]["SyncRevision"] = 7
    tracker.observe(wcf(newer))
    assert [e.kind for e in tracker.observe(wcf(older))] == ["iiko.order_snapshot"]
    assert [e.kind for e in tracker.observe(wcf(newer))] == ["iiko.order_snapshot"]


def test_item_changes_match_lines_without_position_ids_by_product() -> None:
    before = [IikoItem(product="Tea", amount=1)]
    assert item_changes(before, [IikoItem(product="Tea", amount=3)]) == [
        ("changedItemAmount", IikoItem(product="Tea", amount=3))
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"Resto.Front.Data.UserEvent": {"Id": "e1", "Type": "orderPaid", "OrderId": "o-1", "Sum": "12.5"}},
        {"Events": [{"@type": "d4p1:UserEvent", "EventType": "orderPaid", "OrderId": "o-1", "Sum": 12.5}]},
        {"x:userevent": {"type": "orderPaid", "attributes": {"attribute": [{"name": "orderId", "value": "o-1"}]}}},
    ],
)
def test_user_event_spellings(body: dict[str, Any]) -> None:
    (event,) = OrderTracker(RULES).observe(wcf(body))
    assert isinstance(event, IikoEvent) and event.type == "orderPaid" and event.order.id == "o-1"


def test_lock_and_unlock_from_the_action() -> None:
    tracker = OrderTracker(RULES)
    (lock,) = tracker.observe(wcf({"LockOrder": {"orderId": "o-1"}}, action="http://iiko/IFront/LockOrder"))
    (unlock,) = tracker.observe(wcf({"UnlockOrder": {"orderId": "o-1"}}, action="http://iiko/IFront/UnlockOrder"))
    assert isinstance(lock, IikoOrderLock) and lock.order_id == "o-1" and lock.operation == "LockOrder"
    assert isinstance(unlock, IikoOrderUnlock) and unlock.order_id == "o-1"
    assert tracker.observe(wcf({"GetClock": {"orderId": "o-1"}}, action="http://iiko/IFront/GetClock")) == []
    reply = {"LockOrderResponse": {"LockOrderResult": True}}
    assert tracker.observe(wcf(reply, action="http://iiko/IFront/LockOrderResponse")) == []


def test_rules_file_extends_and_overrides_the_defaults() -> None:
    body = {"Custom": {"kind": "orderCombined", "orderId": "o-1", "cashierName": "Petrova"}}
    assert OrderTracker(RULES).observe(wcf(body)) == []
    extra = """
[extend.user_event]
types = ["orderCombined"]
type_fields = ["kind"]
[extend.order]
waiter = ["cashierName"]
"""
    (event,) = OrderTracker(load_rules([default_rules_text(), extra])).observe(wcf(body))
    assert isinstance(event, IikoEvent) and event.type == "orderCombined" and event.order.waiter == "Petrova"
    only = load_rules([default_rules_text(), '[user_event]\ntypes = ["orderCombined"]\n'])
    assert OrderTracker(only).observe(wcf({"e": {"type": "orderPaid", "orderId": "o-1"}})) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[order]\nwaiter = 'x'\n", "must be a list"),
        ("[orders]\nid = []\n", "unknown section"),
        ("[order]\nwaitress = []\n", "unknown key"),
        ("[order\n", "rules file 2"),
        ("[lock]\nlock = '('\n", "[lock]"),
    ],
)
def test_bad_rules_are_reported(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message.replace("[", r"\[")):
        load_rules([default_rules_text(), text])


def test_snapshot_of_a_user_event_capture_stays_a_user_event() -> None:
    body = {"UserEvent": {"type": "addItemToOrder", "orderId": "o-1", "items": [{"product": "Tea", "amount": 1}]}}
    (event,) = OrderTracker(RULES).observe(wcf(body))
    assert isinstance(event, IikoEvent) and event.items == [IikoItem(product="Tea", amount=1)]
    assert not isinstance(event, IikoOrderSnapshot)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "Id",
                    "orderId",
                    "Items",
                    "items",
                    "Product",
                    "amount",
                    "UserEvent",
                    "attribute",
                    "name",
                    "value",
                    "@type",
                    "tables",
                    "waiter",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_body_never_raises(body: Any) -> None:
    for event in OrderTracker(RULES).observe(wcf({"Body": body})):
        assert event.kind.startswith("iiko.")


# --- the store: Mono terminals syncing with a main cash (WCF) and posting UserEvents (HTTP) ------------

STORE = [json.loads(line) for line in (CAPTURES / "store.truth.jsonl").read_text().splitlines()]


def _expected_item_changes() -> list[tuple[str, str]]:
    """Item events between successive states of each order, as the store's script recorded them."""
    last: dict[str, dict[str, Any]] = {}
    out: list[tuple[str, str]] = []
    for step in STORE:
        after = step["order_after"]
        before = last.get(after["id"])
        last[after["id"]] = after
        if before is None:
            continue
        old = {i["id"]: i for i in before["items"]}
        for line in after["items"]:
            was = old.get(line["id"])
            if was is None and not line["deleted"]:
                out.append(("addItemToOrder", line["product"]))
            elif was is not None and line["deleted"] and not was["deleted"]:
                out.append(("deletedPrintedItems" if line["printed"] else "deletedNewItems", line["product"]))
            elif was is not None and line["amount"] != was["amount"]:
                out.append(("changedItemAmount", line["product"]))
    return out


def test_store_user_events_locks_and_derived_items_match_the_script() -> None:
    lines = tracked(CAPTURES / "store.pcap")
    posted = [e for e in lines if e["kind"] == "iiko.event" and not e["derived"]]
    sent = [step["user_event"] for step in STORE if step["user_event"]]
    assert [(e["type"], e["order"]["id"]) for e in posted] == [(u["type"], u["attributes"]["orderId"]) for u in sent]
    for event, user_event in zip(posted, sent, strict=True):
        assert {k: event["attributes"][k] for k in user_event["attributes"]} == user_event["attributes"]
    derived = [(e["type"], e["items"][0]["product"]) for e in lines if e["kind"] == "iiko.event" and e["derived"]]
    assert derived == _expected_item_changes()
    locks = [(e["kind"], e["order_id"]) for e in lines if e["kind"] in ("iiko.order_lock", "iiko.order_unlock")]
    requested = [(f"iiko.order_{s['lock']}", s["order_id"]) for s in STORE if s["lock"]]
    # one event per lock: the main cash's push of the same lock to the other terminal changes nothing
    assert locks == requested


def test_store_snapshots_end_in_the_scripted_state() -> None:
    final: dict[str, dict[str, Any]] = {}
    for event in tracked(CAPTURES / "store.pcap"):
        if event["kind"] == "iiko.order_snapshot":
            final[event["order"]["id"]] = event
    expected = {step["order_after"]["id"]: step["order_after"] for step in STORE}
    assert final.keys() == expected.keys()
    for order_id, want in expected.items():
        got = final[order_id]
        assert (got["order"]["number"], got["order"]["status"], got["order"]["table"]) == (
            str(want["number"]),
            want["status"],
            str(want["table"]),
        )
        assert (got["order"]["waiter"], got["order"]["guests"], got["revision"]) == (
            want["waiter"],
            want["guests"],
            str(want["revision"]),
        )
        assert [(i["position_id"], i["product"], i["amount"], i["deleted"]) for i in got["items"]] == [
            (i["id"], i["product"], str(i["amount"]), i["deleted"]) for i in want["items"]
        ]


def test_store_output_validates_against_the_published_schema() -> None:
    validator = jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.FormatChecker())
    lines = tracked(CAPTURES / "store.pcap")
    for line in lines:
        validator.validate(line)
    kinds = {line["kind"] for line in lines}
    assert {"rms.call", "iiko.event", "iiko.order_snapshot", "iiko.order_lock", "iiko.order_unlock"} <= kinds


def _rms_request(contains: bytes) -> tuple[bytes, bytes]:
    """(head, gzip body) of the rms_session request whose XML contains ``contains``, as http.client sent
    them (a chunked body de-chunked; the head then says Content-Length)."""
    from wirecap.streams import collect_streams

    (stream,) = collect_streams([str(CAPTURES / "rms_session.pcap")])
    orig = stream.data["orig"]
    start = 0
    while True:
        head_end = orig.index(b"\r\n\r\n", start)
        head, pos = orig[start:head_end], head_end + 4
        body = b""
        if b"Transfer-Encoding: chunked" in head:
            while (size := int(orig[pos : orig.index(b"\r\n", pos)], 16)) > 0:
                pos = orig.index(b"\r\n", pos) + 2
                body, pos = body + orig[pos : pos + size], pos + size + 2
            pos = orig.index(b"\r\n\r\n", pos - 2) + 4
            head = head.replace(b"Transfer-Encoding: chunked", f"Content-Length: {len(body)}".encode())
        elif b"Content-Length: " in head:
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body, pos = orig[pos : pos + length], pos + length
        if body and contains in gzip.decompress(body):
            return head, body
        start = pos


def _request(head: bytes, body: bytes, edit: Any = None) -> bytes:
    """The request bytes, its gzip XML edited by ``edit(xml) -> xml`` if given (Content-Length fixed)."""
    new_body = body if edit is None else gzip.compress(edit(gzip.decompress(body)), mtime=0)
    head = head.replace(f"Content-Length: {len(body)}".encode(), f"Content-Length: {len(new_body)}".encode())
    assert f"Content-Length: {len(new_body)}".encode() in head
    return head + b"\r\n\r\n" + new_body


def _events_of(request: bytes) -> list[IikoEvent]:
    from decoders.detect import DecoderOptions
    from decoders.http import HttpDecoder

    decoder = HttpDecoder(CONN, DecoderOptions())  # type: ignore[arg-type]
    calls = decoder.feed("orig", request, 1) + decoder.eof("orig", 2) + decoder.eof("resp", 2)
    (call,) = [c.model_copy(update={"seq": 3}) for c in calls if c.kind == "rms.call"]
    return [e for e in OrderTracker(RULES).observe(call) if isinstance(e, IikoEvent)]


def test_user_event_types_a_newer_build_sends_are_kept_verbatim() -> None:
    """The rms_session saveUserEvents call (http.client's bytes), its journal events renamed ``<event>``
    and one type changed to one no rules list: in a ``saveUserEvents`` call, an object with a type and an
    order id is a UserEvent, so it comes out as iiko.event with that type; elsewhere it is not one."""
    head, body = _rms_request(b"<type>deletedNewItems</type>")
    assert b"methodName=saveUserEvents" in head
    known = [e.type for e in _events_of(_request(head, body))]
    assert "deletedNewItems" in known

    def newer(xml: bytes) -> bytes:
        xml = xml.replace(b"<UserEvent>", b"<event>").replace(b"</UserEvent>", b"</event>")
        return xml.replace(b"<type>deletedNewItems</type>", b"<type>orderSplitByGuests</type>")

    events = _events_of(_request(head, body, newer))
    assert [e.type for e in events] == [t if t != "deletedNewItems" else "orderSplitByGuests" for t in known]
    (unknown,) = [e for e in events if e.type == "orderSplitByGuests"]
    assert unknown.order.id == "a1b2c3d4-1111-2222-3333-444455556666" and unknown.attributes["comment"]

    elsewhere = _request(head, body, newer).replace(b"methodName=saveUserEvents", b"methodName=saveJournal")
    assert "orderSplitByGuests" not in [e.type for e in _events_of(elsewhere)]  # no UserEvent context
    assert [e.type for e in _events_of(elsewhere)] == [t for t in known if t != "deletedNewItems"]


def test_unknown_type_in_a_user_event_argument_without_an_order_id_is_not_an_event() -> None:
    with_order = {"SaveEvents": {"userEvents": {"Event": [{"Type": "tableMerged", "OrderId": "o-1", "Id": "e-9"}]}}}
    (event,) = [e for e in OrderTracker(RULES).observe(wcf(with_order)) if isinstance(e, IikoEvent)]
    assert (event.type, event.order.id) == ("tableMerged", "o-1")
    own_id_only = {"SaveEvents": {"userEvents": {"Event": [{"Type": "tableMerged", "Id": "e-9"}]}}}  # its own id
    assert not [e for e in OrderTracker(RULES).observe(wcf(own_id_only)) if isinstance(e, IikoEvent)]


def test_the_tracker_keeps_state_only_for_orders_still_open() -> None:
    """What the tracker remembers per order (the last snapshot, for deriving item events) goes when the
    order is paid or deleted: after the store's evening it holds exactly the main cash's open orders, so
    a live run's memory follows the open orders, not the weeks it has run."""
    tracker = OrderTracker(load_rules([default_rules_text()]))
    run(
        [CaptureSource(str(CAPTURES / "store.pcap"))],
        Pipeline(Options()),
        JsonlSink(io.StringIO(), analyzers=(tracker,)).write,
    )
    still_open = {order["id"] for order in json.loads((CAPTURES / "store.orders.json").read_text())}
    assert set(tracker.last) == still_open


@pytest.mark.parametrize("cut", range(-6, 7))
def test_the_first_key_is_read_from_the_start_of_a_long_text(cut: int) -> None:
    """``_first_key`` reads a prefix of the text: a key that ends before it, straddles it with a character
    of several bytes or an escape, or runs past it, is the key ``json`` reads."""
    from decoders.iiko import KEY_PREFIX, _first_key

    for tail in ("я", "\n", '"', "\u212a", "𝄞"):
        key = "a" * (KEY_PREFIX - 2 + cut) + tail + "b"
        text = json.dumps({key: [1] * 300}, ensure_ascii=False).encode()
        assert _first_key(text) == list(json.loads(text))
    assert _first_key(b'["SaveOrder"]') == []
    assert _first_key(json.dumps({"k": 1}).encode()) == ["k"]
