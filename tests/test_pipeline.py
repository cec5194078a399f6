"""wirecap.pipeline: time order, filters, decoder failures and anomaly accounting."""

import gc
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from torture import STEP, T0, Conn, frames, timed, write_pcap

from decoders.core import RUST
from decoders.detect import Protocol, Undecoded
from decoders.events import Event
from wirecap.pipeline import Options, Pipeline, run
from wirecap.source import BATCH, CaptureSource

LINKTYPE_ETHERNET = 1


def replay(path: Path, options: Options | None = None, bpf: str | None = None) -> list[Event]:
    events: list[Event] = []
    run([CaptureSource(str(path), bpf)], Pipeline(options), events.extend)
    return events


def conversation(conn: Conn, request: bytes = b"ping", reply: bytes = b"pong") -> list:
    return [
        *conn.handshake(),
        conn.data("orig", 0, request),
        conn.data("resp", 0, reply),
        *conn.close({"orig": len(request), "resp": len(reply)}),
    ]


@pytest.mark.parametrize("before", [0, BATCH - 3])  # UDP packets first: then the late one opens a batch
def test_a_packet_older_than_its_predecessor_keeps_output_time_monotonic(tmp_path: Path, before: int) -> None:
    filler = [IP(src="10.0.0.7", dst="10.0.0.8") / UDP(sport=5000, dport=5001) for _ in range(before)]
    packets = timed([*filler, *conversation(Conn("10.0.0.1", 40000, "10.0.0.2", 8506))])
    late_ts, late = packets[before + 3]
    packets[before + 3] = (late_ts - 5_000_000_000, late)  # 5 s in the past, in file order
    events = replay(write_pcap(tmp_path / "t.pcap", frames(packets), LINKTYPE_ETHERNET))
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps)
    backwards = [e for e in events if e.kind == "anomaly" and e.name == "pcap_time_went_backwards"]
    assert len(backwards) == 1
    # the conversation's fourth packet, 5 s less a step older than its third, whose time the anomaly carries
    older = f"{(5_000_000_000 - STEP) / 1e6:.3f} ms older than the newest"
    assert backwards[0].detail.startswith(f"packet {before + 4} is {older}")
    assert backwards[0].ts == packets[before + 2][0]
    assert [e.kind for e in events if e.kind != "anomaly"] == ["conn.open", "conn.close"]


def test_bpf_filter_is_applied_by_libpcap(tmp_path: Path) -> None:
    one = conversation(Conn("10.0.0.1", 40000, "10.0.0.2", 8506))
    two = conversation(Conn("10.0.0.3", 40001, "10.0.0.2", 8506))
    path = write_pcap(tmp_path / "t.pcap", frames(timed(one + two)), LINKTYPE_ETHERNET)
    assert len([e for e in replay(path) if e.kind == "conn.open"]) == 2
    kept = [e for e in replay(path, bpf="host 10.0.0.3") if e.kind == "conn.open"]
    assert [e.orig for e in kept] == ["10.0.0.3:40001"]


class Exploding(Undecoded):
    """A decoder with a bug: the pipeline must survive it and say so."""

    wants_data = True

    def feed(self, direction: str, data: bytes, ts: int) -> list[Event]:
        raise ZeroDivisionError("a bug")

    gap = eof = feed  # type: ignore[assignment]


def test_a_decoder_bug_is_an_anomaly_and_the_capture_goes_on(tmp_path: Path) -> None:
    exploding = Protocol("exploding", lambda orig, resp: True, Exploding)
    packets = conversation(Conn("10.0.0.1", 40000, "10.0.0.2", 8506))
    packets += conversation(Conn("10.0.0.1", 40001, "10.0.0.2", 8506))
    path = write_pcap(tmp_path / "t.pcap", frames(timed(packets)), LINKTYPE_ETHERNET)
    events = replay(path, Options(protocols=(exploding,)))
    errors = [e for e in events if e.kind == "anomaly"]
    assert [e.name for e in errors] == ["decoder_error", "decoder_error"]  # one per connection
    assert "ZeroDivisionError" in errors[0].detail
    closes = [e for e in events if e.kind == "conn.close"]
    assert [c.orig_stats.bytes for c in closes] == [4, 4] and [c.reason for c in closes] == ["fin", "fin"]


