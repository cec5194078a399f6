"""Reading ahead in a second process, so that libpcap reads while the pipeline decodes.

Reading a capture file (libpcap copying every packet into a batch, and the page faults behind those
copies) costs about a quarter of a replay, all of it on the one core the pipeline runs on. ``ReadAhead``
wraps a ``CaptureSource``: a reader process runs the source's batches and copies each into one of a few
shared-memory slots; the parent's pipeline reads the packets straight from the slot and hands the slot
back when it asks for the next batch. The pipeline sees the same batches, in the same order, with the
same progress and the same ``CaptureError`` after the last good packet.

The reader is a fresh interpreter that imports only the source's modules, not a fork of the decoder: a
forked child began with the parent's whole resident set (interpreter, pydantic, the decoders, 64 MB on
the benchmark's capture) and kept the pages the parent rewrote after the fork, 80 MB by 1 M packets. The
slots are memfds and the control channel a socket pair, both inherited by the reader as descriptors.

Files only: a stream on stdin is read packet by packet so that events are not held back, and there a
second process would add latency and save nothing.
"""

import contextlib
import mmap
import os
import pickle
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection

from .source import META, Batch, CaptureError, CaptureSource, Source

SLOTS = 4  # batches in flight: the reader reads up to three ahead of the batch being decoded
SLOT_SIZE = 16 << 20  # a batch of 4096 full-size Ethernet frames with its metadata is 6 MB
JOIN_TIMEOUT = 5.0  # seconds to wait for a reader that has sent everything to exit before killing it
READER = "import sys; from wirecap.readahead import reader_main; reader_main(int(sys.argv[1]))"


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
    """A ``CaptureSource`` read by a reader process; used wherever the source would be."""

    def __init__(self, source: CaptureSource) -> None:
        if source.stream:
            raise ValueError("read-ahead is for files; a stream is read packet by packet")
        self.source = source
        self.name = source.name
        self.progress = source.progress
        self.slot_size = SLOT_SIZE
        self.reader: subprocess.Popen[bytes] | None = None  # the reader process, once started

    def batches(self) -> Iterator[Batch]:
        started = self._start()
        if started is None:  # no reader to be had: read here, as without read-ahead
            yield from self.source.batches()
            return
        conn, slots = started
        finished = False  # the reader has sent its last message
        try:
            conn.send((sys.path, self.slot_size, pickle.dumps(self.source)))
            yield from self._receive(conn, slots)
            finished = True
        except (CaptureError, RuntimeError):
            finished = True
            raise
        finally:
            conn.close()  # a reader waiting for a free slot sees EOF and exits
            self._stop(finished)

    def _start(self) -> tuple[Connection, list[mmap.mmap]] | None:
        """The reader process started, with the parent's end of the control socket and the slots; None
        where there is no memfd (not Linux) or no process, descriptor or memory to be had."""
        fds: list[int] = []
        theirs = None
        try:
            for _ in range(SLOTS):
                fds.append(os.memfd_create("wirecap-read-ahead"))
                os.ftruncate(fds[-1], self.slot_size)
            slots = [mmap.mmap(fd, self.slot_size) for fd in fds]
            ours, theirs = socket.socketpair()
            try:
                self.reader = _start_reader(theirs.fileno(), fds)
            except OSError:
                ours.close()
                raise
        except (AttributeError, OSError):
            return None
        finally:
            if theirs is not None:
                theirs.close()
            for fd in fds:
                os.close(fd)
        return Connection(ours.detach()), slots

    def _receive(self, conn: Connection, slots: list[mmap.mmap]) -> Iterator[Batch]:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                raise CaptureError(self.name, None, "the reader process died") from None
            tag = message[0]
            if tag == "slot":
                _, index, linktype, buf_size, meta_size, self.progress.done = message
                slot = slots[index]
                yield linktype, slot, slot[buf_size : buf_size + meta_size]
                with contextlib.suppress(OSError):  # the reader has finished: it needs no slot back
                    conn.send(index)
            elif tag == "inline":
                _, linktype, buf, meta, self.progress.done = message
                yield linktype, buf, meta
            elif tag == "error":  # the reader's last message
                raise message[1]
            elif tag == "bug":
                raise RuntimeError(f"the reader process of {self.name} failed:\n{message[1]}")
            else:  # "end"
                self.progress.done = message[1]
                return

    def _stop(self, finished: bool) -> None:
        """Waits for a reader that has finished to exit, and ends one stopped early (a signal, a closed
        pipe, an error here): it may be deep in a batch, and nothing it reads is wanted."""
        reader = self.reader
        if reader is None:
            return
        if not finished:
            reader.terminate()
        try:
            reader.wait(JOIN_TIMEOUT)
        except subprocess.TimeoutExpired:
            reader.kill()
            reader.wait()


def _start_reader(control: int, slots: list[int]) -> "subprocess.Popen[bytes]":
    """The reader process: this interpreter, given the control socket and the slots as descriptors; its
    standard streams closed, since everything it has to say goes through the socket."""
    return subprocess.Popen(
        [sys.executable, "-c", READER, str(control), *map(str, slots)],
        pass_fds=(control, *slots),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def reader_main(control: int) -> None:
    """The reader: every batch of the parent's source into a free slot (or, if larger than a slot, through
    the socket). The parent sends its ``sys.path`` (the source's class must import here), the slot size
    and the pickled source."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends us
    conn = Connection(control)
    try:
        path, slot_size, source_pickle = conn.recv()
        sys.path[:] = path
        source = pickle.loads(source_pickle)
        slots = [mmap.mmap(int(fd), slot_size) for fd in sys.argv[2:]]
        _read(source, slots, slot_size, conn)
    except (EOFError, OSError):
        pass  # the parent stopped reading (an early exit): nothing left to do
    except Exception:  # a wirecap bug: the parent reports it
        with contextlib.suppress(OSError):
            conn.send(("bug", traceback.format_exc()))


def _read(source: CaptureSource, slots: list[mmap.mmap], slot_size: int, conn: Connection) -> None:
    free = list(range(len(slots)))
    try:
        for linktype, buf, meta in source.batches():
            for piece, piece_meta in _pieces(buf, meta, slot_size):
                done = source.progress.done
                if len(piece) + len(piece_meta) > slot_size:  # one packet larger than a slot
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
    except CaptureError as err:
        conn.send(("error", err))


def _pieces(buf: bytes, meta: bytes, slot_size: int) -> Iterator[tuple[bytes, bytes]]:
    """A batch cut into pieces that fit a slot, each with its own offsets (a batch that fits: as it is)."""
    if len(buf) + len(meta) <= slot_size:
        yield buf, meta
        return
    start = 0  # offset in ``buf`` of the piece being gathered
    records: list[bytes] = []
    for sec, usec, off, caplen in META.iter_unpack(meta):
        if records and off + caplen - start + (len(records) + 1) * META.size > slot_size:
            yield buf[start:off], b"".join(records)
            start, records = off, []
        records.append(META.pack(sec, usec, off - start, caplen))
    if records:
        yield buf[start:], b"".join(records)
