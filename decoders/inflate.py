"""The one capped inflater: gzip / zlib / raw deflate (RFC 1950–1952) with a size and a ratio limit.

Used by NMF's compressed binary encodings ([MC-NMF] content types ``…+gzip`` / ``…+deflate``) and by HTTP
content codings (RFC 9110 8.4.1). Output is produced in steps of ``STEP`` bytes, so a bomb is refused
after at most one step past its limit, never inflated whole: the size limit caps what is kept, the
ratio limit (output over input consumed so far, checked once the output passes ``RATIO_FLOOR``) stops
a small input that expands enormously long before that. The caller names the anomalies, so each
protocol keeps its own (``nmf_*`` / ``http_*``).
"""

import zlib

from .anomalies import DecodeError

GZIP = 16 + zlib.MAX_WBITS
ZLIB = zlib.MAX_WBITS
RAW_DEFLATE = -zlib.MAX_WBITS
STEP = 1 << 20  # bytes of output per step
RATIO_FLOOR = 1 << 20  # outputs below this are never refused for their ratio (small messages compress well)


def inflate(
    data: bytes,
    wbits: int,
    *,
    max_size: int,
    max_ratio: int,
    too_large: str,
    too_dense: str,
    failed: str,
    what: str = "payload",
    size_limit: str = "decompressed_size",
) -> bytes:
    """``data`` inflated (``wbits`` as zlib takes it). Raises DecodeError ``too_large`` past ``max_size``
    output bytes (``size_limit`` names that limit in the detail), ``too_dense`` past ``max_ratio`` output bytes
    per input byte, ``failed`` on bad data."""
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    try:
        while True:
            out += inflater.decompress(pending, min(STEP, max_size + 1 - len(out)))
            pending = inflater.unconsumed_tail
            if len(out) > max_size:
                raise DecodeError(too_large, f"{what} inflates past {max_size} bytes (limit {size_limit})")
            consumed = len(data) - len(pending)
            if len(out) > RATIO_FLOOR and len(out) > max_ratio * max(consumed, 1):
                detail = f"{what}: {consumed} bytes inflate to over {len(out)} (limit decompression_ratio {max_ratio})"
                raise DecodeError(too_dense, detail)
            if inflater.eof or not pending:
                break
        out += inflater.flush()
    except zlib.error as err:
        raise DecodeError(failed, f"{what} does not inflate: {err}") from None
    if len(out) > max_size:
        raise DecodeError(too_large, f"{what} inflates past {max_size} bytes (limit {size_limit})")
    return bytes(out)
