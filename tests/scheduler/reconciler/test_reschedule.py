"""Reschedule delays, attempt limits and trackers (sim/scheduler/reschedule.py)."""

from __future__ import annotations

import pytest

from sim.scheduler.reconciler.reschedule import (
    LAST_RESCHEDULE_FAILED_TO_PLACE,
    LAST_RESCHEDULE_OK,
    new_reschedule_tracker,
    next_delay,
    next_reschedule_time,
    reschedule_decision,
    should_reschedule,
)
from sim.structs.alloc import Allocation, RescheduleEvent, TaskState
from sim.structs.consts import (
    ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_PENDING,
    ALLOC_DESIRED_STOP,
)
from sim.structs.deployment import Deployment
from sim.structs.job import MINUTE, SECOND, Job, ReschedulePolicy, TaskGroup

NOW = 1_000_000.0


def _alloc(
    policy: ReschedulePolicy | None,
    finished: float | None = NOW - 2,
    delays=(),
    times=None,
    **changes,
) -> Allocation:
    job = Job(
        id="j", type="service", task_groups=[TaskGroup(name="g", count=1, reschedule_policy=policy)]
    )
    times = times or [NOW - 3600] * len(delays)
    alloc = Allocation(
        id="a1",
        namespace="default",
        eval_id="e",
        name="j.g[0]",
        node_id="n1",
        node_name="n1",
        job_id="j",
        job=job,
        task_group="g",
        client_status=ALLOC_CLIENT_FAILED,
        reschedule_tracker=[
            RescheduleEvent(t, "p", "pn", d) for t, d in zip(times, delays, strict=True)
        ],
    )
    if finished is not None:
        alloc.task_states = {"t": TaskState(state="dead", failed=True, finished_at=finished)}
    for key, value in changes.items():
        setattr(alloc, key, value)
    return alloc


def _policy(fn: str, delay: int = 5, max_delay: int = 90, **kw) -> ReschedulePolicy:
    kw.setdefault("unlimited", True)
    return ReschedulePolicy(
        delay_function=fn, delay=delay * SECOND, max_delay=max_delay * SECOND, **kw
    )


NEXT_TIME_CASES = [
    # (case, policy, finished, delays, times, expected offset from finished, eligible)
    ("constant, unlimited, no tracker", _policy("constant"), NOW - 2, (), None, 5, True),
    (
        "constant with tracker",
        ReschedulePolicy(
            delay_function="constant", delay=5 * SECOND, interval=10 * MINUTE, attempts=2
        ),
        NOW - 2,
        (5,),
        [NOW - 120],
        5,
        True,
    ),
    (
        "constant, attempts exhausted",
        ReschedulePolicy(
            delay_function="constant", delay=5 * SECOND, interval=10 * MINUTE, attempts=2
        ),
        NOW - 2,
        (5, 5),
        [NOW - 180, NOW - 120],
        5,
        False,
    ),
    ("exponential, no tracker", _policy("exponential"), NOW - 2, (), None, 5, True),
    ("exponential with tracker", _policy("exponential"), NOW - 2, (5, 10, 20), None, 40, True),
    (
        "exponential, ceiling reached",
        _policy("exponential"),
        NOW - 15,
        (5, 10, 20, 40, 80),
        [NOW - 7200, NOW - 3600, NOW - 3600, NOW - 3600, NOW - 40],
        90,
        True,
    ),
    (
        "exponential, ceiling reset",
        _policy("exponential"),
        NOW - 900,
        (5, 10, 20, 40, 80, 90, 90),
        None,
        5,
        True,
    ),
    ("fibonacci, no tracker", _policy("fibonacci"), NOW - 2, (), None, 5, True),
    (
        "fibonacci with tracker",
        _policy("fibonacci"),
        NOW - 2,
        (5, 5),
        [NOW - 7200, NOW - 5],
        10,
        True,
    ),
    ("fibonacci, more events", _policy("fibonacci"), NOW - 2, (5, 5, 10, 15, 25), None, 40, True),
    (
        "fibonacci, ceiling reached",
        _policy("fibonacci", max_delay=50),
        NOW - 15,
        (5, 5, 10, 15, 25, 40),
        [NOW - 7200] + [NOW - 3600] * 4 + [NOW - 40],
        50,
        True,
    ),
    (
        "fibonacci, new series after reset",
        _policy("fibonacci", max_delay=50),
        NOW - 2,
        (50, 5),
        None,
        5,
        True,
    ),
]


