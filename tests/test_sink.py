"""JSON Lines out (``wirecap.sink``): null fields left out unless ``--all-fields``, as the schema says."""

import io
import json
from pathlib import Path

import jsonschema
import pytest
from conftest import Keep, events, ok

from decoders.events import Anomaly, Event
from decoders.iiko import OrderTracker, default_rules_text, load_rules
from decoders.iiko_events import IikoOrder, IikoSource
from decoders.models import construct
from decoders.schema import json_schema
from wirecap import sink
from wirecap.lines import json_bytes
from wirecap.pipeline import Options, Pipeline, run
from wirecap.sink import JsonlSink
from wirecap.source import CaptureSource

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
STORE = str(CAPTURES / "store.pcap")


def test_null_fields_are_left_out_unless_all_fields(wirecap) -> None:
    lean, full = events(wirecap("replay", "-q", STORE)), events(wirecap("replay", "-q", "--all-fields", STORE))
    assert len(lean) == len(full)
    for short, whole in zip(lean, full, strict=True):
        assert short == _without_nulls(whole)
    messages = [e for e in full if e["kind"] == "wcf.message"]
    assert messages and all(e["xml"] is None for e in messages)  # the noise: "xml": null on every message
    assert not any("xml" in e for e in lean)


DATA = {"body", "request", "response", "attributes", "detail"}  # as received: a null there is data


