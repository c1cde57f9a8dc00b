"""Workload actions of a scenario (frozen dataclasses) and the job edits `update` applies.

Actions are what sim.workload replays: timed job operations (register, update, deregister,
dispatch, revert, promote) and generators (generate, dispatch_generate, trace). Times in seconds
from the scenario start. `plain` turns any of them back into the scenario language.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar

from sim.scenario.distributions import Distribution
from sim.scenario.traces import Machine, TraceSubmission, read_trace


def plain(value: Any) -> Any:
    """Scenario-language form of a value: objects via to_dict, dataclasses to dicts, tuples to lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if is_dataclass(value):
        return plain_fields(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def plain_fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields in scenario form, leaving out None and derived fields."""
    out = {}
    for f in fields(obj):
        item = getattr(obj, f.name)
        if item is not None and not f.metadata.get("derived"):
            out[f.name] = plain(item)
    return out


@dataclass(frozen=True, slots=True)
class JobSource:
    """A job to register: parsed JSON (`job`, unwrapped) or an HCL file still to parse (`path`)."""

    job: dict[str, Any] | None
    path: str | None = None
    job_id: str | None = None

    @property
    def is_hcl(self) -> bool:
        """True when the job is an HCL file the engine must parse."""
        return self.job is None

    def to_dict(self) -> Any:
        """The inline job (a copy), or the HCL file's path."""
        return copy.deepcopy(self.job) if self.job is not None else self.path


@dataclass(frozen=True, slots=True)
class Register:
    """Register `source` at `at`; with `after`, only once those jobs have completed."""

    KIND: ClassVar[str] = "register"
    at: float
    source: JobSource
    after: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The scenario form: {at, register, after}."""
        out = {"at": self.at, "register": self.source.to_dict()}
        return out | ({"after": list(self.after)} if self.after else {})


@dataclass(frozen=True, slots=True)
class Update:
    """Re-register job `job` with the dotted PascalCase paths of `set` changed (see apply_set)."""

    KIND: ClassVar[str] = "update"
    at: float
    job: str
    set: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Deregister:
    """Stop (or purge) job `job`."""

    KIND: ClassVar[str] = "deregister"
    at: float
    job: str
    purge: bool = False


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Dispatch parameterized job `job` with `meta` and a `payload` (plain text)."""

    KIND: ClassVar[str] = "dispatch"
    at: float
    job: str
    meta: dict[str, str] = field(default_factory=dict)
    payload: str = ""


@dataclass(frozen=True, slots=True)
class Revert:
    """Revert job `job` to `version`."""

    KIND: ClassVar[str] = "revert"
    at: float
    job: str
    version: int


@dataclass(frozen=True, slots=True)
class Promote:
    """Promote the canaries of job `job`'s latest deployment."""

    KIND: ClassVar[str] = "promote"
    at: float
    job: str


@dataclass(frozen=True, slots=True)
class Generate:
    """Register jobs from `template` between `start` and `stop` (arrivals per second `rate`).

    `distributions` may size `count` (group count), `cpu` (MHz), `memory` (MB) and `runtime`
    (seconds) of each generated job; IDs are `<id_prefix>-<n>`, n from 0; at most `count` jobs.
    """

    KIND: ClassVar[str] = "generate"
    start: float
    stop: float
    rate: float
    template: JobSource
    arrival: str = "poisson"
    count: int | None = None
    distributions: dict[str, Distribution] = field(default_factory=dict)
    type: str | None = None
    id_prefix: str = "job"


@dataclass(frozen=True, slots=True)
class DispatchGenerate:
    """Dispatch parameterized job `job` between `start` and `stop` at `rate` per second."""

    KIND: ClassVar[str] = "dispatch_generate"
    start: float
    stop: float
    rate: float
    job: str
    arrival: str = "poisson"
    count: int | None = None
    meta: dict[str, str] = field(default_factory=dict)
    payload: str = ""
    distributions: dict[str, Distribution] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TraceSpec:
    """Replay a trace (sim.scenario.traces) starting at `at`."""

    KIND: ClassVar[str] = "trace"
    at: float
    format: str
    path: str
    machine: Machine = Machine()
    limit: int | None = None
    time_scale: float = 1.0
    runtime_scale: float = 1.0

    def load(self) -> list[TraceSubmission]:
        """The submissions, with offsets in seconds from the scenario start."""
        return read_trace(self.format, self.path, self.machine, self.limit, self.time_scale, self.runtime_scale, self.at)


Action = Register | Update | Deregister | Dispatch | Revert | Promote | Generate | DispatchGenerate | TraceSpec


def action_to_dict(action: Action) -> dict[str, Any]:
    """The scenario-language form of a workload action."""
    if isinstance(action, Register):
        return action.to_dict()
    body = plain(action)
    at = body.pop("at", None)
    return ({"at": at} if at is not None else {}) | {action.KIND: body}


_SEGMENT = re.compile(r"\[(\d+)\]")


def apply_set(job: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `job` with the dotted PascalCase `path` set to `value`.

    List segments are an index or the `Name` of an element (`TaskGroups.web.Count`,
    `TaskGroups[0].Tasks.redis.Resources.CPU`); missing mapping keys are created.

    Raises:
        KeyError: a list segment that matches no element, or a path through a non-container.
    """
    out = copy.deepcopy(job)
    parts = _SEGMENT.sub(r".\1", path).split(".")
    node: Any = out
    for i, part in enumerate(parts[:-1]):
        node = _step(node, part, parts[i + 1], ".".join(parts[: i + 1]))
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, path)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise KeyError(f"{path}: {'.'.join(parts[:-1])} is not a mapping or list")
    return out


def _step(node: Any, part: str, following: str, where: str) -> Any:
    if isinstance(node, list):
        return node[_list_index(node, part, where)]
    if not isinstance(node, dict):
        raise KeyError(f"{where} is not a mapping or list")
    if node.get(part) is None:
        node[part] = [] if following.isdigit() else {}
    return node[part]


def _list_index(items: list[Any], part: str, where: str) -> int:
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("Name") == part:
            return i
    raise KeyError(f"{where}: no element {part!r}")


