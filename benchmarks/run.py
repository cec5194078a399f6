"""wirecap benchmarks: speed and memory against peers measured in the same run.

    .venv/bin/python benchmarks/run.py [--quick] [--runs N] [--strict] [--only MEASUREMENT [--packets N]]

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
from measure import Report, run_interleaved, warm  # noqa: E402

WIRECAP = Path(sys.executable).parent / "wirecap"  # the venv's entry point, beside its python

MIN_PPS = 400_000
MIN_TSHARK_RATIO = 10
MAX_RSS_MB = 150
MIN_NBFX_MBPS = 20
MIN_WCF_RATIO = 5
MIN_PIPELINE_PPS = 250_000  # issue 10: genuine net.tcp sessions, big envelopes included
MIN_PIPELINE_TSHARK_RATIO = 10
MAX_SESSIONS_RSS_MB = 200  # both session captures, at every size (flat from 100 k to 1 M)
MIN_CORE_MBPS = 200  # issue 10: the Rust core, binary XML -> SOAP fields + body JSON
MIN_CORE_WCF_RATIO = 50
MIN_SMALL_PPS = 250_000  # issue 10: many short sessions of small journal-style UserEvent calls
MIN_SMALL_TSHARK_RATIO = 5
SMALL_CAPTURES = ("store.pcap", "rms_session.pcap")  # their sessions carry the small calls, net.tcp and HTTP
ONE_PROCESS = "wirecap --no-read-ahead"


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
    and parsed as the iiko layer parses it) and wcf 0.5.5, on every envelope of the committed captures."""
    fs = decode.flows(sessions)
    count = sum(len(f.envelopes) for f in fs)
    size = sum(len(e) for f in fs for e in f.envelopes)
    decoders: dict[str, decode.Decoder] = {}
    missing = []
    names = (
        ("decoders.nbfx", decode.ours),
        ("nbfx + soap + JSON", decode.ours_soap),
        ("Rust core (JSON text)", decode.rust),
        ("Rust core + parse (orjson)", decode.rust_loads),
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


@dataclass(frozen=True)
class SessionsBench:
    """A capture of real sessions, decoded by ``wirecap replay`` (events to a file) against tshark."""

    name: str
    description: str
    min_pps: int
    min_ratio: float


PIPELINE = SessionsBench(
    "whole pipeline", "the genuine net.tcp sessions of `captures/*.pcap`", MIN_PIPELINE_PPS, MIN_PIPELINE_TSHARK_RATIO
)
SMALL = SessionsBench(
    "small messages", f"the sessions of {' and '.join(SMALL_CAPTURES)}", MIN_SMALL_PPS, MIN_SMALL_TSHARK_RATIO
)


def pipeline_sessions(sessions: Sequence[streams.Session]) -> list[tuple[int, list[tuple[str, bytes]]]]:
    """(server port, turns) of every net.tcp session; an upgraded (NNS) session's records stay unread."""
    return [(gen_capture.SERVER_PORT, t) for s in sessions if (t := s.turns())]


def small_sessions() -> list[tuple[int, list[tuple[str, bytes]]]]:
    """(server port, turns) of every connection of the captures with small journal-style calls."""
    return [
        (s.server_port, s.turns) for name in SMALL_CAPTURES for s in streams.packet_sessions(ROOT / "captures" / name)
    ]


def bench_sessions(
    report: Report,
    bench: SessionsBench,
    sessions: Sequence[tuple[int, list[tuple[str, bytes]]]],
    sizes: Sequence[int],
    runs: int,
) -> None:
    """wirecap replay vs tshark on captures of ``sessions``, each played once per connection, start to close,
    200 connections at a time (``gen_capture.write_short``); speed targets on the largest, RSS on each."""
    rows, checks = [], []
    for n in sizes:
        path = gen_capture.cached_short(n, sessions)
        packets = gen_capture.count_packets(path)
        warm(path)
        cmds = {"tshark": tshark(path)}
        events = gen_capture.OUT / "events.jsonl"
        if cmd := wirecap():
            cmds["wirecap"] = [*cmd, "replay", str(path), "-q", "-o", str(events)]
        res = run_interleaved(cmds, runs)
        events.unlink(missing_ok=True)
        peer, ours = res["tshark"], res.get("wirecap")
        label = f"{k(packets)} packets ({path.stat().st_size / 1e6:.0f} MB)"
        for name, r in (("wirecap", ours), ("tshark", peer)):
            figures = [
                f"{r.wall:.2f}",
                f"{r.cpu:.2f}",
                k(packets / r.wall),
                f"{peer.wall / r.wall:.2f}×",
                f"{r.rss_mb:.0f}",
            ]
            rows.append([label, name, *figures] if r else [label, name] + ["n/a"] * 5)
        checks.append(
            (
                f"{bench.name} peak RSS < {MAX_SESSIONS_RSS_MB} MB ({k(n)})",
                f"{ours.rss_mb:.0f} MB",
                ours.rss_mb < MAX_SESSIONS_RSS_MB,
            )
            if ours
            else (f"{bench.name} peak RSS ({k(n)})", "n/a", None)
        )
    report.lines.append(
        f"**{bench.name.capitalize()}** (`wirecap replay FILE -q -o events.jsonl` vs "
        "`tshark -T fields -e tcp.stream -e tcp.len`; "
        f"{bench.description} replayed once per connection, 200 connections at a time)\n"
    )
    report.table(["capture", "tool", "wall s", "CPU s", "packets/s", "speed vs tshark", "peak RSS MB"], rows)
    report.check(
        f"{bench.name} ≥ {k(bench.min_pps)} packets/s ({k(packets)})",
        k(packets / ours.wall) if ours else "n/a",
        packets / ours.wall >= bench.min_pps if ours else None,
    )
    report.check(
        f"{bench.name} ≥ {bench.min_ratio}× tshark ({k(packets)})",
        f"{peer.wall / ours.wall:.2f}×" if ours else "n/a",
        peer.wall / ours.wall >= bench.min_ratio if ours else None,
    )
    report.checks += checks


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
    ap.add_argument("--only", choices=("replay", "decode", "pipeline", "small"), help="run only this measurement")
    ap.add_argument("--packets", type=int, help="one capture size for --only (default: both sizes)")
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    if runs < 1:
        ap.error("--runs must be at least 1")
    sizes = (20_000, 100_000) if args.quick else (100_000, 1_000_000)

    report = Report([f"### Benchmarks{' (quick)' if args.quick else ''}\n", machine(runs), ""], [])
    only = [args.packets] if args.packets else sizes
    if args.only in (None, "replay"):
        bench_replay(report, sizes, runs)
    if args.only in (None, "decode"):
        bench_nbfx(report, streams.load_sessions(), runs, 0.3 if args.quick else 1.0)
    if args.only in (None, "pipeline"):
        bench_sessions(report, PIPELINE, pipeline_sessions(streams.load_sessions()), only, runs)
    if args.only in (None, "small"):
        bench_sessions(report, SMALL, small_sessions(), only, runs)
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
