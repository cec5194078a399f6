"""Does a crowd of event-stream clients slow the capture down? (issue 12: 50 SSE clients, unchanged.)

Each round decodes the repository's captures ``--passes`` times through one numbering sink into a
``Floor`` served by uvicorn in a thread, as ``wirecap serve`` and ``live --serve`` run; the time counted
is the decoding's only. The rounds alternate between no client, 50 clients following ``iiko.*`` (what
the board asks for) and 50 clients following every event, each set in a process of its own, connected
before the decoding starts. Printed: packets/s per condition (median of the rounds), the ratios to the
no-client rounds of the same run, and the events the clients received.

    .venv/bin/python benchmarks/sse_load.py [--rounds 5] [--passes 10] [--clients 50]
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

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


def one_round(kind: str | None, clients: int, passes: int) -> tuple[float, int]:
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
        started = time.perf_counter()
        packets = decode(floor, passes)
        rate = packets / (time.perf_counter() - started)
        received = 0
        if crowd is not None:
            time.sleep(1.0)  # the last events on their way
            out, _ = crowd.communicate("", timeout=30)
            received = int(out.split()[-1])
        return rate, received
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
    rates: dict[str, list[float]] = {name: [] for name in CONDITIONS}
    received: dict[str, list[int]] = {name: [] for name in CONDITIONS}
    for number in range(args.rounds):
        for name, kind in CONDITIONS.items():
            rate, got = one_round(kind, args.clients, args.passes)
            rates[name].append(rate)
            received[name].append(got)
            print(f"round {number + 1} {name}: {rate:,.0f} packets/s, {got:,} events to the clients", flush=True)
    base = statistics.median(rates["no clients"])
    print(f"{len(CAPTURES)} captures x {args.passes} passes per round, {args.rounds} rounds; medians:")
    for name in CONDITIONS:
        median = statistics.median(rates[name])
        spread = f"{min(rates[name]):,.0f}..{max(rates[name]):,.0f}"
        print(f"  {name:18} {median:>9,.0f} packets/s ({spread}) ratio {median / base:.3f}, "
              f"{statistics.median(received[name]):,.0f} events received per round")  # fmt: skip


if __name__ == "__main__":
    main()
