"""How Go's JSON decoder names a value in its errors (`json: cannot unmarshal <kind> into ...`)."""

from __future__ import annotations

from typing import Any


def json_kind(value: Any, literal: bool = False) -> str:
    """Go's description of a JSON value in an UnmarshalTypeError: "string", "number" (with
    `literal`, "number 1.5"), "bool", "array" or "object"."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value!r}" if literal else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
