"""decoders.nbfx against .NET's own bytes (tests/vectors/net_tcp_vectors.txt) and .NET's documented
value rendering.

Expected strings for single values follow the .NET sources/docs cited at each group; documents come
from Microsoft's WCF stack (vector blocks 1 and 2) or ERNW's example (block 3).
"""

import re
import struct
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders import nbfx, nbfx_strings
from decoders.anomalies import ANOMALIES, DecodeError
from decoders.nbfx import STATIC_DICTIONARY, SessionStrings, decode

VECTORS = (Path(__file__).resolve().parent / "vectors" / "net_tcp_vectors.txt").read_text()


def _vector(label: str) -> bytes:
    return bytes.fromhex(re.search(rf"^{label}: ([0-9a-f]+)$", VECTORS, re.M).group(1))


def _expected(label: str) -> str:
    return re.search(rf"^# expected {label} XML: (.*)$", VECTORS, re.M).group(1)


def _sized_envelopes(stream: bytes) -> list[bytes]:
    """The SizedEnvelope payloads of an [MC-NMF] stream (only the records block 1 contains)."""
    payloads, pos = [], 0
    while pos < len(stream):
        record = stream[pos]
        pos += 1
        if record == 0x00:  # VersionRecord
            pos += 2
        elif record in (0x01, 0x03):  # ModeRecord, KnownEncodingRecord
            pos += 1
        elif record in (0x02, 0x06):  # ViaRecord, SizedEnvelopeRecord: MB31 size + bytes
            size, pos = nbfx.read_mb31(stream, pos, len(stream))
            if record == 0x06:
                payloads.append(stream[pos : pos + size])
            pos += size
        else:
            assert record in (0x07, 0x0B, 0x0C), record  # End, PreambleAck, PreambleEnd
    return payloads


C2S = _sized_envelopes(_vector("c2s"))
S2C = _sized_envelopes(_vector("s2c"))
BLOCK2 = [_vector(f"msg{i}") for i in (1, 2, 3)]
BLOCK3 = bytes.fromhex(re.search(r"^(56020b01[0-9a-f]+)$", VECTORS, re.M).group(1))
# MessageID of c2s msg1: UniqueIdText bytes 86842bc9 fbce 0142 8a89 22bcd24b699e. .NET's Guid(byte[])
# reads the first three fields little-endian (Int32, Int16, Int16) and the last 8 bytes in order.
C2S_MESSAGE_ID = "urn:uuid:c92b8486-cefb-4201-8a89-22bcd24b699e"


def _session_xml(payloads: list[bytes], session: SessionStrings | None = None) -> list[str]:
    session = SessionStrings() if session is None else session
    out = []
    for payload in payloads:
        doc = decode(payload, session.read_table(payload), session)
        assert doc.unresolved == 0
        out.append(doc.to_xml())
    return out


# --- whole documents from .NET ----------------------------------------------------------------------


def test_block2_session_messages_match_dotnet_xml():
    xml = _session_xml(BLOCK2)
    assert xml[0] == _expected("msg1")
    # msg2/msg3 differ from msg1 only in Chars8 "E2"/"E3" and Int8Text 2/3 (hex 4532 / 8902 ...)
    assert xml[1] == _expected("msg1").replace(">E1<", ">E2<").replace(">1</TotalDays>", ">2</TotalDays>")
    assert xml[2] == _expected("msg1").replace(">E1<", ">E3<").replace(">1</TotalDays>", ">3</TotalDays>")


def test_block2_session_table_ids():
    session = SessionStrings()
    pos = session.read_table(BLOCK2[0])
    assert pos == 1 + 0x67
    assert len(session) == 6
    assert session.read_table(BLOCK2[1]) == 1  # empty table (00)
    assert len(session) == 6


def test_block1_streams_match_dotnet_xml():
    placeholder = re.search(r"urn:uuid:\(UniqueId[^)]*\)", _expected("c2s msg1")).group()
    c2s = _session_xml(C2S)
    assert c2s[0] == _expected("c2s msg1").replace(placeholder, C2S_MESSAGE_ID)
    assert ">hello1<" in c2s[1]
    s2c = _session_xml(S2C)  # its own table: the directions do not share ids
    assert '<EchoResponse xmlns="urn:DemoService"><EchoResult>hello0</EchoResult></EchoResponse>' in s2c[0]
    assert f"<a:RelatesTo>{C2S_MESSAGE_ID}</a:RelatesTo>" in s2c[0]


