"""Packet sources: capture files and pcap streams, read through libpcap (pcapy-ng).

libpcap reads pcap (µs and ns; it scales ns to µs) and pcapng, from a file or from ``-`` (stdin), and
compiles ``--filter`` expressions. Two things it cannot do are handled here:

* a pcapng file whose interfaces have different link types (libpcap refuses it): such a file is read by
  ``PcapngReader``, a small reader of our own (construct for the section and interface headers, which
  are read once; ``struct`` for the per-packet blocks), with the filter compiled by libpcap per link type;
* report where a damaged file is damaged: libpcap says only "truncated dump file", so after an error the
  file is walked record by record (``locate_damage``) to name the byte offset;
* Microsoft Network Monitor files (``.cap``), recognised by their magic and read by ``netmon``.

A source yields batches ``(linktype, packet_bytes, meta)`` where ``meta`` packs one ``=IIII`` record per
packet — seconds, microseconds, offset into ``packet_bytes``, captured length — as pcapy-ng's
``next_batch`` does, so the pipeline has one loop for every source. ``readahead.ReadAhead`` runs a
source in a second process.
"""

import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import pcapy
from construct import Const, Int16ul, Int32ul, Int64sl, Struct

from . import netmon

# packets per libpcap call for files: a batch, and the events of its packets, are held whole, and read
# ahead it sits in both processes; 4096 made the whole-pipeline capture's peak (decoder + reader) 205 MB at
# 100 k packets, 1024 makes it 155 MB, with no speed lost that the benchmark can see
BATCH = 1024
META = struct.Struct("=IIII")
Frame = tuple[int, int, bytes]  # link type, nanoseconds since the epoch, the frame's bytes

PCAP_MAGICS = {0xA1B2C3D4: ("<", 1_000), 0xA1B23C4D: ("<", 1)}  # magic -> (byte order, ns per tick)
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
MULTI_LINKTYPE_ERROR = "different from the type of the first interface"

# The packets of a batch, concatenated from offset 0; a read-ahead slot (an mmap) has stale bytes after them.
PacketBuffer = bytes | mmap.mmap
Batch = tuple[int, PacketBuffer, bytes]


class CaptureError(Exception):
    """The input cannot be read further; every packet before ``offset`` was delivered."""

    def __init__(self, name: str, offset: int | None, message: str) -> None:
        where = f" at byte offset {offset}" if offset is not None else ""
        super().__init__(f"{name}{where}: {message}")
        self.name = name
        self.offset = offset
        self.reason = message

    def __reduce__(self) -> tuple[type, tuple[str, int | None, str]]:
        return CaptureError, (self.name, self.offset, self.reason)  # crosses from the read-ahead process


@dataclass
class Progress:
    """How far a source has read, for the progress bar and the summary."""

    size: int | None  # file size, None for a stream
    done: int = 0  # bytes of the input consumed (approximate for pcapng: record overheads vary)


class Source(Protocol):
    """What the pipeline reads: a ``CaptureSource``, or one wrapped in ``readahead.ReadAhead``."""

    name: str
    progress: Progress

    def batches(self) -> Iterator[Batch]: ...


