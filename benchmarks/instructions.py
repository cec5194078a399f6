"""Instructions a replay takes, per revision: for changes of a few percent, which timing cannot see here.

    .venv/bin/python benchmarks/instructions.py [--packets N] [--capture pipeline|small|FILE ...] REV [REV ...]

On this shared machine the same replay's CPU time moves by ±15 % between alternating runs; the count of
instructions (valgrind's callgrind) moves by well under 0.1 %. Each REV (a commit, or ``.`` for the
working tree) replays the first N packets of each capture in one process (``--no-read-ahead``), and once
with one packet: the difference is the work on the packets, start-up (imports, the rules) left out. The
revisions run side by side, one per CPU. A revision's core is built from its ``core/`` unless that is the
working tree's, whose built module it then shares. Prints a Markdown table; the first REV is the base.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))

import gen_capture  # noqa: E402
import streams  # noqa: E402
from run import pipeline_sessions, small_sessions  # noqa: E402

CAPTURE_SIZE = 100_000  # packets of the benchmark captures the first N are taken from
COLLECTED = re.compile(r"Collected : (\d+)")


def capture(name: str) -> Path:
    """A benchmark capture by its name in ``run.py`` (made if missing, as run.py makes it), or a file."""
    if name == "pipeline":
        return gen_capture.cached_short(CAPTURE_SIZE, pipeline_sessions(streams.load_sessions()))
    if name == "small":
        return gen_capture.cached_short(CAPTURE_SIZE, small_sessions())
    return Path(name).resolve()


def checkout(rev: str, stack: ExitStack) -> Path:
    """A directory holding ``rev`` with its core built: the working tree itself for ``.``."""
    if rev == ".":
        return ROOT
    place = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wirecap-ir-")))
    tree = place / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), rev], check=True)
    stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    built = next((ROOT / "decoders").glob("_core.*.so"), None)
    same_core = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", rev, "--", "core"], check=False)
    if built is not None and same_core.returncode == 0:
        shutil.copy2(built, tree / "decoders" / built.name)
        return tree
    target = place / "target"
    manifest = tree / "core" / "Cargo.toml"
    cargo = ["cargo", "build", "--release", "-q", "--features", "python", "--manifest-path", str(manifest)]
    subprocess.run([*cargo, "--target-dir", str(target)], check=True)
    name = built.name if built is not None else "_core.abi3.so"
    shutil.copy2(target / "release" / "libwirecap_core.so", tree / "decoders" / name)
    return tree


def instructions(tree: Path, pcap: Path, packets: int) -> int:
    """Instructions callgrind counts in ``wirecap replay`` of the first ``packets`` of ``pcap`` from ``tree``."""
    with tempfile.TemporaryDirectory(prefix="wirecap-ir-") as work:  # cwd: not a checkout, which would shadow
        argv = [sys.executable, "-m", "wirecap", "replay", "-q", "--no-read-ahead", "-c", str(packets), str(pcap)]
        out = Path(work) / "callgrind.out"
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv, "-o", os.devnull],
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            check=False,
        )
    found = COLLECTED.search(run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"instructions.py: the replay from {tree} failed:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("revs", nargs="+", metavar="REV", help="commits to compare, '.' for the working tree")
    ap.add_argument("--packets", type=int, default=20_000, help="packets replayed from each capture (20 000)")
    ap.add_argument("--capture", action="append", help="pipeline, small (the default: both) or a capture file")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        ap.error("valgrind is not installed (Debian: apt-get install valgrind)")
    names = args.capture or ["pipeline", "small"]
    pcaps = [capture(name) for name in names]
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        trees = [checkout(rev, stack) for rev in args.revs]
        jobs = {
            (pcap, rev, n): pool.submit(instructions, tree, pcap, n)
            for pcap in pcaps
            for rev, tree in zip(args.revs, trees, strict=True)
            for n in (1, args.packets)
        }
        counts = {key: job.result() for key, job in jobs.items()}
    print(f"Instructions of `wirecap replay -c {args.packets}` less those of `-c 1` (start-up), callgrind:\n")
    print("| capture | revision | instructions (G) | vs the first |\n|---|---|---|---|")
    for name, pcap in zip(names, pcaps, strict=True):
        base = None
        for rev in args.revs:
            work = counts[pcap, rev, args.packets] - counts[pcap, rev, 1]
            base = base or work
            print(f"| {name} | {rev} | {work / 1e9:.3f} | {100 * (work / base - 1):+.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
