"""Fast paths after the scheduler give what the general code gives (sim/client/*.py, sim/state/,
sim/server/node_endpoint.py).

Under test: an alloc whose tasks all start at once is started in one pass, a task with a fixed
runtime skips drawing its exit plan, a batch task that exits 0 skips the restart tracker,
`Terminated` events are shared per instant and exit code, summary counters take the common client
status transitions spelled out, a batch of client reports looks each job up once, and the state
copies a job version by its fields instead of `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import simpy
from server_harness import FakeServer

from sim.client.behavior import BehaviorResolver, TaskBehavior
from sim.client.clients import Clients
from sim.client.tasks import TERMINATED, RestartTracker, SharedEvents, fixed_exit, terminated
from sim.state.jobs import _copy_job
from sim.state.store import StateStore
from sim.state.summaries import SummaryKeeper
from sim.structs.alloc import Allocation
from sim.structs.job import (
    HOUR,
    MINUTE,
    SECOND,
    Job,
    MigrateStrategy,
    ReschedulePolicy,
    RestartPolicy,
    Task,
    TaskGroup,
    UpdateStrategy,
)
from sim.structs.job_summary import JobSummary, TaskGroupSummary
from sim.structs.node import Node, NodeResources

STATUSES = ("pending", "running", "complete", "failed", "lost", "unknown")


def _job(job_id: str, type: str = "batch", tasks: tuple[str, ...] = ("t",), meta: dict | None = None,
         update: UpdateStrategy | None = None) -> Job:
    restart = RestartPolicy(1, 30 * MINUTE, 5 * SECOND, "fail")
    group = TaskGroup(name="g", count=1, restart_policy=restart, update=update,
                      migrate=MigrateStrategy(1, "checks", 10 * SECOND, 5 * MINUTE),
                      reschedule_policy=ReschedulePolicy(1, HOUR, 5 * SECOND, "constant"),
                      tasks=[Task(name=t, driver="docker", config={"image": f"img-{t}"}, kill_timeout=5 * SECOND)
                             for t in tasks])
    return Job(id=job_id, name=job_id, namespace="default", type=type, priority=50, datacenters=["dc1"],
               task_groups=[group], meta=meta or {})


JOBS = [
    _job("fixed", meta={"sim.runtime": "40s"}),
    _job("drawn"),  # runtime drawn by a rule (a callable of the rng)
    _job("pair", tasks=("a", "b"), meta={"sim.runtime": "30s"}),
    _job("flaky", type="service", meta={"sim.fail_after": "12s"}),
    _job("crash", type="service", meta={"sim.crash_after": "20s"}),
    _job("svc", type="service"),
    _job("deploy", type="service", update=UpdateStrategy(max_parallel=1, min_healthy_time=8 * SECOND,
                                                       healthy_deadline=MINUTE)),
    _job("slow", type="service", meta={"sim.start_delay": "3s"}),
    _job("blink", meta={"sim.runtime": "200ms"}),  # exits when the first report is due
]
RULES = [SimpleNamespace(match=lambda job, group, task, image: job == "drawn", runtime=lambda rng: 10 + 30 * rng.random())]


def _world(general: bool) -> tuple[simpy.Environment, StateStore, FakeServer, Clients]:
    """A cluster of three nodes; `general` turns the clients' fast paths off."""
    env = simpy.Environment()
    state = StateStore(clock=lambda: env.now)
    state.upsert_nodes([Node(id=f"n{i}", name=f"n{i}", drivers=["docker"], resources=NodeResources(10**6, 10**6, 10**6))
                        for i in range(3)])
    server = FakeServer(env, state, ids_seed=7, heartbeat_seed=3)
    clients = Clients(env, state, server, np.random.default_rng(11), BehaviorResolver(RULES))
    if general:
        resolve = clients.group_spec

        def general_spec(alloc: Allocation):  # noqa: ANN202
            spec = resolve(alloc)
            spec.instant, spec.exits = False, [None] * len(spec.tasks)
            return spec

        clients.group_spec = general_spec
    return env, state, server, clients