def test_repeated_anomalies_are_written_once_and_counted_in_full(tmp_path: Path) -> None:
    conn = Conn("10.0.0.1", 40000, "10.0.0.2", 8506)
    packets = [*conn.handshake(), conn.data("orig", 0, b"abcdef")]
    packets += [conn.data("orig", 0, b"XYZ" + bytes([i])) for i in range(3)]  # three differing copies
    packets += conn.close({"orig": 6, "resp": 0})
    path = write_pcap(tmp_path / "t.pcap", frames(timed(packets)), LINKTYPE_ETHERNET)
    events = replay(path, Options(protocols=()))  # transport anomalies only
    mismatches = [e for e in events if e.kind == "anomaly" and e.name == "tcp_overlap_mismatch"]
    assert len(mismatches) == 1 and mismatches[0].uid and mismatches[0].dir == "orig"
    (close,) = [e for e in events if e.kind == "conn.close"]
    assert close.anomalies == {"tcp_overlap_mismatch": 3, "conn_undecoded": 1}  # no decoder: said once


def test_capture_time_is_the_packet_time(tmp_path: Path) -> None:
    packets = timed(conversation(Conn("10.0.0.1", 40000, "10.0.0.2", 8506)))
    events = replay(write_pcap(tmp_path / "t.pcap", frames(packets), LINKTYPE_ETHERNET))
    opened, closed = events[0], events[-1]
    assert opened.ts == packets[0][0] == T0
    assert closed.ts == packets[-1][0]  # the last ACK completes the close


def test_a_decoder_that_wants_no_more_bytes_is_not_fed_them(tmp_path: Path) -> None:
    fed: list[str] = []

    class Satisfied(Undecoded):
        """Has seen enough after its first segment (as NMF has of foreign bytes)."""

        wants_data = True

        def feed(self, direction: str, data: bytes, ts: int) -> list[Event]:
            fed.append(direction)
            self.wants_data = False
            return []

    conn = Conn("10.0.0.1", 40000, "10.0.0.2", 8506)
    packets = [*conn.handshake(), *(conn.data("orig", 10 * i, b"0123456789") for i in range(5))]
    packets += conn.close({"orig": 50, "resp": 0})
    path = write_pcap(tmp_path / "t.pcap", frames(timed(packets)), LINKTYPE_ETHERNET)
    events = replay(path, Options(protocols=(Protocol("satisfied", lambda orig, resp: True, Satisfied),)))
    assert fed == ["orig"]  # the first segment only
    (close,) = [e for e in events if e.kind == "conn.close"]
    assert close.orig_stats.bytes == 50 and close.reason == "fin"  # still counted in full


def test_past_max_connections_the_one_idle_longest_is_evicted(tmp_path: Path) -> None:
    """Five connections, at most three open: the idlest go, not the oldest; an evicted one that talks again
    comes back as a new mid-stream connection."""
    c = [Conn("10.0.0.1", 40000 + i, "10.0.0.2", 8506) for i in range(5)]
    packets = [*c[0].handshake(), *c[1].handshake(), *c[2].handshake()]
    packets += [c[0].data("orig", 0, b"abc")]  # c[1] is now the idlest, then c[2]
    packets += [*c[3].handshake(), *c[4].handshake(), c[1].data("orig", 0, b"late")]
    path = write_pcap(tmp_path / "t.pcap", frames(timed(packets)), LINKTYPE_ETHERNET)
    events = replay(path, Options(protocols=(), max_connections=3))
    opened = [(e.orig, e.mid_stream) for e in events if e.kind == "conn.open"]
    closed = [(e.orig, e.reason) for e in events if e.kind == "conn.close"]
    assert opened == [(x.orig, False) for x in c] + [(c[1].orig, True)]
    assert closed[:3] == [(c[1].orig, "evicted"), (c[2].orig, "evicted"), (c[0].orig, "evicted")]
    assert sorted(closed[3:]) == sorted(
        [(c[3].orig, "end-of-input"), (c[4].orig, "end-of-input"), (c[1].orig, "end-of-input")]
    )
    (close,) = [e for e in events if e.kind == "conn.close" and e.orig == c[0].orig]
    assert close.orig_stats.bytes == 3  # closed with its counts, like any other
    evictions = [e for e in events if e.kind == "anomaly" and e.name == "tcp_too_many_connections"]
    assert len(evictions) == 1  # written once


