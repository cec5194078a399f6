"""``wirecap orders``: the open orders at the end of a capture (or at a given time), rebuilt from iiko events.

A snapshot (terminal sync, server entities) replaces what is known of an order; UserEvents update it in
between (opened, items added or deleted, guests, precheque, paid/deleted/closed). Events derived from
snapshots are skipped here: the snapshots they came from already count. Also home of what the iiko
commands share: the ``--rules`` option and a replay of captures into analyzers.
"""

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from decoders.detect import DecoderOptions
from decoders.events import (
    Event,
    IikoEvent,
    IikoItem,
    IikoLockChange,
    IikoOrder,
    IikoOrderLock,
    IikoOrderSnapshot,
    format_ts,
)
from decoders.iiko import OrderTracker, Rules, RulesError, default_rules_text, load_rules

from .pipeline import Options, Pipeline, run
from .ports import PortParam, PortSpec, port_settings
from .readahead import open_source
from .redact import keep_secrets_option
from .sink import Analyzer, JsonlSink
from .source import CaptureError

CLOSING = frozenset({"orderPaid", "orderDeleted", "orderClosedAtWaiterExpense"})
CLOSED_STATUSES = frozenset({"closed", "deleted"})
ITEM_REMOVALS = frozenset({"deletedNewItems", "deletedPrintedItems", "emergencyItemsDeletion"})
STATUS_AFTER = {"orderOpened": "NEW", "orderPrechequed": "BILL", "orderCancelPrecheque": "NEW"}

CENT = Decimal("0.01")


def rules_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--rules FILE`` (repeatable): iiko recognition rules on top of the shipped defaults."""
    return click.option(
        "--rules",
        "rules_files",
        type=click.Path(exists=True, dir_okay=False),
        multiple=True,
        metavar="FILE",
        help="iiko recognition rules (TOML) added to the defaults; repeatable, later files win.",
    )(command)


def port_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--port`` / ``--any-port`` as ``wirecap replay`` has them, to look at one side (e.g. 8080 only)."""
    command = click.option(
        "--any-port", is_flag=True, help="Track every TCP connection and detect its protocol from its bytes."
    )(command)
    return click.option(
        "--port",
        "ports",
        type=PortParam(),
        multiple=True,
        help="Decode connections on this TCP port (N or N=nmf|http|remoting; repeatable; replaces 8506 and 8080).",
    )(command)


def capture_options(ports: tuple[PortSpec, ...], any_port: bool, keep_secrets: bool = False) -> Options:
    return Options(**port_settings(ports), any_port=any_port, decoder=DecoderOptions(keep_secrets=keep_secrets))


def read_rules(paths: Iterable[str]) -> Rules:
    """The shipped rules extended by the analyst's files; a bad file is a usage error."""
    try:
        return load_rules([default_rules_text(), *(Path(p).read_text(encoding="utf-8") for p in paths)])
    except RulesError as exc:
        raise click.BadParameter(str(exc), param_hint="--rules") from None


def analyse(inputs: Iterable[str], analyzers: tuple[Analyzer, ...], options: Options | None = None) -> None:
    """Replay captures as ``wirecap replay`` does, handing every numbered event to ``analyzers``."""
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        sink = JsonlSink(devnull, analyzers=analyzers)
        try:
            run([open_source(path) for path in inputs], Pipeline(options or Options()), sink.write)
        except CaptureError as exc:
            click.echo(f"wirecap: error: {exc}", err=True)
            sys.exit(1)


@dataclass
class OpenOrder:
    """What is known of one order so far."""

    order: IikoOrder
    items: list[IikoItem] = field(default_factory=list)
    last_change: int = 0
    changed_by: str | None = None  # terminal id, else the client address of the connection that said so
    locked_by: str | None = None
    closed: bool = False
    synced: bool = False  # lines come from a whole-order snapshot: item UserEvents must not apply again

    def as_json(self) -> dict[str, Any]:
        return {
            **self.order.model_dump(mode="json"),
            "sum": None if (total := self.total()) is None else str(total),
            "items": [item.model_dump(mode="json") for item in self.items],
            "last_change": format_ts(self.last_change),
            "changed_by": self.changed_by,
            "locked_by": self.locked_by,
        }

    def total(self) -> Decimal | None:
        """The order's own sum when iiko sent one, else the lines' sums (or price × amount), exactly."""
        if self.order.sum is not None:
            return self.order.sum
        sums = [i.sum if i.sum is not None else (i.price or 0) * (i.amount or 0) for i in self.items]
        if not sums:
            return None
        total = sum(sums, Decimal(0))
        cents = total.quantize(CENT)
        return cents if cents == total else total  # 500.00, not 500.00000; never rounded


