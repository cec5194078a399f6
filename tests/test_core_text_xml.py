"""The compiled text-XML reader (decoders._core.text_xml_json) against the pure-Python reference
(defusedxml/expat + xml_text._TreeBuilder + soap.element_to_json): every HTTP body of every committed
capture and of the http fuzz corpus, hand-picked well-formedness traps, hypothesis-made XML and its
mutants. Where the core answers, it must give Python's tree (as XML text) and Python's JSON; where
Python raises, the core must not answer (it hands every error back to Python, so expat's own text
stays the anomaly's detail). Whole replays of the captures, byte for byte with and without the core,
are tests/test_core_diff.py's. These tests need the core built: without it they fail, never skip.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from core_diff import RUST
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import http_body, soap, xml_text
from decoders.anomalies import DecodeError
from decoders.http import HttpDecoder
from decoders.interface import DecoderOptions
from wirecap.pipeline import Options, Pipeline, run
from wirecap.source import CaptureSource

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))

import fuzz_targets  # noqa: E402

CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
FINDINGS = sorted((ROOT / "tests" / "fuzz_findings").glob("http-*"))

Body = tuple[bytes, str]  # (decoded body, Content-Type)


def _core() -> Any:
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    return RUST


def python_result(body: bytes, encoding: str | None, max_depth: int = 64, max_elements: int = 100_000) -> tuple:
    """("ok", tree as XML, JSON) or ("error", name, detail), as the pure-Python reader gives them."""
    try:
        doc = xml_text.parse_text_xml(body, encoding, max_depth=max_depth, max_elements=max_elements)
    except DecodeError as err:
        return ("error", err.name, err.detail)
    return ("ok", doc.to_xml(), {doc.root.name: soap.element_to_json(doc.root)})


def rust_result(body: bytes, encoding: str | None, max_depth: int = 64, max_elements: int = 100_000) -> tuple | None:
    """The core's ("ok", tree as XML, JSON), or None where it leaves the body to Python."""
    core = _core()
    tree = core.text_xml_tree(body, encoding, max_depth=max_depth, max_elements=max_elements)
    text = core.text_xml_json(body, encoding, max_depth=max_depth, max_elements=max_elements)
    assert (tree is None) == (text is None), body
    return None if tree is None else ("ok", tree, json.loads(text))


def same(body: bytes, encoding: str | None = None, **limits: int) -> bool:
    """Assert the core agrees with Python on ``body``; whether the core answered."""
    rust = rust_result(body, encoding, **limits)
    if rust is not None:
        assert rust == python_result(body, encoding, **limits), body
    return rust is not None


def _recorded_bodies(drive: Iterator[None]) -> list[Body]:
    """The (body, Content-Type) of every xml_to_json call made while ``drive`` runs, each exchange's event
    made the pure-Python way (the core's ``rms.call`` maker reads the bodies without calling it)."""
    seen: list[Body] = []
    original, made = http_body.xml_to_json, HttpDecoder._made

    def record(body: bytes, content_type: str, options: DecoderOptions) -> Any:
        seen.append((body, content_type))
        return original(body, content_type, options)

    http_body.xml_to_json = record  # type: ignore[assignment]
    HttpDecoder._made = lambda self, exchange, ts: None  # type: ignore[method-assign]
    try:
        for _ in drive:
            pass
    finally:
        http_body.xml_to_json = original  # type: ignore[assignment]
        HttpDecoder._made = made  # type: ignore[method-assign]
    return seen


def _replays() -> Iterator[None]:
    for capture in CAPTURES:
        run([CaptureSource(str(capture))], Pipeline(Options()), lambda events: None)
        yield


def _fuzz_corpus() -> Iterator[None]:
    for data in [*fuzz_targets.seeds("http"), *(path.read_bytes() for path in FINDINGS)]:
        fuzz_targets.http(data)
        yield


@pytest.fixture(scope="module")
def capture_bodies() -> list[Body]:
    return _recorded_bodies(_replays())


@pytest.fixture(scope="module")
def corpus_bodies() -> list[Body]:
    return _recorded_bodies(_fuzz_corpus())


