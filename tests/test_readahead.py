"""``ReadAhead``: a source read in a second process must give exactly what the source gives in-process —
every packet with its time, the progress, and the same error after the same last packet."""

import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, ok
from torture import LINKS, frames, interleaved, write_pcap

from wirecap import readahead, source
from wirecap.readahead import ReadAhead
from wirecap.source import META, Batch, CaptureError, CaptureSource, Progress

CAPTURES = sorted((REPO / "captures").glob("*.pcap"))
Packet = tuple[int, int, int, bytes]  # linktype, seconds, microseconds, bytes


def packets(batches: Iterator[Batch]) -> list[Packet]:
    """Each packet copied out while its batch is current (a read-ahead slot is reused afterwards)."""
    out = []
    for linktype, buf, meta in batches:
        for sec, usec, off, caplen in META.iter_unpack(meta):
            out.append((linktype, sec, usec, bytes(buf[off : off + caplen])))
    return out


def read_both(path: Path) -> tuple[list[Packet], list[Packet]]:
    return packets(CaptureSource(str(path)).batches()), packets(ReadAhead(CaptureSource(str(path))).batches())


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many batches from a small file, so that every slot is used and reused (the reader process gets the
    batch size with the source)."""
    monkeypatch.setattr(source, "BATCH", 7)


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_every_packet_as_the_source_gives_it(path: Path, small_batches: None) -> None:
    direct, ahead = read_both(path)
    assert len(direct) > 7 * readahead.SLOTS
    assert ahead == direct


@pytest.mark.parametrize(
    ("slot_size", "through_the_pipe"), [(3000, False), (1000, True)], ids=["batches-split", "packets-through-the-pipe"]
)
def test_batches_larger_than_a_slot(slot_size: int, through_the_pipe: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """captures/wcf_buffered.pcap has full-size segments: with small slots its batches are cut into pieces,
    and a packet larger than a slot travels through the pipe; the packets are the same either way."""
    monkeypatch.setattr(readahead, "SLOT_SIZE", slot_size)
    path = REPO / "captures" / "wcf_buffered.pcap"
    direct, ahead = read_both(path)
    assert sum(len(p[3]) for p in direct) > slot_size
    assert (max(len(p[3]) for p in direct) > slot_size) is through_the_pipe
    assert ahead == direct


def test_progress_reaches_the_end_of_the_file() -> None:
    path = REPO / "captures" / "store.pcap"
    direct, ahead = CaptureSource(str(path)), ReadAhead(CaptureSource(str(path)))
    packets(direct.batches())
    packets(ahead.batches())
    assert ahead.progress.done == direct.progress.done == path.stat().st_size


def test_damaged_file_gives_the_same_packets_then_the_same_error(tmp_path: Path, small_batches: None) -> None:
    data = write_pcap(tmp_path / "whole.pcap", frames(interleaved(v6=False).packets), LINKS["ethernet"][0]).read_bytes()
    at = 24
    for _ in range(30):
        at += 16 + struct.unpack_from("<I", data, at + 8)[0]
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(data[: at + 30])  # the 31st record cut short
    results = []
    for reader in (CaptureSource(str(bad)), ReadAhead(CaptureSource(str(bad)))):
        got: list[Packet] = []
        with pytest.raises(CaptureError) as err:
            got.extend(packets(reader.batches()))  # extended batch by batch until the error
        results.append((len(got), err.value.offset, str(err.value)))
    assert results[0] == results[1]
    assert results[0][1] == at


def _reader_gone(reader: ReadAhead) -> bool:
    return reader.reader is not None and reader.reader.returncode is not None


def test_stopping_early_ends_the_reader(small_batches: None) -> None:
    reader = ReadAhead(CaptureSource(str(REPO / "captures" / "store.pcap")))
    batches = reader.batches()
    next(batches)
    assert reader.reader is not None and reader.reader.poll() is None
    batches.close()
    assert _reader_gone(reader)


class _Broken:
    """A source whose reading fails as given by ``how``."""

    stream = False
    name = "broken.pcap"

    def __init__(self, how: str) -> None:
        self.how = how
        self.progress = Progress(100)

    def batches(self) -> Iterator[Batch]:
        yield 1, b"\x00" * 60, META.pack(1, 0, 0, 60)
        if self.how == "bug":
            raise ZeroDivisionError("a bug in the reader")
        os._exit(3)  # killed, as by the OOM killer


def test_a_bug_in_the_reader_is_reported_not_swallowed() -> None:
    reader = ReadAhead(_Broken("bug"))  # type: ignore[arg-type]
    batches = reader.batches()
    assert next(batches)[0] == 1
    with pytest.raises(RuntimeError, match="ZeroDivisionError: a bug in the reader"):
        next(batches)
    assert _reader_gone(reader)


def test_a_reader_that_dies_is_an_error_naming_the_file() -> None:
    batches = ReadAhead(_Broken("exit")).batches()  # type: ignore[arg-type]
    next(batches)
    with pytest.raises(CaptureError, match=r"broken\.pcap: the reader process died"):
        next(batches)


def test_streams_are_not_read_ahead() -> None:
    with pytest.raises(ValueError, match="stream"):
        ReadAhead(CaptureSource("-"))


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_replay_output_is_the_same_with_and_without(path: Path, wirecap) -> None:
    ahead = ok(wirecap("replay", "-q", "--read-ahead", str(path)))
    assert ahead
    assert ok(wirecap("replay", "-q", "--no-read-ahead", str(path))) == ahead


@pytest.mark.parametrize(("cpus", "expected"), [({0}, False), ({0, 1}, True), ({3, 5, 7}, True)])
def test_on_by_default_only_with_a_second_usable_cpu(cpus: set[int], expected: bool, monkeypatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: cpus)
    assert readahead.read_ahead_by_default() is expected


def test_without_a_second_process_the_source_is_read_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # fork's EAGAIN at a process limit

    monkeypatch.setattr(subprocess, "Popen", refuse)
    direct, ahead = read_both(REPO / "captures" / "store.pcap")
    assert ahead == direct
