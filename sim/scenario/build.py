"""From a schema-valid scenario mapping to the frozen dataclasses of sim.scenario.types.

Builders fill in defaults, turn durations into seconds and check what the JSON Schema cannot:
value ranges that depend on each other, referenced files, node names, failure domains. Every
problem raises a ScenarioError naming the key path; sim.scenario.load adds the file and line.
The workload (job files, actions, their cross-checks) is built by sim.scenario.jobs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError, did_you_mean
from sim.metrics.schema import TABLES
from sim.scenario.distributions import Distribution, from_spec
from sim.scenario.node_traces import node_groups_from_trace
from sim.scenario.types import (
    DEFAULT_DISK_MB,
    DEFAULT_DRIVERS,
    AddNodes,
    ClusterSpec,
    ControlPlane,
    DeviceSpec,
    DomainEvent,
    DrainFraction,
    Event,
    Match,
    MetricsSpec,
    NamedSpec,
    NodeEvent,
    NodeGroup,
    NodeResourcesSpec,
    PortRange,
    Preemption,
    RandomFailures,
    RemoveNodes,
    ReservedSpec,
    TaskBehavior,
    ThinkTime,
)
from sim.structs.consts import MAX_VALID_PORT
from sim.structs.duration import parse_go_duration
from sim.structs.node import parse_port_spec

_PER_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}  # seconds in a rate's unit
_DAYS = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)d")  # days: the one unit Go's durations lack
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*/\s*(s|m|h|d)\s*$")
_RACK = re.compile(r"^(meta|attr|attributes)\.\S+$|^(datacenter|node_class|node_pool)$")
DEFAULT_DRAIN_DEADLINE = 3600.0  # Nomad's `node drain -deadline` default: 1h


def parse_duration(value: Any) -> float:
    """Seconds from "500ms", "90s", "15m", "2h", "1d", "1h30m" or a number of seconds (>= 0).

    Raises:
        ValueError: not a duration, or negative.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        if value < 0 or value != value or value == float("inf"):
            raise ValueError(f"invalid duration {value!r}: must be a finite number >= 0")
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?|\.\d+", text):
        return float(text)
    days = _DAYS.match(text)
    rest = text[days.end():] if days else text
    try:
        nanos = parse_go_duration(rest) if rest else 0
    except ValueError:
        nanos = -1
    if not text or nanos < 0:
        raise ValueError(f'invalid duration {value!r} (use e.g. "500ms", "90s", "15m", "2h", "1d" or seconds)')
    return (float(days.group(1)) * 86400.0 if days else 0.0) + nanos / 1e9


