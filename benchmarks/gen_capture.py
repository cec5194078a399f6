"""Deterministic generator of large benchmark captures (classic pcap, Ethernet/IPv4/TCP).

200 TCP connections from distinct client ip:ports to a server on port 8506, interleaved packet by
packet, each with a 3-way handshake, MSS-sized data segments with correct seq/ack numbers and
checksums, delayed ACKs, and a FIN/ACK close. Payload comes either from a seeded random pool
(``synthetic``: the throughput worst case, every segment full) or from genuine net.tcp sessions
(``replay``: every connection carries real [MC-NMF]/[MC-NBFX] bytes, see ``benchmarks/streams.py``).

Packets are written at full size (no snaplen truncation) — a 1 M-packet synthetic file is ~1.5 GB —
because truncated payloads would make the decoders' work unrealistically cheap. Files are cached in
``benchmarks/out/`` under a name derived from the parameters and written atomically.

Built with ``struct`` and per-direction pre-built headers; scapy would take minutes for 1 M packets.
"""

import argparse
import hashlib
import random
import struct
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SERVER_PORT = 8506
CONNECTIONS = 200
MSS = 1460
SEED = 8506
POOL_SIZE = 1 << 20
BASE_TS_US = 1_700_000_000 * 1_000_000

SYN, FIN, PSH, ACK = 0x02, 0x01, 0x08, 0x10
MSS_OPTION = struct.pack("!BBH", 2, 4, MSS)
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # linktype 1: Ethernet
RECORD = struct.Struct("<IIII")
IP = struct.Struct("!BBHHHBBH4s4s")
TCP = struct.Struct("!HHIIBBHHH")

Turn = tuple[str, Sequence[bytes]]  # (sender "orig"/"resp", its segments in order)
Packet = tuple[str, int, int, int, bytes]  # (sender, flags, seq, ack, payload)


def checksum(data: bytes) -> int:
    """Internet checksum: the ones' complement word sum equals the big-endian value modulo 0xFFFF
    (2**16 ≡ 1), which CPython computes in C — about 30× faster than summing words in Python."""
    if len(data) & 1:
        data += b"\0"
    s = int.from_bytes(data, "big") % 0xFFFF
    return 0xFFFF - s if s else 0


@dataclass(slots=True)
class Side:
    """One direction's constant headers and sequence state."""

    eth: bytes
    src: bytes
    dst: bytes
    sport: int
    dport: int
    pseudo: bytes  # src, dst, zero, protocol — the length is appended per packet
    ip_id: int

    @classmethod
    def make(cls, src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, ports: tuple[int, int],
             rng: random.Random) -> "Side":
        return cls(dst_mac + src_mac + b"\x08\x00", src, dst, ports[0], ports[1],
                   src + dst + b"\x00\x06", rng.randrange(65536))


def synthetic_turns(rng: random.Random, pool: bytes) -> Iterator[Turn]:
    """Endless conversation: mostly client bursts of full segments, now and then a server reply."""
    def segments(count: int) -> list[bytes]:
        out = []
        for _ in range(count):
            o = rng.randrange(len(pool) - MSS)
            out.append(pool[o:o + MSS])
        return out

    while True:
        yield "orig", segments(rng.randint(1, 8))
        if rng.random() < 0.2:
            yield "resp", segments(rng.randint(1, 2))


def split_turns(turns: Sequence[tuple[str, bytes]]) -> list[Turn]:
    """Cut each turn's bytes into MSS segments."""
    return [(d, [b[i:i + MSS] for i in range(0, len(b), MSS)]) for d, b in turns if b]


def repeat_turns(session: list[Turn]) -> Iterator[Turn]:
    """Replays a session forever; every repetition starts again with its preamble."""
    while True:
        yield from session


def connection(turns: Iterator[Turn], budget: int, rng: random.Random) -> Iterator[Packet]:
    """One connection's packets: handshake, ``turns`` until ``budget`` is nearly spent, FIN close.

    The receiver of data sends a pure ACK after every second segment and at the end of a turn
    unless it answers right away, which carries the ACK (delayed ACK); ``seq``/``ack`` always follow
    the bytes actually sent.
    """
    isn = {"orig": rng.randrange(1 << 32), "resp": rng.randrange(1 << 32)}
    nxt = {"orig": (isn["orig"] + 1) & 0xFFFFFFFF, "resp": (isn["resp"] + 1) & 0xFFFFFFFF}
    other = {"orig": "resp", "resp": "orig"}
    yield "orig", SYN, isn["orig"], 0, b""
    yield "resp", SYN | ACK, isn["resp"], nxt["orig"], b""
    yield "orig", ACK, nxt["orig"], nxt["resp"], b""
    left = budget - 6  # handshake and the shortest close are reserved
    turn = next(turns)
    while left >= 2:
        sender, segs = turn
        receiver = other[sender]
        turn = next(turns)
        answers = turn[0] == receiver
        for i, seg in enumerate(segs):
            if left < 2:
                break
            last = i == len(segs) - 1
            yield sender, ACK | (PSH if last else 0), nxt[sender], nxt[receiver], seg
            nxt[sender] = (nxt[sender] + len(seg)) & 0xFFFFFFFF
            left -= 1
            if (i & 1 or last) and not (last and answers):
                yield receiver, ACK, nxt[receiver], nxt[sender], b""
                left -= 1
    yield "orig", FIN | ACK, nxt["orig"], nxt["resp"], b""
    nxt["orig"] = (nxt["orig"] + 1) & 0xFFFFFFFF
    if left:  # one packet to spare: the server ACKs the FIN before sending its own (4-way close)
        yield "resp", ACK, nxt["resp"], nxt["orig"], b""
    yield "resp", FIN | ACK, nxt["resp"], nxt["orig"], b""
    nxt["resp"] = (nxt["resp"] + 1) & 0xFFFFFFFF
    yield "orig", ACK, nxt["orig"], nxt["resp"], b""


