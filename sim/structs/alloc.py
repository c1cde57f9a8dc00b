"""Allocations, their task states and the scheduler's metrics of a placement.

Nomad: nomad/structs/alloc.go, structs.go (TaskState, TaskEvent, RescheduleTracker, AllocMetric).
Times are simulated seconds inside; the API layer turns them into Nomad's Unix nanoseconds.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, cast

from sim.structs.consts import (
    ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_PENDING,
    ALLOC_DESIRED_RUN,
    CLIENT_TERMINAL,
    SERVER_TERMINAL,
)
from sim.structs.devices import AllocatedDevice
from sim.structs.networks import AllocatedNetwork

if TYPE_CHECKING:
    from sim.structs.job import Job
    from sim.structs.node import Node


@dataclass(slots=True)
class TaskEvent:
    """Nomad: structs.TaskEvent (only the fields the simulator produces)."""

    type: str
    time: float
    message: str = ""
    exit_code: int = 0
    restart_reason: str = ""
    fails_task: bool = False
    start_delay: float = 0.0


@dataclass(slots=True)
class TaskState:
    """Nomad: structs.TaskState."""

    state: str = "pending"
    failed: bool = False
    restarts: int = 0
    last_restart: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    events: list[TaskEvent] = field(default_factory=list)


@dataclass(slots=True)
class RescheduleEvent:
    """Nomad: structs.RescheduleEvent. `delay` in seconds."""

    reschedule_time: float
    prev_alloc_id: str
    prev_node_id: str
    delay: float


@dataclass(slots=True)
class DesiredTransition:
    """Nomad: structs.DesiredTransition: server-to-scheduler hints on an alloc."""

    migrate: bool = False
    reschedule: bool = False
    force_reschedule: bool = False


@dataclass(slots=True)
class AllocDeploymentStatus:
    """Nomad: structs.AllocDeploymentStatus. `healthy` None means not yet known."""

    healthy: bool | None = None
    timestamp: float = 0.0
    canary: bool = False
    modify_index: int = 0


@dataclass(slots=True)
class NodeScoreMeta:
    """Nomad: structs.NodeScoreMeta."""

    node_id: str
    scores: dict[str, float]
    norm_score: float


class ScoreLayout:
    """What the compact score rows of a metric hold (see AllocMetric.set_top_scores).

    `scorers` are Nomad's scorer names in the order of its per-scorer map, each with None when
    every row stores its own value, or the constant that every node scored. A row is the node's
    NormScore followed by its stored values, in that order. Layouts are shared, never changed.
    """

    __slots__ = ("scorers", "width")

    def __init__(self, scorers: tuple[tuple[str, float | None], ...]) -> None:
        self.scorers = scorers
        self.width = 1 + sum(1 for _, constant in scorers if constant is None)

    def build(self, node_ids: Sequence[str], values: Sequence[float]) -> list[NodeScoreMeta]:
        """The rows as Nomad's NodeScoreMeta list."""
        out: list[NodeScoreMeta] = []
        width, scorers = self.width, self.scorers
        for i, node_id in enumerate(node_ids):
            at = i * width
            stored = iter(values[at + 1 : at + width])
            scores = {name: next(stored) if constant is None else constant for name, constant in scorers}
            out.append(NodeScoreMeta(node_id, scores, values[at]))
        return out


_DOUBLES: dict[int, struct.Struct] = {}


def _doubles(n: int) -> struct.Struct:
    """The packing of n float64 values (exact: -0.0, infinities and every bit kept)."""
    packing = _DOUBLES.get(n)
    if packing is None:
        packing = _DOUBLES[n] = struct.Struct(f"{n}d")
    return packing


# Fields of AllocMetric that start out as empty containers: none is allocated until first used.
_CONTAINERS: dict[str, type] = {
    "nodes_available": dict, "class_filtered": dict, "constraint_filtered": dict, "class_exhausted": dict,
    "dimension_exhausted": dict, "quota_exhausted": list, "resources_exhausted": dict,
}


_MADE = tuple(name for name in _CONTAINERS if name != "nodes_available") + ("score_meta_data",)
_NO_CONTAINERS = (None,) * len(_MADE)
_BIT = {name: 1 << i for i, name in enumerate((*_MADE, "nodes_available"))}  # AllocMetric._made's bits
_MADE_BITS = tuple((name, _BIT[name]) for name in _MADE)
_BIT_DIMENSION, _BIT_CONSTRAINT = _BIT["dimension_exhausted"], _BIT["constraint_filtered"]


