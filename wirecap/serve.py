"""``wirecap serve``: the open-orders API and the floor board over captures; the web server ``live --serve``
runs too.

The server (uvicorn, in its own thread) and the decoder (the main thread, which keeps the signals) share
only a ``Floor``. The listening socket is bound before anything is read, so a taken port or a bad
address is one clear error. Any address but loopback needs ``--token``: the store LAN is not trusted.
``--speed`` replays a capture as it was recorded (``--speed 1``), faster or slower: each packet is
released into the pipeline at its own time, which is what the board's one-second promise is measured from.
"""

import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import click

from decoders.iiko import OrderTracker

from .floor import Floor
from .options import capture_options
from .orders import analyse, capture_options_of, port_options, read_rules, rules_option
from .ports import PortSpec
from .redact import keep_secrets_option
from .runner import CaptureArgs, report
from .source import META, Batch
from .stopping import StopGuard, Stopped

DEFAULT_LISTEN = "127.0.0.1:8765"
STARTUP = 10.0  # seconds the server may take to start
TOKEN_ENV = "WIRECAP_TOKEN"


class ListenParam(click.ParamType):
    """``ADDR:PORT`` (``[::1]:8765`` for IPv6)."""

    name = "ADDR:PORT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        host, sep, port = str(value).rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.fail(f"{value!r}: expected ADDR:PORT, e.g. {DEFAULT_LISTEN}", param, ctx)
        return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def require_token(host: str, token: str | None, option: str) -> None:
    if token is None and not is_loopback(host):
        raise click.BadParameter(
            f"{host} is not a loopback address: anyone on the network could read the orders; "
            f"give --token TOKEN (or {TOKEN_ENV}) to require it, or listen on 127.0.0.1",
            param_hint=option,
        )


def token_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--token",
        envvar=TOKEN_ENV,
        metavar="TOKEN",
        help=f"Require this token (Authorization: Bearer, or the board's login page); needed off loopback "
        f"[env {TOKEN_ENV}].",
    )(command)


class WebServer:
    """uvicorn serving ``app`` on an already bound socket, in a thread of its own."""

    def __init__(self, app: Any, host: str, port: int, option: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.sock = socket.create_server((host, port), family=family)
        except OSError as exc:
            why = exc.strerror or exc
            raise click.BadParameter(f"cannot listen on {host}:{port}: {why}", param_hint=option) from None
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{self.port}/"
        import uvicorn  # the web stack (about 6 MB a process) is loaded only by what serves

        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + STARTUP
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise click.ClickException(f"the web server did not start on {self.url}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


class Pacer:
    """Releases packets at their capture times divided by ``speed``, one packet per batch; ``released``
    maps a packet's time (ns) to the wall clock of its release (the board's latency is measured from it)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.released: dict[int, float] = {}

    def __call__(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        start: tuple[int, float] | None = None
        try:
            for linktype, buf, meta in batches:
                for sec, usec, offset, caplen in META.iter_unpack(meta):
                    ts = sec * 1_000_000_000 + usec * 1000
                    if start is None:
                        start = (ts, time.monotonic())
                    delay = start[1] + (ts - start[0]) / 1e9 / self.speed - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    self.released[ts] = time.time()
                    yield linktype, bytes(buf[offset : offset + caplen]), META.pack(sec, usec, 0, caplen)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()


def wait_for_stop() -> None:
    """Until SIGINT or SIGTERM (the guard raises ``Stopped`` out of the sleep)."""
    try:
        while True:
            time.sleep(3600)
    except Stopped:
        pass


@click.command()
@capture_options
@click.option(
    "--listen",
    type=ListenParam(),
    default=DEFAULT_LISTEN,
    show_default=True,
    help="Serve here; an address other than loopback needs --token.",
)
@token_option
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    metavar="FACTOR",
    help="Replay at the capture's own pace times FACTOR (1: as recorded) instead of all at once.",
)
@port_options
@rules_option
@keep_secrets_option
def serve(
    capture: CaptureArgs,
    listen: tuple[str, int],
    token: str | None,
    speed: float | None,
    ports: tuple[PortSpec, ...],
    any_port: bool,
    rules_files: tuple[str, ...],
    keep_secrets: bool,
) -> None:
    """Serve the open orders of PCAP files as an HTTP API and a floor board (a time slider for the past).

    GET /api/orders, /api/orders/ID, /api/events (Server-Sent Events), /api/stats, /api/openapi.json;
    the board at /. Runs until Ctrl-C.
    """
    host, port = listen
    require_token(host, token, "--listen")
    from .api import Settings, build_app  # the web stack: only when serving

    rules = read_rules(rules_files)
    floor = Floor(keep_journal=True, rules=rules)
    analyzers = (floor, OrderTracker(rules))  # Floor first: it sees events in seq order
    server = WebServer(build_app(floor, Settings("capture", " ".join(capture.inputs), token)), host, port, "--listen")
    guard = StopGuard()
    guard.install()
    server.start()
    click.echo(f"wirecap: serving {server.url} (Ctrl-C to stop)", err=True)
    options = capture_options_of(ports, any_port, keep_secrets)
    try:
        outcome = analyse(capture, analyzers, options, guard, pace=Pacer(speed) if speed else None)
        floor.finished = outcome.stopped is None
        report(outcome)
        if outcome.stopped is None:
            read = "the captures" if len(capture.inputs) > 1 else capture.inputs[0]
            read = "<stdin>" if read == "-" else read
            click.echo(
                f"wirecap: {read} read: {floor.seq:,} events, {len(floor.book.open_orders())} open orders", err=True
            )
            wait_for_stop()
    finally:
        server.stop()
    sys.exit(1 if outcome.error or outcome.skipped else 0)  # a stop is how serving ends: not an error
