"""decoders.json_text: bodies the core gives as JSON text are written as they are, parsed only when read.

The core's writer puts the text into the line (``wirecap.lines``), redaction searches it before parsing
(``wirecap.redact.redact_json``), and the HTTP decoder reads an iikoRMS verdict from it
(``decoders.http_body.result_fields``). Each is held here to what the same event gives with its bodies
as Python objects, serialised by pydantic whole as before: on every event of every committed capture
(default, ``--xml``, ``--all-fields``, ``--keep-secrets``), on hostile strings a peer may send in every
field, and with secret names put at random places of real bodies. Without the core
(``WIRECAP_PURE_PYTHON=1``, CI's second pass) the decoders give bodies as objects; the tests then take as
text what pydantic writes for them, the core's text for the same message (tests/test_core_diff.py).
"""

import io
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from conftest import Keep
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from decoders.core import RUST
from decoders.events import Event, RmsCall, WcfFault, WcfMessage
from decoders.http_body import result_fields
from decoders.iiko import OrderTracker, default_rules_text, load_rules
from decoders.interface import DecoderOptions
from decoders.json_text import _UNPARSED, JsonText, from_core, loads, plain
from decoders.models import replaced
from decoders.needles import LOWER_TO_ASCII
from wirecap.lines import WRITER, json_bytes, json_bytes_all_fields, text_fields
from wirecap.pipeline import Options, Pipeline, run
from wirecap.redact import SECRET_FIELDS, SUSPECT_NAMES, redact
from wirecap.sink import JsonlSink
from wirecap.source import CaptureSource

REPO = Path(__file__).resolve().parent.parent
CAPTURES = sorted((REPO / "captures").glob("*.pcap"))
RULES = load_rules([default_rules_text()])


def _events(pcap: Path, **options: Any) -> list[Event]:
    found: list[Event] = []
    run([CaptureSource(str(pcap))], Pipeline(Options(decoder=DecoderOptions(**options))), found.extend)
    return found


def _parsed(event: Event) -> Event:
    """The event with every body as Python objects, as the pure-Python decoders make it."""
    texts = {name: plain(event.__dict__[name]) for name in text_fields(type(event))}
    return replaced(event, **texts)


def _bodies(event: Event) -> list[tuple[str, Any]]:
    """(field name, body) of the event's bodies that are present."""
    return [(name, body) for name in text_fields(type(event)) if (body := event.__dict__[name]) is not None]


def _text(body: Any) -> bytes:
    """A body's JSON text: the core's, or for the pure-Python decoders' objects the text pydantic writes
    for them, which is the core's for the same message (tests/test_core_diff.py)."""
    return body.data if type(body) is JsonText else to_json(body)


def _as_text(event: Event) -> Event:
    """The event with every body as JSON text not yet read, as the core gives it."""
    return replaced(event, **{name: from_core(_text(body)) for name, body in _bodies(event)})


def _same_lines(event: Event) -> None:
    """Both writers (lean and ``--all-fields``) give pydantic's lines of the parsed event, the bodies
    unparsed and parsed."""
    lines = json_bytes(event).decode(), json_bytes_all_fields(event).decode()
    objects = _parsed(event)  # parses the bodies
    expected = objects.model_dump_json(exclude_none=True), objects.model_dump_json()
    assert lines == expected
    assert (json_bytes(event).decode(), json_bytes_all_fields(event).decode()) == expected


def test_a_body_is_parsed_once_only_when_read_and_compares_as_its_value() -> None:
    text = JsonText(b'{"SaveOrder":{"id":"1","items":[1,2.5,null,"\\u0000\xd0\x96"]}}')
    assert text._value is _UNPARSED
    value = text.value
    assert text.value is value  # once
    assert value == {"SaveOrder": {"id": "1", "items": [1, 2.5, None, "\x00Ж"]}}
    assert text == value and value == text and text == JsonText(to_json(value))
    assert text != {"SaveOrder": {}}
    copy = pickle.loads(pickle.dumps(text))
    assert copy.data == text.data and copy == text
    assert plain(text) is value and plain(value) is value
    with pytest.raises(TypeError):
        hash(text)


