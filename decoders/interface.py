"""The decoder interface: what a connection's decoder offers the pipeline, and the options it honours.

Its own module so that decoders (``nmf``, ``http``) and the registry that lists them
(``decoders.detect``) all import it without importing each other. ``Undecoded`` is the fallback every
connection gets when no protocol is detected; ``Accounting`` is re-exported because the interface
returns it.
"""

from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from .accounting import Accounting
from .events import ConnFields, Direction, Event

__all__ = ["UNDECODED", "Accounting", "Decoder", "DecoderOptions", "Undecoded"]


class Decoder(TypingProtocol):
    """A connection's decoder: owns both directions (like a Zeek analyzer with two flows)."""

    name: str
    wants_data: bool  # False: the pipeline may skip copying payload (counting only)

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        """In-order stream bytes of one direction, stamped with the packet that completed them."""
        ...

    def gap(self, direction: Direction, length: int, ts: int) -> list[Event]:
        """``length`` bytes of ``direction`` were lost; resynchronise if the format allows."""
        ...

    def eof(self, direction: Direction, ts: int) -> list[Event]:
        """No more bytes will come in ``direction``."""
        ...

    def accounting(self, direction: Direction) -> Accounting:
        """Bytes of ``direction`` decoded and skipped so far (after ``eof``: all of them)."""
        ...


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    """Settings the user chose that decoders honour (one instance for the whole run)."""

    xml: bool = False  # also emit each SOAP envelope as XML text (wcf.message.xml)
    keep_secrets: bool = False  # credentials as seen on the wire (--keep-secrets), not redacted
    # limits (wirecap.limits lists them with their CLI names); each exceeded one is an anomaly naming it
    max_envelope: int = 64 << 20  # envelope_size: bytes of one [MC-NMF] envelope
    max_http_body: int = 16 << 20  # body_size: bytes of one HTTP body, on the wire and decoded
    max_depth: int = 100  # nesting_depth: open elements in one XML document (binary or text)
    max_elements: int = 1 << 20  # elements: elements (array items included) in one XML document
    max_session_bytes: int = 4 << 20  # session_dictionary_size: [MC-NBFSE] string bytes per direction
    max_decompressed: int = 64 << 20  # decompressed_size: output of one gzip/deflate payload
    max_ratio: int = 500  # decompression_ratio: output bytes per compressed byte (beyond 1 MiB of output)


class Undecoded:
    """The fallback: decodes nothing. It asks for no bytes; the reassembler counts them (conn.close)."""

    name = "undecoded"
    wants_data = False

    def __init__(self, conn: ConnFields, options: DecoderOptions) -> None:
        pass

    def feed(self, direction: Direction, data: bytes, ts: int) -> list[Event]:
        return []

    def gap(self, direction: Direction, length: int, ts: int) -> list[Event]:
        return []

    def eof(self, direction: Direction, ts: int) -> list[Event]:
        return []

    def accounting(self, direction: Direction) -> Accounting:
        return UNDECODED


UNDECODED = Accounting(rest="undecoded")
