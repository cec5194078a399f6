"""The options every command that reads captures shares, as tcpdump and tshark users know them.

``capture_options`` adds to a command: the inputs (``PCAP...``; ``-`` is a pcap stream on stdin),
``-r FILE`` (repeatable; then the arguments are a filter expression, as tcpdump takes it),
``-f/--filter BPF``, ``-c/--count N``, ``--since/--until TIME`` and ``--read-ahead/--no-read-ahead``,
and hands the command one checked ``CaptureArgs`` as ``capture``.
"""

import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from .pipeline import Options
from .runner import CaptureArgs
from .source import check_filter


def parse_time(text: str, option: str = "--at") -> int:
    """ISO-8601 (``2026-11-29T12:00:00Z``, ``2026-11-29 15:00+03:00``; no zone means UTC) → ns."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {text!r}", param_hint=option) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def check_input(path: str) -> None:
    """A usage error naming what is wrong with an input path (``-`` is stdin)."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise click.BadParameter(f"{path}: is a directory", param_hint="PCAP")
    if not os.path.exists(path):
        raise click.BadParameter(f"{path}: no such file", param_hint="PCAP")
    if not os.access(path, os.R_OK):
        raise click.BadParameter(f"{path}: permission denied", param_hint="PCAP")


def capture_args(
    inputs: tuple[str, ...],
    read_files: tuple[str, ...],
    bpf: str | None,
    count: int | None,
    since: str | None,
    until: str | None,
    read_ahead: bool | None,
) -> CaptureArgs:
    if read_files:  # tcpdump: -r FILE, and the arguments are the filter expression
        if inputs and bpf:
            raise click.UsageError("a filter both in -f and after the options: give one")
        files, bpf = read_files, bpf or (" ".join(inputs) if inputs else None)
    else:
        files = inputs
    if not files:
        raise click.UsageError("no input: name a capture file, - for stdin, or -r FILE")
    if files.count("-") > 1:
        raise click.UsageError("stdin (-) can be read only once")
    for path in files:
        check_input(path)
    if bpf is not None:
        try:
            check_filter(bpf)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="'-f' / '--filter'") from None
    start = parse_time(since, "--since") if since else None
    end = parse_time(until, "--until") if until else None
    if start is not None and end is not None and end < start:
        raise click.BadParameter("--until is before --since", param_hint="--until")
    return CaptureArgs(files, bpf, count, start, end, read_ahead)


def capture_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The inputs and reading options; the command receives ``capture: CaptureArgs``."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        inputs: tuple[str, ...],
        read_files: tuple[str, ...],
        bpf: str | None,
        count: int | None,
        since: str | None,
        until: str | None,
        read_ahead: bool | None,
        **kwargs: Any,
    ) -> Any:
        capture = capture_args(inputs, read_files, bpf, count, since, until, read_ahead)
        return command(*args, capture=capture, **kwargs)

    decorators = [
        click.argument("inputs", nargs=-1, metavar="PCAP... | -r FILE [EXPRESSION]"),
        click.option(
            "-r",
            "--read",
            "read_files",
            multiple=True,
            metavar="FILE",
            help="Read this capture (repeatable); the arguments are then a filter expression, as in tcpdump.",
        ),
        click.option("-f", "--filter", "bpf", metavar="BPF", help="libpcap filter expression applied while reading."),
        click.option(
            "-c", "--count", type=click.IntRange(min=1), metavar="N", help="Stop after N packets (after the filter)."
        ),
        click.option("--since", metavar="TIME", help="Skip packets before this time (ISO-8601; no zone: UTC)."),
        click.option("--until", metavar="TIME", help="Stop at the first packet after this time (ISO-8601)."),
        click.option(
            "--read-ahead/--no-read-ahead",
            default=None,
            help="Read files in a second process while decoding [default: on with more than one CPU].",
        ),
    ]
    for decorate in reversed(decorators):
        wrapper = decorate(wrapper)
    return wrapper


def idle_timeout_option(clock: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--idle-timeout``, the pipeline's own default; ``clock`` says whose seconds (capture time, wall time)."""
    return click.option(
        "--idle-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=Options.idle_timeout,
        show_default=True,
        help=f"Close a connection after this many seconds{clock} without packets.",
    )


def output_option(detail: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-o/--output FILE``; ``-`` is stdout, as for tcpdump's ``-w -`` (else a file named ``-`` appears)."""
    return click.option(
        "-o",
        "--output",
        metavar="FILE",
        callback=lambda _ctx, _param, value: None if value == "-" else value,
        help=f"Write events here{detail}, not stdout ('-': stdout).",
    )
