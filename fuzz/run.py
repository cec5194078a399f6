"""Run the fuzz targets of ``fuzz/fuzz_targets.py`` under atheris (coverage-guided, libFuzzer).

    python fuzz/run.py --seconds 60              # every target, 60 s each, one after the other
    python fuzz/run.py --seconds 600 nmf http    # some targets
    python fuzz/run.py --runs 1000000 nbfx       # until a number of inputs instead

Each target runs in a subprocess of its own, seeded from the committed captures (``captures/*.pcap``)
plus the inputs it found interesting before (``fuzz/corpus/<target>/``, not committed), with
``-timeout`` (an input that takes longer is a hang) and ``-rss_limit_mb`` (more memory is a crash).
A crash or hang leaves its input in ``fuzz/findings/<target>/``: turn it into a regression test in
``tests/fuzz_findings/`` with the fix. One line per target is printed, and with ``--json FILE`` also
written: inputs run, crashes, hangs, peak RSS. Exit status 1 if any target crashed or hung.
Needs ``pip install -e '.[fuzz]'``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

TIMEOUT_S = 10  # one input taking longer is a hang
RSS_LIMIT_MB = 1024
MAX_LEN = 8 << 10  # bytes of one input: long enough for several records, short enough to be fast


def child(target: str, args: list[str]) -> None:
    """Inside the subprocess: instrument wirecap, then hand over to libFuzzer."""
    import atheris

    with atheris.instrument_imports(include=["decoders", "wirecap", "h11", "fuzz_targets"]):
        import fuzz_targets as targets
    function = targets.TARGETS[target]
    atheris.Setup([sys.argv[0], *args], function)
    atheris.Fuzz()


def run_target(
    target: str, seconds: int | None, runs: int | None, nice: int = 10, work: Path = HERE
) -> dict[str, object]:
    """Fuzz one target in a subprocess; its figures. ``work`` holds ``corpus/`` and ``findings/``."""
    import fuzz_targets as targets

    corpus = work / "corpus" / target
    seeds = work / "corpus" / f"{target}.seeds"
    findings = work / "findings" / target
    for folder in (corpus, seeds, findings):
        folder.mkdir(parents=True, exist_ok=True)
    if not any(seeds.iterdir()):
        for i, seed in enumerate(targets.seeds(target)):
            (seeds / f"seed-{i:03d}").write_bytes(seed)
    before = {p.name for p in findings.iterdir()}
    options = [
        f"-timeout={TIMEOUT_S}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-max_len={MAX_LEN}",
        f"-artifact_prefix={findings}/",
        "-print_final_stats=1",
        *([f"-max_total_time={seconds}"] if seconds else []),
        *([f"-runs={runs}"] if runs else []),
    ]
    command = ["nice", "-n", str(nice), sys.executable, __file__, "--child", target, "--", *options]
    command += [str(corpus), str(seeds)]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, errors="replace", cwd=ROOT)
    log = proc.stdout + proc.stderr
    (work / "findings" / f"{target}.log").write_text(log[-200_000:])
    new = sorted(p.name for p in findings.iterdir() if p.name not in before)

    def stat(name: str) -> int:
        found = re.findall(rf"stat::{name}:\s*(\d+)", log)
        return int(found[-1]) if found else 0

    executed = stat("number_of_executed_units")
    if not executed:  # killed before the final stats: the last progress line
        progress = re.findall(r"^#(\d+)\s", log, re.M)
        executed = int(progress[-1]) if progress else 0
    peak = stat("peak_rss_mb") or max((int(m) for m in re.findall(r"rss: (\d+)Mb", log)), default=0)
    return {
        "target": target,
        "inputs": executed,
        "seconds": round(time.monotonic() - started, 1),
        "crashes": sum(1 for n in new if n.startswith(("crash-", "oom-", "leak-"))),
        "hangs": sum(1 for n in new if n.startswith(("timeout-", "slow-unit-"))),
        "peak_rss_mb": peak,
        "exit": proc.returncode,
        "findings": [str(findings / n) for n in new],
    }


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        rest = sys.argv[3:]
        child(sys.argv[2], rest[1:] if rest[:1] == ["--"] else rest)
        return 0
    import fuzz_targets as targets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", choices=[[], *targets.TARGETS], help="default: all")
    parser.add_argument("--seconds", type=int, help="per target")
    parser.add_argument("--runs", type=int, help="inputs per target")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the fuzzing process (default 10)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.seconds and not args.runs:
        parser.error("give --seconds or --runs")
    results = []
    for target in args.targets or list(targets.TARGETS):
        result = run_target(target, args.seconds, args.runs, args.nice)
        results.append(result)
        print(
            f"{target:11} {result['inputs']:>10,} inputs {result['seconds']:>7} s  crashes {result['crashes']}"
            f"  hangs {result['hangs']}  peak RSS {result['peak_rss_mb']} MB  exit {result['exit']}",
            flush=True,
        )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if any(r["crashes"] or r["hangs"] or r["exit"] not in (0,) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
