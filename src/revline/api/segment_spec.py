"""Checking Segment Spec messages before the collector acknowledges them.

Why check in Python before the write-ahead log: once the collector answers 200 the client forgets
the event, so everything that could make the later SQL load fail (wrong types, missing ids,
unparseable timestamps, NaN) must be refused here, with a reason the sender can act on.
The check is deliberately shallow (dict look-ups, no re-serialisation) so it stays cheap at
tens of thousands of events per second.
"""

from __future__ import annotations

import json
import json.scanner
import re
from datetime import datetime
from collections.abc import Callable
from typing import Any, cast

import numpy as np

try:  # optional speed-up (a dependency of revline; the stdlib path gives the same answers)
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]  # the stdlib path is taken then

MESSAGE_TYPES = ("track", "page", "screen", "identify", "group", "alias")
MAX_EVENT_BYTES = 32 * 1024  # Segment: 32 KB per call / per event
MAX_BATCH_BYTES = 500 * 1024  # Segment: 500 KB per batch request
MAX_ID_CHARS = 256  # messageId, anonymousId, userId, groupId, previousId
# JSON nesting (the body's own object is level 1; a batch's messages are level 3). Deeper bodies
# are refused: no analytics payload needs it, and recursive code downstream (Python's json, the
# read API) has a stack of about a thousand frames.
MAX_DEPTH = 64

# The ISO-8601 shapes DuckDB's TIMESTAMPTZ cast accepts as well; Python's fromisoformat accepts more
# (compact forms such as 20240101T1000) that the loader could not read, so they are refused here.
_ISO_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_SURROGATE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_STRING_FIELDS = ("messageId", "anonymousId", "userId", "groupId", "previousId", "event", "name", "category")
_OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt")


class SpecError(ValueError):
    """A message the collector refuses; `status` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _reject_constant(name: str) -> Any:
    raise SpecError(f"malformed JSON: {name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook of the stdlib decoders: a key twice in one object is refused, as the
    loader (DuckDB) refuses it for the Spec fields; last-wins would silently drop a value."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise SpecError(f"malformed JSON: duplicate key {key!r:.60} in one object")
            seen.add(key)
    return obj


# What the shape checks read of a body: brackets, colons and backslashes (bytes.translate runs in C).
_NOT_SHAPE = bytes(range(256)).translate(None, b"{}[]:\\")


def _nesting_bound(brackets: bytes) -> int:
    """An upper bound of the nesting of `brackets` (only {}[] of a body): each pass removes the
    innermost pairs, so a body of depth d is empty after d passes. Brackets inside strings can
    leave it unbalanced; then the bound is MAX_DEPTH + 1 and the caller checks exactly."""
    for depth in range(MAX_DEPTH + 1):
        if not brackets:
            return depth
        shorter = brackets.replace(b"{}", b"").replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return MAX_DEPTH + 1


def _colons(data: bytes) -> int:
    """bytes.count runs a scalar loop (about 70 µs on a 60 KB batch); numpy's compare-and-count
    is vectorised (about 5 µs), but costs more than the loop below a few KB."""
    if len(data) < 8192:
        return data.count(b":")
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 58))


def _too_deep(obj: Any) -> bool:
    """Exact nesting check on a decoded value (iterative, stops at the first path too deep)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in value.values() if type(value) is dict else value:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


def check_shape(body: bytes, obj: Any, dumped_colons: Callable[[], int] | None) -> None:
    """Refuse nesting deeper than MAX_DEPTH and, on orjson's path (which keeps the last of
    duplicate keys without a word), a key twice in one object. Cheap: one C pass keeps the
    brackets and colons of the body.

    Depth: the running bracket count is an upper bound (brackets inside strings count too); only
    a body above the bound is walked exactly. Duplicates: every key has one colon, so the body has
    more colons than orjson's re-serialisation of what it decoded (`dumped_colons()`, called once
    the depth is known to be within orjson's limits) exactly when keys were dropped, unless the
    body spells a colon inside a string as an escape; such a body (rare) is decoded again by the
    stdlib, which names the key.
    """
    shape = body.translate(None, _NOT_SHAPE)
    colons = shape.count(b":")
    brackets = shape.translate(None, b":\\")
    if len(brackets) > MAX_DEPTH and _nesting_bound(brackets) > MAX_DEPTH and _too_deep(obj):
        raise SpecError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if dumped_colons is not None and (
        colons != dumped_colons() or (b"\\" in shape and (b"\\u003a" in body or b"\\u003A" in body))
    ):
        _stdlib_loads(body.decode("utf-8"))  # raises SpecError naming the duplicate key


def _stdlib_loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except SpecError:
        raise
    except json.JSONDecodeError as exc:
        raise SpecError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise SpecError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise SpecError(f"malformed JSON: {exc}"[:200]) from None


