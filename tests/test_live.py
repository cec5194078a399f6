"""``wirecap live`` (``wirecap.live``, ``live_run``, ``capture``) on real interfaces in network namespaces
the tests create: loopback with Python HTTP peers for the mechanics, and the store LAN (a terminal, a
main cash and a server namespace with veth pairs, the Mono peers of tests/interop) for the decoding,
checked against ``wirecap replay`` of a tcpdump capture taken at the same time.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from conftest import ENV, WIRECAP, ok
from interop.lan import StoreLan
from interop.store import wait_for_line
from scapy.utils import PcapReader

HERE = Path(__file__).resolve().parent
PEERS = [sys.executable, str(HERE / "live_peers.py")]
SO_TIMESTAMP = 29  # Linux


@pytest.fixture
def netns() -> Iterator[str]:
    """A private network namespace with its loopback up."""
    name = f"wcl{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


def in_ns(ns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def start_live(ns: str, *args: str, stdout: IO[bytes] | int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """``wirecap live ARGS`` in ``ns``, once it says it is listening."""
    live = subprocess.Popen(in_ns(ns, [*WIRECAP, "live", *args]), stdout=stdout, stderr=subprocess.PIPE, env=ENV)
    assert live.stderr is not None
    line = live.stderr.readline().decode()
    assert "listening on" in line, line + live.stderr.read().decode()
    return live


def peers(ns: str, calls: int, hold: float = 0.0) -> subprocess.Popen[str]:
    """The HTTP peers, once their last reply has arrived."""
    proc = subprocess.Popen(in_ns(ns, [*PEERS, "calls", str(calls), str(hold)]), stdout=subprocess.PIPE, text=True)
    wait_for_line(proc.stdout, "done")
    return proc


def finish(live: subprocess.Popen[bytes], signum: int = signal.SIGINT) -> tuple[list[dict], str]:
    live.send_signal(signum)
    out, err = live.communicate(timeout=30)
    assert live.returncode == 0, err.decode()
    return [json.loads(line) for line in out.splitlines()], err.decode()


def comparable(lines: list[dict]) -> list[dict]:
    """Events without ``seq`` and without the statistics, as the issue compares them; the seq an event
    cites (a reply's ``request_seq``, an iiko event's ``source.seq``) becomes the cited event's place
    among these events, since the statistics shift the numbers."""
    kept = [e for e in lines if e["kind"] != "capture.stats"]
    place = {e["seq"]: n for n, e in enumerate(kept)}
    out = []
    for e in kept:
        e = {k: v for k, v in e.items() if k != "seq"}
        if "request_seq" in e:
            e["request_seq"] = place[e["request_seq"]]
        if isinstance(e.get("source"), dict) and "seq" in e["source"]:
            e["source"] = {**e["source"], "seq": place[e["source"]["seq"]]}
        out.append(e)
    return out


# --- the command line -------------------------------------------------------------------------------


def test_unknown_interface_lists_the_available_ones(wirecap) -> None:
    run = wirecap("live", "-i", "nosuch0")
    assert run.returncode == 1
    err = run.stderr.decode()
    assert err.startswith("wirecap: error: no interface 'nosuch0'; available: ") and err.count("\n") == 1
    assert " lo" in err or ", lo" in err


def test_without_the_right_to_capture_one_line_says_how_to_grant_it(netns: str) -> None:
    argv = ["setpriv", "--bounding-set=-net_raw,-net_admin", *in_ns(netns, [*WIRECAP, "live", "-i", "lo"])]
    run = subprocess.run(argv, capture_output=True, env=ENV, timeout=30, check=False)
    assert run.returncode == 1
    err = run.stderr.decode()
    assert err.count("\n") == 1 and "no permission to capture" in err
    assert "sudo" in err and "setcap cap_net_raw,cap_net_admin=eip" in err


def test_interfaces_lists_what_libpcap_offers_with_addresses(netns: str) -> None:
    run = subprocess.run(in_ns(netns, [*WIRECAP, "interfaces"]), capture_output=True, env=ENV, timeout=30, check=True)
    lines = run.stdout.decode().splitlines()
    assert "1. lo up  127.0.0.1 ::1" in lines or "1. lo up  127.0.0.1" in lines
    assert any(line.endswith(". any") for line in lines)


# --- stopping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_flushes_closes_with_shutdown_and_exits_0(netns: str, signum: int) -> None:
    live = start_live(netns, "-i", "lo", "--stats-interval", "0")
    held = peers(netns, 3, hold=30)
    time.sleep(0.5)
    lines, err = finish(live, signum)
    held.kill()
    kinds = [e["kind"] for e in lines]
    assert kinds.count("rms.call") == 3
    close = [e for e in lines if e["kind"] == "conn.close"]
    assert [c["reason"] for c in close] == ["shutdown"]  # the held connection, still open
    last = lines[-1]
    assert last["kind"] == "capture.stats" and last["final"] and last["dropped"] == 0
    assert last["packets"] == sum(c["orig_stats"]["packets"] + c["resp_stats"]["packets"] for c in close)
    assert last["events"] == len(lines) - 1
    assert "wirecap: final: " in err and "Traceback" not in err


def test_a_full_queue_is_counted_and_reported_never_hidden(netns: str) -> None:
    """A queue of 4 KB behind a stdout nobody reads: batches that do not fit are dropped and counted."""
    live = start_live(netns, "-i", "lo", "--queue-size", "4KB", "--stats-interval", "0")
    peers(netns, 400).wait()  # far more than the socket to the decoder and the queue hold
    lines, err = finish(live)
    final = lines[-1]
    assert final["queue_dropped"] > 0 and final["dropped"] == 0 and final["queue_limit"] == 4096
    assert final["queue_high_water"] <= 4096
    assert f"{final['queue_dropped']:,} by the queue" in err
    assert final["packets"] < final["received"] / 2  # lo counts each packet twice; some never arrived


def test_a_quiet_lan_still_gets_its_conn_close(netns: str, tmp_path: Path) -> None:
    """Idle past --idle-timeout with no packet at all: closed by the wall clock, while still open."""
    out = tmp_path / "events.jsonl"
    live = start_live(netns, "-i", "lo", "--idle-timeout", "1", "-o", str(out))
    held = peers(netns, 1, hold=30)
    time.sleep(3.5)
    closes = [json.loads(line) for line in out.read_text().splitlines() if '"conn.close"' in line]
    held.kill()
    finish(live)
    assert [c["reason"] for c in closes] == ["timeout"]


def test_count_and_duration_end_the_capture_by_themselves(netns: str) -> None:
    live = start_live(netns, "-i", "lo", "-c", "5")
    peers(netns, 3).wait()
    out, err = live.communicate(timeout=30)
    assert live.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["final"] and lines[-1]["packets"] == 5
    started = time.monotonic()
    live = start_live(netns, "-i", "lo", "--duration", "1")
    out, _ = live.communicate(timeout=30)
    assert live.returncode == 0 and time.monotonic() - started < 5
    assert json.loads(out.splitlines()[-1])["final"]


def test_a_closed_stdout_pipe_ends_the_capture_quietly(netns: str) -> None:
    live = start_live(netns, "-i", "lo", "--stats-interval", "0")
    peers(netns, 1).wait()
    assert live.stdout is not None
    live.stdout.readline()
    live.stdout.close()
    peers(netns, 50).wait()  # more events than a pipe's buffer: a write fails
    err = live.stderr.read().decode()  # type: ignore[union-attr]
    assert live.wait(timeout=30) == 0
    assert "Traceback" not in err and "error" not in err


def test_user_drops_root_once_the_interface_is_open(netns: str) -> None:
    live = start_live(netns, "-i", "lo", "--user", "nobody")
    status = Path(f"/proc/{live.pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    peers(netns, 2).wait()
    time.sleep(0.5)
    lines, _ = finish(live)
    assert uids == ["65534"] * 4
    assert [e["kind"] for e in lines].count("rms.call") == 2


def test_the_ring_of_packets_replays_to_the_same_events(netns: str, tmp_path: Path, wirecap) -> None:
    live = start_live(netns, "-i", "lo", "-w", str(tmp_path / "ring.pcapng"), "--ring", "3x32KB")
    peers(netns, 150).wait()
    time.sleep(0.5)
    lines, _ = finish(live)
    files = sorted(tmp_path.glob("ring_*.pcapng"))
    assert len(files) == 3 and files[0].name != "ring_00001.pcapng"  # older files were removed
    assert all(f.stat().st_size < 32 * 1024 + 16 * 1024 for f in files)
    # All the events come back from a ring large enough to hold everything.
    live = start_live(netns, "-i", "lo", "-w", str(tmp_path / "all.pcapng"), "--ring", "50x32KB")
    peers(netns, 150).wait()
    time.sleep(0.5)
    lines, _ = finish(live)
    kept = sorted(str(p) for p in tmp_path.glob("all_*.pcapng"))
    assert len(kept) > 3
    replayed = [json.loads(line) for line in ok(wirecap("replay", "-q", *kept)).splitlines()]
    assert comparable(replayed) == comparable(lines)


# --- the store LAN: the same events as replay, a stalled reader -----------------------------------------


@pytest.fixture(scope="module")
def lan() -> Iterator[StoreLan]:
    with StoreLan(f"{os.getpid() % 10000}") as created:
        yield created


@pytest.fixture
def kernel_timestamps() -> Iterator[None]:
    """Packets stamped by the kernel once, for every capture socket alike.

    Without it each socket reads the clock itself as the packet reaches it, and tcpdump and wirecap
    see the same packet microseconds apart. Any socket asking for SO_TIMESTAMP makes the kernel stamp
    packets once. Observed here: the terminal's own packets then carry one time for both captures, the
    TCP segments arriving from the other namespaces may still differ (kernel 6.18, veth), hence
    ``same_events``'s tolerance.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    yield
    sock.close()