def _run(general: bool, new: bool = False) -> dict:
    """Place two allocs of every job, stop one, fail a node, and return everything observable
    (`new`: the placements come as the applier's new allocs, with no look-ups)."""
    env, state, server, clients = _world(general)
    jobs = []
    for job in JOBS:
        state.upsert_job(job)
        jobs.append(state.job_by_id("default", job.id))
    allocs = []
    for k, job in enumerate(jobs * 2):
        alloc = Allocation(id=f"a{k:02d}", namespace="default", eval_id="e", name=f"{job.id}.g[{k}]",
                           node_id=f"n{k % 3}", node_name=f"n{k % 3}", job_id=job.id, job=job, task_group="g",
                           cpu=10, memory_mb=10, deployment_id="d1" if job.id == "deploy" else "")
        allocs.append(alloc)
    state.upsert_plan_results(allocs[:8], [], None, [], "e")
    clients.on_plan_applied(allocs[:8], [], new)
    env.run(until=1.5)
    state.upsert_plan_results(allocs[8:], [], None, [], "e")
    clients.on_plan_applied(allocs[8:], [], new)
    env.run(until=25)
    stop = Allocation(**{f: getattr(allocs[5], f) for f in ("id", "namespace", "eval_id", "name", "node_id",
                                                             "node_name", "job_id", "job", "task_group")})
    stop.desired_status = "stop"
    state.upsert_plan_results([], [stop], None, [], "e2")
    clients.on_plan_applied([], [stop])
    env.run(until=33)
    clients.node_down("n2")
    env.run(until=200)
    return {
        "allocs": [(a.id, a.client_status, a.client_description, a.modify_index, a.modify_time, repr(a.task_states),
                    repr(a.deployment_status)) for a in state.allocs()],
        "rows": list(server.recorder.rows["allocations"]),
        "evals": [(e.job_id, e.triggered_by) for e in server.evals],
        "health": list(server.deployment_watcher.reports),
        "rng": clients.rng.bit_generator.state,
        "index": state.index,
        "summaries": [repr(state.job_summary("default", j.id)) for j in jobs],
    }


def test_fast_start_matches_the_general_start() -> None:
    """Starting every task in one pass (and fixed exit plans) changes no state, row, eval or draw."""
    fast, general = _run(False), _run(True)
    assert fast == general
    statuses = {status for _, status, *_ in fast["allocs"]}
    assert {"running", "complete", "failed"} <= statuses  # the comparison covers exits and failures
    assert fast["health"] and fast["evals"]


def test_new_allocs_start_as_looked_up_ones() -> None:
    """Placements the applier calls new (stored as placed, no runner yet) start without a look-up
    of their stored version or runner, and nothing observable changes."""
    assert _run(False, new=True) == _run(False)


@pytest.mark.parametrize("behavior", [
    TaskBehavior(), TaskBehavior(runtime=30.0), TaskBehavior(runtime=7, exit_code=3),
    TaskBehavior(runtime=5.0, start_delay=2.0, fail_health=True),
])
def test_fixed_exit_is_the_exit_plan_without_a_draw(behavior: TaskBehavior) -> None:
    """A fixed runtime (or none) without failure modes: the runner's exit plan, no random draw."""
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    assert fixed_exit(behavior) == (behavior.sample_runtime(rng), behavior.exit_code)
    assert rng.bit_generator.state == before


@pytest.mark.parametrize("behavior", [
    TaskBehavior(runtime=lambda rng: 1.0), TaskBehavior(runtime=30.0, fail_after=10.0),
    TaskBehavior(crash_after=5.0),
])
def test_drawn_or_failing_runs_have_no_fixed_exit(behavior: TaskBehavior) -> None:
    """A drawn runtime or a failure mode leaves the exit plan to the runner."""
    assert fixed_exit(behavior) is None


