"""wirecap benchmarks: speed and memory against peers measured in the same run.

    .venv/bin/python benchmarks/run.py [--quick] [--runs N] [--strict] [--only small [--packets N]]

The machine is shared and noisy, so every figure is the median of N runs, and every speed target that
names a peer is a ratio against that peer timed in the same run, interleaved run by run. Prints a
Markdown report and writes it to ``benchmarks/out/latest.md``; exits 0 unless ``--strict`` and a
target failed or could not be measured.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))  # `decoders`/`wirecap` from this checkout; HERE is already sys.path[0]

import decode  # noqa: E402
import gen_capture  # noqa: E402
import streams  # noqa: E402

WIRECAP = Path(sys.executable).parent / "wirecap"  # the venv's entry point, beside its python

MIN_PPS = 400_000
MIN_TSHARK_RATIO = 10
MAX_RSS_MB = 150
MIN_NBFX_MBPS = 20
MIN_WCF_RATIO = 5
MIN_PIPELINE_PPS = 250_000
MIN_CORE_MBPS = 200  # issue 10: the Rust core, binary XML -> SOAP fields + body JSON
MIN_CORE_WCF_RATIO = 50
MIN_SMALL_PPS = 250_000  # issue 10: many short sessions of small journal-style UserEvent calls
MIN_SMALL_TSHARK_RATIO = 5
SMALL_CAPTURES = ("store.pcap", "rms_session.pcap")  # their sessions carry the small calls, net.tcp and HTTP
ONE_PROCESS = "wirecap --no-read-ahead"


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


@cache
def wirecap() -> tuple[str, ...] | None:
    """How to start wirecap: the venv's entry point, else its click ``main`` through this python (the
    entry point exists only once the package is installed); None while ``wirecap replay`` does not."""
    for cmd in ((str(WIRECAP),), (sys.executable, "-c", "from wirecap.cli import main; main()")):
        if (
            Path(cmd[0]).exists()
            and subprocess.run([*cmd, "replay", "--help"], capture_output=True, cwd=ROOT).returncode == 0
        ):
            return cmd
    return None


def wirecap_replay(path: Path, *options: str) -> list[str] | None:
    cmd = wirecap()
    return [*cmd, "replay", str(path), "-q", "-o", "/dev/null", *options] if cmd else None


def tshark(path: Path) -> list[str]:
    return ["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.stream", "-e", "tcp.len"]


def k(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


def bench_replay(report: Report, sizes: Sequence[int], runs: int) -> None:
    """wirecap replay vs tshark on synthetic captures of each size; speed targets on the largest."""
    rows, rss = [], {}
    for n in sizes:
        path = gen_capture.cached(n)
        warm(path)
        cmds = {"tshark": tshark(path)}
        if cmd := wirecap_replay(path):
            cmds["wirecap"] = cmd
            cmds[ONE_PROCESS] = [*cmd, "--no-read-ahead"]
        res = run_interleaved(cmds, runs)
        label = f"synthetic {k(n)} packets ({path.stat().st_size / 1e6:.0f} MB)"
        peer = res["tshark"]
        for name in ("wirecap", ONE_PROCESS, "tshark"):
            r = res.get(name)
            figures = (
                [f"{r.wall:.2f}", f"{r.cpu:.2f}", k(n / r.wall), f"{peer.wall / r.wall:.1f}×", f"{r.rss_mb:.0f}"]
                if r
                else ["n/a"] * 5
            )
            rows.append([label, name, *figures])
        rss[n] = res.get("wirecap")
        speed = res.get("wirecap"), res["tshark"]
    report.lines.append(
        "**Replay** (`wirecap replay FILE -q -o /dev/null` vs `tshark -r FILE -T fields -e tcp.stream -e tcp.len`; "
        "wirecap reads ahead in a second process unless `--no-read-ahead`; CPU is both processes', peak RSS "
        "their sum)\n"
    )
    report.table(["capture", "tool", "wall s", "CPU s", "packets/s", "speed vs tshark", "peak RSS MB"], rows)

    ours, peer = speed
    n = sizes[-1]
    report.check(
        f"wirecap ≥ {k(MIN_PPS)} packets/s ({k(n)})",
        k(n / ours.wall) if ours else "n/a",
        n / ours.wall >= MIN_PPS if ours else None,
    )
    report.check(
        f"wirecap ≥ {MIN_TSHARK_RATIO}× tshark ({k(n)})",
        f"{peer.wall / ours.wall:.1f}×" if ours else "n/a",
        peer.wall / ours.wall >= MIN_TSHARK_RATIO if ours else None,
    )
    for n, r in rss.items():
        report.check(
            f"wirecap peak RSS < {MAX_RSS_MB} MB ({k(n)})",
            f"{r.rss_mb:.0f} MB" if r else "n/a",
            r.rss_mb < MAX_RSS_MB if r else None,
        )


def bench_nbfx(report: Report, sessions: Sequence[streams.Session], runs: int, min_seconds: float) -> None:
    """decoders.nbfx (alone, and with SOAP + body JSON), the Rust core (decoders._core, body as JSON text,
    and parsed by json.loads) and wcf 0.5.5, on every envelope of the committed captures."""
    fs = decode.flows(sessions)
    count = sum(len(f.envelopes) for f in fs)
    size = sum(len(e) for f in fs for e in f.envelopes)
    decoders: dict[str, decode.Decoder] = {}
    missing = []
    names = (
        ("decoders.nbfx", decode.ours),
        ("nbfx + soap + JSON", decode.ours_soap),
        ("Rust core (JSON text)", decode.rust),
        ("Rust core + json.loads", decode.rust_loads),
        ("wcf 0.5.5", decode.wcf),
    )
    for name, make in names:
        try:
            decoders[name] = make()
        except ImportError as e:
            missing.append(f"{name}: {e}")
    rates: dict[str, list[decode.Rate]] = {name: [] for name in decoders}
    if count:
        for _ in range(runs):
            for name, d in decoders.items():
                rates[name].append(decode.measure(d, fs, min_seconds))
    mbps = {name: statistics.median(r.mb_per_s for r in rs) for name, rs in rates.items() if rs}
    report.lines.append(
        f"**Binary XML decoding** ({count} envelopes, {size / 1e3:.0f} kB, from "
        f"{len(sessions)} net.tcp sessions of `captures/*.pcap`)\n"
    )
    report.table(
        ["decoder", "MB/s", "failed envelopes"],
        [
            [name, f"{mbps[name]:.2f}", str(rates[name][-1].failures)] if name in mbps else [name, "n/a", "n/a"]
            for name, _ in names
        ],
    )
    report.lines += [f"- not measured: {m}" for m in missing] + ([""] if missing else [])
    ours, peer = mbps.get("decoders.nbfx"), mbps.get("wcf 0.5.5")
    failed = rates["decoders.nbfx"][-1].failures if ours else 0  # a decoder that gives up early is fast
    report.check(
        f"NBFX decoding ≥ {MIN_NBFX_MBPS} MB/s, no envelope failing",
        f"{ours:.1f} MB/s, {failed} failed" if ours else "n/a",
        ours >= MIN_NBFX_MBPS and not failed if ours else None,
    )
    report.check(
        f"NBFX decoding ≥ {MIN_WCF_RATIO}× wcf",
        f"{ours / peer:.1f}×" if ours and peer else "n/a",
        ours / peer >= MIN_WCF_RATIO if ours and peer else None,
    )
    core = mbps.get("Rust core (JSON text)")
    failed = rates["Rust core (JSON text)"][-1].failures if core else 0
    report.check(
        f"Rust core ≥ {MIN_CORE_MBPS} MB/s (SOAP + body JSON), no envelope failing",
        f"{core:.1f} MB/s, {failed} failed" if core else "n/a",
        core >= MIN_CORE_MBPS and not failed if core else None,
    )
    report.check(
        f"Rust core ≥ {MIN_CORE_WCF_RATIO}× wcf",
        f"{core / peer:.1f}×" if core and peer else "n/a",
        core / peer >= MIN_CORE_WCF_RATIO if core and peer else None,
    )


def bench_pipeline(report: Report, sessions: Sequence[streams.Session], n: int, runs: int) -> None:
    """wirecap replay on a capture whose 200 connections replay the genuine sessions."""
    target = f"pipeline ≥ {k(MIN_PIPELINE_PPS)} packets/s ({k(n)} replayed net.tcp)"
    if not sessions:
        report.check(target, "n/a (no net.tcp sessions in captures/*.pcap)", None)
        return
    turns = [t for s in sessions if (t := s.turns())]  # an upgraded (NNS) session's records stay unread
    path = gen_capture.cached(n, turns)
    cmd = wirecap_replay(path)
    if not cmd:
        report.check(target, "n/a (wirecap replay not available)", None)
        return
    warm(path)
    r = run_interleaved({"wirecap": cmd}, runs)["wirecap"]
    mb = path.stat().st_size / 1e6
    report.lines.append(
        f"**Whole pipeline** (`wirecap replay` on {k(n)} packets, {mb:.0f} MB: "
        f"{len(turns)} genuine net.tcp sessions replayed over 200 connections)\n"
    )
    report.table(
        ["wall s", "CPU s", "packets/s", "peak RSS MB"],
        [[f"{r.wall:.2f}", f"{r.cpu:.2f}", k(n / r.wall), f"{r.rss_mb:.0f}"]],
    )
    report.check(target, k(n / r.wall), n / r.wall >= MIN_PIPELINE_PPS)


def small_sessions() -> list[tuple[int, list[tuple[str, bytes]]]]:
    """(server port, turns) of every connection of the captures with small journal-style calls."""
    return [
        (s.server_port, s.turns) for name in SMALL_CAPTURES for s in streams.packet_sessions(ROOT / "captures" / name)
    ]


def bench_small(report: Report, n: int, runs: int) -> None:
    """wirecap replay vs tshark on many short sessions of small calls (``gen_capture.write_short``)."""
    path = gen_capture.cached_short(n, small_sessions())
    packets = gen_capture.count_packets(path)
    warm(path)
    cmds = {"tshark": tshark(path)}
    if cmd := wirecap_replay(path):
        cmds["wirecap"] = cmd
    res = run_interleaved(cmds, runs)
    mb = path.stat().st_size / 1e6
    report.lines.append(
        f"**Small messages** ({k(packets)} packets, {mb:.0f} MB: the sessions of "
        f"{' and '.join(SMALL_CAPTURES)} replayed once per connection, 200 connections at a time; "
        "events written to /dev/null)\n"
    )
    peer = res["tshark"]
    rows = []
    for name in ("wirecap", "tshark"):
        r = res.get(name)
        rows.append(
            [
                name,
                f"{r.wall:.2f}",
                f"{r.cpu:.2f}",
                k(packets / r.wall),
                f"{peer.wall / r.wall:.2f}×",
                f"{r.rss_mb:.0f}",
            ]
            if r
            else [name] + ["n/a"] * 5
        )
    report.table(["tool", "wall s", "CPU s", "packets/s", "speed vs tshark", "peak RSS MB"], rows)
    ours = res.get("wirecap")
    report.check(
        f"small messages ≥ {k(MIN_SMALL_PPS)} packets/s ({k(packets)})",
        k(packets / ours.wall) if ours else "n/a",
        packets / ours.wall >= MIN_SMALL_PPS if ours else None,
    )
    report.check(
        f"small messages ≥ {MIN_SMALL_TSHARK_RATIO}× tshark ({k(packets)})",
        f"{peer.wall / ours.wall:.2f}×" if ours else "n/a",
        peer.wall / ours.wall >= MIN_SMALL_TSHARK_RATIO if ours else None,
    )


def machine(runs: int) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    ts = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.split()[2]
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    try:
        wcf = metadata.version("wcf")
    except metadata.PackageNotFoundError:
        wcf = "not installed"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}; {len(os.sched_getaffinity(0))} CPUs "
        f"({cpu}), load average {os.getloadavg()[0]:.2f} at start; Python {platform.python_version()}; "
        f"TShark {ts}; wcf {wcf}. Medians of {runs} runs each."
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 k and 100 k packets, 3 runs (a minute or two)")
    ap.add_argument("--runs", type=int, help="runs per measurement (default 5, or 3 with --quick)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target failed or was not measured")
    ap.add_argument("--only", choices=("small",), help="run only this measurement")
    ap.add_argument("--packets", type=int, help="capture size for --only (default: the largest size)")
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    if runs < 1:
        ap.error("--runs must be at least 1")
    sizes = (20_000, 100_000) if args.quick else (100_000, 1_000_000)

    report = Report([f"### Benchmarks{' (quick)' if args.quick else ''}\n", machine(runs), ""], [])
    if args.only != "small":
        bench_replay(report, sizes, runs)
        sessions = streams.load_sessions()
        bench_nbfx(report, sessions, runs, 0.3 if args.quick else 1.0)
        bench_pipeline(report, sessions, sizes[-1], runs)
    bench_small(report, args.packets or sizes[-1], runs)
    report.lines += [f"Load average at the end: {os.getloadavg()[0]:.2f}.", "", "**Targets**\n"]
    report.table(
        ["target", "measured", "result"],
        [[t, m, {True: "PASS", False: "FAIL", None: "n/a"}[p]] for t, m, p in report.checks],
    )

    text = "\n".join(report.lines)
    print(text)
    gen_capture.OUT.mkdir(exist_ok=True)
    (gen_capture.OUT / "latest.md").write_text(text)
    return 1 if args.strict and not all(p for _, _, p in report.checks) else 0


if __name__ == "__main__":
    sys.exit(main())
