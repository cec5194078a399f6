"""Output: one JSON object per line, numbered in output order.

The sink assigns ``seq`` and links replies to requests: when an event with a ``message_id`` is written,
its seq is remembered per connection; a later event whose ``relates_to`` names it gets ``request_seq``.

Analyzers (``Analyzer.observe``) see every event once it has its ``seq`` and may derive new events from
it — e.g. iiko order events from a decoded message, citing the message's seq. Derived events are
written right after the event they came from, and are observed in turn.
"""

from collections import OrderedDict
from typing import IO, Protocol

from decoders.events import Event

MAX_OPEN_REQUESTS = 100_000  # remembered message ids (oldest forgotten first)


class Analyzer(Protocol):
    def observe(self, event: Event) -> list[Event]: ...


class JsonlSink:
    def __init__(self, out: IO[str], *, flush_each: bool = False, analyzers: tuple[Analyzer, ...] = ()) -> None:
        self.out = out
        self.flush_each = flush_each
        self.analyzers = analyzers
        self.seq = 0
        self._requests: OrderedDict[tuple[str, str], int] = OrderedDict()

    def write(self, events: list[Event]) -> None:
        lines: list[str] = []
        for event in events:
            self._write_one(event, lines)
        if lines:
            self.out.write("\n".join(lines) + "\n")
            if self.flush_each:
                self.out.flush()

    def _write_one(self, event: Event, lines: list[str]) -> None:
        self.seq += 1
        update: dict[str, object] = {"seq": self.seq}
        uid = getattr(event, "uid", None)
        relates_to = getattr(event, "relates_to", None)
        if relates_to is not None and "request_seq" in type(event).model_fields:
            request = self._requests.pop((uid, relates_to), None)
            if request is not None:
                update["request_seq"] = request
        message_id = getattr(event, "message_id", None)
        if message_id is not None:
            self._requests[(uid, message_id)] = self.seq
            if len(self._requests) > MAX_OPEN_REQUESTS:
                self._requests.popitem(last=False)
        numbered = event.model_copy(update=update)
        lines.append(numbered.model_dump_json())
        for analyzer in self.analyzers:
            for derived in analyzer.observe(numbered):
                self._write_one(derived, lines)

    def close(self) -> None:
        self.out.flush()
