"""Comparing decoded ``remoting.message`` events with what the Mono Remoting client logged (truth.jsonl).

The client (tests/interop/remoting/RemotingPeer.cs) writes each call's arguments and its return value or
exception as the .NET objects hold them, in the value formats of tests/interop/Truth.cs; these helpers
read the decoded JSON in those formats, never the other way round.
"""

import json
import re
from pathlib import Path
from typing import Any

from decoders.events import ConnFields, Event
from decoders.interface import DecoderOptions
from decoders.remoting import RemotingDecoder
from wirecap.streams import collect_streams

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d|\[local\])?(?: (\w+))?$")
_INTEGERS = {f"System.{t}" for t in ("Byte", "SByte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64")}


def decode_capture(pcap: Path) -> list[Event]:
    """Every event of every connection in ``pcap``, fed whole per direction (order: orig, then resp)."""
    out: list[Event] = []
    for stream in collect_streams([str(pcap)]):
        conn = ConnFields(
            uid=stream.uid, community_id="1:x", orig="o", resp="r", orig_h="o", orig_p=0, resp_h="r", resp_p=0
        )
        decoder = RemotingDecoder(conn, DecoderOptions())
        out += decoder.feed("orig", stream.data["orig"], 0) + decoder.feed("resp", stream.data["resp"], 0)
        out += decoder.eof("orig", 0) + decoder.eof("resp", 0)
    return out


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def time_parts(text: str) -> tuple[str, str, str]:
    """(wall time, 7-digit fraction, kind: Utc / Local / Unspecified) of a decoded or logged DateTime."""
    match = _TIME.match(text)
    assert match, text
    wall, fraction, suffix, kind = match.groups()
    if kind is None:
        kind = "Utc" if suffix == "Z" else "Unspecified" if suffix is None else "Local"
    return wall, (fraction or "").ljust(7, "0"), kind


def same(truth: Any, decoded: Any, where: str = "") -> None:
    """Assert that ``decoded`` holds the value the peer logged as ``truth`` (objects: the logged members)."""
    if isinstance(truth, dict):
        assert isinstance(decoded, dict), f"{where}: {decoded!r}"
        for key, value in truth.items():
            same(value, decoded.get(key), f"{where}.{key}")
    elif isinstance(truth, list):
        assert isinstance(decoded, list) and len(decoded) == len(truth), f"{where}: {decoded!r}"
        for i, (t, d) in enumerate(zip(truth, decoded, strict=True)):
            same(t, d, f"{where}[{i}]")
    elif isinstance(truth, str) and _TIME.match(truth) and isinstance(decoded, str):
        assert time_parts(decoded) == time_parts(truth), f"{where}: {decoded} != {truth}"
    elif isinstance(truth, int | float) and not isinstance(truth, bool):  # a double logged as "3" reads as 3
        assert isinstance(decoded, int | float) and not isinstance(decoded, bool), f"{where}: {decoded!r}"
        assert decoded == truth, f"{where}: {decoded!r} != {truth!r}"
    else:
        assert decoded == truth and type(decoded) is type(truth), f"{where}: {decoded!r} != {truth!r}"


def flatten(value: Any) -> list[Any]:
    return [x for item in value for x in flatten(item)] if isinstance(value, list) else [value]


def same_typed(truth: list[Any] | None, decoded: Any, where: str) -> None:
    """A value the peer logged as [.NET type name, value] (RemotingPeer.Values)."""
    if truth is None:
        assert decoded is None, where
        return
    type_name, value = truth
    if type_name in _INTEGERS:
        assert isinstance(decoded, int) and str(decoded) == value, f"{where}: {decoded!r} != {value}"
    elif type_name == "System.Int32[,]":
        assert len(decoded) == 2 and [str(v) for v in flatten(decoded)] == value, where  # nested, row-major
    elif type_name.endswith("[]") and type_name[:-2] in _INTEGERS - {"System.Byte"}:  # byte[]: base64
        assert [str(v) for v in decoded] == value, where
    elif type_name == "System.Int32[][]":
        assert [[str(v) for v in row] for row in decoded] == value, where
    else:
        same(value, decoded, where)


def check_soap(line: dict[str, Any], request: Event, reply: Event | None) -> int:
    """A SOAP-formatted call: text/xml both ways, each logged argument and the return value in the text."""
    assert request.content_type.startswith("text/xml") and request.args is None
    for value in line["args"]:
        assert f">{value}</" in request.soap, (value, request.soap)
    if reply is None:
        return len(line["args"])
    assert reply.content_type.startswith("text/xml") and reply.method == line["method"]
    assert f":{line['method']}Response " in reply.soap and f">{line['return']}</return>" in reply.soap
    return len(line["args"]) + 1


def check_calls(truth: list[dict[str, Any]], events: list[Event]) -> int:
    """Every logged call against the decoded messages, in order; returns the number of values compared."""
    messages = [e for e in events if e.kind == "remoting.message"]
    assert not [e for e in events if e.kind == "anomaly"]
    requests = [m for m in messages if m.operation != "reply"]
    replies = [m for m in messages if m.operation == "reply"]
    assert len(requests) == len(truth) and len(replies) == sum(not t["one_way"] for t in truth)
    replies_left = iter(replies)
    compared = 0
    for line, request in zip(truth, requests, strict=True):
        where = f"call {line['call']} {line['method']}"
        assert request.method == line["method"] and request.operation == ("one_way" if line["one_way"] else "request")
        if line["formatter"] == "soap":  # recognised and kept as text: the logged values are in it
            compared += check_soap(line, request, next(replies_left, None) if not line["one_way"] else None)
            continue
        assert request.type_name.startswith("Wirecap.Interop.Remoting.OrderDesk, RemotingPeer"), where
        if line["method"] == "Echo":
            (logged,), (decoded,) = line["args"], request.args
            for i, value in enumerate(logged):
                same_typed(value, decoded[i], f"{where} arg {i}")
        else:
            same(line["args"], request.args, where + " args")
        compared += len(line["args"])
        if line["one_way"]:
            continue
        reply = next(replies_left)
        assert reply.method == line["method"] and reply.latency_ms is not None and reply.latency_ms >= 0
        if "exception" in line:
            exception = reply.exception
            assert exception["ClassName"] == line["exception"]["type"], where
            assert exception["Message"] == line["exception"]["message"], where
            assert reply.return_value is None
        elif line["method"] == "Echo":
            for i, value in enumerate(line["return"]):
                same_typed(value, reply.return_value[i], f"{where} return {i}")
        else:
            same(line["return"], reply.return_value, where + " return")
        compared += 1
    return compared
