"""The settled-alloc fast path gives the reconciler's full-path results, field by field.

Random histories of a job in a real state store (placements, client updates, stops, replacements,
desired transitions, node failures, job versions, deployments with canaries) are reconciled after
every write twice: with every alloc, and with the unsettled allocs plus the SettledIndex summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields, replace

import numpy as np
import pytest

from sim.scheduler.feasible.proposed import CountedAllocs, ProposedState
from sim.scheduler.generic import mark_lost_stopped_allocs
from sim.scheduler.node_sets import tainted_nodes
from sim.scheduler.reconciler.cluster import ClusterState, ReconcilerState, reconcile
from sim.scheduler.reconciler.names import AllocNameIndex, IndexMultiset, alloc_name
from sim.scheduler.reconciler.results import ReconcileResults
from sim.scheduler.reconciler.settled import (
    UNTAINTED,
    SettledGroup,
    SettledIndex,
    _JobSettled,
    job_allocs,
    settled_fate,
)
from sim.state.store import StateStore
from sim.structs.alloc import Allocation, AllocDeploymentStatus, TaskState
from sim.structs.consts import CLIENT_TERMINAL
from sim.structs.deployment import DeploymentState
from sim.structs.plan import Plan

from ..fixtures import mock_node
from ..fixtures_reconcile import Ids, add_group, copy_job, mock_job, new_deployment

CLIENT_STATUSES = ["running", "running", "complete", "complete", "complete", "failed", "lost", "pending"]


def _update_fn(existing: Allocation, job, tg):
    """A pure update function: ignore same version or terminal, else by name index parity."""
    if existing.job.job_modify_index == job.job_modify_index or existing.terminal():
        return True, False, None
    if existing.index() % 2:
        return False, True, None
    return False, False, replace(existing, job=job)


class _History:
    """One job's random history in a state store."""

    def __init__(self, seed: int, job_type: str):
        self.rng = np.random.default_rng(seed)
        self.now = 1000.0
        self.state = StateStore(clock=lambda: self.now)
        self.nodes = [mock_node() for _ in range(5)]
        self.state.upsert_nodes(self.nodes)
        self.ids = Ids("a")
        self.plain_left_out = 0  # fast-path reconciles that summarised plain live allocs
        self.counted_resets = 0  # stack resets from the index's counts
        job = mock_job(job_type)
        job.task_groups[0].count = int(self.rng.integers(4, 12))
        if self.rng.random() < 0.5:
            add_group(job, "db").count = int(self.rng.integers(2, 6))
        if job_type == "batch" and self.rng.random() < 0.5:
            for tg in job.task_groups:
                tg.update = None
        self.state.upsert_job(job)

    @property
    def job(self):
        return self.state.job_by_id("default", "mock-" + self.job_type)

    @property
    def job_type(self) -> str:
        return self.state.jobs()[0].type

    def _pick(self, allocs: list[Allocation], k: int) -> list[Allocation]:
        if not allocs:
            return []
        chosen = self.rng.choice(len(allocs), size=min(k, len(allocs)), replace=False)
        return [allocs[i] for i in sorted(chosen)]

    def step(self) -> None:
        """One random write."""
        rng, state, job = self.rng, self.state, self.job
        allocs = state.allocs_by_job("default", job.id)
        self.now += float(rng.integers(1, 120))
        op = rng.choice(["place", "place", "client", "client", "client", "stop", "transition",
                         "node", "version", "deployment"])
        if op == "place" or not allocs:
            self._place(job, allocs)
        elif op == "client":
            updates = []
            for alloc in self._pick(allocs, int(rng.integers(1, 6))):
                status = str(rng.choice(CLIENT_STATUSES))
                dead = status in CLIENT_TERMINAL
                ts = {"web": TaskState(state="dead" if dead else "running", failed=status == "failed",
                                       finished_at=self.now if dead else None)}
                updates.append((alloc, {"client_status": status, "task_states": ts}))
            state.update_allocs_from_client(updates)
        elif op == "stop":
            stops = [replace(a, desired_status=str(rng.choice(["stop", "evict"])), desired_description="x",
                             client_status=str(rng.choice(["", "lost"])))
                     for a in self._pick(allocs, int(rng.integers(1, 4)))]
            state.upsert_plan_results([], stops, None, [], "")
        elif op == "transition":
            which = str(rng.choice(["migrate", "reschedule", "force_reschedule"]))
            state.update_alloc_desired_transition(self._pick(allocs, 2), **{which: True})
        elif op == "node":
            node = self.nodes[int(rng.integers(len(self.nodes)))]
            change = rng.choice(["down", "drain", "ready"])
            if change == "drain":
                state.update_node(node.id, drain=True)
            else:
                state.update_node(node.id, status=str(change), drain=False)
        elif op == "version":
            new = copy_job(job)
            tg = new.task_groups[int(rng.integers(len(new.task_groups)))]
            tg.count = max(0, tg.count + int(rng.integers(-2, 3)))
            new.stop = bool(rng.random() < 0.1)
            state.upsert_job(new, keep_version=bool(rng.random() < 0.3))
        else:
            self._deploy(job, allocs)

    def _place(self, job, allocs: list[Allocation]) -> None:
        rng = self.rng
        versions = self.state.job_versions("default", job.id)
        placed = []
        for _ in range(int(rng.integers(1, 6))):
            tg = job.task_groups[int(rng.integers(len(job.task_groups)))]
            alloc_job = versions[int(rng.integers(len(versions)))] if rng.random() < 0.2 else job
            node = self.nodes[int(rng.integers(len(self.nodes)))]
            alloc = Allocation(
                id=self.ids(), namespace="default", eval_id="e", node_id=node.id, node_name=node.name,
                name=alloc_name(job.id, tg.name, int(rng.integers(0, (tg.count or 1) + 2))), job_id=job.id,
                job=alloc_job, task_group=tg.name, cpu=10, memory_mb=10, disk_mb=10)
            terminal = [a for a in allocs if a.terminal() and not a.next_allocation]
            if terminal and rng.random() < 0.4:
                alloc.previous_allocation = terminal[int(rng.integers(len(terminal)))].id
            deployment = self.state.latest_deployment("default", job.id)
            if deployment is not None and rng.random() < 0.5:
                alloc.deployment_id = deployment.id
                alloc.deployment_status = AllocDeploymentStatus(canary=bool(rng.random() < 0.3))
            placed.append(alloc)
        self.state.upsert_plan_results(placed, [], None, [], "")

    def _deploy(self, job, allocs: list[Allocation]) -> None:
        groups = {}
        for tg in job.task_groups:
            canaries = [a.id for a in self._pick(allocs, 2) if a.task_group == tg.name]
            groups[tg.name] = DeploymentState(placed_canaries=canaries, promoted=bool(self.rng.random() < 0.5),
                                              desired_canaries=len(canaries))
        status = str(self.rng.choice(["running", "running", "paused", "failed", "successful"]))
        self.state.upsert_deployment(new_deployment(Ids("d" + str(self.now)), job, status, **groups))

    def reconcile_both(self) -> tuple[ReconcileResults, ReconcileResults, bool]:
        """(full-path results, fast-path results, whether the fast path had settled allocs)."""
        state, job = self.state, self.job
        batch = job.type == "batch"
        deployment = None if batch else state.latest_deployment("default", job.id)
        out = []
        fast_used = False
        for path in ("full", "fast"):
            if path == "full":
                allocs, settled = state.allocs_by_job("default", job.id), None
                unsettled = allocs
            else:
                allocs, settled, unsettled = job_allocs(state, job, "default", job.id, batch, deployment)
                fast_used = bool(settled)
                self.plain_left_out += bool(settled) and len(allocs) < len(unsettled)
            tainted = tainted_nodes(allocs, state.node_by_id)
            plan = Plan(eval_id="e", priority=50, job=job)
            mark_lost_stopped_allocs(plan, allocs, tainted)
            inputs = ReconcilerState(job, job.id, "default", deployment, allocs, batch, "eval-1", 50,
                                     same_version_ignored=True, settled=settled)
            result = reconcile(inputs, ClusterState(tainted, self.now), _update_fn, Ids("f"))
            live = [a.id for a in unsettled if a.client_status not in CLIENT_TERMINAL]  # the stack's
            out.append((result, plan.node_update, live))
            if path == "fast" and type(unsettled) is CountedAllocs:
                self.counted_resets += _same_reset(state, job, unsettled)
                entry = state.derived["settled_allocs"]._jobs[("default", job.id)]
                assert entry.nodes == Counter(a.node_id for a in unsettled if a.id in entry.plain)
                _same_as_rebuilt(entry, state.allocs_by_job("default", job.id), state)
        (full, full_lost, full_live), (fast, fast_lost, fast_live) = out
        assert fast_lost == full_lost
        assert fast_live == full_live
        return full, fast, fast_used