def test_eviction_keeps_the_table_bounded(tmp_path: Path) -> None:
    """3000 connections through a cap of 100: the table and the idleness heap stay bounded by the cap."""
    pipeline = Pipeline(Options(protocols=(), max_connections=100))
    conns = [Conn("10.0.0.1", 1024 + i, "10.0.0.2", 8506) for i in range(3000)]
    path = write_pcap(tmp_path / "t.pcap", frames(timed(x.packet("orig", "S") for x in conns)), LINKTYPE_ETHERNET)
    for linktype, buf, meta in CaptureSource(str(path)).batches():
        for one in range(0, len(meta), 16):  # packet by packet, to look at the table after each
            pipeline.process_batch(linktype, buf, meta[one : one + 16])
            assert len(pipeline.live) <= 100 and len(pipeline.table) <= 200 and len(pipeline._idle) <= 2 * 100 + 64
    assert pipeline.stats.anomalies["tcp_too_many_connections"] == 2900


STORE = Path(__file__).resolve().parent.parent / "captures" / "store.pcap"
# makes the third segment fed to the NMF decoder of the first net.tcp connection raise a non-DecodeError;
# with the core, the lanes of the packet loop would take that segment without calling ``feed``: off
INJECT_FEED = """
from decoders.nmf import NmfDecoder
feed = NmfDecoder.feed
calls = {}
def failing(self, direction, data, ts):
    uid = self._conn["uid"]
    calls.setdefault(uid, 0)
    calls[uid] += 1
    if len(calls) == 1 and calls[uid] == 3:
        raise KeyError("injected bug")
    return feed(self, direction, data, ts)
NmfDecoder.feed = failing
NmfDecoder.lane = lambda self, direction: None
"""
# makes the core's event maker raise on the third body it keeps (``JsonText``), whichever path asks: a
# lane of the core's packet loop or ``feed``
INJECT_MAKER = """
from decoders import nmf_events
from decoders.json_text import JsonText
made = []
class Failing(JsonText):
    def __new__(cls, data):
        made.append(data)
        if len(made) == 3:
            raise KeyError("injected bug")
        return JsonText(data)
nmf_events.JsonText = Failing
"""
INJECTIONS = {"feed": INJECT_FEED, "core maker": INJECT_MAKER}


def _per_connection(events: list[dict]) -> dict[str, list[str]]:
    """Kinds (anomaly names) per connection; iiko.* left out: the order layer joins connections."""
    out: dict[str, list[str]] = {}
    for event in events:
        if "uid" in event and not event["kind"].startswith("iiko."):
            out.setdefault(event["uid"], []).append(event.get("name") or event["kind"])
    return out


def _check_injected(baseline: dict[str, list[str]], injected: dict[str, list[str]]) -> None:
    failed = [uid for uid, kinds in injected.items() if "decoder_error" in kinds]
    assert len(failed) == 1
    (uid,) = failed
    assert injected[uid].count("wcf.message") < baseline[uid].count("wcf.message")
    assert injected[uid][-1] == "conn.close"  # its bytes are still counted and it is closed
    assert {u: k for u, k in injected.items() if u != uid} == {u: k for u, k in baseline.items() if u != uid}


@pytest.mark.parametrize("injected", INJECTIONS)
def test_a_decoder_bug_is_an_anomaly_of_its_connection_only(monkeypatch, injected: str) -> None:
    assert RUST is not None or injected == "feed", "the core's maker needs decoders._core built"
    baseline = [e.model_dump(mode="json") for e in replay(STORE)]
    namespace: dict = {}
    with monkeypatch.context() as patch:
        from decoders import nmf, nmf_events

        patch.setattr(nmf.NmfDecoder, "feed", nmf.NmfDecoder.feed)  # restored afterwards
        patch.setattr(nmf.NmfDecoder, "lane", nmf.NmfDecoder.lane)
        patch.setattr(nmf_events, "JsonText", nmf_events.JsonText)
        exec(INJECTIONS[injected], namespace)
        injected_run = [e.model_dump(mode="json") for e in replay(STORE)]
    _check_injected(_per_connection(baseline), _per_connection(injected_run))
    (error,) = [e for e in injected_run if e.get("name") == "decoder_error"]
    assert "KeyError('injected bug')" in error["detail"]


@pytest.mark.parametrize("injected", INJECTIONS)
def test_a_decoder_bug_through_the_cli(injected: str) -> None:
    import json
    import subprocess
    import sys

    from conftest import ENV

    cli = "import sys; from wirecap.cli import main; sys.argv[0] = 'wirecap'; main()"
    args = ["replay", "--no-read-ahead", str(STORE)]
    plain = subprocess.run([sys.executable, "-c", cli, *args], capture_output=True, env=ENV, timeout=120)
    hurt = subprocess.run(
        [sys.executable, "-c", INJECTIONS[injected] + cli, *args], capture_output=True, env=ENV, timeout=120
    )
    assert plain.returncode == hurt.returncode == 0
    assert b"Traceback" not in hurt.stderr and b"injected" not in hurt.stderr
    lines = [[json.loads(line) for line in run.stdout.splitlines()] for run in (plain, hurt)]
    _check_injected(_per_connection(lines[0]), _per_connection(lines[1]))


