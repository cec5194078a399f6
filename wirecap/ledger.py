"""Nothing lost silently: what became of every byte of a connection, for its ``conn.close``.

Per direction, the reassembler knows the stream's bytes (``bytes`` delivered in order, ``gap_bytes``
missing); the decoder says how many it decoded and which it skipped, for which reason
(``Decoder.accounting``). Together they must cover the stream:

    decoded + sum(skipped.values()) == bytes        (and gap_bytes are the missing ones)

Bytes a decoder was never handed (it stopped wanting data, or is the counting fallback) are skipped
for the reason it names (``Accounting.rest``: ``foreign``, ``undecoded``, ``decoder_error``). Should a
decoder's figures not add up (a wirecap bug), the difference is ``unaccounted`` and an anomaly says so.

``service`` is the decoder that decoded something (at least one framed record or message), or a
protocol recognised by its probe that wirecap only names (Remoting). A protocol assumed from the port
whose decoder found no framing is only ``service_guess``; a connection with bytes and no service gets
the ``conn_undecoded`` anomaly.
"""

from decoders.events import Anomaly, ConnFields, Direction, DirectionStats
from decoders.interface import Accounting, Decoder, Undecoded

from .reassembly import HalfStream

UNACCOUNTED = "unaccounted"


def failed_accounting(decoder: Decoder) -> dict[Direction, Accounting]:
    """A decoder that raised: its figures so far, the rest of the bytes skipped as ``decoder_error``."""
    out: dict[Direction, Accounting] = {}
    for direction in ("orig", "resp"):
        try:
            account = decoder.accounting(direction)  # type: ignore[arg-type]
        except Exception:  # its state may be what broke
            account = Accounting()
        out[direction] = Accounting(account.decoded, dict(account.skipped), "decoder_error")  # type: ignore[index]
    return out


def direction_stats(half: HalfStream, account: Accounting) -> tuple[DirectionStats, int]:
    """A direction's stats with its accounting completed, and the bytes that were unaccounted for."""
    skipped = {reason: n for reason, n in account.skipped.items() if n}
    rest = half.delivered - account.decoded - sum(skipped.values())
    unaccounted = 0
    if rest > 0 and account.rest is not None:
        skipped[account.rest] = skipped.get(account.rest, 0) + rest
    elif rest:
        unaccounted = rest
        if rest > 0:
            skipped[UNACCOUNTED] = rest
    stats = DirectionStats(
        bytes=half.delivered,
        packets=half.packets,
        gaps=half.gaps,
        gap_bytes=half.gap_bytes,
        decoded=account.decoded,
        skipped=dict(sorted(skipped.items())),
    )
    return stats, unaccounted


def close_stats(
    fields: ConnFields,
    halves: tuple[HalfStream, HalfStream],
    decoder: Decoder,
    failed: dict[Direction, Accounting] | None,
    service: str | None,
    probed: bool,
    ts: int,
) -> tuple[list[DirectionStats], str | None, str | None, list[Anomaly]]:
    """(orig and resp stats, service, service_guess, anomalies) for a connection's ``conn.close``."""
    stats: list[DirectionStats] = []
    anomalies: list[Anomaly] = []
    for half in halves:
        direction = half.direction
        account = failed[direction] if failed is not None else decoder.accounting(direction)
        stat, unaccounted = direction_stats(half, account)
        stats.append(stat)
        if unaccounted:
            figures = f"decoded {account.decoded} and skipped {dict(account.skipped)}"
            detail = f"{service}: {figures} of {half.delivered} bytes"
            anomalies.append(
                Anomaly(ts=ts, name="bytes_unaccounted", detail=detail, source="wirecap", dir=direction, **fields)
            )
    decoded = sum(stat.decoded for stat in stats)
    named_only = failed is None and isinstance(decoder, Undecoded) and probed  # recognised, not decoded
    confirmed = service if decoded or named_only else None
    guess = None if confirmed else service
    total = sum(stat.bytes for stat in stats)
    if confirmed is None and total and failed is None:  # a failed decoder has said so (decoder_error)
        tried = f"{guess} found no framing" if guess else "no protocol recognised"
        detail = f"{total} bytes, none decoded ({tried})"
        anomalies.append(Anomaly(ts=ts, name="conn_undecoded", detail=detail, source="wirecap", **fields))
    return stats, confirmed, guess, anomalies
