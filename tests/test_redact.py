"""wirecap.redact: credentials seen on the wire never reach the output unless ``--keep-secrets``.

The secret values are taken from the captures' own bytes (every header ``wirecap.redact`` names, as the
peers sent it) and searched for in every line ``replay``, ``orders --json`` and ``inspect --json``
write; with ``--keep-secrets`` replay shows them. A variant of the rms_session login call adds the other
places a credential can travel (Authorization with an NTLM token, cookies, ``pass=``/``key=`` in the
query, a ``<password>`` element, a journal attribute named password)."""

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import events, ok
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json
from torture import Conn, frames, timed, write_pcap

from decoders.core import RUST
from decoders.events import Event
from decoders.interface import DecoderOptions
from decoders.json_text import JsonText, plain
from decoders.models import replaced
from wirecap.lines import json_bytes
from wirecap.pipeline import Options, Pipeline, run
from wirecap.redact import (
    _GATE,
    PAIR_NAMES,
    PAIR_VALUES,
    REDACTED,
    SECRET_FIELDS,
    SECRET_HEADERS,
    SECRET_QUERY,
    redact,
    redact_events,
    redact_json,
    redact_uri,
    redact_xml,
)
from wirecap.redact import _flat_redacted as flat_redacted
from wirecap.redact import _redacted as walked
from wirecap.source import CaptureSource
from wirecap.streams import collect_streams

REPO = Path(__file__).resolve().parent.parent
CAPTURES = sorted((REPO / "captures").glob("*.pcap"))
HEADER = re.compile(rb"(?im)^([\w-]+):[ \t]*(.*?)\r$")


def wire_secrets(pcap: Path) -> set[str]:
    """Values of secret headers in the capture's reassembled client and server bytes."""
    found = set()
    for stream in collect_streams([str(pcap)]):
        for data in stream.data.values():
            for name, value in HEADER.findall(data):
                if name.decode().lower() in SECRET_HEADERS and value:
                    found.add(value.decode("latin-1"))
    return found


@pytest.mark.parametrize("pcap", CAPTURES, ids=lambda p: p.stem)
def test_no_secret_of_a_committed_capture_reaches_any_output(pcap: Path, wirecap: Callable[..., object]) -> None:
    secrets = wire_secrets(pcap)
    outputs = [ok(wirecap(*args, str(pcap))) for args in (["replay"], ["orders", "--json"], ["inspect", "--json"])]
    for output in outputs:
        for secret in secrets:
            assert secret.encode() not in output
    if secrets:  # the HTTP captures: the password hash header, shown as redacted, kept on request
        assert REDACTED.encode() in outputs[0]
        kept = ok(wirecap("replay", "--keep-secrets", str(pcap)))
        assert all(secret.encode() in kept for secret in secrets)


NTLM = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="  # an NTLM NEGOTIATE message, base64
SECRETS = {
    "authorization": f"NTLM {NTLM}",
    "cookie": "JSESSIONID=8C1F00D5E8AB",
    "query pass": "9f86d081884c7d65",
    "query key": "b1d4f0e2-key",
    "element": "hunter2",
    "attribute pair": "s3cr3t-pin",
}


def login_variant(tmp_path: Path) -> Path:
    """The rms_session authenticate request as http.client sent it, with more credentials in it, and the
    server's reply, replayed on one TCP connection to 8080."""
    (stream,) = collect_streams([str(REPO / "captures" / "rms_session.pcap")])
    orig, resp = stream.data["orig"], stream.data["resp"]
    head = orig[: orig.index(b"\r\n\r\n")].decode("latin-1")
    response = resp[: resp.index(b"HTTP/1.1", 1)]
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><args><login>ivanova</login>"
        f"<password>{SECRETS['element']}</password><attribute><name>password</name>"
        f"<value>{SECRETS['attribute pair']}</value></attribute></args>"
    ).encode()
    lines = [line for line in head.split("\r\n") if not line.lower().startswith(("content-", "accept-encoding"))]
    lines[0] = lines[0].replace("?methodName", f"?pass={SECRETS['query pass']}&key={SECRETS['query key']}&methodName")
    lines += [f"Authorization: {SECRETS['authorization']}", f"Cookie: {SECRETS['cookie']}"]
    lines += ["Content-Type: text/xml", f"Content-Length: {len(body)}"]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    conn = Conn("10.0.0.5", 50000, "10.0.0.1", 8080)
    packets = [*conn.handshake(), conn.data("orig", 0, request), conn.data("resp", 0, response)]
    packets += conn.close({"orig": len(request), "resp": len(response)})
    return write_pcap(tmp_path / "login.pcap", frames(timed(packets)), 1)


