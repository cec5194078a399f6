"""How ``wirecap orders`` shows the open orders: a table for a manager, a JSON document for tools.

The table gives terminals by name where the wire said it, the lines with their sums (price × amount
where iiko sent none), a total row, and every time with its zone (UTC, or ``--tz``). The ``--json``
document keeps iiko's strings and adds what tools want: ``number_int``/``table_int`` (the number as an
integer when it is one), ``sum_computed`` on lines, terminal names beside their ids; its schema is
``wirecap schema --orders`` (``OrderDocument``). ``Follower`` redraws the table for ``--follow``.
"""

import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from pydantic import ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

from decoders.events import format_ts
from decoders.iiko_events import IikoItem, IikoOrder

from .orders import OpenOrder, OrderBook, exact_cents, line_sum

INTEGER = re.compile(r"\s*-?\d+\s*")

# The HTTP API (``wirecap serve``) spells fields as iikoCloud's order API does where it has the same thing
# (``whenCreated``, ``positionId``, ``cost`` for a line's sum; README, HTTP API); the rest in camelCase.
# ``wirecap orders --json`` keeps the field names.
API_NAMES = {
    "open_time": "whenCreated",
    "table": "tableNumber",
    "waiter": "waiterName",
    "guests": "guestsCount",
    "terminal": "terminalId",
    "product": "productName",
    "last_change": "whenChanged",
}
LINE_API_NAMES = {**API_NAMES, "sum": "cost", "sum_computed": "costComputed"}


def api_name(name: str) -> str:
    return API_NAMES.get(name) or to_camel(name)


def line_api_name(name: str) -> str:
    return LINE_API_NAMES.get(name) or to_camel(name)


class OrderLine(IikoItem):
    model_config = ConfigDict(alias_generator=line_api_name, validate_by_name=True)

    sum_computed: bool = False  # sum is price × amount: iiko sent no sum for the line


class OrderDocument(IikoOrder):
    """One open order of ``wirecap orders --json`` (the fields of ``IikoOrder``, iiko's strings kept)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=api_name, validate_by_name=True)

    number_int: int | None = None  # number as an integer, when it is one ("17" → 17)
    table_int: int | None = None  # table likewise
    terminal_name: str | None = None  # the name the terminal introduced itself with
    items: list[OrderLine]
    last_change: str  # ISO-8601 UTC
    changed_by: str | None  # terminal id, else the client address of the connection that said so
    changed_by_name: str | None = None
    locked_by: str | None
    locked_by_name: str | None = None


def orders_schema() -> dict[str, Any]:
    """JSON Schema of ``wirecap orders --json``: a list of ``OrderDocument``."""
    schema = TypeAdapter(list[OrderDocument]).json_schema(mode="serialization", by_alias=False)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "wirecap open orders", **schema}


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and INTEGER.fullmatch(text) else None


def order_document(o: OpenOrder, terminals: dict[str, str]) -> dict[str, Any]:
    return order_model(o, terminals).model_dump(mode="json")


def order_model(o: OpenOrder, terminals: dict[str, str]) -> OrderDocument:
    lines = []
    for item in o.items:
        computed = item.sum is None and line_sum(item) is not None
        lines.append(OrderLine(**{**item.model_dump(), "sum": line_sum(item)}, sum_computed=computed))
    header = o.order.model_dump()
    header["sum"] = o.total()
    return OrderDocument(
        **header,
        number_int=_int(o.order.number),
        table_int=_int(o.order.table),
        terminal_name=terminals.get(o.order.terminal or ""),
        items=lines,
        last_change=format_ts(o.last_change),
        changed_by=o.changed_by,
        changed_by_name=terminals.get(o.changed_by or ""),
        locked_by=o.locked_by,
        locked_by_name=terminals.get(o.locked_by or ""),
    )


def zone(name: str | None) -> ZoneInfo | None:
    """The ``--tz`` zone (None: UTC); a usage error if the name is unknown."""
    if name is None or name.upper() in ("UTC", "Z"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone: {name!r}", param_hint="--tz") from None


def show_time(ns: int, tz: ZoneInfo | None) -> str:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    if tz is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _items_text(items: list[IikoItem]) -> str:
    def one(i: IikoItem) -> str:
        name = i.product or i.product_id or "?"
        text = f"{name} ×{i.amount:g}" if i.amount is not None else name
        total = line_sum(i)
        return f"{text} {_money(total)}" if total is not None else text

    return ", ".join(one(i) for i in items)


def render_table(orders: list[OpenOrder], terminals: dict[str, str], tz: ZoneInfo | None = None) -> str:
    header = ("number", "table", "waiter", "guests", "status", "sum", "last change", "by", "items")
    rows = [
        (
            o.order.number or "?",
            o.order.table or "",
            o.order.waiter or "",
            "" if o.order.guests is None else str(o.order.guests),
            o.order.status or "",
            _money(o.total()),
            show_time(o.last_change, tz),
            terminals.get(o.changed_by or "", o.changed_by or ""),
            _items_text(o.items),
        )
        for o in orders
    ]
    totals = [t for o in orders if (t := o.total()) is not None]
    count = f"{len(orders)} order{'' if len(orders) == 1 else 's'}"
    rows.append(("total", "", count, "", "", _money(exact_cents(sum(totals, Decimal(0)))), "", "", ""))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    numeric = {3, 5}  # guests and sums are right-aligned
    lines = (
        "  ".join(
            cell.rjust(w) if i in numeric and row is not header else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        )
        + "  "
        + row[-1]
        for row in (header, *rows)
    )
    return "\n".join(line.rstrip() for line in lines)


def require_stdout(what: str) -> None:
    """Started with stdout closed (``>&-``): one error line and exit 1, before any reading."""
    if sys.stdout is None:
        click.echo(f"wirecap: error: <stdout>: closed: nowhere to write the {what}", err=True)
        sys.exit(1)


def echo(text: str, err: bool = False) -> None:
    """Print the result; an output that cannot be written is one error line and exit 1."""
    if not err:
        require_stdout("result")
    try:
        click.echo(text, err=err)
        if not err:
            sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:
        click.echo(f"wirecap: error: <stdout>: {exc.strerror or exc}", err=True)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def print_orders(book: OrderBook, as_json: bool, tz: ZoneInfo | None) -> None:
    found = book.open_orders()
    if as_json:
        echo(json.dumps([o.as_json(book.terminals) for o in found], ensure_ascii=False, indent=2))
    elif found:
        echo(render_table(found, book.terminals, tz))
    else:
        echo(f"no open orders ({book.seen} orders seen)", err=True)


class Follower:
    """``--follow``: the table again whenever the orders change (on a terminal, in place)."""

    def __init__(self, book: OrderBook, tz: ZoneInfo | None, streaming: bool) -> None:
        self.book = book
        self.tz = tz
        self.streaming = streaming
        self.tty = sys.stdout is not None and os.isatty(sys.stdout.fileno())
        self.drawn = -1  # book.changes when last drawn
        self.when = 0.0

    def changed(self) -> None:
        if self.book.changes != self.drawn and (self.streaming or time.monotonic() - self.when >= 0.2):
            self.draw()

    def final(self) -> None:
        if self.book.changes != self.drawn:
            self.draw()

    def draw(self) -> None:
        self.drawn, self.when = self.book.changes, time.monotonic()
        found = self.book.open_orders()
        title = f"open orders at {show_time(self.book.last_ts, self.tz)}: {len(found)}"
        table = render_table(found, self.book.terminals, self.tz) if found else "(none)"
        echo(("\x1b[H\x1b[2J" if self.tty else "") + f"{title}\n{table}\n")