def _same_as_rebuilt(entry: _JobSettled, allocs: list[Allocation], state: StateStore) -> None:
    """The entry kept by the delta of the state's writes is the one learnt from every alloc now."""
    rebuilt = _JobSettled(entry.stamp, state.nodes)
    for alloc in allocs:
        rebuilt.learn(alloc)
    assert list(entry.unsettled) == list(rebuilt.unsettled)
    assert entry.fate == rebuilt.fate and entry.plain == rebuilt.plain and entry.nodes == rebuilt.nodes
    assert entry.counts.at == rebuilt.counts.at
    assert {g: rows for g, rows in entry.counts.groups.items() if rows} == rebuilt.counts.groups
    for name in {*entry.groups, *rebuilt.groups}:
        kept, built = entry.groups.get(name, SettledGroup()), rebuilt.groups.get(name, SettledGroup())
        assert (kept.total, kept.old, kept.ignored, kept.untainted, kept.same_version, kept.deployments) == \
            (built.total, built.old, built.ignored, built.untainted, built.same_version, built.deployments)
        assert Counter(kept.names.used) + Counter(kept.names.extra) == Counter(built.names.used) + Counter(built.names.extra)


def _same_reset(state: StateStore, job, allocs: CountedAllocs) -> bool:
    """Whether the stack's reset from the index's counts was used, asserting it counts as one
    from the allocs one by one."""
    by_counts, by_allocs = ProposedState(state.nodes), ProposedState(state.nodes)
    by_counts.reset(job, allocs)
    by_allocs.reset(job, list(allocs))
    assert np.array_equal(by_counts.job_count, by_allocs.job_count)
    for group in {*by_counts.group_count, *by_allocs.group_count}:
        assert np.array_equal(by_counts.counts_of(group), by_allocs.counts_of(group)), group
    assert by_counts.existing == by_allocs.existing
    return not allocs.counts.unknown