@pytest.mark.parametrize("policy", [
    RestartPolicy(0, HOUR, 5 * SECOND, "fail"), RestartPolicy(3, 24 * HOUR, 15 * SECOND, "fail"),
    RestartPolicy(2, MINUTE, SECOND, "delay"),
])
@pytest.mark.parametrize("job_type", ["batch", "sysbatch"])
def test_successful_batch_exit_is_terminated_without_a_draw(policy: RestartPolicy, job_type: str) -> None:
    """Nomad: restarts.go GetState: a batch task exiting 0 is done, whatever the policy (the runner's shortcut)."""
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    assert RestartTracker(policy, job_type, 0.0).on_exit(100.0, 0, rng) == (TERMINATED, 0.0)
    assert rng.bit_generator.state == before


def test_shared_terminated_events_equal_fresh_ones() -> None:
    """`Terminated` is made once per instant and exit code, equal to a fresh event."""
    events = SharedEvents()
    first = events.terminated(10.0, 0)
    assert first is events.terminated(10.0, 0) and first == terminated(10.0, 0)
    assert events.terminated(10.0, 2) == terminated(10.0, 2) and events.terminated(10.0, 2) is not first
    later = events.terminated(11.0, 0)
    assert later == terminated(11.0, 0) and later is not first
    arrivals, start = events.arrival_and_start(11.0)
    assert [e.type for e in arrivals] == ["Received", "Task Setup"] and start.type == "Started" and start.time == 11.0


def _reference(counts: dict[str, int], old: str, new: str) -> dict[str, int]:
    """updateSummaryWithAlloc by the book: +1 to the new bucket, -1 (not below 0) from a live old one."""
    bucket = {"pending": "starting", "running": "running", "complete": "complete", "failed": "failed",
              "lost": "lost", "unknown": "unknown"}
    out = dict(counts)
    out[bucket[new]] += 1
    if old in ("pending", "running", "lost", "unknown"):
        out[bucket[old]] = max(0, out[bucket[old]] - 1)
    return out


@pytest.mark.parametrize("start", [0, 2])
def test_summary_transitions_follow_the_bucket_rules(start: int) -> None:
    """Every (old, new) client status pair, from empty and from non-empty counters."""
    job = _job("j")
    for old in STATUSES:
        for new in STATUSES:
            if old == new:
                continue
            keeper = SummaryKeeper()
            counts = dict.fromkeys(("starting", "running", "complete", "failed", "lost", "unknown"), start)
            keeper._summaries[("default", "j")] = JobSummary("j", "default", {"g": TaskGroupSummary(**counts)})
            alloc = Allocation(id="a", namespace="default", eval_id="e", name="j.g[0]", node_id="n", node_name="n",
                               job_id="j", job=job, task_group="g", client_status=new)
            keeper.on_client_status(alloc, old, 9)
            summary = keeper.get(("default", "j"))
            got = {name: getattr(summary.summary["g"], name) for name in counts}
            assert got == _reference(counts, old, new), (old, new)
            assert summary.modify_index == 9


