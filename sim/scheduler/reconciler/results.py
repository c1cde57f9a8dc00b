"""What the reconciler decides, and the state it carries from one task group to the next.

Nomad: scheduler/reconciler/reconcile_cluster.go (ReconcileResults, ReconcilerState,
ClusterState) and allocs.go (AllocPlaceResult, allocDestructiveResult, AllocStopResult).
The public classes are re-exported by sim.scheduler.reconciler.cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from sim.scheduler.reconciler.names import MissingNames
from sim.structs.alloc import Allocation
from sim.structs.deployment import Deployment, DeploymentStatusUpdate
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job, TaskGroup
from sim.structs.node import Node
from sim.structs.plan import DesiredUpdates

AllocUpdateFn = Callable[[Allocation, Job, TaskGroup], tuple[bool, bool, Allocation | None]]
"""(existing, new_job, new_tg) -> (ignore, destructive, updated_alloc_for_inplace).

Nomad: reconciler.AllocUpdateType.
"""


@dataclass(slots=True)
class PlacementRequest:
    """One alloc to place. Nomad: AllocPlaceResult."""

    name: str  # "<job>.<group>[<index>]"
    task_group: TaskGroup
    canary: bool = False
    previous_alloc: Allocation | None = None
    reschedule: bool = False
    lost: bool = False
    downgrade_non_canary: bool = False
    min_job_version: int = 0


class MissingPlacements(Sequence[PlacementRequest]):
    """New allocs for a group's missing names: plain PlacementRequests, made on demand.

    Nomad: the AllocPlaceResults computePlacements makes from nameIndex.Next(missing).
    """

    __slots__ = ("names", "task_group", "downgrade_non_canary")

    def __init__(self, names: MissingNames, task_group: TaskGroup, downgrade_non_canary: bool) -> None:
        self.names, self.task_group, self.downgrade_non_canary = names, task_group, downgrade_non_canary

    def _request(self, name: str) -> PlacementRequest:
        return PlacementRequest(name, self.task_group, downgrade_non_canary=self.downgrade_non_canary)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[PlacementRequest]:
        return map(self._request, self.names)

    @overload
    def __getitem__(self, key: int) -> PlacementRequest: ...

    @overload
    def __getitem__(self, key: slice) -> Sequence[PlacementRequest]: ...

    def __getitem__(self, key: int | slice) -> PlacementRequest | Sequence[PlacementRequest]:
        if isinstance(key, slice):
            names = self.names[key]
            if isinstance(names, MissingNames):
                return MissingPlacements(names, self.task_group, self.downgrade_non_canary)
            return [self._request(n) for n in names]
        return self._request(self.names[key])

    def __repr__(self) -> str:
        return f"MissingPlacements({self.names!r}, downgrade_non_canary={self.downgrade_non_canary})"


PlacePart = list[PlacementRequest] | MissingPlacements


class PlaceList(Sequence[PlacementRequest]):
    """The placements of a reconcile, in order: explicit requests and lazy runs of missing names.

    Reads like a list of PlacementRequests; `parts` lets the scheduler handle a lazy run in bulk.
    """

    __slots__ = ("_parts",)

    def __init__(self, items: Iterable[PlacementRequest] = ()) -> None:
        self._parts: list[PlacePart] = []
        self.extend(items)

    def parts(self) -> list[PlacePart]:
        """The runs, in order: lists of explicit requests and MissingPlacements (never empty)."""
        return self._parts

    def explicit(self) -> Iterator[PlacementRequest]:
        """The requests outside the missing-name runs (those are never lost or rescheduled)."""
        for part in self._parts:
            if isinstance(part, list):
                yield from part

    def append(self, request: PlacementRequest) -> None:
        """Add one request at the end."""
        if self._parts and isinstance(self._parts[-1], list):
            self._parts[-1].append(request)
        else:
            self._parts.append([request])

    def extend(self, items: Iterable[PlacementRequest]) -> None:
        """Add requests at the end; a PlaceList or MissingPlacements keeps its lazy runs."""
        parts = items.parts() if type(items) is PlaceList else [items]  # (type checks: isinstance of an ABC costs)
        for part in parts:
            if type(part) is MissingPlacements:
                if len(part):
                    self._parts.append(part)
            else:
                for request in part:
                    self.append(request)

    def copy(self) -> PlaceList:
        """A new PlaceList with the same requests (lazy runs shared)."""
        return PlaceList(self)

    def __len__(self) -> int:
        n = 0
        for part in self._parts:  # (a loop: a generator's frames cost more than the few parts)
            n += len(part)
        return n

    def __iter__(self) -> Iterator[PlacementRequest]:
        for part in self._parts:
            yield from part

    @overload
    def __getitem__(self, key: int) -> PlacementRequest: ...

    @overload
    def __getitem__(self, key: slice) -> PlaceList: ...

    def __getitem__(self, key: int | slice) -> PlacementRequest | PlaceList:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            return self._prefix(stop) if start == 0 and step == 1 else PlaceList(list(self)[key])
        idx = key + len(self) if key < 0 else key
        for part in self._parts:
            if 0 <= idx < len(part):
                return part[idx]
            idx -= len(part)
        raise IndexError(key)

    def _prefix(self, n: int) -> PlaceList:
        out = PlaceList()
        for part in self._parts:
            if n <= 0:
                break
            taken = part[:n]
            out.extend(taken)
            n -= len(taken)
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, PlaceList)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PlaceList({self._parts!r})"


def place_parts(place: PlaceList | PlacePart) -> list[PlacePart]:
    """The parts of a reconcile's placements: a PlaceList's runs, or the one part given (type
    checks: isinstance of an ABC costs more, in every placing pass)."""
    return place.parts() if type(place) is PlaceList else [place]  # type: ignore[list-item]


@dataclass(slots=True)
class DestructiveUpdate:
    """Stop `stop_alloc` and place its replacement, atomically. Nomad: allocDestructiveResult."""

    place_name: str
    task_group: TaskGroup
    stop_alloc: Allocation
    stop_description: str  # ALLOC_UPDATING


@dataclass(slots=True)
class StopRequest:
    """One alloc to stop. Nomad: AllocStopResult."""

    alloc: Allocation
    client_status: str  # "" or "lost"
    description: str
    followup_eval_id: str = ""


@dataclass(slots=True)
class ReconcileResults:
    """Everything the generic scheduler applies after reconciling. Nomad: ReconcileResults."""

    place: PlaceList = field(default_factory=PlaceList)
    destructive_update: list[DestructiveUpdate] = field(default_factory=list)
    inplace_update: list[Allocation] = field(default_factory=list)  # copies with the new job set
    stop: list[StopRequest] = field(default_factory=list)
    attribute_updates: dict[str, Allocation] = field(
        default_factory=dict
    )  # id -> copy with followup_eval_id
    deployment: Deployment | None = None  # a new deployment to create
    deployment_updates: list[DeploymentStatusUpdate] = field(default_factory=list)
    desired_tg_updates: dict[str, DesiredUpdates] = field(default_factory=dict)
    desired_followup_evals: dict[str, list[Evaluation]] = field(default_factory=dict)

    def merge(self, other: ReconcileResults) -> None:
        """Add one group's results to these. Nomad: ReconcileResults.Merge."""
        if other.deployment is not None:
            self.deployment = other.deployment
        self.deployment_updates.extend(other.deployment_updates)
        self.place.extend(other.place)
        self.destructive_update.extend(other.destructive_update)
        self.inplace_update.extend(other.inplace_update)
        self.stop.extend(other.stop)
        self.attribute_updates.update(other.attribute_updates)
        self.desired_tg_updates.update(other.desired_tg_updates)
        self.desired_followup_evals.update(other.desired_followup_evals)


@dataclass(slots=True)
class ReconcileContext:
    """The reconciler's inputs plus the deployment state it updates across groups.

    Nomad: ReconcilerState and ClusterState, as `reconcile` builds them from its inputs
    (cluster.ReconcilerState, cluster.ClusterState). `deployment_current` starts as the job's live
    deployment (a private copy) and becomes the new deployment once a group creates one.
    """

    job: Job
    job_id: str
    batch: bool
    eval_id: str
    eval_priority: int
    now: float
    tainted_nodes: dict[str, Node | None]
    alloc_update_fn: AllocUpdateFn
    new_id: Callable[[], str]
    supports_disconnected: bool = False
    same_version_ignored: bool = False  # alloc_update_fn ignores same-JobModifyIndex allocs, purely
    deployment_old: Deployment | None = None
    deployment_current: Deployment | None = None
    deployment_paused: bool = False
    deployment_failed: bool = False
