"""Genuine net.tcp sessions for the benchmarks: TCP streams of the committed captures, cut into
[MC-NMF] records.

Self-contained on purpose (a minimal record walker, no dependency on ``decoders.nmf``): the benchmark
must be able to feed a peer decoder the very same envelopes as ours, and must keep working while the
decoders under test change.
"""

import re
import struct
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))  # streams without a preamble are skipped

VERSION, MODE, VIA, KNOWN_ENCODING, EXTENSIBLE_ENCODING, UNSIZED_ENVELOPE = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
SIZED_ENVELOPE, END, FAULT, UPGRADE_REQUEST, UPGRADE_RESPONSE = 0x06, 0x07, 0x08, 0x09, 0x0A
PREAMBLE_ACK, PREAMBLE_END = 0x0B, 0x0C
BINARY_SESSION = 0x08  # KnownEncoding: binary XML with the in-band [MC-NBFSE] session dictionary
FIXED = {VERSION: 2, MODE: 1, KNOWN_ENCODING: 1, END: 0, UPGRADE_RESPONSE: 0, PREAMBLE_ACK: 0, PREAMBLE_END: 0}
SIZED = {VIA, EXTENSIBLE_ENCODING, SIZED_ENVELOPE, FAULT, UPGRADE_REQUEST}


def mb31(data: bytes, pos: int) -> tuple[int, int]:
    """[MC-NMF] 2.2.2 MultiByteInt31: (value, position after it); IndexError if truncated."""
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


@dataclass(frozen=True, slots=True)
class Record:
    type: int
    end: int  # offset just past the record in the stream
    envelope: bytes = b""  # the message of a sized or unsized envelope record


def records(data: bytes) -> Iterator[Record]:
    """The complete records of one direction's stream, up to the first unknown or truncated one."""
    pos = 0
    while pos < len(data):
        t = data[pos]
        envelope = b""
        try:
            if t in FIXED:
                end = pos + 1 + FIXED[t]
            elif t in SIZED:
                size, body = mb31(data, pos + 1)
                end = body + size
                if t == SIZED_ENVELOPE:
                    envelope = data[body:end]
            elif t == UNSIZED_ENVELOPE:  # chunks of MB31 size + bytes, ended by a zero size
                chunks, end = [], pos + 1
                while (chunk := mb31(data, end))[0]:
                    size, end = chunk
                    chunks.append(data[end : end + size])
                    end += size
                end = chunk[1]
                envelope = b"".join(chunks)
            else:
                return
        except IndexError:
            return
        if end > len(data):
            return
        yield Record(t, end, envelope)
        pos = end


@dataclass(frozen=True, slots=True)
class Session:
    """One net.tcp connection from its preamble: the messages each side sent, in order."""

    orig: bytes
    resp: bytes
    encoding: int

    def envelopes(self, direction: str) -> list[bytes]:
        """The SizedEnvelope payloads of ``direction`` (each side keeps its own session dictionary)."""
        data = self.orig if direction == "orig" else self.resp
        return [r.envelope for r in records(data) if r.type in (SIZED_ENVELOPE, UNSIZED_ENVELOPE)]

    def turns(self) -> list[tuple[str, bytes]]:
        """The conversation as alternating turns: the client's preamble, the server's ack, then each
        request followed by its reply — the order a request/reply net.tcp channel produces."""

        def units(data: bytes, first_end: int) -> list[bytes]:
            out, start = [], 0
            for r in records(data):
                if r.type in (first_end, SIZED_ENVELOPE, UNSIZED_ENVELOPE, END, FAULT):
                    out.append(data[start : r.end])
                    start = r.end
            return out

        pairs = zip_longest(units(self.orig, PREAMBLE_END), units(self.resp, PREAMBLE_ACK), fillvalue=b"")
        return [(d, b) for o, r in pairs for d, b in (("orig", o), ("resp", r)) if b]


def session(orig: bytes, resp: bytes) -> Session | None:
    """A Session if ``orig`` starts with an [MC-NMF] preamble (version record 1.0), else None."""
    if not orig.startswith(b"\x00\x01\x00"):
        return None
    encoding = next((orig[r.end - 1] for r in records(orig) if r.type == KNOWN_ENCODING), -1)
    return Session(orig, resp, encoding)


