"""Where a replay's time goes, by layer: the README's profile table.

    .venv/bin/python benchmarks/profile_layers.py CAPTURE [CAPTURE ...]

Then, since the profiler's per-call overhead under-weighs code that does much per call (the iiko layer
normalising thousands of lines) against code that makes many small calls, the iiko layer's share is
measured without it too: the replay's pipeline and sink in this process, with and without the
``OrderTracker``, alternating, the median process time of ``RUNS`` passes each.

Runs ``wirecap replay --no-read-ahead CAPTURE -q -o FILE`` under cProfile, one process, and sums each
function's own time into the layer its file belongs to; a built-in (``dict.get``, ``isinstance``) is
counted to the layers of the functions that called it, in the shares it was called from each. The
profiler inflates per-call costs, so read the shares, not the seconds. Prints one Markdown column per
capture.
"""

import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(ROOT))

# (layer, what a profile entry's file or name contains), first match wins
LAYERS = (
    (
        "JSON output and numbering (the sink)",
        (
            "wirecap/sink.py",
            "wirecap/lines.py",
            "EventWriter",
            "LineSink",
            "'to_json'",
            "decoders/events.py",
            "TextIOWrapper",
        ),
    ),
    ("the Rust core itself", ("decoders._core",)),
    ("parsing the core's body text (orjson)", ("json/decoder.py", "json/__init__.py", "decoders/json_text.py")),
    ("the iiko layer", ("decoders/iiko",)),
    ("redaction", ("wirecap/redact.py",)),
    ("HTTP: h11 and the decoder around it", ("decoders/http", "/h11/", "decoders/inflate.py", "zlib")),
    ("building event objects", ("decoders/models.py", "/pydantic/")),
    ("net.tcp framing and the events around the core", ("decoders/nmf", "decoders/soap.py", "decoders/_buffer")),
    ("packets, reassembly and reading", ("wirecap/pipeline.py", "wirecap/packets.py", "wirecap/reassembly.py")),
    ("packets, reassembly and reading", ("wirecap/conn_state.py", "wirecap/source.py", "wirecap/flow.py", "pcapy")),
)
OTHER = "everything else (start-up, imports, detection, the CLI)"
RUNS = 3

Func = tuple[str, int, str]


def layer_of(func: Func) -> str | None:
    """The layer of a profile entry; None for a built-in that belongs to its callers."""
    filename, _, name = func
    text = f"{filename}:{name}"
    for layer, marks in LAYERS:
        if any(mark in text for mark in marks):
            return layer
    return None if filename == "~" else OTHER


def shares(stats: pstats.Stats) -> dict[str, float]:
    """Own time per layer, built-ins split among their callers' layers."""
    table = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = defaultdict(float)
    for func, (_, _, own, _, callers) in table.items():
        layer = layer_of(func)
        if layer is not None:
            out[layer] += own
            continue
        for caller, (_, _, own_from_caller, _) in callers.items():
            out[layer_of(caller) or OTHER] += own_from_caller
    return out


def profile(capture: Path) -> dict[str, float]:
    from wirecap.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        args = ["replay", "--no-read-ahead", str(capture), "-q", "-o", str(Path(tmp) / "events.jsonl")]
        profiler = cProfile.Profile()
        try:
            profiler.runcall(main, args=args, standalone_mode=False)
        except SystemExit as done:  # replay ends by sys.exit(status)
            if done.code:
                sys.exit(f"wirecap replay {capture} exited {done.code}")
    return shares(pstats.Stats(profiler))


def replay_cpu(capture: Path, iiko: bool) -> float:
    """Process time of one replay pass (redaction, numbering, events to a file), the iiko layer on or off."""
    from decoders.iiko import OrderTracker, default_rules_text, load_rules
    from wirecap.pipeline import Pipeline, run
    from wirecap.redact import redact_events
    from wirecap.sink import JsonlSink
    from wirecap.source import CaptureSource

    analyzers = (OrderTracker(load_rules([default_rules_text()])),) if iiko else ()
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "events.jsonl", "w", encoding="utf-8") as out:
        sink = JsonlSink(out, analyzers=analyzers)
        start = time.process_time()
        run([CaptureSource(str(capture))], Pipeline(), lambda batch: sink.write(redact_events(batch)))
        sink.close()
        return time.process_time() - start


def iiko_share(capture: Path) -> tuple[float, float]:
    """(median CPU s with the iiko layer, without it), passes alternating."""
    from wirecap.cli import _tune_gc

    _tune_gc()  # as replay does
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(RUNS):
        for iiko in (True, False):
            times[iiko].append(replay_cpu(capture, iiko))
    return statistics.median(times[True]), statistics.median(times[False])


def main() -> None:
    captures = [Path(a) for a in sys.argv[1:]]
    if not captures:
        sys.exit(__doc__)
    columns = [profile(c) for c in captures]
    print("| layer | " + " | ".join(c.name for c in captures) + " |")
    print("|---|" + "---|" * len(captures))
    for layer in dict.fromkeys([*(name for name, _ in LAYERS), OTHER]):
        cells = [f"{100 * col.get(layer, 0) / sum(col.values()):.0f} %" for col in columns]
        print(f"| {layer} | " + " | ".join(cells) + " |")
    print("| total own time under the profiler | " + " | ".join(f"{sum(c.values()):.1f} s" for c in columns) + " |")
    shares = [iiko_share(c) for c in captures]
    cells = [f"{100 * (on - off) / on:.0f} % ({on:.2f} s with it, {off:.2f} s without)" for on, off in shares]
    print(f"| the iiko layer without the profiler (CPU, medians of {RUNS}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
