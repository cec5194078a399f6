"""Reading ahead in a second process, so that libpcap reads while the pipeline decodes.

Reading a capture file (libpcap copying every packet into a batch, and the page faults behind those
copies) costs about a quarter of a replay, all of it on the one core the pipeline runs on. ``ReadAhead``
wraps a ``CaptureSource``: a forked child runs the source's batches and copies each into one of a few
shared-memory slots; the parent's pipeline reads the packets straight from the slot and hands the slot
back when it asks for the next batch. The pipeline sees the same batches, in the same order, with the
same progress and the same ``CaptureError`` after the last good packet.

Files only: a stream on stdin is read packet by packet so that events are not held back, and there a
second process would add latency and save nothing.
"""

import contextlib
import mmap
import multiprocessing
import os
import signal
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection

from .source import META, Batch, CaptureError, CaptureSource, Source

SLOTS = 4  # batches in flight: the child reads up to three ahead of the batch being decoded
SLOT_SIZE = 16 << 20  # a batch of 4096 full-size Ethernet frames with its metadata is 6 MB
JOIN_TIMEOUT = 5.0  # seconds to wait for a child that has sent everything to exit before killing it


def read_ahead_by_default() -> bool:
    """Worth it only with a second CPU to run the reader on (one this process may use, where the OS says)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (usable or 1) > 1


def open_source(path: str, bpf: str | None = None, read_ahead: bool | None = None) -> Source:
    """A capture file, or ``-`` for stdin; a file is read ahead if ``read_ahead`` (None: where it pays)."""
    source = CaptureSource(path, bpf)
    if source.stream or not (read_ahead_by_default() if read_ahead is None else read_ahead):
        return source
    return ReadAhead(source)


class ReadAhead:
    """A ``CaptureSource`` read by a child process; used wherever the source would be."""

    def __init__(self, source: CaptureSource) -> None:
        if source.stream:
            raise ValueError("read-ahead is for files; a stream is read packet by packet")
        self.source = source
        self.name = source.name
        self.progress = source.progress

    def batches(self) -> Iterator[Batch]:
        slots = [mmap.mmap(-1, SLOT_SIZE) for _ in range(SLOTS)]  # anonymous and shared: the child inherits them
        context = multiprocessing.get_context("fork")  # the child needs the slots and the source as they are
        parent_end, child_end = context.Pipe()
        child = context.Process(target=_reader, args=(self.source, slots, child_end), daemon=True)
        try:
            child.start()
        except OSError:  # no process to be had (process or memory limits): read here, as without read-ahead
            parent_end.close()
            child_end.close()
            yield from self.source.batches()
            return
        child_end.close()
        finished = False
        try:
            while True:
                try:
                    message = parent_end.recv()
                except (EOFError, ConnectionError):
                    raise CaptureError(self.name, None, "the reader process died") from None
                tag = message[0]
                if tag == "slot":
                    _, index, linktype, buf_size, meta_size, self.progress.done = message
                    slot = slots[index]
                    yield linktype, slot, slot[buf_size : buf_size + meta_size]
                    with contextlib.suppress(ConnectionError):  # the child has finished: it needs no slot back
                        parent_end.send(index)
                elif tag == "inline":
                    _, linktype, buf, meta, self.progress.done = message
                    yield linktype, buf, meta
                elif tag == "error":
                    finished = True  # the child's last message
                    raise message[1]
                elif tag == "bug":
                    finished = True
                    raise RuntimeError(f"the reader process of {self.name} failed:\n{message[1]}")
                else:  # "end"
                    self.progress.done = message[1]
                    finished = True
                    return
        finally:
            parent_end.close()  # a child waiting for a free slot sees EOF and exits
            if not finished:  # stopped early (a signal, a closed pipe, an error): nothing to wait for
                child.terminate()
            child.join(JOIN_TIMEOUT)
            if child.exitcode is None:
                child.kill()
                child.join()


def _reader(source: CaptureSource, slots: list[mmap.mmap], conn: Connection) -> None:
    """The child: every batch of ``source`` into a free slot (or, if larger than a slot, through the pipe)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # how the parent ends us early (not its stop handler)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    free = list(range(len(slots)))
    try:
        for linktype, buf, meta in source.batches():
            for piece, piece_meta in _pieces(buf, meta):
                done = source.progress.done
                if len(piece) + len(piece_meta) > SLOT_SIZE:  # one packet larger than a slot
                    conn.send(("inline", linktype, piece, piece_meta, done))
                    continue
                if not free:
                    free.append(conn.recv())
                index = free.pop()
                slot = slots[index]
                slot[: len(piece)] = piece
                slot[len(piece) : len(piece) + len(piece_meta)] = piece_meta
                conn.send(("slot", index, linktype, len(piece), len(piece_meta), done))
        conn.send(("end", source.progress.done))
    except (EOFError, ConnectionError):
        pass  # the parent stopped reading (an early exit): nothing left to do
    except CaptureError as err:
        conn.send(("error", err))
    except Exception:  # a wirecap bug: the parent reports it
        conn.send(("bug", traceback.format_exc()))


def _pieces(buf: bytes, meta: bytes) -> Iterator[tuple[bytes, bytes]]:
    """A batch cut into pieces that fit a slot, each with its own offsets (a batch that fits: as it is)."""
    if len(buf) + len(meta) <= SLOT_SIZE:
        yield buf, meta
        return
    start = 0  # offset in ``buf`` of the piece being gathered
    records: list[bytes] = []
    for sec, usec, off, caplen in META.iter_unpack(meta):
        if records and off + caplen - start + (len(records) + 1) * META.size > SLOT_SIZE:
            yield buf[start:off], b"".join(records)
            start, records = off, []
        records.append(META.pack(sec, usec, off - start, caplen))
    if records:
        yield buf[start:], b"".join(records)