def test_block3_sessionless_example():
    # 56 02 (s:Envelope) 0b 01 61 06 / 0b 01 73 04 (xmlns:a, xmlns:s from the static dictionary)
    # 56 08 (s:Header) 44 0a (a:Action) 1e 00 82 (s:mustUnderstand = OneText) 99 06 "action" 01
    # 56 0e (s:Body) 40 09 "Inventory" 81 (ZeroTextWithEndElement) 01 01
    assert decode(BLOCK3).to_xml() == (
        '<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" '
        'xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>'
        '<a:Action s:mustUnderstand="1">action</a:Action></s:Header>'
        "<s:Body><Inventory>0</Inventory></s:Body></s:Envelope>"
    )


def test_decode_accepts_memoryview_and_offset():
    assert decode(memoryview(b"\xff" + BLOCK3), 1).to_xml() == decode(BLOCK3).to_xml()


def test_static_dictionary():
    assert len(STATIC_DICTIONARY) == 487
    assert STATIC_DICTIONARY[162 // 2] == ""
    assert STATIC_DICTIONARY[424 // 2] == " http://schemas.xmlsoap.org/ws/2005/02/trust/tlsnego"
    assert STATIC_DICTIONARY[2 // 2] == "Envelope"


# --- [MC-NBFSE] mid-session -------------------------------------------------------------------------


def test_mid_session_never_shows_a_wrong_string():
    session = SessionStrings(known_start=False)  # capture began after msg1 defined ids 1..11
    doc = decode(BLOCK2[1], session.read_table(BLOCK2[1]), session)
    xml = doc.to_xml()
    assert "<session:7>E2</session:7>" in xml and 'xmlns="session:3"' in xml
    assert doc.unresolved == 6  # LeaveRequest, urn:DemoService, XMLSchema-instance, 3 member names


def test_unanchored_tables_are_kept_but_not_used():
    session = SessionStrings(known_start=False)
    doc = decode(BLOCK2[0], session.read_table(BLOCK2[0]), session)
    assert doc.unresolved == 6
    assert len(session) == 0
    assert session.unanchored[0] == "LeaveRequest"


def test_strings_before_a_loss_keep_resolving():
    session = SessionStrings()
    session.read_table(BLOCK2[0])
    session.lost()  # e.g. a TCP gap swallowed an envelope
    session.read_table(bytes.fromhex("02017a"))  # a later table: ids unknown
    assert len(session) == 6 and session.unanchored == ("z",)
    doc = decode(BLOCK2[1], session.read_table(BLOCK2[1]), session)
    assert doc.unresolved == 0 and doc.to_xml() == _session_xml(BLOCK2)[1]
    doc = decode(bytes.fromhex("420d01"), 0, session)  # id 13 = the "z" above, if nothing else was lost
    assert doc.to_xml() == "<session:13/>" and doc.unresolved == 1


def test_session_size_limit(monkeypatch):
    monkeypatch.setattr(nbfx_strings, "MAX_SESSION_STRINGS", 7)  # where the limit lives
    session = SessionStrings()
    session.read_table(BLOCK2[0])  # 6 strings
    with pytest.raises(DecodeError) as exc:
        session.read_table(bytes.fromhex("04 0161 0162"))
    assert exc.value.name == "nbfx_bad_session_table" and not session.anchored and len(session) == 6


def test_sessionless_odd_id_is_a_placeholder():
    doc = decode(bytes.fromhex("4203 01"))
    assert doc.to_xml() == "<session:3/>" and doc.unresolved == 1


@pytest.mark.parametrize("table", ["05 01", "03 05 616263", "02 01 ff", "81"])
def test_bad_session_table_unanchors(table):
    session = SessionStrings()
    with pytest.raises(DecodeError) as exc:
        session.read_table(bytes.fromhex(table))
    assert exc.value.name in ("nbfx_bad_session_table", "nbfx_bad_text")
    assert not session.anchored and len(session) == 0


# --- single values ----------------------------------------------------------------------------------


def _text(record_hex: str) -> str:
    """XML of <a> holding one text record (use the *WithEndElement* form)."""
    return decode(bytes.fromhex("400161" + record_hex.replace(" ", ""))).to_xml()


def _value(record_hex: str) -> str:
    xml = _text(record_hex)
    return xml[3:-4] if xml != "<a/>" else ""


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("81", "0"),  # ZeroTextWithEndElement
        ("83", "1"),
        ("85", "false"),  # XmlConverter.ToChars(bool): "true"/"false"
        ("87", "true"),
        ("b5 00", "false"),
        ("b5 01", "true"),
        ("89 ff", "-1"),  # Int8Text is signed
        ("89 7f", "127"),
        ("8b 0080", "-32768"),
        ("8d ffffff7f", "2147483647"),
        ("8f 0000000000000080", "-9223372036854775808"),
        ("b3 ffffffffffffffff", "18446744073709551615"),  # UInt64Text
    ],
)
def test_integer_and_bool_text(record, expected):
    assert _value(record) == expected


def _double(value: float) -> str:
    return "93" + struct.pack("<d", value).hex()


def _single(value: float) -> str:
    return "91" + struct.pack("<f", value).hex()


# XmlConverter.ToChars(double/float): "INF", "-INF", "-0" for negative zero, else
# value.ToString("R", InvariantInfo). .NET Framework's "R" (iiko's peers): 15 significant digits if
# they parse back to the same value, else 17 (float: 7, else 9); "G" layout switches to E notation
# when the exponent is >= the digit count or < -5, with "E+XX"/"E-XX" (at least two exponent digits).
@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_double(0.1), "0.1"),
        (_double(0.1 + 0.2), "0.30000000000000004"),
        (_double(1.5), "1.5"),
        (_double(-2.0), "-2"),
        (_double(123456789012345.0), "123456789012345"),
        (_double(1e15), "1E+15"),
        (_double(1e16), "1E+16"),
        (_double(123456789012345678.0), "1.2345678901234568E+17"),
        (_double(0.0001), "0.0001"),
        (_double(0.00001), "1E-05"),
        (_double(5e-324), "4.94065645841247E-324"),  # double.Epsilon as documented for .NET Framework
        (_double(1.7976931348623157e308), "1.7976931348623157E+308"),
        (_double(0.0), "0"),
        (_double(-0.0), "-0"),
        (_double(float("inf")), "INF"),
        (_double(float("-inf")), "-INF"),
        (_double(float("nan")), "NaN"),
        (_single(0.1), "0.1"),
        (_single(1.0), "1"),
        (_single(3.4028234663852886e38), "3.40282347E+38"),  # float.MaxValue.ToString("R")
        (_single(16777216.0), "16777216"),
        (_single(1e7), "1E+07"),
        (_single(-0.0), "-0"),
        (_single(float("-inf")), "-INF"),
        (_single(float("nan")), "NaN"),
    ],
)
def test_floating_text(record, expected):
    assert _value(record) == expected


