"""Credentials seen on the wire never reach the output, unless the user asks (``--keep-secrets``).

What counts as a credential, wherever it appears in an event:

- HTTP headers ``X-Resto-PasswordHash``, ``Authorization``, ``Proxy-Authorization``, ``Cookie``,
  ``Set-Cookie``, ``WWW-Authenticate``, ``Proxy-Authenticate`` (their NTLM/Negotiate tokens included);
  ``decoders.http`` already replaces them, this is the second line for every other path;
- URI query parameters ``pass``, ``password``, ``key``, ``token``, ``access_token`` (iikoServer's API takes
  the password hash as ``pass=`` and the session as ``key=``);
- in decoded bodies (WCF, iikoRMS XML, and the iiko events built from them): any field whose name is a
  password, hash, secret or token (``password``, ``passwordHash``, ``d4p1:Password``, …), and the value of
  a name/value pair whose name is one (``<attribute><name>password</name><value>…``);
- the same elements and attributes in the ``--xml`` text of an envelope.

The value becomes ``<redacted>``; names and structure stay, so an analyst sees that a credential was
sent. Redaction runs on every event before the sink numbers it, so ``orders`` and ``inspect`` (whose
samples come from the events) never see the values either.
"""

import re
from collections.abc import Callable
from functools import cache, lru_cache
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode

import click
from pydantic_core import to_json

from decoders.core import RUST
from decoders.events import Event
from decoders.http_body import split_uri
from decoders.iiko_json import local_name
from decoders.json_text import JsonText
from decoders.needles import LOWER_TO_ASCII, needles

REDACTED = "<redacted>"
SECRET_HEADERS = frozenset(
    {
        "x-resto-passwordhash",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "www-authenticate",
        "proxy-authenticate",
    }
)
SECRET_FIELDS = frozenset(
    {"password", "passwordhash", "passwd", "pwd", "pass", "secret", "accesstoken", "access_token", "authtoken"}
    | SECRET_HEADERS
)
SECRET_QUERY = frozenset({"pass", "password", "passwordhash", "key", "token", "access_token"})
PAIR_NAMES = ("name", "key")
PAIR_VALUES = ("value",)
_NAMES = "|".join(sorted((re.escape(n) for n in SECRET_FIELDS), key=len, reverse=True))
# <p:password attr="…">text</p:password>, and password="…" attributes, in envelope XML text
_XML_ELEMENT = re.compile(rf"(<(?:[\w.-]+:)?(?:{_NAMES})(?:\s[^>]*)?>)([^<]+)(<)", re.IGNORECASE)
_XML_ATTRIBUTE = re.compile(rf"(\s(?:[\w.-]+:)?(?:{_NAMES})=)(\"[^\"]*\"|'[^']*')", re.IGNORECASE)
MAX_DEPTH = 256
# Walking a large body in Python costs a quarter of its decoding; serialising it (in Rust) and searching
# the bytes for any secret name costs a tenth of that, and bodies rarely hold one.


def _shortest(names: frozenset[str]) -> tuple[str, ...]:
    """The names that contain no other: a text holding none of them holds none of ``names``."""
    return tuple(sorted(n for n in names if not any(m in n and m != n for m in names)))


# a text holding none of these holds no secret name: the names, and what ``local_name`` (``str.lower``)
# may read as one of their letters (``K``, the Kelvin sign, is a ``k``: ``authto\u212aen``)
SUSPECT_NAMES = (*(n.encode() for n in _shortest(SECRET_FIELDS)), *LOWER_TO_ASCII)
_SUSPECTS = needles(SUSPECT_NAMES)
_QUERY_SUSPECTS = _shortest(SECRET_QUERY)  # "pass", "key", "token"


def _suspect(value: Any) -> bool:
    """Whether any secret name occurs anywhere in ``value`` (names and values alike)."""
    return _suspect_json(to_json(value, fallback=str))


def _suspect_json(data: bytes) -> bool:
    """``_suspect`` of a value's JSON text (a body the core gave as ``JsonText`` is that text already)."""
    return _SUSPECTS.found_in(data)


# the iiko rules' reading of a field name (namespace, prefix, dotted path dropped); cached here, since
# bodies repeat a few hundred field names over and over
_local = lru_cache(maxsize=4096)(local_name)


def redact_json(value: Any) -> Any:
    """``value`` with secret fields and name/value pairs replaced; the same object if nothing was. A body
    given as JSON text is parsed only if a secret name occurs in the text."""
    if type(value) is JsonText:
        if not _suspect_json(value.data):
            return value
        redacted = _redacted(value.value, 0)
        return value if redacted is value.value else redacted
    if type(value) is dict and all(type(v) is str for v in value.values()):
        return _flat_redacted(value)  # headers: read by a plan per set of names, cheaper than the search
    return _redacted(value, 0) if _suspect(value) else value


