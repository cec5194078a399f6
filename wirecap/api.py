"""The HTTP API and the floor board (Starlette; Server-Sent Events by sse-starlette), read-only.

``GET /api/orders`` (``?table=``, ``?terminal=``, ``?at=``), ``GET /api/orders/{id}`` with the events
that built the order, ``GET /api/events`` (SSE; ``?kind=iiko.*``; resumes after ``Last-Event-ID`` or
``?after=``, both an event's ``seq``), ``GET /api/stats``, ``GET /api/openapi.json`` and the board at
``/`` (static files shipped in the package). With a token every path but the login page needs it, as
``Authorization: Bearer TOKEN`` or the cookie the login page sets. The documents are the pydantic
models of ``orders_view`` and ``decoders.events`` spelled as the API spells them (``by_alias``).
"""

import asyncio
import contextlib
import fnmatch
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import click
from pydantic import BaseModel, ConfigDict, TypeAdapter
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from decoders.events import format_ts
from decoders.iiko_events import IikoEvent, IikoOrderLock, IikoOrderSnapshot, IikoOrderUnlock

from .floor import Floor, FloorView
from .options import parse_time
from .orders_view import OrderDocument, order_model

BOARD = Path(str(files("wirecap") / "board"))
COOKIE = "wirecap_token"
PUBLIC = frozenset({"/login", "/board/board.css"})  # the login page and its style: no data, no token
SEND_TIMEOUT = 10.0  # seconds a stream's write may block before the client is dropped (it may resume)
PING = 15  # seconds between keep-alive comments on a quiet stream
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
HistoryEvent = IikoEvent | IikoOrderSnapshot | IikoOrderLock | IikoOrderUnlock


class OrderDetail(OrderDocument):
    """``GET /api/orders/{id}``: the order and the events that built it, oldest first (the last ones)."""

    history: list[HistoryEvent]


