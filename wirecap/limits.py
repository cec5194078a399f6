"""Every resource limit wirecap enforces, in one table: name, meaning, the ``Options`` field it sets.

Defaults are not repeated here: they are the defaults of the field each limit sets (``Options`` in
``wirecap.pipeline``, ``DecoderOptions`` in ``decoders.detect``), so the table cannot drift from the
code. A limit exceeded is an anomaly whose detail names the limit. On the command line every decoding
command takes ``--limit NAME=VALUE`` (repeatable; sizes as ``16MiB``, ``64k``, ``2GB``), and
``wirecap limits`` prints this table.
"""

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from decoders.interface import DecoderOptions

from .pipeline import Options


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    field: str  # "Options.<field>" or "DecoderOptions.<field>"
    unit: str  # "bytes", "count" or "ratio"
    meaning: str
    anomalies: tuple[str, ...]  # what exceeding it emits
    maximum: int | None = None  # largest value accepted (None: any)

    @property
    def default(self) -> int | None:
        """The field's default; None if this build's options have no such field."""
        owner, attr = self.field.split(".")
        instance = Options() if owner == "Options" else DecoderOptions()
        return getattr(instance, attr, None)


LIMITS: tuple[Limit, ...] = (
    Limit(
        "envelope_size",
        "DecoderOptions.max_envelope",
        "bytes",
        "one [MC-NMF] envelope (a WCF message) or [MS-NRTP] frame content (a Remoting message); larger ones "
        "are skipped, their bytes counted",
        ("nmf_envelope_too_large", "nrtp_content_too_large"),
    ),
    Limit(
        "body_size",
        "DecoderOptions.max_http_body",
        "bytes",
        "one HTTP body kept, on the wire and decoded; only the size of a larger one is reported",
        ("http_body_too_large",),
    ),
    Limit(
        "nesting_depth",
        "DecoderOptions.max_depth",
        "count",
        "open elements in one XML document, binary or text, or nested objects in one [MS-NRBF] graph (at "
        "most 120: its JSON nests up to twice as deep, and pydantic's JSON writer stops at 254 levels)",
        ("nbfx_too_deep", "soap_too_deep", "nrbf_too_deep"),
        maximum=120,
    ),
    Limit(
        "elements",
        "DecoderOptions.max_elements",
        "count",
        "elements in one XML document, binary array items included; values in one [MS-NRBF] stream",
        ("nbfx_too_many_elements", "soap_too_many_elements", "nrbf_too_many_objects"),
    ),
    Limit(
        "session_dictionary_size",
        "DecoderOptions.max_session_bytes",
        "bytes",
        "[MC-NBFSE] session strings kept per connection direction",
        ("nbfx_session_too_large",),
    ),
    Limit(
        "decompressed_size",
        "DecoderOptions.max_decompressed",
        "bytes",
        "output of one gzip/deflate payload (NMF compressed encodings, HTTP content codings)",
        ("nmf_envelope_too_large", "http_body_too_large"),
    ),
    Limit(
        "decompression_ratio",
        "DecoderOptions.max_ratio",
        "ratio",
        "inflated bytes per compressed byte, checked past 1 MiB of output (compression bombs)",
        ("nmf_decompression_ratio", "http_decompression_ratio"),
    ),
    Limit(
        "ooo_per_conn",
        "Options.max_ooo_per_conn",
        "bytes",
        "TCP bytes buffered out of order in one connection; past it the hole becomes a gap",
        ("tcp_ooo_limit",),
    ),
    Limit(
        "ooo_total",
        "Options.max_ooo_total",
        "bytes",
        "TCP bytes buffered out of order in all connections together",
        ("tcp_ooo_limit",),
    ),
    Limit(
        "connections",
        "Options.max_connections",
        "count",
        "connections tracked at once; past it the oldest idle one is closed",
        (),
    ),
)
BY_NAME = {limit.name: limit for limit in LIMITS}

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_value(limit: Limit, text: str) -> int:
    """A limit's value: a whole number; sizes may carry k/M/G/T (1000s) or KiB/MiB/GiB/TiB (1024s)."""
    match = _SIZE.match(text)
    if match is None or (limit.unit != "bytes" and (match.group(2) or match.group(3))):
        raise ValueError(f"{limit.name}: {text!r} is not a {'size' if limit.unit == 'bytes' else 'whole number'}")
    digits, prefix, binary = match.groups()
    power = "kmgt".index(prefix.lower()) + 1 if prefix else 0
    value = int(digits) * (1024 if binary else 1000) ** power
    if value < 1:
        raise ValueError(f"{limit.name}: must be at least 1")
    if limit.maximum is not None and value > limit.maximum:
        raise ValueError(f"{limit.name}: at most {limit.maximum}")
    return value


def parse_assignments(texts: tuple[str, ...]) -> dict[str, int]:
    """``NAME=VALUE`` strings as {limit name: value}; ValueError naming what is wrong."""
    values: dict[str, int] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        limit = BY_NAME.get(name.strip())
        if not sep or limit is None:
            raise ValueError(f"{text!r}: expected NAME=VALUE with NAME one of {', '.join(BY_NAME)}")
        if limit.default is None:
            raise ValueError(f"{limit.name}: not available in this build ({limit.field} missing)")
        values[limit.name] = parse_value(limit, value)
    return values


def apply(options: Options, values: dict[str, int]) -> Options:
    """``options`` with the limits in ``values`` set (its decoder options included)."""
    top: dict[str, Any] = {}
    decoder: dict[str, Any] = {}
    for name, value in values.items():
        owner, attr = BY_NAME[name].field.split(".")
        (top if owner == "Options" else decoder)[attr] = value
    if decoder:
        top["decoder"] = dataclasses.replace(options.decoder, **decoder)
    return dataclasses.replace(options, **top)


_META_KEY = "wirecap.limits"


def _convert(ctx: click.Context, param: click.Parameter, texts: tuple[str, ...]) -> None:
    try:
        ctx.meta[_META_KEY] = parse_assignments(texts)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


def limit_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--limit NAME=VALUE`` (repeatable). The command does not take it as an argument: it passes its
    ``Options`` through ``with_limits``, so adding the option to a command is one line."""
    return click.option(
        "--limit",
        "limits",
        multiple=True,
        metavar="NAME=VALUE",
        callback=_convert,
        expose_value=False,
        help="Change a resource limit (repeatable; sizes like 16MiB); `wirecap limits` lists them.",
    )(command)


def with_limits(options: Options) -> Options:
    """``options`` with the running command's ``--limit`` values applied (unchanged outside a command)."""
    ctx = click.get_current_context(silent=True)
    values = ctx.meta.get(_META_KEY) if ctx is not None else None
    return apply(options, values) if values else options


def _shown(limit: Limit) -> str:
    value = limit.default
    if value is None:
        return "-"
    if limit.unit == "bytes":
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= size and value % size == 0:
                return f"{value // size}{unit}"
    return str(value)


@click.command(name="limits")
def limits_command() -> None:
    """List the resource limits: name, default, meaning (change one with --limit NAME=VALUE)."""
    width = max(len(limit.name) for limit in LIMITS)
    for limit in LIMITS:
        anomalies = f" [{', '.join(limit.anomalies)}]" if limit.anomalies else ""
        click.echo(f"{limit.name:<{width}}  {_shown(limit):>8}  {limit.meaning}{anomalies}")