@pytest.mark.parametrize("seed", range(8))
def test_summary_runs_count_as_one_alloc_at_a_time(seed: int) -> None:
    """`on_client_statuses` (a run of one job group's allocs making the same change at once) leaves
    the counters `on_client_status` of each alloc in turn leaves, on random runs and counters."""
    import random

    rng = random.Random(seed)
    jobs = [_job("j"), _job("k")]
    allocs, olds = [], []
    for _ in range(rng.randint(1, 12)):  # runs of allocs alike (as a client's reports come), of 1 to 6
        job, group, old = rng.choice(jobs), rng.choice(["g", "h"]), rng.choice(STATUSES)
        new = rng.choice([s for s in STATUSES if s != old])
        for _ in range(rng.randint(1, 6)):
            allocs.append(Allocation(id=f"a{len(allocs)}", namespace="default", eval_id="e", name=f"{job.id}.g[0]",
                                     node_id="n", node_name="n", job_id=job.id, job=job, task_group=group,
                                     client_status=new))
            olds.append(old)
    keepers = []
    for _ in range(2):
        keeper = SummaryKeeper()
        for job in jobs:
            keeper._summaries[("default", job.id)] = JobSummary(job.id, "default", {
                g: TaskGroupSummary(**{name: random.Random(seed + ord(g)).randint(0, 3)
                                       for name in ("starting", "running", "complete", "failed", "lost", "unknown")})
                for g in ("g", "h")})
        keepers.append(keeper)
    for alloc, old in zip(allocs, olds, strict=True):
        keepers[0].on_client_status(alloc, old, 9)
    keepers[1].on_client_statuses(allocs, olds, 9)
    assert [keepers[1].get(("default", j.id)) for j in jobs] == [keepers[0].get(("default", j.id)) for j in jobs]


def _report_evals(batched: bool) -> list[tuple[str, str]]:
    """(job, trigger) of the evals that reports of a live and a purged job ask for, sent in one batch or
    one at a time (keeping the first eval per job, as one batch does)."""
    env = simpy.Environment()
    state = StateStore(clock=lambda: env.now)
    state.upsert_nodes([Node(id="n", name="n", resources=NodeResources(1000, 1000, 1000))])
    server = FakeServer(env, state, ids_seed=7, heartbeat_seed=3)
    live, gone = _job("live"), _job("gone")
    state.upsert_job(live)
    state.upsert_job(gone)
    allocs = [Allocation(id=f"a{i}", namespace="default", eval_id="e", name=f"x.g[{i}]", node_id="n", node_name="n",
                         job_id=job.id, job=job, task_group="g", cpu=1, memory_mb=1)
              for i, job in enumerate([live, live, live, gone, gone])]
    state.upsert_plan_results(allocs, [], None, [], "e")
    state.delete_job("default", "gone")
    reports = [(allocs[0], {"client_status": "complete"}), (allocs[1], {"client_status": "lost"}),
               (allocs[2], {"client_status": "failed"}), (allocs[3], {"client_status": "complete"}),
               (allocs[4], {"client_status": "failed"})]
    if batched:
        server.node_endpoint.update_allocs(reports)
        return sorted((e.job_id, e.triggered_by) for e in server.evals)
    seen: dict[str, str] = {}
    for report in reports:
        server.evals = []
        server.node_endpoint.update_allocs([report])
        for e in server.evals:
            seen.setdefault(e.job_id, e.triggered_by)
    return sorted(seen.items())


def test_batched_reports_ask_for_the_same_evals_as_single_reports() -> None:
    """Complete, lost and failed reports of one job in one batch, and of a purged job: one eval per job."""
    expected = [("gone", "job-deregister"), ("live", "alloc-failure")]
    assert _report_evals(batched=True) == _report_evals(batched=False) == expected


def test_timers_due_together_fire_in_arming_order() -> None:
    """Callbacks armed for one instant share one event and run in the order they were armed."""
    env = simpy.Environment()
    state = StateStore(clock=lambda: env.now)
    clients = Clients(env, state, FakeServer(env, state, ids_seed=1, heartbeat_seed=1), np.random.default_rng(1))
    calls: list[tuple] = []
    clients.at(5.0, lambda *a: calls.append(a), "first", 1)
    clients.at(3.0, lambda *a: calls.append(a), "early")
    clients.at(5.0, lambda *a: calls.append(a), "second", 2)
    env.run(until=4)
    assert calls == [("early",)]
    env.run(until=6)
    assert calls == [("early",), ("first", 1), ("second", 2)]


