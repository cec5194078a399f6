"""decoders.soap over .NET's own envelopes (tests/vectors/net_tcp_vectors.txt), the XML text .NET
wrote for them, and SOAP/DataContract examples."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders._buffer import read_mb31
from decoders.anomalies import ANOMALIES, DecodeError
from decoders.json_text import plain
from decoders.nbfx import MAX_DEPTH, SessionStrings, decode
from decoders.soap import (
    MAX_REF_EXPANSION,
    SoapFault,
    element_to_json,
    message_from_document,
)
from decoders.xml_text import parse_text_xml
from wirecap.streams import collect_streams

VECTORS = (Path(__file__).resolve().parent / "vectors" / "net_tcp_vectors.txt").read_text()
CAPTURES = Path(__file__).resolve().parents[1] / "captures"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
MESSAGE_ID = "urn:uuid:c92b8486-cefb-4201-8a89-22bcd24b699e"  # see tests/test_nbfx.py C2S_MESSAGE_ID


def _hex(label: str) -> bytes:
    return bytes.fromhex(re.search(rf"^{label}: ([0-9a-f]+)$", VECTORS, re.M).group(1))


def _first_envelope(stream: bytes) -> bytes:
    """The first SizedEnvelope (0x06 + MB31 size) payload of a block-1 stream."""
    start = stream.index(b"\x06\xa3\x01") + 3 if stream[0] == 0 else stream.index(b"\x06\x94\x01") + 3
    size = 0xA3 if stream[0] == 0 else 0x94
    return stream[start : start + size]


def _binary_message(payload: bytes):
    session = SessionStrings()
    return message_from_document(decode(payload, session.read_table(payload), session))


def test_request_from_dotnet_binary():
    message = _binary_message(_first_envelope(_hex("c2s")))
    assert message.version == "1.2"
    assert message.action == "urn:DemoService/IDemoService/Echo"
    assert message.message_id == MESSAGE_ID
    assert message.reply_to == ANONYMOUS
    assert message.to == "net.tcp://localhost:8898/Demo"
    assert message.relates_to is None
    assert message.body == {"Echo": {"text": "hello0"}}
    assert message.body_element == "Echo"
    assert message.fault is None


def test_response_from_dotnet_binary():
    message = _binary_message(_first_envelope(_hex("s2c")))
    assert message.action == "urn:DemoService/IDemoService/EchoResponse"
    assert message.relates_to == MESSAGE_ID
    assert message.body == {"EchoResponse": {"EchoResult": "hello0"}}


def test_typed_body_and_text_twin():
    binary = _binary_message(_hex("msg1"))
    assert binary.body == {"LeaveRequest": {"EmployeeId": "E1", "ReasonText": "Personal", "TotalDays": 1}}
    # the XML .NET writes for the same envelope, parsed as text: same shape, untyped values
    expected_xml = re.search(r"^# expected msg1 XML: (.*)$", VECTORS, re.M).group(1)
    document = parse_text_xml(expected_xml.encode())
    assert document.to_xml() == expected_xml
    text = message_from_document(document)
    assert text.body == {"LeaveRequest": {"EmployeeId": "E1", "ReasonText": "Personal", "TotalDays": "1"}}
    assert (text.version, text.action, text.to) == (binary.version, binary.action, binary.to)


def test_text_encodings():
    xml = '<?xml version="1.0" encoding="utf-16"?><r a="ё">текст</r>'
    for payload, encoding in [
        (xml.encode("utf-16"), None),  # BOM
        (b"\xef\xbb\xbf" + xml.replace("utf-16", "utf-8").encode(), None),
        (xml.encode("utf-16-le"), "utf-16-le"),  # no BOM: the transport names the encoding
    ]:
        document = parse_text_xml(payload, encoding)
        assert document.to_xml() == '<r a="ё">текст</r>'


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        (b"<a><b></a>", "soap_bad_xml"),
        (b"", "soap_bad_xml"),
        (b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "soap_forbidden_xml"),
        (b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>', "soap_forbidden_xml"),
        (b"<a>" * (MAX_DEPTH + 1), "soap_too_deep"),
        (b"\xff\xfe\x00", "soap_bad_xml"),
        # declared encodings pyexpat cannot use raised LookupError / ValueError out of the decoder (fuzzing)
        (b'<?xml version="1.0" encoding="uif-8"?><a>\xe9</a>', "soap_bad_xml"),
        (b'<?xml version="1.0" encoding="shift_jis"?><a>\xe9</a>', "soap_bad_xml"),
        (b'<?xml version="1.0" encoding="rot13"?><a/>', "soap_bad_xml"),
        (b'<?xml version="1.0" encoding="idna"?><a>\xe9</a>', "soap_bad_xml"),
    ],
)
def test_text_xml_errors(payload, name):
    with pytest.raises(DecodeError) as exc:
        parse_text_xml(payload)
    assert exc.value.name == name


def test_not_an_envelope():
    with pytest.raises(DecodeError) as exc:
        message_from_document(parse_text_xml(b"<Envelope><Body/></Envelope>"))
    assert exc.value.name == "soap_not_envelope"
    with pytest.raises(DecodeError) as exc:
        message_from_document(parse_text_xml(b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>'))
    assert exc.value.name == "soap_not_envelope"


def test_soap11_fault():
    # SOAP 1.1 (W3C Note, section 4.4): faultcode / faultstring / detail are unqualified
    message = message_from_document(
        parse_text_xml(
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
            b'<faultcode>s:Client</faultcode><faultstring xml:lang="en-US">Bad &amp; wrong</faultstring>'
            b'<detail><Err xmlns="urn:x"><Code>7</Code></Err></detail></s:Fault></s:Body></s:Envelope>'
        )
    )
    assert message.version == "1.1" and message.action is None and message.body_element == "Fault"
    assert message.fault == SoapFault("s:Client", None, "Bad & wrong", {"Err": {"Code": "7"}})


def test_soap12_fault():
    # SOAP 1.2 Part 1, 5.4: Code/Value, Code/Subcode/Value, Reason/Text, Detail
    message = message_from_document(
        parse_text_xml(
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>'
            b"<a:Action>http://www.w3.org/2005/08/addressing/soap/fault</a:Action>"
            b"<a:RelatesTo>urn:uuid:1</a:RelatesTo></s:Header><s:Body><s:Fault>"
            b"<s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>a:DestinationUnreachable</s:Value>"
            b'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">No route</s:Text></s:Reason>'
            b"</s:Fault></s:Body></s:Envelope>"
        )
    )
    assert message.relates_to == "urn:uuid:1"
    assert message.fault == SoapFault("s:Sender", "a:DestinationUnreachable", "No route", None)


DATA_CONTRACT = (
    b'<Order xmlns="http://schemas.datacontract.org/2004/07/Resto" '
    b'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
    b'xmlns:z="http://schemas.microsoft.com/2003/10/Serialization/">'
    b'<Customer z:Id="i1"><Name>Ann</Name></Customer>'
    b'<Guest z:Ref="i1" i:nil="true"/>'
    b'<Comment i:nil="true"/>'
    b"<Items><OrderItem><Sum>1.50</Sum></OrderItem><OrderItem><Sum>2</Sum></OrderItem></Items>"
    b'<Tags xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>hot</a:string></Tags>'
    b'<Value i:type="b:int" xmlns:b="http://www.w3.org/2001/XMLSchema">5</Value>'
    b"<Note/>"
    b"</Order>"
)


def test_element_to_json_data_contract_conventions():
    assert element_to_json(parse_text_xml(DATA_CONTRACT).root) == {
        "Customer": {"@id": "i1", "Name": "Ann"},
        "Guest": {"@id": "i1", "Name": "Ann"},  # z:Ref resolved (DataContractSerializer adds i:nil)
        "Comment": None,
        "Items": [{"Sum": "1.50"}, {"Sum": "2"}],
        "Tags": ["hot"],  # Serialization/Arrays items: a list even with one item
        "Value": {"@type": "b:int", "#text": "5"},
        "Note": "",
    }


def test_element_to_json_named_collections():
    root = parse_text_xml(b"<o><Tables><Table><Num>3</Num></Table></Tables><Items/><Name>x</Name></o>").root
    assert element_to_json(root) == {"Tables": {"Table": {"Num": "3"}}, "Items": "", "Name": "x"}
    named = element_to_json(root, collections={"Tables", "Items"})
    assert named == {"Tables": [{"Num": "3"}], "Items": [], "Name": "x"}


def test_void_reply_body_is_an_object():
    envelope = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        b'<s:Body><DeleteResponse xmlns="urn:t"/></s:Body></s:Envelope>'
    )
    assert message_from_document(parse_text_xml(envelope)).body == {"DeleteResponse": {}}


def test_element_to_json_repeated_members_and_cycles():
    z = b'xmlns:z="http://schemas.microsoft.com/2003/10/Serialization/"'
    root = parse_text_xml(b"<r " + z + b'><n z:Id="i1"><up z:Ref="i1"/></n><k>1</k><k>2</k><m>x</m></r>').root
    assert element_to_json(root) == {"n": {"@id": "i1", "up": {"@ref": "i1"}}, "k": ["1", "2"], "m": "x"}


def test_element_to_json_reference_expansion_is_bounded():
    z = b'xmlns:z="http://schemas.microsoft.com/2003/10/Serialization/"'
    leaf = b"<v>1</v>" * 1000
    refs = b'<c z:Ref="i1"/>' * (MAX_REF_EXPANSION // 1000 + 5)
    result = element_to_json(parse_text_xml(b"<r " + z + b'><b z:Id="i1">' + leaf + b"</b>" + refs + b"</r>").root)
    assert result["c"][0]["@id"] == "i1"
    assert result["c"][-1] == {"@ref": "i1"}


def test_element_to_json_typed_binary_values():
    # <r><a>Int32 -7</a><b>true</b><c>decimal 1.50</c><d>Guid</d><e>Double 0.5</e></r>
    payload = bytes.fromhex(
        "400172 400161 8d f9ffffff 400162 87 400163 95 0000020000000000 9600000000000000"
        " 400164 b1 000102030405060708090a0b0c0d0e0f 400165 93 000000000000e03f 01"
    )
    assert element_to_json(decode(payload).root) == {
        "a": -7,
        "b": True,
        "c": "1.50",
        "d": "03020100-0504-0706-0809-0a0b0c0d0e0f",
        "e": 0.5,
    }


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_text_envelopes_raise_only_named_anomalies(data):
    payload = bytearray(DATA_CONTRACT)
    for _ in range(data.draw(st.integers(1, 3))):
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    try:
        document = parse_text_xml(bytes(payload))
        element_to_json(document.root)
        message_from_document(document)
    except DecodeError as exc:
        assert exc.name in ANOMALIES


# --- Mono WCF peers: captures/wcf_*.pcap and what the peers themselves logged (*.truth.jsonl) ---------


def _envelopes(stream: bytes) -> tuple[int, list[bytes]]:
    """KnownEncoding and envelope payloads of one [MC-NMF] direction: SizedEnvelope (0x06) and the
    chunks of an UnsizedEnvelope (0x05, MB31-sized chunks up to a zero-length one)."""
    payloads, pos, encoding = [], 0, 0x08  # a reply direction has no preamble: the session's encoding
    while pos < len(stream):
        record = stream[pos]
        pos += 1
        if record == 0x00:  # Version
            pos += 2
        elif record == 0x01:  # Mode
            pos += 1
        elif record == 0x03:  # KnownEncoding: 0x07 msbin1, 0x08 msbinsession1
            encoding = stream[pos]
            pos += 1
        elif record in (0x02, 0x04, 0x06):  # Via, ExtensibleEncoding, SizedEnvelope
            size, pos = read_mb31(stream, pos, len(stream))
            if record == 0x06:
                payloads.append(stream[pos : pos + size])
            pos += size
        elif record == 0x05:
            chunks = []
            while (chunk := read_mb31(stream, pos, len(stream)))[0]:
                size, pos = chunk
                chunks.append(stream[pos : pos + size])
                pos += size
            pos = chunk[1]
            payloads.append(b"".join(chunks))
        else:
            assert record in (0x07, 0x0B, 0x0C), hex(record)  # End, PreambleAck, PreambleEnd
    return encoding, payloads


# List<T> members of tests/interop/Contracts.cs: one-item collections are lists only if named
COLLECTIONS = frozenset({"Items", "Tables", "OpenNumbers", "Tags"})


def _capture_messages(name: str) -> list:
    messages = []
    for capture in collect_streams([str(CAPTURES / f"{name}.pcap")]):
        encoding, _ = _envelopes(capture.data["orig"])
        for direction in ("orig", "resp"):
            session = SessionStrings()  # one table per connection direction
            for payload in _envelopes(capture.data.get(direction, b""))[1]:
                start = session.read_table(payload) if encoding == 0x08 else 0
                document = decode(payload, start, session)
                assert document.unresolved == 0
                messages.append(message_from_document(document, collections=COLLECTIONS))
    return messages


_DATETIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?(Z|[+-]\d\d:\d\d)?")


def _comparable(value):
    """DateTimes as (UTC instant in ticks, kind): the peer logs ToString("o") in its own zone, .NET's
    XmlConvert (and we) print differently; the instant and the kind must agree."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, str) and (match := _DATETIME.fullmatch(value)):
        wall, fraction, zone = match.groups()
        ticks = int(datetime.fromisoformat(wall).replace(tzinfo=UTC).timestamp()) * 10**7
        ticks += int((fraction or "").ljust(7, "0"))
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            ticks -= sign * (int(zone[1:3]) * 60 + int(zone[4:6])) * 60 * 10**7
        return ticks, {None: "unspecified", "Z": "utc"}.get(zone, "local")
    return value


