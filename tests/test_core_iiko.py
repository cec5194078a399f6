"""The compiled core's iiko recogniser (``decoders._core.IikoFinder`` through ``decoders.iiko_core``) against
the pure-Python ``Recogniser``, the reference: every committed capture replayed with it and with it off
(``OrderTracker.core_module``) gives the same bytes, with the default rules and with rules files that
rename, extend and spell names outside ASCII; hypothesis-made bodies, sent as the core's JSON text, give
the same events both ways, message after message (the tables and the line cache warm); and hostile texts
(deep nesting, repeated keys, names that lower-case to ASCII, floats, huge integers, escapes, text that
is not JSON) and hypothesis-mutated texts give the same events or the same exception. These tests need
the core built: without it they fail, never skip.
"""

from __future__ import annotations

import io
import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from core_diff import RUST
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json
from test_iiko import json_values
from test_iiko_shapes import snapshots
from test_json_text import ACTIONS, ENTITIES, RULE_KEYS, _message

import decoders.core
from decoders.events import Event, RmsCall
from decoders.iiko import OrderTracker, default_rules_text, load_rules
from decoders.json_text import JsonText, from_core
from decoders.models import replaced
from wirecap.pipeline import Options, Pipeline, run
from wirecap.sink import JsonlSink
from wirecap.source import CaptureSource

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
# renamed, extended, and names that are not ASCII (the prefilter cannot read those: every body is walked)
RULES_FILES = {
    "default": (),
    "extended": (
        """
[extend.user_event]
element_names = ["Événement", "SyncOrder"]
types = ["orderCombined", "İTEM", "\u212aick"]
type_fields = ["kind", "Id"]
attribute_lists = ["Items"]
[extend.snapshot]
item_lists = ["lines", "İtems"]
[extend.order]
id = ["ref", "Number"]
[item]
product = ["title", "Product", "dish"]
amount = ["qty", "Price"]
""",
    ),
    "everything speaks of UserEvents": ('[user_event]\nelement_names = ["", "order"]\n',),
}


def _core() -> Any:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    return RUST


def _tracker(core: Any, rules: tuple[str, ...] = ()) -> OrderTracker:
    OrderTracker.core_module = core
    try:
        return OrderTracker(load_rules([default_rules_text(), *rules]))
    finally:
        OrderTracker.core_module = RUST


def _replay(pcap: Path, tracker: OrderTracker) -> str:
    out = io.StringIO()
    sink = JsonlSink(out, analyzers=(tracker,))
    run([CaptureSource(str(pcap))], Pipeline(Options()), sink.write)
    return out.getvalue()


@pytest.mark.parametrize("rules", RULES_FILES.values(), ids=RULES_FILES.keys())
def test_every_capture_replays_to_the_same_bytes_with_the_core_recogniser_and_without(rules: tuple[str, ...]) -> None:
    read = known = iiko = 0
    for pcap in CAPTURES:
        with_core = _tracker(_core(), rules)
        lines = _replay(pcap, with_core)
        assert lines == _replay(pcap, _tracker(None, rules)), pcap.name
        assert with_core.core is not None
        counts = with_core.core.counts
        read, known = read + counts[0] - counts[1], known + counts[2]
        iiko += lines.count('"kind":"iiko.')
    assert iiko > 100
    if decoders.core.RUST is None:  # WIRECAP_PURE_PYTHON=1: the decoders give objects, hardly any text
        return
    assert read > 100  # the core read bodies
    assert known > 0 or "element_names" in "".join(rules)  # lines found by their text (none: no snapshots)


def _observed(tracker: OrderTracker, events: list[Event]) -> list[Any]:
    """Each event's iiko events (JSON, fields given, its source's fields given), or the exception it raised
    (type and text); then the tracker's tables (the last snapshot of each order, the locks)."""
    out: list[Any] = []
    for event in events:
        try:
            out.append([_made(derived) for derived in tracker.observe(event)])
        except Exception as exc:  # the reference's own exception is what is compared
            out.append((type(exc).__name__, str(exc)))
    out.append(({k: _made(v) for k, v in tracker.last.items()}, list(tracker.last), list(tracker.locked.items())))
    return out


def _made(event: Event) -> tuple[Any, ...]:
    """What of an iiko event the core must make as ``construct`` does: its JSON, the fields given."""
    source = event.__dict__["source"]
    return type(event), event.model_dump_json(), event.model_fields_set, source.model_fields_set


