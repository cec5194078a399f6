"""What every command that reads captures shares (``wirecap.runner``), through ``wirecap replay``:
link types it cannot read, the packet window (``-c``, ``--since``, ``--until``), the summary line."""

import json
from pathlib import Path

import pytest
from conftest import events, ok
from torture import LINKS, STEP, T0, Conn, frames, timed, write_pcap, write_pcapng

from decoders.events import format_ts
from wirecap.runner import linktype_name

ETHERNET = LINKS["ethernet"][0]
USER0 = 147


def one_connection(tmp_path: Path, name: str = "one.pcap", linktype: int = ETHERNET, port: int = 41000) -> Path:
    """One connection to 8506: handshake, 10 data segments, close (17 packets, 1 ms apart from T0)."""
    c = Conn("10.5.0.1", port, "10.5.0.2", 8506)
    pkts = timed(c.handshake() + c.segments("orig", b"z" * 1000, 100) + c.close({"orig": 1000}))
    return write_pcap(tmp_path / name, frames(pkts), linktype)


def test_a_link_type_wirecap_cannot_read_is_an_error_naming_it(tmp_path: Path, wirecap) -> None:
    run = wirecap("replay", "-q", str(one_connection(tmp_path, linktype=USER0)))
    assert (run.returncode, run.stdout) == (1, b"")
    [line] = run.stderr.decode().splitlines()
    assert line.startswith("wirecap: error: ") and "link type 147 (USER0)" in line and "one.pcap" in line


def test_a_link_type_on_stdin_likewise(tmp_path: Path, wirecap) -> None:
    run = wirecap("replay", "-q", "-", stdin=one_connection(tmp_path, linktype=USER0).read_bytes())
    assert (run.returncode, run.stdout) == (1, b"")
    assert "<stdin>: link type 147 (USER0)" in run.stderr.decode()


def test_of_several_inputs_the_readable_ones_are_decoded(tmp_path: Path, wirecap) -> None:
    good = one_connection(tmp_path, "good.pcap")
    bad = one_connection(tmp_path, "bad.pcap", linktype=USER0, port=41001)
    run = wirecap("replay", "-q", str(bad), str(good))
    assert run.returncode == 1
    assert run.stdout == ok(wirecap("replay", "-q", str(good)))
    [line] = run.stderr.decode().splitlines()
    assert "bad.pcap: link type 147 (USER0)" in line and "the other inputs were read" in line


def test_link_type_names() -> None:
    assert (linktype_name(147), linktype_name(1), linktype_name(65000)) == ("147 (USER0)", "1 (ETHERNET)", "65000")


def test_the_summary_counts_in_words(tmp_path: Path, wirecap) -> None:
    run = wirecap("replay", "-c", "1", str(one_connection(tmp_path)))
    ok(run)
    [summary] = run.stderr.decode().splitlines()
    assert summary.startswith("wirecap: 1 packet, 54 bytes, 1 connection, 2 events, 0 anomalies in ")


def test_count_stops_after_n_packets(tmp_path: Path, wirecap) -> None:
    path = one_connection(tmp_path)
    run = wirecap("replay", "-c", "3", str(path))
    assert " 3 packets," in run.stderr.decode()
    closes = [e for e in events(run) if e["kind"] == "conn.close"]
    assert closes[0]["orig_stats"]["packets"] + closes[0]["resp_stats"]["packets"] == 3


def test_since_and_until_keep_the_packets_between(tmp_path: Path, wirecap) -> None:
    """Packets are 1 ms apart from T0; --since T0+5ms --until T0+9ms keeps packets 5..9."""
    path = one_connection(tmp_path)
    since, until = format_ts(T0 + 5 * STEP), format_ts(T0 + 9 * STEP)
    run = wirecap("replay", "--since", since, "--until", until, str(path))
    lines = events(run)
    assert " 5 packets, " in run.stderr.decode()
    assert lines[0]["ts"] == since and lines[0]["kind"] == "conn.open" and lines[0]["mid_stream"]
    assert all(since <= e["ts"] <= until for e in lines)


@pytest.mark.parametrize("command", ["orders", "inspect"])
def test_every_command_takes_the_window(command: str, tmp_path: Path, wirecap) -> None:
    path = one_connection(tmp_path)
    after = format_ts(T0 + 100 * STEP)
    assert wirecap(command, "--since", after, "-c", "1", "--json", str(path)).returncode == 0
    assert wirecap(command, "--since", "yesterday", str(path)).returncode == 2


def test_json_output_is_every_line_of_the_schema(tmp_path: Path, wirecap) -> None:
    lines = events(wirecap("replay", "-q", "--json", str(one_connection(tmp_path))))
    assert [json.dumps(e)[:1] for e in lines] == ["{"] * len(lines)


def test_a_pcapng_interface_of_another_link_type_is_an_anomaly_not_an_error(tmp_path: Path, wirecap) -> None:
    """Only a whole input wirecap cannot read is an error; the odd interface of a pcapng is counted."""
    c, d = Conn("10.5.0.1", 41002, "10.5.0.2", 8506), Conn("10.5.0.3", 41003, "10.5.0.2", 8506)
    recs = frames(timed(c.handshake())) + frames(timed(d.handshake(), start=T0 + 10 * STEP), iface=1)
    path = write_pcapng(tmp_path / "mixed.pcapng", recs, [ETHERNET, USER0])
    lines = events(wirecap("replay", "-q", str(path)))
    assert {e["orig"] for e in lines if e["kind"] == "conn.open"} == {c.orig}
    assert [e["name"] for e in lines if e["kind"] == "anomaly"] == ["pcap_unknown_linktype"]
