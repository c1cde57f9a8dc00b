"""Validation of constraints, affinities, spreads and service names (used by sim.structs.validate.job).

Nomad: nomad/structs/structs.go Constraint.Validate, Affinity.Validate, Spread.Validate;
nomad/structs/constraint.go validateConstraintAttribute; nomad/structs/services.go
Service.ValidateName. Version, semver and regexp operands are parsed with sim.structs.versions
so that what validates is exactly what the scheduler can evaluate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sim.errors import ValidationError
from sim.structs import job as J
from sim.structs.devices import check_devices_json, requested_devices
from sim.structs.validate.blocks import Entry, go_quote, leaf, nest
from sim.structs.versions import (
    compile_go_regexp,
    parse_semver_constraint,
    parse_version_constraint,
)

_SET_OPS = ("set_contains", "set_contains_all", "set_contains_any")
_COMPARE_OPS = ("=", "==", "is", "!=", "not", "<", "<=", ">", ">=")
_EXACT_TARGETS = ("${node.unique.id}", "${node.datacenter}", "${node.unique.name}",
                  "${node.class}", "${node.pool}")
_PREFIX_TARGETS = ("${attr.", "${device.", "${meta.")


def _rtarget_problem(op: str, rtarget: str, noun: str) -> str | None:
    """The RTarget check of an operand, shared by constraints and affinities (noun names it)."""
    if op in _SET_OPS:
        if rtarget:
            return None
        if noun == "constraint":
            return "Set contains constraint requires an RTarget"
        return "Set contains operators require an RTarget"
    parsers = {
        "regexp": (compile_go_regexp, "Regular expression failed to compile"),
        "version": (parse_version_constraint, f"Version {noun} is invalid"),
        "semver": (parse_semver_constraint, f"Semver {noun} is invalid"),
    }
    if op in parsers:
        parse, prefix = parsers[op]
        try:
            parse(rtarget)
        except ValueError as err:
            return f"{prefix}: {err}"
        return None
    if not rtarget:
        return f"Operator {go_quote(op)} requires an RTarget"
    return None


def _distinct_property_problem(rtarget: str) -> str | None:
    if not rtarget:
        return None
    digits = rtarget.isascii() and rtarget.isdigit()
    if not digits or int(rtarget) >= 2**64:
        reason = "value out of range" if digits else "invalid syntax"
        q = go_quote(rtarget)
        return f"Failed to convert RTarget {q} to uint64: strconv.ParseUint: parsing {q}: {reason}"
    if int(rtarget) < 1:
        return f"Distinct Property must have an allowed count of 1 or greater: {int(rtarget)} < 1"
    return None


def _constraint_problems(c: J.Constraint) -> list[tuple[str, str]]:
    """Nomad: structs.Constraint.Validate, as (field, message) pairs."""
    out = []
    op = c.operand
    if not op:
        out.append(("Operand", "Missing constraint operand"))
    if op == "distinct_property":
        problem = _distinct_property_problem(c.r_target)
    elif op in ("is_set", "is_not_set"):
        problem = f"Operator {go_quote(op)} does not support an RTarget" if c.r_target else None
    elif op in _SET_OPS or op in _COMPARE_OPS or op in ("regexp", "version", "semver"):
        problem = _rtarget_problem(op, c.r_target, "constraint")
    elif op != "distinct_hosts":
        out.append(("Operand", f"Unknown constraint type {go_quote(op)}"))
        problem = None
    else:
        problem = None
    if problem:
        out.append(("RTarget", problem))
    if op != "distinct_hosts":
        problem = _attribute_problem(c.l_target)
        if problem:
            out.append(("LTarget", problem))
    return out


def _attribute_problem(target: str) -> str | None:
    """Nomad: nomad/structs/constraint.go validateConstraintAttribute."""
    if not target:
        return "no attribute provided but is required by operator"
    if not target.startswith("$"):
        return None
    if not target.startswith("${"):
        return f"attribute {go_quote(target)} is missing an opening brace"
    if not target.endswith("}"):
        return f"attribute {go_quote(target)} is missing a closing brace"
    if target in _EXACT_TARGETS or target.startswith(_PREFIX_TARGETS):
        return None
    return f"unsupported attribute {go_quote(target)}"


def constraint_entry(c: J.Constraint, index: int, path: str) -> Entry | None:
    """`Constraint N validation failed: <multierror>` for an invalid constraint, else None."""
    problems = _constraint_problems(c)
    if not problems:
        return None
    sub = [leaf(f"{path}[{index}].{field}", msg) for field, msg in problems]
    return nest(f"Constraint {index + 1} validation failed: ", sub)


def constraint_errors(constraints: list[J.Constraint], path: str) -> list[Entry]:
    """Every invalid constraint of a job or group."""
    entries = (constraint_entry(c, i, path) for i, c in enumerate(constraints))
    return [e for e in entries if e is not None]


def _affinity_problems(a: J.Affinity) -> list[tuple[str, str]]:
    """Nomad: structs.Affinity.Validate."""
    out = []
    op, weight = a.operand, a.weight or 0
    if not op:
        out.append(("Operand", "Missing affinity operand"))
    if op in _SET_OPS or op in _COMPARE_OPS or op in ("regexp", "version", "semver"):
        problem = _rtarget_problem(op, a.r_target, "affinity")
        if problem:
            out.append(("RTarget", problem))
    else:
        out.append(("Operand", f"Unknown affinity operator {go_quote(op)}"))
    if not a.l_target:
        out.append(("LTarget", "No LTarget provided but is required"))
    if weight == 0:
        out.append(("Weight", "Affinity weight cannot be zero"))
    if not -100 <= weight <= 100:
        out.append(("Weight", "Affinity weight must be within the range [-100,100]"))
    return out


def affinity_errors(affinities: list[J.Affinity], path: str, system: bool) -> list[Entry]:
    """Affinities of a job, group or task (system jobs may not have any)."""
    return _blocks_errors(affinities, path, system, "an affinity block", "Affinity", _affinity_problems)


def _blocks_errors(items: list[Any], path: str, system: bool, block: str, title: str,
                   problems_of: Callable[[Any], list[tuple[str, str]]]) -> list[Entry]:
    """One nested "<title> N validation failed" error per bad item; system jobs may have none."""
    if system:
        return [leaf(path, f"System jobs may not have {block}")] if items else []
    errs = []
    for i, item in enumerate(items):
        problems = problems_of(item)
        if problems:
            sub = [leaf(f"{path}[{i}].{field}", msg) for field, msg in problems]
            errs.append(nest(f"{title} {i + 1} validation failed: ", sub))
    return errs


def _spread_problems(s: J.Spread) -> list[tuple[str, str]]:
    """Nomad: structs.Spread.Validate."""
    out = []
    if not s.attribute:
        out.append(("Attribute", "Missing spread attribute"))
    if not 0 < (s.weight or 0) <= 100:
        out.append(("Weight", "Spread block must have a positive weight from 0 to 100"))
    seen, total = set(), 0
    for t in s.spread_target:
        if t.value in seen:
            out.append(("SpreadTarget", f"Spread target value {go_quote(t.value)} already defined"))
        seen.add(t.value)
        if t.percent > 100:
            out.append(("SpreadTarget", f"Spread target percentage for value {go_quote(t.value)} must be between 0 and 100"))
        total += t.percent
    if total > 100:
        out.append(("SpreadTarget", f"Sum of spread target percentages must not be greater than 100%; got {total}%"))
    return out


def spread_errors(spreads: list[J.Spread], path: str, system: bool) -> list[Entry]:
    """Spreads of a job or group (system jobs may not have any)."""
    return _blocks_errors(spreads, path, system, "a spread block", "Spread", _spread_problems)


_ENV_RE = re.compile(r"\$\{[a-zA-Z0-9_\-.]+\}")
_SERVICE_NAME_RE = re.compile(r"(?i:[a-z0-9]|[a-z0-9][a-z0-9\-]{0,61}[a-z0-9])\Z")


def service_name_problem(name: str) -> str | None:
    """Nomad: structs.Service.ValidateName (interpolations count as a placeholder)."""
    if _SERVICE_NAME_RE.match(_ENV_RE.sub("ENV-VAR", name)):
        return None
    return ("Service name must be valid per RFC 1123 and can contain only alphanumeric characters "
            f"or dashes and must be no longer than 63 characters: {go_quote(name)}")


def devices_errors(r: J.Resources, path: str) -> list[Entry]:
    """Nomad: the device part of structs.Resources.Validate: `device N failed validation: ...`
    around RequestedDevice.Validate (after Go's decoder accepted the JSON)."""
    path = f"{path}.Devices"
    try:
        check_devices_json(r.extra.get("Devices"), path)
    except ValidationError as err:
        return [leaf(err.field, err.message)]
    errs = []
    for i, d in enumerate(requested_devices(r)):
        sub = []
        if not d.name:
            sub.append(leaf(f"{path}[{i}].Name",
                            "device name must be given as one of the following: type, vendor/type, or vendor/type/name"))
        for j, c in enumerate(d.constraints):
            if c.operand in ("distinct_hosts", "distinct_property"):
                sub.append(leaf(f"{path}[{i}].Constraints[{j}].Operand",
                                f"Constraint {j + 1} validation failed: using unsupported operand {go_quote(c.operand)}"))
            elif (entry := constraint_entry(c, j, f"{path}[{i}].Constraints")) is not None:
                sub.append(entry)
        sub += affinity_errors(list(d.affinities), f"{path}[{i}].Affinities", False)
        if sub:
            errs.append(nest(f"device {i + 1} failed validation: ", sub))
    return errs
