"""The OpenAPI 3.1 document of the HTTP API (``/api/openapi.json``, committed as ``docs/openapi.json``).

Its schemas come from the same pydantic models the server dumps (``api.API_MODELS``), as serialised
(``by_alias``): the document cannot drift from the answers.
"""

from typing import Any

from pydantic.json_schema import models_json_schema

from . import api
from .version import package_version

REF = "#/components/schemas/{model}"


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": description}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    refs, defs = models_json_schema(
        [(model, "serialization") for model in (api.OrderDocument, api.OrderDetail, api.ServerStats)],
        ref_template=REF,
        by_alias=True,
    )
    order_ref = refs[(api.OrderDocument, "serialization")]["$ref"]
    error = _json({"type": "object", "properties": {"error": {"type": "string"}}}, "what was wrong")
    orders = {
        "summary": "Open orders (as iikoCloud's order/by_table, for every table or one)",
        "parameters": [
            _query("table", "only this table number"),
            _query("terminal", "only orders of this terminal (id or name)"),
            _query("at", "the floor at this ISO-8601 time of the capture (wirecap serve only)"),
        ],
        "responses": {
            "200": _json({"type": "array", "items": {"$ref": order_ref}}, "open orders, least recently changed first"),
            "400": error,
        },
    }
    order = {
        "summary": "One order (open, or closed lately) with the events that built it",
        "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json(refs[(api.OrderDetail, "serialization")], "the order"), "404": error},
    }
    events = {
        "summary": "Server-Sent Events: every event as `wirecap replay` writes it; id is its seq",
        "parameters": [
            _query("kind", "comma-separated kind patterns, e.g. iiko.*"),
            _query("after", "start after this seq (as the Last-Event-ID header)"),
        ],
        "responses": {"200": {"description": "text/event-stream; an event `reset` says events were lost"}},
    }
    stats = {"responses": {"200": _json(refs[(api.ServerStats, "serialization")], "counters")}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "wirecap open orders", "version": package_version()},
        "paths": {
            "/api/orders": {"get": orders},
            "/api/orders/{order_id}": {"get": order},
            "/api/events": {"get": events},
            "/api/stats": {"get": {"summary": "Counters of the server", **stats}},
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