class CaptureSource:
    """One capture file, or ``-`` for a pcap stream on stdin (one packet per batch: no waiting)."""

    def __init__(self, path: str, bpf: str | None = None) -> None:
        self.path = path
        self.name = "<stdin>" if path == "-" else path
        self.bpf = bpf
        self.stream = path == "-"
        self.progress = Progress(None if self.stream else os.path.getsize(path))
        self.batch = 1 if self.stream else BATCH  # packets per batch, pickled with the source for a reader process

    def batches(self) -> Iterator[Batch]:
        if not self.stream and _magic(self.path) in netmon.MAGICS:
            yield from self._netmon()
            return
        reader = self._open()
        linktype = reader.datalink()
        size = self.batch
        delivered = 0  # packets handed out, to resume after an error
        while True:
            try:
                packets, meta = reader.next_batch(size)
            except pcapy.PcapError as err:
                if MULTI_LINKTYPE_ERROR in str(err):
                    yield from PcapngReader(self.path, self.bpf, self.progress, self.batch).batches(skip=delivered)
                    return
                yield from self._salvage(delivered, size)
                raise CaptureError(self.name, self._damage_offset(), str(err)) from None
            if not meta:
                if self.progress.size is not None:
                    self.progress.done = self.progress.size  # headers included: the whole file is read
                return
            delivered += len(meta) // META.size
            self.progress.done += len(packets) + 16 * (len(meta) // META.size)
            yield linktype, packets, meta

    def _open(self) -> "pcapy.Reader":
        try:
            reader = pcapy.open_offline(self.path)
        except pcapy.PcapError as err:
            raise CaptureError(self.name, 0, str(err)) from None
        if self.bpf:
            try:
                reader.setfilter(self.bpf)
            except pcapy.PcapError as err:
                raise CaptureError(self.name, None, f"bad --filter: {err}") from None
        return reader

    def _salvage(self, delivered: int, size: int) -> Iterator[Batch]:
        """libpcap drops the whole batch on an error: reread it packet by packet up to the damage."""
        if size == 1 or self.stream:
            return
        reader = self._open()
        linktype = reader.datalink()
        for _ in range(delivered):
            reader.next()
        while True:
            try:
                packets, meta = reader.next_batch(1)
            except pcapy.PcapError:
                return
            if not meta:
                return
            yield linktype, packets, meta

    def _damage_offset(self) -> int | None:
        return None if self.stream else locate_damage(self.path)

    def _netmon(self) -> Iterator[Batch]:
        """A NetMon file, its frames in batches of one link type (frames may change it one by one)."""
        with open(self.path, "rb") as f:
            data = f.read()  # the frame table is at the end; NetMon writes files of a few MB
        yield from _batched(self._netmon_frames(data), self.batch)
        self.progress.done = len(data)

    def _netmon_frames(self, data: bytes) -> Iterator[Frame]:
        filters: dict[int, pcapy.BPFProgram | None] = {}
        try:
            for offset, linktype, ts, frame in netmon.frames(data):
                if self.bpf:
                    if linktype not in filters:
                        filters[linktype] = _compile(linktype, self.bpf)
                    bpf = filters[linktype]
                    if bpf is not None and not bpf.filter(frame):
                        continue
                self.progress.done = offset
                yield linktype, ts, frame
        except netmon.NetmonError as err:
            raise CaptureError(self.name, err.offset, str(err)) from None


def _batched(frames: Iterator[Frame], size: int) -> Iterator[Batch]:
    """Frames in batches of one link type and at most ``size`` frames; the frames before a
    ``CaptureError`` are yielded before it is raised."""
    linktype, packets, meta = -1, bytearray(), bytearray()
    try:
        for frame_linktype, ts_ns, frame in frames:
            if frame_linktype != linktype or len(meta) == size * META.size:
                if meta:
                    yield linktype, bytes(packets), bytes(meta)
                linktype, packets, meta = frame_linktype, bytearray(), bytearray()
            sec, ns = divmod(max(ts_ns, 0), 1_000_000_000)
            meta += META.pack(sec, ns // 1000, len(packets), len(frame))
            packets += frame
    except CaptureError:
        if meta:
            yield linktype, bytes(packets), bytes(meta)
        raise
    if meta:
        yield linktype, bytes(packets), bytes(meta)


def _magic(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(4)


def _compile(linktype: int, bpf: str) -> "pcapy.BPFProgram | None":
    """``bpf`` for ``linktype``; None (keep every frame) for a link type libpcap does not know: such frames
    only get counted."""
    try:
        return pcapy.compile(linktype, 262144, bpf, 1, 0)
    except (pcapy.PcapError, pcapy.BPFError):
        return None


def check_filter(bpf: str) -> None:
    """Compile ``bpf`` once up front so that a typo is caught before reading; ValueError if bad."""
    try:
        pcapy.compile(pcapy.DLT_EN10MB, 262144, bpf, 1, 0)
    except (pcapy.PcapError, pcapy.BPFError) as err:
        raise ValueError(f"{bpf!r}: {err}") from None


# --- pcapng, read by ourselves where libpcap refuses -------------------------------------------------

SECTION_HEADER = Struct(
    "block_type" / Const(PCAPNG_SHB, Int32ul),
    "block_length" / Int32ul,
    "byte_order_magic" / Int32ul,
    "major" / Int16ul,
    "minor" / Int16ul,
    "section_length" / Int64sl,
)
INTERFACE_DESCRIPTION = Struct(
    "linktype" / Int16ul,
    "reserved" / Int16ul,
    "snaplen" / Int32ul,
)
_BLOCK_HEAD = struct.Struct("<II")
_EPB = struct.Struct("<IIIII")
_OPB = struct.Struct("<HHIIII")
_OPTION = struct.Struct("<HH")
IF_TSRESOL = 9
BLOCK_IDB, BLOCK_OPB, BLOCK_SPB, BLOCK_EPB = 1, 2, 3, 6


class PcapngReader:
    """pcapng with interfaces of several link types ([draft-ietf-opsawg-pcapng]).

    Little-endian sections only (every writer in use on x86 and ARM); a big-endian section is reported
    as an error rather than misread.
    """

    def __init__(self, path: str, bpf: str | None, progress: Progress, batch: int = BATCH) -> None:
        self.path = path
        self.bpf = bpf
        self.progress = progress
        self.batch = batch

    def batches(self, skip: int = 0) -> Iterator[Batch]:
        """The packets after the first ``skip``, in batches of one link type."""
        yield from _batched(self._frames(skip), self.batch)

    def _frames(self, skip: int) -> Iterator[Frame]:
        """Block by block from the file: memory follows the largest block, not the file's size."""
        interfaces: list[tuple[int, int, pcapy.BPFProgram | None]] = []  # linktype, ns per tick, filter
        index = 0
        last_ns = 0
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            pos = 0
            while pos + 12 <= size:
                head = f.read(8)
                btype, blen = _BLOCK_HEAD.unpack(head) if len(head) == 8 else (0, 0)
                if blen < 12 or blen % 4 or pos + blen > size:
                    raise CaptureError(self.path, pos, f"pcapng block of type 0x{btype:x} with bad length {blen}")
                block = head + f.read(blen - 8)
                if len(block) != blen:  # the file shrank while being read
                    break
                if btype == PCAPNG_SHB:
                    header = SECTION_HEADER.parse(block[:24])
                    if header.byte_order_magic != PCAPNG_BYTE_ORDER_MAGIC:
                        raise CaptureError(self.path, pos, "big-endian pcapng section")
                    interfaces = []
                elif btype == BLOCK_IDB:
                    idb = INTERFACE_DESCRIPTION.parse(block[8:16])
                    ticks = _tsresol_ns(block, 16, blen - 4)
                    bpf = pcapy.compile(idb.linktype, 262144, self.bpf, 1, 0) if self.bpf else None
                    interfaces.append((idb.linktype, ticks, bpf))
                elif btype in (BLOCK_EPB, BLOCK_OPB, BLOCK_SPB):
                    if btype == BLOCK_EPB:
                        iface, ts_hi, ts_lo, caplen, _orig = _EPB.unpack_from(block, 8)
                        start = 28
                    elif btype == BLOCK_OPB:
                        iface, _drops, ts_hi, ts_lo, caplen, _orig = _OPB.unpack_from(block, 8)
                        start = 28
                    else:  # simple packet block: interface 0, no timestamp, captured = min(original, snap)
                        iface, ts_hi, ts_lo = 0, None, 0
                        caplen = blen - 16
                        start = 12
                    if iface >= len(interfaces) or start + caplen > blen:
                        raise CaptureError(self.path, pos, f"packet block for interface {iface} is malformed")
                    linktype, ticks, bpf = interfaces[iface]
                    ts_ns = last_ns if ts_hi is None else ((ts_hi << 32) | ts_lo) * ticks
                    last_ns = ts_ns
                    packet = block[start : start + caplen]
                    if index >= skip and (bpf is None or bpf.filter(packet)):
                        yield linktype, ts_ns, packet
                    index += 1
                pos += blen
                self.progress.done = pos
        if pos != size:
            raise CaptureError(self.path, pos, "pcapng file ends inside a block")


def _tsresol_ns(data: bytes, pos: int, end: int) -> int:
    """Nanoseconds per timestamp tick from an interface's options (default µs)."""
    while pos + 4 <= end:
        code, length = _OPTION.unpack_from(data, pos)
        if code == 0:
            break
        if code == IF_TSRESOL and length >= 1:
            value = data[pos + 4]
            exponent = value & 0x7F
            if value & 0x80:
                return max(1, 1_000_000_000 >> exponent)
            return max(1, 1_000_000_000 // 10**exponent)
        pos += 4 + length + (-length % 4)
    return 1_000


def locate_damage(path: str) -> int | None:
    """Byte offset of the first record or block that is cut short or malformed (None if none found).

    Headers are read and the packets skipped over, so a damaged multi-gigabyte file is not held whole."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 24:
            return 0
        head = f.read(24)
        if struct.unpack_from("<I", head)[0] == PCAPNG_SHB:
            return _pcapng_damage(f, size)
        for order in ("<", ">"):
            if struct.unpack_from(order + "I", head)[0] in PCAP_MAGICS:
                return _pcap_damage(f, size, struct.Struct(order + "IIII"))
    return 0


def _pcapng_damage(f: BinaryIO, size: int) -> int | None:
    """The first block whose length is bad, runs past the end, or is not repeated at its end."""
    pos = 0
    while pos + 12 <= size:
        f.seek(pos)
        blen = _BLOCK_HEAD.unpack(f.read(8))[1]
        if blen < 12 or blen % 4 or pos + blen > size:
            return pos
        f.seek(pos + blen - 4)
        if struct.unpack("<I", f.read(4))[0] != blen:
            return pos
        pos += blen
    return pos if pos != size else None


def _pcap_damage(f: BinaryIO, size: int, record: struct.Struct) -> int | None:
    """The first record whose packet runs past the end."""
    pos = 24
    while pos + 16 <= size:
        f.seek(pos)
        caplen = record.unpack(f.read(16))[2]
        if pos + 16 + caplen > size:
            return pos
        pos += 16 + caplen
    return pos if pos != size else None