@dataclass(slots=True, init=False)
class AllocMetric:
    """Nomad: structs.AllocMetric: what the scheduler saw while placing one alloc.

    Kept compact, as every placed alloc holds one for the rest of the run: a map or list field
    holds no object until first read or written (reading one creates it, empty, as a field of
    Nomad's struct would be), and the top scores a scan leaves (`set_top_scores`) stay packed
    until `score_meta_data` is first read. Readers that only look (the API encoder, the results
    tables) use `peek` and `top_scores`, which create nothing. `nodes_available` may be shared
    between the metrics of one set of candidate nodes: replace it, never change it in place.
    The defaults below are the fields' values as read; the constructor allocates no container.
    """

    nodes_evaluated: int = 0
    nodes_filtered: int = 0
    nodes_in_pool: int = 0
    node_pool: str = ""
    nodes_available: dict[str, int] = field(default_factory=dict)
    class_filtered: dict[str, int] = field(default_factory=dict)
    constraint_filtered: dict[str, int] = field(default_factory=dict)
    nodes_exhausted: int = 0
    class_exhausted: dict[str, int] = field(default_factory=dict)
    dimension_exhausted: dict[str, int] = field(default_factory=dict)
    quota_exhausted: list[str] = field(default_factory=list)
    resources_exhausted: dict[str, dict[str, int]] = field(default_factory=dict)
    score_meta_data: list[NodeScoreMeta] = field(default_factory=list)
    allocation_time: int = 0  # nanoseconds of scheduler time spent (simulated)
    coalesced_failures: int = 0
    # The top scores while `score_meta_data` is not created: () none yet, or packed as
    # (layout, float64 values as bytes, node ID, ...); None once the list holds them.
    _top: tuple[object, ...] | None = field(default=None, init=False, repr=False, compare=False)
    # Which container fields were created or given, a bit each (`_BIT`; 0: none): containers are
    # created through reads or given, never assigned.
    _made: int = field(default=0, init=False, repr=False, compare=False)

    def __init__(
        self, nodes_evaluated: int = 0, nodes_filtered: int = 0, nodes_in_pool: int = 0, node_pool: str = "",
        nodes_available: dict[str, int] | None = None, class_filtered: dict[str, int] | None = None,
        constraint_filtered: dict[str, int] | None = None, nodes_exhausted: int = 0,
        class_exhausted: dict[str, int] | None = None, dimension_exhausted: dict[str, int] | None = None,
        quota_exhausted: list[str] | None = None, resources_exhausted: dict[str, dict[str, int]] | None = None,
        score_meta_data: list[NodeScoreMeta] | None = None, allocation_time: int = 0, coalesced_failures: int = 0,
    ) -> None:
        self.nodes_evaluated, self.nodes_filtered, self.nodes_in_pool = nodes_evaluated, nodes_filtered, nodes_in_pool
        self.node_pool, self.nodes_exhausted = node_pool, nodes_exhausted
        self.allocation_time, self.coalesced_failures = allocation_time, coalesced_failures
        self._top = ()
        given = (class_filtered, constraint_filtered, class_exhausted, dimension_exhausted, quota_exhausted,
                 resources_exhausted, score_meta_data)
        self._made = 0 if given == _NO_CONTAINERS else sum(
            bit for (_, bit), value in zip(_MADE_BITS, given, strict=True) if value is not None)
        # containers given stay as given (the caller's object); absent ones are created on first use
        if nodes_available is not None:
            self.nodes_available = nodes_available
        if class_filtered is not None:
            self.class_filtered = class_filtered
        if constraint_filtered is not None:
            self.constraint_filtered = constraint_filtered
        if class_exhausted is not None:
            self.class_exhausted = class_exhausted
        if dimension_exhausted is not None:
            self.dimension_exhausted = dimension_exhausted
        if quota_exhausted is not None:
            self.quota_exhausted = quota_exhausted
        if resources_exhausted is not None:
            self.resources_exhausted = resources_exhausted
        if score_meta_data is not None:
            self.score_meta_data, self._top = score_meta_data, None

    @classmethod
    def of_scan(cls, nodes_evaluated: int, nodes_in_pool: int, node_pool: str, nodes_available: dict[str, int]) -> AllocMetric:
        """`AllocMetric(nodes_evaluated, 0, nodes_in_pool, node_pool, nodes_available)`, the metric
        a select starts."""
        return cls.of_scans([nodes_evaluated], nodes_in_pool, node_pool, nodes_available)[0]

    @classmethod
    def of_scans(
        cls, evaluated: list[int], nodes_in_pool: int, node_pool: str, nodes_available: dict[str, int]
    ) -> list[AllocMetric]:
        """`of_scan` of each count in `evaluated` (the selects of a run; the fields set one by
        one: the constructor's keywords cost more)."""
        new, out = cls.__new__, []
        for count in evaluated:
            metric = new(cls)
            metric.nodes_evaluated, metric.nodes_in_pool, metric.node_pool = count, nodes_in_pool, node_pool
            metric.nodes_available = nodes_available
            metric.nodes_filtered = metric.nodes_exhausted = metric.allocation_time = metric.coalesced_failures = 0
            metric._top, metric._made = (), 0
            out.append(metric)
        return out

    @staticmethod
    def set_all_top_scores(
        metrics: list[AllocMetric], layout: ScoreLayout, node_ids: Sequence[Sequence[str]],
        values: Sequence[Sequence[float]],
    ) -> None:
        """`set_top_scores` of each metric with its node IDs and values, in one loop."""
        for metric, ids, rows in zip(metrics, node_ids, values, strict=True):
            if not ids:
                continue
            if metric._top != ():
                metric.set_top_scores(layout, ids, rows)
            else:
                metric._top = (layout, _doubles(len(rows)).pack(*rows), *ids)

    if not TYPE_CHECKING:  # (kept from mypy: it would type every unknown attribute as Any)

        def __getattr__(self, name: str) -> Any:
            """First use of a container field: create it (the score list from the packed rows)."""
            make = _CONTAINERS.get(name)
            if make is not None:
                value = make()
            elif name == "score_meta_data":
                value = self.top_scores() if self._top else []
                self._top = None
            else:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            setattr(self, name, value)
            self._made |= _BIT[name]
            return value

    def peek(self, name: str) -> Any:
        """A field's value as is: None for a container never used (nothing is created)."""
        try:
            return object.__getattribute__(self, name)
        except AttributeError:
            return None

    def made_any(self) -> bool:
        """Whether any container field was ever created or given (else all are empty)."""
        return self._made != 0

    def made(self) -> dict[str, Any]:
        """The container fields created or given so far, nodes_available aside (whose value
        `peek` gives), by name; a metric whose containers were never used has none."""
        made = self._made
        if not made:
            return {}
        return {name: getattr(self, name) for name, bit in _MADE_BITS if made & bit}

    def set_top_scores(self, layout: ScoreLayout, node_ids: Sequence[str], values: Sequence[float]) -> None:
        """Nomad: PopulateScoreMetaData, packed: the nodes' rows as `layout` says, best first.

        `score_meta_data` builds Nomad's NodeScoreMeta list from them when first read. (A metric
        whose list was assigned rather than read or given to the constructor takes no rows.)
        """
        if not node_ids:
            return
        if self._top != ():  # scores already there (packed, or the list): add these
            self.score_meta_data.extend(layout.build(node_ids, values))
            return
        self._top = (layout, _doubles(len(values)).pack(*values), *node_ids)

    def top_scores(self) -> list[NodeScoreMeta]:
        """`score_meta_data` without keeping what it builds (a new list when the rows are packed)."""
        current: list[NodeScoreMeta] | None = self.peek("score_meta_data")
        if current is not None:  # created, given or assigned: the list is the field
            return current
        top = self._top
        if not top:
            return []
        layout, packed = top[0], top[1]
        assert isinstance(layout, ScoreLayout) and isinstance(packed, bytes)
        node_ids = cast("tuple[str, ...]", top[2:])
        return layout.build(node_ids, _doubles(len(packed) // 8).unpack(packed))

    def packed(self) -> tuple[dict[str, Any], tuple[ScoreLayout, bytes, tuple[str, ...]] | None]:
        """(`made`, the top scores as `set_top_scores` packed them: (layout, float64 values as
        bytes, node IDs), or None when there are none or `score_meta_data` holds them)."""
        made = self.made()
        top = self._top
        if not top:
            return made, None
        layout, packed = top[0], top[1]
        assert isinstance(layout, ScoreLayout) and isinstance(packed, bytes)
        return made, (layout, packed, cast("tuple[str, ...]", top[2:]))

    def restore_top(self, layout: ScoreLayout, packed: bytes, node_ids: Sequence[str]) -> None:
        """Set top scores packed as `packed` gives them, on a metric with none yet."""
        self._top = (layout, packed, *node_ids)

    def add_misses(self, exhausted: bool, counts: dict[str, int], total: int) -> None:
        """`total` more nodes exhausted (else filtered), their dimensions (else constraints)
        counted in `counts`, added in its order: the metric adopts `counts` as the map when it
        has none yet (the caller gives up `counts`)."""
        if exhausted:
            self.nodes_exhausted += total
            name, bit = "dimension_exhausted", _BIT_DIMENSION
        else:
            self.nodes_filtered += total
            name, bit = "constraint_filtered", _BIT_CONSTRAINT
        if not self._made & bit:
            setattr(self, name, counts)
            self._made |= bit
            return
        current = getattr(self, name)
        for key, n in counts.items():
            current[key] = current.get(key, 0) + n

    def exhausted_node(self, node_class: str, dimension: str) -> None:
        """Nomad: AllocMetric.ExhaustedNode."""
        self.nodes_exhausted += 1
        if node_class:
            self.class_exhausted[node_class] = self.class_exhausted.get(node_class, 0) + 1
        if dimension:
            self.dimension_exhausted[dimension] = self.dimension_exhausted.get(dimension, 0) + 1

    def filter_node(self, node_class: str, reason: str) -> None:
        """Nomad: AllocMetric.FilterNode."""
        self.nodes_filtered += 1
        if node_class:
            self.class_filtered[node_class] = self.class_filtered.get(node_class, 0) + 1
        if reason:
            self.constraint_filtered[reason] = self.constraint_filtered.get(reason, 0) + 1


class _NoItems(list):  # type: ignore[type-arg]
    """The empty list every alloc shares until the field is replaced (never changed in place)."""

    __slots__ = ()

    def _shared(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a shared empty list of an allocation: assign a new list instead")

    append = extend = insert = remove = pop = clear = sort = reverse = _shared
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _shared  # type: ignore[assignment]


class _NoKeys(dict):  # type: ignore[type-arg]
    """The empty dict every alloc shares until the field is replaced (never changed in place)."""

    __slots__ = ()

    def _shared(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a shared empty dict of an allocation: assign a new dict instead")

    __setitem__ = __delitem__ = __ior__ = update = setdefault = pop = popitem = clear = _shared  # type: ignore[assignment]


_NO_ITEMS: Any = _NoItems()  # (typed Any: it stands for any empty list)
_NO_KEYS: Any = _NoKeys()


@dataclass(slots=True)
class Allocation:
    """Nomad: structs.Allocation. `job` is the job version the alloc runs.

    Every alloc lives for the rest of the run, so the fields that are empty for most allocs and
    only ever replaced (reschedule tracker, extra) share one empty value until they are given or
    assigned one: assign a new list or dict rather than changing the shared one (which raises).
    """

    id: str
    namespace: str
    eval_id: str
    name: str
    node_id: str
    node_name: str
    job_id: str
    job: Job
    task_group: str
    cpu: int = 0  # the group's total ask, as the scheduler reserved it
    memory_mb: int = 0
    disk_mb: int = 0
    ports: list[tuple[str, int]] = field(default_factory=list)  # (label, host port)
    devices: tuple[AllocatedDevice, ...] = ()  # AllocatedResources.Tasks[task].Devices, flattened
    networks: tuple[AllocatedNetwork, ...] = ()  # AllocatedResources.Tasks[task].Networks (task networks)
    desired_status: str = ALLOC_DESIRED_RUN
    desired_description: str = ""
    desired_transition: DesiredTransition = field(default_factory=DesiredTransition)
    client_status: str = ALLOC_CLIENT_PENDING
    client_description: str = ""
    task_states: dict[str, TaskState] = field(default_factory=dict)
    deployment_id: str = ""
    deployment_status: AllocDeploymentStatus | None = None
    previous_allocation: str = ""
    next_allocation: str = ""
    reschedule_tracker: list[RescheduleEvent] = field(default_factory=lambda: _NO_ITEMS)
    last_reschedule: str = ""  # RescheduleTracker.LastReschedule: "", "ok" or "no placement"
    followup_eval_id: str = ""
    preempted_allocations: list[str] | None = None  # the allocs this placement preempted
    preempted_by_allocation: str = ""  # the alloc whose placement preempted this one
    metrics: AllocMetric | None = None
    score: float = 0.0
    create_index: int = 0
    modify_index: int = 0
    alloc_modify_index: int = 0
    create_time: float = 0.0
    modify_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=lambda: _NO_KEYS)
    _name_index: int = field(default=-2, init=False, repr=False, compare=False)  # index() cache

    def server_terminal(self) -> bool:
        """Nomad: Allocation.ServerTerminalStatus."""
        return self.desired_status in SERVER_TERMINAL

    def client_terminal(self) -> bool:
        """Nomad: Allocation.ClientTerminalStatus."""
        return self.client_status in CLIENT_TERMINAL

    def terminal(self) -> bool:
        """Nomad: Allocation.TerminalStatus."""
        return self.desired_status in SERVER_TERMINAL or self.client_status in CLIENT_TERMINAL

    def index(self) -> int:
        """Nomad: Allocation.Index: the number between the brackets of the name."""
        idx = self._name_index
        if idx == -2:
            lb = self.name.rfind("[")
            idx = self._name_index = int(self.name[lb + 1 : -1]) if lb >= 0 else -1
        return idx

    def is_canary(self) -> bool:
        """Whether the deployment placed this alloc as a canary."""
        return self.deployment_status is not None and self.deployment_status.canary

    def is_healthy(self) -> bool:
        """Nomad: AllocDeploymentStatus.IsHealthy."""
        return self.deployment_status is not None and self.deployment_status.healthy is True

    def is_unhealthy(self) -> bool:
        """Nomad: AllocDeploymentStatus.IsUnhealthy."""
        return self.deployment_status is not None and self.deployment_status.healthy is False

    def ran_successfully(self) -> bool:
        """Nomad: Allocation.RanSuccessfully (batch: every task finished without failing)."""
        if self.client_status != ALLOC_CLIENT_COMPLETE:
            return False
        return all(not ts.failed for ts in self.task_states.values())

    def failed_or_lost(self) -> bool:
        """Client failed or lost."""
        return self.client_status in (ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST)

    def finished_at(self) -> float:
        """Latest task FinishedAt, or ModifyTime (Nomad: Allocation.LastEventTime)."""
        times = [ts.finished_at for ts in self.task_states.values() if ts.finished_at is not None]
        return max(times) if times else self.modify_time


_PLACED = ("id", "namespace", "eval_id", "name", "node_id", "node_name", "job_id", "job", "task_group", "cpu",
           "memory_mb", "disk_mb", "ports", "metrics", "score", "deployment_id")  # what `placed_allocs` is given
PlacedAllocs = Callable[
    [Iterable[str], Iterable[str], Iterable["Node"], Iterable[list[tuple[str, int]]], Iterable[AllocMetric],
     Iterable[float], str, str, str, "Job", str, int, int, int, str],
    list[Allocation],
]


def _placer() -> PlacedAllocs:
    """`placed_allocs`: straight-line slot writes on bare instances in one loop (no `__init__`
    call per alloc), generated from the fields as dataclasses generates `__init__`: a default
    is written as is, a factory called per alloc unless it always gives the same object (the
    shared empty values), which is then written as is."""
    namespace: dict[str, Any] = {"_new": object.__new__, "Allocation": Allocation}
    lines = []
    for f in fields(Allocation):
        if f.name in ("node_id", "node_name"):
            value = f"node.{f.name[5:]}"
        elif f.name in _PLACED:
            value = {"id": "alloc_id", "name": "name", "ports": "offered", "metrics": "metric", "score": "score",
                     "task_group": "group", "memory_mb": "mem", "disk_mb": "disk"}.get(f.name, f.name)
        elif f.default_factory is not MISSING:
            made = f.default_factory
            shared = made() is made()
            value = f"_v_{f.name}" if shared else "{}" if made is dict else "[]" if made is list else f"_f_{f.name}()"
            namespace[f"_v_{f.name}" if shared else f"_f_{f.name}"] = made() if shared else made
        else:
            value = f"_v_{f.name}"
            namespace[value] = f.default
        lines.append(f"        a.{f.name} = {value}\n")
    missing = set(_PLACED) - {f.name for f in fields(Allocation)}
    assert not missing and all(f.init or f.default is not MISSING for f in fields(Allocation))
    exec(
        "def placed_allocs(alloc_ids, names, nodes, ports, metrics, scores, namespace, eval_id, job_id, job, group,"
        " cpu, mem, disk, deployment_id):\n"
        "    out = []\n"
        "    for alloc_id, name, node, offered, metric, score in zip(alloc_ids, names, nodes, ports, metrics, scores,"
        " strict=True):\n"
        "        a = _new(Allocation)\n"
        f"{''.join(lines)}"
        "        out.append(a)\n"
        "    return out\n",
        namespace,
    )
    placed: PlacedAllocs = namespace["placed_allocs"]
    return placed


placed_allocs = _placer()
"""placed_allocs(alloc_ids, names, nodes, ports, metrics, scores, namespace, eval_id, job_id, job, group, cpu, mem,
disk, deployment_id): per pick, `Allocation(alloc_id, namespace, eval_id, name, node.id, node.name, job_id, job,
group, cpu, mem, disk, offered, metrics=metric, score=score, deployment_id=deployment_id)`, at a fraction of
the cost (the new allocs of a run of selects)."""
