"""Reading API request bodies as Nomad's HTTP layer reads them.

Nomad: command/agent/http.go decodeBody and Go's encoding/json. Keys match exactly first, then
case-insensitively; JSON null means "not given"; a value of the wrong JSON type is a 400 with the
decoder's message (`json: cannot unmarshal string into Go struct field X.Y of type bool`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sim.errors import ApiError
from sim.structs.gojson import json_kind

_GO_TYPES = {bool: "bool", int: "uint64", str: "string", dict: "map[string]string", list: "[]string"}


_ESCAPED_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity are not JSON: Go's decoder stops at their first letter."""
    raise ApiError(400, f"invalid character {name.lstrip('-')[0]!r} looking for beginning of value")


def parse_json_body(raw: bytes) -> Any:
    """A request body's JSON value; None for an empty body.

    As Go's decoder: NaN and Infinity are syntax errors, a lone UTF-16 surrogate escape becomes
    U+FFFD, and nesting deeper than the parser can follow is `exceeded max depth` (Go allows
    10,000 levels; Python's parser fewer, see docs/fidelity.md).

    Raises:
        ApiError: 400 with Go's decoder message for malformed JSON.
    """
    if not raw.strip():
        return None
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
        return _replace_surrogates(value) if _ESCAPED_SURROGATE.search(raw) else value
    except json.JSONDecodeError as exc:
        raise ApiError(400, go_json_error(exc)) from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid character in request body") from None
    except RecursionError:
        raise ApiError(400, "exceeded max depth") from None


def _replace_surrogates(value: Any) -> Any:
    """Lone surrogates (valid pairs are already joined) replaced by U+FFFD, as Go decodes them."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


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


def ascii_uint(text: str, bits: int = 64) -> int | None:
    """An unsigned decimal as Go's strconv.ParseUint reads it (ASCII digits only, in range); else None."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value < 1 << bits else None


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
