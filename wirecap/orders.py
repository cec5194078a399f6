"""``wirecap orders``: the open orders at the end of a capture (or at a given time), rebuilt from iiko events.

A snapshot (terminal sync, server entities) replaces what is known of an order; UserEvents update it in
between (opened, items added or deleted, guests, precheque, paid/deleted/closed). Events derived from
snapshots are skipped here: the snapshots they came from already count. Terminals' names are learned
where the wire carries them: a terminal introducing itself to the main cash (a body with a terminal id
and a name, as ``Register(terminalId, name)``). Also home of what the iiko commands share: the
``--rules`` option and a replay of captures into analyzers (``analyse``). The table and the ``--json``
document are drawn by ``orders_view``.
"""

import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from decoders.events import Event, RemotingMessage, RmsCall, WcfMessage
from decoders.iiko import (
    CLOSED_STATUSES,
    CLOSING,
    OrderTracker,
    Rules,
    RulesError,
    default_rules_text,
    load_rules,
    message_payloads,
)
from decoders.iiko_events import IikoEvent, IikoItem, IikoLockChange, IikoOrder, IikoOrderLock, IikoOrderSnapshot
from decoders.interface import DecoderOptions
from decoders.json_text import plain

from .limits import limit_option, with_limits
from .options import capture_options, parse_time
from .pipeline import Options, Pipeline
from .ports import PortParam, PortSpec, port_settings
from .redact import keep_secrets_option
from .runner import CaptureArgs, Outcome, report, run_capture
from .sink import Analyzer, NumberingSink
from .source import Batch
from .stopping import StopGuard

ITEM_REMOVALS = frozenset({"deletedNewItems", "deletedPrintedItems", "emergencyItemsDeletion"})
STATUS_AFTER = {"orderOpened": "NEW", "orderPrechequed": "BILL", "orderCancelPrecheque": "NEW"}
TERMINAL_NAME_KEYS = frozenset({"name", "terminalname", "terminal_name"})
MAX_TERMINALS = 10_000
MAX_CLOSED_ORDERS = 1_000  # closed orders kept whole (a late journal line still finds them)
MAX_FORGOTTEN = 100_000  # ids of closed orders dropped since: their late lines must not reopen them
MAX_DEPTH = 8

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
        help="Decode connections on this TCP port, as net.tcp unless it is 8080 (HTTP) or given as "
        "N=nmf|http|remoting (repeatable; replaces the default 8506 and 8080).",
    )(command)


def capture_options_of(ports: tuple[PortSpec, ...], any_port: bool, keep_secrets: bool = False) -> Options:
    return Options(**port_settings(ports), any_port=any_port, decoder=DecoderOptions(keep_secrets=keep_secrets))


def read_rules(paths: Iterable[str]) -> Rules:
    """The shipped rules extended by the analyst's files; a bad file is a usage error naming its path."""
    paths = list(paths)
    try:
        texts = [default_rules_text(), *(Path(p).read_text(encoding="utf-8") for p in paths)]
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--rules") from None
    try:
        return load_rules(texts)
    except RulesError as exc:
        message = str(exc)
        found = re.match(r"rules file (\d+): ", message)
        if found and 2 <= int(found[1]) <= len(paths) + 1:  # file 1 is the shipped one
            message = f"{paths[int(found[1]) - 2]}: {message[found.end() :]}"
        raise click.BadParameter(message, param_hint="--rules") from None