def test_the_core_writes_a_body_unread_and_pydantic_parses_it_to_write_it() -> None:
    """The core's writer puts a body's text into the line as it is, never parsing it, not even text that
    is not JSON; without the core pydantic writes the line, from the parsed value."""
    text = JsonText(b'{"a":[1,2.5,null,"\\u0000\xd0\x96"]}')
    assert json_bytes(_message(body=text)).endswith(b',"body":{"a":[1,2.5,null,"\\u0000\xd0\x96"]}}')
    assert text.parsed is (WRITER is None)
    garbage = JsonText(b"not json at all")
    if WRITER is not None:
        assert json_bytes(_message(body=garbage)).endswith(b',"body":not json at all}')
    else:
        with pytest.raises(ValueError, match="Expecting value"):
            json_bytes(_message(body=garbage))


@pytest.mark.parametrize(
    "options",
    [{}, {"xml": True}, {"keep_secrets": True}],
    ids=["default", "xml", "keep-secrets"],
)
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_every_event_of_every_capture_is_written_as_with_parsed_bodies(capture: Path, options: dict) -> None:
    events = _events(capture, **options)
    assert events
    for event in events:
        _same_lines(event)


def test_the_captures_give_bodies_of_every_kind_as_text_with_the_core_and_as_objects_without() -> None:
    bodies = [(type(e).__name__, name, body) for pcap in CAPTURES for e in _events(pcap) for name, body in _bodies(e)]
    kinds = {(kind, name) for kind, name, _ in bodies}
    assert {("WcfMessage", "body"), ("WcfFault", "detail"), ("RmsCall", "request"), ("RmsCall", "response")} <= kinds
    as_text = {(kind, name) for kind, name, body in bodies if type(body) is JsonText}
    assert as_text == (kinds if RUST is not None else set())  # the pure-Python decoders never give text


def _typed(value: Any) -> Any:
    """The value with every scalar's type beside it and floats by repr (-0.0 is not 0.0), keys in order."""
    if isinstance(value, dict):
        return [(key, _typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return type(value).__name__, repr(value) if isinstance(value, float) else value


def test_every_body_of_every_capture_is_read_as_json_reads_it() -> None:
    # --xml adds the XML beside a body and leaves the body's text as it is: the same 321 texts
    texts = [_text(body) for pcap in CAPTURES for e in _events(pcap) for _, body in _bodies(e)]
    assert len(texts) > 100
    for data in texts:
        assert _typed(loads(data)) == _typed(json.loads(data))


# --- hostile peers: every string field and header, and the bodies, hold what a peer may send ------------

HOSTILE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [',"body":0', ',"body":0}', '"request":0,', ',"response":0', ',"detail":0', '\\",\\"body\\":0', "0", ""]
    ),
)
KEYS = st.one_of(st.sampled_from(["body", "request", "response", "detail", "", "0", ',"body":0']), st.text(max_size=6))
# the integers the decoders write: .NET's 64-bit types (decimals are strings), as the core's JSON types them
INTEGERS = st.integers(-(2**63), 2**64 - 1)
# the decoders' JSON: finite floats only (non-finite ones are the strings "INF", "-INF", "NaN": decoders.soap)
JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        INTEGERS,
        st.floats(allow_nan=False, allow_infinity=False),
        HOSTILE,
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
BODY = st.one_of(st.none(), JSON.map(lambda v: from_core(to_json(v))), JSON)


@given(JSON)
def test_what_the_core_can_write_is_read_as_json_reads_it(value: Any) -> None:
    data = to_json(value)
    assert _typed(loads(data)) == _typed(json.loads(data))


def _message(**fields: Any) -> WcfMessage:
    template = {
        "ts": 1,
        "seq": 7,
        "uid": "C",
        "community_id": "1:x",
        "orig": "a:1",
        "resp": "b:2",
        "orig_h": "a",
        "orig_p": 1,
        "resp_h": "b",
        "resp_p": 2,
        "dir": "orig",
        "action": None,
        "message_id": None,
        "relates_to": None,
        "to": None,
        "reply_to": None,
        "size": 1,
        "soap_version": "1.2",
        "encoding": "soap1.2-binary-session",
        "unresolved": 0,
        "session_strings_added": 0,
        "body": None,
        "body_element": None,
    }
    return WcfMessage.model_construct(**{**template, **fields})


