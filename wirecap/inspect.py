"""``wirecap inspect``: the message shapes in a capture, to write an iiko rules file from.

Replays the capture like ``wirecap replay`` and, instead of writing events, tallies what an analyst
needs to see: WCF actions, server-link service/method pairs, every field path in their bodies with a
count and a few sample values, and what the current rules recognise (iiko event kinds and types).
"""

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import click

from decoders.events import Event, RemotingMessage, RmsCall, WcfMessage
from decoders.iiko import OrderTracker
from decoders.iiko_events import IikoEvent
from decoders.json_text import plain

from .limits import limit_option
from .options import capture_options
from .orders import analyse, capture_options_of, port_options, read_rules, rules_option
from .orders_view import echo, require_stdout
from .ports import PortSpec
from .redact import keep_secrets_option
from .runner import CaptureArgs, report
from .stopping import StopGuard

MAX_SAMPLES = 3
MAX_SAMPLE_CHARS = 60
MAX_PATHS = 10_000  # distinct (message, path) pairs remembered; later ones are counted apart
MAX_DEPTH = 32


@dataclass
class PathStats:
    count: int = 0
    samples: list[str] = field(default_factory=list)


class ShapeCollector:
    """Sink analyzer: counts message kinds and the field paths of their bodies."""

    def __init__(self) -> None:
        self.messages: Counter[str] = Counter()
        self.paths: dict[tuple[str, str], PathStats] = {}
        self.paths_dropped = 0
        self.recognised: Counter[str] = Counter()

    def observe(self, event: Event) -> list[Event]:
        if isinstance(event, WcfMessage):
            name = f"wcf {event.action or event.body_element or '?'}"
            self._message(name, {"body": plain(event.body)})
        elif isinstance(event, RmsCall):
            name = f"http {event.service or event.uri.split('?', 1)[0]}.{event.method_name or event.method}"
            self._message(name, {"request": plain(event.request), "response": plain(event.response)})
        elif event.kind.startswith("iiko."):
            label = event.kind + (f" {event.type}" if isinstance(event, IikoEvent) else "")
            self.recognised[label + (" (derived)" if isinstance(event, IikoEvent) and event.derived else "")] += 1
        elif isinstance(event, RemotingMessage):  # positional args: name them in [remoting_arguments]
            name = f"remoting {event.operation} {event.method or '?'}"
            self._message(name, {"args": event.args, "return": event.return_value, "exception": event.exception})
        return []

    def _message(self, name: str, parts: dict[str, Any]) -> None:
        self.messages[name] += 1
        for part, value in parts.items():
            self._walk(name, part, value, 0)

    def _walk(self, message: str, path: str, value: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(value, dict):
            pair = {key.lower(): child for key, child in value.items()}
            if pair.keys() == {"name", "value"} and isinstance(pair["name"], str):  # <attribute><name/><value/>
                self._walk(message, f"{path}{{{pair['name']}}}", pair["value"], depth + 1)
                return
            for key, child in value.items():
                self._walk(message, f"{path}/{key}", child, depth + 1)
        elif isinstance(value, list):
            for child in value:
                self._walk(message, f"{path}[]", child, depth + 1)
        elif value is not None:
            self._leaf(message, path, value)

    def _leaf(self, message: str, path: str, value: Any) -> None:
        stats = self.paths.get((message, path))
        if stats is None:
            if len(self.paths) >= MAX_PATHS:
                self.paths_dropped += 1
                return
            stats = self.paths[(message, path)] = PathStats()
        stats.count += 1
        sample = json.dumps(value, ensure_ascii=False)[:MAX_SAMPLE_CHARS]
        if len(stats.samples) < MAX_SAMPLES and sample not in stats.samples:
            stats.samples.append(sample)

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": dict(self.messages.most_common()),
            "paths": [
                {"message": m, "path": p, "count": s.count, "samples": s.samples} for (m, p), s in self.paths.items()
            ],
            "paths_not_listed": self.paths_dropped,
            "recognised": dict(self.recognised.most_common()),
        }

    def render(self) -> str:
        lines = ["messages:"]
        lines += [f"  {count:>7}  {name}" for name, count in self.messages.most_common()]
        for message, _ in self.messages.most_common():
            paths = [(p, s) for (m, p), s in self.paths.items() if m == message]
            if paths:
                lines.append(f"\n{message}:")
                lines += [f"  {s.count:>7}  {p}  e.g. {', '.join(s.samples)}" for p, s in paths]
        if self.paths_dropped:
            lines.append(f"\n({self.paths_dropped} values under further paths not listed)")
        lines.append("\nrecognised by the rules:")
        lines += [f"  {count:>7}  {name}" for name, count in self.recognised.most_common()] or ["  nothing"]
        return "\n".join(lines)


@click.command()
@capture_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
@port_options
@rules_option
@keep_secrets_option
@limit_option
def inspect(
    capture: CaptureArgs,
    as_json: bool,
    ports: tuple[PortSpec, ...],
    any_port: bool,
    rules_files: tuple[str, ...],
    keep_secrets: bool,
) -> None:
    """Message shapes in PCAP files (actions, service methods, field paths with samples) for writing rules.

    On a damaged capture: the shapes up to the damage, then the error (exit 1).
    """
    require_stdout("message shapes")
    guard = StopGuard()
    guard.install()
    shapes = ShapeCollector()
    analyzers = (OrderTracker(read_rules(rules_files)), shapes)
    outcome = analyse(capture, analyzers, capture_options_of(ports, any_port, keep_secrets), guard)
    echo(json.dumps(shapes.as_json(), ensure_ascii=False, indent=2) if as_json else shapes.render())
    report(outcome)
    sys.exit(outcome.status)