def parse_body(body: bytes, limit: int) -> dict[str, Any]:
    """Decode one request body: strict UTF-8, strict JSON (no NaN, no key twice in one object,
    at most MAX_DEPTH levels), an object, within `limit` bytes."""
    if orjson is not None and len(body) <= limit:
        try:  # fast path; anything orjson refuses goes through the stdlib for the exact reason
            obj = orjson.loads(body)
            if type(obj) is dict:
                check_shape(body, obj, lambda: orjson.dumps(obj).count(b":"))
                return obj
        except orjson.JSONDecodeError:
            pass
    text = _decode(body, limit)
    obj = _stdlib_loads(text)
    if not isinstance(obj, dict):
        raise SpecError(f"body must be a JSON object, got {type(obj).__name__}")
    check_shape(body, obj, None)
    _check_surrogates(text, obj)
    return obj


def _decode(body: bytes, limit: int) -> str:
    if len(body) > limit:
        raise SpecError(f"payload of {len(body)} bytes exceeds the limit of {limit} bytes", 413)
    if not body.strip():
        raise SpecError("empty body: expected a JSON object")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"body is not valid UTF-8 (byte {exc.start})") from None


def _check_surrogates(text: str, obj: Any) -> None:
    if _SURROGATE_RE.search(text):
        try:  # a lone \ud800 escape is valid for Python's json but not for the loader: refuse it now
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise SpecError("malformed JSON: lone UTF-16 surrogate escape") from None


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
_SCAN = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]  # typeshed: the C scanner takes a decoder
_WS = re.compile(r"[ \t\n\r]*")


def parse_batch_body(body: bytes, limit: int) -> tuple[dict[str, Any], list[int]]:
    """Like parse_body for /v1/batch, also returning each message's size in bytes as sent.

    Why not json.loads then re-serialise each message to size it: that costs more than the parse.
    Here the C scanner decodes the top-level object value by value, so the raw span of every
    element of `batch` is known for free. Falls back to parse_body for the error message.
    """
    obj = parse_body(body, limit) if len(body) <= MAX_EVENT_BYTES else None
    if obj is not None:  # a body within 32 KB cannot hold a message above 32 KB
        return obj, []
    if orjson is not None and len(body) <= limit:
        try:  # orjson re-serialises a message faster than the scanner below walks it
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is dict:
            batch = obj.get("batch")
            if type(batch) is not list:
                check_shape(body, obj, lambda: _colons(orjson.dumps(obj)))
                return obj, []
            dumped: list[bytes] = []

            top: dict[str, Any] = obj

            def colons() -> int:  # the messages' re-serialisations also size them
                dumped.extend(orjson.dumps(m) for m in batch)
                rest = orjson.dumps({k: v for k, v in top.items() if k != "batch"})
                return 1 + rest.count(b":") + _colons(b"".join(dumped))

            check_shape(body, obj, colons)
            return obj, [len(d) for d in dumped]
    text = _decode(body, limit)
    try:
        obj, sizes = _scan_top_level(text)
    except SpecError:
        raise
    except (StopIteration, ValueError, IndexError, RecursionError):
        return parse_body(body, limit), []  # raises the precise error if it is malformed
    check_shape(body, obj, None)
    _check_surrogates(text, obj)
    return obj, sizes


def _scan_top_level(text: str) -> tuple[dict[str, Any], list[int]]:
    ws = cast(Callable[[str, int], re.Match[str]], _WS.match)  # `[ \t\n\r]*` matches at every index
    i = ws(text, 0).end()
    if text[i] != "{":
        raise ValueError("not an object")
    obj: dict[str, Any] = {}
    sizes: list[int] = []
    i = ws(text, i + 1).end()
    if text[i] == "}":
        i += 1
    else:
        while True:
            key, i = _SCAN(text, i)
            if not isinstance(key, str):
                raise ValueError("key")
            i = ws(text, i).end()
            if text[i] != ":":
                raise ValueError(":")
            i = ws(text, i + 1).end()
            if key == "batch" and text[i] == "[":
                items: list[Any] = []
                i = ws(text, i + 1).end()
                if text[i] == "]":
                    i += 1
                else:
                    while True:
                        start = i
                        item, i = _SCAN(text, i)
                        span = i - start
                        # chars -> bytes: exact only when the span could be near the limit
                        sizes.append(span if span * 4 <= MAX_EVENT_BYTES else len(text[start:i].encode("utf-8", "surrogatepass")))
                        items.append(item)
                        i = ws(text, i).end()
                        if text[i] == ",":
                            i = ws(text, i + 1).end()
                            continue
                        if text[i] != "]":
                            raise ValueError("]")
                        i += 1
                        break
                value = items
            else:
                value, i = _SCAN(text, i)
            if key in obj:
                raise SpecError(f"malformed JSON: duplicate key {key!r:.60} in one object")
            obj[key] = value
            i = ws(text, i).end()
            if text[i] == ",":
                i = ws(text, i + 1).end()
                continue
            if text[i] != "}":
                raise ValueError("}")
            i += 1
            break
    if ws(text, i).end() != len(text):
        raise ValueError("trailing data")
    if "batch" not in obj:
        sizes = []
    return obj, sizes