@settings(max_examples=400, deadline=None)
@given(body=BODY, strings=st.lists(HOSTILE, min_size=7, max_size=7), fault=st.booleans())
def test_hostile_strings_in_a_wcf_message_are_written_as_with_parsed_bodies(
    body: Any, strings: list[str], fault: bool
) -> None:
    action, message_id, to, xml, element, code, reason = strings
    event = _message(action=action, message_id=message_id, to=to, xml=xml, body=body, body_element=element)
    if fault:
        fields = {k: v for k, v in event.__dict__.items() if k not in ("kind", "body", "body_element")}
        event = WcfFault.model_construct(**fields, code=code, subcode=None, reason=reason, detail=body)
    _same_lines(event)


@settings(max_examples=400, deadline=None)
@given(
    request=BODY,
    response=BODY,
    headers=st.dictionaries(KEYS, HOSTILE, max_size=4),
    strings=st.lists(HOSTILE, min_size=3, max_size=3),
)
def test_hostile_strings_and_headers_in_an_http_call_are_written_as_with_parsed_bodies(
    request: Any, response: Any, headers: dict[str, str], strings: list[str]
) -> None:
    uri, reason, error = strings
    message = _message().__dict__
    conn = {k: message[k] for k in ("ts", "seq", "uid", "community_id", "orig", "resp", "orig_h", "orig_p")}
    event = RmsCall.model_construct(
        **conn,
        resp_h="b",
        resp_p=2,
        method="POST",
        uri=uri,
        service=None,
        method_name=error,
        terminal_id=None,
        login_name=None,
        correlation_id=None,
        request_headers=headers,
        status=200,
        reason=reason,
        success=None,
        error_string=error,
        request_ts=0,
        duration_ms=None,
        request_body_bytes=1,
        request_decoded_bytes=None,
        response_body_bytes=1,
        response_decoded_bytes=None,
        response_headers=headers,
        complete=True,
        request=request,
        response=response,
    )
    _same_lines(event)


@given(JSON)
@settings(max_examples=300, deadline=None)
def test_an_iikorms_verdict_is_read_from_the_text_as_from_the_objects(value: Any) -> None:
    verdict = {"success": value, "errorString": value}
    for candidate in (value, {"result": value}, {"result": verdict}, {"a": value, "result": verdict}):
        assert result_fields(from_core(to_json(candidate))) == result_fields(candidate)


# --- redaction: the text is searched, and parsed only if a secret name occurs --------------------------


BODIED = [
    e
    for name in ["store.pcap", "rms_session.pcap", "wcf_callback.pcap"]
    for e in _events(REPO / "captures" / name, keep_secrets=True)
    if _bodies(e)
]
SECRET_NAME = st.sampled_from(sorted(SECRET_FIELDS)).flatmap(
    lambda n: st.sampled_from([n, n.upper(), "d4p1:" + n.title(), "@" + n, "a." + n])
)


def _places(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(p for v in value.values() for p in _places(v))]
    if isinstance(value, list):
        return [value, *(p for v in value for p in _places(v))]
    return []


@settings(max_examples=300, deadline=None)
@given(data=st.data(), name=SECRET_NAME, how=st.sampled_from(["field", "pair", "in a string", "none"]))
def test_a_secret_name_anywhere_in_a_body_is_redacted_as_in_the_objects(
    data: st.DataObject, name: str, how: str
) -> None:
    event = data.draw(st.sampled_from(BODIED))
    field = data.draw(st.sampled_from([name for name, _ in _bodies(event)]))
    value = plain(event.__dict__[field])
    value = pickle.loads(pickle.dumps(value))  # a copy to change
    places = _places(value)
    if how != "none" and places:
        place = data.draw(st.sampled_from(places))
        entry: Any = {
            "field": {name: "S3CR3T"},
            "pair": {"name": name.lstrip("@"), "value": "S3CR3T"},
            "in a string": {"note": f"x{name}y"},
        }[how]
        if isinstance(place, dict):
            place.update(entry)
        else:
            place.append(entry)
    as_text = replaced(event, **{field: from_core(to_json(value))})
    as_objects = replaced(event, **{field: value})
    redacted = redact(as_text)
    text = as_text.__dict__[field]
    read = text.parsed  # by redaction: writing the line without the core parses it too
    assert json_bytes(redacted).decode() == json_bytes(redact(as_objects)).decode()
    if how in ("field", "pair") and places:
        assert "S3CR3T" not in json_bytes(redacted).decode()
    if how == "none" and not any(n in text.data.lower() for n in SUSPECT_NAMES):
        assert redacted.__dict__[field] is text  # no secret name: the same text, never parsed
        assert not read


# --- the iiko layer: a body whose text holds no name the rules look for is not parsed -------------------


