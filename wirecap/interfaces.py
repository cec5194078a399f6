"""``wirecap interfaces``: what can be captured on, with its addresses (as ``tcpdump -D`` plus ``ip addr``).

The names are libpcap's (``pcap_findalldevs``: what ``-i`` accepts); the addresses come from the C
library's ``getifaddrs``, which libpcap's own list leaves out of pcapy's binding.
"""

import ctypes
import ctypes.util
import socket

from .capture import available


class _Sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 26)]  # Linux: family first, 2 bytes


class _Ifaddrs(ctypes.Structure):
    pass


_Ifaddrs._fields_ = [
    ("next", ctypes.POINTER(_Ifaddrs)),
    ("name", ctypes.c_char_p),
    ("flags", ctypes.c_uint),
    ("addr", ctypes.POINTER(_Sockaddr)),
    ("netmask", ctypes.POINTER(_Sockaddr)),
    ("ifu", ctypes.c_void_p),
    ("data", ctypes.c_void_p),
]
IFF_UP = 0x1
IFF_LOOPBACK = 0x8


def addresses() -> dict[str, tuple[bool, list[str]]]:
    """Interface name → (up, its IPv4 and IPv6 addresses); empty where getifaddrs is not to be had."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    head = ctypes.POINTER(_Ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        return {}
    out: dict[str, tuple[bool, list[str]]] = {}
    try:
        node = head
        while node:
            entry = node.contents
            name = entry.name.decode(errors="replace")
            up, found = out.get(name, (False, []))
            up = up or bool(entry.flags & IFF_UP)
            if entry.addr:
                sa = entry.addr.contents
                raw = bytes(sa.data)
                if sa.family == socket.AF_INET:
                    found.append(socket.inet_ntop(socket.AF_INET, raw[2:6]))
                elif sa.family == socket.AF_INET6:
                    found.append(socket.inet_ntop(socket.AF_INET6, raw[6:22]))
            out[name] = (up, found)
            node = entry.next
    finally:
        libc.freeifaddrs(head)
    return out


def listing() -> list[str]:
    """One line per interface libpcap offers: its name, up or down, its addresses."""
    known = addresses()
    lines = []
    for n, name in enumerate(available(), 1):
        up, found = known.get(name, (None, []))
        state = "" if up is None else (" up" if up else " down")
        lines.append(f"{n}. {name}{state}" + (f"  {' '.join(found)}" if found else ""))
    return lines