def test_job_copy_equals_dataclasses_replace() -> None:
    """The state's field copy of a job version is `dataclasses.replace`: equal, new, sharing field values."""
    job = _job("j", type="service", meta={"k": "v"})
    copy, reference = _copy_job(job, status="dead", modify_index=7), dataclasses.replace(job, status="dead", modify_index=7)
    assert copy == reference and type(copy) is Job and copy is not job
    assert all(getattr(copy, f.name) is getattr(reference, f.name) for f in dataclasses.fields(Job))
    assert job.status != "dead" and copy.task_groups is job.task_groups


# -- runners started together, reports sent in groups -------------------------------------------


class OneByOne(Clients):
    """The clients without the batched paths: each alloc's runner made and started on its own
    (`AllocRunner.start`), and one report map per alloc (`update_allocs`)."""

    def on_plan_applied(self, placed: list[Allocation], stopped: list[Allocation]) -> None:
        for stop in stopped:
            runner = self.runners.get(stop.id)
            if runner is not None:
                runner.kill()
        for alloc in placed:
            stored = self.state.alloc_by_id(alloc.id) or alloc
            runner = self.runners.get(alloc.id)
            if runner is not None:
                runner.update(stored)
            elif not stored.server_terminal() and not stored.client_terminal() and stored.node_id not in self.down:
                self._add_runner(stored).start()

    def _flush(self, _event: simpy.Event) -> None:
        self._flush_armed = False
        pending, self._pending = self._pending, {}
        updates = []
        for runner in pending:
            alloc_id = runner.alloc.id
            updates.append((runner.alloc, runner.report()))
            if runner.done:
                self.runners.pop(alloc_id, None)
                self._by_node.get(runner.alloc.node_id, {}).pop(alloc_id, None)
        if updates:
            self.server.node_endpoint.update_allocs(updates)


def _two_task_job(job_id: str, a: str, b: str, type: str = "batch") -> Job:
    job = _job(job_id, type=type, tasks=("a", "b"))
    job.task_groups[0].tasks[0].meta = {"sim.runtime": a}
    job.task_groups[0].tasks[1].meta = {"sim.runtime": b}
    return job


def _deploy(job_id: str, min_healthy: int, deadline: int = MINUTE, meta: dict | None = None) -> Job:
    return _job(job_id, type="service", meta=meta, update=UpdateStrategy(
        max_parallel=1, min_healthy_time=min_healthy, healthy_deadline=deadline, progress_deadline=10 * MINUTE))


TOGETHER = [
    _job("fixed", meta={"sim.runtime": "40s"}),
    _job("pair", tasks=("a", "b"), meta={"sim.runtime": "30s"}),  # two exits at one instant
    _two_task_job("staggered", "10s", "25s"),
    _two_task_job("svc-pair", "9s", "9s", type="service"),  # service exits restart (drawn jitter)
    _job("failing", meta={"sim.runtime": "20s", "sim.exit_code": "2"}),
    _job("svc-exit", type="service", meta={"sim.runtime": "25s"}),
    _job("svc", type="service"),  # migrate health: a check after 10s
    _deploy("deploy", 8 * SECOND),
    _deploy("deploy-now", 0),  # healthy the moment it runs
    _deploy("deploy-late", 90 * SECOND),  # min healthy time past the deadline
    _deploy("deploy-fail", 8 * SECOND, meta={"sim.fail_health": "true"}),
    _deploy("coincide", 8 * SECOND, meta={"sim.runtime": "8s"}),  # exit and health check at one instant
    _job("drawn"),  # runtime drawn per run (a rule)
    _job("crash", type="service", meta={"sim.crash_after": "15s"}),
    _job("slow", type="service", meta={"sim.start_delay": "3s"}),
    _job("blink", meta={"sim.runtime": "200ms"}),  # exits when the first report is due
]


