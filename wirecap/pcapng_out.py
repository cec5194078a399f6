"""``-w FILE``: the packets read, written back as pcapng ([draft-ietf-opsawg-pcapng]).

pcapng, not pcap, because merged inputs may have different link types: one interface description per
link type, each packet an Enhanced Packet Block with microsecond time (the resolution the sources
give). The packets written are those the pipeline is given: after ``--filter``, ``-c``, ``--since`` and
``--until``, whatever their ports. ``RingWriter`` (``wirecap live --ring NxSIZE``) rotates them over
``N`` files, as dumpcap's ring buffer does.
"""

import os
import struct
from typing import IO

from .source import META, PacketBuffer

SHB = struct.Struct("<IIIHHq")  # type, length, byte-order magic, major, minor, section length
IDB = struct.Struct("<IIHHI")  # type, length, link type, reserved, snap length
EPB_HEAD = struct.Struct("<IIIIIII")  # type, length, interface, ts high, ts low, captured, original
U32 = struct.Struct("<I")
SNAPLEN = 262144


class PcapngWriter:
    def __init__(self, path: str) -> None:
        self._start(path)

    def _start(self, path: str) -> None:
        """A new file: its section header; the interfaces are described again as they come."""
        self.out: IO[bytes] = open(path, "wb")  # noqa: SIM115 -- closed by close()
        self.out.write(SHB.pack(0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + U32.pack(28))
        self.interfaces: dict[int, int] = {}  # link type -> interface id

    def write(self, linktype: int, buf: PacketBuffer, meta: bytes) -> None:
        iface = self.interfaces.get(linktype)
        if iface is None:
            iface = self.interfaces[linktype] = len(self.interfaces)
            self.out.write(IDB.pack(1, 20, linktype, 0, SNAPLEN) + U32.pack(20))
        blocks = []
        for sec, usec, off, caplen in META.iter_unpack(meta):
            pad = -caplen % 4
            length = 32 + caplen + pad
            ts = sec * 1_000_000 + usec
            blocks.append(EPB_HEAD.pack(6, length, iface, ts >> 32, ts & 0xFFFFFFFF, caplen, caplen))
            blocks.append(bytes(buf[off : off + caplen]) + b"\0" * pad + U32.pack(length))
        self.out.write(b"".join(blocks))

    def close(self) -> None:
        self.out.close()


class RingWriter(PcapngWriter):
    """``FILE`` written as ``FILE_00001.pcapng``, ``FILE_00002.pcapng``, …: a new file once one holds
    ``size`` bytes (between batches, so each file is whole), only the newest ``files`` kept."""

    def __init__(self, path: str, files: int, size: int) -> None:
        stem, ext = os.path.splitext(path)
        self.pattern = f"{stem}_{{:05d}}{ext or '.pcapng'}"
        self.files = files
        self.size = size
        self.number = 1
        super().__init__(self.pattern.format(1))

    def write(self, linktype: int, buf: PacketBuffer, meta: bytes) -> None:
        super().write(linktype, buf, meta)
        if self.out.tell() >= self.size:
            self.out.close()
            self.number += 1
            if self.number > self.files:
                os.remove(self.pattern.format(self.number - self.files))
            self._start(self.pattern.format(self.number))