def _same(ours, truth, path="") -> None:
    """ours == truth, except that a number the peer logged may reach us as untyped text: Mono writes
    a UInt64 above Int64.MaxValue as characters, and untyped text stays a string by design."""
    if isinstance(truth, dict) and isinstance(ours, dict):
        assert ours.keys() == truth.keys(), path
        for key in truth:
            _same(ours[key], truth[key], f"{path}.{key}")
    elif isinstance(truth, list) and isinstance(ours, list):
        assert len(ours) == len(truth), path
        for index, (mine, theirs) in enumerate(zip(ours, truth, strict=True)):
            _same(mine, theirs, f"{path}[{index}]")
    elif isinstance(ours, str) and isinstance(truth, int) and not isinstance(truth, bool):
        assert ours == str(truth), path
    else:
        assert ours == truth, (path, ours, truth)
        numbers = (int, float)  # the peer logs a double 3.0 as the JSON number 3
        assert type(ours) is type(truth) or (type(ours) in numbers and type(truth) in numbers), path


@pytest.mark.parametrize("scenario", ["wcf_buffered", "wcf_streamed", "wcf_callback", "wcf_concurrent"])
def test_mono_captures_match_peer_truth(scenario):
    messages = _capture_messages(scenario)
    truth = [json.loads(line) for line in (CAPTURES / f"{scenario}.truth.jsonl").read_text().splitlines()]
    assert len(messages) == len(truth)
    for record in truth:
        if record["dir"] == "fault":
            found = [m for m in messages if m.fault and m.action == record["action"]]
            fault = found[0].fault
            expected = record["body"]
            assert (fault.code, fault.subcode) == (expected["code"], expected["subcode"])
            assert fault.reason == expected["reason"]
            assert fault.detail == expected["detail"]
            continue
        found = [
            m
            for m in messages
            if m.action == record["action"]
            and (m.message_id == record["message_id"] if record["message_id"] else m.relates_to == record["relates_to"])
        ]
        assert len(found) == 1, record
        body = plain(found[0].body)[found[0].body_element]
        _same(_comparable(body), _comparable(record["body"]), f"{scenario} call {record['call']}")


def test_no_xml_is_parsed_but_through_defusedxml():
    """Every stdlib/lxml XML module the code imports is used for its exception types only; parsing goes
    through defusedxml (no DTDs, no entities) in parse_text_xml."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    unsafe = ("xml.", "lxml", "pyexpat", "xml")
    allowed = {"ParseError", "ExpatError"}
    misuse = []
    for path in sorted((repo / "decoders").glob("*.py")) + sorted((repo / "wirecap").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names if a.name.startswith(unsafe)}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(unsafe):
                misuse += [
                    f"{path.name}: from {node.module} import {a.name}" for a in node.names if a.name not in allowed
                ]
        for node in ast.walk(tree):
            name = node.value.id if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) else None
            if name in aliases and node.attr not in allowed:
                misuse.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert misuse == []