@pytest.mark.parametrize("job_type", ["batch", "service"])
def test_fast_path_matches_full_reconcile_on_random_histories(job_type: str) -> None:
    """Every field of the reconcile results is the same with the settled summary as without, and
    the stack's reset from the index's counts is the same as from the allocs."""
    fast_runs = plain_runs = counted_resets = 0
    for seed in range(30):
        history = _History(seed, job_type)
        for _ in range(40):
            history.step()
            full, fast, used = history.reconcile_both()
            fast_runs += used
            for f in fields(ReconcileResults):
                assert getattr(fast, f.name) == getattr(full, f.name), (seed, f.name)
        plain_runs += history.plain_left_out
        counted_resets += history.counted_resets
    assert counted_resets > 1000  # the counts were really used
    assert fast_runs > 100  # the summary was really used
    assert (plain_runs > 50) if job_type == "batch" else plain_runs == 0  # with plain live allocs too


def _batch_world(n: int) -> tuple[StateStore, list[Allocation]]:
    """A state with one batch job (count 10, one group) and `n` running allocs of it."""
    state = StateStore(clock=lambda: 1000.0)
    node = mock_node()
    state.upsert_nodes([node])
    job = mock_job("batch")
    state.upsert_job(job)
    ids = Ids("b")
    allocs = [Allocation(id=ids(), namespace="default", eval_id="e", name=alloc_name(job.id, "web", i),
                         node_id=node.id, node_name=node.name, job_id=job.id, job=job, task_group="web")
              for i in range(n)]
    state.upsert_plan_results(allocs, [], None, [], "")
    state.update_allocs_from_client([(a, {"client_status": "running"}) for a in allocs])
    return state, allocs


