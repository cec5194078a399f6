"""Typed [MC-NBFX] text values rendered as .NET prints them (``XmlConverter`` / ``XmlConvert``).

Split out of ``decoders.nbfx``, whose text records call these; each function cites the .NET behaviour
it follows.
"""

import datetime
import struct

from .anomalies import DecodeError

INF = float("inf")
F32 = struct.Struct("<f")
_DECIMAL = struct.Struct("<HBBIQ")


def format_decimal(raw: bytes) -> str:
    """[MC-NBFX] DecimalText = [MS-OAUT] 2.2.26 DECIMAL: wReserved, scale, sign, Hi32, Lo64.

    .NET prints decimal with format "G" (XmlConverter.ToChars(decimal)), which keeps the scale:
    1.50m -> "1.50", never scientific. A zero with the sign bit prints without '-' (choice).
    """
    reserved, scale, sign, hi32, lo64 = _DECIMAL.unpack(raw)
    if reserved or scale > 28 or sign not in (0, 0x80):
        raise DecodeError("nbfx_bad_value", f"invalid decimal (scale {scale}, sign 0x{sign:02x})")
    digits = str((hi32 << 64) | lo64)
    if scale:
        digits = digits.rjust(scale + 1, "0")
        digits = f"{digits[:-scale]}.{digits[-scale:]}"
    return "-" + digits if sign and (hi32 or lo64) else digits


def _format_general(digits: str, scale: int, negative: bool, max_digits: int) -> str:
    """.NET's "G" layout of 0.<digits> x 10^scale: scientific when scale > max_digits or < -3,
    exponent as E+XX / E-XX with at least two digits (Number.Formatting FormatGeneral)."""
    if scale > max_digits or scale < -3:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exponent = scale - 1
        s = f"{mantissa}E{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    elif scale <= 0:
        s = "0." + "0" * -scale + digits
    elif scale >= len(digits):
        s = digits + "0" * (scale - len(digits))
    else:
        s = f"{digits[:scale]}.{digits[scale:]}"
    return "-" + s if negative else s


def _significant(value: float, precision: int) -> tuple[str, str, int]:
    """(formatted, digits without trailing zeros, scale) of |value| rounded to ``precision`` digits."""
    formatted = f"{abs(value):.{precision - 1}e}"
    mantissa, exponent = formatted.split("e")
    return formatted, mantissa.replace(".", "").rstrip("0") or "0", int(exponent) + 1


def _float_special(value: float) -> str | None:
    """XmlConverter.ToChars(double/float): INF, -INF, NaN, and "-0" for negative zero."""
    if value != value:
        return "NaN"
    if value in (INF, -INF):
        return "INF" if value > 0 else "-INF"
    if value == 0.0:
        return "-0" if str(value).startswith("-") else "0"
    return None


def format_double(value: float) -> str:
    """Double as .NET Framework's ``ToString("R")`` (what iiko's .NET 4.x peers print): the 15-digit
    form if it parses back to the same double, else 17 digits; "G" layout with that many digits."""
    special = _float_special(value)
    if special is not None:
        return special
    formatted, digits, scale = _significant(value, 15)
    precision = 15
    if float(formatted) != abs(value):
        _formatted, digits, scale = _significant(value, 17)
        precision = 17
    return _format_general(digits, scale, value < 0, precision)


def format_float(value: float) -> str:
    """Single as .NET Framework's ``ToString("R")``: 7 digits if they round-trip to the same single,
    else 9."""
    special = _float_special(value)
    if special is not None:
        return special
    formatted, digits, scale = _significant(value, 7)
    precision = 7
    try:
        round_trips = F32.unpack(F32.pack(float(formatted)))[0] == abs(value)
    except OverflowError:  # rounding up past the largest single
        round_trips = False
    if not round_trips:
        _formatted, digits, scale = _significant(value, 9)
        precision = 9
    return _format_general(digits, scale, value < 0, precision)


_TICKS_PER_SECOND = 10_000_000
_TICKS_PER_DAY = 86_400 * _TICKS_PER_SECOND
_MAX_TICKS = 3_155_378_975_999_999_999  # DateTime.MaxValue.Ticks
_TICKS_CEILING = 1 << 62
_DATE_KIND_SUFFIX = ("", "Z", "+00:00")


def format_datetime(raw: int) -> str:
    """[MC-NBFX] DateTimeText: 62-bit ticks + 2-bit kind (0 unspecified, 1 UTC, 2 local), i.e.
    DateTime.ToBinary(). XmlConverter.ToChars(DateTime) writes yyyy-MM-ddTHH:mm:ss, then '.' and up to
    seven fraction digits with trailing zeros cut (none if zero), then "Z" (UTC), nothing
    (unspecified) or the local offset.

    Local kind: ToBinary stores the *UTC* ticks, and DateTime.FromBinary converts them into the
    decoding machine's zone, so .NET's text depends on where it runs. We render the same instant as a
    machine on UTC does: UTC wall time with "+00:00" — never a wrong instant, and the suffix still
    tells local (+00:00) from UTC (Z) kind.
    """
    kind = raw >> 62
    ticks = raw & (_TICKS_CEILING - 1)
    if kind == 2:  # DateTime.FromBinary: negative UTC ticks are stored near the ceiling
        if ticks > _TICKS_CEILING - _TICKS_PER_DAY:
            ticks -= _TICKS_CEILING
        if ticks < 0:
            ticks += _TICKS_PER_DAY
    if kind == 3 or ticks > _MAX_TICKS:
        raise DecodeError("nbfx_bad_value", f"DateTime out of range (kind {kind}, ticks {ticks})")
    days, rest = divmod(ticks, _TICKS_PER_DAY)
    seconds, fraction = divmod(rest, _TICKS_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{datetime.date.fromordinal(days + 1).isoformat()}T{hours:02d}:{minutes:02d}:{seconds:02d}"
    if fraction:
        text += "." + f"{fraction:07d}".rstrip("0")
    return text + _DATE_KIND_SUFFIX[kind]


def format_timespan(ticks: int) -> str:
    """XmlConvert.ToString(TimeSpan) = XsdDuration(...).ToString(): [-]P[nD][T[nH][nM][s[.fffffff]S]],
    fraction from 100 ns ticks with trailing zeros cut, zero as "PT0S"."""
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    days, rest = divmod(ticks, _TICKS_PER_DAY)
    seconds, fraction = divmod(rest, _TICKS_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = sign + "P"
    if days:
        text += f"{days}D"
    if hours or minutes or seconds or fraction:
        text += "T"
        if hours:
            text += f"{hours}H"
        if minutes:
            text += f"{minutes}M"
        if seconds or fraction:
            text += str(seconds)
            if fraction:
                text += "." + f"{fraction:07d}".rstrip("0")
            text += "S"
    return text if text[-1] != "P" else text + "T0S"


def format_guid(raw: bytes) -> str:
    """Guid.ToString(): 16 bytes in .NET order (first three fields little-endian), lower-case "D"."""
    h = (raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:16]).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