def analyse(
    inputs: Iterable[str] | CaptureArgs,
    analyzers: tuple[Analyzer, ...],
    options: Options | None = None,
    guard: StopGuard | None = None,
    after_write: Callable[[], None] | None = None,
    pace: Callable[[Iterator[Batch]], Iterator[Batch]] | None = None,
) -> Outcome:
    """Replay captures as ``wirecap replay`` does, handing every numbered event to ``analyzers``."""
    capture = inputs if isinstance(inputs, CaptureArgs) else CaptureArgs(tuple(inputs))
    sink = NumberingSink(analyzers=analyzers)

    def write(events: list[Event]) -> None:
        sink.write(events)
        if after_write is not None:
            after_write()

    return run_capture(capture, Pipeline(with_limits(options or Options())), write, guard or StopGuard(), pace=pace)


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

    def as_json(self, terminals: dict[str, str] | None = None) -> dict[str, Any]:
        from .orders_view import order_document  # the view imports this module

        return order_document(self, terminals or {})

    def total(self) -> Decimal | None:
        """The order's own sum when iiko sent one, else the lines' sums (or price × amount), exactly."""
        if self.order.sum is not None:
            return self.order.sum
        sums = [line_sum(i) or 0 for i in self.items]
        if not sums:
            return None
        return exact_cents(sum(sums, Decimal(0)))


def line_sum(item: IikoItem) -> Decimal | None:
    """The line's sum as iiko sent it, else price × amount when both are known."""
    if item.sum is not None:
        return item.sum
    if item.price is None or item.amount is None:
        return None
    return exact_cents(item.price * item.amount)


def exact_cents(value: Decimal) -> Decimal:
    cents = value.quantize(CENT)
    return cents if cents == value else value  # 500.00, not 500.00000; never rounded


class OrderBook:
    """Sink analyzer: applies iiko events to the orders they name, up to ``until`` (ns) if given.

    Memory stays flat over weeks of ``live``: beyond ``MAX_CLOSED_ORDERS`` closed orders, the one closed
    longest ago is dropped and only its id remembered (``MAX_FORGOTTEN`` of them), so that a journal line
    arriving after its order closed cannot bring it back as open. Open orders are never dropped.
    """

    def __init__(self, until: int | None = None, rules: Rules | None = None) -> None:
        self.until = until
        self.rules = rules  # names a Remoting call's positional arguments (Register's terminalId and name)
        self.orders: dict[str, OpenOrder] = {}
        self.closed: OrderedDict[str, None] = OrderedDict()  # ids of the closed orders kept, oldest first
        self.forgotten: OrderedDict[str, None] = OrderedDict()
        self.seen = 0  # orders ever seen, the dropped ones included
        self.terminals: dict[str, str] = {}  # terminal id -> the name it introduced itself with
        self.changes = 0  # counts every change, for --follow
        self.last_ts = 0

    def observe(self, event: Event) -> list[Event]:
        if self.until is not None and event.ts > self.until:
            return []
        self.last_ts = event.ts
        if isinstance(event, IikoOrderSnapshot):
            self._snapshot(event)
        elif isinstance(event, IikoEvent) and not event.derived:
            self._user_event(event)
        elif isinstance(event, IikoLockChange) and event.order_id in self.orders:
            locked = isinstance(event, IikoOrderLock)
            self.orders[event.order_id].locked_by = (event.terminal or event.orig) if locked else None
            self.changes += 1
        elif isinstance(event, WcfMessage):
            self._names(plain(event.body), 0)
        elif isinstance(event, RmsCall):
            self._names(plain(event.request), 0)
        elif isinstance(event, RemotingMessage) and self.rules is not None:
            self._names(message_payloads(event, self.rules), 0)
        return []

    def open_orders(self) -> list[OpenOrder]:
        return sorted((o for o in self.orders.values() if not o.closed), key=lambda o: o.last_change)

    def _names(self, value: Any, depth: int) -> None:
        """Terminal names from objects holding a terminal id and a name (``Register(terminalId, name)``)."""
        if depth > MAX_DEPTH:
            return
        if isinstance(value, dict):
            keys = {key.lower(): child for key, child in value.items() if isinstance(key, str)}
            ident = next((keys[k] for k in ("terminalid", "terminal_id") if isinstance(keys.get(k), str)), None)
            name = next((keys[k] for k in TERMINAL_NAME_KEYS if isinstance(keys.get(k), str)), None)
            if ident and name and len(self.terminals) < MAX_TERMINALS and self.terminals.get(ident) != name:
                self.terminals[ident] = name
                self.changes += 1
            for child in value.values():
                if isinstance(child, dict | list):
                    self._names(child, depth + 1)
        elif isinstance(value, list):
            for child in value:
                self._names(child, depth + 1)

    def _touch(self, order: IikoOrder, event: IikoEvent | IikoOrderSnapshot) -> OpenOrder | None:
        if order.id is None or order.id in self.forgotten:
            return None
        self.changes += 1
        known = self.orders.get(order.id)
        if known is None:
            known = self.orders[order.id] = OpenOrder(order)
            self.seen += 1
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
            self._settle(known)

    def _user_event(self, event: IikoEvent) -> None:
        order = event.order
        if event.type in STATUS_AFTER:
            order = order.model_copy(update={"status": STATUS_AFTER[event.type]})
        known = self._touch(order, event)
        if known is None:
            return
        if event.type in CLOSING:
            known.closed = True
            self._settle(known)
        elif known.synced:
            return  # iikoFront posts its journal later than it syncs: the snapshot already has this change
        elif event.type == "addItemToOrder":
            known.items += event.items
        elif event.type in ITEM_REMOVALS:
            for gone in event.items:
                _remove_line(known.items, gone)

    def _settle(self, known: OpenOrder) -> None:
        """Keeps ``closed`` in closing order and drops the oldest closed orders beyond the bound."""
        order_id = known.order.id or ""
        if not known.closed:
            self.closed.pop(order_id, None)
            return
        self.closed[order_id] = None
        self.closed.move_to_end(order_id)
        while len(self.closed) > MAX_CLOSED_ORDERS:
            gone, _ = self.closed.popitem(last=False)
            del self.orders[gone]
            self.forgotten[gone] = None
            if len(self.forgotten) > MAX_FORGOTTEN:
                self.forgotten.popitem(last=False)


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