def tcpdump(lan: StoreLan, pcap: Path) -> subprocess.Popen[str]:
    argv = ["tcpdump", "-i", "any", "-s", "0", "-B", "16384", "-Z", "root", "-w", str(pcap)]
    dump = subprocess.Popen(
        lan.cmd("term", [*argv, "tcp port 8506 or tcp port 8080"]), stderr=subprocess.PIPE, text=True
    )
    wait_for_line(dump.stderr, "listening on")
    return dump


def stop_tcpdump(dump: subprocess.Popen[str]) -> None:
    time.sleep(1.2)  # > tcpdump's 1 s ring-block timeout
    dump.send_signal(signal.SIGINT)
    _, stats = dump.communicate(timeout=10)
    assert "\n0 packets dropped by kernel" in "\n" + stats


def clock_steps_left_out(events: list[dict], pcap: Path | None = None) -> list[dict]:
    """The events without ``pcap_time_went_backwards``, checked against the tcpdump file when given.

    tcpdump -i any and wirecap read their own sockets; packets from the other namespaces are stamped
    for each a few µs apart, and the CPUs fill each ring in their own order. So one of the two may see
    a packet a few µs older than its predecessor and the other not (CI saw it in the replay once). The
    anomaly is true of its input, not a difference in decoding: the file's own record times confirm it.
    """
    steps = [e for e in events if e["kind"] == "anomaly" and e["name"] == "pcap_time_went_backwards"]
    if pcap is not None and steps:
        with PcapReader(str(pcap)) as packets:  # scapy's reader, not ours: the times as the file has them
            stamps = [int(packet.time * 1_000_000) for packet in packets]
        for step in steps:
            number = int(step["detail"].split()[1])
            assert stamps[number - 1] < max(stamps[: number - 1]), (step, stamps[number - 2 : number])
    return [e for e in events if e not in steps]


