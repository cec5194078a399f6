"""Protocol detection: which decoder a connection gets, from the first bytes of its streams.

As in Zeek's dynamic protocol detection, each protocol offers a cheap ``probe`` over the first bytes
of the originator's and responder's streams. A probe answers True (this is mine), False (not mine) or
None (need more bytes). When every probe says False or the probing window is exhausted, the protocol
the server port is assigned to (``ports``: 8506 net.tcp and 8080 HTTP by default, any port the user
names) is assumed — this is how a capture that starts mid-session still reaches the right decoder,
which then resynchronises by itself. A port the user pinned to a protocol skips probing. Otherwise
the connection gets the ``Undecoded`` fallback (its bytes are still counted in ``conn.close``).

A decoder accounts for every byte it was given (``accounting``): decoded, or skipped for a named
reason (``decoders.accounting``); ``conn.close`` adds the gaps, and the three add up to the stream
(``wirecap.ledger``).

Decoders register in ``PROTOCOLS`` below and nowhere else; the interface they implement is
``decoders.interface`` (re-exported here for the capture side).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import http, nmf, remoting
from .events import ConnFields
from .interface import Accounting, Decoder, DecoderOptions, Undecoded

__all__ = ["Accounting", "Decoder", "DecoderOptions", "Protocol", "Undecoded", "detect"]  # interface re-exported

PROBE_WINDOW = 64  # bytes of each direction a probe may ask for before detection gives up
DEFAULT_PORTS: Mapping[int, str] = {8506: "nmf", 8080: "http"}  # server port -> protocol assumed there


Probe = Callable[[bytes, bytes], bool | None]


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    probe: Probe  # (first orig bytes, first resp bytes) -> True / False / None (need more)
    factory: Callable[[ConnFields, DecoderOptions], Decoder]


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("remoting", remoting.probe, remoting.RemotingDecoder),
    Protocol("http", http.probe, http.HttpDecoder),
    Protocol("nmf", nmf.probe, nmf.NmfDecoder),
)
PROTOCOL_NAMES = tuple(proto.name for proto in PROTOCOLS)


def detect(
    orig_head: bytes,
    resp_head: bytes,
    server_port: int,
    *,
    final: bool,
    protocols: tuple[Protocol, ...] | None = None,
    ports: Mapping[int, str] = DEFAULT_PORTS,
    pinned: frozenset[int] = frozenset(),
) -> tuple[bool, Protocol | None, bool]:
    """(decided, protocol, probed): the protocol once decided (None: undecoded), and whether its probe
    recognised it (False: assumed from the port).

    ``final`` is set when no more bytes will help (window full, or the connection ended): then the
    port's protocol or undecoded is decided instead of waiting. A protocol whose probe says True wins;
    ties go to registration order. On a ``pinned`` port its protocol is taken without probing.
    """
    candidates = PROTOCOLS if protocols is None else protocols
    assumed = next((p for p in candidates if p.name == ports.get(server_port)), None)
    if server_port in pinned:
        return True, assumed, False
    undecided = False
    for proto in candidates:
        verdict = proto.probe(orig_head, resp_head)
        if verdict:
            return True, proto, True
        if verdict is None:
            undecided = True
    if undecided and not final:
        return False, None, False
    return True, assumed, False