def test_every_kind_of_credential_is_redacted_and_kept_on_request(
    tmp_path: Path, wirecap: Callable[..., object]
) -> None:
    pcap = login_variant(tmp_path)
    redacted = ok(wirecap("replay", str(pcap))).decode()
    assert [name for name, value in SECRETS.items() if value in redacted] == []
    (call,) = [e for e in events(wirecap("replay", str(pcap))) if e["kind"] == "rms.call"]
    assert call["request_headers"]["authorization"] == call["request_headers"]["cookie"] == REDACTED
    assert call["request"]["args"]["password"] == REDACTED and call["request"]["args"]["login"] == "ivanova"
    assert call["uri"].count(REDACTED) == 2 and "methodName=authenticate" in call["uri"]
    assert call["method_name"] == "authenticate" and call["status"] == 200
    kept = ok(wirecap("replay", "--keep-secrets", str(pcap))).decode()
    assert [name for name, value in SECRETS.items() if value not in kept] == []


def test_redaction_of_bodies_pairs_and_xml_text() -> None:
    body = {"d4p1:Password": "x", "User": {"@passwordHash": "y", "Name": "Ann"}, "Items": [{"Token": None}]}
    assert redact_json(body) == {
        "d4p1:Password": REDACTED,
        "User": {"@passwordHash": REDACTED, "Name": "Ann"},
        "Items": [{"Token": None}],  # nothing to hide
    }
    plain = {"order": {"id": "1", "attribute": [{"name": "orderNum", "value": "17"}]}}
    assert redact_json(plain) is plain  # untouched objects are not copied
    assert redact_json({"attribute": {"name": "PassWord", "value": "z"}}) == {
        "attribute": {"name": "PassWord", "value": REDACTED}
    }
    # what str.lower reads as a secret name is one: the Kelvin sign is a k (the text search missed it)
    assert redact_json({"Authto\u212aen": "t", "a": [1]}) == {"Authto\u212aen": REDACTED, "a": [1]}
    assert redact_json({"Authto\u212aen": "t"}) == {"Authto\u212aen": REDACTED}
    headers = {"cookie": "c", "x-resto-passwordhash": REDACTED, "host": "h", "name": "Passwd", "value": "v"}
    assert redact_json(headers) == {**headers, "cookie": REDACTED, "value": REDACTED}
    assert redact_json(plain_headers := {"host": "h", "pwd": ""}) is plain_headers
    xml = '<s:Body><a:Login pwd="p1"><a:Password>p2</a:Password><a:Name>Ann</a:Name></a:Login></s:Body>'
    assert redact_xml(xml) == (
        f'<s:Body><a:Login pwd="{REDACTED}"><a:Password>{REDACTED}</a:Password><a:Name>Ann</a:Name></a:Login></s:Body>'
    )
    assert redact_uri("/resto/api/auth?login=admin&pass=abc") == "/resto/api/auth?login=admin&pass=<redacted>"
    assert redact_uri("/resto/services/x?methodName=y") == "/resto/services/x?methodName=y"


def test_a_uri_that_does_not_parse_whole_is_still_redacted_and_never_raises() -> None:
    """A Remoting request URI is whatever the peer wrote (found by fuzzing: ``tcp://12[.0.0.1:8506/…``
    made ``urlsplit`` raise, and the traceback ended the replay); only its query is read."""
    assert redact_uri("tcp://12[.0.0.1:8506/OrderDesk.rem") == "tcp://12[.0.0.1:8506/OrderDesk.rem"
    assert redact_uri("tcp://h[ost/x.rem?password=p&a=1#f") == "tcp://h[ost/x.rem?password=<redacted>&a=1#f"


def _pipeline_events(pcaps: list[Path]) -> list[Event]:
    """Every event the pipeline hands on for the captures, credentials kept (to inject into)."""
    found: list[Event] = []
    for pcap in pcaps:
        pipeline = Pipeline(Options(decoder=DecoderOptions(keep_secrets=True)))
        run([CaptureSource(str(pcap))], pipeline, found.extend)
    return found


# kinds that carry what a peer sent, with the fields redaction reads: bodies, headers, URIs
PEER_EVENTS = [
    e for e in _pipeline_events([REPO / "captures" / n for n in ("store.pcap", "rms_session.pcap", "remoting.pcap")])
    if e.kind in ("wcf.message", "wcf.fault", "rms.call", "remoting.message")
]  # fmt: skip
SECRET_NAME = (
    st.sampled_from(sorted(SECRET_FIELDS))
    .flatmap(
        lambda name: st.tuples(
            st.sampled_from(["", "d4p1:", "@", "a."]),
            st.sampled_from([name, name.upper(), name.title(), name.replace("k", "\u212a")]),  # Kelvin: a k
        )
    )
    .map("".join)
)
SECRET_VALUE = st.text("0123456789abcdef", min_size=12, max_size=12).map(lambda s: f"S3CR3T{s}")


