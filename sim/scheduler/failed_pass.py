"""A blocked eval's re-run that cannot place anything, at the cost of one fit check.

In an overloaded cluster most scheduler passes re-run a blocked eval whose job has not changed
since its last pass failed: only the nodes' usage moved, and not enough. Such a pass reconciles
to the same missing placements, shuffles the same candidate nodes, finds the same static
verdicts and so reaches the same class eligibility; whether a node now fits is the only answer
that depends on the usage. `FailedPasses` keeps, per job, what its last wholly failed pass
learnt, under a key of everything that pass's reconcile and feasibility read: the job version,
the index of the last write to the job's allocs, the node table's version and the deployment.

- `replay`: a re-run that finds the key unchanged and no statically feasible candidate node
  fitting the ask of any group is re-blocked from the memo, without reconciling; so is its
  retry after the applier rejected its plan (the other worker's plan took the room). A batch
  job's alloc writes that leave its reconcile as it was (allocs started, or finished
  successfully) keep the memo. Fit checks are shared between a wave's re-runs (`NoFitCache`).
- `settle`: a re-run whose key moved reconciles (the shuffle drawn first, as always); when the
  reconcile only asks for missing allocs that fit nowhere, the stack is skipped and the memo
  renewed. What the groups asked for make of the node table (rows, fit checks, eligibility) is
  kept per job while the job and the node table stay as they were.
- `learn`: any other pass that placed nothing leaves its memo.

Either way the pass draws the same shuffle and gives the same outcome as the full pass, bit for
bit (tests/test_failed_pass.py); otherwise the full scheduler runs.

A memo is kept only for a pass whose reconcile cannot change with time or the eval: it only
asks for missing allocs (no stops, updates, reschedules, follow-up evals or deployment changes),
no alloc is on a tainted node, and every alloc it read is settled (reconciler/settled.py) or
pending or running as desired, with no desired transition. Its groups must need nothing beyond
resources to rank (no preemption or custom policy for the job): a node that does not fit the ask
cannot rank, whatever other stages (ports, devices, distinct hosts) would add.

Nomad: generic_sched.go, Process: a blocked eval that still cannot place everything is re-blocked
with its new class eligibility (ReblockEval); the pass's FailedTGAllocs are dropped, so the
re-run does not build them. It counts its failed placements (one per placement asked, as the
full pass's metrics would: 1 + CoalescedFailures per group).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import le
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sim.scheduler.env import SchedulerEnv
from sim.scheduler.feasible.checks import FeasibilityCache, candidate_rows
from sim.scheduler.feasible.proposed import ClassEligibility
from sim.scheduler.feasible.rank import group_ask
from sim.scheduler.reconciler.results import MissingPlacements, ReconcileResults, place_parts
from sim.scheduler.reconciler.settled import UNTAINTED, Stamp, settled_fate
from sim.structs.alloc import Allocation
from sim.structs.consts import ALLOC_CLIENT_PENDING, ALLOC_CLIENT_RUNNING, ALLOC_DESIRED_RUN
from sim.structs.deployment import Deployment
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job, JobKey, TaskGroup
from sim.structs.plan import Plan
from sim.structs.scheduler_config import PreemptionConfig

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy

MAX_JOBS = 8192  # memos kept (the oldest dropped first; a dropped one costs one full pass)
MAX_DERIVED = 1024  # jobs whose derivations are kept beyond their memo (see `FailedPasses._derived`)
_LIVE = (ALLOC_CLIENT_PENDING, ALLOC_CLIENT_RUNNING)


@dataclass(slots=True)
class FitCheck:
    """One group: its statically feasible candidate rows, their capacity and the group's ask."""

    rows: npt.NDArray[np.intp]
    cap: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]
    rows_key: bytes = b""  # the rows, hashable (NoFitCache)
    ask_key: tuple[float, ...] = ()  # the ask, as Python floats
    prefix: bool = False  # the rows are the table's first ones, in order (all of them, usually)
    padded_cap: npt.NDArray[np.float64] = field(init=False)  # `cap` and `ask`, padded (`padded`)
    padded_ask: npt.NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        self.rows_key, self.ask_key = self.rows.tobytes(), tuple(self.ask.tolist())
        self.prefix = bool(np.array_equal(self.rows, np.arange(len(self.rows))))
        self.padded_cap, self.padded_ask = padded(self.cap), padded(self.ask[None, :])[0]

    def fits_somewhere(self, used: npt.NDArray[np.float64]) -> bool:
        """Whether some row has room for the ask (Nomad: AllocsFit, with the stack's arithmetic),
        on the nodes' usage as the table holds it or `padded` (as NoFitCache keeps it)."""
        rows = self.rows
        n = len(rows)
        if not n:
            return False
        if used.shape[1] != self.padded_cap.shape[1]:
            used = padded(used)
        # (a slice for the first rows, else take; each row's dimensions over the capacity read
        # as one unsigned integer, zero where the row fits: four numpy calls in all)
        if self.prefix:
            after = np.add(used[:n], self.padded_ask)
        else:
            after = used.take(rows, axis=0)
            after += self.padded_ask
        over = np.greater(after, self.padded_cap)
        return bool(np.count_nonzero(over.view(_ROW_FLAGS[over.shape[1]])) < n)