@pytest.mark.parametrize(
    ("case", "policy", "finished", "delays", "times", "offset", "eligible"), NEXT_TIME_CASES
)
def test_next_reschedule_time(case, policy, finished, delays, times, offset, eligible):
    """Nomad: nomad/structs/alloc_test.go TestAllocation_NextDelay (same cases and expectations)."""
    alloc = _alloc(policy, finished, delays, times)
    assert next_reschedule_time(alloc) == (finished + offset, eligible), case


def test_no_policy_or_not_failed_is_never_eligible():
    """Nomad: alloc_test.go TestAllocation_NextDelay (not failed / no policy cases)."""
    assert next_reschedule_time(_alloc(None)) == (0.0, False)
    assert (
        next_reschedule_time(_alloc(_policy("constant"), client_status=ALLOC_CLIENT_PENDING))[1]
        is False
    )
    assert next_reschedule_time(_alloc(_policy("constant", unlimited=False)))[1] is False


def test_fail_time_falls_back_to_modify_time():
    """Nomad: alloc_test.go TestAllocation_NextDelay "Allocation lacks task state"."""
    alloc = _alloc(_policy("constant"), finished=None, modify_time=NOW)
    assert next_reschedule_time(alloc) == (NOW + 5, True)


def test_stopped_alloc_is_eligible_only_after_a_failed_reschedule():
    """Nomad: alloc_test.go TestAllocation_NextRescheduleTime (desired stop cases)."""
    policy = ReschedulePolicy(
        attempts=2, interval=10 * MINUTE, delay=5 * SECOND, delay_function="constant"
    )
    assert (
        next_reschedule_time(
            _alloc(policy, desired_status=ALLOC_DESIRED_STOP, last_reschedule=LAST_RESCHEDULE_OK)
        )[1]
        is False
    )
    failed = _alloc(
        policy, desired_status=ALLOC_DESIRED_STOP, last_reschedule=LAST_RESCHEDULE_FAILED_TO_PLACE
    )
    assert next_reschedule_time(failed)[1] is True


SHOULD_CASES = [
    ("stopped", ALLOC_CLIENT_PENDING, ALLOC_DESIRED_STOP, None, [], False),
    (
        "disabled",
        ALLOC_CLIENT_FAILED,
        "run",
        ReschedulePolicy(attempts=0, interval=MINUTE),
        [],
        False,
    ),
    (
        "complete",
        ALLOC_CLIENT_COMPLETE,
        "run",
        ReschedulePolicy(attempts=1, interval=MINUTE),
        [],
        False,
    ),
    ("nil policy", ALLOC_CLIENT_FAILED, "run", None, [], False),
    (
        "unlimited",
        ALLOC_CLIENT_FAILED,
        "run",
        ReschedulePolicy(attempts=1, unlimited=True),
        [],
        True,
    ),
    (
        "no attempts yet",
        ALLOC_CLIENT_FAILED,
        "run",
        ReschedulePolicy(attempts=1, interval=MINUTE),
        [],
        True,
    ),
    (
        "leftover",
        ALLOC_CLIENT_FAILED,
        "run",
        ReschedulePolicy(attempts=2, interval=5 * MINUTE),
        [-60],
        True,
    ),
    (
        "too old",
        ALLOC_CLIENT_FAILED,
        "run",
        ReschedulePolicy(attempts=1, interval=5 * MINUTE),
        [-360],
        True,
    ),
    (
        "none left",
        ALLOC_CLIENT_FAILED,
        "run",
        ReschedulePolicy(attempts=2, interval=5 * MINUTE),
        [-180, -240],
        False,
    ),
]


@pytest.mark.parametrize(("case", "client", "desired", "policy", "ago", "expected"), SHOULD_CASES)
def test_should_reschedule(case, client, desired, policy, ago, expected):
    """Nomad: nomad/structs/alloc_test.go TestAllocation_ShouldReschedule."""
    alloc = _alloc(
        policy,
        delays=[0.0] * len(ago),
        times=[NOW + t for t in ago],
        client_status=client,
        desired_status=desired,
    )
    assert should_reschedule(alloc, NOW) is expected, case