def _decimal(scale: int, sign: int, hi32: int, lo64: int) -> str:
    """[MC-NBFX] DecimalText: [MS-OAUT] DECIMAL = wReserved, scale, sign, Hi32, Lo64."""
    return "95" + struct.pack("<HBBIQ", 0, scale, sign, hi32, lo64).hex()


# decimal.ToString(null, InvariantInfo) keeps the scale (1.50m -> "1.50") and never uses E notation.
@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_decimal(2, 0, 0, 150), "1.50"),
        (_decimal(2, 0x80, 0, 5), "-0.05"),
        (_decimal(0, 0, 0, 0), "0"),
        (_decimal(3, 0, 0, 0), "0.000"),
        (_decimal(0, 0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF), "79228162514264337593543950335"),  # MaxValue
        (_decimal(28, 0x80, 0, 1), "-0.0000000000000000000000000001"),
    ],
)
def test_decimal_text(record, expected):
    assert _value(record) == expected


@pytest.mark.parametrize("record", [_decimal(29, 0, 0, 1), _decimal(0, 0x01, 0, 1), "95" + "01" + "00" * 15])
def test_decimal_invalid(record):
    with pytest.raises(DecodeError) as exc:
        _text(record)
    assert exc.value.name == "nbfx_bad_value"


def _ticks(moment: datetime) -> int:
    delta = moment - datetime(1, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _datetime(ticks: int, kind: int) -> str:
    return "97" + struct.pack("<Q", ticks | kind << 62).hex()


# XmlConverter.ToChars(DateTime): yyyy-MM-ddTHH:mm:ss, '.' + up to 7 fraction digits with trailing
# zeros removed (nothing when zero), then "Z" for UTC, nothing for Unspecified, the offset for Local.
# Local values are stored as UTC ticks (DateTime.ToBinary); we print that instant with "+00:00", as
# .NET does on a machine whose zone is UTC.
@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_datetime(_ticks(datetime(2024, 1, 15, 10, 30)), 0), "2024-01-15T10:30:00"),
        (_datetime(_ticks(datetime(2024, 1, 15, 10, 30, 5, 123450)), 1), "2024-01-15T10:30:05.12345Z"),
        (_datetime(_ticks(datetime(2024, 2, 29, 23, 59, 59)) + 1, 1), "2024-02-29T23:59:59.0000001Z"),
        (_datetime(_ticks(datetime(2024, 6, 1, 9, 0)), 2), "2024-06-01T09:00:00+00:00"),
        (_datetime(0, 0), "0001-01-01T00:00:00"),
        (_datetime(3_155_378_975_999_999_999, 1), "9999-12-31T23:59:59.9999999Z"),  # DateTime.MaxValue
    ],
)
def test_datetime_text(record, expected):
    assert _value(record) == expected


