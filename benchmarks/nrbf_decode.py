"""[MS-NRBF] decoding speed: MB/s of binary formatter payload, on the Mono Remoting peers' own messages.

    .venv/bin/python benchmarks/nrbf_decode.py [--runs N] [--strict]

The payloads are every [MS-NRTP] frame's content in captures/remoting.pcap and captures/store_remoting.pcap
(method calls and returns carrying orders, a 1500-line order, every primitive type), each decoded into
its JSON graph by ``decoders.nrbf.decode`` with the default limits. The figure is the median over N runs
(the machine is shared). If the PyPI parser ``nrbf`` is importable (it is not a dependency: install it
into the venv to compare), it is timed on the same payloads in the same run and how many it parsed is
shown. Exits 1 with ``--strict`` when the median is under ``MIN_NRBF_MBPS``.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))

from decoders._buffer import Buffer  # noqa: E402
from decoders.interface import DecoderOptions  # noqa: E402
from decoders.nrbf import decode  # noqa: E402
from decoders.remoting_frames import PREAMBLE, FrameReader  # noqa: E402
from wirecap.streams import collect_streams  # noqa: E402

CAPTURES = [ROOT / "captures" / "remoting.pcap", ROOT / "captures" / "store_remoting.pcap"]
MIN_NRBF_MBPS = 3  # the Python decoder is the one used; the Rust core is for net.tcp (README "Remoting")


def payloads() -> list[bytes]:
    """The content of every Remoting frame in the committed captures, both directions."""
    out = []
    for stream in collect_streams([str(p) for p in CAPTURES]):
        for data in stream.data.values():
            if not data.startswith(PREAMBLE):
                continue
            buf = Buffer()
            reader = FrameReader(buf, 1 << 30)
            buf.append(data)
            while (frame := reader.read()) is not None:
                if frame.size:
                    out.append(b"".join(frame.pieces))
    return out


def timed(parse: object, inputs: list[bytes]) -> tuple[float, int]:
    """(seconds, inputs parsed without an exception)."""
    parsed = 0
    start = time.perf_counter()
    for data in inputs:
        try:
            parse(data)  # type: ignore[operator]
            parsed += 1
        except Exception:  # a peer parser's failure is a figure here, not an error
            pass
    return time.perf_counter() - start, parsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    inputs = payloads()
    size = sum(map(len, inputs))
    options = DecoderOptions()
    parsers = {"wirecap decoders.nrbf": lambda data: decode(data, options.max_depth, options.max_elements)}
    try:
        import nrbf  # type: ignore[import-not-found]

        parsers["PyPI nrbf " + getattr(nrbf, "__version__", "")] = nrbf.loads
    except ImportError:
        pass
    times: dict[str, list[float]] = {name: [] for name in parsers}
    parsed: dict[str, int] = {}
    for _ in range(args.runs):
        for name, parse in parsers.items():
            seconds, parsed[name] = timed(parse, inputs)
            times[name].append(seconds)
    print(f"# NRBF decoding: {len(inputs)} payloads, {size} bytes, median of {args.runs} runs\n")
    print("| parser | parsed | MB/s |\n|---|---|---|")
    for name in parsers:
        print(f"| {name} | {parsed[name]}/{len(inputs)} | {size / statistics.median(times[name]) / 1e6:.2f} |")
    ours = size / statistics.median(times["wirecap decoders.nrbf"]) / 1e6
    ok = ours >= MIN_NRBF_MBPS and parsed["wirecap decoders.nrbf"] == len(inputs)
    print(f"\ntarget: >= {MIN_NRBF_MBPS} MB/s, every payload parsed: {'met' if ok else 'NOT met'}")
    if args.strict and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
