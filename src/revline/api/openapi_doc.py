"""OpenAPI description of the collector endpoints, which are served by a raw ASGI app.

Why by hand: the collector bypasses FastAPI routing for speed (see collector.py), so FastAPI
cannot see it; without this, API clients and fuzzers would not know /v1/* exists.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from revline.api.segment_spec import MAX_BATCH_BYTES, MAX_EVENT_BYTES

# The pattern is a safe subset (days up to 28) so generated examples are always real dates; the
# collector accepts any ISO-8601 date or date-time, with Z or an offset.
_TIME = {"type": "string",
         "pattern": r"^[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?Z$",
         "description": "ISO-8601 date-time (Z or an offset); when absent the time of receipt is used"}
_ID = {"type": "string", "minLength": 1, "maxLength": 256}
_OBJ = {"type": "object"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Optional Spec fields may be sent as null, which the collector treats as absent."""
    return {**schema, "type": [schema["type"], "null"]}


def _message(kind: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "messageId": {**_ID, "description": "Dedupes retries; if absent: rl-<md5 of the message Spec fields>"},
        "anonymousId": _ID, "userId": _ID, "timestamp": _TIME,
        "context": {**_OBJ, "description": "context.campaign holds utm_* (source, medium, name, term, content)"},
        "integrations": _OBJ,
    }
    required: list[str] = []
    any_of: list[dict[str, Any]] = [{"required": [k], "properties": {k: _ID}} for k in ("userId", "anonymousId")]
    if kind == "track":
        props |= {"event": {"type": "string", "minLength": 1}, "properties": _OBJ}
        required.append("event")
    elif kind in ("page", "screen"):
        props |= {"name": {"type": "string"}, "category": {"type": "string"}, "properties": _OBJ}
    elif kind == "identify":
        props |= {"traits": _OBJ}
    elif kind == "group":
        props |= {"groupId": _ID, "traits": _OBJ}
        required.append("groupId")
    elif kind == "alias":
        props |= {"previousId": _ID}
        required += ["previousId", "userId"]
        any_of = []
    props = {k: (v if k in required else _nullable(v)) for k, v in props.items()}
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if any_of:
        schema["anyOf"] = any_of
    return schema


def _batch_item() -> dict[str, Any]:
    items = []
    for kind in ("track", "page", "identify", "group", "alias"):
        s = _message(kind)
        s["properties"] = {"type": {"type": "string", "enum": [kind]}} | s["properties"]
        s["required"] = ["type", *s["required"]]
        items.append(s)
    return {"oneOf": items}


_ERROR = {"type": "object", "properties": {"success": {"type": "boolean"}, "error": {"type": "string"}},
          "required": ["success", "error"]}


def _operation(kind: str) -> dict[str, Any]:
    if kind == "batch":
        body = {"type": "object", "required": ["batch"], "properties": {
            "batch": {"type": "array", "items": _batch_item(), "maxItems": 100},
            "context": _nullable(_OBJ), "integrations": _nullable(_OBJ)}}
        limit = MAX_BATCH_BYTES
    else:
        body, limit = _message(kind), MAX_EVENT_BYTES
    err = {"content": {"application/json": {"schema": _ERROR}}}
    return {
        "tags": ["collector"],
        "summary": f"Segment {kind}" + (" (many messages in one request)" if kind == "batch" else ""),
        "description": f"Segment HTTP tracking API compatible. At most {limit // 1024} KB per request"
                       + (f" and {MAX_EVENT_BYTES // 1024} KB per message." if kind == "batch" else "."),
        "operationId": f"collect_{kind}",
        "security": [{"writeKeyBasic": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {"description": "Durably logged", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"success": {"type": "boolean"}}, "required": ["success"]}}}},
            "400": {"description": "Malformed JSON, wrong type or missing field (reason given)", **err},
            "401": {"description": "Missing or invalid write key", **err},
            "413": {"description": "Payload too large", **err},
            "503": {"description": "The log could not be written; retry", **err},
        },
    }


def document_collector(app: FastAPI) -> None:
    """Add /v1/* and the write-key scheme to the app's generated OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for kind in ("track", "page", "identify", "group", "alias", "batch"):
            schema["paths"][f"/v1/{kind}"] = {"post": _operation(kind)}
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["writeKeyBasic"] = {"type": "http", "scheme": "basic",
                                    "description": "The write key as user name, empty password (as Segment)."}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
