"""Load and validate a scenario (YAML file or mapping) into a frozen `Scenario`.

Validation runs in two passes: the published JSON Schema (sim/scenario/scenario.schema.json) for
shapes, types and unknown keys, then semantic checks while building the dataclasses (files,
references, node names, ranges that depend on each other). Either way the result is one
ScenarioError naming the file, the key path (`cluster.nodes[0].count`) and the line when the
scenario came from a file. `--set` style overrides are applied before validation.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sim.errors import ScenarioError, did_you_mean
from sim.scenario.actions import apply_set
from sim.scenario.build import (
    Context,
    build_behavior,
    build_cluster,
    build_control_plane,
    build_events,
    build_metrics,
    build_named,
    build_node_group,
    field_value,
    parse_duration,
    parse_rate,
    parse_time,
    required_duration,
)
from sim.scenario.jobs import build_workload
from sim.scenario.types import DEFAULT_START_TIME, NodeGroup, Scenario

__all__ = ["Scenario", "ScenarioError", "apply_set", "load_scenario", "parse_duration", "parse_rate", "parse_time", "schema"]

ROOT = "(root)"
SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings (start_time is parsed as RFC 3339 later)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@cache
def schema() -> dict[str, Any]:
    """The published scenario JSON Schema."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def load_scenario(
    source: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
) -> Scenario:
    """Load, validate and resolve a scenario.

    Args:
        source: a YAML file path, or the scenario as a mapping.
        overrides: dotted key paths to values (`{"control_plane.num_schedulers": "4"}`, as from
            `--set key=value`); string values are parsed as YAML.
        base_dir: where relative job and trace files are found for a mapping source (default:
            the current directory; for a file, its directory).

    Raises:
        ScenarioError: the first problem found, with file, key path and line.
    """
    file: str | None = None
    lines: dict[str, int] = {}
    if isinstance(source, Mapping):
        data: Any = copy.deepcopy(dict(source))
        base, default_name = Path(base_dir or "."), "scenario"
    else:
        path = Path(source)
        file, base, default_name = str(path), path.parent, path.stem
        data, lines = _read_yaml(path)
    _refuse_job_file(data, file)
    try:
        if overrides:
            data = _apply_overrides(data, overrides)
        _validate_schema(data, lines)
        return _build(data, Context(base, 0.0), default_name, file)
    except ScenarioError as exc:
        if exc.file is not None or exc.line is not None:
            raise
        message = str(exc).removeprefix(f"{exc.path}: ")
        raise ScenarioError(exc.path, message, file, _line(lines, exc.path)) from None


def _refuse_job_file(data: Any, file: str | None) -> None:
    """A Nomad job file given where a scenario is expected: say so, and how to run it."""
    if isinstance(data, Mapping) and ("Job" in data or {"ID", "TaskGroups"} <= set(data)):
        where = file or "the scenario"
        raise ScenarioError(ROOT, f"this is a Nomad job file, not a scenario: register it from a scenario's "
                                  f"workload (`- {{at: 0s, register: {where}}}`), or submit it to "
                                  "`nomadsim serve` over the Jobs API", file)


def _build(data: Mapping[str, Any], ctx: Context, default_name: str, file: str | None) -> Scenario:
    ctx.duration = required_duration(data, "duration", "")
    if ctx.duration <= 0:
        raise ScenarioError("duration", "must be greater than zero")
    cluster = build_cluster(data["cluster"], ctx.base_dir)
    return Scenario(
        name=data.get("name", default_name),
        seed=data.get("seed", 0),
        duration=ctx.duration,
        start_time=field_value(data, "start_time", "", parse_time, DEFAULT_START_TIME),
        cluster=cluster,
        control_plane=build_control_plane(data.get("control_plane") or {}),
        workload=build_workload(data.get("workload") or [], ctx),
        events=build_events(data.get("events") or [], ctx, cluster),
        task_behavior=tuple(build_behavior(r, f"task_behavior[{i}]") for i, r in enumerate(data.get("task_behavior") or [])),
        metrics=build_metrics(data.get("metrics") or {}),
        namespaces=build_named(data.get("namespaces") or [], "namespaces", ("default",)),
        node_pools=build_named(data.get("node_pools") or [], "node_pools", ("all", "default")),
        file=file,
    )