def _observed(tracker: OrderTracker, events: list[Event]) -> list[str]:
    return [derived.model_dump_json() for event in events for derived in tracker.observe(event)]


def test_the_iiko_layer_finds_in_text_what_it_finds_in_objects_on_every_capture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the prefilter alone: the core's recogniser would parse nothing in Python (tests/test_core_iiko.py)
    monkeypatch.setattr(OrderTracker, "core_module", None)
    parsed = skipped = 0
    for pcap in CAPTURES:
        events = [replaced(e, seq=i) for i, e in enumerate(_events(pcap), 1)]
        as_text = [_as_text(e) for e in events]  # the core's text as it is; the pure decoders' objects as text
        bodies = [body for e in as_text for _, body in _bodies(e)]
        from_text = _observed(OrderTracker(RULES), as_text)
        unparsed = [b for b in bodies if b._value is _UNPARSED]
        parsed += len(bodies) - len(unparsed)
        skipped += len(unparsed)
        assert from_text == _observed(OrderTracker(RULES), [_parsed(e) for e in events]), pcap.name
    assert skipped > 100 and parsed > 100  # both ways taken: bodies read from their text alone, and parsed


NAMED = st.sampled_from(["type", "EventType", "items", "OrderItems", "dishes", "UserEvent", "@type", "orderId"])
PREFIXES = st.sampled_from(["", "d4p1:", "a.", "@", "\u212a", "\u0130"])  # the last two lower-case to ASCII
RULE_KEYS = st.one_of(KEYS, st.tuples(PREFIXES, NAMED, st.sampled_from(["", "x"])).map("".join))
ENTITIES = st.recursive(
    st.one_of(st.none(), INTEGERS, st.sampled_from(["orderPaid", "addItemToOrder", "1", "x"]), HOSTILE),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(RULE_KEYS, inner, max_size=4),
    max_leaves=16,
)
ACTIONS = st.sampled_from(["", "http://t/I/LockOrder", "http://t/I/UnlockOrder", "http://t/I/Save", "LockReply"])


@settings(max_examples=500, deadline=None)
@given(body=ENTITIES, action=ACTIONS, element=st.one_of(st.none(), RULE_KEYS, st.just("LockOrder")))
def test_the_iiko_layer_finds_in_text_what_it_finds_in_objects(body: Any, action: str, element: str | None) -> None:
    as_text = _message(action=action, body_element=element, body=from_core(to_json(body)))
    as_objects = _message(action=action, body_element=element, body=body)
    assert _observed(OrderTracker(RULES), [as_text]) == _observed(OrderTracker(RULES), [as_objects])


def test_only_the_characters_named_lower_case_to_ascii() -> None:
    """``OrderTracker._nothing_in`` searches ``bytes.lower()`` of a text holding none of LOWER_TO_ASCII."""
    found = {
        chr(c).encode()
        for c in range(0x80, 0x110000)
        if not 0xD800 <= c < 0xE000 and any(ord(x) < 0x80 for x in chr(c).lower())
    }
    assert found == set(LOWER_TO_ASCII)


def test_a_body_parsed_for_the_iiko_layer_is_let_go_once_its_line_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 4000-line order's body as objects is tens of MB; held by every event of a batch until the batch
    was written, a few of them were the resident set's peak. With the core, the bodies come as text, and
    once a line is rendered a body keeps only its text; a later reader (the API, a test) parses it again
    and gets the same value. The pure-Python decoders give the bodies as objects: nothing to let go."""
    monkeypatch.setattr(OrderTracker, "core_module", None)  # the reference recogniser: it parses what it reads
    out, keep = io.StringIO(), Keep()
    tracker = OrderTracker(load_rules([default_rules_text()]))
    run(
        [CaptureSource(str(REPO / "captures" / "wcf_buffered.pcap"))],
        Pipeline(Options()),
        JsonlSink(out, analyzers=(keep, tracker)).write,
    )
    bodies = [e.body for e in keep.events if isinstance(e, WcfMessage) and e.body is not None]
    assert any(len(_text(body)) > 100_000 for body in bodies)  # the big order
    assert {type(body) for body in bodies} == ({JsonText} if RUST is not None else {dict})
    assert not any(body.parsed for body in bodies if type(body) is JsonText)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [plain(body) for body in bodies] == [e["body"] for e in lines if e["kind"] == "wcf.message" and "body" in e]
