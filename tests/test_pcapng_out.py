"""``-w FILE`` (``wirecap.pcapng_out``): the packets read, written as pcapng that other tools read."""

import struct
import subprocess
from pathlib import Path

from conftest import ok
from torture import LINKS, Conn, frames, timed, write_pcap, write_pcapng

from wirecap.pcapng_out import RingWriter
from wirecap.source import META

ETHERNET, SLL2 = LINKS["ethernet"][0], LINKS["sll2"][0]


def test_written_packets_replay_to_the_same_events(tmp_path: Path, wirecap) -> None:
    c = Conn("10.7.0.1", 44000, "10.7.0.2", 8506)
    path = write_pcap(
        tmp_path / "in.pcap", frames(timed(c.handshake() + c.segments("orig", b"q" * 333, 100))), ETHERNET
    )
    events = ok(wirecap("replay", "-q", "-w", "out.pcapng", str(path)))
    assert ok(wirecap("replay", "-q", str(tmp_path / "out.pcapng"))) == events
    tshark = subprocess.run(["tshark", "-r", str(tmp_path / "out.pcapng"), "-T", "fields", "-e", "tcp.len"],
                            capture_output=True, check=True)  # fmt: skip
    assert tshark.stdout.split() == [b"0"] * 3 + [b"100"] * 3 + [b"33"]


def test_the_window_and_several_link_types(tmp_path: Path, wirecap) -> None:
    """Merged inputs of two link types: one interface each; -c applies to what is written."""
    a, b = Conn("10.7.0.1", 44001, "10.7.0.2", 8506), Conn("10.7.0.3", 44002, "10.7.0.2", 8080)
    pa = write_pcap(tmp_path / "a.pcap", frames(timed(a.handshake())), ETHERNET)
    pb = write_pcapng(tmp_path / "b.pcapng", frames(timed(b.handshake()), "sll2"), [SLL2])
    ok(wirecap("replay", "-q", "-c", "5", "-w", "out.pcapng", str(pa), str(pb)))
    tshark = subprocess.run(["tshark", "-r", str(tmp_path / "out.pcapng"), "-T", "fields", "-e", "frame.interface_id",
                             "-e", "tcp.srcport"], capture_output=True, check=True)  # fmt: skip
    assert [line.split() for line in tshark.stdout.decode().splitlines()] == [
        ["0", "44001"], ["1", "44002"], ["0", "8506"], ["1", "8080"], ["0", "44001"]
    ]  # fmt: skip


def test_the_ring_rotates_between_batches_and_keeps_the_newest_files(tmp_path: Path, wirecap) -> None:
    c = Conn("10.7.0.1", 44003, "10.7.0.2", 8506)
    packets = frames(timed(c.handshake() + c.segments("orig", b"r" * 30000, 1000)))
    path = write_pcap(tmp_path / "in.pcap", packets, ETHERNET)
    ring = RingWriter(str(tmp_path / "ring.pcapng"), files=3, size=4096)
    data = path.read_bytes()[24:]
    pos = 0
    while pos < len(data):  # one packet per batch, as the file holds them
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        ring.write(ETHERNET, data[pos + 16 : pos + 16 + caplen], META.pack(sec, usec, 0, caplen))
        pos += 16 + caplen
    ring.close()
    names = sorted(p.name for p in tmp_path.glob("ring_*.pcapng"))
    assert len(names) == 3 and names[-1] == f"ring_{ring.number:05d}.pcapng" and ring.number > 3
    for name in names:  # each file whole and readable on its own, with its own interface description
        ok(wirecap("replay", "-q", str(tmp_path / name)))
