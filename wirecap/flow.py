"""Connection identity: Zeek-style uids, Community ID v1 and endpoint strings.

uids are derived from the input (first packet time, endpoints, ordinal of reuse), never random, so
the same capture gives byte-identical output on every run.
"""

import base64
import hashlib
import socket
import struct

from decoders.events import ConnFields

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PORTS = struct.Struct("!BBHH")


def make_uid(first_ts: int, orig: str, resp: str, ordinal: int) -> str:
    """A Zeek-shaped uid ("C" + 17 base62 characters) hashed from the connection's first sighting."""
    digest = hashlib.blake2b(f"{first_ts}|{orig}|{resp}|{ordinal}".encode(), digest_size=13).digest()
    n = int.from_bytes(digest, "big")
    chars = []
    for _ in range(17):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return "C" + "".join(chars)


def community_id(saddr: bytes, daddr: bytes, sport: int, dport: int, proto: int = 6, seed: int = 0) -> str:
    """Community ID v1 (corelight/community-id-spec): base64 SHA-1 over the ordered 5-tuple."""
    if (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    data = seed.to_bytes(2, "big") + saddr + daddr + _PORTS.pack(proto, 0, sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def host(addr: bytes) -> str:
    """``10.0.0.5`` or ``fe80::1`` (Zeek's ``orig_h``/``resp_h``: no brackets, no port)."""
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def endpoint(addr: bytes, port: int) -> str:
    """``10.0.0.5:51234`` or ``[fe80::1]:8506``."""
    if len(addr) == 4:
        return f"{host(addr)}:{port}"
    return f"[{host(addr)}]:{port}"


def conn_fields(uid: str, community_id: str, orig: str, resp: str) -> ConnFields:
    """A connection's identity from its endpoint strings (``10.0.0.5:51234``, ``[fe80::1]:8506``), the split
    host and port fields derived from them: for tests, fuzz targets and tools that build events by hand."""
    (orig_h, orig_p), (resp_h, resp_p) = _split(orig), _split(resp)
    return ConnFields(
        uid=uid,
        community_id=community_id,
        orig=orig,
        resp=resp,
        orig_h=orig_h,
        orig_p=orig_p,
        resp_h=resp_h,
        resp_p=resp_p,
    )


def _split(endpoint_text: str) -> tuple[str, int]:
    host_text, _, port = endpoint_text.rpartition(":")
    return host_text.strip("[]"), int(port)
