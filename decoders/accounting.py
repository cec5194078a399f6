"""Byte accounting: what a decoder did with every byte of a direction it was given.

A decoder counts a byte as **decoded** when it belongs to a framed record or message it understood
(framing included), or as **skipped** for one of the reasons below, at the place where it lets the
byte go. Bytes lost before the decoder (TCP gaps) are the reassembler's to count (``gap_bytes``).
``wirecap.ledger`` checks, for every connection, that decoded + skipped == the bytes delivered.

Encrypted bytes after an [MC-NMF] upgrade are **skipped** (``encrypted``), not decoded: wirecap reads
their [MS-NNS]/TLS frame headers to count frames, but none of their content. The [MS-NNS] handshake
messages before them are decoded (their tokens become ``nns.auth`` events).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_REASONS: dict[str, str] = {
    "resync": "Slid over while searching for the next message boundary (a capture that starts "
    "mid-session, after a gap or after bad framing).",
    "no_framing": "Segments of a direction that never showed framing and did not start like a message.",
    "foreign": "Bytes of a connection its decoder gave up on (not the assumed protocol): no longer read.",
    "encrypted": "The secured stream after an [MC-NMF] upgrade ([MS-NNS] data messages or TLS records): counted, "
    "frame headers read, content not decrypted.",
    "too_large": "A message over a size limit: its bytes were counted, not kept.",
    "undecodable": "A message whose framing was read but whose content did not decode (an anomaly says why).",
    "cut_by_gap": "The part of a record or message received before a TCP gap cut it.",
    "truncated": "A record or message the direction ended inside of.",
    "rejected": "Bytes the protocol parser refused (an anomaly says why) and did not resynchronise on.",
    "unexpected": "HTTP response bytes that arrived while no request awaited a response.",
    "undecoded": "A connection no decoder took (no protocol recognised, or one wirecap only names).",
    "decoder_error": "Bytes after a decoder failed with an internal error (a wirecap bug).",
    "unaccounted": "A decoder's figures did not add up to the delivered bytes (a wirecap bug; an anomaly says so).",
}
REASONS: Mapping[str, str] = MappingProxyType(_REASONS)


@dataclass(frozen=True, slots=True)
class Accounting:
    """A decoder's figures for one direction (``Decoder.accounting``).

    ``rest`` names the reason for bytes it was never handed (it stopped wanting data, or never
    wanted any): the pipeline counts those as skipped for that reason. None: it saw every byte.
    """

    decoded: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    rest: str | None = None


class Ledger:
    """The running figures of one direction, kept by a decoder."""

    __slots__ = ("decoded", "skipped")

    def __init__(self) -> None:
        self.decoded = 0
        self.skipped: dict[str, int] = {}

    def skip(self, reason: str, n: int) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def undo(self, reason: str, n: int) -> None:
        """``n`` bytes counted as decoded turned out not to be (a message cut or undecodable)."""
        self.decoded -= n
        self.skip(reason, n)

    def reclaim(self, reason: str, n: int) -> None:
        """``n`` bytes counted as skipped for ``reason`` turned out to be decoded (a frame completed later)."""
        if n:
            left = self.skipped[reason] - n
            if left:
                self.skipped[reason] = left
            else:
                del self.skipped[reason]
            self.decoded += n

    def accounting(self, rest: str | None = None) -> Accounting:
        return Accounting(self.decoded, dict(self.skipped), rest)
