"""Nomad's constraint operators on one pair of values, with Go's parsing rules.

Nomad: scheduler/feasible/feasible.go (resolveTarget, checkConstraint, checkOrder,
checkVersionMatch, checkRegexpMatch, checkSetContainsAll/Any) and the constraint-list tests
(structs.EscapedConstraints, DistinctHostsIterator's hasDistinctHostsConstraint). checks.py
runs them once per distinct attribute value over the node table.
"""

from __future__ import annotations

import re
from typing import TypeVar

from sim.errors import SimError
from sim.structs.job import Constraint
from sim.structs.node import Node

CONSTRAINT_DISTINCT_HOSTS = "distinct_hosts"
CONSTRAINT_DISTINCT_PROPERTY = "distinct_property"

Ordered = TypeVar("Ordered", int, float, bytes)

_INT_RE = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(2**63), 2**63 - 1)
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_NODE_FIELDS = {
    "${node.unique.id}": "id",
    "${node.datacenter}": "datacenter",
    "${node.unique.name}": "name",
    "${node.class}": "node_class",
    "${node.pool}": "node_pool",
}
_ESCAPING = ("${unique.", "${node.unique.", "${attr.unique.", "${meta.unique.")


# -- Go parsing ---------------------------------------------------------------------------------


def go_parse_bool(value: str) -> bool | None:
    """Go strconv.ParseBool; None when the string is not a boolean."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    return None


def _go_int(value: str) -> int | None:
    if not _INT_RE.fullmatch(value):
        return None
    number = int(value)
    return number if _INT64[0] <= number <= _INT64[1] else None


def _go_float(value: str) -> float | None:
    if not value or value != value.strip() or "_" in value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# -- operators ----------------------------------------------------------------------------------


def resolve_target(target: str, node: Node) -> tuple[str, bool]:
    """Nomad: scheduler/feasible/feasible.go, resolveTarget: a literal or a node property."""
    if not target.startswith("${"):
        return target, True
    if target in _NODE_FIELDS:
        return getattr(node, _NODE_FIELDS[target]), True
    if target.startswith("${attr.") or target.startswith("${meta."):
        source = node.attributes if target.startswith("${attr.") else node.meta
        value = source.get(target[7:].removesuffix("}"))
        return ("", False) if value is None else (value, True)
    return "", False


def check_constraint(operand: str, l_val: str | None, r_val: str | None, l_found: bool, r_found: bool) -> bool:
    """Nomad: scheduler/feasible/feasible.go, checkConstraint."""
    if operand in (CONSTRAINT_DISTINCT_HOSTS, CONSTRAINT_DISTINCT_PROPERTY):
        return True
    if operand in ("=", "==", "is"):
        return l_found and r_found and l_val == r_val
    if operand in ("!=", "not"):
        return l_val != r_val
    if operand == "is_set":
        return l_found
    if operand == "is_not_set":
        return not l_found
    if not (l_found and r_found and isinstance(l_val, str) and isinstance(r_val, str)):
        return False
    return _check_binary(operand, l_val, r_val)


def _check_binary(operand: str, l_val: str, r_val: str) -> bool:
    if operand in ("<", "<=", ">", ">="):
        return check_order(operand, l_val, r_val)
    if operand in ("version", "semver"):
        return check_version_match(l_val, r_val, strict_semver=operand == "semver")
    if operand == "regexp":
        return check_regexp_match(l_val, r_val)
    if operand in ("set_contains", "set_contains_all"):
        return check_set_contains_all(l_val, r_val)
    if operand == "set_contains_any":
        return check_set_contains_any(l_val, r_val)
    return False


def check_order(operand: str, l_val: str, r_val: str) -> bool:
    """Nomad: checkOrder: as int64 if both parse, else as float64, else lexically."""
    left_i, right_i = _go_int(l_val), _go_int(r_val)
    if left_i is not None and right_i is not None:
        return _compare(operand, left_i, right_i)
    left_f, right_f = _go_float(l_val), _go_float(r_val)
    if left_f is not None and right_f is not None:
        return _compare(operand, left_f, right_f)
    return check_lexical_order(operand, l_val, r_val)


def check_lexical_order(operand: str, l_val: str, r_val: str) -> bool:
    """Nomad: checkLexicalOrder (Go compares strings bytewise)."""
    return _compare(operand, l_val.encode(), r_val.encode())


def _compare(operand: str, left: Ordered, right: Ordered) -> bool:
    """Go's compareOrder; NaN compares false both ways, as in Go."""
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}.get(operand, False)


def check_version_match(version: str, constraint: str, strict_semver: bool) -> bool:
    """Nomad: checkVersionMatch (go-version, or strict semver); unparsable sides never match."""
    from sim.structs.versions import version_matches  # written by another module; imported lazily

    try:
        return bool(version_matches(constraint, version, strict_semver))
    except (ValueError, SimError):
        return False


def check_regexp_match(value: str, pattern: str) -> bool:
    """Nomad: checkRegexpMatch: unanchored search; an invalid pattern never matches."""
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def _split_set(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


def check_set_contains_all(l_val: str, r_val: str) -> bool:
    """Nomad: checkSetContainsAll: every right item is in the left set."""
    left = set(_split_set(l_val))
    return all(item in left for item in _split_set(r_val))


def check_set_contains_any(l_val: str, r_val: str) -> bool:
    """Nomad: checkSetContainsAny: some right item is in the left set."""
    left = set(_split_set(l_val))
    return any(item in left for item in _split_set(r_val))


def escapes(constraints: list[Constraint]) -> bool:
    """Nomad: structs.EscapedConstraints non-empty: a target computed classes cannot capture."""
    return any(t.startswith(_ESCAPING) for c in constraints for t in (c.l_target, c.r_target))


def distinct_hosts_enabled(constraints: list[Constraint]) -> bool:
    """Nomad: DistinctHostsIterator.hasDistinctHostsConstraint (first one decides; default on)."""
    for c in constraints:
        if c.operand == CONSTRAINT_DISTINCT_HOSTS:
            return c.r_target == "" or go_parse_bool(c.r_target) is not False
    return False