class ServerStats(BaseModel):
    """``GET /api/stats``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: str  # "capture" (wirecap serve: ?at= works) or "live"
    source: str  # the capture files, or the interfaces
    finished: bool  # the capture was read to its end
    seq: int  # the last event's number
    events: dict[str, int]  # events seen, by kind
    open_orders: int
    orders_seen: int
    first_ts: str | None
    last_ts: str | None
    ring_oldest_seq: int | None  # a stream can resume after this number or later
    clients: int  # event streams connected
    resets: int  # streams that fell behind the ring and started again


API_MODELS: dict[str, Any] = {"orders": list[OrderDocument], "order": OrderDetail, "stats": ServerStats}


@dataclass(frozen=True)
class Settings:
    mode: str
    source: str
    token: str | None = None


def build_app(floor: Floor, settings: Settings) -> Starlette:
    api = Api(floor, settings)
    routes = [
        Route("/", api.board),
        Route("/login", api.login_page),
        Route("/login", api.login, methods=["POST"]),
        Route("/api/orders", api.orders),
        Route("/api/orders/{order_id}", api.order),
        Route("/api/events", api.events),
        Route("/api/stats", api.stats),
        Route("/api/openapi.json", api.openapi),
        Mount("/board", StaticFiles(directory=BOARD)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        watcher = asyncio.create_task(floor.watch())
        yield
        watcher.cancel()

    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(api.guard)])


class Api:
    def __init__(self, floor: Floor, settings: Settings) -> None:
        self.floor = floor
        self.settings = settings

    def guard(self, app: ASGIApp) -> ASGIApp:
        """The token, when one is set; security headers on every answer. Plain ASGI, not Starlette's
        ``BaseHTTPMiddleware``, which would pass every chunk of an event stream through a task of its own."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message).update(SECURITY_HEADERS)
                await send(message)

            request = Request(scope)
            if self.settings.token is None or request.url.path in PUBLIC or self._authorised(request):
                return await app(scope, receive, send_with_headers)
            if request.url.path == "/" and "text/html" in request.headers.get("accept", ""):
                refused: Response = RedirectResponse("/login", status_code=303)
            else:
                refused = JSONResponse({"error": "a token is needed"}, 401, {"WWW-Authenticate": "Bearer"})
            await refused(scope, receive, send_with_headers)

        return guarded

    def _authorised(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            given = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(given.encode(), (self.settings.token or "").encode())

    async def board(self, _request: Request) -> Response:
        return FileResponse(BOARD / "index.html")

    async def login_page(self, _request: Request) -> Response:
        return FileResponse(BOARD / "login.html")

    async def login(self, request: Request) -> Response:
        """The login form: the right token sets the cookie (HttpOnly, SameSite=Strict), a wrong one 401."""
        given = parse_qs((await request.body()).decode(errors="replace")).get("token", [""])[0]
        token = self.settings.token
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            return RedirectResponse("/login?wrong=1", status_code=303) if token else RedirectResponse("/", 303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    async def orders(self, request: Request) -> Response:
        query = request.query_params
        try:
            view = self._view(query.get("at"))
        except ValueError as err:
            return JSONResponse({"error": str(err)}, 400)
        table, terminal = query.get("table"), query.get("terminal")
        found = [
            order_model(o, view.terminals)
            for o in view.orders
            if (table is None or o.order.table == table)
            and (terminal is None or terminal in (o.order.terminal, view.terminals.get(o.order.terminal or "")))
        ]
        return _document(list[OrderDocument], found, {"X-Wirecap-Seq": str(view.seq), **_clock(view)})

    def _view(self, at: str | None) -> FloorView:
        if at is None:
            return self.floor.view()
        if self.floor.journal is None:
            raise ValueError("at= needs a capture (wirecap serve): a live floor keeps no past")
        try:
            return self.floor.view(parse_time(at, "at"))
        except click.BadParameter as err:
            raise ValueError(err.format_message()) from None

    async def order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        with self.floor.lock:
            known = self.floor.book.orders.get(order_id)
            terminals = dict(self.floor.book.terminals)
            document = None if known is None else order_model(known, terminals)
        if document is None:
            return JSONResponse({"error": f"no order {order_id} (unknown, or closed long ago)"}, 404)
        history = [p.event for p in self.floor.history(order_id)]
        detail = OrderDetail(**document.model_dump(), history=history)
        return _document(OrderDetail, detail, {})

    async def events(self, request: Request) -> Response:
        patterns = [p for p in request.query_params.get("kind", "*").split(",") if p]
        resume = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        if not resume.isdigit():
            return JSONResponse({"error": f"not an event number: {resume!r}"}, 400)
        stream = self._stream(int(resume), patterns)
        return EventSourceResponse(stream, ping=PING, send_timeout=SEND_TIMEOUT)

    async def _stream(self, after: int, patterns: list[str]) -> AsyncIterator[ServerSentEvent | bytes]:
        """What the ring got since the last wake, as one chunk of shared frames: the work per client and
        wake is a copy of the new part of the ring and one send."""
        floor = self.floor
        wanted: dict[str, bool] = {}  # kind -> whether the patterns match it
        floor.clients += 1
        try:
            while True:
                wakeup = floor.wakeup()
                batch, reset = floor.since(after)
                if reset:
                    floor.resets += 1
                    yield ServerSentEvent(json.dumps({"lost_after": after}), event="reset", id=str(after))
                frames = []
                for published in batch:
                    after = published.seq
                    kind = published.kind
                    if kind not in wanted:
                        wanted[kind] = any(fnmatch.fnmatchcase(kind, p) for p in patterns)
                    if wanted[kind]:
                        frames.append(published.frame())
                if frames:
                    yield b"".join(frames)
                await wakeup.wait()
        finally:
            floor.clients -= 1

    async def stats(self, _request: Request) -> Response:
        floor = self.floor
        with floor.lock:
            oldest = floor.ring[0].seq if floor.ring else None
            stats = ServerStats(
                mode=self.settings.mode,
                source=self.settings.source,
                finished=floor.finished,
                seq=floor.seq,
                events=dict(floor.kinds),
                open_orders=len(floor.book.open_orders()),
                orders_seen=floor.book.seen,
                first_ts=None if floor.first_ts is None else format_ts(floor.first_ts),
                last_ts=format_ts(floor.book.last_ts) if floor.book.last_ts else None,
                ring_oldest_seq=oldest,
                clients=floor.clients,
                resets=floor.resets,
            )
        return _document(ServerStats, stats, {})

    async def openapi(self, _request: Request) -> Response:
        from .openapi import openapi_document

        return JSONResponse(openapi_document())


def _clock(view: FloorView) -> dict[str, str]:
    return {"X-Wirecap-Clock": format_ts(view.clock)} if view.clock else {}


def _document(shape: Any, value: Any, headers: dict[str, str]) -> Response:
    body = TypeAdapter(shape).dump_json(value, by_alias=True)
    return Response(body, media_type="application/json", headers=headers)