def _encoding(content_type: str) -> str | None:
    charset = http_body.re.search(r"charset=\"?([\w.-]+)", content_type, http_body.re.IGNORECASE)
    return charset.group(1) if charset else None


def test_every_capture_body(capture_bodies: list[Body]) -> None:
    assert len(capture_bodies) > 20
    answered = sum(same(body, _encoding(ct)) for body, ct in capture_bodies)
    assert answered == len(capture_bodies)  # the real traffic is all the core's


def test_every_fuzz_corpus_body(corpus_bodies: list[Body]) -> None:
    assert len(corpus_bodies) > 20
    answered = sum(same(body, _encoding(ct)) for body, ct in corpus_bodies)
    assert answered > len(corpus_bodies) // 2


def test_the_seam_gives_what_python_gives(capture_bodies: list[Body], corpus_bodies: list[Body]) -> None:
    """http_body.xml_to_json with the core and without: the same JSON or the same anomaly."""
    options = DecoderOptions()

    def outcome(body: bytes, content_type: str) -> tuple:
        try:
            return ("ok", http_body.xml_to_json(body, content_type, options))
        except DecodeError as err:
            return ("error", err.name, err.detail)

    for body, content_type in [*capture_bodies, *corpus_bodies]:
        with_core = outcome(body, content_type)
        http_body.RUST = None  # type: ignore[assignment]
        try:
            assert outcome(body, content_type) == with_core
        finally:
            http_body.RUST = _core()  # type: ignore[assignment]