def tcp_streams(path: Path) -> list[tuple[bytes, bytes]]:
    """(client bytes, server bytes) of each TCP connection — from ``wirecap.pipeline`` when it is
    available, otherwise from tshark's reassembly (``follow,tcp,raw``)."""
    try:
        from wirecap.streams import collect_streams  # type: ignore[import-not-found]
    except ImportError:
        return _tshark_streams(path)
    return [(s.data.get("orig", b""), s.data.get("resp", b"")) for s in collect_streams([str(path)])]


def _tshark_streams(path: Path) -> list[tuple[bytes, bytes]]:
    ids = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.stream"], capture_output=True, text=True, check=True
    ).stdout.split()
    streams = sorted({int(i) for i in ids if i})
    if not streams:
        return []
    args = ["tshark", "-r", str(path), "-q"]
    for i in streams:
        args += ["-z", f"follow,tcp,raw,{i}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    result = []
    # Each stream's block: header lines, then hex lines; the responder's lines are tab-indented.
    for block in re.split(r"^=+\nFollow: tcp,raw\n", out, flags=re.M)[1:]:
        orig, resp = bytearray(), bytearray()
        for line in block.splitlines():
            hexpart = line.strip()
            if not re.fullmatch(r"[0-9a-f]+", hexpart):
                continue
            (resp if line.startswith("\t") else orig).extend(bytes.fromhex(hexpart))
        result.append((bytes(orig), bytes(resp)))
    return result


def load_sessions(paths: Sequence[Path] = CAPTURES) -> list[Session]:
    """Every net.tcp session of the captures that starts with its preamble."""
    return [s for p in paths for o, r in tcp_streams(p) if (s := session(o, r))]


PCAP_RECORD = struct.Struct("<IIII")


@dataclass(frozen=True, slots=True)
class PacketSession:
    """One TCP connection of a capture as its packets carried it: the server port, and the payload turns
    (consecutive segments of one side merged) in capture order — HTTP as well as net.tcp, since no
    framing is parsed."""

    server_port: int
    turns: list[tuple[str, bytes]]


def packet_sessions(path: Path) -> list[PacketSession]:
    """The connections of a classic Ethernet/IPv4 pcap that start with a SYN, in order of their SYN.

    A segment below the next expected sequence number (a retransmission) is left out, so that every
    turn is the bytes the receiver's stack delivered.
    """
    data = path.read_bytes()
    if data[:4] != b"\xd4\xc3\xb2\xa1" or int.from_bytes(data[20:24], "little") != 1:
        raise ValueError(f"{path}: not a little-endian Ethernet pcap")
    conns: dict[tuple[bytes, int, bytes, int], tuple[PacketSession, dict[str, int]]] = {}
    pos = 24
    while pos + PCAP_RECORD.size <= len(data):
        _, _, incl, _ = PCAP_RECORD.unpack_from(data, pos)
        frame = data[pos + PCAP_RECORD.size : pos + PCAP_RECORD.size + incl]
        pos += PCAP_RECORD.size + incl
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:  # IPv4, TCP
            continue
        ihl = (frame[14] & 0x0F) * 4
        total = int.from_bytes(frame[16:18], "big")
        tcp = frame[14 + ihl : 14 + total]
        src, dst = frame[26:30], frame[30:34]
        sport, dport, seq = struct.unpack_from("!HHI", tcp)
        flags, payload = tcp[13], tcp[(tcp[12] >> 4) * 4 :]
        if flags & 0x12 == 0x02:  # SYN without ACK: the client opens
            conns[(src, sport, dst, dport)] = (PacketSession(dport, []), {"orig": (seq + 1) & 0xFFFFFFFF})
            continue
        key, side = (src, sport, dst, dport), "orig"
        if key not in conns:
            key, side = (dst, dport, src, sport), "resp"
        if key not in conns:
            continue
        s, expect = conns[key]
        if flags & 0x12 == 0x12:
            expect["resp"] = (seq + 1) & 0xFFFFFFFF
            continue
        if not payload or seq != expect.get(side):
            continue
        expect[side] = (seq + len(payload)) & 0xFFFFFFFF
        if s.turns and s.turns[-1][0] == side:
            s.turns[-1] = (side, s.turns[-1][1] + payload)
        else:
            s.turns.append((side, payload))
    return [s for s, _ in conns.values() if s.turns]