def _without_nulls(value: object, key: str = "") -> object:
    """Null fields of the event and of its nested models removed; data fields as they are."""
    if key in DATA:
        return value
    if isinstance(value, dict):
        return {k: _without_nulls(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_a_null_inside_a_body_is_data_and_stays(wirecap) -> None:
    """``i:nil`` in a body is null in JSON: the sink must not drop it."""
    lines = ok(wirecap("replay", "-q", str(CAPTURES / "wcf_buffered.pcap"))).decode().splitlines()
    bodies = [json.dumps(json.loads(line).get("body")) for line in lines]
    assert any("null" in body for body in bodies)


def test_the_schema_says_which_fields_are_optional(wirecap) -> None:
    schema = json.loads(ok(wirecap("schema")))
    message = schema["$defs"]["WcfMessage"]
    assert {"xml", "relates_to", "request_seq", "body"}.isdisjoint(message["required"])
    assert {"ts", "uid", "orig_h", "resp_p", "size", "encoding"} <= set(message["required"])
    validator = jsonschema.Draft202012Validator(schema)
    for line in events(wirecap("replay", "-q", STORE)) + events(wirecap("replay", "-q", "--all-fields", STORE)):
        validator.validate(line)


def test_every_event_written_is_one_its_model_would_validate() -> None:
    """The sink numbers events without validating them and the iiko layer builds its models unvalidated
    (``construct``): every event of every committed capture, rebuilt through its model's validation,
    must equal what was written, and every line must hold to the published JSON Schema."""
    validator = jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.FormatChecker())
    kinds = set()
    for pcap in sorted(CAPTURES.glob("*.pcap")):
        out, keep = io.StringIO(), Keep()  # first in line: it sees events in the order their lines are written
        sink = JsonlSink(out, analyzers=(keep, OrderTracker(load_rules([default_rules_text()]))))
        run([CaptureSource(str(pcap))], Pipeline(Options()), sink.write)
        lines = out.getvalue().splitlines()
        assert len(lines) == len(keep.events)
        for event, line in zip(keep.events, lines, strict=True):
            assert type(event).model_validate(event.model_dump()) == event, line
            assert json_bytes(event).decode() == line
            validator.validate(json.loads(line))
            kinds.add(event.kind)
    assert {"wcf.message", "rms.call", "iiko.event", "iiko.order_snapshot", "iiko.order_lock"} <= kinds


def test_construct_refuses_what_validation_would_refuse_by_name() -> None:
    """``construct`` skips type checks only: an unknown or a missing required field is still an error."""
    order = construct(IikoOrder, id="1", guests=2)
    assert order == IikoOrder(id="1", guests=2) and order.model_fields_set == {"id", "guests"}
    with pytest.raises(TypeError, match="unknown"):
        construct(IikoOrder, id="1", tables="5")
    with pytest.raises(TypeError, match="required"):
        construct(IikoSource, uid="C1", seq=3)


def test_an_event_written_twice_keeps_its_first_number() -> None:
    """The sink numbers a fresh event in place; one it numbered before is copied, so the first line's
    object (held by an analyzer, the API's ring) keeps its seq."""
    out, keep = io.StringIO(), Keep()
    sink = JsonlSink(out, analyzers=(keep,))
    (event, *_) = [e for e in events_of(CAPTURES / "store.pcap") if e.kind == "rms.call"]
    sink.write([event, event])
    first, second = keep.events
    assert first is event and (first.seq, second.seq) == (1, 2) and "seq" in first.model_fields_set
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == [1, 2]
    assert second.model_dump() == {**first.model_dump(), "seq": 2}


class Deriving:
    """An analyzer deriving an anomaly from each connection's opening and a second one from that: events
    written right after their source, observed in turn."""

    def observe(self, event: Event) -> list[Event]:
        if event.kind == "conn.open" or (event.kind == "anomaly" and event.name == "derived-1"):
            name = "derived-2" if event.kind == "anomaly" else "derived-1"
            return [construct(Anomaly, ts=event.ts, name=name, detail=f"from {event.seq}", source="test")]
        return []


def _sunk(pcap: Path, core_loop: bool, all_fields: bool) -> tuple[bytes, list[tuple], int]:
    out, keep = io.BytesIO(), Keep()
    tracker = OrderTracker(load_rules([default_rules_text()]))
    text = io.TextIOWrapper(out, encoding="utf-8")
    sink = JsonlSink(text, analyzers=(Deriving(), tracker, keep), all_fields=all_fields)
    sink.core_loop = core_loop
    collected = events_of(pcap)
    for start in range(0, len(collected), 50):  # batches, as a replay hands them over
        sink.write(collected[start : start + 50])
    sink.out.flush()
    kept = [(type(e), e.model_dump(), e.__pydantic_fields_set__) for e in keep.events]
    return out.getvalue(), kept, sink.seq


@pytest.mark.parametrize("all_fields", [False, True], ids=["lean", "all-fields"])
@pytest.mark.parametrize("pcap", sorted(CAPTURES.glob("*.pcap")), ids=lambda p: p.name)
def test_the_core_loop_writes_what_the_python_loop_writes(pcap: Path, all_fields: bool) -> None:
    """The sink's loop in the core against the Python one: the same lines (numbers, request_seq),
    the same events shown to the analyzers in the same order, derived ones among them, the same count."""
    core, python = _sunk(pcap, True, all_fields), _sunk(pcap, False, all_fields)
    assert core == python
    lines = core[0].decode().splitlines()
    assert len(lines) == core[2] == len(core[1]) and b'"derived-2"' in core[0]


class Failing:
    """An analyzer that fails on the third event it sees."""

    def __init__(self) -> None:
        self.seen = 0

    def observe(self, event: Event) -> list[Event]:
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError("analyzer failed")
        return []


@pytest.mark.parametrize("core_loop", [True, False], ids=["core", "python"])
def test_a_failure_mid_batch_leaves_the_count_of_the_events_numbered(core_loop: bool) -> None:
    """An analyzer's (or the output's) error ends a batch early; ``seq`` (the run's summary, live
    statistics) is still the number of events numbered, with either loop."""
    sink = JsonlSink(io.StringIO(), analyzers=(Failing(),))
    sink.core_loop = core_loop
    with pytest.raises(RuntimeError, match="analyzer failed"):
        sink.write(events_of(CAPTURES / "store.pcap")[:10])
    assert sink.seq == 3


def events_of(pcap: Path) -> list:
    """The decoders' events of a capture, not numbered yet."""
    collected: list = []
    run([CaptureSource(str(pcap))], Pipeline(Options()), collected.extend)
    return collected


@pytest.mark.parametrize("name", ["store", "wcf_concurrent", "wcf_callback", "remoting", "store_remoting"])
def test_request_seq_pairs_as_latency_does_and_goes_with_the_connection(name: str) -> None:
    """The sink numbers replies by the decoder's pairing rule: a reply has ``request_seq`` exactly when the
    decoder gave it ``latency_ms``, citing the request it answers (the WS-Addressing MessageID it names,
    the .NET Remoting call of its number); once every connection has closed, the sink remembers no
    request (a live run's memory follows its open connections, not its hours)."""
    out = io.StringIO()
    sink = JsonlSink(out)
    run([CaptureSource(str(CAPTURES / f"{name}.pcap"))], Pipeline(Options()), sink.write)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_seq = {e["seq"]: e for e in lines}
    replies = [e for e in lines if "latency_ms" in e]
    assert replies and all(("request_seq" in e) == ("latency_ms" in e) for e in lines)
    for reply in replies:
        request = by_seq[reply["request_seq"]]
        if reply["kind"] == "remoting.message":
            assert (request["uid"], request["operation"], request["method"], request["trans_depth"]) == (
                reply["uid"],
                "request",
                reply["method"],
                reply["trans_depth"],
            )
        else:
            assert (request["uid"], request["message_id"]) == (reply["uid"], reply["relates_to"])
        assert request["ts"] <= reply["ts"] and request["seq"] < reply["seq"]  # ISO-8601 times of one form
    open_conns = {e["uid"] for e in lines if e["kind"] == "conn.open"} - {
        e["uid"] for e in lines if e["kind"] == "conn.close"
    }
    assert not open_conns and sink._requests == {}


class _Writes(io.BytesIO):
    """Output that remembers the length of every write (in bytes: the sink's ``write_bytes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write_bytes(self, data: bytes) -> None:
        self.sizes.append(len(data))
        self.write(data)


def test_large_lines_are_written_before_they_pile_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of events is written in chunks of whole lines, capped by lines and by bytes: the
    4000-line order's message and snapshot are hundreds of kB a line, and 256 such lines held for one
    write were the resident set's peak. With the cap at 100 kB, every chunk of wcf_buffered.pcap
    stays under the cap plus one line, and the text is the same as written in one piece."""
    whole = _Writes()
    run([CaptureSource(str(CAPTURES / "wcf_buffered.pcap"))], Pipeline(Options()), JsonlSink(whole).write)
    monkeypatch.setattr(sink, "CHUNK_BYTES", 100_000)
    out = _Writes()
    run([CaptureSource(str(CAPTURES / "wcf_buffered.pcap"))], Pipeline(Options()), JsonlSink(out).write)
    longest = max(map(len, out.getvalue().splitlines())) + 1  # bytes
    assert longest > sink.CHUNK_BYTES  # the capture does hold lines of that size
    assert len(out.sizes) > len(whole.sizes) and max(out.sizes) < sink.CHUNK_BYTES + longest
    assert out.getvalue() == whole.getvalue()