def _allocs(job: Job, first: int, n: int, deployment: str = "") -> list[Allocation]:
    return [Allocation(id=f"{job.id}-{k}", namespace="default", eval_id="e", name=f"{job.id}.g[{k}]",
                       node_id=f"n{k % 4}", node_name=f"n{k % 4}", job_id=job.id, job=job, task_group="g",
                       cpu=10, memory_mb=10, deployment_id=deployment if job.id != "deploy" or k % 3 else "")
            for k in range(first, first + n)]


def _together(clients_type: type[Clients]) -> dict:
    """Runs of allocs of every job placed together, some stopped, updated in place or on a failed node."""
    env = simpy.Environment()
    state = StateStore(clock=lambda: env.now)
    state.upsert_nodes([Node(id=f"n{i}", name=f"n{i}", drivers=["docker"], resources=NodeResources(10**6, 10**6, 10**6))
                        for i in range(4)])
    server = FakeServer(env, state, ids_seed=7, heartbeat_seed=3)
    clients = clients_type(env, state, server, np.random.default_rng(11), BehaviorResolver(RULES))
    jobs = []
    for job in TOGETHER:
        state.upsert_job(job)
        jobs.append(state.job_by_id("default", job.id))
    deployment = {job.id: "d1" if job.id in ("deploy", "deploy-now", "deploy-late", "deploy-fail", "coincide") else ""
                  for job in jobs}

    def apply(placed: list[Allocation], stopped: list[Allocation]) -> None:
        state.upsert_plan_results(placed, stopped, None, [], "e")
        clients.on_plan_applied(placed, stopped)

    apply([a for job in jobs for a in _allocs(job, 0, 7, deployment[job.id])], [])
    env.run(until=1.5)
    by_id = {a.id: a for a in state.allocs()}
    updated = []
    for alloc_id in ("deploy-1", "deploy-2", "svc-4"):
        update = dataclasses.replace(by_id[alloc_id])
        update.deployment_id, update.deployment_status = "d2", None
        updated.append(update)
    stricter = dataclasses.replace(jobs[5], task_groups=[dataclasses.replace(
        jobs[5].task_groups[0], restart_policy=RestartPolicy(0, 30 * MINUTE, 5 * SECOND, "fail"))])
    state.upsert_job(stricter)  # svc-exit-5 runs the new version in place: its next exit fails, its siblings' restart
    update = dataclasses.replace(by_id["svc-exit-5"], job=state.job_by_id("default", "svc-exit"))
    updated.append(update)
    updated.append(dataclasses.replace(by_id["fixed-1"]))  # updated in place: its exit no longer in step with its run's
    second = [a for job in jobs for a in _allocs(job, 7, 5, deployment[job.id])]
    apply(second[:9] + updated[:2] + second[9:30] + updated[2:] + second[30:], [])
    env.run(until=5)
    stops = []
    for alloc_id in ("fixed-2", "pair-3", "svc-1", "coincide-4", "deploy-5", "staggered-8", "svc-pair-2"):
        stop = Allocation(**{f: getattr(by_id.get(alloc_id) or state.alloc_by_id(alloc_id), f)
                             for f in ("id", "namespace", "eval_id", "name", "node_id", "node_name", "job_id", "job",
                                       "task_group")})
        stop.desired_status = "stop"
        stops.append(stop)
    apply([], stops)
    env.run(until=12)
    clients.node_down("n3")
    env.run(until=20)
    apply([a for job in jobs[:4] for a in _allocs(job, 12, 4, deployment[job.id])], [])
    env.run(until=50)
    clients.node_up("n3")
    env.run(until=400)
    return {
        "allocs": [(a.id, a.client_status, a.client_description, a.modify_index, a.modify_time, repr(a.task_states),
                    repr(a.deployment_status)) for a in state.allocs()],
        "rows": list(server.recorder.rows["allocations"]),
        "evals": [(e.id, e.job_id, e.triggered_by) for e in server.evals],
        "health": list(server.deployment_watcher.reports),
        "unblocked": (server.blocked.unblocked, server.blocked.unblocked_nodes),
        "rng": clients.rng.bit_generator.state,
        "index": (state.index, state.table_index),
        "summaries": [repr(state.job_summary("default", j.id)) for j in jobs],
        "runners": sorted((i, r.status, r.health, r.done) for i, r in clients.runners.items()),
        "events": next(env._eid),
        "used": state.nodes.used.tolist(),
    }