@click.command()
@capture_options
@click.option("--at", "at", metavar="TIME", help="Orders open at this time (ISO-8601; no zone: UTC), not at the end.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document for tools instead of a table.")
@click.option("--tz", "tz", metavar="ZONE", help="Show times in this zone (IANA name, e.g. Europe/Moscow) [UTC].")
@click.option("--follow", is_flag=True, help="Redraw the table as events arrive (for a live stream on stdin).")
@port_options
@rules_option
@keep_secrets_option
@limit_option
def orders(
    capture: CaptureArgs,
    at: str | None,
    as_json: bool,
    tz: str | None,
    follow: bool,
    ports: tuple[PortSpec, ...],
    any_port: bool,
    rules_files: tuple[str, ...],
    keep_secrets: bool,
) -> None:
    """The open iiko orders in PCAP files: number, table, waiter, guests, items, sum, last change."""
    from .orders_view import Follower, print_orders, require_stdout, zone  # the view imports this module

    require_stdout("orders")
    guard = StopGuard()
    guard.install()
    if follow and (at or as_json):
        raise click.UsageError("--follow draws the table as it changes: not with --at or --json")
    zone_info = zone(tz)
    until = parse_time(at) if at else None
    rules = read_rules(rules_files)
    book = OrderBook(until, rules)
    follower = Follower(book, zone_info, streaming="-" in capture.inputs) if follow else None
    analyzers = (OrderTracker(rules), book)
    options = capture_options_of(ports, any_port, keep_secrets)
    outcome = analyse(capture, analyzers, options, guard, follower.changed if follower else None)
    if follower is not None:
        follower.final()
    else:
        print_orders(book, as_json, zone_info)
    if until is not None and outcome.first_ts is not None and not outcome.first_ts <= until <= outcome.last_ts:
        click.echo(f"wirecap: --at {at} is outside the capture, which spans {outcome.span()}", err=True)
    report(outcome)
    sys.stdout.flush()
    sys.exit(outcome.status)