def _deployment(status: str = "running") -> Deployment:
    return Deployment(
        id="d1",
        namespace="default",
        job_id="j",
        job_version=0,
        job_modify_index=0,
        job_spec_modify_index=0,
        job_create_index=0,
        status=status,
    )


def test_reschedule_decision_now_later_and_window():
    """Due within 1s (or the alloc's follow-up eval) is now; otherwise later once. Nomad: filters.go updateByReschedulable."""
    policy = ReschedulePolicy(
        attempts=3, interval=MINUTE * 60, delay=30 * SECOND, delay_function="constant"
    )
    assert reschedule_decision(_alloc(policy, finished=NOW - 29.5), NOW, "e1", None) == (
        True,
        False,
        NOW + 0.5,
    )
    assert reschedule_decision(_alloc(policy, finished=NOW - 10), NOW, "e1", None) == (
        False,
        True,
        NOW + 20,
    )
    waiting = _alloc(policy, finished=NOW - 10, followup_eval_id="f1")
    assert reschedule_decision(waiting, NOW, "e1", None)[:2] == (False, False)
    assert reschedule_decision(waiting, NOW, "f1", None)[:2] == (True, False)


def test_reschedule_decision_waits_for_active_deployment():
    """Failed allocs of the active deployment wait for the watcher's mark. Nomad: filters.go updateByReschedulable."""
    policy = ReschedulePolicy(
        attempts=3, interval=MINUTE * 60, delay=5 * SECOND, delay_function="constant"
    )
    alloc = _alloc(policy, finished=NOW - 60, deployment_id="d1")
    assert reschedule_decision(alloc, NOW, "e", _deployment())[:2] == (False, False)
    assert reschedule_decision(alloc, NOW, "e", _deployment("successful"))[:2] == (True, False)
    alloc.desired_transition.reschedule = True
    assert reschedule_decision(alloc, NOW, "e", _deployment())[:2] == (True, False)


def test_forced_reschedule_is_now_even_past_the_limit():
    """Nomad: filters.go updateByReschedulable (ForceReschedule)."""
    policy = ReschedulePolicy(attempts=1, interval=MINUTE * 60, delay=5 * SECOND)
    alloc = _alloc(policy, delays=(5,), times=[NOW - 60])
    assert reschedule_decision(alloc, NOW, "e", None)[:2] == (False, False)
    alloc.desired_transition.force_reschedule = True
    assert reschedule_decision(alloc, NOW, "e", None)[:2] == (True, False)


def test_next_delay_accepts_an_explicit_policy():
    """next_delay uses the given policy instead of the alloc's own."""
    alloc = _alloc(_policy("constant", delay=5), delays=(5,))
    assert next_delay(alloc) == 5
    assert next_delay(alloc, _policy("exponential", delay=5)) == 10


def test_new_tracker_keeps_events_within_interval():
    """Nomad: scheduler/generic_sched.go UpdateRescheduleTracker (attempts policy)."""
    policy = ReschedulePolicy(
        attempts=3, interval=10 * MINUTE, delay=5 * SECOND, delay_function="constant"
    )
    prev = _alloc(policy, delays=(5, 5), times=[NOW - 3600, NOW - 60])
    events = new_reschedule_tracker(prev, NOW)
    assert [(e.reschedule_time, e.prev_alloc_id, e.prev_node_id, e.delay) for e in events] == [
        (NOW - 60, "p", "pn", 5),
        (NOW, "a1", "n1", 5.0),
    ]


def test_new_tracker_unlimited_keeps_last_five():
    """Nomad: scheduler/generic_sched.go UpdateRescheduleTracker (unlimited keeps maxPastRescheduleEvents)."""
    prev = _alloc(_policy("exponential", max_delay=3600), delays=tuple(5 * 2**i for i in range(8)))
    events = new_reschedule_tracker(prev, NOW)
    assert [e.delay for e in events] == [40, 80, 160, 320, 640, 1280]
