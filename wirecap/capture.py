"""Live capture: interfaces opened through libpcap and read by a process that does nothing else.

The kernel keeps a capture's packets in a ring of ``--buffer-size`` bytes until they are read; when
the reader falls behind, the kernel drops. So the reading is done by a forked child (as
``readahead`` does for files) that only moves packets from libpcap into a bounded queue, whatever the
decoder or the reader of the output is doing. Between the two processes: a deque of batches (at most
``queue_size`` bytes) and a sender thread that writes it into a pipe to the parent as fast as the
parent reads. A batch that does not fit the queue is dropped and counted (``queue_dropped``), never
waited for: the kernel's buffer must keep draining.

Interfaces are opened in the parent, before ``--user`` drops root; the child inherits them.
"""

import contextlib
import heapq
import multiprocessing
import os
import pwd
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import pcapy

from .runner import LINKTYPES, linktype_name
from .source import META

BATCH = 4096  # packets per libpcap call at most
TIMEOUT_MS = 100  # libpcap's read timeout: how long the kernel may hold packets before handing them over
STATS_EVERY = 0.5  # seconds between the child's counter reports
MESSAGES_AT_ONCE = 64  # batches the decoder takes before it looks at signals and the clock again
MERGE_HOLD = 0.5  # seconds packets of several interfaces wait to be put in time order (> TIMEOUT_MS)
PERMISSION = (
    "no permission to capture: run as root (sudo wirecap live ...), or grant the capabilities once: "
    "sudo setcap cap_net_raw,cap_net_admin=eip {python}"
)

# pcap_activate's errors (pcap/pcap.h) as one line each.
PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED = -8, -11
ACTIVATE_ERRORS = {
    -5: "no such device",
    -9: "the interface is down (ip link set IFACE up)",
    -6: "monitor mode is not supported",
}


class LiveError(Exception):
    """An interface cannot be opened or read: one line for the user."""


@dataclass(frozen=True)
class LiveOptions:
    interfaces: tuple[str, ...]
    bpf: str
    snaplen: int = 262144
    buffer_size: int = 32 << 20  # bytes of kernel buffer per interface
    promisc: bool = True
    queue_size: int = 256 << 20  # bytes of packets the queue to the decoder holds


@dataclass
class Counters:
    """What the capture process reports: libpcap's counters summed over the interfaces, and the queue's."""

    received: int = 0
    dropped: int = 0
    ifdropped: int = 0
    queue_dropped: int = 0
    queue_high_water: int = 0
    per_interface: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def available() -> list[str]:
    """The interfaces libpcap can capture on."""
    try:
        return pcapy.findalldevs()
    except pcapy.PcapError:
        return []


def open_interface(name: str, opts: LiveOptions) -> "pcapy.Reader":
    names = available()
    if name not in names:
        raise LiveError(f"no interface {name!r}; available: {', '.join(names) or 'none'} (see wirecap interfaces)")
    try:
        handle = pcapy.create(name)
        handle.set_snaplen(opts.snaplen)
        handle.set_promisc(int(opts.promisc))
        handle.set_timeout(TIMEOUT_MS)
        handle.set_buffer_size(opts.buffer_size)
        status = handle.activate()  # pcap_activate's status: < 0 an error, > 0 a warning
    except pcapy.PcapError as err:
        raise LiveError(f"{name}: {err}") from None
    if status in (PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED):
        raise LiveError(f"{name}: " + PERMISSION.format(python=os.path.realpath(sys.executable)))
    if status < 0:
        raise LiveError(f"{name}: " + ACTIVATE_ERRORS.get(status, f"libpcap could not open it (error {status})"))
    try:
        handle.setfilter(opts.bpf)
    except pcapy.PcapError as err:
        raise LiveError(f"bad --filter {opts.bpf!r} on {name}: {err}") from None
    handle.setnonblock(1)
    return handle


# Messages from the child: ("batch", linktype, packets, meta) | ("stats", Counters) | ("end", Counters)
# | ("error", text).
Message = tuple


class LiveCapture:
    """The opened interfaces and, once ``start``ed, the process reading them."""

    def __init__(self, opts: LiveOptions) -> None:
        self.opts = opts
        self.handles = [(name, open_interface(name, opts)) for name in opts.interfaces]
        for name, handle in self.handles:
            if handle.datalink() not in LINKTYPES:
                linktype = linktype_name(handle.datalink())
                raise LiveError(f"{name}: link type {linktype}: wirecap cannot decode its packets")
        self.counters = Counters()
        self._conn: Connection | None = None
        self._child: multiprocessing.process.BaseProcess | None = None

    def start(self, user: str | None = None) -> None:
        """Fork the capture process; with ``user``, both processes then become that user (the child
        before reading its first packet: neither parses a packet as root)."""
        context = multiprocessing.get_context("fork")
        parent_end, child_end = context.Pipe()
        args = (self.handles, child_end, self.opts.queue_size, user)
        self._child = context.Process(target=_reader, args=args, daemon=True)
        self._child.start()
        child_end.close()
        for _, handle in self.handles:
            handle.close()  # the child's now
        self._conn = parent_end
        if user is not None:
            drop_privileges(user)

    def messages(self, timeout: float) -> Iterator[Message]:
        """What the child sent within ``timeout`` seconds (nothing if it sent nothing), a bounded number."""
        assert self._conn is not None
        conn = self._conn
        for n in range(MESSAGES_AT_ONCE):  # then back to the caller, which watches signals and the clock
            if not conn.poll(timeout if n == 0 else 0):
                return
            try:
                message = conn.recv()
            except (EOFError, ConnectionError):
                yield ("error", "the capture process died")
                return
            if message[0] in ("stats", "end"):
                self.counters = message[1]
            yield message
            if message[0] in ("end", "error"):
                return

    def stop(self) -> None:
        """Ask the child for its last packets and counters; they arrive as messages, ending with "end"."""
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionError, OSError):
                self._conn.send_bytes(b"stop")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._child is not None:
            self._child.join(2.0)
            if self._child.exitcode is None:
                self._child.terminate()
                self._child.join()
            self._child = None