# --- YAML with line numbers ---------------------------------------------------------------------


def _read_yaml(path: Path) -> tuple[Any, dict[str, int]]:
    """The document and the line (1-based) of every key path in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ScenarioError(ROOT, f"cannot read scenario: {reason}", str(path)) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError(ROOT, f"invalid YAML: {getattr(exc, 'problem', None) or exc}", str(path), mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines, str(path))
    return data, lines


def _walk(node: yaml.Node, prefix: str, lines: dict[str, int], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            if key in seen:
                raise ScenarioError(path, f"duplicate key '{key}'", file, key_node.start_mark.line + 1)
            seen.add(key)
            lines[path] = key_node.start_mark.line + 1
            _walk(value_node, path, lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            lines[path] = item.start_mark.line + 1
            _walk(item, path, lines, file)


def _line(lines: dict[str, int], path: str) -> int | None:
    """The line of `path`, else of its nearest ancestor that has one."""
    while path:
        if path in lines:
            return lines[path]
        last = re.search(r"(\.[^.\[]*|\[\d+\])$", path)
        path = path[: last.start()] if last else ""
    return None


# --- overrides ----------------------------------------------------------------------------------


def _apply_overrides(data: Any, overrides: Mapping[str, Any]) -> Any:
    """Set each dotted key (`a.b[0].c` or `a.b.0.c`) to its value (strings parsed as YAML)."""
    if not isinstance(data, dict):
        raise ScenarioError(ROOT, "the scenario must be a mapping")
    for key, value in overrides.items():
        if isinstance(value, str):
            try:
                value = yaml.load(value, Loader=_Loader)
            except yaml.YAMLError as exc:
                raise ScenarioError(key, f"invalid override value {value!r}: {exc}") from None
        parts = re.sub(r"\[(\d+)\]", r".\1", key).split(".")
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            step: str | int = part  # a list index as an int
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError(key, f"cannot override: no list item {part!r}")
                step = int(part)
            elif not isinstance(node, dict) or not part:
                raise ScenarioError(key, f"cannot override: {'.'.join(parts[:i]) or ROOT} is not a mapping")
            elif not last and not isinstance(node.get(part), dict | list):
                node[part] = {}
            if last:
                node[step] = value
            else:
                node = node[step]
    return data


# --- schema errors ------------------------------------------------------------------------------

_RANK = {"additionalProperties": 0, "type": 1, "required": 3, "oneOf": 4}
_TYPES = {"integer": "an integer", "number": "a number", "string": "a string", "object": "a mapping", "array": "a list", "boolean": "true or false", "null": "null"}


def _validate_schema(data: Any, lines: dict[str, int]) -> None:
    """Raise a ScenarioError for the most specific schema violation (first in the file), if any."""
    validator = jsonschema.Draft202012Validator(schema())
    described = [(_RANK.get(e.validator, 2), *_describe(e)) for e in validator.iter_errors(data)]
    if described:
        _, path, message = min(described, key=lambda d: (d[0], _line(lines, d[1]) or 0, d[1]))
        raise ScenarioError(path, message)


def load_node_group(raw: Any, next_index: dict[str, int], path: str = "node_group") -> NodeGroup:
    """One node group in the scenario's form (as `add_nodes` takes it), checked against the
    schema and built with its nodes numbered from `next_index` (per name prefix).

    Raises:
        ScenarioError: the group is not valid (the message names the key).
    """
    validator = jsonschema.Draft202012Validator({"$defs": schema()["$defs"], "$ref": "#/$defs/node_group"})
    described = sorted((_RANK.get(e.validator, 2), *_describe(e)) for e in validator.iter_errors(raw))
    if described:
        _, where, message = described[0]
        raise ScenarioError(_join(path, where), message)
    return build_node_group(raw, path, next_index)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _got(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, dict | list) else ""
    return f"{kind} {shown}".strip() if value is not None else "null"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(key path, message) for one schema error, in the scenario's words."""
    path, value, kind, arg = _path(error.absolute_path), error.instance, error.validator, error.validator_value
    if kind == "additionalProperties":
        extra = sorted(str(k) for k in value if k not in error.schema.get("properties", {}))[0]
        return _join(path, extra), f"unknown key '{extra}'{did_you_mean(extra, error.schema.get('properties', {}))}"
    if kind == "required":
        missing = next(k for k in arg if k not in value)
        return _join(path, missing), f"required key '{missing}' is missing"
    if kind == "oneOf" and all(set(s) == {"required"} for s in arg) and isinstance(value, dict):
        keys = [s["required"][0] for s in arg]
        found = [k for k in keys if k in value]
        got = f"; got {', '.join(found)}" if found else ""
        return path or ROOT, f"needs exactly one of {', '.join(keys)}{got}"
    branch = _matching_branch(error)
    if branch:
        return min((_describe(e) for e in branch), key=lambda d: d[0].count(".") + d[0].count("["))
    if "x-error" in error.schema:
        return path or ROOT, f"expected {error.schema['x-error']}, got {_got(value)}"
    if kind == "type":
        names = [_TYPES.get(t, t) for t in ([arg] if isinstance(arg, str) else arg)]
        wanted = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return path or ROOT, f"expected {wanted}, got {_got(value)}"
    if kind == "enum":
        return path or ROOT, f"must be one of {', '.join(map(str, arg))}; got {value!r}{did_you_mean(value, map(str, arg))}"
    return path or ROOT, _bound_message(kind, arg, value, error)


