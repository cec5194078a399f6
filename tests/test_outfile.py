"""``-o FILE --rotate SIZE`` (``wirecap.outfile``): whole lines, numbered older files, reopened on SIGHUP."""

import os
import signal
from pathlib import Path

import pytest

from wirecap.outfile import KEEP, RotatingFile, Unbuffered, parse_size


def test_sizes_as_analysts_write_them() -> None:
    assert [parse_size(t) for t in ("100MB", "1G", "512k", "4096", "2 mb")] == [
        100 << 20,
        1 << 30,
        512 << 10,
        4096,
        2 << 20,
    ]
    for bad in ("", "0", "10TB", "MB", "-1"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)


def test_rotation_keeps_lines_whole_and_the_newest_files(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    out = RotatingFile(str(path), rotate=100)
    lines = [f'{{"n":{n},"pad":"{"é" * 20}"}}\n' for n in range(200)]  # 2-byte characters count as 2
    for line in lines:
        out.write_bytes(line.encode())
    out.close()
    files = [path, *(tmp_path / f"events.jsonl.{n}" for n in range(1, KEEP + 1))]
    assert all(f.exists() for f in files) and not (tmp_path / f"events.jsonl.{KEEP + 1}").exists()
    kept = "".join(f.read_text(encoding="utf-8") for f in reversed(files))
    assert kept == "".join(lines[-len(kept.splitlines()) :])  # the newest lines, in order, none cut
    assert all(f.stat().st_size < 100 + len(lines[0].encode()) for f in files[1:])


def test_sighup_reopens_the_file_by_name(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    out = RotatingFile(str(path))
    previous = signal.getsignal(signal.SIGHUP)
    try:
        out.install_sighup()
        out.write_bytes(b"one\n")
        out.flush()
        os.rename(path, tmp_path / "moved.jsonl")  # what logrotate does, then it sends SIGHUP
        os.kill(os.getpid(), signal.SIGHUP)
        out.write_bytes(b"two\n")
        out.close()
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert (tmp_path / "moved.jsonl").read_text() == "one\n"
    assert path.read_text() == "two\n"


def test_unbuffered_writes_everything_to_the_descriptor(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    out = Unbuffered(fd)
    out.write_bytes(("ä" * 100_000).encode())
    assert not out.isatty()
    os.close(fd)
    assert (tmp_path / "out").read_text(encoding="utf-8") == "ä" * 100_000