def _same_both_ways(bodies: list[Any], rules: tuple[str, ...] = (), **fields: Any) -> None:
    """The bodies (``JsonText`` or objects) as messages to a tracker with the core and one without, each
    sent twice (the second time the tables and the line cache hold them)."""
    events = [_message(seq=seq, body=body, **fields) for seq, body in enumerate([*bodies, *bodies])]
    assert _observed(_tracker(_core(), rules), events) == _observed(_tracker(None, rules), events)


RULES = st.sampled_from(list(RULES_FILES.values()))
BODIES = st.one_of(
    ENTITIES,
    json_values,
    json_values.map(lambda v: {"SyncOrder": {"order": v}}),
    snapshots().map(lambda order: {"SyncOrder": {"order": order}}),
)


@settings(max_examples=300, deadline=None)
@given(
    bodies=st.lists(BODIES, min_size=1, max_size=4),
    rules=RULES,
    action=ACTIONS,
    element=st.one_of(st.none(), RULE_KEYS),
)
def test_bodies_as_the_cores_text_give_the_same_events_both_ways(
    bodies: list[Any], rules: tuple[str, ...], action: str, element: str | None
) -> None:
    texts = [from_core(to_json(body)) for body in bodies]  # NaN written as NaN: JSON only Python reads
    _same_both_ways(texts, rules, action=action, body_element=element)


@cache
def _captured_call() -> RmsCall:
    """An iikoRMS call as the HTTP decoder made it from rms_session.pcap."""
    collected: list[Event] = []
    run([CaptureSource(str(ROOT / "captures" / "rms_session.pcap"))], Pipeline(Options()), collected.extend)
    return next(event for event in collected if isinstance(event, RmsCall))


def _call(seq: int, request: Any, response: Any, method_name: str | None) -> RmsCall:
    """The captured call with these bodies and method name."""
    return replaced(_captured_call(), seq=seq, request=request, response=response, method_name=method_name)


@settings(max_examples=300, deadline=None)
@given(
    bodies=st.lists(st.tuples(BODIES, st.one_of(st.none(), BODIES)), min_size=1, max_size=3),
    rules=RULES,
    method=st.one_of(st.none(), ACTIONS, RULE_KEYS),
)
def test_iikorms_calls_as_the_cores_text_give_the_same_events_both_ways(
    bodies: list[tuple[Any, Any]], rules: tuple[str, ...], method: str | None
) -> None:
    """The request and the reply of a call are read together, its method name among the names."""
    calls = [
        _call(seq, from_core(to_json(request)), None if reply is None else from_core(to_json(reply)), method)
        for seq, (request, reply) in enumerate([*bodies, *bodies])
    ]
    assert _observed(_tracker(_core(), rules), calls) == _observed(_tracker(None, rules), calls)


