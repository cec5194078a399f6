"""The options shared by every command that reads captures (``wirecap.options``), as a user types them."""

from pathlib import Path

import pytest
from conftest import events, ok
from torture import LINKS, Conn, frames, timed, write_pcap

from wirecap.options import parse_time

ETHERNET = LINKS["ethernet"][0]


def two_ports(tmp_path: Path) -> Path:
    """One connection to 8506 and one to 8080, one after the other."""
    a, b = Conn("10.6.0.1", 43000, "10.6.0.2", 8506), Conn("10.6.0.1", 43001, "10.6.0.2", 8080)
    return write_pcap(tmp_path / "two.pcap", frames(timed(a.handshake() + a.close({}) + b.handshake())), ETHERNET)


def resp_ports(run) -> set[int]:
    return {e["resp_p"] for e in events(run) if e["kind"] == "conn.open"}


@pytest.mark.parametrize(
    "args",
    [
        ["--filter", "tcp port 8080", "{}"],
        ["-f", "tcp port 8080", "{}"],
        ["-r", "{}", "tcp", "port", "8080"],  # tcpdump: the arguments after -r FILE are the expression
        ["-r", "{}", "tcp port 8080"],
        ["-r", "{}", "-f", "tcp port 8080"],
    ],
    ids=["filter", "f", "r-expression-words", "r-expression-one", "r-and-f"],
)
def test_filter_as_tcpdump_takes_it(args: list[str], tmp_path: Path, wirecap) -> None:
    path = str(two_ports(tmp_path))
    assert resp_ports(wirecap("replay", "-q", *(path if a == "{}" else a for a in args))) == {8080}


def test_r_reads_several_files_and_without_an_expression_everything(tmp_path: Path, wirecap) -> None:
    path = str(two_ports(tmp_path))
    assert ok(wirecap("replay", "-q", "-r", path)) == ok(wirecap("replay", "-q", path))
    twice = wirecap("replay", "-r", path, "-r", path)  # the same packets twice: merged, all counted
    assert ok(twice) and " 18 packets, " in twice.stderr.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "{}", "-f", "tcp", "tcp"], "a filter both in -f and after the options"),
        (["-r", "{}", "tcp port"], "--filter"),
        (["--since", "2026-11-29T12:00:00Z", "--until", "2026-11-29T11:00:00Z", "{}"], "--until is before --since"),
        (["--until", "noon", "{}"], "not an ISO-8601 time: 'noon'"),
        (["-c", "0", "{}"], "-c"),
        ([], "no input"),
    ],
    ids=["filter-twice", "bad-expression", "until-before-since", "bad-time", "zero-count", "no-input"],
)
def test_usage_errors(args: list[str], message: str, tmp_path: Path, wirecap) -> None:
    path = str(two_ports(tmp_path))
    for command in ("replay", "orders", "inspect"):
        run = wirecap(command, *(path if a == "{}" else a for a in args))
        assert (run.returncode, run.stdout) == (2, b""), command
        assert message in run.stderr.decode() and b"Traceback" not in run.stderr


def test_times_with_or_without_a_zone() -> None:
    utc = parse_time("2026-11-29T12:00:00Z")
    assert parse_time("2026-11-29T12:00:00") == utc  # no zone: UTC
    assert parse_time("2026-11-29 15:00:00+03:00") == utc
    assert parse_time("2026-11-29T12:00:00.000250Z") == utc + 250_000