def test_every_truncation_and_bit_flip_of_the_capture_bodies(capture_bodies: list[Body]) -> None:
    """Every cut of the smaller bodies, every bit flip of the smallest: never accepted where expat refuses."""
    small = sorted({body for body, _ in capture_bodies}, key=len)[:6]
    for body in small:
        for cut in range(len(body)):
            same(body[:cut])
    for body in small[:3]:
        for bit in range(len(body) * 8):
            mutant = bytearray(body)
            mutant[bit // 8] ^= 1 << (bit % 8)
            same(bytes(mutant))


# Documents the core must read itself (and as Python does).
WELL_FORMED = [
    b"<a>x</a>",
    b"\xef\xbb\xbf<a/>",
    b'<?xml version="1.0" encoding="utf-8" standalone="yes"?><a/>',
    b"<?xml version='1.0' encoding='UTF-8' ?>\n<!-- c --><a/><!-- d -->\n",
    b'<a b="x\ty\r\nz\rw" c="&#9;&#10;&#13;&lt;&amp;&quot;" d=\'"\' e="\'"/>',
    b"<a>l1\r\nl2\rl3<![CDATA[x\r\ny<&]]>&lt;&gt;&amp;&apos;&quot;&#x41;&#65;&#x10FFFF;</a>",
    b'<a xmlns="u" xmlns:p="u"><p:b p:c="1" c="2"/></a>',
    b'<p:a xmlns:p="u"><b xmlns="v" xmlns:q="v" q:x="1"><p:c/></b></p:a>',
    b'<a xml:lang="ru">\xd0\x9f\xd1\x80\xd0\xb8 \xf0\x9f\x8d\x95</a>',
    b'<a xmlns="u"><b xmlns=""><c/></b></a>',
    b"<a>]] ]> ]]&gt; > ' \"</a>",
    b"<a><!----><!-- - --></a>",
    b"<a>x<!--c-->y<b/>z</a>",
    b'<a  b = "1"\n\tc="2"  ></a >',
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r><i:x xmlns:i="http://www.w3.org/2001/'
    b'XMLSchema-instance" i:nil="true"/><y z:Id="i1" xmlns:z="http://schemas.microsoft.com/2003/10/Serialization/">'
    b'<v>1</v></y><w z:Ref="i1" xmlns:z="http://schemas.microsoft.com/2003/10/Serialization/"/></r></s:Body></s:Envelope>',
]

# Documents expat refuses or reads another way: the core must leave them to Python.
REFUSED = [
    b"",
    b"   ",
    b"<a>x</b>",
    b"<a>",
    b"<a",
    b'<a b="1" b="2"/>',
    b'<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>',
    b"<p:a/>",
    b'<a p:x="1"/>',
    b"<a>&#0;</a>",
    b"<a>&#xD800;</a>",
    b"<a>&#xFFFE;</a>",
    b"<a>&#x110000;</a>",
    b"<a>&#X41;</a>",
    b"<a>&nbsp;</a>",
    b"<a>&amp</a>",
    b"<a>]]></a>",
    b"<a><!-- -- --></a>",
    b"<a><!-- ---></a>",
    b"<a/>x",
    b"x<a/>",
    b" <?xml version='1.0'?><a/>",
    b"<a/><?xml version='1.0'?>",
    b"<a>\x00</a>",
    b"<a>\x0c</a>",
    b"<a>\xff</a>",
    b"<a>\xc0\x80</a>",
    b"<a>\xed\xa0\x80</a>",
    b"<a>\xef\xbf\xbe</a>",
    b'<a b="<"/>',
    b'<a b="1"c="2"/>',
    b"<a b=1/>",
    b"<xmlns:a/>",
    b'<a xmlns:xml="x"/>',
    b'<a xmlns:p=""/>',
    b'<a xmlns:p="http://www.w3.org/XML/1998/namespace"/>',
    b'<a xmlns:xmlns="u"/>',
    b"<!DOCTYPE a><a/>",
    b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b"<?pi x?><a/>",
    b"<a><?pi x?></a>",
    b'<?xml version="1.0" encoding="latin-1"?><a>\xe9</a>',
    b'<?xml version="1.1"?><a/>',
    b'<?xml version="1&#46;0"?><a/>',
    b'<?xml encoding="utf-8"?><a/>',
    b"<?xml?><a/>",
    b"<a:b:c/>",
    b"<:a/>",
    b"<a/><b/>",
    b"<1a/>",
    b"<\xd0\xb0/>",
    b'<a xmlns:p="u}v"><p:b/></a>',
    b"\xff\xfe<\x00a\x00/\x00>\x00",
    b"<\x00a\x00/\x00>\x00",
]


@pytest.mark.parametrize("document", WELL_FORMED)
def test_well_formed_documents_are_read_as_python_reads_them(document: bytes) -> None:
    assert python_result(document, None)[0] == "ok"
    assert same(document)


@pytest.mark.parametrize("document", REFUSED)
def test_what_expat_refuses_is_left_to_python(document: bytes) -> None:
    same(document)
    if python_result(document, None)[0] == "error":
        assert rust_result(document, None) is None


@pytest.mark.parametrize(
    ("document", "encoding"),
    [
        (b'  <?xml version="1.0" encoding="windows-1251"?><a>\xd0\x96</a>', "utf-8"),
        (b'<?xml version="1.0" encoding="utf-16"?><a/>', "UTF8"),
        (b"<?xml version='1.0'?>\xef\xbb\xbf<a/>", "utf-8"),
        (b"<?xml version='1.0'?><?xml version='1.0'?><a/>", "utf-8"),
        (b"<?xml version='1.0' x><a/>", "utf-8"),
        (b"<a>\xd0\x96</a>", "windows-1251"),
        (b"\xef\xbb\xbf<a/>", "windows-1251"),
        (b"<a>\xff</a>", "utf-8"),
        (b"<a/>", "no-such-codec"),
    ],
)
def test_the_transport_encoding_as_python_takes_it(document: bytes, encoding: str) -> None:
    same(document, encoding)


def test_limits_are_left_to_python() -> None:
    deep = b"<a>" * 5 + b"</a>" * 5
    assert same(deep, max_depth=5)
    assert not same(deep, max_depth=4)
    assert same(deep, max_elements=5)
    assert not same(deep, max_elements=4)


# --- hypothesis-made documents: namespaces, prefixes, references, CDATA, comments, whitespace ---

PREFIXES = ["", "p", "q", "i", "z"]
NAMESPACES = [
    "urn:u",
    "urn:v",
    "http://www.w3.org/2001/XMLSchema-instance",
    "http://schemas.microsoft.com/2003/10/Serialization/",
    "http://schemas.microsoft.com/2003/10/Serialization/Arrays",
]
LOCALS = ["a", "b", "Item", "string", "nil", "type", "Id", "Ref", "Size", "x-y", "_v.1"]
REFERENCES = ["&lt;", "&gt;", "&amp;", "&apos;", "&quot;", "&#9;", "&#10;", "&#13;", "&#x20AC;", "&#1046;"]
RAW = st.text(st.sampled_from(list("ab <>&'\"\t\r\n]Ж€\U0001f355")), max_size=6)


def _escaped(text: str, quote: str = "") -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace("]]>", "]]&gt;")
    return text.replace(quote, "&quot;" if quote == '"' else "&apos;") if quote else text


@st.composite
def char_data(draw: st.DrawFn, quote: str = "") -> str:
    pieces = draw(st.lists(st.one_of(RAW.map(lambda t: _escaped(t, quote)), st.sampled_from(REFERENCES)), max_size=4))
    return "".join(pieces)


@st.composite
def element(draw: st.DrawFn, scope: tuple[str, ...], depth: int) -> str:
    declared = draw(st.lists(st.sampled_from(PREFIXES), max_size=2, unique=True))
    inner = (*scope, *declared)
    prefix = draw(st.sampled_from([p for p in inner if p] + [""]))
    name = f"{prefix}:{draw(st.sampled_from(LOCALS))}" if prefix else draw(st.sampled_from(LOCALS))
    attributes = [f'xmlns{":" + p if p else ""}="{draw(st.sampled_from(NAMESPACES))}"' for p in declared]
    for _ in range(draw(st.integers(0, 2))):
        attribute_prefix = draw(st.sampled_from([p for p in inner if p] + ["", "xml"]))
        local = draw(st.sampled_from(LOCALS))
        quote = draw(st.sampled_from(['"', "'"]))
        value = draw(char_data(quote))
        attributes.append(f"{attribute_prefix + ':' if attribute_prefix else ''}{local}={quote}{value}{quote}")
    space = draw(st.sampled_from([" ", "\n\t", "  "]))
    start = name + "".join(space + a for a in attributes) + draw(st.sampled_from(["", " ", "\r\n"]))
    if depth == 0 or draw(st.booleans()):
        if draw(st.booleans()):
            return f"<{start}/>"
        return f"<{start}>{draw(char_data())}</{name}>"
    content = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["element", "element", "text", "cdata", "comment"]))
        if kind == "element":
            content.append(draw(element(inner, depth - 1)))
        elif kind == "text":
            content.append(draw(char_data()))
        elif kind == "cdata":
            content.append(f"<![CDATA[{draw(RAW).replace(']]>', '')}]]>")
        else:
            content.append(f"<!--{draw(RAW).replace('-', '')}-->")
    return f"<{start}>{''.join(content)}</{name}{draw(st.sampled_from(['', ' ']))}>"


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    prolog = draw(st.sampled_from(["", '<?xml version="1.0" encoding="utf-8"?>\n', "\ufeff", "<!-- p -->\r\n"]))
    epilog = draw(st.sampled_from(["", "\n", "<!-- e -->", " \r\n\t"]))
    return (prolog + draw(element((), 3)) + epilog).encode()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents(document: bytes) -> None:
    answered = same(document)
    assert answered or python_result(document, None)[0] == "error", document  # Python's: only what it refuses


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(documents()))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete", "cut"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from([b"<", b"&", b"]]>", b"--", b"\r", b"\x00", b"\xff", b":", b'"']))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 4))]
        elif kind == "cut":
            del data[pos:]
    return bytes(data)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_mutated_documents(document: bytes) -> None:
    same(document)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(1, 5), st.integers(1, 12), st.sampled_from([None, "utf-8", "UTF-8", "utf8"]))
def test_generated_documents_under_limits_and_a_transport_encoding(
    document: bytes, max_depth: int, max_elements: int, encoding: str | None
) -> None:
    same(document, encoding, max_depth=max_depth, max_elements=max_elements)
