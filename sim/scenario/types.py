"""The resolved scenario as frozen dataclasses (built and validated by sim.scenario.load).

Every duration is float seconds and every default is filled in, so the engine reads values, never
guesses. `Scenario.to_dict()` gives back the scenario language with all defaults explicit (job
files inlined), which `load_scenario` accepts again: it is what a run writes to its results.
Job specs stay in Nomad's JSON form (dicts); treat them as read-only.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from sim.scenario.actions import Action, action_to_dict, plain, plain_fields
from sim.scenario.distributions import Distribution

DEFAULT_DRIVERS = ("docker", "exec", "raw_exec")
DEFAULT_DISK_MB = 100 * 1024
DEFAULT_START_TIME = "2026-01-01T00:00:00Z"


def rfc3339(unix_seconds: float) -> str:
    """Unix seconds as an RFC 3339 UTC time (Z suffix)."""
    return dt.datetime.fromtimestamp(unix_seconds, dt.UTC).isoformat().replace("+00:00", "Z")


# --- cluster ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeResourcesSpec:
    """Node capacity: CPU MHz, memory MB, disk MB."""

    cpu: int
    memory: int
    disk: int = DEFAULT_DISK_MB


@dataclass(frozen=True, slots=True)
class ReservedSpec:
    """Resources the node keeps for itself; `ports` is Nomad's port spec ("22,8000-8010")."""

    cpu: int = 0
    memory: int = 0
    disk: int = 0
    ports: str = ""


@dataclass(frozen=True, slots=True)
class PortRange:
    """The node's dynamic port range (Nomad: min/max_dynamic_port)."""

    min: int = 20000
    max: int = 32000


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device group on each node of a node group: `count` instances of vendor/type/name
    (Nomad: NodeDeviceResource); `attributes` as the device plugin reports them ("80 GiB")."""

    vendor: str
    type: str
    name: str
    count: int
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """`count` identical nodes named `<name_prefix>-<i>`, i counting on from `first_index`.

    `rack` names the node field giving the node's failure domain: `meta.<key>`,
    `attr.<key>` (`attributes.<key>`), `datacenter`, `node_class` or `node_pool`.
    """

    count: int
    resources: NodeResourcesSpec
    name_prefix: str = "node"
    datacenter: str = "dc1"
    node_class: str = ""
    node_pool: str = "default"
    reserved: ReservedSpec = ReservedSpec()
    attributes: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    drivers: tuple[str, ...] = DEFAULT_DRIVERS
    port_range: PortRange = PortRange()
    rack: str | None = None
    devices: tuple[DeviceSpec, ...] = ()
    names: tuple[str, ...] | None = None  # explicit node names (a trace's), instead of prefix-index
    first_index: int = field(default=0, metadata={"derived": True})

    def node_names(self) -> list[str]:
        """The names of this group's nodes, in order."""
        if self.names is not None:
            return list(self.names)
        return [f"{self.name_prefix}-{self.first_index + i}" for i in range(self.count)]

    def rack_value(self) -> str | None:
        """The value of the field `rack` names (None without `rack` or if the field is unset)."""
        if self.rack is None:
            return None
        kind, _, key = self.rack.partition(".")
        if kind == "meta":
            return self.meta.get(key)
        if kind in ("attr", "attributes"):
            return self.attributes.get(key)
        return getattr(self, kind, None) if kind in ("datacenter", "node_class", "node_pool") else None


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """The client nodes, as groups of identical nodes."""

    nodes: tuple[NodeGroup, ...]

    def node_names(self) -> list[str]:
        """All node names, group by group."""
        return [name for group in self.nodes for name in group.node_names()]

    def next_indexes(self) -> dict[str, int]:
        """Per name prefix, the index the next node of that prefix gets."""
        out: dict[str, int] = {}
        for group in self.nodes:
            out[group.name_prefix] = max(out.get(group.name_prefix, 0), group.first_index + group.count)
        return out

    def domains(self) -> dict[str, list[str]]:
        """Failure domains (racks, then datacenters) to the names of their nodes."""
        out: dict[str, list[str]] = {}
        for key in (NodeGroup.rack_value, lambda g: g.datacenter):
            for group in self.nodes:
                value = key(group)
                if value is not None:
                    out.setdefault(value, []).extend(group.node_names())
        return out


# --- control plane ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThinkTime:
    """Scheduler think time per eval: base + per_placement × placements (seconds)."""

    base: float = 0.005
    per_placement: float = 0.0001


@dataclass(frozen=True, slots=True)
class Preemption:
    """Preemption per scheduler type (Nomad's SchedulerConfiguration defaults)."""

    system: bool = True
    batch: bool = False
    service: bool = False
    sysbatch: bool = False


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """Server knobs (durations in seconds); `policy` is an optional `module:function`."""

    num_schedulers: int = 2
    think_time: ThinkTime = ThinkTime()
    plan_apply_latency: float = 0.002
    heartbeat_ttl: float = 10.0
    heartbeat_grace: float = 10.0
    eval_delivery_limit: int = 3
    nack_timeout: float = 60.0
    scheduler_algorithm: str = "binpack"
    preemption: Preemption = Preemption()
    job_tracked_versions: int = 6
    policy: str | None = None

    def to_config(self) -> Any:
        """The server's ControlPlaneConfig with these values (other knobs at their defaults)."""
        from sim.server.config import ControlPlaneConfig

        return ControlPlaneConfig(
            num_schedulers=self.num_schedulers,
            think_time_base=self.think_time.base,
            think_time_per_placement=self.think_time.per_placement,
            plan_apply_latency=self.plan_apply_latency,
            heartbeat_ttl=self.heartbeat_ttl,
            heartbeat_grace=self.heartbeat_grace,
            eval_delivery_limit=self.eval_delivery_limit,
            eval_nack_timeout=self.nack_timeout,
            scheduler_algorithm=self.scheduler_algorithm,
            preemption=plain(self.preemption),
            job_tracked_versions=self.job_tracked_versions,
            policy=self.policy or "",
        )


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """`action` ("down", "up" or "drain") on `nodes` at `at`; drains have a `deadline`."""

    at: float
    action: str
    nodes: tuple[str, ...]
    deadline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The scenario form: {at, node_<action>, deadline}."""
        out = {"at": self.at, f"node_{self.action}": list(self.nodes)}
        return out | ({"deadline": self.deadline} if self.deadline is not None else {})


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Every node of a rack or datacenter goes `action` ("down" or "up") at `at`."""

    at: float
    action: str
    domain: str

    def to_dict(self) -> dict[str, Any]:
        """The scenario form: {at, domain_<action>}."""
        return {"at": self.at, f"domain_{self.action}": self.domain}


