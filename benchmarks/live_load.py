"""Load benchmark (not a test): ``wirecap live`` under 50 k packets/s of mixed traffic; does it lose any?

On the store LAN of tests/interop (terminal, main cash and server namespaces), a bounded generator in
the terminal's namespace sends UDP datagrams of mixed sizes to ports wirecap does not decode, at a fixed
rate, for ``--seconds``; meanwhile the Mono store evening runs in a loop, so genuine net.tcp and HTTP
sessions cross the same interface. ``wirecap live -i any`` captures in the terminal's namespace, once
with its default kernel filter (the decoded ports: the flood never leaves the kernel) and once with
``--filter ip`` (every packet goes through the capture process, its queue and the pipeline).

    sudo .venv/bin/python benchmarks/live_load.py [--rate 50000] [--seconds 20]

Prints one JSON object per run: packets sent, libpcap's counters, queue high-water mark and drops, and
whether every session of every evening was decoded.
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

GENERATOR = r"""
import random, socket, sys, time
rate, seconds, target = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
rng = random.Random(7)
payloads = [bytes(rng.randrange(256) for _ in range(n)) for n in (18, 64, 200, 512, 1000, 1400)]
ports = (53, 123, 161, 514, 5000, 9999)
sent, tick = 0, 0.001  # send in 1 ms slices: rate/1000 datagrams each
start = time.monotonic()
while (now := time.monotonic() - start) < seconds:
    due = int(now * rate) - sent
    for _ in range(min(due, rate // 100)):
        try:
            sock.sendto(payloads[sent % 6], (target, ports[sent % 6]))
        except OSError:  # a full socket buffer: the datagram is not sent, so not counted
            continue
        sent += 1
    time.sleep(tick)
print(sent, round(time.monotonic() - start, 3))
"""


def run(lan: StoreLan, rate: int, seconds: float, bpf: list[str], out: Path) -> dict:
    events = out / "events.jsonl"
    wirecap = [str(REPO / ".venv" / "bin" / "wirecap"), "live", "-i", "any", "-q", *bpf, "-o", str(events)]
    live = subprocess.Popen(lan.cmd("term", wirecap), stderr=subprocess.PIPE, text=True)
    assert live.stderr is not None
    live.stderr.readline()  # listening
    gen = subprocess.Popen(
        lan.cmd("term", [sys.executable, "-c", GENERATOR, str(rate), str(seconds), lan.cash_ip]),
        stdout=subprocess.PIPE,
        text=True,
    )
    evenings = 0
    while gen.poll() is None:
        lan.evening(Path(tempfile.mkdtemp(prefix="evening-", dir=out)))
        evenings += 1
    sent, took = gen.communicate()[0].split()
    time.sleep(1)
    live.send_signal(signal.SIGTERM)
    live.communicate(timeout=60)
    lines = [json.loads(line) for line in events.open()]
    final = lines[-1]
    closes = [e for e in lines if e["kind"] == "conn.close"]
    return {
        "filter": bpf[1] if bpf else "default (decoded ports)",
        "udp_sent": int(sent),
        "udp_seconds": float(took),
        "udp_rate": round(int(sent) / float(took)),
        "evenings": evenings,
        "sessions": len(closes),
        "sessions_decoded": sum(c.get("service") in ("nmf", "http") for c in closes),
        "wcf_messages": sum(e["kind"] == "wcf.message" for e in lines),
        "anomalies": sum(e["kind"] == "anomaly" for e in lines),
        **{k: final[k] for k in ("received", "dropped", "ifdropped", "queue_dropped", "queue_high_water", "packets")},
        "exit_status": live.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with StoreLan("load") as lan:
        for bpf in ([], ["--filter", "ip"]):
            out = Path(tempfile.mkdtemp(prefix="wirecap-load-"))
            print(json.dumps(run(lan, args.rate, args.seconds, bpf, out)), flush=True)


if __name__ == "__main__":
    main()
