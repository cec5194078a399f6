"""Measuring commands for the benchmarks: wall and CPU time, and the peak memory of a process tree.

The machine is shared and noisy: ``run_interleaved`` alternates the commands run by run and takes
medians, so a burst of load from other users hits all of them alike.
"""

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and of the processes it waited for
    rss_mb: float  # peak resident set of the process tree: the child's own plus each of its children's


@dataclass(slots=True)
class Report:
    lines: list[str]
    checks: list[tuple[str, str, bool | None]]  # (target, measured, passed; None = not measured)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        self.lines += ["| " + " | ".join(r) + " |" for r in rows]
        self.lines.append("")

    def check(self, target: str, measured: str, passed: bool | None) -> None:
        self.checks.append((target, measured, passed))


SAMPLE_EVERY = 0.01  # seconds between looks at the process tree's peak resident sets


def run_once(cmd: Sequence[str]) -> Run:
    """Runs ``cmd`` with stdout to /dev/null.

    ``wirecap replay`` may read ahead in a child process of its own, so memory is the sum of each
    process's peak (``VmHWM``, looked at every 10 ms while it runs; it only grows): an upper bound of
    the tree's peak, since the peaks need not coincide. ``ru_maxrss`` from ``wait4`` would report
    only the largest single process.
    """
    peaks: dict[int, int] = {}  # pid -> largest VmHWM seen, kB
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            for proc in (p.pid, *_children(p.pid)):
                peaks[proc] = max(peaks.get(proc, 0), _peak_kb(proc))
            time.sleep(SAMPLE_EVERY)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{tail}")
    # wait4's peak is the largest of the tree: exact for a process that had no children
    own = peaks[p.pid] if len(peaks) > 1 else max(peaks.get(p.pid, 0), ru.ru_maxrss)
    children = sum(kb for proc, kb in peaks.items() if proc != p.pid)
    return Run(wall, ru.ru_utime + ru.ru_stime, (own + children) / 1024)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _peak_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # already gone
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def run_interleaved(cmds: dict[str, list[str]], runs: int) -> dict[str, Run]:
    """Median wall, CPU and RSS of each command; runs alternate between commands so that a burst of
    load from other users hits all of them alike."""
    samples: dict[str, list[Run]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            samples[name].append(run_once(cmd))
    return {
        name: Run(
            statistics.median(r.wall for r in rs),
            statistics.median(r.cpu for r in rs),
            statistics.median(r.rss_mb for r in rs),
        )
        for name, rs in samples.items()
    }


def warm(path: Path) -> None:
    """Reads the file once so that the first timed run does not pay for the disk."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
