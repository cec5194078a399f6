"""The iiko layer's events (``decoders.iiko``): UserEvents, order snapshots, locks, and the normalised
order and line they carry."""

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .events import ConnEvent, Event


class IikoSource(BaseModel):
    """The decoded message an iiko event was recognised in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uid: str
    seq: int
    transport: Literal["wcf", "http", "remoting"]


class IikoOrder(BaseModel):
    """An order's header, normalised from iikoFront, SDK or journal field names (None: not in the message)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = None
    number: str | None = None
    table: str | None = None
    waiter: str | None = None
    guests: int | None = None
    status: str | None = None
    sum: Decimal | None = None  # decimals travel as strings in JSON: scale kept, nothing rounded
    open_time: str | None = None
    terminal: str | None = None


class IikoItem(BaseModel):
    """An order line (dish), normalised like ``IikoOrder``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position_id: str | None = None
    product_id: str | None = None
    product: str | None = None
    amount: Decimal | None = None
    price: Decimal | None = None
    sum: Decimal | None = None
    deleted: bool | None = None
    printed: bool | None = None


class IikoEvent(ConnEvent):
    """An iiko UserEvent (journal type id verbatim), or one derived from two snapshots of an order."""

    kind: Literal["iiko.event"] = "iiko.event"
    type: str  # orderOpened, addItemToOrder, deletedPrintedItems, … (changedItemAmount when derived)
    order: IikoOrder
    items: list[IikoItem]
    attributes: dict[str, Any]  # every field as received
    source: IikoSource
    derived: bool = False  # True: computed from successive order snapshots, not sent by iiko


class IikoOrderSnapshot(ConnEvent):
    """A whole order as a terminal sent it (terminal sync, server entities)."""

    kind: Literal["iiko.order_snapshot"] = "iiko.order_snapshot"
    order: IikoOrder
    items: list[IikoItem]
    revision: str | None
    source: IikoSource


class IikoLockChange(ConnEvent):
    """Fields of an order lock or unlock: a terminal takes or releases an order for editing."""

    order_id: str | None
    terminal: str | None
    operation: str  # the action or element name that said so (contains "Lock")
    source: IikoSource


class IikoOrderLock(IikoLockChange):
    kind: Literal["iiko.order_lock"] = "iiko.order_lock"


class IikoOrderUnlock(IikoLockChange):
    kind: Literal["iiko.order_unlock"] = "iiko.order_unlock"


IIKO_EVENTS: tuple[type[Event], ...] = (IikoEvent, IikoOrderSnapshot, IikoOrderLock, IikoOrderUnlock)