class _Queue:
    """The bounded queue of the child: batches in by the capture loop, out by the sender thread."""

    def __init__(self, limit: int, conn: Connection) -> None:
        self.limit = limit
        self.conn = conn
        self.items: deque[tuple[Message, int]] = deque()
        self.size = 0
        self.high_water = 0
        self.dropped = 0
        self.cond = threading.Condition()
        self.closed = False

    def put(self, message: Message, size: int, packets: int = 0) -> None:
        with self.cond:
            if size and self.size + size > self.limit:
                self.dropped += packets
                return
            self.items.append((message, size))
            self.size += size
            self.high_water = max(self.high_water, self.size)
            self.cond.notify()

    def send_all(self) -> None:
        """The sender thread: everything queued, to the parent, until the queue is closed and empty."""
        while True:
            with self.cond:
                while not self.items and not self.closed:
                    self.cond.wait()
                if not self.items:
                    return
                message, size = self.items.popleft()
            try:
                self.conn.send(message)
            except (BrokenPipeError, ConnectionError, OSError):
                return  # the parent is gone
            with self.cond:
                self.size -= size

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()


def drop_privileges(user: str) -> None:
    """Become ``user`` (its groups too), as tcpdump -Z does once the devices are open."""
    entry = pwd.getpwnam(user)
    os.setgroups(os.getgrouplist(entry.pw_name, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def _reader(handles: list[tuple[str, "pcapy.Reader"]], conn: Connection, queue_size: int, user: str | None) -> None:
    """The child: read every interface as soon as it has packets; report counters now and then."""
    if user is not None:
        drop_privileges(user)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tells us to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    queue = _Queue(queue_size, conn)
    sender = threading.Thread(target=queue.send_all, daemon=True)
    sender.start()
    fds = {handle.getfd(): (name, handle) for name, handle in handles}
    merge = _Merge(queue) if len(handles) > 1 else None
    next_stats = time.monotonic() + STATS_EVERY
    stopping = False
    try:
        while not stopping:
            wait = STATS_EVERY if merge is None else MERGE_HOLD / 4
            ready, _, _ = select.select([*fds, conn.fileno()], [], [], wait)
            stopping = conn.fileno() in ready  # "stop", or the parent is gone
            for fd in fds if stopping else ready:
                if fd in fds:
                    _drain(*fds[fd], merge or queue)
            if merge is not None:
                merge.release(everything=stopping)
            if stopping or time.monotonic() >= next_stats:
                next_stats = time.monotonic() + STATS_EVERY
                queue.put(("end" if stopping else "stats", _counters(handles, queue)), 0)
    except pcapy.PcapError as err:
        queue.put(("error", str(err)), 0)
    finally:
        queue.close()
        sender.join()


class _Merge:
    """Several interfaces: their packets in time order, as replay merges files.

    Each interface hands over its packets in blocks (up to ``TIMEOUT_MS`` late), so one interface's
    packet may arrive after a later one of another. Packets wait here ``MERGE_HOLD`` seconds, then leave
    in time order, in batches of one link type.
    """

    def __init__(self, queue: _Queue) -> None:
        self.queue = queue
        self.heap: list[tuple[int, int, int, bytes]] = []  # (µs, arrival number, link type, packet)
        self.arrived = 0

    def put(self, message: Message, _size: int, _packets: int = 0) -> None:
        _, linktype, packets, meta = message
        for sec, usec, off, caplen in META.iter_unpack(meta):
            self.arrived += 1
            heapq.heappush(self.heap, (sec * 1_000_000 + usec, self.arrived, linktype, packets[off : off + caplen]))

    def release(self, everything: bool) -> None:
        until = None if everything else int((time.time() - MERGE_HOLD) * 1_000_000)
        linktype, parts, metas, off = -1, [], [], 0
        while self.heap and (until is None or self.heap[0][0] <= until):
            ts, _, kind, packet = heapq.heappop(self.heap)
            if kind != linktype and parts:
                self._put(linktype, parts, metas)
                parts, metas, off = [], [], 0
            linktype = kind
            metas.append(META.pack(ts // 1_000_000, ts % 1_000_000, off, len(packet)))
            parts.append(packet)
            off += len(packet)
        if parts:
            self._put(linktype, parts, metas)

    def _put(self, linktype: int, parts: list[bytes], metas: list[bytes]) -> None:
        packets, meta = b"".join(parts), b"".join(metas)
        self.queue.put(("batch", linktype, packets, meta), len(packets) + len(meta), len(metas))


def _drain(name: str, handle: "pcapy.Reader", queue: "_Queue | _Merge") -> None:
    """What libpcap holds for one interface, batch by batch (a bounded number, so others get their turn)."""
    linktype = handle.datalink()
    for _ in range(16):
        packets, meta = handle.next_batch(BATCH)
        if not meta:
            return
        queue.put(("batch", linktype, packets, meta), len(packets) + len(meta), len(meta) // 16)


def _counters(handles: list[tuple[str, "pcapy.Reader"]], queue: _Queue) -> Counters:
    counters = Counters(queue_dropped=queue.dropped, queue_high_water=queue.high_water)
    for name, handle in handles:
        received, dropped, ifdropped = handle.stats()
        counters.per_interface[name] = (received, dropped, ifdropped)
        counters.received += received
        counters.dropped += dropped
        counters.ifdropped += ifdropped
    return counters