def test_settled_index_follows_writes_between_runs() -> None:
    """A completed batch alloc leaves the unsettled list once the state records its completion;
    running ones stay there but are summarised (plain) rather than reconciled one by one."""
    state, allocs = _batch_world(3)
    job = state.job_by_id("default", "mock-batch")
    live, settled, unsettled = job_allocs(state, job, "default", job.id, True, None)
    assert [a.id for a in unsettled] == [a.id for a in allocs] and live == []
    assert settled["web"].untainted == 3 and settled["web"].names.used == {0, 1, 2}
    done = {"client_status": "complete", "task_states": {"web": TaskState(state="dead", finished_at=1000.0)}}
    state.update_allocs_from_client([(allocs[0], done)])
    live, settled, unsettled = job_allocs(state, job, "default", job.id, True, None)
    assert [a.id for a in unsettled] == [a.id for a in allocs[1:]] and live == []
    assert settled["web"].untainted == 3 and settled["web"].names.used == {0, 1, 2}
    assert settled_fate(allocs[0], (True, job.version, job.create_index, job.job_modify_index)) == UNTAINTED


def test_plain_live_allocs_are_summarised_until_written_otherwise_or_their_node_is_tainted() -> None:
    state, allocs = _batch_world(3)
    job = state.job_by_id("default", "mock-batch")
    state.update_alloc_desired_transition(allocs[1:2], migrate=True)
    live, settled, _ = job_allocs(state, job, "default", job.id, True, None)
    assert [a.id for a in live] == [allocs[1].id]
    assert settled["web"].untainted == 2 and settled["web"].names.used == {0, 2}
    state.update_alloc_desired_transition(allocs[1:2], migrate=False)
    live, settled, _ = job_allocs(state, job, "default", job.id, True, None)
    assert live == [] and settled["web"].untainted == 3
    state.update_node(allocs[0].node_id, drain=True)
    live, settled, unsettled = job_allocs(state, job, "default", job.id, True, None)
    assert settled is None and [a.id for a in live] == [a.id for a in unsettled] == [a.id for a in allocs]


def test_settled_index_drops_least_recently_used_jobs() -> None:
    """At most max_jobs summaries are kept; a dropped one is rebuilt with the same answer."""
    state, allocs = _batch_world(3)
    job = state.job_by_id("default", "mock-batch")
    state.update_allocs_from_client([(allocs[1], {"client_status": "complete"})])
    index = SettledIndex(max_jobs=1)
    first = index.view(state, job, "default", job.id, True, None)
    index.view(state, job, "default", "other", True, None)
    again = index.view(state, job, "default", job.id, True, None)
    assert [a.id for a in again[2]] == [a.id for a in first[2]] == [allocs[0].id, allocs[2].id]
    assert again[0] == first[0] == []
    assert again[1] is not None and again[1]["web"].untainted == 3


@pytest.mark.parametrize("seed", range(40))
def test_name_index_with_base_behaves_as_one_built_from_every_alloc(seed: int) -> None:
    """AllocNameIndex over live allocs plus an IndexMultiset base answers as over all allocs."""
    rng = np.random.default_rng(seed)
    job = mock_job("batch")
    count = int(rng.integers(1, 15))
    settled = [int(i) for i in rng.integers(0, count + 3, size=int(rng.integers(0, 20)))]
    live = [int(i) for i in rng.integers(0, count + 3, size=int(rng.integers(0, 8)))]
    base = IndexMultiset()
    for idx in settled + [99]:
        base.add(idx)
    base.remove(99)

    def allocs(indexes: list[int]) -> list[Allocation]:
        return [Allocation(id=f"{i}-{n}", namespace="default", eval_id="", name=alloc_name(job.id, "web", i),
                           node_id="", node_name="", job_id=job.id, job=job, task_group="web")
                for n, i in enumerate(indexes)]

    full = AllocNameIndex(job.id, "web", count, allocs(settled + live))
    split = AllocNameIndex(job.id, "web", count, allocs(live), base)
    for _ in range(4):
        op = rng.choice(["lazy", "next", "highest", "unset", "canaries"])
        n = int(rng.integers(0, 6))
        if op == "lazy":
            assert list(split.next_lazy(n)) == list(full.next_lazy(n))
        elif op == "next":
            assert split.next(n) == full.next(n)
        elif op == "highest":
            assert split.highest(n) == full.highest(n)
        elif op == "unset":
            split.unset_index(n)
            full.unset_index(n)
        else:
            assert split.next_canaries(n, [], []) == full.next_canaries(n, [], [])
    assert split.next(3) == full.next(3)
    assert sorted(base.used) == sorted(set(settled))  # the base itself is never changed
