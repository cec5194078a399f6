"""Which TCP ports wirecap tracks and which protocol each one is assumed to carry.

``--port N`` (repeatable) tracks port N. When the first bytes of a connection do not tell its protocol
(a capture that starts mid-session, the normal case on a terminal link), the server port decides:
HTTP's port (8080) is HTTP, every other tracked port is net.tcp ([MC-NMF]) — its decoder then searches
for the next envelope, and says so (``service`` null in ``conn.close``) if it finds no framing.
``--port N=nmf|http|remoting`` pins a protocol to port N: its connections get that decoder without
probing. Connections on other ports seen with ``--any-port`` are decoded only if a probe recognises
them.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import click

from decoders.detect import DEFAULT_PORTS, PROTOCOL_NAMES

PortSpec = tuple[int, str | None]  # (port, pinned protocol or None)
ASSUMED = "nmf"  # the protocol of a tracked port that is not HTTP's


class PortParam(click.ParamType):
    """``N`` or ``N=PROTOCOL`` (PROTOCOL one of the registered decoders: nmf, http, remoting)."""

    name = "PORT[=PROTO]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> PortSpec:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        number, sep, proto = text.partition("=")
        try:
            port = int(number)
        except ValueError:
            self.fail(f"{text!r}: expected a port number, optionally =PROTOCOL", param, ctx)
        if not 1 <= port <= 65535:
            self.fail(f"{port} is not a TCP port (1-65535)", param, ctx)
        if not sep:
            return port, None
        proto = proto.strip().lower()
        if proto not in PROTOCOL_NAMES:
            self.fail(f"{proto!r} is not one of {', '.join(PROTOCOL_NAMES)}", param, ctx)
        return port, proto


def port_settings(specs: Iterable[PortSpec]) -> dict[str, Any]:
    """``Options`` keyword arguments for the ``--port`` values given (none: the defaults)."""
    specs = list(specs)
    if not specs:
        return {}
    pinned: dict[int, str] = {}
    for port, proto in specs:
        if proto is None:
            continue
        if pinned.get(port, proto) != proto:
            raise click.BadParameter(f"port {port} pinned to both {pinned[port]} and {proto}", param_hint="'--port'")
        pinned[port] = proto
    return {"ports": frozenset(port for port, _ in specs), "pinned": pinned}


def port_services(ports: Iterable[int], pinned: Mapping[int, str]) -> dict[int, str]:
    """Server port -> protocol assumed there: pinned, else HTTP on HTTP's port, else net.tcp."""
    services = {port: DEFAULT_PORTS.get(port, ASSUMED) for port in ports}
    services.update(pinned)
    return services