@dataclass(frozen=True, slots=True)
class RandomFailures:
    """Each node fails after Exp(mtbf) and recovers after Exp(mttr), between start and stop."""

    mtbf: float
    mttr: float
    start: float
    stop: float

    def to_dict(self) -> dict[str, Any]:
        """The scenario form: {random_failures: {...}}."""
        return {"random_failures": plain_fields(self)}


@dataclass(frozen=True, slots=True)
class DrainFraction:
    """Drain `fraction` of the nodes of `node_class` (all classes when None) at `at`."""

    at: float
    fraction: float
    node_class: str | None = None
    deadline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The scenario form: {at, drain_fraction: {...}}."""
        body = plain_fields(self)
        return {"at": body.pop("at"), "drain_fraction": body}


@dataclass(frozen=True, slots=True)
class AddNodes:
    """A node group joins the cluster at `at`, registered ready (its nodes are numbered on after
    the earlier nodes of their name prefix, in the order the scenario lists them)."""

    at: float
    group: NodeGroup

    def to_dict(self) -> dict[str, Any]:
        """The scenario form: {at, add_nodes: {...node group...}}."""
        return {"at": self.at, "add_nodes": plain(self.group)}


@dataclass(frozen=True, slots=True)
class RemoveNodes:
    """Nodes named `<name_prefix>-<i>` leave the cluster at `at` (deregistered): the `count`
    registered ones with the highest i (all of them when `count` is None)."""

    at: float
    name_prefix: str
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The scenario form: {at, remove_nodes: {name_prefix, count}}."""
        body = plain_fields(self)
        return {"at": body.pop("at"), "remove_nodes": body}


Event = NodeEvent | DomainEvent | RandomFailures | DrainFraction | AddNodes | RemoveNodes


# --- task behaviour and metrics -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """Glob patterns a task must match (fnmatch, case-sensitive)."""

    job: str = "*"
    group: str = "*"
    task: str = "*"
    image: str = "*"

    def matches(self, job: str, group: str, task: str, image: str | None = None) -> bool:
        """Whether the task `job/group/task` (docker `image`, if any) matches every pattern."""
        pairs = ((job, self.job), (group, self.group), (task, self.task), (image or "", self.image))
        return all(fnmatch.fnmatchcase(value, pattern) for value, pattern in pairs)


@dataclass(frozen=True, slots=True)
class TaskBehavior:
    """How matching tasks run: runtime (None: until stopped), exit code and failure modes."""

    match: Match = Match()
    runtime: Distribution | None = None
    exit_code: int = 0
    fail_after: float | None = None
    start_delay: float | None = None
    fail_health: bool = False
    crash_after: float | None = None


@dataclass(frozen=True, slots=True)
class MetricsSpec:
    """Sampling period (seconds) and the tables to keep (None: all)."""

    sample_every: float = 10.0
    tables: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class NamedSpec:
    """A namespace or node pool a scenario declares."""

    name: str
    description: str = ""
    meta: dict[str, str] = field(default_factory=dict)


# --- the scenario -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario. Times in seconds; `start_time` in Unix seconds."""

    name: str
    seed: int
    duration: float
    cluster: ClusterSpec
    start_time: float = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    control_plane: ControlPlane = ControlPlane()
    workload: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    task_behavior: tuple[TaskBehavior, ...] = ()
    metrics: MetricsSpec = MetricsSpec()
    namespaces: tuple[NamedSpec, ...] = ()
    node_pools: tuple[NamedSpec, ...] = ()
    file: str | None = field(default=None, compare=False, metadata={"derived": True})

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario in the scenario language (loadable again)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "duration": self.duration,
            "start_time": rfc3339(self.start_time),
            "cluster": plain(self.cluster),
            "control_plane": plain(self.control_plane),
            "workload": [action_to_dict(a) for a in self.workload],
            "events": [e.to_dict() for e in self.events],
            "task_behavior": [plain(b) for b in self.task_behavior],
            "metrics": plain(self.metrics),
            **{key: [plain(x) for x in value] for key, value in
               (("namespaces", self.namespaces), ("node_pools", self.node_pools)) if value},
        }

    def behavior_for(self, job: str, group: str, task: str, image: str | None = None) -> TaskBehavior | None:
        """The first task_behavior rule matching the task, or None."""
        for rule in self.task_behavior:
            if rule.match.matches(job, group, task, image):
                return rule
        return None

    def node_names(self) -> list[str]:
        """All node names."""
        return self.cluster.node_names()