def _valid_time(value: str) -> bool:
    if not _ISO_RE.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


_ID_FIELDS = ("messageId", "anonymousId", "userId", "groupId", "previousId")
_EXPECTED: dict[str, Any] = {f: str for f in _STRING_FIELDS} | {f: "id" for f in _ID_FIELDS} | {f: dict for f in _OBJECT_FIELDS} | {f: "time" for f in _TIME_FIELDS}


def _wrong(where: str, field: str, what: str, value: Any) -> None:
    at = f"{where}: " if where else ""
    raise SpecError(f"{at}field '{field}' must be {what}, got {type(value).__name__}")


def check_message(msg: Any, kind: str, where: str = "") -> None:
    """Raise SpecError naming the field when `msg` is not a loadable Segment message of type `kind`.

    `kind` is the endpoint's type (/v1/track -> track) or, inside a batch, the message's own `type`.
    """
    if type(msg) is not dict:
        at = f"{where}: " if where else ""
        raise SpecError(f"{at}message must be a JSON object, got {type(msg).__name__}")
    # one pass over the keys the message has (cheaper than probing every known field)
    for field, value in msg.items():
        expected = _EXPECTED.get(field)
        if expected is None or value is None:
            continue
        if expected == "id":
            if type(value) is not str:
                _wrong(where, field, "a string", value)
            if not 0 < len(value) <= MAX_ID_CHARS:
                raise SpecError(f"{where + ': ' if where else ''}field '{field}' must be 1..{MAX_ID_CHARS} characters")
        elif expected is str:
            if type(value) is not str:
                _wrong(where, field, "a string", value)
        elif expected is dict:
            if type(value) is not dict:
                _wrong(where, field, "an object", value)
        elif type(value) is not str or not _valid_time(value):
            raise SpecError(f"{where + ': ' if where else ''}field '{field}' must be an ISO-8601 timestamp string, "
                            f"got {value!r:.60}")
    at = f"{where}: " if where else ""
    if kind == "alias":
        if not msg.get("userId") or not msg.get("previousId"):
            raise SpecError(f"{at}alias needs both 'userId' and 'previousId'")
    elif not msg.get("userId") and not msg.get("anonymousId"):
        raise SpecError(f"{at}{kind} needs 'userId' or 'anonymousId'")
    if kind == "track" and not msg.get("event"):
        raise SpecError(f"{at}track needs a non-empty 'event'")
    if kind == "group" and not msg.get("groupId"):
        raise SpecError(f"{at}group needs 'groupId'")


def check_single(body: dict[str, Any], kind: str) -> int:
    """Check the body of /v1/<kind>; returns the number of messages (1)."""
    declared = body.get("type")
    if declared is not None and declared != kind:
        raise SpecError(f"field 'type' is {declared!r:.30} but the endpoint is /v1/{kind}")
    if body.get("batch") is not None:  # the loader reads `batch` as an array of messages, whatever the endpoint
        raise SpecError(f"field 'batch' belongs on /v1/batch, not on /v1/{kind}")
    check_message(body, kind)
    return 1


def check_batch(body: dict[str, Any], sizes: list[int]) -> int:
    """Check the body of /v1/batch (sizes: each message's bytes, from parse_batch_body, or empty
    when the whole body is within 32 KB); returns the number of messages."""
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise SpecError("field 'batch' must be an array of messages")
    for field in ("context", "integrations"):
        value = body.get(field)
        if value is not None and not isinstance(value, dict):
            raise SpecError(f"field '{field}' must be an object, got {type(value).__name__}")
    for i, msg in enumerate(batch):
        if not isinstance(msg, dict):
            raise SpecError(f"batch[{i}]: message must be a JSON object, got {type(msg).__name__}")
        kind = msg.get("type")
        if kind not in MESSAGE_TYPES:
            raise SpecError(f"batch[{i}]: field 'type' must be one of {', '.join(MESSAGE_TYPES)}, got {kind!r:.30}")
        check_message(msg, kind, f"batch[{i}]")
    for i, size in enumerate(sizes):
        if size > MAX_EVENT_BYTES:
            raise SpecError(f"batch[{i}]: message of {size} bytes exceeds the limit of {MAX_EVENT_BYTES} bytes", 413)
    return len(batch)

