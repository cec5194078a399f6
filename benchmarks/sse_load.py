"""Does a crowd of event-stream clients slow the capture down? (issue 12: 50 SSE clients, unchanged.)

Each round decodes the repository's captures ``--passes`` times through one numbering sink into a
``Floor`` served by uvicorn in a thread, as ``wirecap serve`` and ``live --serve`` run; the time counted
is the decoding's only. The rounds alternate between no client, 50 clients following ``iiko.*`` (what
the board asks for) and 50 clients following every event, each set in a process of its own, connected
before the decoding starts. Printed per condition (medians of the rounds), with the ratios to the
no-client rounds of the same run: packets/s of wall-clock time and of the decoding thread's own CPU
time (on a shared machine the first also counts waiting for a core), the CPU the server's thread and
the clients' process used meanwhile, and the events the clients received.

    .venv/bin/python benchmarks/sse_load.py [--rounds 5] [--passes 10] [--clients 50]
"""

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from decoders.iiko import OrderTracker
from wirecap.api import Settings, build_app
from wirecap.floor import Floor
from wirecap.limits import with_limits
from wirecap.orders import read_rules
from wirecap.pipeline import Options, Pipeline
from wirecap.runner import CaptureArgs, run_capture
from wirecap.serve import WebServer
from wirecap.sink import NumberingSink
from wirecap.stopping import StopGuard

CAPTURES = sorted(str(p) for p in (Path(__file__).resolve().parent.parent / "captures").glob("*.pcap"))
CONDITIONS = {"no clients": None, "50 x none": "none", "50 x iiko.*": "iiko.*", "50 x every event": "*"}


async def follow(url: str, clients: int) -> None:
    """``clients`` streams until stdin closes; then prints the events they received in all."""
    received = [0] * clients

    async def one(index: int, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", url) as response:
            async for chunk in response.aiter_raw():  # counted, not parsed: the clients' CPU is the machine's
                received[index] += chunk.count(b"\nevent: ")

    async with httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, read=None), limits=httpx.Limits(max_connections=None)
    ) as c:
        tasks = [asyncio.create_task(one(i, c)) for i in range(clients)]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(sum(received), flush=True)


def decode(floor: Floor, passes: int) -> int:
    """Packets decoded by ``passes`` reads of the captures into ``floor`` (one numbering throughout)."""
    sink = NumberingSink(analyzers=(floor, OrderTracker(read_rules(()))))
    packets = 0

    for _ in range(passes):
        pipeline = Pipeline(with_limits(Options()))
        run_capture(CaptureArgs(tuple(CAPTURES)), pipeline, sink.write, StopGuard())
        packets += pipeline.stats.packets
    return packets


def thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds a thread of this process has used (Linux: its utime and stime in /proc)."""
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    rate: float  # packets per second of wall-clock time
    cpu_rate: float  # packets per second of the decoding thread's own CPU time
    server_cpu: float  # CPU seconds of the server's thread while decoding
    clients_cpu: float  # CPU seconds of the clients' process, in all
    received: int


def one_round(kind: str | None, clients: int, passes: int) -> Round:
    floor = Floor()
    server = WebServer(build_app(floor, Settings("capture", "benchmark")), "127.0.0.1", 0, "--listen")
    server.start()
    crowd = None
    try:
        if kind is not None:
            url = f"{server.url}api/events?kind={kind}"
            command = [sys.executable, __file__, "--follow", url, "--clients", str(clients)]
            crowd = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 30
            while floor.clients < clients:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {floor.clients} of {clients} clients connected")
                time.sleep(0.05)
        started, cpu, server_cpu = time.perf_counter(), time.thread_time(), thread_cpu(server.thread)
        packets = decode(floor, passes)
        rate = packets / (time.perf_counter() - started)
        cpu_rate = packets / (time.thread_time() - cpu)
        server_cpu = thread_cpu(server.thread) - server_cpu
        received = 0
        if crowd is not None:
            time.sleep(1.0)  # the last events on their way
            out, _ = crowd.communicate("", timeout=30)
            received = int(out.split()[-1])
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return Round(rate, cpu_rate, server_cpu, children.ru_utime + children.ru_stime, received)
    finally:
        if crowd is not None and crowd.poll() is None:
            crowd.kill()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--follow", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.follow:
        asyncio.run(follow(args.follow, args.clients))
        return
    rounds: dict[str, list[Round]] = {name: [] for name in CONDITIONS}
    clients_cpu = 0.0
    for number in range(args.rounds):
        for name, kind in CONDITIONS.items():
            got = one_round(kind, args.clients, args.passes)
            got.clients_cpu, clients_cpu = got.clients_cpu - clients_cpu, got.clients_cpu
            rounds[name].append(got)
            print(f"round {number + 1} {name}: {got}", flush=True)
    print(f"{len(CAPTURES)} captures x {args.passes} passes per round, {args.rounds} rounds; medians:")
    base = {k: statistics.median(getattr(r, k) for r in rounds["no clients"]) for k in ("rate", "cpu_rate")}
    for name, taken in rounds.items():
        rate, cpu_rate = (statistics.median(getattr(r, k) for r in taken) for k in ("rate", "cpu_rate"))
        print(
            f"  {name:18} {rate:>7,.0f} packets/s (ratio {rate / base['rate']:.3f}); decoding thread's CPU: "
            f"{cpu_rate:,.0f} packets/s (ratio {cpu_rate / base['cpu_rate']:.3f}); server thread "
            f"{statistics.median(r.server_cpu for r in taken):.2f} s, clients "
            f"{statistics.median(r.clients_cpu for r in taken):.2f} s CPU; "
            f"{statistics.median(r.received for r in taken):,.0f} events received"
        )


if __name__ == "__main__":
    main()