# How far apart two capture sockets may time one packet (see ``same_events``).
SKEW_MOST_NS = 500_000  # nine in ten of the events' times and durations
SKEW_ANY_NS = 20_000_000  # every one


def same_events(live: list[dict], replayed: list[dict], pcap: Path) -> None:
    """Equal after removing seq and statistics; times, and what derives from them, close.

    The kernel stamps most packets once for every capture socket (``kernel_timestamps``): in 8 runs of
    the two tests that compare so (5,625 events), their times were 0 µs apart at the median, 4 µs at
    the 99th percentile, 49 µs at most, both CPUs busy or idle. A packet it does not stamp is stamped
    by each socket as it reaches it, and a socket whose CPU is taken meanwhile stamps it later: one
    event 1.22 ms apart (an idle fresh-clone run) and one 3.69 ms (both CPUs busy) were seen. So every
    time within ``SKEW_ANY_NS`` and nine in ten within ``SKEW_MOST_NS``: events timed by anything but
    their packets (the decoder's clock; libpcap's 100 ms read timeout) fail either."""
    live, replayed = comparable(clock_steps_left_out(live)), comparable(clock_steps_left_out(replayed, pcap))
    assert [e["kind"] for e in live] == [e["kind"] for e in replayed]
    skews = []
    for a, b in zip(live, replayed, strict=True):
        skews.append(abs(_ns(a.pop("ts")) - _ns(b.pop("ts"))))
        for key, ns in (("latency_ms", 1e6), ("duration_ms", 1e6), ("duration", 1e9)):
            if key in a:
                skews.append(abs(a.pop(key) - b.pop(key)) * ns)
        assert a == b
    skews.sort()
    assert skews[-1] <= SKEW_ANY_NS and skews[len(skews) * 9 // 10] <= SKEW_MOST_NS, skews[-10:]


def _ns(text: str) -> int:
    from datetime import datetime

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def test_live_on_the_store_lan_equals_replay_of_tcpdump(lan: StoreLan, tmp_path: Path, wirecap, kernel_timestamps):
    pcap = tmp_path / "store.pcap"
    dump = tcpdump(lan, pcap)
    live = start_live(lan.ns["term"], "-i", "any", "--stats-interval", "1")
    truth = lan.evening(tmp_path / "work") / "truth.jsonl"
    stop_tcpdump(dump)
    lines, err = finish(live)
    replayed = [json.loads(line) for line in ok(wirecap("replay", "-q", str(pcap))).splitlines()]
    same_events(lines, replayed, pcap)
    steps = [json.loads(line) for line in truth.read_text().splitlines()]
    kinds = [e["kind"] for e in lines]
    # as tests/test_store_capture.py counts them: per step a SyncOrder, its reply and the OrderChanged
    # pushed to the other terminal, three more per lock or unlock, and each terminal's Register and reply
    locks = sum(step["lock"] is not None for step in steps)
    assert kinds.count("wcf.message") == 3 * (len(steps) + locks) + 2 * 2
    assert kinds.count("rms.call") == sum(bool(step["user_event"]) for step in steps) + 2
    assert "anomaly" not in [e["kind"] for e in clock_steps_left_out(lines)]
    assert {e["service"] for e in lines if e["kind"] == "conn.close"} == {"nmf", "http"}
    stats = [e for e in lines if e["kind"] == "capture.stats"]
    assert len(stats) >= 3 and stats[-1]["final"] and not any(stats[-1][k] for k in ("dropped", "queue_dropped"))
    assert err.count("wirecap: ") >= len(stats)


def test_a_stalled_reader_loses_nothing_and_is_reported(lan: StoreLan, tmp_path: Path, wirecap, kernel_timestamps):
    """stdout is a pipe nobody reads for 10 s while the store works: the capture process keeps reading
    into its queue, the kernel drops nothing, and every event comes once the reader is back."""
    pcap = tmp_path / "store.pcap"
    dump = tcpdump(lan, pcap)
    live = start_live(lan.ns["term"], "-i", "any", "--stats-interval", "0")
    started = time.monotonic()
    lan.evening(tmp_path / "work1")
    lan.evening(tmp_path / "work2")
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))
    stop_tcpdump(dump)  # the reader comes back; then the stop
    lines, err = finish(live)
    replayed = [json.loads(line) for line in ok(wirecap("replay", "-q", str(pcap))).splitlines()]
    same_events(lines, replayed, pcap)
    final = lines[-1]
    assert final["dropped"] == 0 and final["queue_dropped"] == 0
    # packets waited in the capture process's queue (beyond what the socket to the decoder buffers)
    assert final["queue_high_water"] > 0
    assert final["output_blocked"] >= 5
    assert "wirecap: the output was blocked for " in err


