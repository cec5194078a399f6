"""The core's event writer (``wirecap.lines.WRITER``, core/src/event_python.rs) against pydantic-core
(``pydantic_line``): the same bytes for every event of the captures and for made ones, and the line left
to pydantic wherever the core does not know the value or the class. The core writes a body's JSON text
as it is, pydantic the parsed value: the same bytes again."""

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import Keep
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json
from test_json_text import _message

from decoders.events import ConnOpen, Event, RmsCall, WcfMessage
from decoders.iiko import OrderTracker, default_rules_text, load_rules
from decoders.iiko_events import IikoEvent, IikoItem, IikoOrder, IikoOrderSnapshot, IikoSource
from decoders.interface import DecoderOptions
from decoders.json_text import JsonText
from decoders.models import construct
from decoders.schema import ALL_EVENTS
from wirecap.lines import ANY, BODY, FLOAT, INT, TIME, WRITER, json_bytes, plan_of, pydantic_line
from wirecap.pipeline import Options, Pipeline, run
from wirecap.sink import NumberingSink
from wirecap.source import CaptureSource

CAPTURES = sorted((Path(__file__).resolve().parent.parent / "captures").glob("*.pcap"))
CONN = {
    "uid": "C1",
    "community_id": "1:x",
    "orig": "10.0.0.1:5000",
    "resp": "10.0.0.2:8506",
    "orig_h": "10.0.0.1",
    "orig_p": 5000,
    "resp_h": "10.0.0.2",
    "resp_p": 8506,
}


def test_the_writer_is_the_core_s() -> None:
    assert WRITER is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"


def _numbered(capture: Path, **options: Any) -> list[Event]:
    keep = Keep()
    sink = NumberingSink(analyzers=(OrderTracker(load_rules([default_rules_text()])), keep))
    run([CaptureSource(str(capture))], Pipeline(Options(decoder=DecoderOptions(**options))), sink.write)
    return keep.events


def _same(event: Event) -> None:
    for exclude_none in (True, False):
        assert WRITER.line(event, exclude_none) == pydantic_line(event, exclude_none)


@pytest.mark.parametrize("options", [{}, {"xml": True}], ids=["default", "xml"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_every_event_of_every_capture_is_written_by_the_core_as_by_pydantic(capture: Path, options: dict) -> None:
    events = _numbered(capture, **options)
    assert events
    for event in events:
        _same(event)  # and none is left to pydantic: the core writes every line of the captures
        assert WRITER.line(event, True) is not None


def test_the_captures_hold_every_kind_of_field_the_core_writes() -> None:
    """The capture test above is worth something only if the captures hold iiko events with decimals,
    bodies as text and as parsed objects (the iiko layer reads them), floats and timestamps."""
    kinds = {e.kind for capture in CAPTURES for e in _numbered(capture)}
    assert {"wcf.message", "wcf.fault", "rms.call", "iiko.event", "iiko.order_snapshot", "conn.close"} <= kinds
    assert {"remoting.message", "iiko.order_lock"} <= kinds


# --- made events: every model, values of every type its fields allow -------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["", '"', "\\", "\x00\x1f\x7f", "Ж\u2028"])
FLOATS = st.floats() | st.sampled_from([1e-5, 1e-6, 1e16, 1e15, -0.0, 5e-324, 0.1, 1.5e-5, 1e22])


def _json(integers: st.SearchStrategy[int], floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), integers, floats, TEXT, st.decimals())
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4) | st.tuples(inner, inner),
        max_leaves=12,
    )


JSON = _json(st.integers(-(2**64), 2**64), FLOATS)
DECIMALS = st.none() | st.decimals(allow_nan=False, allow_infinity=False)
ORDERS = st.builds(IikoOrder, sum=DECIMALS)
ITEMS = st.builds(IikoItem, amount=DECIMALS, price=DECIMALS, sum=DECIMALS)
# a body as the core gives it (JSON text) or as objects (the pure-Python decoders, a redacted body); the
# core's numbers are .NET's 64-bit integers and finite doubles (core/src/json.rs ``write_leaf``), which
# pydantic, parsing the text to write it, gives back as they were: not so a longer integer (orjson reads
# it as a float) nor ``Infinity`` (read as inf, written as null)
CORE_JSON = _json(st.integers(-(2**63), 2**64 - 1), FLOATS.filter(math.isfinite))
BODIES = JSON | st.builds(lambda v: JsonText(to_json(v)), CORE_JSON)
TIMES = st.integers(0, 2**63 - 1) | st.integers(-(2**70), 2**70)


