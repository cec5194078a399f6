"""Events for a person at a terminal: one coloured line each — time, kind, connection, the gist.

``wirecap replay`` writes these when stdout is a terminal and no ``-o`` or ``--json`` is given; JSON
Lines otherwise. The line says what an analyst looks for first (the action, the order number and
table, the sums, the reply's latency); ``--json`` has everything.
"""

import os
from collections.abc import Callable
from decimal import Decimal
from typing import IO, Any

import click

from decoders.events import (
    Anomaly,
    CaptureStats,
    ConnClose,
    ConnOpen,
    Event,
    NmfEnd,
    NmfFault,
    NmfPreamble,
    NmfUpgrade,
    RemotingMessage,
    RmsCall,
    TcpGap,
    WcfFault,
    WcfMessage,
    format_ts,
)
from decoders.iiko_events import IikoEvent, IikoItem, IikoLockChange, IikoOrder, IikoOrderSnapshot

from .sink import Analyzer, JsonlSink

COLOURS = {
    "conn": "green",
    "tcp": "yellow",
    "anomaly": "red",
    "nmf": "blue",
    "wcf": "cyan",
    "rms": "blue",
    "remoting": "cyan",
}
KIND_WIDTH = 19  # the longest kind, iiko.order_snapshot


def _short(uri: str | None) -> str:
    """The last part of an action URI: ``http://tempuri.org/IMainCash/Register`` → ``IMainCash/Register``."""
    if not uri:
        return "?"
    parts = uri.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else uri


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _order(order: IikoOrder) -> str:
    parts = [f"order {order.number or order.id or '?'}"]
    if order.table:
        parts.append(f"table {order.table}")
    if order.waiter:
        parts.append(order.waiter)
    if order.sum is not None:
        parts.append(f"sum {_money(order.sum)}")
    return ", ".join(parts)


def _items(items: list[IikoItem]) -> str:
    return ", ".join(f"{i.product or i.product_id or '?'} ×{i.amount:g}" if i.amount else str(i.product) for i in items)


def _remoting(event: RemotingMessage) -> str:
    """``request SaveOrder, 1,371 B`` / ``reply DeleteOrder: threw System.InvalidOperationException, 95 B
    (reply to #7, 2 ms)``"""
    text = f"{event.operation.replace('_', '-')} {event.method or '?'}"
    if isinstance(event.exception, dict):
        text += f": threw {event.exception.get('ClassName') or event.exception.get('@type')}"
    text += f", {event.size:,} B" + (" SOAP" if event.soap is not None else "")
    return text + _reply(event)


def _reply(event: WcfMessage | WcfFault | RemotingMessage) -> str:
    return f" (reply to #{event.request_seq}, {event.latency_ms:.0f} ms)" if event.request_seq is not None else ""


def _gist_conn(e: Any) -> str:
    if isinstance(e, ConnOpen):
        return "mid-stream (no SYN seen)" if e.mid_stream else "SYN"
    assert isinstance(e, ConnClose)
    service = e.service or "undecoded"
    return f"{e.reason}, {service}, {e.duration:.3f} s, {e.orig_stats.bytes:,} B → / ← {e.resp_stats.bytes:,} B" + (
        f", gaps {e.orig_stats.gaps + e.resp_stats.gaps}" if e.orig_stats.gaps + e.resp_stats.gaps else ""
    )


def _gist_iiko(e: Any) -> str:
    if isinstance(e, IikoEvent):
        items = f": {_items(e.items)}" if e.items else ""
        return f"{e.type}{' (derived)' if e.derived else ''}, {_order(e.order)}{items}"
    if isinstance(e, IikoOrderSnapshot):
        return f"{_order(e.order)}, {len(e.items)} lines" + (f", revision {e.revision}" if e.revision else "")
    assert isinstance(e, IikoLockChange)
    return f"order {e.order_id or '?'} by {e.terminal or '?'}"


GISTS: dict[type[Event], Callable[[Any], str]] = {
    ConnOpen: _gist_conn,
    ConnClose: _gist_conn,
    TcpGap: lambda e: f"{e.length:,} bytes lost at offset {e.offset:,}",
    Anomaly: lambda e: f"{e.name}: {e.detail}",
    CaptureStats: lambda e: (
        f"{e.received:,} received, {e.dropped + e.ifdropped + e.queue_dropped:,} dropped, {e.events:,} events"
    ),
    NmfPreamble: lambda e: f"{e.mode} {e.via}",
    NmfUpgrade: lambda e: f"{e.protocol} {e.auth_package or ''} {e.frames} frames, {e.bytes:,} B".replace("  ", " "),
    NmfFault: lambda e: e.uri,
    NmfEnd: lambda e: "end of the session",
    WcfMessage: lambda e: f"{_short(e.action or e.body_element)}, {e.size:,} B{_reply(e)}",
    WcfFault: lambda e: f"fault {e.code or ''}: {e.reason or ''}{_reply(e)}",
    RemotingMessage: _remoting,
    RmsCall: lambda e: (
        f"{e.method} {e.service or e.uri}.{e.method_name or ''} → {e.status or 'no reply'}"
        + (f", {e.duration_ms:.0f} ms" if e.duration_ms is not None else "")
        + ("" if e.success is None else (", success" if e.success else f", failed: {e.error_string or ''}"))
    ),
}


def human_line(event: Event, colour: bool = True) -> str:
    """``2026-11-29 01:10:34.027Z  wcf.message  127.0.0.1:49918 → 127.0.0.1:8506  IMainCash/Register, 275 B``"""
    when = format_ts(event.ts)[:23].replace("T", " ") + "Z"
    gist = GISTS.get(type(event))
    text = gist(event) if gist is not None else (_gist_iiko(event) if event.kind.startswith("iiko.") else "")
    orig = getattr(event, "orig", None)
    if orig is not None:
        arrow = "←" if getattr(event, "dir", None) == "resp" else "→"
        where = f"{orig} {arrow} {event.resp}"  # type: ignore[attr-defined]
    else:
        where = "-"
    kind = event.kind.ljust(KIND_WIDTH)
    if colour:
        family = event.kind.split(".", 1)[0]
        kind = click.style(kind, fg=COLOURS.get(family, "magenta"), bold=family in ("iiko", "anomaly"))
        when = click.style(when, dim=True)
    return f"{when}  {kind}  {where}  {text}".rstrip()


class HumanSink(JsonlSink):
    """The sink's numbering and analyzers, with a readable line per event instead of JSON."""

    def __init__(self, out: IO[str], *, analyzers: tuple[Analyzer, ...] = ()) -> None:
        super().__init__(out, flush_each=True, analyzers=analyzers)
        colour = "NO_COLOR" not in os.environ
        self.render = lambda event: human_line(event, colour).encode()
