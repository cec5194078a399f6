"""``decoders.needles``: the core's one-pass search (``_core.Needles``) finds a name exactly where the
reference (``data.lower()`` searched name by name) does, on the bodies redaction and the iiko layer read
and on arbitrary bytes; both refuse an upper-case name. Needs the core built, as tests/test_core_nmf.py."""

from pathlib import Path

import pytest
from core_diff import RUST  # the compiled module, whichever core the application uses
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.needles import PyNeedles

# bytes that make the cases: ASCII letters both ways, a byte that lower() must not touch (0xC4, the
# first of U+0130 İ), and the characters the iiko prefilter adds (İ and the Kelvin sign, UTF-8)
ALPHABET = [b"a", b"A", b"s", b"S", b"p", b"P", b"_", b'"', b"\xc4", b"\xb0", "\u212a".encode(), b"k"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=40).map(b"".join)
names = st.lists(texts.map(bytes.lower), max_size=5)


def _rust(names: list[bytes]):
    assert RUST is not None, "decoders._core is not built: pip install -e . needs cargo on PATH"
    return RUST.Needles(names)


@settings(max_examples=2000, deadline=None)
@given(names, texts)
def test_the_core_finds_what_the_reference_finds(names: list[bytes], text: bytes) -> None:
    assert _rust(names).found_in(text) == PyNeedles(names).found_in(text)


def test_on_the_committed_captures_bodies_as_redaction_and_the_iiko_layer_ask() -> None:
    """Every committed file's bytes, in slices, against the names redaction and the prefilter use."""
    from decoders.iiko import default_rules_text, load_rules
    from decoders.iiko_recognise import Recogniser
    from decoders.needles import LOWER_TO_ASCII
    from wirecap.redact import SUSPECT_NAMES

    iiko = Recogniser(load_rules([default_rules_text()])).text_names
    assert iiko is not None
    name_sets = [list(SUSPECT_NAMES), [*iiko, *LOWER_TO_ASCII]]
    compiled = [(_rust(ns), PyNeedles(ns)) for ns in name_sets]
    captures = sorted((Path(__file__).resolve().parents[1] / "captures").glob("*.pcap"))
    answers = set()
    for capture in captures:
        data = capture.read_bytes()
        for at in range(0, len(data), 997):
            piece = data[at : at + 1500]
            for rust, reference in compiled:
                answer = reference.found_in(piece)
                assert rust.found_in(piece) == answer, (capture.name, at)
                answers.add(answer)
    assert answers == {True, False}


@pytest.mark.parametrize("make", [PyNeedles, _rust], ids=["python", "rust"])
def test_an_upper_case_name_is_refused(make) -> None:
    with pytest.raises(ValueError, match="upper-case"):
        make([b"ok", b"Pass"])
