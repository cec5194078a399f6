"""``-o FILE --rotate SIZE``: the events file of a long-running capture, rotated and reopened on SIGHUP.

When a write takes the file past ``SIZE`` bytes it is renamed ``FILE.1`` (an older ``FILE.1`` becomes
``FILE.2``, and so on; ``KEEP`` files are kept) and a new ``FILE`` is started; lines are written whole, so
no line is split between two files. SIGHUP reopens ``FILE`` by name, for logrotate and its kind that
rename the file themselves (``postrotate: systemctl kill -s HUP wirecap``).
"""

import os
import re
import signal
from types import FrameType

KEEP = 10  # rotated files kept: FILE.1 … FILE.10
SIZE = re.compile(r"(\d+)\s*([kKmMgG]?)[bB]?")
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``100MB``, ``1G``, ``512k``, ``4096`` → bytes (binary units); ValueError if not a size."""
    match = SIZE.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"not a size: {text!r} (examples: 100MB, 1GB, 4096)")
    return int(match[1]) * UNITS[match[2].lower()]


class Unbuffered:
    """stdout for ``live``: each write goes to the descriptor whole, at once (``os.write`` until done),
    with nothing held in Python's buffers between events."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write_bytes(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def close(self) -> None:
        pass


class RotatingFile:
    """The events file, with the calls the sinks use (``write_bytes``, ``flush``, ``isatty``, ``close``)."""

    def __init__(self, path: str, rotate: int | None = None) -> None:
        self.path = path
        self.rotate = rotate
        self.reopen_pending = False
        self._open()

    def _open(self) -> None:
        self.out = open(self.path, "ab")  # noqa: SIM115 -- closed by close()
        self.size = self.out.tell()

    def install_sighup(self) -> None:
        signal.signal(signal.SIGHUP, self._hangup)

    def _hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reopen_pending = True  # acted on at the next write: never in the middle of one

    def write_bytes(self, data: bytes) -> None:
        if self.reopen_pending:
            self.reopen_pending = False
            self.out.close()
            self._open()
        self.out.write(data)
        self.size += len(data)
        if self.rotate is not None and self.size >= self.rotate:
            self._rotate()

    def _rotate(self) -> None:
        self.out.close()
        for n in range(KEEP - 1, 0, -1):
            older = f"{self.path}.{n}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{n + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._open()

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        self.out.close()