_ROW_FLAGS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # by padded width: a row's flags as one integer


def padded(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rows of resource values with zero columns added up to a width of 1, 2, 4 or 8 (a padded
    column is never over: 0 + 0 > 0 is false), so that a row's comparison flags read as one
    unsigned integer (`FitCheck.fits_somewhere`)."""
    dims = values.shape[1]
    width = next((w for w in _ROW_FLAGS if w >= dims), None)
    if width is None:
        raise ValueError(f"fit checks take at most 8 resource dimensions, not {dims}")
    out = np.zeros((len(values), width), dtype=np.float64)
    out[:, :dims] = values
    return out


class NoFitCache:
    """Asks known to fit none of a set of rows under the nodes' current usage.

    Between two writes to the allocs (the only writes that move the usage) or the node table,
    an ask that fits nowhere on some rows still fits nowhere, and neither does any ask at least
    as large in every dimension (a sum rounds monotonically: used + ask >= used + smaller, so a
    dimension over the capacity stays over). For the same reason the verdicts outlive a write
    to the allocs that lowers no node's usage in any dimension (a placement, a status update).
    Blocked evals re-run in waves after one write, and many of their jobs ask the same or more
    on the same rows; each wave checks each rows-and-ask once. Per rows: every ask answered (a
    set) and the minimal ones among them."""

    def __init__(self) -> None:
        self._stamp: tuple[int, int, int] | None = None
        self._used: npt.NDArray[np.float64] | None = None  # the usage the verdicts hold for (a copy, `padded`)
        self._used_view: npt.NDArray[np.float64] | None = None  # its table columns
        self._no_fit: dict[bytes, tuple[set[tuple[float, ...]], list[tuple[float, ...]]]] = {}

    @staticmethod
    def stamp(state: Any) -> tuple[int, int, int]:
        """What the usage and the rows depend on: the last alloc write, the node table's version and size."""
        table = state.nodes
        return state.table_index["allocs"], table.version, len(table)

    def fits_somewhere(self, state: Any, check: FitCheck) -> bool:
        """`check.fits_somewhere` on the state's usage, answered from the cache when it can be."""
        return self.fits_any(state, (check,))

    def fits_any(self, state: Any, checks: list[FitCheck] | tuple[FitCheck, ...]) -> bool:
        """Whether some check finds room (`fits_somewhere` of each in turn)."""
        stamp = self.stamp(state)
        if stamp != self._stamp:
            self._restamp(stamp, state.nodes.used)
        no_fit = self._no_fit
        for check in checks:
            known = no_fit.get(check.rows_key)
            if known is not None and check.ask_key in known[0]:
                continue  # (answered already: most re-runs of a wave)
            if self._fits(check, known):
                return True
        return False

    def _restamp(self, stamp: tuple[int, int, int], used: npt.NDArray[np.float64]) -> None:
        """A new stamp: the verdicts kept when only the allocs moved and no usage fell."""
        old, kept = self._used_view, self._stamp
        if old is None or kept is None or kept[1:] != stamp[1:] or old.shape != used.shape:
            self._used = padded(used)
            self._used_view, self._no_fit = self._used[:, :used.shape[1]], {}
        else:
            if np.count_nonzero(np.less(used, old)):
                self._no_fit = {}
            np.copyto(old, used)
        self._stamp = stamp

    def _fits(
        self, check: FitCheck, known: tuple[set[tuple[float, ...]], list[tuple[float, ...]]] | None,
    ) -> bool:
        """Whether the check finds room, given the verdicts on its rows (`known`: its ask not
        answered among them)."""
        ask = check.ask_key
        if known is not None:
            answered, minimal = known
            for smaller in minimal:
                if all(map(le, smaller, ask)):
                    answered.add(ask)
                    return False
        if check.fits_somewhere(self._used):  # type: ignore[arg-type]  # (set by `_restamp`)
            return True
        if known is None:
            self._no_fit[check.rows_key] = ({ask}, [ask])
        else:
            answered.add(ask)
            minimal[:] = [k for k in minimal if not all(map(le, ask, k))]
            minimal.append(ask)
        return False


@dataclass(slots=True)
class _Memo:
    """What a job's wholly failed pass learnt, and the state it was learnt from."""

    spec: tuple[int, int, int]  # the job's version, create index and JobModifyIndex
    groups: list[TaskGroup]  # the job's groups (a status write copies the job, sharing them)
    alloc_index: int
    alloc_count: int
    nodes_version: int
    deployment: Deployment | None
    deployment_index: int
    preemption: PreemptionConfig  # the (frozen) config under which only the stack's stages rank
    shuffled: list[int]  # as many items as candidate nodes (a scratch list to shuffle, shared)
    checks: list[FitCheck]
    failed: int  # placements asked (all failed)
    eligibility: dict[str, bool]
    escaped: bool



@dataclass(slots=True)
class Replay:
    """A pass answered by the memo: the job, the eval's new class eligibility, the failed placements."""

    job: Job
    eligibility: dict[str, bool]
    escaped: bool
    failed: int


class FailedPasses:
    """Per job, the memo of its last wholly failed pass (kept in the state's `derived` map)."""

    def __init__(self, max_jobs: int = MAX_JOBS) -> None:
        self.max_jobs = max_jobs
        self._memos: dict[JobKey, _Memo] = {}
        self.replayed = 0  # passes answered from a memo without reconciling (diagnostics)
        self.settled = 0  # passes answered after a fresh reconcile (diagnostics)
        self.no_fit = NoFitCache()
        self._fit_seen: tuple[JobKey, tuple[int, int, int]] | None = None  # a replay found room (when)
        self._derivations: dict[JobKey, tuple[tuple[object, ...], _Derived]] = {}  # see `_derived`
        self._scratch: dict[int, list[int]] = {}  # by length: lists to shuffle

    @staticmethod
    def of(senv: SchedulerEnv) -> FailedPasses | None:
        """The memo of the state the scheduler reads (made on first use); None for a state
        without the alloc write indexes (e.g. a read-only view)."""
        return FailedPasses.of_state(senv.state)

    @staticmethod
    def of_state(state: Any) -> FailedPasses | None:
        """`of` a state."""
        derived = getattr(state, "derived", None)
        memo = derived.get("failed_passes") if derived is not None else None
        if isinstance(memo, FailedPasses):
            return memo
        if derived is None or not hasattr(state, "job_alloc_index") or not hasattr(state, "table_index"):
            return None
        memo = derived["failed_passes"] = FailedPasses()
        return memo

    def _shuffled(self, n: int) -> list[int]:
        """A scratch list of n items to shuffle (a list: numpy's shuffle of a sequence draws as
        its shuffle of an array, with less overhead)."""
        scratch = self._scratch.get(n)
        if scratch is None:
            scratch = self._scratch[n] = [0] * n
        return scratch

    def forget(self, key: JobKey) -> None:
        """The job's last pass was not a wholly failed one."""
        self._memos.pop(key, None)

    def replay(self, senv: SchedulerEnv, ev: Evaluation, batch: bool, retry: bool = False) -> Replay | None:
        """A blocked eval's pass answered without reconciling, or None when the scheduler must
        run. Draws the candidate shuffle exactly as the full pass's SetNodes does. A retry
        follows a plan the applier rejected: the room found before may be gone."""
        if retry:
            self._fit_seen = None
        found = self.match(senv.state, senv.rng, senv.policy, senv.preemption, ev, batch)
        if found is None:
            return None
        job, memo = found
        return Replay(job, dict(memo.eligibility), memo.escaped, memo.failed)

    def match(
        self, state: Any, rng: np.random.Generator, policy: Policy | None, preemption: PreemptionConfig,
        ev: Evaluation, batch: bool,
    ) -> tuple[Job, _Memo] | None:
        """`replay`, answered with the job and its memo (the shuffle drawn, the count kept)."""
        key = (ev.namespace, ev.job_id)
        memo = self._memos.get(key)
        if memo is None:
            return None
        seen = self._fit_seen
        if seen is not None and seen[0] == key and seen[1] == NoFitCache.stamp(state):
            return None  # (room found under this stamp already: the fast lane's try, then the full pass's)
        job = state.job_by_id(ev.namespace, ev.job_id)
        if (job is None or job.task_groups is not memo.groups or state.nodes.version != memo.nodes_version
                or (job.version, job.create_index, job.job_modify_index) != memo.spec
                or (preemption is not memo.preemption or policy is not None)
                and not _plain_ranking(policy, preemption, job)):
            return None
        deployment = None if batch else state.latest_deployment(*key)
        if deployment is not memo.deployment or (deployment is not None and deployment.modify_index != memo.deployment_index):
            return None
        no_fit = self.no_fit
        if no_fit.fits_any(state, memo.checks):
            self._fit_seen = (key, no_fit.stamp(state))
            return None
        alloc_index = state.job_alloc_index(ev.namespace, ev.job_id)
        if alloc_index != memo.alloc_index:
            if not _counted_as_before(state, job, memo, batch):
                return None
            memo.alloc_index = alloc_index
        # Nomad: GenericStack.SetNodes shuffles the candidates (permutation(n) is a shuffle of n
        # items: the same draws, without making the array)
        rng.shuffle(memo.shuffled)
        self.replayed += 1
        return job, memo

    def settle(
        self, senv: SchedulerEnv, job: Job | None, deployment: Deployment | None, results: ReconcileResults,
        allocs: list[Allocation], tainted: bool, batch: bool,
    ) -> Replay | None:
        """A blocked eval's pass answered after its reconcile (the shuffle already drawn), when
        the reconcile only asks for missing allocs and no node fits any of them; else None.
        Keeps the memo for the next re-run when the reconcile depends on nothing its key leaves out."""
        runs = _missing_only(senv, job, results, tainted)
        if job is None or runs is None or self._fit_seen == ((job.namespace, job.id), self.no_fit.stamp(senv.state)):
            return None  # (this pass's replay found room under the same key: so would the reconcile's asks)
        derived = self._derived(senv, job, runs)
        if self.no_fit.fits_any(senv.state, derived.checks):
            return None  # (a memo still under its key stays: a retry after a rejected plan may use it)
        memo = self._keep(senv, job, deployment, runs, derived, allocs, batch)
        self.settled += 1
        return Replay(job, dict(memo.eligibility), memo.escaped, memo.failed)

    def learn(
        self, senv: SchedulerEnv, job: Job | None, deployment: Deployment | None, results: ReconcileResults | None,
        allocs: list[Allocation], tainted: bool, batch: bool,
    ) -> None:
        """Keep the memo of a full pass that placed nothing (one attempt, a no-op plan, every
        group failed) and reconciled to `results`, when it may be kept; else forget the job's."""
        if job is None:
            return
        runs = _missing_only(senv, job, results, tainted) if results is not None else None
        if runs is None:
            self.forget((job.namespace, job.id))
            return
        self._keep(senv, job, deployment, runs, self._derived(senv, job, runs), allocs, batch)

    def _derived(self, senv: SchedulerEnv, job: Job, runs: list[MissingPlacements]) -> _Derived:
        """What the job's groups asked for make of the node table: the last one computed for
        the job when it was of the same job, groups asked and node table (kept across the
        job's placing passes)."""
        asked = tuple({run.task_group.name: None for run in runs})
        table = senv.state.nodes
        inputs = (job.version, job.create_index, job.job_modify_index, job.task_groups, asked, table.version)
        key = (job.namespace, job.id)
        kept = self._derivations.pop(key, None)
        derived = kept[1] if kept is not None and _same(kept[0], inputs) else _derive(table, job, runs, asked)
        while len(self._derivations) >= MAX_DERIVED:
            del self._derivations[next(iter(self._derivations))]
        self._derivations[key] = (inputs, derived)
        return derived

    def _keep(
        self, senv: SchedulerEnv, job: Job, deployment: Deployment | None, runs: list[MissingPlacements],
        derived: _Derived, allocs: list[Allocation], batch: bool,
    ) -> _Memo:
        """The memo of a pass in which every group failed (each failing select visits every
        candidate node), stored when every alloc the reconcile read settles."""
        state = senv.state
        memo = _Memo(
            (job.version, job.create_index, job.job_modify_index), job.task_groups,
            state.job_alloc_index(job.namespace, job.id), state.job_alloc_count(job.namespace, job.id),  # type: ignore[attr-defined]
            state.nodes.version,
            deployment, deployment.modify_index if deployment is not None else 0, senv.preemption,
            self._shuffled(derived.candidates),
            derived.checks, sum(len(run) for run in runs), derived.eligibility, derived.escaped,
        )
        key = (job.namespace, job.id)
        memos = self._memos
        memos.pop(key, None)
        if _all_settle(allocs, (batch, job.version, job.create_index, job.job_modify_index)):
            while len(memos) >= self.max_jobs:
                del memos[next(iter(memos))]
            memos[key] = memo
        return memo


def failed_pass_plan(ev: Evaluation, job: Job | None, snapshot_index: int) -> Plan:
    """The (empty) plan of a pass that placed nothing, as the full pass builds it."""
    return Plan(eval_id=ev.id, priority=ev.priority, job=job, all_at_once=bool(job and job.all_at_once),
                snapshot_index=snapshot_index)


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Whether two `_derived` inputs are equal (the groups list by identity: a status write
    copies the job, sharing it)."""
    return a[3] is b[3] and a[:3] == b[:3] and a[4:] == b[4:]


def _plain_ranking(policy: Policy | None, preemption: PreemptionConfig, job: Job) -> bool:
    """Whether only the stack's own stages rank the job's groups (no preemption, no policy)."""
    return policy is None and not preemption.enabled_for(job.type)


def _missing_only(
    senv: SchedulerEnv, job: Job | None, results: ReconcileResults, tainted: bool
) -> list[MissingPlacements] | None:
    """The reconcile's missing-name runs when it asks for nothing else, no alloc is on a tainted
    node and only the stack's own stages rank; else None."""
    if (job is None or tainted or not _plain_ranking(senv.policy, senv.preemption, job) or results.stop
            or results.inplace_update or results.attribute_updates or results.destructive_update
            or any(results.desired_followup_evals.values()) or results.deployment is not None
            or results.deployment_updates):
        return None
    runs: list[MissingPlacements] = []
    for part in place_parts(results.place):
        if type(part) is not MissingPlacements or part.downgrade_non_canary:
            return None
        runs.append(part)
    return runs or None


@dataclass(slots=True)
class _Derived:
    """The candidate nodes' count, per group asked its fit check, and the class eligibility
    every group's failing select leaves (it visits every candidate)."""

    candidates: int
    checks: list[FitCheck]
    eligibility: dict[str, bool]
    escaped: bool


def _derive(table: Any, job: Job, runs: list[MissingPlacements], asked: tuple[str, ...]) -> _Derived:
    """`_Derived` of the job's groups asked for, computed."""
    cache = FeasibilityCache.of_table(table)
    candidates = candidate_rows(table, job)[0]
    eligibility = ClassEligibility(table)
    eligibility.set_job(job)
    checks: list[FitCheck] = []
    groups = {run.task_group.name: run.task_group for run in runs}
    for name in asked:
        tg = groups[name]
        feasible = cache.group(table, job, tg)
        rows = candidates[feasible.fail[candidates] == 0]
        checks.append(FitCheck(rows, table.cap[rows], np.array(group_ask(tg), dtype=np.float64)))
        if len(candidates):  # (a select over no node visits none)
            eligibility.observe(name, feasible, candidates, 0, len(candidates))
    return _Derived(len(candidates), checks, dict(sorted(eligibility.class_eligibility().items())),
                    eligibility.has_escaped())


def _counted_as_before(state: Any, job: Job, memo: _Memo, batch: bool) -> bool:
    """Whether a batch job's alloc writes since the memo left reconcile's verdict as it was: no
    alloc added or removed, and each one written is still pending or running as desired with no
    transition, or finished successfully under the job's version (settled UNTAINTED). Either way
    it still counts towards Count, holds its name and is ignored by computeUpdates, as every
    alloc the memo's pass read that could be written since did (client-terminal allocs stay
    client-terminal; server-terminal and replaced ones stay so). Service jobs (deployment
    health) always reconcile."""
    key = (job.namespace, job.id)
    if not batch or state.job_alloc_count(*key) != memo.alloc_count:
        return False
    since, modify_index = memo.alloc_index, job.job_modify_index
    stamp = (batch, job.version, job.create_index, modify_index)
    for alloc in state.allocs_by_job(*key):
        if alloc.modify_index <= since:
            continue
        if alloc.create_index > since or alloc.job.job_modify_index != modify_index:
            return False
        if alloc.client_status in _LIVE:
            if alloc.desired_status != ALLOC_DESIRED_RUN or _moving(alloc):
                return False
        elif settled_fate(alloc, stamp) != UNTAINTED:
            return False
    return True


def _moving(alloc: Allocation) -> bool:
    """Whether the alloc is marked to migrate or reschedule."""
    transition = alloc.desired_transition
    return bool(transition.migrate or transition.reschedule or transition.force_reschedule)


def _all_settle(allocs: list[Allocation], stamp: Stamp) -> bool:
    """Whether reconcile's verdict on each alloc depends only on the alloc and the job (not on
    the time or the eval): settled, or pending or running as desired with no transition."""
    for alloc in allocs:
        if alloc.client_status in _LIVE and alloc.desired_status == ALLOC_DESIRED_RUN:
            transition = alloc.desired_transition  # (_moving, inline)
            if not (transition.migrate or transition.reschedule or transition.force_reschedule):
                continue
        elif settled_fate(alloc, stamp) is not None:
            continue
        return False
    return True
