"""The iiko layer alone: microseconds per event in ``OrderTracker.observe``.

    .venv/bin/python benchmarks/iiko_layer.py [FILE ...] [--runs N]

Each capture is decoded once (redacted, numbered by a sink without analyzers, as ``replay`` does); the
numbered events are then fed to a fresh tracker N times and the median CPU time (the machine is shared: the
process's own time, not the wall clock) is reported per event seen and per iiko event made, twice:
"cold", a tracker that has seen nothing (every object shape compiled, every line normalised), and "warm",
a fresh tracker (no orders remembered) handed the recogniser of the previous pass, as a tracker is after
minutes of a store's traffic (its shapes compiled, lines synced before looked up; the compiled core's
finder, which reads bodies given as JSON text, with them). Defaults: the store's
small calls, and the 4000-line order of ``captures/wcf_buffered.pcap``.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))

from decoders.events import Event  # noqa: E402
from decoders.iiko import OrderTracker, default_rules_text, load_rules  # noqa: E402
from wirecap.pipeline import Pipeline, run  # noqa: E402
from wirecap.redact import redact_events  # noqa: E402
from wirecap.sink import NumberingSink  # noqa: E402
from wirecap.source import CaptureSource  # noqa: E402

DEFAULT = ("captures/store.pcap", "captures/rms_session.pcap", "captures/wcf_buffered.pcap")


def numbered(path: str) -> list[Event]:
    """The capture's events as the analyzers see them: redacted and numbered."""
    events: list[Event] = []

    class Keep:
        def observe(self, event: Event) -> list[Event]:
            events.append(event)
            return []

    sink = NumberingSink(analyzers=(Keep(),))
    run([CaptureSource(path)], Pipeline(), lambda batch: sink.write(redact_events(batch)))
    return events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", default=DEFAULT)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    rules = load_rules([default_rules_text()])
    for path in args.files:
        events = numbered(str(ROOT / path) if not Path(path).is_absolute() else path)
        for label, warm in (("cold", False), ("warm", True)):
            made, times, previous = 0, [], OrderTracker(rules)
            for _ in range(args.runs):
                tracker = OrderTracker(rules)
                if warm:  # the recogniser and the core's finder built on it, with their tables
                    tracker.recogniser, tracker.core = previous.recogniser, previous.core
                t = time.process_time()
                made = sum(len(tracker.observe(e)) for e in events)
                times.append(time.process_time() - t)
                previous = tracker
            cpu = statistics.median(times)
            print(
                f"{path} ({label}): {len(events)} events in, {made} iiko events out, {cpu * 1e3:.1f} ms: "
                f"{cpu / len(events) * 1e6:.1f} µs per event seen, {cpu / max(made, 1) * 1e6:.1f} µs per iiko event"
            )


if __name__ == "__main__":
    main()