def _strategy(cls: type[Event]) -> st.SearchStrategy[Event]:
    """Events of ``cls`` built unvalidated from values of any type its fields allow, and some they do not
    declare but ``construct`` lets through (an int in a float field, a bool in an int one)."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, kind in plan_of(cls) or ():
        annotation = cls.model_fields[name].annotation
        if kind == TIME:
            fields[name] = TIMES
        elif kind == FLOAT:
            fields[name] = st.none() | FLOATS | st.integers(-(2**60), 2**60)
        elif kind == INT:
            fields[name] = st.integers(-(2**70), 2**70) | st.booleans()
        elif kind == BODY or annotation is Any:
            fields[name] = st.none() | BODIES
        elif annotation == dict[str, Any]:
            fields[name] = st.dictionaries(TEXT, JSON, max_size=4)
        elif annotation is IikoOrder:
            fields[name] = ORDERS
        elif annotation == list[IikoItem]:
            fields[name] = st.lists(ITEMS, max_size=3)
        else:
            fields[name] = st.from_type(annotation)  # type: ignore[arg-type]
    return st.fixed_dictionaries(fields).map(lambda values: construct(cls, **values))


def _writable(value: Any) -> bool:
    """Whether the core writes this value rather than leaving the line to pydantic."""
    if isinstance(value, BaseModel):
        return all(_writable(v) for v in value.__dict__.values())
    if isinstance(value, dict):
        return all(_writable(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_writable(v) for v in value)
    if isinstance(value, str):
        return value.isascii() or all(not 0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**64
    return True


@settings(max_examples=60, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
def test_made_events_are_written_as_pydantic_writes_them_or_left_to_it(cls: type[Event], data: st.DataObject) -> None:
    event = data.draw(_strategy(cls))
    fields = event.__dict__
    times = [fields[name] for name, kind in plan_of(cls) or () if kind == TIME]
    in_time = all(0 <= t < 2**63 for t in times)
    floats = [fields[name] for name, kind in plan_of(cls) or () if kind == FLOAT]
    exact = all(not isinstance(f, int) or abs(f) <= 2**53 for f in floats)
    for exclude_none in (True, False):
        line = WRITER.line(event, exclude_none)
        try:
            expected = pydantic_line(event, exclude_none)
        except Exception:  # what pydantic refuses, the core must not write either
            assert line is None
            continue
        if in_time and exact and _writable(event):
            assert line == expected
        else:
            assert line in (None, expected)


def test_plans_say_which_fields_depend_on_their_declared_type() -> None:
    plan = dict(plan_of(WcfMessage) or ())
    assert (plan["ts"], plan["latency_ms"], plan["size"], plan["body"], plan["action"]) == (TIME, FLOAT, INT, BODY, ANY)
    assert list(plan) == list(WcfMessage.model_fields)
    assert dict(plan_of(RmsCall) or ())["request_ts"] == TIME
    assert plan_of(dict) is None and plan_of(int) is None


def test_declared_types_change_the_line_as_pydantic_changes_it() -> None:
    """``construct`` lets an int into a float field and a bool into an int one; pydantic writes them as
    the declared type (3.0, 1), and so must the core."""
    event = construct(ConnOpen, ts=10**18, mid_stream=False, **CONN)
    odd = _message(latency_ms=3, size=True)
    assert WRITER.line(odd, True) == pydantic_line(odd, True)
    assert b'"latency_ms":3.0' in WRITER.line(odd, True) and b'"size":1' in WRITER.line(odd, True)
    assert json_bytes(event) == pydantic_line(event, True)


@pytest.mark.parametrize(
    "fields",
    [
        {"ts": -1},  # before 1970: strftime's year is not four digits there
        {"ts": 2**64},  # beyond 64 bits
        {"size": 2**64},
        {"body": {"big": 2**64}},
        {"body": ["lone \ud800 surrogate"]},
        {"body": {1: "a key that is not a string"}},
        {"body": {"a set": {1}}},
        {"body": JsonText(b"\xff not UTF-8")},
        {"latency_ms": 2**53 + 1},
        {"latency_ms": "not a float"},
        {"size": 1.5},
    ],
    ids=repr,
)
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # pydantic's word on a value of another type
def test_what_the_core_does_not_know_is_left_to_pydantic(fields: dict[str, Any]) -> None:
    event = _message(**fields)
    assert WRITER.line(event, True) is None
    try:
        expected = pydantic_line(event, True)
    except Exception as exc:
        with pytest.raises(type(exc)):
            json_bytes(event)
    else:
        assert json_bytes(event) == expected


class _Aliased(BaseModel):
    model_config = ConfigDict(frozen=True)
    value: int = Field(serialization_alias="v")


class _Configured(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")
    value: float = math.inf


def test_a_model_whose_line_depends_on_more_than_its_values_is_left_to_pydantic() -> None:
    assert plan_of(_Aliased) is None and plan_of(_Configured) is None
    inside = _message(body={"x": _Aliased(value=1)})
    assert WRITER.line(inside, True) is None
    snapshot = construct(
        IikoOrderSnapshot,
        ts=5,
        **CONN,
        order=construct(IikoOrder, id="o", sum=Decimal("1.50E+3")),
        items=[construct(IikoItem, product="Борщ", amount=Decimal("-0"), price=Decimal("1E-7"))],
        revision=None,
        source=construct(IikoSource, uid="C1", seq=1, transport="wcf"),
    )
    assert WRITER.line(snapshot, True) == pydantic_line(snapshot, True)
    assert b'"sum":"1.50E+3"' in WRITER.line(snapshot, True)
    event = construct(
        IikoEvent,
        ts=5,
        **CONN,
        type="t",
        order=construct(IikoOrder),
        items=[],
        attributes={"a": [1, 2.5e-5, None, Decimal("2")]},
        source=construct(IikoSource, uid="C1", seq=1, transport="http"),
    )
    assert WRITER.line(event, False) == pydantic_line(event, False)


class _Open(BaseModel):
    value: int


class _Holder(BaseModel):
    model_config = ConfigDict(frozen=True)
    values: list[int]


def _snapshot_of(items: list[IikoItem]) -> IikoOrderSnapshot:
    return construct(
        IikoOrderSnapshot,
        ts=5,
        **CONN,
        order=construct(IikoOrder, id="o"),
        items=items,
        revision=None,
        source=construct(IikoSource, uid="C1", seq=1, transport="wcf"),
    )


def test_a_frozen_model_of_scalars_written_again_is_copied_from_its_text() -> None:
    """Order lines are shared by every snapshot of their order: the core keeps each one's text (per
    object, per mode) from its second writing. Behind pydantic's back a changed value shows that the
    text was kept."""
    item = construct(IikoItem, product="Борщ", amount=Decimal("2.000"), deleted=False)
    snapshot = _snapshot_of([item, item])
    for _ in range(2):
        _same(snapshot)  # both modes, in turn: each has its own text (None fields written or not)
    line = WRITER.line(snapshot, True)
    item.__dict__["amount"] = Decimal("3")  # no code does this: frozen models are not changed
    assert b'"amount":"2.000"' in WRITER.line(_snapshot_of([item]), True)
    assert WRITER.line(snapshot, True) == line != pydantic_line(snapshot, True)


def test_a_nested_model_that_can_change_is_written_anew_each_time() -> None:
    opened, holder = _Open(value=1), _Holder(values=[1])
    event = _message(body={"open": opened, "holder": holder})
    _same(event)
    opened.value = 2
    holder.values.append(3)
    _same(event)
    assert b'"value":2' in WRITER.line(event, True) and b'"values":[1,3]' in WRITER.line(event, True)