def test_runners_started_together_match_runners_started_one_by_one() -> None:
    """Runs of allocs started together (shared tasks, one timer per instant for the run, tasks
    exiting in step sharing their states) and reports sent in groups change no state, row, eval,
    draw or event: the same as each runner started and reported on its own."""
    together, one_by_one = _together(Clients), _together(OneByOne)
    for key in together:
        assert together[key] == one_by_one[key], key
    statuses = {status for _, status, *_ in together["allocs"]}
    assert {"running", "complete", "failed"} <= statuses
    assert together["health"] and together["evals"]
    assert any(h is False for *_, h in together["health"]) and any(h is True for *_, h in together["health"])


def test_reports_in_step_with_other_health_go_apart() -> None:
    """Runners sharing their task states but with another health verdict to send report apart."""
    env, state, server, clients = _world(False)
    job = _job("deploy", type="service", update=UpdateStrategy(max_parallel=1, min_healthy_time=MINUTE,
                                                                healthy_deadline=HOUR))
    state.upsert_job(job)
    job = state.job_by_id("default", "deploy")
    allocs = [Allocation(id=f"a{k}", namespace="default", eval_id="e", name=f"deploy.g[{k}]", node_id="n0",
                         node_name="n0", job_id=job.id, job=job, task_group="g", cpu=1, memory_mb=1, deployment_id="d1")
              for k in range(3)]
    state.upsert_plan_results(allocs, [], None, [], "e")
    clients.on_plan_applied(allocs, [])
    env.run(until=1)
    runners = [clients.runner(a.id) for a in allocs]
    assert runners[0].states is runners[1].states is runners[2].states
    runners[1].health = True  # (as if its verdict came apart)
    for runner in runners:
        clients.mark_dirty(runner)
    env.run(until=2)
    assert [a.deployment_status is not None and a.deployment_status.healthy for a in allocs] == [False, True, False]
    assert server.deployment_watcher.reports == [(1.2, "a1", True)]


def _released(grouped: bool) -> tuple:
    """Node usage after allocs with fractional asks and ports, several per node, report complete."""
    state = StateStore(clock=lambda: 5.0)
    state.upsert_nodes([Node(id=f"n{i}", name=f"n{i}", resources=NodeResources(10**6, 10**6, 10**6)) for i in range(3)])
    job = _job("j")
    state.upsert_job(job)
    job = state.job_by_id("default", "j")
    allocs = [Allocation(id=f"a{k}", namespace="default", eval_id="e", name=f"j.g[{k}]", node_id=f"n{k % 3}",
                         node_name=f"n{k % 3}", job_id="j", job=job, task_group="g", cpu=0.1 * (k + 1),
                         memory_mb=0.3 * k, disk_mb=k, ports=[("http", 20000 + k)] if k % 2 else [])
              for k in range(40)]
    state.upsert_plan_results(allocs, [], None, [], "e")
    done = {"client_status": "complete", "client_description": "All tasks have completed", "task_states": {}}
    if grouped:
        state.update_alloc_groups_from_client([(allocs[:35], done)])
    else:
        state.update_allocs_from_client([(a, dict(done)) for a in allocs[:35]])
    return state.nodes.used.tobytes(), state.nodes.used_ports, state.job_summary("default", "j"), state.index


def test_usage_freed_in_one_pass_equals_freed_one_by_one() -> None:
    """A group of reports frees node usage in one numpy pass: to the bit what one alloc at a time frees."""
    assert _released(grouped=True) == _released(grouped=False)
