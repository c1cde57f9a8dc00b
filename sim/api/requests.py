"""Reading API request bodies as Nomad's HTTP layer reads them.

Nomad: command/agent/http.go decodeBody and Go's encoding/json. Keys match exactly first, then
case-insensitively; JSON null means "not given"; a value of the wrong JSON type is a 400 with the
decoder's message (`json: cannot unmarshal string into Go struct field X.Y of type bool`).
"""

from __future__ import annotations

import json
from typing import Any

from sim.errors import ApiError

_GO_TYPES = {bool: "bool", int: "uint64", str: "string", dict: "map[string]string", list: "[]string"}


def json_kind(value: Any) -> str:
    """The JSON kind Go names in its decoder errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def parse_json_body(raw: bytes) -> Any:
    """A request body's JSON value; None for an empty body.

    Raises:
        ApiError: 400 with Go's decoder message for malformed JSON.
    """
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, go_json_error(exc)) from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid character in request body") from None


def go_json_error(exc: json.JSONDecodeError) -> str:
    """A JSON syntax error worded as Go's decoder words it."""
    doc, pos = exc.doc, exc.pos
    if pos >= len(doc.rstrip()) or exc.msg.startswith("Unterminated string"):
        return "unexpected EOF"
    return f"invalid character {doc[pos]!r} looking for beginning of value"


def body(payload: Any, struct: str) -> dict[str, Any]:
    """A request body as an object; None (no body) is an empty one."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ApiError(400, f"json: cannot unmarshal {json_kind(payload)} into Go value of type structs.{struct}")
    return payload


def lookup(data: dict[str, Any], key: str) -> Any:
    """Go's field match: the exact key, else the first key equal ignoring case."""
    if key in data:
        return data[key]
    low = key.lower()
    for k, v in data.items():
        if k.lower() == low:
            return v
    return None


def field(data: dict[str, Any], key: str, typ: type, struct: str, default: Any = None,
          gotype: str | None = None) -> Any:
    """A typed field of a request body; null or absent gives `default`.

    Raises:
        ApiError: 400 when the JSON value has the wrong type for the Go field.
    """
    value = lookup(data, key)
    if value is None:
        return default
    if _fits(value, typ):
        return int(value) if typ is int else value
    go = gotype or _GO_TYPES[typ]
    raise ApiError(400, f"json: cannot unmarshal {json_kind(value)} into Go struct field {struct}.{key} of type {go}")


def _fits(value: Any, typ: type) -> bool:
    if typ is int:
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if typ is dict:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if typ is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, typ)


def query_bool(value: str | bool | None) -> bool:
    """A boolean query parameter as Nomad's handlers read it (strconv.ParseBool; absent = false).

    Raises:
        ApiError: 400 for anything ParseBool rejects.
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("", "0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ApiError(400, f'strconv.ParseBool: parsing "{value}": invalid syntax')


def seconds_field(data: dict[str, Any], key: str, default: float | None) -> float:
    """A /v1/sim request's duration in simulated seconds (a number >= 0; absent = `default`).

    Raises:
        ApiError: 400 when the value is not a number >= 0 (or absent without a default).
    """
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ApiError(400, f"{key} must be a number of seconds >= 0")
    return float(value)