def test_datetime_out_of_range():
    with pytest.raises(DecodeError) as exc:
        _text(_datetime(3_155_378_976_000_000_000, 0))
    assert exc.value.name == "nbfx_bad_value"


# XmlConvert.ToString(TimeSpan) (XsdDuration): [-]P[nD][T[nH][nM][n[.fffffff]S]], zero "PT0S".
@pytest.mark.parametrize(
    ("ticks", "expected"),
    [
        (0, "PT0S"),
        (36_000_000_000, "PT1H"),
        (37_200_000_000, "PT1H2M"),
        (1, "PT0.0000001S"),
        (-(864_000_000_000 + 72_000_000_000 + 5_000_000), "-P1DT2H0.5S"),
        (864_000_000_000 * 3, "P3D"),
        (-(1 << 63), "-P10675199DT2H48M5.4775808S"),  # TimeSpan.MinValue
    ],
)
def test_timespan_text(ticks, expected):
    assert _value("af" + struct.pack("<q", ticks).hex()) == expected


def test_guid_and_unique_id_text():
    # Guid(byte[]) order: Int32 and two Int16 little-endian, then 8 bytes as they are; "D" lower case.
    raw = bytes(range(16)).hex()
    assert _value("b1" + raw) == "03020100-0504-0706-0809-0a0b0c0d0e0f"
    assert _value("ad" + raw) == "urn:uuid:03020100-0504-0706-0809-0a0b0c0d0e0f"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("9f 03 616263", "YWJj"),  # Bytes8Text -> base64
        ("a1 0400 61626364", "YWJjZA=="),
        ("a3 02000000 ffff", "//8="),
        ("99 03 616263", "abc"),
        ("9b 0300 616263", "abc"),
        ("9d 03000000 616263", "abc"),
        ("99 04 d0b1d183", "бу"),
        ("b7 04 61004200", "aB"),  # UnicodeChars8Text: UTF-16LE
        ("b9 0200 3104", "б"),
        ("bb 02000000 3d00", "="),
        ("ab 02", "Envelope"),  # DictionaryText, static id 2
        ("bd 00 02", "a:Envelope"),  # QNameDictionaryText: prefix index 0 = "a"
        ("bd 19 0a", "z:Action"),
    ],
)
def test_string_like_text(record, expected):
    assert _value(record) == expected


def test_empty_text_and_empty_element():
    # XmlBaseWriter.WriteString skips empty strings, so the element stays empty: "<a/>".
    assert _text("a9") == "<a/>"
    assert _text("01") == "<a/>"


def test_list_text():
    # StartListText ... EndListText: items separated by one space (XmlUTF8NodeWriter.WriteListSeparator)
    assert _text("a4 82 84 98 01 78 8a 0001 a6 01") == "<a>1 false x 256</a>"


def test_escaping_follows_xml_utf8_node_writer():
    # element text: & < > and controls other than TAB/LF; attribute: also '"', TAB and LF.
    special = "<a&b>\"'\r\t\n\x01\ufffe".encode()
    chars = f"98{len(special):02x}{special.hex()}"
    xml = decode(bytes.fromhex(f"400161 0401 78 {chars} {chars} 01".replace(" ", ""))).to_xml()
    assert xml == (
        '<a x="&lt;a&amp;b&gt;&quot;\'&#xD;&#x9;&#xA;&#x1;&#xFFFE;">&lt;a&amp;b&gt;"\'&#xD;\t\n&#x1;&#xFFFE;</a>'
    )