LINES = st.fixed_dictionaries(
    {"product": st.sampled_from(["Tea", "Soup"]), "amount": st.sampled_from(["1", "1.0", "2", "NaN", "x", 3])},
    optional={
        "positionId": st.sampled_from(["p1", "p2", "p3", ""]),
        "productId": st.sampled_from(["d1", "d2", ""]),
        "deleted": st.sampled_from([True, False, None, "", "yes"]),
        "printed": st.sampled_from([True, False, None, "2023-11-14"]),
    },
)
ORDER_SYNCS = st.fixed_dictionaries(
    {"orderId": st.sampled_from(["o-1", "o-2", "\u212a"]), "items": st.lists(LINES, max_size=4)},
    optional={
        "syncRevision": st.sampled_from(["1", "2", "10", "010", " 3", "\uff19", "1_0", "x", "9" * 30, 7]),
        "status": st.sampled_from(["New", "CLOSED", "deleted", "Closed\u212a", "clo\u017fed", 5]),
    },
)
SYNC = ORDER_SYNCS.map(lambda order: ("http://t/I/SyncOrder", {"SyncOrder": {"order": order}}))
STEPS = st.one_of(
    SYNC,
    SYNC,
    SYNC,
    st.tuples(
        st.sampled_from(["http://t/I/LockOrder", "http://t/I/UnlockOrder"]),
        st.sampled_from(["o-1", "o-2", ""]).map(lambda id_: {"LockOrder": {"orderId": id_, "terminal": "T"}}),
    ),
    st.tuples(
        st.just("http://t/I/SaveUserEvents"),
        st.sampled_from(["orderPaid", "orderOpened", "addItemToOrder"]).flatmap(
            lambda ty: st.sampled_from(["o-1", "o-2"]).map(
                lambda id_: {"UserEvent": {"type": ty, "orderId": id_, "product": "Tea"}}
            )
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEPS, min_size=1, max_size=12))
def test_successive_syncs_locks_and_closings_of_orders_give_the_same_events_both_ways(
    steps: list[tuple[str, Any]],
) -> None:
    """An order synced again and again (lines added, deleted, recounted, stale revisions, closing statuses),
    locked, unlocked and paid: the item events derived, the locks reported once and the tables kept by
    the core are the reference's."""
    events = [
        _message(seq=seq, action=action, body=from_core(to_json(body))) for seq, (action, body) in enumerate(steps)
    ]
    assert _observed(_tracker(_core()), events) == _observed(_tracker(None), events)


LINE_STATES = [None, {}, {"deleted": True}, {"printed": True}, {"deleted": True, "printed": True}]


@pytest.mark.parametrize("amounts", [("1", "1.0"), ("1", "2")], ids=["same amount", "other amount"])
def test_every_change_of_a_line_between_two_syncs_gives_the_same_events_both_ways(amounts: tuple[str, str]) -> None:
    """A line absent, plain, deleted, printed or both, then any of these at the next sync, by position id
    and by product and place: each item event ``item_changes`` can derive, made by the core as by it."""
    events = []
    for before, after in itertools.product(LINE_STATES, repeat=2):
        for key in ({"positionId": "p1"}, {"productId": "d1"}):
            order = f"o-{len(events)}"
            for state, amount in ((before, amounts[0]), (after, amounts[1])):
                lines = [] if state is None else [{**key, "product": "Tea", "amount": amount, **state}]
                body = {"SyncOrder": {"order": {"orderId": order, "number": "1", "items": lines}}}
                events.append(_message(seq=len(events), action="http://t/I/SyncOrder", body=from_core(to_json(body))))
    observed = _observed(_tracker(_core()), events)
    assert observed == _observed(_tracker(None), events)
    derived = [json.loads(made[1]) for found in observed[:-1] for made in found]
    kinds = {event["type"] for event in derived if event.get("derived")}
    changed = {"changedItemAmount"} if amounts == ("1", "2") else set()
    assert kinds == {"addItemToOrder", "deletedNewItems", "deletedPrintedItems", *changed}


PIECES = st.sampled_from(
    [
        b"",
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b",",
        b":",
        b"\\",
        b"\\u00",
        b"1e9",
        b"\xff",
        b'"type":"orderPaid",',
        b'"Id":"1",',
    ]
)


@settings(max_examples=300, deadline=None)
@given(body=BODIES, edits=st.lists(st.tuples(st.integers(0, 10**6), PIECES), max_size=3), rules=RULES)
def test_mutated_text_gives_the_same_events_or_the_same_exception(
    body: Any, edits: list[tuple[int, bytes]], rules: tuple[str, ...]
) -> None:
    """The core's text with bytes replaced: mostly not JSON any more, or JSON of another shape."""
    data = to_json(body)
    for at, piece in edits:
        at %= len(data) + 1
        data = data[:at] + piece + data[at + 1 :]
    _same_both_ways([JsonText(data)], rules)


ORDER = '{"Id":"o-1","Number":7,"Items":[%s]}'
LINE = '{"Id":"p-%d","Product":"Tea","Amount":%s,"Price":"1 280,50"}'
HOSTILE_TEXTS = [
    *(
        "[" * depth + '{"UserEvent":{"type":"orderPaid","orderId":"1"}}' + "]" * depth
        for depth in (10, 63, 64, 65, 70, 600)
    ),
    '{"UserEvent":{"type":"orderPaid","type":"x","orderId":"1"}}',
    '{"a":{"orderId":"1","orderId":"2","items":[{"product":"x","amount":1}]}}',
    '{"\u0130tems":[{"product":"x","amount":1}],"orderId":"1"}',
    '{"\u212aind":"orderPaid","type":"orderPaid","orderId":"\u212a"}',
    '{"type":"ORDERPA\u0130D"}',
    '{"type":"\u0130tem","orderId":"1"}',
    '{"\\u0055serEvent":{"type":"orderOpened","orderId":"\\ud83d\\ude00"}}',
    '{"UserEvent":{"type":"orderOpened","orderId":"\\ud800"}}',
    '{"UserEvent":{"type":"orderOpened","orderId":"\\udc00"}}',
    '{"UserEvent":{"type":"orderOpened","sum":NaN}}',
    '{"UserEvent":{"type":"orderOpened","sum":1e400,"orderId":"1"}}',
    '{"UserEvent":{"type":"orderOpened","sum":123456789012345678901234567890,"orderId":"1"}}',
    '{"UserEvent":{"type":"orderOpened","sum":-0.0,"numGuests":2.5,"orderId":"1"}}',
    '{"UserEvent":{"type":"orderOpened"}} x',
    '{"UserEvent":{"type":"orderOpened",}}',
    '{"UserEvent":{"type":"order\tOpened"}}',
    ' {"UserEvent" : {"type" : "orderOpened" , "orderId" : "1"} } ',
    ORDER % ",".join(LINE % (i, amount) for i, amount in enumerate(["1", "1.0", "1.00", "1e2", "-0.0", "0.1"])),
    ORDER % ",".join([LINE % (1, "2"), LINE % (1, "2"), '{"Id":"p-2","Product":{"Id":"d","Name":"N"},"Amount":1}']),
    ORDER % '"", {"Product":"x","Amount":1}',
    ORDER % "",
    '{"Id":"o-1","Status":"","Items":{"i":{"Product":"x","Amount":1}}}',
    '{"saveUserEvents":[{"type":"newerKind","orderId":"1"}]}',
    '{"saveUserEvents":[{"type":"newerKind","attribute":[{"name":"orderId","value":"1"}]}]}',
]


@pytest.mark.parametrize("rules", RULES_FILES.values(), ids=RULES_FILES.keys())
def test_hostile_texts_give_the_same_events_or_the_same_exception(rules: tuple[str, ...]) -> None:
    texts: list[Any] = [JsonText(text.encode()) for text in HOSTILE_TEXTS]
    texts += [JsonText(b'{"UserEvent":{"type":"orderOpened","orderId":"\xff"}}'), JsonText(b"")]
    for action in ("", "http://t/I/LockOrder", "http://t/I/SaveUserEvents"):
        _same_both_ways(texts, rules, action=action)


def test_the_core_hands_back_what_it_is_not_sure_of_and_reads_the_rest() -> None:
    tracker = _tracker(_core())
    core = tracker.core
    assert core is not None
    handed_back = [
        '{"UserEvent":{"type":"orderPaid","type":"x"}}',
        '{"UserEvent":{"orderId":"\\ud800"}}',
        "[" * 600 + '{"type":"orderPaid"}' + "]" * 600,
        '{"saveUserEvents":[{"type":"newerKind","orderId":"1"}]}',
        '{"type":"orderPaid"',
    ]
    for seq, text in enumerate(handed_back):
        before = core.counts[1]
        _observed(tracker, [_message(seq=seq, body=JsonText(text.encode()))])
        assert core.counts[1] == before + 1, text
    read = core.counts
    assert _observed(tracker, [_message(seq=9, body=JsonText(HOSTILE_TEXTS[0].encode()))])[0] != []
    assert core.counts[:2] == (read[0] + 1, read[1])


def test_an_order_with_more_lines_than_a_generation_is_found_again_at_the_next_sync() -> None:
    """The core keeps lines by their text in two generations of 8192: an order of 9000 lines, synced
    again, normalises at most the 808 lines neither generation kept (a cache that started over at its
    bound normalised 8192 of them at every sync)."""
    tracker = _tracker(_core())
    lines = [{"dish": f"d{n}", "amount": "1", "positionId": f"p{n}"} for n in range(9000)]
    body = from_core(to_json({"SyncOrder": {"order": {"orderId": "o-1", "number": "7", "items": lines}}}))
    first = _observed(tracker, [_message(seq=1, body=body)])
    assert tracker.core is not None
    normalised = tracker.core.counts[3]
    assert normalised == 9000
    for seq in (2, 3):
        again = _observed(tracker, [_message(seq=seq, body=body)])
        assert [len(events) for events in again[:-1]] == [len(events) for events in first[:-1]]
        assert tracker.core.counts[3] - normalised <= 9000 - 8192
        normalised = tracker.core.counts[3]