@pytest.mark.parametrize("command", ["replay", "orders", "inspect"])
def test_a_bug_outside_the_decoders_is_one_line_and_exit_1(command: str) -> None:
    """The sink failing on the second batch (say): the events before it are out, stderr has one line."""
    import subprocess
    import sys

    from conftest import ENV

    inject = (  # replay writes through JsonlSink, orders and inspect through NumberingSink
        "from wirecap import sink\ncalls = []\n"
        "def failing(write):\n"
        "    def bug(self, events):\n        calls.append(1)\n"
        "        if len(calls) == 2:\n            raise ValueError('sink bug')\n"
        "        write(self, events)\n    return bug\n"
        "for cls in (sink.JsonlSink, sink.NumberingSink):\n    cls.write = failing(cls.write)\n"
    )
    cli = "import sys; from wirecap.cli import main; sys.argv[0] = 'wirecap'; main()"
    args = [command, str(STORE)] + (["--no-read-ahead"] if command == "replay" else [])
    run = subprocess.run([sys.executable, "-c", inject + cli, *args], capture_output=True, env=ENV, timeout=120)
    assert run.returncode == 1
    assert run.stderr.decode().strip().splitlines()[-1].startswith("wirecap: error: internal error")
    assert b"Traceback" not in run.stderr and b"ValueError('sink bug')" in run.stderr
    if command == "replay":
        assert run.stdout.count(b"\n") > 0  # what was written before the failure stays written


def test_a_closed_connection_absorbs_stray_packets_and_a_new_syn_opens_a_new_one(tmp_path: Path) -> None:
    """After the close only a tombstone stays (two keys and a time): a late ACK or data of the closed
    connection opens nothing, a SYN on the same 4-tuple is a new connection."""
    c = Conn("10.0.0.1", 40000, "10.0.0.2", 8506)
    packets = [*c.handshake(), c.data("orig", 0, b"abc"), c.packet("orig", "R", 3)]
    packets += [c.packet("resp", "A", 0, ack=3), c.data("orig", 3, b"late")]  # stray
    path = write_pcap(tmp_path / "t.pcap", frames(timed(packets + c.handshake())), LINKTYPE_ETHERNET)
    pipeline = Pipeline(Options(protocols=()))
    events: list[Event] = []
    looked = 0  # packets after the close (the stray ones) at which the table was looked at
    for linktype, buf, meta in CaptureSource(str(path)).batches():
        for one in range(0, len(meta), 16):  # packet by packet, to look at the table after the close
            pipeline.process_batch(linktype, buf, meta[one : one + 16])
            events += pipeline.drain()
            if [e.kind for e in events if e.kind.startswith("conn.")] == ["conn.open", "conn.close"]:
                assert pipeline.table == {} and len(pipeline.tombstones) == 2
                looked += 1
    assert looked >= 3  # the RST itself, the late ACK and the late data
    assert [(e.kind, getattr(e, "reason", None)) for e in events if e.kind.startswith("conn.")] == [
        ("conn.open", None),
        ("conn.close", "rst"),
        ("conn.open", None),
    ]


def test_closed_connections_leave_no_reference_cycle(tmp_path: Path) -> None:
    """A closed connection and its decoder are freed when the pipeline drops them, not by the cyclic
    collector, which the command line runs rarely (``cli._tune_gc``): a replay leaves no garbage."""
    gc.collect()
    gc.disable()
    try:
        gc.set_debug(gc.DEBUG_SAVEALL)
        replay(STORE)
        gc.collect()
        kinds = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not kinds & {"ConnState", "Connection", "HalfStream", "NmfDecoder", "HttpDecoder", "_Flow"}


def test_a_host_talking_to_itself_on_one_port_opens_and_closes(tmp_path: Path) -> None:
    """Both directions have one table key (found by fuzzing: closing it raised KeyError)."""
    c = Conn("10.0.0.1", 8506, "10.0.0.1", 8506)
    path = write_pcap(tmp_path / "t.pcap", frames(timed([*c.handshake(), c.data("orig", 0, b"x")])), LINKTYPE_ETHERNET)
    kinds = [e.kind for e in replay(path, Options(protocols=()))]
    assert kinds[0] == "conn.open" and kinds[-1] == "conn.close"
