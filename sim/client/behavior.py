"""How simulated tasks behave once a client starts them: runtime, exit code and failure modes.

A `TaskBehavior` says how long a task runs, how it exits and how it misbehaves (failing every run,
never becoming healthy, crashing after it was healthy). Behaviour comes from three layers, the
later winning: the defaults of the job type (service tasks run until stopped; batch tasks run
`default_batch_runtime` seconds), the first scenario rule that matches the task, and the task's
own `sim.*` meta keys (job meta < group meta < task meta, as Nomad merges meta).

Meta keys: `sim.runtime`, `sim.exit_code`, `sim.fail_after`, `sim.start_delay`, `sim.fail_health`,
`sim.crash_after`. Durations are "90s", "15m", "2h", "1h30m", "500ms" or plain seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from sim.errors import ValidationError
from sim.scheduler.job_diff import combined_task_meta
from sim.structs.consts import JOB_TYPE_BATCH, JOB_TYPE_SYSBATCH
from sim.structs.job import Job

META_PREFIX = "sim."
DEFAULT_BATCH_RUNTIME = 60.0
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}

Runtime = float | Callable[[np.random.Generator], float] | Any | None


@dataclass(frozen=True, slots=True)
class TaskBehavior:
    """How one task runs on its client. Times in simulated seconds.

    Attributes:
        runtime: seconds each run lasts before the task exits with `exit_code`; None runs until
            stopped. May be a callable `f(rng) -> float` or a distribution with `sample(rng, n)`,
            drawn once per run.
        exit_code: the exit code of a run that reaches `runtime`.
        fail_after: every run exits after this many seconds with `exit_code` if non-zero, else 1.
        start_delay: seconds from `Received` to `Started`.
        fail_health: the alloc never becomes healthy (unhealthy at its healthy deadline).
        crash_after: like `fail_after`, but the first run only counts from the moment the alloc
            became healthy (from its start when health is not tracked).
        driver_error: why the task cannot start (a bad `sim.*` meta value of a job that reached
            the client without the API's check): every run fails at once with this message.
    """

    runtime: Runtime = None
    exit_code: int = 0
    fail_after: float | None = None
    start_delay: float = 0.0
    fail_health: bool = False
    crash_after: float | None = None
    driver_error: str = ""  # the task cannot start (each run fails with a `Driver Failure` event)

    def sample_runtime(self, rng: np.random.Generator) -> float | None:
        """Seconds the next run lasts before a normal exit (None: until stopped)."""
        value = self.runtime
        if value is None or isinstance(value, int | float):
            return value
        if hasattr(value, "sample"):
            return max(0.0, float(value.sample(rng, 1)[0]))
        return max(0.0, float(value(rng)))

    def failure_exit_code(self) -> int:
        """The exit code of a failing run: `exit_code` when non-zero, else 1."""
        return self.exit_code if self.exit_code != 0 else 1


_FIELDS = tuple(f.name for f in fields(TaskBehavior))


def parse_seconds(value: object, key: str = "duration") -> float:
    """Seconds from "90s", "15m", "2h", "1h30m", "250ms" or a plain number.

    Raises:
        ValidationError: the value is not a duration.
    """
    if isinstance(value, bool):
        raise ValidationError(key, f"invalid duration {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValidationError(key, f"invalid duration {value!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _parse_bool(value: object, key: str) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(key, f"invalid boolean {value!r}")


def _parse_int(value: object, key: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValidationError(key, f"invalid integer {value!r}") from None


_META_PARSERS: dict[str, Callable[[object, str], object]] = {
    "runtime": parse_seconds,
    "exit_code": _parse_int,
    "fail_after": parse_seconds,
    "start_delay": parse_seconds,
    "fail_health": _parse_bool,
    "crash_after": parse_seconds,
}


def meta_overrides(meta: Mapping[str, str]) -> dict[str, Any]:
    """The behaviour fields a (merged) meta map sets explicitly, parsed (TaskBehavior keywords)."""
    out: dict[str, Any] = {}
    for name, parse in _META_PARSERS.items():
        key = META_PREFIX + name
        if key in meta:
            out[name] = parse(meta[key], key)
    return out


def check_job_meta(job: Job) -> None:
    """Every task's merged `sim.*` meta parses.

    Raises:
        ValidationError: naming the group, task, key and value (the API answers it as a 400).
    """
    for tg in job.task_groups:
        for task in tg.tasks:
            try:
                meta_overrides(combined_task_meta(job, tg.name, task.name))
            except ValidationError as exc:
                raise ValidationError(exc.field, f"group {tg.name!r} task {task.name!r}: meta {exc.field!r}: "
                                                 f"{exc.message}") from None


def behavior_from_meta(meta: Mapping[str, str], base: TaskBehavior | None = None) -> TaskBehavior:
    """`base` (default: a task that runs until stopped) with the `sim.*` meta keys applied."""
    return replace(base or TaskBehavior(), **meta_overrides(meta))


def rule_overrides(rule: object) -> dict[str, Any]:
    """The behaviour fields a scenario rule sets (attributes that are not None; TaskBehavior keywords)."""
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(rule, name, None)
        if value is not None:
            out[name] = value
    return out


def rule_matches(rule: object, job_id: str, group: str, task: str, image: str) -> bool:
    """Whether a rule applies: `rule.match(...)` if callable, else `rule.match.matches(...)`."""
    match = getattr(rule, "match", None)
    if match is None:
        return True
    if callable(match):
        return bool(match(job_id, group, task, image))
    return bool(match.matches(job_id, group, task, image))


class BehaviorResolver:
    """Resolves the behaviour of each task: defaults < first matching rule < `sim.*` meta."""

    def __init__(self, rules: Iterable[object] = (), default_batch_runtime: float = DEFAULT_BATCH_RUNTIME):
        self.rules = tuple(rules)
        self.default_batch_runtime = default_batch_runtime
        self._cache: dict[tuple[int, str, str], tuple[Job, TaskBehavior]] = {}

    def default_for(self, job_type: str) -> TaskBehavior:
        """Batch and sysbatch tasks finish after the default runtime; others run until stopped."""
        if job_type in (JOB_TYPE_BATCH, JOB_TYPE_SYSBATCH):
            return TaskBehavior(runtime=self.default_batch_runtime)
        return TaskBehavior()

    def resolve(self, job: Job, group: str, task: str) -> TaskBehavior:
        """The behaviour of task `task` of group `group` of this job version (cached).

        Registered job versions are never edited, so the cache is keyed by the job object (kept
        alive in the cache, so its id is never reused).
        """
        key = (id(job), group, task)
        found = self._cache.get(key)
        if found is None or found[0] is not job:
            found = self._cache[key] = (job, self._resolve(job, group, task))
        return found[1]

    def _resolve(self, job: Job, group: str, task: str) -> TaskBehavior:
        behavior = self.default_for(job.type)
        image = _task_image(job, group, task)
        for rule in self.rules:
            if rule_matches(rule, job.id, group, task, image):
                behavior = replace(behavior, **rule_overrides(rule))
                break
        try:
            overrides = meta_overrides(combined_task_meta(job, group, task))
        except ValidationError as exc:  # fails this task's allocs, never the run
            return replace(behavior, driver_error=f"meta {exc.field!r}: {exc.message}")
        return replace(behavior, **overrides) if overrides else behavior


def _task_image(job: Job, group: str, task: str) -> str:
    tg = job.lookup_task_group(group)
    for t in tg.tasks if tg else ():
        if t.name == task:
            return str(t.config.get("image", "") or "")
    return ""
