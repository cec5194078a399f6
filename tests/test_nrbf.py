"""decoders.nrbf on streams Mono's BinaryFormatter wrote, against what the peer logged of the same objects.

tests/vectors/nrbf/*.bin are written by ``RemotingPeer.exe vectors`` (tests/interop/remoting/RemotingPeer.cs)
with *.truth.json beside them: what Remoting itself never sends (members without types, a cycle,
Dictionary and Hashtable, a run of 300 nulls). The Remoting captures' own payloads (method calls and
returns) are checked value by value in tests/test_remoting.py; here they are also cut and mutated.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from remoting_truth import decode_capture, same

from decoders.anomalies import ANOMALIES, DecodeError
from decoders.nrbf import decode
from decoders.nrbf_graph import member_name

VECTORS = Path(__file__).parent / "vectors" / "nrbf"
CAPTURE = Path(__file__).resolve().parent.parent / "captures" / "remoting.pcap"


def vector(name: str) -> tuple[bytes, Any]:
    truth = json.loads((VECTORS / f"{name}.truth.json").read_text(encoding="utf-8"))
    return (VECTORS / f"{name}.bin").read_bytes(), truth


def root(data: bytes) -> Any:
    return decode(data, 100, 1 << 20).root


def test_typed_order_as_logged() -> None:
    data, truth = vector("order_typed")
    decoded = root(data)
    assert decoded["@type"] == "Wirecap.Interop.Order"
    same(truth, decoded, "order")


def test_members_without_types_are_a_named_error_not_garbage() -> None:
    """TypesWhenNeeded: ClassWithMembers (the order) and SystemClassWithMembers (its Guid) carry no member
    types, and the Guid's Int32 _a is written bare: unreadable without the assembly, and said so."""
    data, _truth = vector("order_untyped")
    with pytest.raises(DecodeError) as err:
        root(data)
    assert err.value.name == "nrbf_untyped_member" and "System.Guid._a" in err.value.detail
    guid = data.rfind(b"\x0bSystem.Guid", 0, err.value.offset)  # the SystemClassWithMembers record's name
    assert data[guid - 5] == 0x02 and data.find(b"\x03\x01\x00\x00\x00\x15Wirecap.Interop.Order") > 0


def test_cycle_is_marked_not_followed() -> None:
    data, (first, second) = vector("cycle")
    decoded = root(data)
    assert decoded["Name"] == first and decoded["Next"]["Name"] == second
    assert decoded["Next"]["Next"] == {"@ref": 1}  # the root object, id 1: not written again


@pytest.mark.parametrize("name", ["dictionary", "hashtable"])
def test_dictionaries_as_key_value_pairs(name: str) -> None:
    data, truth = vector(name)
    decoded = root(data)
    assert [{"Key": p["Key"], "Value": str(p["Value"])} for p in decoded] == truth


def test_a_run_of_300_nulls() -> None:
    data, truth = vector("nulls")
    assert root(data) == truth and len(truth) == 300 and truth[-1] == "последний"


def test_depth_and_object_limits() -> None:
    data, _truth = vector("cycle")
    shallow = decode(data, 1, 1 << 20)
    assert shallow.truncated and list(shallow.root["Next"]) == ["@truncated"]
    with pytest.raises(DecodeError) as err:
        decode(vector("nulls")[0], 100, 100)
    assert err.value.name == "nrbf_too_many_objects"


def test_backing_field_and_inherited_names() -> None:
    assert member_name("<Id>k__BackingField") == "Id"
    assert member_name("Order+Items") == "Items"
    assert member_name("Number") == "Number"


def payloads() -> list[bytes]:
    """Small real payloads: the binary method calls and returns of the Mono capture (under 1 KB)."""
    from decoders._buffer import Buffer
    from decoders.remoting_frames import FrameReader
    from wirecap.streams import collect_streams

    out = []
    for stream in collect_streams([str(CAPTURE)]):
        for data in stream.data.values():
            buf = Buffer()
            reader = FrameReader(buf, 1 << 20)
            buf.append(data)
            while (frame := reader.read()) is not None:
                if frame.headers.get("content_type") == "application/octet-stream" and frame.size < 1024:
                    out.append(b"".join(frame.pieces))
    return out


def test_every_cut_of_real_payloads_is_a_named_error() -> None:
    cases = payloads()
    assert len(cases) > 5
    for data in cases[:6]:
        decode(data, 100, 1 << 20)
        for cut in range(len(data)):
            with pytest.raises(DecodeError) as err:
                decode(data[:cut], 100, 1 << 20)
            assert err.value.name in ANOMALIES and (err.value.offset is None or 0 <= err.value.offset <= cut)


def test_mutated_real_payloads_never_raise_anything_else() -> None:
    for data in payloads()[:4]:
        for i in range(len(data)):
            for byte in (0x00, 0x01, 0x7F, 0xFF, data[i] ^ 0x10):
                mutated = data[:i] + bytes([byte]) + data[i + 1 :]
                try:
                    decode(mutated, 100, 1 << 16)
                except DecodeError as err:
                    assert err.name in ANOMALIES


def test_capture_payloads_decode_without_anomalies() -> None:
    events = decode_capture(CAPTURE)
    assert [e for e in events if e.kind == "remoting.message"] and not [e for e in events if e.kind == "anomaly"]
