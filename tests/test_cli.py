"""``wirecap replay`` and ``wirecap schema`` as a user runs them: real processes, pipes and files.

The output contract (every line valid against the published schema, ``seq`` 1, 2, 3…, ``ts`` never
decreasing, byte-identical reruns) is checked on every torture capture at once, merged.
"""

import ipaddress
import json
import re
import select
import shlex
import signal
import struct
import subprocess
from pathlib import Path

import communityid
import jsonschema
import pytest
from conftest import ENV, WIRECAP, events, ok
from torture import (
    DIVERGENCES,
    LINKS,
    SCENARIOS,
    STEP,
    T0,
    Conn,
    frames,
    interleaved,
    timed,
    write_pcap,
    write_pcapng,
)

ETHERNET = LINKS["ethernet"][0]


def v4_capture(tmp_path: Path, name: str = "v4.pcap") -> Path:
    """Three interleaved IPv4 connections on port 8506."""
    return write_pcap(tmp_path / name, frames(interleaved(v6=False).packets), ETHERNET)


def test_stdin_gives_the_same_output_as_the_file(tmp_path: Path, wirecap) -> None:
    path = v4_capture(tmp_path)
    from_file = ok(wirecap("replay", "-q", str(path)))
    assert from_file
    assert ok(wirecap("replay", "-q", "-", stdin=path.read_bytes())) == from_file


def test_output_file(tmp_path: Path, wirecap) -> None:
    path = v4_capture(tmp_path)
    assert ok(wirecap("replay", "-q", "-o", "out.jsonl", str(path))) == b""
    assert (tmp_path / "out.jsonl").read_bytes() == ok(wirecap("replay", "-q", str(path)))


def test_output_dash_is_stdout(tmp_path: Path, wirecap) -> None:
    """``-o -`` writes to stdout, as ``tcpdump -w -`` does, and leaves no file named ``-`` behind."""
    path = v4_capture(tmp_path)
    assert ok(wirecap("replay", "-q", "-o", "-", str(path))) == ok(wirecap("replay", "-q", str(path)))
    assert not (tmp_path / "-").exists()