def test_element_and_attribute_record_forms():
    doc = bytes.fromhex(
        "41 01 70 01 65"  # Element p:e
        " 09 01 70 03 75 72 6e"  # xmlns:p="urn"
        " 08 01 64"  # xmlns="d"
        " 0b 01 71 04"  # xmlns:q = static id 4
        " 0a 06"  # xmlns = static id 6 (a second default declaration, kept as written)
        " 04 01 78 98 01 31"  # x="1"
        " 05 01 70 01 79 86"  # p:y="true"
        " 06 0a 80"  # Action="0"
        " 07 01 71 0c 98 00"  # q:To=""
        " 0c 00 84"  # a:mustUnderstand="false"
        " 27 01 7a 82"  # b:z="1"
        " 43 01 71 08 01"  # DictionaryElement q:Header
        " 5e 01 6b 01"  # PrefixElementA a:k
        " 77 01 6b 01"  # PrefixElementZ z:k
        " 5d 0e 01"  # PrefixDictionaryElementZ z:Body
        " 02 02 2d 21"  # Comment "-!"
        " 01"
    )
    assert decode(doc).to_xml() == (
        '<p:e xmlns:p="urn" xmlns="d" xmlns:q="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns="http://www.w3.org/2005/08/addressing" x="1" p:y="true" Action="0" q:To="" '
        'a:mustUnderstand="false" b:z="1"><q:Header/><a:k/><z:k/><z:Body/><!---!--></p:e>'
    )


def test_comments():
    doc = bytes.fromhex("02 01 61 400172 400161 0201 78 01 400162 98 01 79 0201 7a 99 01 79 01 02 01 62")
    assert decode(doc).to_xml() == "<!--a--><r><a><!--x--></a><b>y<!--z-->y</b></r><!--b-->"


def test_array_record():
    # Array: element a with attribute, EndElement, Int32TextWithEndElement items, count 3
    doc = bytes.fromhex("400172 03 400161 0401 78 98 01 79 01 8d 03 01000000 02000000 feffffff 01")
    assert decode(doc).to_xml() == '<r><a x="y">1</a><a x="y">2</a><a x="y">-2</a></r>'
    guids = bytes.fromhex("400172 03 400167 01 b1 01" + bytes(range(16)).hex() + "01")
    assert decode(guids).to_xml() == "<r><g>03020100-0504-0706-0809-0a0b0c0d0e0f</g></r>"
    bools = bytes.fromhex("400172 03 400162 01 b5 02 0100 01")
    assert decode(bools).to_xml() == "<r><b>true</b><b>false</b></r>"


def test_typed_values_kept_for_json():
    doc = decode(bytes.fromhex("400172 420a 8d 2a000000 420c 87 420e" + _decimal(1, 0, 0, 15) + " 4208 99 01 78 01"))
    values = [(c.children[0].type, c.children[0].value) for c in doc.root.children[:3]]
    assert values[:3] == [("int", 42), ("bool", True), ("decimal", "1.5")]
    assert doc.root.children[3].children == ["x"]


# --- malformed input --------------------------------------------------------------------------------

ALL_DOCUMENTS = [(p, SessionStrings) for p in BLOCK2[:1] + C2S[:1] + S2C[:1]] + [(BLOCK3, None)]


def _decode_any(payload: bytes, with_session: bool) -> nbfx.Document:
    if not with_session:
        return decode(payload)
    session = SessionStrings()
    return decode(payload, session.read_table(payload), session)