def _containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value``, ``value`` included."""
    if isinstance(value, dict):
        return [value, *(c for v in value.values() for c in _containers(v))]
    if isinstance(value, list):
        return [value, *(c for v in value for c in _containers(v))]
    return []


def _injectable(event: Event) -> dict[str, Any]:
    """The event's objects and lists to put a secret into, copied; a body given as the core's text as
    its objects (``_as_given`` writes it back as text)."""
    fields = {k: plain(v) for k, v in event.__dict__.items() if isinstance(v, dict | list | JsonText)}
    return copy.deepcopy(fields)


def _as_given(event: Event, update: dict[str, Any]) -> dict[str, Any]:
    """``update`` with each body that ``event`` gave as text made text again."""
    return {k: JsonText(to_json(v)) if type(event.__dict__.get(k)) is JsonText else v for k, v in update.items()}


@given(data=st.data(), name=SECRET_NAME, secret=SECRET_VALUE)
@settings(max_examples=300, deadline=None)
def test_a_secret_injected_anywhere_in_a_captured_event_is_redacted(
    data: st.DataObject, name: str, secret: str
) -> None:
    """The fast paths (fields per kind, the core's gate, the suspect search, the query pre-check) skip
    only what cannot hold a secret: a credential put at a random place of a real event's body, headers
    or URI is gone, whether the event is redacted alone or among the events of a batch."""
    event = data.draw(st.sampled_from(PEER_EVENTS))
    fields = _injectable(event)
    places = [c for v in fields.values() for c in _containers(v)]
    how = data.draw(st.sampled_from(["field", "pair", "query"] if places else ["query"]))
    update: dict[str, Any] = dict(fields)
    if how == "query" and isinstance(event.__dict__.get("uri"), str):
        param = data.draw(st.sampled_from(sorted(SECRET_QUERY)))
        param = data.draw(st.sampled_from([param, param.upper(), quote(param[0], safe="") + param[1:]]))
        if param[0] != "%" and data.draw(st.booleans()):
            param = f"%{ord(param[0]):02X}" + param[1:]
        uri = event.__dict__["uri"]
        update["uri"] = f"{uri}{'&' if '?' in uri else '?'}{param}={secret}"
        if data.draw(st.booleans()):  # the URI the only place a secret could be: no headers, no bodies
            update.update({k: {} if k.endswith("headers") else None for k in fields})
    elif how == "query":
        return
    else:
        place = data.draw(st.sampled_from(places))
        entry = {name: secret} if how == "field" else {"name": name.lstrip("@"), "value": secret}
        if isinstance(place, dict):  # a pair's name and value as keys of the object (headers hold strings)
            place.update(entry)
        else:
            place.append(entry)
    injected = replaced(event, **_as_given(event, update))
    assert secret in json_bytes(injected).decode()
    assert secret not in json_bytes(redact(injected)).decode()
    batch = redact_events([*PEER_EVENTS[:3], injected])
    assert secret not in json_bytes(batch[-1]).decode()


def test_the_cores_gate_leaves_to_python_every_event_redaction_changes() -> None:
    """``redact_events`` walks only the events the core's gate names: on every event of every capture,
    credentials kept, it gives what ``redact`` of each gives; and the gate passes most of them."""
    assert _GATE is not None or RUST is None
    events = _pipeline_events(CAPTURES)
    expected = [redact(event) for event in events]
    got = redact_events(list(events))
    assert [json_bytes(e) for e in got] == [json_bytes(e) for e in expected]
    assert [a is b for a, b in zip(got, events, strict=True)] == [a is b for a, b in zip(expected, events, strict=True)]
    changed = sum(a is not b for a, b in zip(expected, events, strict=True))
    assert changed > 10  # credentials on the wire: headers, bodies, URIs
    if _GATE is not None:
        named = len(_GATE.suspects(events))
        assert changed <= named < len(events) // 2, (changed, named, len(events))
        # a body whose text is not the core's bytes is left to ``redact`` (which refuses it)
        message = next(e for e in events if e.kind == "wcf.message" and type(e.body) is JsonText)
        assert _GATE.suspects([message, replaced(message, body=JsonText("password"))]) == [1]  # type: ignore[arg-type]


FLAT_TEXT = st.sampled_from(sorted({*SECRET_FIELDS, *PAIR_NAMES, *PAIR_VALUES, "host", "a:Password", "", REDACTED}))


@given(st.dictionaries(FLAT_TEXT, FLAT_TEXT, max_size=6))
@settings(max_examples=500, deadline=None)
def test_an_object_of_text_is_redacted_as_the_walk_redacts_it(value: dict[str, str]) -> None:
    """Headers take a path of their own (``_flat_redacted``): the same result as the general walk."""
    expected = walked(value, 0)
    got = flat_redacted(value)
    assert got == expected and (got is value) == (expected is value)
