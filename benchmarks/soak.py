"""Soak benchmark (not a test): ``wirecap live`` on the store LAN for a long time; is its memory flat?

The store scenario (tests/interop: Mono main cash, two Mono terminals, the server link, each in its own
network namespace) runs in a loop while ``wirecap live -i any -o FILE --rotate 100MB`` captures in the
terminal's namespace. The resident memory of wirecap's two processes (decoder and capture) is read
after the first evening and at the end; the final ``capture.stats`` gives the drops.

    sudo .venv/bin/python benchmarks/soak.py --seconds 3600 [--out DIR]

Needs root, mono, mcs. Prints one JSON object with the figures.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "interop"))
from lan import StoreLan  # noqa: E402


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its children (the capture process), in KiB."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="wirecap-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    events = out / "events.jsonl"
    wirecap = [str(REPO / ".venv" / "bin" / "wirecap"), "live", "-i", "any", "-q", "--stats-interval", "60"]
    wirecap += ["-o", str(events), "--rotate", "100MB"]
    with StoreLan("soak") as lan:
        live = subprocess.Popen(lan.cmd("term", wirecap), stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        started = time.monotonic()
        evenings, failed, samples = 0, 0, []  # samples: (seconds, RSS KiB) after each evening
        try:
            while time.monotonic() - started < args.seconds:
                try:
                    lan.evening(Path(tempfile.mkdtemp(prefix="evening-", dir=out)))
                    evenings += 1
                except (RuntimeError, subprocess.SubprocessError):  # a Mono peer hung or failed: next one
                    failed += 1
                samples.append((round(time.monotonic() - started), rss_kb(live.pid)))
        finally:
            live.send_signal(signal.SIGTERM)
            _, err = live.communicate(timeout=60)
        elapsed = time.monotonic() - started
    files = sorted(out.glob("events.jsonl*"))
    final = None
    messages = 0
    for path in files:
        for line in path.open():
            if '"kind":"wcf.message"' in line:
                messages += 1
            elif '"final":true' in line:
                final = json.loads(line)
    print(
        json.dumps(
            {
                "seconds": round(elapsed),
                "evenings": evenings,
                "evenings_failed": failed,
                "rss_start_kib": samples[0][1] if samples else None,
                "rss_end_kib": samples[-1][1] if samples else None,
                "rss_max_kib": max(r for _, r in samples) if samples else None,
                "rss_every_5_minutes": [
                    s for n, s in enumerate(samples) if n == 0 or s[0] // 300 > samples[n - 1][0] // 300
                ],
                "exit_status": live.returncode,
                "event_files": len(files),
                "wcf_messages": messages,
                "final_stats": final,
                "stderr": err[-2000:],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