def test_live_pipe_emits_events_before_the_input_ends(tmp_path: Path) -> None:
    """The first records of a capture written to stdin, the pipe left open: a line must come out."""
    data = v4_capture(tmp_path).read_bytes()
    first_packets = _records(data)[8]  # the global header and 8 records
    proc = subprocess.Popen(
        [*WIRECAP, "replay", "-q", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    )
    try:
        proc.stdin.write(data[:first_packets])
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no event within 20 s while the input was still open"
        first = json.loads(proc.stdout.readline())
        assert (first["seq"], first["kind"]) == (1, "conn.open")
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


TORTURE = [*SCENARIOS, *(d.scenario for d in DIVERGENCES)]
APART = 200 * 10**9


@pytest.fixture
def torture_files(tmp_path: Path) -> list[Path]:
    """Every torture capture as its own file, each starting 200 s after the previous one.

    Most reuse one 4-tuple and one ISN, so they are kept further apart than TCP's TIME_WAIT (2 min on
    Windows): a SYN repeating a just-closed connection's ISN is rightly taken for a retransmission.
    """
    files = []
    for i, sc in enumerate(TORTURE):
        recs = frames((ts + i * APART, p) for ts, p in sc.packets)
        files.append(write_pcap(tmp_path / f"{i:02d}-{sc.name}.pcap", recs, ETHERNET))
    return files


def test_output_contract(torture_files: list[Path], wirecap) -> None:
    schema = json.loads(ok(wirecap("schema")))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    args = ("replay", "-q", "--any-port", *map(str, torture_files))
    run = wirecap(*args)
    out, lines = ok(run), events(run)
    for line in lines:
        validator.validate(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["ts"])
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert [e["ts"] for e in lines] == sorted(e["ts"] for e in lines)
    assert {e["kind"] for e in lines} >= {"conn.open", "conn.close", "tcp.gap", "anomaly"}
    assert ok(wirecap(*args)) == out
    assert len([e for e in lines if e["kind"] == "conn.open"]) == sum(len(sc.expected) for sc in TORTURE)


def test_several_files_merge_into_one_time_ordered_stream(tmp_path: Path, wirecap) -> None:
    """A pcap and a pcapng (SLL2) of interleaved times give what one file holding all their packets gives."""
    a = v4_capture(tmp_path, "a.pcap")
    lone = Conn("10.0.0.7", 47000, "10.0.0.9", 8080)
    pkts = timed(lone.handshake() + lone.segments("orig", b"x" * 500, 100) + lone.close({"orig": 500}))
    pkts = [(ts + STEP // 2, p) for ts, p in pkts]  # half a step after each packet of a.pcap
    sll2 = LINKS["sll2"][0]
    b = write_pcapng(tmp_path / "b.pcapng", frames(pkts, "sll2"), [sll2])
    merged = sorted(frames(interleaved(v6=False).packets) + frames(pkts, "sll2", iface=1), key=lambda f: f.ts)
    one = write_pcapng(tmp_path / "one.pcapng", merged, [ETHERNET, sll2])
    single = wirecap("replay", "-q", str(one))
    assert len({e["uid"] for e in events(single)}) == 4
    assert ok(wirecap("replay", "-q", str(a), str(b))) == single.stdout
    assert ok(wirecap("replay", "-q", str(b), str(a))) == single.stdout


@pytest.mark.parametrize("reading", ["--read-ahead", "--no-read-ahead"])
def test_summary_counts_every_packet_and_byte(reading: str, tmp_path: Path, wirecap) -> None:
    """The stderr summary of two merged inputs (pcap and pcapng) against their records' captured lengths."""
    a = v4_capture(tmp_path, "a.pcap")
    lone = Conn("10.0.0.7", 47000, "10.0.0.9", 8080)
    b = write_pcapng(tmp_path / "b.pcapng", frames(timed(lone.handshake() + lone.close({}))), [ETHERNET])
    caplens = [struct.unpack_from("<I", a.read_bytes(), at + 8)[0] for at in _records(a.read_bytes())]
    caplens += [struct.unpack_from("<I", b.read_bytes(), at + 20)[0] for at in _records(b.read_bytes())]
    run = wirecap("replay", reading, str(a), str(b))
    ok(run)
    [summary] = run.stderr.decode().splitlines()
    assert f" {len(caplens):,} packets, {sum(caplens):,} bytes, 4 connections," in summary


@pytest.fixture
def many_events(tmp_path: Path) -> Path:
    """250 short connections (SYN, SYN-ACK, ACK, RST): about 500 lines, far more than a pipe buffer."""
    pkts = []
    for i in range(250):
        c = Conn("10.2.0.1", 20000 + i, "10.2.0.2", 8506)
        pkts += [*c.handshake(), c.packet("orig", "RA")]
    return write_pcap(tmp_path / "many.pcap", frames(timed(pkts)), ETHERNET)


def test_reader_going_away_is_quiet(many_events: Path) -> None:
    """``wirecap replay F | head -1``: no traceback, no error, when the reader closes early."""
    proc = subprocess.Popen(
        [*WIRECAP, "replay", "-q", str(many_events)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    )
    assert json.loads(proc.stdout.readline())["seq"] == 1
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert err == b""
    assert proc.returncode in (0, -signal.SIGPIPE)


BAD_USAGE = {
    "no-input": ["replay"],
    "unknown-option": ["replay", "--no-such-option", "x.pcap"],
    "bad-port": ["replay", "--port", "0", "x.pcap"],
    "bad-timeout": ["replay", "--idle-timeout", "-1", "x.pcap"],
    "stdin-twice": ["replay", "-", "-"],
    "missing-file": ["replay", "no-such.pcap"],
    "bpf-syntax-error": ["replay", "--filter", "tcp port", "x.pcap"],
    "output-in-missing-dir": ["replay", "-o", "no-such-dir/out.jsonl", "x.pcap"],
    "unknown-command": ["no-such-command"],
}


@pytest.mark.parametrize("args", BAD_USAGE.values(), ids=BAD_USAGE.keys())
def test_bad_usage_exits_2(args: list[str], tmp_path: Path, wirecap) -> None:
    """A wrong command line is refused before any output, with a message and no traceback."""
    write_pcap(tmp_path / "x.pcap", [], ETHERNET)
    run = wirecap(*args, stdin=b"")
    assert (run.returncode, run.stdout) == (2, b"")
    assert run.stderr
    assert b"Traceback" not in run.stderr


NOT_CAPTURES = {"empty": b"", "garbage": b"hello, world\n" * 4, "short-header": b"\xd4\xc3\xb2\xa1\x02\x00"}


@pytest.mark.parametrize("content", NOT_CAPTURES.values(), ids=NOT_CAPTURES.keys())
def test_not_a_capture_exits_1(content: bytes, tmp_path: Path, wirecap) -> None:
    path = tmp_path / "in.pcap"
    path.write_bytes(content)
    run = wirecap("replay", "-q", str(path))
    assert (run.returncode, run.stdout) == (1, b"")
    [line] = run.stderr.decode().splitlines()
    assert str(path) in line
    assert re.search(r"\b0\b", line.replace(str(path), ""))


def _records(data: bytes) -> list[int]:
    """Offsets of the packet records of a little-endian pcap, or of the blocks after a pcapng's first two."""
    pcapng = data[:4] == b"\x0a\x0d\x0d\x0a"
    pos, out = 0 if pcapng else 24, []
    while pos < len(data):
        out.append(pos)
        pos += struct.unpack_from("<I", data, pos + 4)[0] if pcapng else 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return out[2:] if pcapng else out  # pcapng: section header and interface description first


# name -> (format, damage done at the offset of the 31st packet record)
DAMAGE = {
    "pcap-truncated-record": ("pcap", lambda data, at: data[: at + 30]),
    "pcap-bogus-caplen": ("pcap", lambda data, at: data[: at + 8] + struct.pack("<I", 0x7FFFFFFF) + data[at + 12 :]),
    "pcapng-truncated-block": ("pcapng", lambda data, at: data[: at + 40]),
    "pcapng-bad-block-length": ("pcapng", lambda data, at: data[: at + 4] + struct.pack("<I", 13) + data[at + 8 :]),
}


@pytest.mark.parametrize("reading", ["--read-ahead", "--no-read-ahead"])
@pytest.mark.parametrize(("fmt", "damage"), DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_input_exits_1_after_every_event_before_the_damage(
    fmt, damage, reading: str, tmp_path: Path, wirecap
) -> None:
    """Output equals that of the intact part alone; stderr is one line naming the file and the offset."""
    recs = frames(interleaved(v6=False).packets)
    whole = tmp_path / f"whole.{fmt}"
    if fmt == "pcap":
        write_pcap(whole, recs, ETHERNET)
    else:
        write_pcapng(whole, recs, [ETHERNET])
    data = whole.read_bytes()
    at = _records(data)[30]
    damaged = damage(data, at)
    bad, intact = tmp_path / f"bad.{fmt}", tmp_path / f"intact.{fmt}"
    bad.write_bytes(damaged)
    intact.write_bytes(damaged[:at])
    run = wirecap("replay", "-q", reading, str(bad))
    assert run.returncode == 1
    assert run.stdout == ok(wirecap("replay", "-q", reading, str(intact)))
    [line] = run.stderr.decode().splitlines()
    assert str(bad) in line
    assert str(at) in line.replace(str(bad), "")


def _ports_capture(tmp_path: Path) -> Path:
    """One connection to 8506 and one to 9999, interleaved."""
    a, b = Conn("10.3.0.1", 41000, "10.3.0.2", 8506), Conn("10.3.0.1", 41001, "10.3.0.2", 9999)
    pkts = [p for pair in zip(a.handshake() + a.close({}), b.handshake() + b.close({}), strict=True) for p in pair]
    return write_pcap(tmp_path / "ports.pcap", frames(timed(pkts)), ETHERNET)


@pytest.mark.parametrize(
    ("args", "resp_ports"),
    [
        ([], {8506}),
        (["--port", "9999"], {9999}),
        (["--port", "9999", "--port", "8506"], {8506, 9999}),
        (["--any-port"], {8506, 9999}),
        (["--any-port", "--filter", "tcp port 9999"], {9999}),
    ],
    ids=["default", "port", "ports", "any-port", "filter"],
)
def test_port_selection(args: list[str], resp_ports: set[int], tmp_path: Path, wirecap) -> None:
    out = events(wirecap("replay", "-q", *args, str(_ports_capture(tmp_path))))
    assert {int(e["resp"].rsplit(":", 1)[1]) for e in out if e["kind"] == "conn.open"} == resp_ports


def test_idle_timeout_closes_a_silent_connection(tmp_path: Path, wirecap) -> None:
    """A connection silent for 10 s of capture time while another one talks is closed as timed out."""
    quiet, busy = Conn("10.4.0.1", 42000, "10.4.0.2", 8506), Conn("10.4.0.1", 42001, "10.4.0.2", 8506)
    talk = busy.handshake() + busy.segments("orig", b"y" * 1000, 100) + busy.close({"orig": 1000})
    pkts = timed(quiet.handshake()) + timed(talk, start=T0 + 10**9, step=10**9)  # one packet a second
    path = write_pcap(tmp_path / "idle.pcap", frames(pkts), ETHERNET)
    out = events(wirecap("replay", "-q", "--idle-timeout", "5", str(path)))
    reasons = {e["orig"]: e["reason"] for e in out if e["kind"] == "conn.close"}
    assert reasons == {quiet.orig: "timeout", busy.orig: "fin"}


def _split(endpoint: str) -> tuple[str, int]:
    host, port = endpoint.rsplit(":", 1)
    return str(ipaddress.ip_address(host.strip("[]"))), int(port)


def _reference_community_id(orig: str, resp: str) -> str:
    """Community ID of a TCP flow by the reference implementation (the ``communityid`` package)."""
    (saddr, sport), (daddr, dport) = (_split(orig), _split(resp))
    return communityid.CommunityID().calc(communityid.FlowTuple.make_tcp(saddr, daddr, sport, dport))


def test_community_id_matches_the_reference_implementation(tmp_path: Path, wirecap) -> None:
    """IPv4 and IPv6 flows (interleaved() alternates them), on every connection-bound line."""
    path = write_pcap(tmp_path / "mixed.pcap", frames(interleaved(4).packets), ETHERNET)
    out = [e for e in events(wirecap("replay", "-q", str(path))) if "community_id" in e and e.get("uid")]
    assert {e["orig"].startswith("[") for e in out} == {True, False}
    for e in out:
        assert e["community_id"] == _reference_community_id(e["orig"], e["resp"])


def test_endpoints_also_come_split_with_zeeks_names(tmp_path: Path, wirecap) -> None:
    """``orig_h``/``orig_p``/``resp_h``/``resp_p`` on every connection-bound line, IPv4 and IPv6 alike."""
    path = write_pcap(tmp_path / "mixed.pcap", frames(interleaved(4).packets), ETHERNET)
    out = [e for e in events(wirecap("replay", "-q", str(path))) if e.get("uid")]
    assert out
    for e in out:
        assert (e["orig_h"], e["orig_p"]) == _split(e["orig"])
        assert (e["resp_h"], e["resp_p"]) == _split(e["resp"])
    assert {e["resp_p"] for e in out} == {8506}
    assert any(":" in e["orig_h"] for e in out) and any("." in e["orig_h"] for e in out)


STORE = str(Path(__file__).resolve().parent.parent / "captures" / "store.pcap")
# How the output is made unwritable, as a shell does it -> (the name and the reason in the one error line)
UNWRITABLE = {
    "dev-full": ("> /dev/full", "<stdout>", "No space left on device"),
    "closed-stdout": (">&-", "<stdout>", "closed"),
    "proc-file": ("-o /proc/version", "/proc/version", ""),
    "directory": ("-o .", ".", "Is a directory"),
}
CASES = [
    pytest.param(command, *case, id=f"{command}-{name}")
    for name, case in UNWRITABLE.items()
    for command in (["replay"] if case[0].startswith("-o") else ["replay", "orders", "inspect"])
]


@pytest.mark.parametrize(("command", "how", "name", "reason"), CASES)
def test_an_unwritable_output_is_one_line_and_exit_1(command: str, how: str, name: str, reason: str, tmp_path) -> None:
    cmd = " ".join([*map(shlex.quote, WIRECAP), command, STORE, "-q" if command == "replay" else "", how])
    run = subprocess.run(["sh", "-c", cmd], capture_output=True, cwd=tmp_path, env=ENV, timeout=60, check=False)
    assert run.returncode == 1
    lines = run.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"wirecap: error: {name}: ") and reason in lines[0], lines


@pytest.mark.parametrize("command", ["replay", "orders", "inspect"])
def test_a_directory_as_input_is_named_as_one(command: str, tmp_path, wirecap) -> None:
    run = wirecap(command, str(tmp_path))
    assert run.returncode == 2 and b"Traceback" not in run.stderr
    assert f"{tmp_path}: is a directory".encode() in run.stderr