@lru_cache(maxsize=1024)
def _flat_plan(keys: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(secret fields, names of a name/value pair, values of a pair) among an object's keys."""
    return (
        tuple(k for k in keys if _local(k) in SECRET_FIELDS),
        tuple(k for k in keys if _local(k) in PAIR_NAMES),
        tuple(k for k in keys if _local(k) in PAIR_VALUES),
    )


def _flat_redacted(value: dict[str, str]) -> dict[str, str]:
    """``_redacted`` of an object whose values are all text (no field below it), as it reads one."""
    secret, names, values = _flat_plan(tuple(value))
    if any(_local(value[k]) in SECRET_FIELDS for k in names):
        secret += values
    hidden = [k for k in secret if value[k] not in ("", REDACTED)]
    if not hidden:
        return value
    out = dict(value)
    out.update(dict.fromkeys(hidden, REDACTED))
    return out


def _redacted(value: Any, depth: int) -> Any:
    """``redact_json`` below the suspicion test, ``depth`` levels down."""
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, list):
        items = [_redacted(item, depth + 1) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    changed = False
    secret_pair = any(
        _local(k) in PAIR_NAMES and isinstance(v, str) and _local(v) in SECRET_FIELDS for k, v in value.items()
    )
    for key, child in value.items():
        local = _local(key)
        if (local in SECRET_FIELDS or (secret_pair and local in PAIR_VALUES)) and child not in (None, "", REDACTED):
            new: Any = REDACTED
        elif isinstance(child, dict | list):
            new = _redacted(child, depth + 1)
        else:  # a scalar holds no field
            new = child
        changed = changed or new is not child
        out[key] = new
    return out if changed else value


def redact_uri(uri: str) -> str:
    """The URI with the values of secret query parameters redacted; only its query is read (``split_uri``)."""
    base, query, fragment = split_uri(uri)
    if not query or ("%" not in query and not any(map(query.lower().__contains__, _QUERY_SUSPECTS))):
        return uri  # no parameter name can be a secret one (they are read percent-decoded)
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in SECRET_QUERY for name, _ in pairs):
        return uri
    query = urlencode([(n, REDACTED if n.lower() in SECRET_QUERY else v) for n, v in pairs], safe="<>")
    return f"{base}?{query}{fragment}"


def redact_xml(text: str) -> str:
    text = _XML_ELEMENT.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    return _XML_ATTRIBUTE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)


# event field -> how to redact it (fields of every kind that can carry what a peer sent)
_FIELDS: dict[str, Callable[[Any], Any]] = {
    "request_headers": redact_json,
    "response_headers": redact_json,
    "uri": redact_uri,
    "body": redact_json,
    "detail": redact_json,
    "request": redact_json,
    "response": redact_json,
    "attributes": redact_json,
    "headers": redact_json,  # .NET Remoting's custom headers, arguments and results
    "args": redact_json,
    "return_value": redact_json,
    "exception": redact_json,
    "call_context": redact_json,
    "xml": redact_xml,
    "soap": redact_xml,
}


@cache  # one entry per event model
def _fields_of(model: type[Event]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """The fields of ``_FIELDS`` that this kind has: most kinds have none, and are passed at once."""
    return tuple((name, how) for name, how in _FIELDS.items() if name in model.model_fields)


def redact(event: Event) -> Event:
    """The event with every credential in it replaced by ``<redacted>`` (the same object if none)."""
    update: dict[str, Any] = {}
    fields = event.__dict__  # not getattr: a field the kind lacks would go through pydantic's slow __getattr__
    for name, how in _fields_of(type(event)):
        value = fields.get(name)
        if isinstance(value, str | dict | list | JsonText):
            new = how(value)
            if new is not value and new != value:
                update[name] = new
    return event.model_copy(update=update) if update else event


def redact_events(events: list[Event]) -> list[Event]:
    """``redact`` of each event, in place: with the core, only of those its gate cannot tell are clean."""
    if _GATE is None:
        return [redact(event) for event in events]
    for index in _GATE.suspects(events):
        events[index] = redact(events[index])
    return events


def _gate(core: ModuleType | None) -> Any:
    """The core's ``RedactGate`` (core/src/redact_python.rs) over ``_FIELDS``, or None without the core.
    It reads a body's text and a URI as the tests above do; a field it does not read so (objects, lists,
    envelope XML text) makes the event ``redact``'s to read."""
    if core is None:
        return None
    kinds = {redact_json: "json", redact_uri: "uri"}
    fields = [(name, kinds.get(how, "text")) for name, how in _FIELDS.items()]
    query = needles((*(n.encode() for n in _QUERY_SUSPECTS), *LOWER_TO_ASCII, b"%"))
    return core.RedactGate(JsonText, fields, _SUSPECTS, query, REDACTED)


_GATE = _gate(RUST)


def keep_secrets_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--keep-secrets``: write credentials seen on the wire as they were (see the README's threat model)."""
    return click.option(
        "--keep-secrets",
        is_flag=True,
        help="Write passwords, hashes, tokens and cookies seen on the wire as they are (redacted by default).",
    )(command)
