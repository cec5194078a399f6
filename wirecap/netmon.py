"""Microsoft Network Monitor capture files (``.cap``, NetMon 1.x and 2.0–2.3), read as Wireshark reads them.

The layout is Microsoft's "Network Monitor capture file format" (NetMon 3.x help): a 128-byte file header
(magic ``GMBU`` for 2.x, ``RTSS`` for 1.x; the capture start as a SYSTEMTIME; where the frame table
is), the frames, and a frame table of 32-bit file offsets, one per frame, in frame order (a frame may
sit anywhere in the file: the table, not the file order, is the sequence). A frame is a header (2.x:
64-bit microseconds since the start, original and captured length; 1.x: 32-bit milliseconds and 16-bit
lengths), the bytes, and from 2.1 on a trailer whose first field is the frame's own media type
(2.2 adds a process index; 2.3 a UTC FILETIME, which then replaces start + offset).

Media types: 0 and 1 are Ethernet; 7, 8 and 9 carry raw IP (tunnel, wireless WAN, "raw IP frames");
``0xE000 | n`` is a frame converted from a pcap file with link type ``n``. Everything else — other
link layers (Token Ring, FDDI, ATM, 802.11) and NetMon's own records (NetEvent, filters, network info,
DNS cache, reassembly headers) — is handed on under a link type of ``NETMON_MEDIA + type`` that no
pcap file uses, so the packet parser counts it and names it once instead of failing the file.

The file header and frame table are read once with construct; the per-frame headers by hand.
"""

import struct
from collections.abc import Iterator
from datetime import UTC, datetime

from construct import Array, Bytes, Int8ul, Int16ul, Int32ul, Struct

MAGIC_1X = b"RTSS"
MAGIC_2X = b"GMBU"
MAGICS = (MAGIC_1X, MAGIC_2X)
HEADER_SIZE = 128

NETMON_MEDIA = 0x10000  # link type = NETMON_MEDIA + media type, for frames wirecap cannot use
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
PCAP_BASE = 0xE000
PCAP_CONVERTED = range(0xE000, 0xE080)  # 0xE080–0xE08A are Message Analyzer's own types, not link types
MEDIA_NAMES = {
    2: "Token Ring",
    3: "FDDI",
    4: "ATM",
    5: "IEEE 1394",
    6: "802.11",
    0xE080: "WiFi message",
    0xE081: "NDIS ETW WiFi channel message",
    0xE082: "Fiddler message",
    0xE083: "WFP capture (IPv4)",
    0xE084: "WFP capture (IPv6)",
    0xE085: "WFP capture 2 (IPv4)",
    0xE086: "WFP capture 2 (IPv6)",
    0xE087: "WFP auth capture (IPv4)",
    0xE088: "WFP auth capture (IPv6)",
    0xE089: "PEF NDIS message",
    0xE08A: "PEF NDIS WiFi metadata",
    0xFFE0: "NetEvent (an ETW event)",
    0xFFFB: "network info (extended)",
    0xFFFC: "payload header of a reassembled frame",
    0xFFFD: "network info",
    0xFFFE: "DNS cache",
    0xFFFF: "NetMon filter",
}

FILE_HEADER = Struct(
    "magic" / Bytes(4),
    "ver_minor" / Int8ul,
    "ver_major" / Int8ul,
    "network" / Int16ul,  # the file's media type; from 2.1 on each frame has its own
    "start" / Array(8, Int16ul),  # SYSTEMTIME: year, month, day of week, day, hour, minute, second, ms
    "frame_table_offset" / Int32ul,
    "frame_table_length" / Int32ul,
)
_FRAME_2X = struct.Struct("<QII")  # microseconds since the start, original length, captured length
_FRAME_1X = struct.Struct("<IHH")  # milliseconds since the start, original length, captured length
_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")
TRAILER_SIZES = {1: 2, 2: 6}  # by minor version; 2.3 and later: 15
FILETIME_EPOCH = 116_444_736_000_000_000  # 1601-01-01 to 1970-01-01 in 100 ns units
MAX_FRAME = 262_144  # Wireshark's limit too: a larger frame means a damaged file
MAX_TS = (1 << 32) * 1_000_000_000  # pcap's 32-bit seconds: a later time means a damaged frame


