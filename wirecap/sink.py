"""Output: one JSON object per line, numbered in output order.

The sink assigns ``seq`` and links replies to requests: when an event with a ``message_id`` is written,
its seq is remembered per connection; a later event whose ``relates_to`` names it gets ``request_seq``.
"""

from collections import OrderedDict
from typing import IO

from decoders.events import Event

MAX_OPEN_REQUESTS = 100_000  # remembered message ids (oldest forgotten first)


class JsonlSink:
    def __init__(self, out: IO[str], *, flush_each: bool = False) -> None:
        self.out = out
        self.flush_each = flush_each
        self.seq = 0
        self._requests: OrderedDict[tuple[str, str], int] = OrderedDict()

    def write(self, events: list[Event]) -> None:
        lines = []
        for event in events:
            self.seq += 1
            update: dict[str, object] = {"seq": self.seq}
            relates_to = getattr(event, "relates_to", None)
            if relates_to is not None and "request_seq" in type(event).model_fields:
                request = self._requests.pop((event.uid, relates_to), None)  # type: ignore[attr-defined]
                if request is not None:
                    update["request_seq"] = request
            message_id = getattr(event, "message_id", None)
            if message_id is not None:
                self._requests[(event.uid, message_id)] = self.seq  # type: ignore[attr-defined]
                if len(self._requests) > MAX_OPEN_REQUESTS:
                    self._requests.popitem(last=False)
            lines.append(event.model_copy(update=update).model_dump_json())
        if lines:
            self.out.write("\n".join(lines) + "\n")
            if self.flush_each:
                self.out.flush()

    def close(self) -> None:
        self.out.flush()