def test_several_interfaces_give_the_events_of_all_of_them(lan: StoreLan, tmp_path: Path, wirecap, kernel_timestamps):
    """The terminal's two veths (to the main cash, to the server) as two -i: the same events as replay of
    tcpdump -i any. Between interfaces the order is the order of arrival, so events are compared as a
    multiset, without what depends on time or order (times, durations, cited seqs)."""
    pcap = tmp_path / "store.pcap"
    dump = tcpdump(lan, pcap)
    live = start_live(lan.ns["term"], "-i", lan.veths[0], "-i", lan.veths[1], "--stats-interval", "0")
    lan.evening(tmp_path / "work")
    stop_tcpdump(dump)
    lines, _ = finish(live)
    replayed = [json.loads(line) for line in ok(wirecap("replay", "-q", str(pcap))).splitlines()]
    timeless = {"ts", "latency_ms", "duration_ms", "duration", "request_seq", "source"}

    def shapes(events: list[dict]) -> list[str]:
        return sorted(json.dumps({k: v for k, v in e.items() if k not in timeless}) for e in comparable(events))

    assert shapes(clock_steps_left_out(lines)) == shapes(clock_steps_left_out(replayed, pcap))
    assert {e["service"] for e in lines if e["kind"] == "conn.close"} == {"nmf", "http"}