class NetmonError(Exception):
    """The file is damaged at ``offset``; every frame before it was delivered."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset


def media_name(linktype: int) -> str:
    """How the packet parser names a NetMon media type it was handed as ``NETMON_MEDIA + type``."""
    media = linktype - NETMON_MEDIA
    return f"NetMon media type 0x{media:04X} ({MEDIA_NAMES.get(media, 'unknown')})"


def linktype_of(media: int) -> int:
    """The pcap link type of a NetMon media type, or ``NETMON_MEDIA + media`` for one wirecap cannot use."""
    if media in (0, 1):  # 0: NetMon 3.4 VPN captures write 0 for Ethernet frames
        return LINKTYPE_ETHERNET
    if media in (7, 8, 9):
        return LINKTYPE_RAW
    if media in PCAP_CONVERTED:
        return media - PCAP_BASE
    return NETMON_MEDIA + media


def frames(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """``(file offset, link type, time in ns since 1970, frame bytes)`` for each frame, in table order."""
    if len(data) < HEADER_SIZE:
        raise NetmonError(0, f"NetMon file header cut short ({len(data)} bytes)")
    header = FILE_HEADER.parse(data)
    major, minor = header.ver_major, header.ver_minor
    if header.magic not in MAGICS or major not in (1, 2):
        raise NetmonError(0, f"not a NetMon 1.x/2.x file (magic {header.magic!r}, version {major}.{minor})")
    start_ns = _start_ns(header.start)
    count, rest = divmod(header.frame_table_length, 4)
    table_end = header.frame_table_offset + header.frame_table_length
    if rest or table_end > len(data):
        where = f"{header.frame_table_length} bytes at {header.frame_table_offset}"
        raise NetmonError(HEADER_SIZE, f"NetMon frame table ({where}) does not fit the file")
    table = Array(count, Int32ul).parse(data[header.frame_table_offset : table_end])
    per_frame = major == 2 and minor >= 1
    trailer = TRAILER_SIZES.get(minor, 15) if per_frame else 0
    file_linktype = linktype_of(header.network)
    record = _FRAME_2X if major == 2 else _FRAME_1X
    for offset in table:
        if offset + record.size > len(data):
            raise NetmonError(offset, "NetMon frame header past the end of the file")
        delta, _orig, caplen = record.unpack_from(data, offset)
        start = offset + record.size
        if caplen > MAX_FRAME or start + caplen + trailer > len(data):
            raise NetmonError(offset, f"NetMon frame of {caplen} bytes does not fit the file")
        # 2.x: µs, which Microsoft says to read as signed once scaled to 100 ns; 1.x: ms
        ts = start_ns + (_signed64(delta * 10) * 100 if major == 2 else delta * 1_000_000)
        linktype = file_linktype
        if per_frame:
            end = start + caplen
            linktype = linktype_of(_U16.unpack_from(data, end)[0])
            if minor >= 3:
                ts = (_U64.unpack_from(data, end + 6)[0] - FILETIME_EPOCH) * 100
        if ts >= MAX_TS:
            raise NetmonError(offset, "NetMon frame time stamp past 2106")
        yield offset, linktype, ts, data[start : start + caplen]


def _signed64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def _start_ns(systemtime: list[int]) -> int:
    """The capture start; NetMon writes local time with no zone, read here as UTC (as Wireshark does on a
    machine whose zone is UTC: it applies the reader's own zone)."""
    year, month, _dow, day, hour, minute, second, ms = systemtime
    try:
        start = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # an unset or damaged start: frames keep their offsets from the epoch
        return 0
    return int(start.timestamp()) * 1_000_000_000 + ms * 1_000_000
