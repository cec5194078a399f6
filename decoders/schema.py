"""The JSON Schema of an output line (``wirecap schema``), from every event model."""

from typing import Any

from .events import FOUNDATION_EVENTS, HTTP_EVENTS, NMF_EVENTS, REMOTING_EVENTS, Event
from .iiko_events import IIKO_EVENTS

ALL_EVENTS: tuple[type[Event], ...] = FOUNDATION_EVENTS + NMF_EVENTS + REMOTING_EVENTS + HTTP_EVENTS + IIKO_EVENTS


def event_kinds() -> dict[str, type[Event]]:
    """Every event model by its ``kind``, for ``wirecap schema`` and validation in the tests."""
    out: dict[str, type[Event]] = {}
    for cls in ALL_EVENTS:
        out[cls.model_fields["kind"].default] = cls
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema of one output line: any of the event kinds, as serialised.

    A field that may be null is optional: the output leaves it out when it is null (unless
    ``--all-fields``), so it is not listed in ``required``.
    """
    kinds = event_kinds()
    defs: dict[str, Any] = {}
    refs = []
    for cls in kinds.values():
        schema = cls.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[cls.__name__] = schema
        refs.append({"$ref": f"#/$defs/{cls.__name__}"})
    for schema in defs.values():
        if "required" in schema:
            props = schema["properties"]
            schema["required"] = [name for name in schema["required"] if not _nullable(props[name])]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "wirecap event",
        "description": "A field that may be null is optional: left out of a line when null, unless --all-fields.",
        "oneOf": refs,
        "$defs": defs,
    }


def _nullable(prop: dict[str, Any]) -> bool:
    """May be null: null among its types, or any JSON value at all (``Any``: a body)."""
    if not prop.keys() & {"type", "anyOf", "$ref", "allOf", "const", "enum"}:
        return True
    return prop.get("type") == "null" or any(alt.get("type") == "null" for alt in prop.get("anyOf", ()))