def parse_rate(value: Any) -> float:
    """Arrivals per second from a number or "N/s", "N/m", "N/h", "N/d"."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _RATE.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f'invalid rate {value!r} (use a number per second or e.g. "120/h")')
    return float(match.group(1)) / _PER_UNIT[match.group(2)]


def parse_time(value: Any) -> float:
    """Unix seconds from an RFC 3339 time with a zone ("2026-01-01T00:00:00Z")."""
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"invalid RFC 3339 time {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no zone (add Z or an offset)")
    return parsed.timestamp()


def field_value(raw: Mapping[str, Any], key: str, path: str, parse: Any, default: Any = None) -> Any:
    """`parse(raw[key])` (or of `default`), turning ValueError into a ScenarioError at path.key."""
    value = raw.get(key, default)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise ScenarioError(_key_path(path, key), str(exc)) from None


def duration(raw: Mapping[str, Any], key: str, path: str) -> float | None:
    """An optional duration field in seconds (None when absent)."""
    return field_value(raw, key, path, parse_duration)


def duration_or(raw: Mapping[str, Any], key: str, path: str, default: float) -> float:
    """A duration field in seconds, `default` when absent."""
    return _seconds(raw.get(key, default), key, path)


def required_duration(raw: Mapping[str, Any], key: str, path: str) -> float:
    """A duration field the schema requires, in seconds."""
    if key not in raw:
        raise ScenarioError(_key_path(path, key), f"required key '{key}' is missing")
    return _seconds(raw[key], key, path)


def _seconds(value: Any, key: str, path: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ScenarioError(_key_path(path, key), str(exc)) from None


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def strings(mapping: Mapping[Any, Any] | None) -> dict[str, str]:
    """Keys and values as strings (booleans as Nomad writes them: true/false)."""

    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return {str(k): text(v) for k, v in (mapping or {}).items()}


def distribution(spec: Any, path: str, seconds: bool = False) -> Distribution:
    """A Distribution; with `seconds`, string parameters are durations."""
    return from_spec(spec, path, parse_duration if seconds else None)


# --- cluster ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Context:
    """What builders need besides the mapping: where relative files live, the run length."""

    base_dir: Path
    duration: float


def build_cluster(raw: Mapping[str, Any], base_dir: Path = Path(".")) -> ClusterSpec:
    """The node groups (or a trace's node list), numbered on per name prefix so every node name is unique."""
    next_index: dict[str, int] = {}
    groups = []
    for i, group_raw in enumerate(raw["nodes"]):
        if "from_trace" in group_raw:
            groups += node_groups_from_trace(group_raw["from_trace"], f"cluster.nodes[{i}].from_trace", base_dir)
            continue
        group = build_node_group(group_raw, f"cluster.nodes[{i}]", next_index)
        if group.names is None:  # explicitly named nodes take no numbers
            next_index[group.name_prefix] = group.first_index + group.count
        groups.append(group)
    seen: set[str] = set()
    for name in (n for g in groups for n in g.node_names()):
        if name in seen:
            raise ScenarioError("cluster.nodes", f"node name {name!r} is used twice")
        seen.add(name)
    return ClusterSpec(tuple(groups))


def build_node_group(raw: Mapping[str, Any], path: str, next_index: dict[str, int]) -> NodeGroup:
    """One node group with defaults; reserved must fit in resources."""
    res = raw["resources"]
    resources = NodeResourcesSpec(res["cpu"], res["memory"], res.get("disk", DEFAULT_DISK_MB))
    reserved = _reserved(raw.get("reserved") or {}, f"{path}.reserved")
    for key in ("cpu", "memory", "disk"):
        if getattr(reserved, key) > getattr(resources, key):
            raise ScenarioError(f"{path}.reserved.{key}", f"reserved {key} ({getattr(reserved, key)}) exceeds resources.{key} ({getattr(resources, key)})")
    ports = PortRange(**(raw.get("port_range") or {}))
    if ports.min > ports.max:
        raise ScenarioError(f"{path}.port_range.max", f"max ({ports.max}) must be >= min ({ports.min})")
    prefix = raw.get("name_prefix", "node")
    group = NodeGroup(
        count=raw["count"], resources=resources, name_prefix=prefix,
        datacenter=raw.get("datacenter", "dc1"), node_class=raw.get("node_class", ""),
        node_pool=raw.get("node_pool", "default"), reserved=reserved,
        attributes=strings(raw.get("attributes")), meta=strings(raw.get("meta")),
        drivers=tuple(raw.get("drivers", DEFAULT_DRIVERS)), port_range=ports,
        rack=raw.get("rack"), devices=_devices(raw.get("devices") or [], f"{path}.devices"),
        names=_names(raw, path), first_index=next_index.get(prefix, 0) if "names" not in raw else 0,
    )
    _check_rack(group, f"{path}.rack")
    return group


def _devices(raw: list[Mapping[str, Any]], path: str) -> tuple[DeviceSpec, ...]:
    """The node group's device groups; two groups may not share vendor/type/name (Nomad's device ID)."""
    out: list[DeviceSpec] = []
    for i, d in enumerate(raw):
        spec = DeviceSpec(d["vendor"], d["type"], d["name"], d["count"], strings(d.get("attributes")))
        if any((o.vendor, o.type, o.name) == (spec.vendor, spec.type, spec.name) for o in out):
            raise ScenarioError(f"{path}[{i}]", f"device {spec.vendor}/{spec.type}/{spec.name} is listed twice")
        out.append(spec)
    return tuple(out)


def _names(raw: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
    """Explicit node names: as many as `count`."""
    names = raw.get("names")
    if names is None:
        return None
    if len(names) != raw["count"]:
        raise ScenarioError(f"{path}.names", f"{len(names)} names for count {raw['count']}")
    return tuple(names)


def _reserved(raw: Mapping[str, Any], path: str) -> ReservedSpec:
    ports = str(raw.get("ports", ""))
    try:
        values = parse_port_spec(ports)
    except ValueError as exc:
        raise ScenarioError(f"{path}.ports", f"invalid port spec {ports!r}: {exc}") from None
    if values and (values[0] < 1 or values[-1] >= MAX_VALID_PORT):
        raise ScenarioError(f"{path}.ports", f"ports must be in 1-{MAX_VALID_PORT - 1}: {ports!r}")
    return ReservedSpec(raw.get("cpu", 0), raw.get("memory", 0), raw.get("disk", 0), ports)


def _check_rack(group: NodeGroup, path: str) -> None:
    if group.rack is None:
        return
    if not _RACK.match(group.rack):
        raise ScenarioError(path, f"invalid rack field {group.rack!r}: use meta.<key>, attr.<key>, datacenter, node_class or node_pool")
    if not group.rack_value():
        raise ScenarioError(path, f"the group's nodes have no value for {group.rack!r}")


# --- control plane, behaviour, metrics ----------------------------------------------------------


def build_control_plane(raw: Mapping[str, Any]) -> ControlPlane:
    """Control-plane knobs with Nomad's defaults."""
    path = "control_plane"
    think = raw.get("think_time") or {}
    d = ControlPlane()
    return ControlPlane(
        num_schedulers=raw.get("num_schedulers", d.num_schedulers),
        think_time=ThinkTime(
            duration_or(think, "base", f"{path}.think_time", d.think_time.base),
            duration_or(think, "per_placement", f"{path}.think_time", d.think_time.per_placement),
        ),
        plan_apply_latency=duration_or(raw, "plan_apply_latency", path, d.plan_apply_latency),
        heartbeat_ttl=duration_or(raw, "heartbeat_ttl", path, d.heartbeat_ttl),
        heartbeat_grace=duration_or(raw, "heartbeat_grace", path, d.heartbeat_grace),
        eval_delivery_limit=raw.get("eval_delivery_limit", d.eval_delivery_limit),
        nack_timeout=duration_or(raw, "nack_timeout", path, d.nack_timeout),
        scheduler_algorithm=raw.get("scheduler_algorithm", d.scheduler_algorithm),
        preemption=Preemption(**(raw.get("preemption") or {})),
        job_tracked_versions=raw.get("job_tracked_versions", d.job_tracked_versions),
        policy=raw.get("policy"),
    )


def build_behavior(raw: Mapping[str, Any], path: str) -> TaskBehavior:
    """One task_behavior rule; a plain duration runtime becomes a constant distribution."""
    runtime = raw.get("runtime")
    return TaskBehavior(
        match=Match(**(raw.get("match") or {})),
        runtime=None if runtime is None else distribution(runtime, f"{path}.runtime", seconds=True),
        exit_code=raw.get("exit_code", 0),
        fail_after=duration(raw, "fail_after", path),
        start_delay=duration(raw, "start_delay", path),
        fail_health=raw.get("fail_health", False),
        crash_after=duration(raw, "crash_after", path),
    )


def build_metrics(raw: Mapping[str, Any]) -> MetricsSpec:
    """Metrics sampling; the period must be positive."""
    every = duration_or(raw, "sample_every", "metrics", 10.0)
    if every <= 0:
        raise ScenarioError("metrics.sample_every", "must be greater than zero")
    tables = raw.get("tables")
    for i, name in enumerate(tables or []):
        if name not in TABLES:
            raise ScenarioError(f"metrics.tables[{i}]", f"unknown table {name!r}{did_you_mean(name, TABLES)} "
                                                         f"(tables: {', '.join(TABLES)})")
    return MetricsSpec(every, None if tables is None else tuple(tables))


def build_named(raw: list[Mapping[str, Any]], key: str, reserved: tuple[str, ...]) -> tuple[NamedSpec, ...]:
    """Declared namespaces or node pools: unique names, none of the built-in ones in `reserved`."""
    out: list[NamedSpec] = []
    for i, item in enumerate(raw):
        name = item["name"]
        if name in reserved:
            raise ScenarioError(f"{key}[{i}].name", f"{name!r} is built in and cannot be declared")
        if key == "namespaces" and "_" in name:  # Nomad: validNamespaceName has no '_'
            raise ScenarioError(f"{key}[{i}].name", f"invalid namespace name {name!r}: use letters, digits and '-'")
        if any(spec.name == name for spec in out):
            raise ScenarioError(f"{key}[{i}].name", f"{name!r} is declared twice")
        out.append(NamedSpec(name, item.get("description", ""), strings(item.get("meta"))))
    return tuple(out)


# --- events -------------------------------------------------------------------------------------

_EVENT_KINDS = ("node_down", "node_up", "node_drain", "domain_down", "domain_up", "random_failures", "drain_fraction",
                "add_nodes", "remove_nodes")


def build_event(raw: Mapping[str, Any], path: str, ctx: Context, cluster: ClusterSpec, names: set[str]) -> Event:
    """One node event, checked against the cluster's node names, domains and classes."""
    kind = next(k for k in _EVENT_KINDS if k in raw)
    if "deadline" in raw and kind != "node_drain":
        raise ScenarioError(f"{path}.deadline", f"deadline applies to node_drain only, not {kind}")
    if kind == "random_failures":
        return _random_failures(raw, path, ctx)
    if "at" not in raw:
        raise ScenarioError(f"{path}.at", f"required key 'at' is missing for {kind}")
    at = required_duration(raw, "at", path)
    if kind.startswith("node_"):
        nodes = _node_names(raw[kind], f"{path}.{kind}", names)
        deadline = duration_or(raw, "deadline", path, DEFAULT_DRAIN_DEADLINE) if kind == "node_drain" else None
        return NodeEvent(at, kind.removeprefix("node_"), nodes, deadline)
    if kind == "remove_nodes":
        return _remove_nodes(raw[kind], f"{path}.{kind}", at, cluster)
    if kind.startswith("domain_"):
        domains = cluster.domains()
        if raw[kind] not in domains:
            raise ScenarioError(f"{path}.{kind}", f"no rack or datacenter named {raw[kind]!r}{did_you_mean(raw[kind], domains)}")
        return DomainEvent(at, kind.removeprefix("domain_"), raw[kind])
    return _drain_fraction(raw[kind], f"{path}.{kind}", at, cluster)


def _node_names(value: Any, path: str, names: set[str]) -> tuple[str, ...]:
    nodes = (value,) if isinstance(value, str) else tuple(value)
    for i, node in enumerate(nodes):
        if node not in names:
            where = path if isinstance(value, str) else f"{path}[{i}]"
            raise ScenarioError(where, f"no node named {node!r}{did_you_mean(node, sorted(names))}")
    return nodes


def _random_failures(raw: Mapping[str, Any], path: str, ctx: Context) -> RandomFailures:
    body, sub = raw["random_failures"], f"{path}.random_failures"
    start = duration_or(body, "start", sub, duration_or(raw, "at", path, 0.0))
    stop = duration_or(body, "stop", sub, ctx.duration)
    mtbf = required_duration(body, "mtbf", sub)
    if mtbf <= 0:
        raise ScenarioError(f"{sub}.mtbf", "must be greater than zero")
    if stop < start:
        raise ScenarioError(f"{sub}.stop", f"stop ({stop:g}s) is before start ({start:g}s)")
    return RandomFailures(mtbf, required_duration(body, "mttr", sub), start, stop)


def _drain_fraction(body: Mapping[str, Any], path: str, at: float, cluster: ClusterSpec) -> DrainFraction:
    node_class = body.get("node_class")
    classes = sorted({g.node_class for g in cluster.nodes})
    if node_class is not None and node_class not in classes:
        raise ScenarioError(f"{path}.node_class", f"no node group has node_class {node_class!r}{did_you_mean(node_class, classes)}")
    deadline = duration_or(body, "deadline", path, DEFAULT_DRAIN_DEADLINE)
    return DrainFraction(at, body["fraction"], node_class, deadline)


def _remove_nodes(body: Mapping[str, Any], path: str, at: float, cluster: ClusterSpec) -> RemoveNodes:
    prefix = body["name_prefix"]
    prefixes = sorted({g.name_prefix for g in cluster.nodes})
    if prefix not in prefixes:
        raise ScenarioError(f"{path}.name_prefix", f"no node group (in cluster.nodes or add_nodes) has name_prefix {prefix!r}{did_you_mean(prefix, prefixes)}")
    return RemoveNodes(at, prefix, body.get("count"))


def build_events(raw: list[Mapping[str, Any]], ctx: Context, cluster: ClusterSpec) -> tuple[Event, ...]:
    """All events, in the order written. Node groups of `add_nodes` events are numbered on after
    the cluster's (in the order written) and their node names count as known to other events."""
    next_index = cluster.next_indexes()
    added: dict[int, AddNodes] = {}
    for i, item in enumerate(raw):
        if "add_nodes" in item:
            path = f"events[{i}]"
            if "deadline" in item:
                raise ScenarioError(f"{path}.deadline", "deadline applies to node_drain only, not add_nodes")
            group = build_node_group(item["add_nodes"], f"{path}.add_nodes", next_index)
            next_index[group.name_prefix] = group.first_index + group.count
            added[i] = AddNodes(required_duration(item, "at", path), group)
    grown = ClusterSpec(cluster.nodes + tuple(a.group for a in added.values()))
    names = set(grown.node_names())
    return tuple(added[i] if i in added else build_event(item, f"events[{i}]", ctx, grown, names)
                 for i, item in enumerate(raw))


def read_json(path: Path, key: str) -> Any:
    """A JSON file's content; a missing or malformed file is a ScenarioError at `key`."""
    if not path.is_file():
        raise ScenarioError(key, f"file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(key, f"invalid JSON in {path}: {exc}") from None
