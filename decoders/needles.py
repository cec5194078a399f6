"""Whether a text holds any of a few names, ASCII letters compared without case: what redaction and the
iiko layer's prefilter ask of every body before parsing it.

The reference searches ``data.lower()`` name by name (a 1.2 MB body, ten names: 12 ms here); the
compiled core (``_core.Needles``) lower-cases the text a chunk at a time and searches each chunk for all
names at once. Names must be lower case, since an upper-case name never occurs in lower-cased text; both
refuse one. tests/test_needles.py runs both.
"""

from collections.abc import Iterable
from typing import Protocol

from .core import RUST

# The characters whose lower case holds an ASCII letter (İ, the Kelvin sign), UTF-8 encoded: a text that
# holds none of the names (ASCII letters compared without case) may still hold one once ``str.lower`` has
# read it, if it holds one of these; tests check that Unicode has no other.
LOWER_TO_ASCII = ("\u0130".encode(), "\u212a".encode())


class Needles(Protocol):
    def found_in(self, text: bytes, /) -> bool: ...


class PyNeedles:
    """The reference: the text lower-cased (``bytes.lower``: ASCII letters only), then each name."""

    def __init__(self, names: Iterable[bytes]) -> None:
        self.names = tuple(names)
        for at, name in enumerate(self.names):
            if name != name.lower():
                raise ValueError(f"name {at} has an upper-case letter: names are matched against lower-cased text")

    def found_in(self, text: bytes, /) -> bool:
        return any(map(text.lower().__contains__, self.names))


def needles(names: Iterable[bytes]) -> Needles:
    """The names compiled by the core in use."""
    names = list(names)
    return RUST.Needles(names) if RUST is not None else PyNeedles(names)
