"""Task behaviour (sim/client/behavior.py): meta keys, scenario rules, defaults and their precedence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from sim.client.behavior import BehaviorResolver, TaskBehavior, behavior_from_meta, parse_seconds
from sim.errors import ValidationError
from sim.scenario.distributions import Distribution
from sim.structs.job import Job, Task, TaskGroup


def job(type: str = "service", job_meta: dict | None = None, group_meta: dict | None = None,
        task_meta: dict | None = None, image: str = "redis:7") -> Job:
    """A one-group, one-task job with meta at each level."""
    task = Task(name="t", driver="docker", config={"image": image}, meta=task_meta or {})
    return Job(id="j", namespace="default", type=type, meta=job_meta or {},
               task_groups=[TaskGroup(name="g", meta=group_meta or {}, tasks=[task])])


@dataclass(frozen=True)
class Rule:
    """A rule as the brief describes it: a `match` callable plus behaviour fields."""

    pattern: str
    runtime: object = None
    exit_code: int | None = None
    fail_after: float | None = None
    start_delay: float | None = None
    fail_health: bool | None = None
    crash_after: float | None = None

    def match(self, job_id: str, group: str, task: str, image: str) -> bool:
        return image.startswith(self.pattern)


def test_parse_seconds_accepts_units_and_numbers() -> None:
    """Durations: "90s", "15m", "2h", compound and plain seconds."""
    assert [parse_seconds(v) for v in ("90s", "15m", "2h", "1h30m", "250ms", "42", 7)] == [
        90.0, 900.0, 7200.0, 5400.0, 0.25, 42.0, 7.0]


def test_parse_seconds_rejects_garbage() -> None:
    """A malformed duration raises a ValidationError naming the key."""
    with pytest.raises(ValidationError) as err:
        parse_seconds("ten minutes", "sim.runtime")
    assert err.value.field == "sim.runtime"


def test_behavior_from_meta_reads_every_key() -> None:
    """All six `sim.*` keys are parsed into the behaviour."""
    b = behavior_from_meta({"sim.runtime": "2m", "sim.exit_code": "3", "sim.fail_after": "30s",
                            "sim.start_delay": "5", "sim.fail_health": "true", "sim.crash_after": "1h"})
    assert b == TaskBehavior(runtime=120.0, exit_code=3, fail_after=30.0, start_delay=5.0,
                             fail_health=True, crash_after=3600.0)


def test_task_meta_wins_over_group_and_job_meta() -> None:
    """Meta merges job < group < task, as Nomad's CombinedTaskMeta."""
    j = job(job_meta={"sim.runtime": "1s", "sim.exit_code": "4"}, group_meta={"sim.runtime": "2s", "sim.start_delay": "9s"},
            task_meta={"sim.runtime": "3s"})
    b = BehaviorResolver().resolve(j, "g", "t")
    assert (b.runtime, b.exit_code, b.start_delay) == (3.0, 4, 9.0)


def test_defaults_by_job_type() -> None:
    """Service tasks run until stopped; batch tasks run the default runtime."""
    resolver = BehaviorResolver(default_batch_runtime=45.0)
    assert resolver.resolve(job("service"), "g", "t").runtime is None
    assert resolver.resolve(job("batch"), "g", "t").runtime == 45.0
    assert resolver.resolve(job("sysbatch"), "g", "t").runtime == 45.0


def test_first_matching_rule_applies_and_meta_wins() -> None:
    """Rules override defaults (first match only); meta keys override rules."""
    rules = [Rule("nginx", runtime=1.0), Rule("redis", runtime=10.0, exit_code=2), Rule("redis", runtime=99.0)]
    resolver = BehaviorResolver(rules)
    assert resolver.resolve(job("batch"), "g", "t").runtime == 10.0
    assert resolver.resolve(job("batch"), "g", "t").exit_code == 2
    assert resolver.resolve(job("batch", image="busybox"), "g", "t").runtime == 60.0
    assert resolver.resolve(job("batch", task_meta={"sim.runtime": "5s"}), "g", "t").runtime == 5.0


def test_scenario_style_rules_are_accepted() -> None:
    """Rules whose `match` is an object with `matches(...)` (the scenario's form) work too."""
    class Match:
        def matches(self, job_id: str, group: str, task: str, image: str | None = None) -> bool:
            return task == "t"

    @dataclass(frozen=True)
    class ScenarioRule:
        match: Match
        runtime: object = None
        start_delay: float | None = None

    b = BehaviorResolver([ScenarioRule(Match(), runtime=Distribution.constant(12.0), start_delay=None)]).resolve(job(), "g", "t")
    assert b.sample_runtime(np.random.default_rng(0)) == 12.0 and b.start_delay == 0.0


def test_runtime_may_be_a_callable() -> None:
    """A callable runtime is drawn from the caller's rng on each run."""
    b = TaskBehavior(runtime=lambda rng: 5.0 + float(rng.random()))
    rng = np.random.default_rng(3)
    draws = [b.sample_runtime(rng) for _ in range(3)]
    assert all(5.0 <= d < 6.0 for d in draws) and len(set(draws)) == 3


def test_failure_exit_code_is_never_zero() -> None:
    """fail_after exits with exit_code when non-zero, else 1."""
    assert TaskBehavior().failure_exit_code() == 1
    assert TaskBehavior(exit_code=137).failure_exit_code() == 137


def test_resolution_is_cached_per_job_version() -> None:
    """The same job version resolves to the very same behaviour object."""
    resolver, j = BehaviorResolver(), job()
    assert resolver.resolve(j, "g", "t") is resolver.resolve(j, "g", "t")
