"""JSON Lines out (``wirecap.sink``): null fields left out unless ``--all-fields``, as the schema says."""

import json
from pathlib import Path

import jsonschema
from conftest import events, ok

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
