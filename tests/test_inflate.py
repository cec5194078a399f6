"""decoders.inflate: the capped inflater NMF and HTTP share."""

import gzip
import zlib

import pytest

from decoders.anomalies import DecodeError
from decoders.inflate import GZIP, RATIO_FLOOR, RAW_DEFLATE, ZLIB, inflate

NAMES = {"too_large": "x_too_large", "too_dense": "x_ratio", "failed": "x_failed"}
TEXT = b"<Order><Item>1</Item></Order>" * 1000


def _raw(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, RAW_DEFLATE)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("packed", "wbits"), [(gzip.compress(TEXT), GZIP), (zlib.compress(TEXT), ZLIB), (_raw(TEXT), RAW_DEFLATE)]
)
def test_round_trip(packed: bytes, wbits: int) -> None:
    assert inflate(packed, wbits, max_size=len(TEXT), max_ratio=1000, **NAMES) == TEXT


def test_size_limit_names_the_limit() -> None:
    with pytest.raises(DecodeError) as exc:
        inflate(gzip.compress(TEXT), GZIP, max_size=len(TEXT) - 1, max_ratio=10**6, **NAMES, size_limit="body_size")
    assert exc.value.name == "x_too_large" and "limit body_size" in exc.value.detail


def test_ratio_is_judged_only_past_the_floor() -> None:
    small = bytes(RATIO_FLOOR)  # compresses about 1000:1, but is not large enough to be refused
    assert inflate(gzip.compress(small), GZIP, max_size=1 << 30, max_ratio=10, **NAMES) == small
    with pytest.raises(DecodeError) as exc:
        inflate(gzip.compress(bytes(8 * RATIO_FLOOR)), GZIP, max_size=1 << 30, max_ratio=10, **NAMES)
    assert exc.value.name == "x_ratio" and "decompression_ratio 10" in exc.value.detail


@pytest.mark.parametrize("packed", [b"not compressed", gzip.compress(TEXT)[:5] + b"\xff" * 40])
def test_bad_data(packed: bytes) -> None:
    with pytest.raises(DecodeError) as exc:
        inflate(packed, GZIP, max_size=1 << 20, max_ratio=1000, **NAMES)
    assert exc.value.name == "x_failed"


def test_truncated_stream_gives_what_is_there() -> None:
    packed = zlib.compress(TEXT)
    out = inflate(packed[: len(packed) // 2], ZLIB, max_size=1 << 20, max_ratio=1000, **NAMES)
    assert TEXT.startswith(out) and 0 < len(out) < len(TEXT)