class OrderBook:
    """Sink analyzer: applies iiko events to the orders they name, up to ``until`` (ns) if given."""

    def __init__(self, until: int | None = None) -> None:
        self.until = until
        self.orders: dict[str, OpenOrder] = {}

    def observe(self, event: Event) -> list[Event]:
        if self.until is not None and event.ts > self.until:
            return []
        if isinstance(event, IikoOrderSnapshot):
            self._snapshot(event)
        elif isinstance(event, IikoEvent) and not event.derived:
            self._user_event(event)
        elif isinstance(event, IikoLockChange) and event.order_id in self.orders:
            locked = isinstance(event, IikoOrderLock)
            self.orders[event.order_id].locked_by = (event.terminal or event.orig) if locked else None
        return []

    def open_orders(self) -> list[OpenOrder]:
        return sorted((o for o in self.orders.values() if not o.closed), key=lambda o: o.last_change)

    def _touch(self, order: IikoOrder, event: IikoEvent | IikoOrderSnapshot) -> OpenOrder | None:
        if order.id is None:
            return None
        known = self.orders.get(order.id)
        if known is None:
            known = self.orders[order.id] = OpenOrder(order)
        else:
            update = {k: v for k, v in order.model_dump().items() if v is not None}
            known.order = known.order.model_copy(update=update)
        known.last_change = event.ts
        known.changed_by = order.terminal or event.orig
        return known

    def _snapshot(self, event: IikoOrderSnapshot) -> None:
        known = self._touch(event.order, event)
        if known is not None:
            known.synced = True
            known.items = [item for item in event.items if not item.deleted]
            known.closed = (known.order.status or "").lower() in CLOSED_STATUSES

    def _user_event(self, event: IikoEvent) -> None:
        order = event.order
        if event.type in STATUS_AFTER:
            order = order.model_copy(update={"status": STATUS_AFTER[event.type]})
        known = self._touch(order, event)
        if known is None:
            return
        if event.type in CLOSING:
            known.closed = True
        elif known.synced:
            return  # iikoFront posts its journal later than it syncs: the snapshot already has this change
        elif event.type == "addItemToOrder":
            known.items += event.items
        elif event.type in ITEM_REMOVALS:
            for gone in event.items:
                _remove_line(known.items, gone)


def _remove_line(items: list[IikoItem], gone: IikoItem) -> None:
    """Drop the lines a deletion names: the same position id, else by product name; the journal's
    ``dishes`` may list several products as "A, B" (one line of each goes), but a name may hold a comma."""
    if gone.position_id:
        items[:] = [item for item in items if item.position_id != gone.position_id]
        return
    name = gone.product or ""
    products = [item.product for item in items]
    for product in [name] if name in products else name.split(", "):
        if product in products:
            index = products.index(product)
            del items[index], products[index]


def parse_time(text: str) -> int:
    """ISO-8601 (``2026-11-29T12:00:00Z``; no zone means UTC) → integer nanoseconds."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {text!r}", param_hint="--at") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _items_text(items: list[IikoItem]) -> str:
    return ", ".join(f"{i.product or i.product_id or '?'}×{i.amount:g}" if i.amount else str(i.product) for i in items)


def render_table(orders: list[OpenOrder]) -> str:
    header = ("number", "table", "waiter", "guests", "status", "sum", "last change", "by", "items")
    rows = [
        (
            o.order.number or "?",
            o.order.table or "",
            o.order.waiter or "",
            "" if o.order.guests is None else str(o.order.guests),
            o.order.status or "",
            "" if o.total() is None else f"{o.total():.2f}",
            format_ts(o.last_change)[:19].replace("T", " "),
            o.changed_by or "",
            _items_text(o.items),
        )
        for o in orders
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    lines = (
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in (header, *rows)
    )
    return "\n".join(line.rstrip() for line in lines)


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False), metavar="PCAP...")
@click.option("--at", "at", metavar="TIME", help="Orders open at this time (ISO-8601, UTC), not at the end.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document for tools instead of a table.")
@port_options
@rules_option
@keep_secrets_option
def orders(
    inputs: tuple[str, ...],
    at: str | None,
    as_json: bool,
    ports: tuple[PortSpec, ...],
    any_port: bool,
    rules_files: tuple[str, ...],
    keep_secrets: bool,
) -> None:
    """The open iiko orders in PCAP files: number, table, waiter, guests, items, sum, last change."""
    book = OrderBook(parse_time(at) if at else None)
    analyse(inputs, (OrderTracker(read_rules(rules_files)), book), capture_options(ports, any_port, keep_secrets))
    found = book.open_orders()
    if as_json:
        click.echo(json.dumps([o.as_json() for o in found], ensure_ascii=False, indent=2))
    elif found:
        click.echo(render_table(found))
    else:
        click.echo(f"no open orders ({len(book.orders)} orders seen)", err=True)