def write(path: Path, packets: int, sessions: Sequence[Sequence[tuple[str, bytes]]] = (),
          seed: int = SEED) -> Path:
    """Generate the capture into ``path`` (atomically). With ``sessions``, connection i replays
    session i mod len(sessions); otherwise payload comes from a seeded random pool."""
    if packets < 8 * CONNECTIONS:
        raise ValueError(f"need at least {8 * CONNECTIONS} packets for {CONNECTIONS} connections")
    rng = random.Random(seed)
    pool = rng.randbytes(POOL_SIZE)
    server_mac, server_ip = bytes.fromhex("02000000fe01"), bytes([10, 0, 0, 1])
    split = [split_turns(s) for s in sessions]
    if not all(split):
        raise ValueError("every session needs at least one turn with bytes")
    active: list[tuple[Iterator[Packet], dict[str, Side]]] = []
    for c in range(CONNECTIONS):
        client_mac = bytes.fromhex("0200000001") + bytes([c])
        client_ip, client_port = bytes([10, 0, 1 + c // 250, 1 + c % 250]), 49152 + c
        sides = {
            "orig": Side.make(client_mac, server_mac, client_ip, server_ip, (client_port, SERVER_PORT), rng),
            "resp": Side.make(server_mac, client_mac, server_ip, client_ip, (SERVER_PORT, client_port), rng),
        }
        turns = repeat_turns(split[c % len(split)]) if split else synthetic_turns(rng, pool)
        budget = packets // CONNECTIONS + (c < packets % CONNECTIONS)
        active.append((connection(turns, budget, rng), sides))

    tmp = path.with_suffix(".tmp")
    ts = BASE_TS_US
    chunk: list[bytes] = [PCAP_HEADER]
    with open(tmp, "wb", buffering=1 << 20) as f:
        while active:
            k = rng.randrange(len(active))
            gen, sides = active[k]
            try:
                sender, flags, seq, ack, payload = next(gen)
            except StopIteration:
                active[k] = active[-1]
                active.pop()
                continue
            s = sides[sender]
            hlen = 24 if flags & SYN else 20
            tcp_len = hlen + len(payload)
            opts = MSS_OPTION if flags & SYN else b""
            hdr = TCP.pack(s.sport, s.dport, seq, ack, hlen << 2, flags, 64240, 0, 0) + opts
            csum = checksum(s.pseudo + tcp_len.to_bytes(2, "big") + hdr + payload)
            hdr = hdr[:16] + csum.to_bytes(2, "big") + hdr[18:]
            s.ip_id = (s.ip_id + 1) & 0xFFFF
            ip = IP.pack(0x45, 0, 20 + tcp_len, s.ip_id, 0x4000, 64, 6, 0, s.src, s.dst)
            ip = ip[:10] + checksum(ip).to_bytes(2, "big") + ip[12:]
            size = 34 + tcp_len
            ts += rng.randint(1, 5)
            chunk += (RECORD.pack(ts // 1_000_000, ts % 1_000_000, size, size), s.eth, ip, hdr, payload)
            if len(chunk) > 20000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    tmp.replace(path)
    return path


def cached(packets: int, sessions: Sequence[Sequence[tuple[str, bytes]]] = (), seed: int = SEED) -> Path:
    """The capture for these parameters, generated on first use."""
    if sessions:
        h = hashlib.sha256()
        for s in sessions:
            for d, b in s:
                h.update(d.encode() + len(b).to_bytes(8, "big") + b)
        name = f"replay-{packets}-s{seed}-{h.hexdigest()[:12]}.pcap"
    else:
        name = f"synthetic-{packets}-s{seed}.pcap"
    path = OUT / name
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        t = time.perf_counter()
        write(path, packets, sessions, seed)
        mb = path.stat().st_size / 1e6
        print(f"generated {path.name} ({mb:.0f} MB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    print(cached(args.packets, seed=args.seed))


if __name__ == "__main__":
    main()