@pytest.mark.parametrize(("payload", "session"), ALL_DOCUMENTS)
def test_truncation_at_every_offset(payload, session):
    for cut in range(len(payload)):
        with pytest.raises(DecodeError) as exc:
            _decode_any(payload[:cut], session is not None)
        assert exc.value.name in ANOMALIES, (cut, exc.value)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutations_raise_only_named_anomalies(data):
    payload, session = data.draw(st.sampled_from(ALL_DOCUMENTS))
    mutated = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    try:
        doc = _decode_any(bytes(mutated), session is not None)
    except DecodeError as exc:
        assert exc.name in ANOMALIES
    else:
        doc.to_xml()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_named_anomalies(payload):
    try:
        decode(payload).to_xml()
    except DecodeError as exc:
        assert exc.name in ANOMALIES


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        ("40016101 01", "nbfx_bad_structure"),  # EndElement with nothing open
        ("400161 01 400162 01", "nbfx_bad_structure"),  # second root
        ("98 01 61", "nbfx_bad_structure"),  # text outside the root
        ("400161 78 01", "nbfx_unknown_record"),
        ("400161 a5 01", "nbfx_unknown_record"),  # no StartListText*WithEndElement
        ("400161 04 01 78 99 01 31 01", "nbfx_unknown_record"),  # attribute value may not end the element
        ("42 f6 07 01", "nbfx_bad_dictionary_id"),  # static id 974 is past the table
        ("400161 99 01 ff", "nbfx_bad_text"),
        ("400161 b7 01 61", "nbfx_bad_text"),  # odd UTF-16 length
        ("400161 b5 02", "nbfx_bad_value"),
        ("400161 9d ffffffff", "nbfx_bad_value"),
        ("400161 bd 1a 02", "nbfx_bad_value"),
        ("400161 03 400162 01 8d 01 01", "nbfx_truncated"),  # array count larger than the data
        ("400161 03 400162 01 99 01 00", "nbfx_unknown_record"),  # Chars8 arrays are not allowed
        ("400161 03 400162 01 8d 00 01", "nbfx_bad_value"),  # XmlBinaryReader rejects empty arrays
        ("400161 03 03 400162 01 8d 01 00000000 01", "nbfx_unknown_record"),  # no array of arrays
        ("42 ffffffff7f", "mb31_invalid"),
        ("", "nbfx_truncated"),
    ],
)
def test_malformed(payload, name):
    with pytest.raises(DecodeError) as exc:
        decode(bytes.fromhex(payload))
    assert exc.value.name == name


def test_limits():
    with pytest.raises(DecodeError) as exc:
        decode(bytes.fromhex("400161" * (nbfx.MAX_DEPTH + 1) + "01" * (nbfx.MAX_DEPTH + 1)))
    assert exc.value.name == "nbfx_too_deep"
    decode(bytes.fromhex("400161" * nbfx.MAX_DEPTH + "01" * nbfx.MAX_DEPTH)).to_xml()
    with pytest.raises(DecodeError) as exc:
        decode(bytes.fromhex("400161" + "04017880" * (nbfx.MAX_ATTRIBUTES + 1) + "01"))
    assert exc.value.name == "nbfx_too_many_attributes"
    with pytest.raises(DecodeError) as exc:
        decode(bytes.fromhex("400161 03 400162 01 8d ffffffff07 01"))
    assert exc.value.name == "nbfx_array_too_long"


def test_document_size_limit(monkeypatch):
    monkeypatch.setattr(nbfx, "MAX_DOCUMENT_BYTES", 16)
    with pytest.raises(DecodeError) as exc:
        decode(BLOCK3)
    assert exc.value.name == "nbfx_too_large"


def test_an_index_error_inside_is_a_bug_not_truncation(monkeypatch):
    """Bounds are checked, not caught: an IndexError from a reader is a bug and must not become
    nbfx_truncated (the old loop caught IndexError, so fuzzing could not see such bugs)."""
    doc = bytes.fromhex("40 01 61 93") + struct.pack("<d", 1.5)  # <a>1.5</a>, DoubleTextWithEndElement
    assert decode(doc).root.text == "1.5"

    def broken(self, pos):
        raise IndexError("reader bug")

    monkeypatch.setattr(nbfx._Decoder, "_double", broken)
    with pytest.raises(IndexError, match="reader bug"):
        decode(doc)


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ("40 01 61 99", "inside Chars8Text"),  # length byte missing
        ("40 01 61 89", "inside Int8Text"),  # value byte missing
        ("40 01 61 42", "inside an element record"),  # dictionary id missing
        ("40 01 61", "after an element name"),
        ("40 01 61 04 01 62 a8", "after an element's attributes"),
        ("40 01 61 41 01 70", "before a string"),  # Element record: prefix "p", name missing
        ("40 01 61 43 01 70", "before a dictionary string"),  # DictionaryElement: id missing
    ],
)
def test_each_cut_record_names_where_it_ends(payload, detail):
    with pytest.raises(DecodeError) as exc:
        decode(bytes.fromhex(payload))
    assert exc.value.name == "nbfx_truncated"
    assert detail in exc.value.detail