def _matching_branch(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """For a mapping or list failing anyOf/oneOf: the errors of the one branch of its type."""
    if error.validator not in ("anyOf", "oneOf") or not isinstance(error.instance, dict | list):
        return []
    branches: dict[int, list[jsonschema.ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    typed = [errs for errs in branches.values() if not any(e.validator == "type" and not e.relative_path for e in errs)]
    return typed[0] if len(typed) == 1 else []


def _bound_message(kind: str, arg: Any, value: Any, error: jsonschema.ValidationError) -> str:
    messages = {
        "minimum": f"must be >= {arg}, got {value!r}",
        "maximum": f"must be <= {arg}, got {value!r}",
        "exclusiveMinimum": f"must be > {arg}, got {value!r}",
        "minItems": "must not be empty",
        "minLength": "must not be empty",
        "minProperties": "must not be empty",
        "pattern": f"invalid value {value!r}",
    }
    return messages.get(kind, error.message)


def check_key(key: str) -> None:
    """A dotted scenario key (`control_plane.num_schedulers`, `workload[0].trace.limit`) names a
    key of the scenario schema; its value is not checked.

    Raises:
        ScenarioError: the first part that names no key, with the keys there are.
    """
    spec = schema()
    defs = spec.get("$defs", spec.get("definitions", {}))
    nodes = [spec]
    parts = re.sub(r"\[(\d+)\]", r".\1", key).split(".")
    for i, part in enumerate(parts):
        nodes = [n for node in nodes for n in _alternatives(node, defs)]
        if any(n.get("additionalProperties") not in (None, False) for n in nodes):
            return  # a free-form mapping (attributes, meta, overrides): any key below is data
        if part.isdigit():
            nodes = [n["items"] for n in nodes if isinstance(n.get("items"), dict)]
        else:
            names = sorted({name for n in nodes for name in n.get("properties", {})})
            nodes = [n["properties"][part] for n in nodes if part in n.get("properties", {})]
            if not nodes:
                where = ".".join(parts[:i]) or ROOT
                raise ScenarioError(key, f"unknown key {part!r} in {where}{did_you_mean(part, names)}")
        if not nodes:
            raise ScenarioError(key, f"{'.'.join(parts[:i])} is not a list")


def _alternatives(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema node and the subschemas it may be (refs resolved, oneOf/anyOf/allOf expanded)."""
    if "$ref" in node:
        return _alternatives(defs[node["$ref"].split("/")[-1]], defs)
    out = [node]
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in node.get(key, []):
            out.extend(_alternatives(sub, defs))
    return out
