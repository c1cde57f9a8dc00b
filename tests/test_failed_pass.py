"""The failed-pass memo (sim/scheduler/failed_pass.py) leaves every result as the full scheduler makes it.

Under test: scenarios whose blocked evals re-run many times give the same tables with the memo as
without it (the full pass then runs every time), and the memo did answer passes, both without
reconciling and after a fresh reconcile; a memo is dropped when anything its key covers moves;
the store's per-job alloc write index moves with every write to the job's allocs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from test_golden import table_digest

import sim.server.worker as worker_module
from sim.scheduler.env import SchedulerEnv
from sim.scheduler.failed_pass import FailedPasses, FitCheck, NoFitCache, padded
from sim.scheduler.generic import GenericScheduler, replay_blocked
from sim.simulation import Simulation
from sim.structs.ids import IdGenerator
from sim.structs.plan import PlanResult

# scenario -> overrides that overload a small cluster (blocked evals re-run on every unblock)
CASES: dict[str, dict[str, Any]] = {
    "alibaba-trace": {"workload[0].trace.limit": 40, "duration": "20m", "cluster.nodes[0].count": 1},
    "mixed": {"cluster.nodes[0].count": 3, "cluster.nodes[1].count": 1, "cluster.nodes[0].resources.cpu": 4000},
    "preemption": {},
}


def _run(name: str, memo: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], Simulation]:
    with monkeypatch.context() as patch:
        if not memo:
            patch.setattr(FailedPasses, "of_state", staticmethod(lambda state: None))
        sim = Simulation.from_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=CASES[name])
        sim.run()
    return {table: table_digest(frame) for table, frame in sorted(sim.results().items())}, sim


@pytest.mark.parametrize("name", sorted(CASES))
def test_tables_are_the_same_with_and_without_the_memo(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    full, _ = _run(name, False, monkeypatch)
    fast, sim = _run(name, True, monkeypatch)
    assert sorted(t for t in full if full[t] != fast[t]) == []
    if name != "preemption":
        memo = sim.state.derived["failed_passes"]
        assert isinstance(memo, FailedPasses)
        assert memo.replayed > 100 and memo.settled > 10


def _blocked_world() -> tuple[Simulation, SchedulerEnv, Any]:
    """The overloaded trace replay stopped while evals are blocked; one blocked eval whose pass
    the memo answers now."""
    sim = Simulation.from_scenario(ROOT / "scenarios" / "alibaba-trace.yaml", overrides=CASES["alibaba-trace"])
    sim.run(600)
    state = sim.state
    rng = np.random.default_rng(5)
    senv = SchedulerEnv(state=state, rng=rng, ids=IdGenerator(rng), now=sim.now)
    memo = FailedPasses.of(senv)
    assert memo is not None
    blocked = [e for e in state.evals() if e.status == "blocked"]
    answered = [e for e in blocked if memo.replay(senv, e, batch=True) is not None]
    assert answered
    return sim, senv, answered[0]


def _outcome(senv: SchedulerEnv, ev: Any) -> Any:
    gen = GenericScheduler(senv, batch=True).process(ev)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    return stop.value.value


def test_a_replayed_pass_is_the_full_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same re-blocked eval, failure count and plan, and the same draws from the rng."""
    _, senv, ev = _blocked_world()
    fast, full = _fast_and_full(senv, ev, monkeypatch)
    assert fast.failed_placements > 0
    assert fast.create_evals == full.create_evals == []


def _fast_and_full(senv: SchedulerEnv, ev: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The pass as the memo answers it and as the full scheduler does, from the same rng state;
    checks they draw the same numbers and give the same eval, failure count and plan."""
    start = senv.rng.bit_generator.state
    fast = _outcome(senv, ev)
    after_fast = senv.rng.bit_generator.state
    senv.rng.bit_generator.state = start
    with monkeypatch.context() as patch:
        patch.setattr(FailedPasses, "of", staticmethod(lambda senv: None))
        full = _outcome(senv, ev)
    assert senv.rng.bit_generator.state == after_fast
    assert fast.reblock and full.reblock and fast.placed == full.placed == 0
    assert (fast.eval, fast.failed_placements, fast.plan) == (full.eval, full.failed_placements, full.plan)
    return fast, full


@pytest.mark.parametrize("name", sorted(CASES))
def test_tables_are_the_same_with_and_without_the_workers_fast_lane(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's fast lane (replay_blocked: no scheduler built) against the scheduler's own
    memo answers."""
    answered = []

    def counted(*args: Any) -> Any:
        answer = replay_blocked(*args)
        answered.append(answer is not None)
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(worker_module, "replay_blocked", lambda *args: None)
        slow, _ = _run(name, True, monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(worker_module, "replay_blocked", counted)
        fast, _ = _run(name, True, monkeypatch)
    assert sorted(t for t in slow if slow[t] != fast[t]) == []
    if name != "preemption":
        assert sum(answered) > 100


def test_the_fast_lane_is_the_schedulers_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """On every blocked eval of an overloaded run: `replay_blocked` answers when the scheduler's
    pass is answered by the memo at once, with the same eval, failure count and draws; otherwise
    it draws nothing."""
    sim, senv, _ = _blocked_world()
    state, memo = sim.state, FailedPasses.of(senv)
    assert memo is not None
    preemption = state.scheduler_config.preemption_config
    blocked = [e for e in state.evals() if e.status == "blocked"]
    answers = 0
    for ev in blocked:
        start, replayed = senv.rng.bit_generator.state, memo.replayed
        fast = replay_blocked(state, senv.rng, None, preemption, ev)
        after_fast = senv.rng.bit_generator.state
        if fast is None:
            assert after_fast == start and memo.replayed == replayed
            continue
        answers += 1
        senv.rng.bit_generator.state = start
        full = _outcome(senv, ev)
        assert memo.replayed == replayed + 2  # (both answered by the memo)
        assert senv.rng.bit_generator.state == after_fast
        assert full.reblock and full.create_evals == [] and full.plan.is_no_op()
        assert (fast[0], fast[1]) == (full.eval, full.failed_placements)
        assert fast[0] is not ev and fast[0].class_eligibility is not ev.class_eligibility
    assert answers


def _retried(senv: SchedulerEnv, ev: Any) -> Any:
    """The pass with room on every node for its first attempt, whose plan the applier then
    rejects whole (the usage back as it was): the retry finds no node."""
    used, memo = senv.state.nodes.used, FailedPasses.of(senv)
    before = used.copy()
    used[:] = 0.0
    if memo is not None:
        memo.no_fit = NoFitCache()  # (the usage moved without a write)
    gen = GenericScheduler(senv, batch=True).process(ev)
    plan = next(gen)
    assert plan.node_allocation
    used[:] = before
    if memo is not None:
        memo.no_fit = NoFitCache()
    with pytest.raises(StopIteration) as stop:
        gen.send(PlanResult(refresh_index=senv.state.index, rejected_nodes=list(plan.node_allocation)))
    return stop.value.value


def test_a_retry_after_a_rejected_plan_is_answered_by_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same outcome (the rejected plan kept as the last one), same draws, as the full retry."""
    _, senv, ev = _blocked_world()
    memo = FailedPasses.of(senv)
    assert memo is not None
    start, pool, replayed = senv.rng.bit_generator.state, list(senv.ids._pool), memo.replayed
    fast = _retried(senv, ev)
    assert memo.replayed == replayed + 1
    after_fast = senv.rng.bit_generator.state
    senv.rng.bit_generator.state, senv.ids._pool = start, pool  # (the same alloc IDs)
    with monkeypatch.context() as patch:
        patch.setattr(FailedPasses, "of", staticmethod(lambda senv: None))
        full = _retried(senv, ev)
    assert senv.rng.bit_generator.state == after_fast
    assert fast.reblock and full.reblock and fast.placed == full.placed == 0
    assert fast.failed_placements == full.failed_placements > 0
    assert (fast.eval, fast.plan, fast.create_evals) == (full.eval, full.plan, full.create_evals)


def test_the_memo_is_dropped_when_its_key_moves() -> None:
    sim, senv, ev = _blocked_world()
    memo = FailedPasses.of(senv)
    assert memo is not None
    state = sim.state
    allocs = state.allocs_by_job(ev.namespace, ev.job_id)
    assert allocs
    before = state.job_alloc_index(ev.namespace, ev.job_id)
    state.update_alloc_desired_transition(allocs[:1], reschedule=True)  # a write reconcile sees
    assert state.job_alloc_index(ev.namespace, ev.job_id) > before
    assert memo.replay(senv, ev, batch=True) is None
    node = state.nodes.nodes[0]  # a node write moves the node table's version
    state.update_node(node.id, scheduling_eligibility=node.scheduling_eligibility)
    assert memo.replay(senv, ev, batch=True) is None


def test_a_write_that_leaves_the_reconcile_as_it_was_keeps_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """An alloc written without changing what reconcile makes of it (here a transition left
    unset) keeps the memo, and the replayed pass is still the full pass."""
    _, senv, ev = _blocked_world()
    state = senv.state
    allocs = state.allocs_by_job(ev.namespace, ev.job_id)
    assert allocs
    state.update_alloc_desired_transition(allocs[:1], migrate=False)
    memo = FailedPasses.of(senv)
    assert memo is not None
    replayed = memo.replayed
    _fast_and_full(senv, ev, monkeypatch)
    assert memo.replayed == replayed + 1


def test_the_job_alloc_index_follows_every_write_to_the_jobs_allocs() -> None:
    sim = Simulation.from_scenario(ROOT / "scenarios" / "alibaba-trace.yaml", overrides=CASES["alibaba-trace"])
    state = sim.state
    seen: dict[tuple[str, str], int] = {}
    for _ in range(20):
        sim.run(sim.now + 30)
        for alloc in state.allocs():
            key = (alloc.namespace, alloc.job_id)
            seen[key] = max(seen.get(key, 0), alloc.modify_index, alloc.create_index)
    for (namespace, job_id), index in seen.items():
        assert state.job_alloc_index(namespace, job_id) >= index
    assert state.job_alloc_index("default", "no-such-job") == 0


def test_a_dry_run_neither_reads_nor_leaves_a_memo() -> None:
    """A plan's dry run (an annotated eval, perhaps of a job version the state does not hold)."""
    _, senv, ev = _blocked_world()
    memo = FailedPasses.of(senv)
    assert memo is not None
    before = {key: id(m) for key, m in memo._memos.items()}, memo.replayed, memo.settled
    dry = ev.copy()
    dry.annotate_plan = True
    next(GenericScheduler(senv, batch=True).process(dry), None)
    assert ({key: id(m) for key, m in memo._memos.items()}, memo.replayed, memo.settled) == before


class _NodeTableStub:
    """What `NoFitCache` reads of the node table: usage, version and size."""

    version = 0

    def __init__(self, used: np.ndarray) -> None:
        self.used = used
        self.size = len(used)

    def __len__(self) -> int:
        return self.size


class _CacheState:
    """What `NoFitCache` reads of a state: the node table and the index of the last alloc write."""

    def __init__(self, used: np.ndarray) -> None:
        self.nodes = _NodeTableStub(used)
        self.table_index = {"allocs": 1}


def test_no_fit_cache_answers_as_the_fit_check() -> None:
    """An ask at least as large as one that fits nowhere fits nowhere; a smaller one is checked;
    a write to the allocs (which moves the usage) empties the cache."""


    cap = np.array([[1000.0, 1000.0], [1000.0, 1000.0]])
    rows = np.array([0, 1], dtype=np.intp)

    def check(cpu: float, mem: float) -> FitCheck:
        return FitCheck(rows, cap, np.array([cpu, mem]))

    state, cache = _CacheState(np.array([[900.0, 100.0], [500.0, 900.0]])), NoFitCache()
    assert not cache.fits_somewhere(state, check(600.0, 200.0))
    state.nodes.used = np.zeros((2, 2))  # usage moved without a write: the cache still answers
    assert not cache.fits_somewhere(state, check(600.0, 300.0))  # dominated by the first ask
    assert cache.fits_somewhere(state, check(50.0, 200.0))  # smaller in one dimension: checked
    state.table_index["allocs"] = 2
    assert cache.fits_somewhere(state, check(600.0, 300.0))


def test_no_fit_cache_answers_as_the_fit_check_on_random_cases() -> None:
    """`FitCheck.fits_somewhere` answers as a row-by-row check, and `NoFitCache.fits_somewhere` as
    both, across writes (a new stamp) and waves of asks, larger and smaller, on shared rows."""
    rng = np.random.default_rng(7)


    cap = np.full((6, 2), 1000.0)
    row_sets = [np.array(r, dtype=np.intp) for r in ([0, 1, 2], [3, 4, 5], [1, 4], [])]
    state, cache = _CacheState(np.zeros((6, 2))), NoFitCache()
    for _ in range(300):
        if rng.random() < 0.2:
            state.table_index["allocs"] += 1
            state.nodes.used = rng.choice([0.0, 400.0, 800.0, 950.0], size=(6, 2))
        picked = [row_sets[int(rng.integers(len(row_sets)))] for _ in range(int(rng.integers(1, 4)))]
        checks = [FitCheck(rows, cap[rows], rng.choice([50.0, 100.0, 300.0, 700.0], size=2)) for rows in picked]
        for check in checks:
            fits = bool((state.nodes.used[check.rows] + check.ask <= check.cap).all(axis=1).any())
            assert check.fits_somewhere(state.nodes.used) == fits
            assert cache.fits_somewhere(state, check) == fits


def test_fit_check_answers_as_a_row_by_row_check_on_the_first_rows_and_others() -> None:
    """`FitCheck.fits_somewhere` (a slice for the table's first rows, a take for others) answers
    as each row's used + ask <= capacity, in three dimensions, at and around the capacity."""
    rng = np.random.default_rng(11)
    for _ in range(400):
        n = int(rng.integers(1, 9))
        cap = rng.choice([100.0, 1000.0, 0.1 + 0.2], size=(n, 3))
        used = cap - rng.choice([0.0, 0.1, 0.3, 50.0, 900.0], size=(n, 3))
        first = int(rng.integers(0, n + 1))
        for rows in (np.arange(first, dtype=np.intp), np.sort(rng.choice(n, first, replace=False)).astype(np.intp)):
            check = FitCheck(rows, cap[rows], rng.choice([0.0, 0.1, 0.2, 50.0, 100.0], size=3))
            assert check.prefix == (rows.tolist() == list(range(len(rows))))
            fits = any(all(u + a <= c for u, a, c in zip(used[r], check.ask, cap[r], strict=True)) for r in rows)
            assert check.fits_somewhere(used) == fits


def test_fit_check_answers_as_a_row_by_row_check_in_any_number_of_dimensions() -> None:
    """`FitCheck.fits_somewhere` (each row's flags read as one integer, the columns padded to 1,
    2, 4 or 8) answers as the row-by-row check for 1 to 8 dimensions, on the table's usage and
    on its `padded` copy; more dimensions are refused."""
    rng = np.random.default_rng(19)
    for _ in range(400):
        n, dims = int(rng.integers(1, 7)), int(rng.integers(1, 9))
        cap = rng.choice([100.0, 1000.0, 0.1 + 0.2], size=(n, dims))
        used = cap - rng.choice([0.0, 0.1, 0.3, 50.0, 900.0], size=(n, dims))
        rows = np.sort(rng.choice(n, int(rng.integers(0, n + 1)), replace=False)).astype(np.intp)
        check = FitCheck(rows, cap[rows], rng.choice([0.0, 0.1, 0.2, 50.0, 100.0], size=dims))
        fits = any(all(u + a <= c for u, a, c in zip(used[r], check.ask, cap[r], strict=True)) for r in rows)
        assert check.fits_somewhere(used) == fits
        assert check.fits_somewhere(padded(used)) == fits
    with pytest.raises(ValueError):
        padded(np.zeros((2, 9)))


def _count_fit_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the fit checks made from now on (the one item of the list returned)."""
    calls = [0]
    inner = FitCheck.fits_somewhere

    def counted(check: FitCheck, used: np.ndarray) -> bool:
        calls[0] += 1
        return inner(check, used)

    monkeypatch.setattr(FitCheck, "fits_somewhere", counted)
    return calls


def test_no_fit_cache_keeps_its_verdicts_only_while_no_usage_falls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Across writes that move the usage in place, mostly up by uneven amounts (a placement) and
    sometimes down (an alloc finished), `NoFitCache` answers as the fit check; it kept verdicts
    across writes that lowered nothing."""
    rng = np.random.default_rng(13)
    calls = _count_fit_checks(monkeypatch)
    cap = np.full((5, 3), 1.0)
    row_sets = [np.arange(5, dtype=np.intp), np.array([1, 3], dtype=np.intp)]
    asks = [[0.1, 0.2, 0.3], [0.3, 0.1, 0.1], [0.2, 0.2, 0.2], [0.05, 0.7, 0.1]]
    state, cache = _CacheState(np.full((5, 3), 0.7)), NoFitCache()
    used = state.nodes.used
    for _ in range(600):
        state.table_index["allocs"] += 1
        row = int(rng.integers(5))
        step = float(rng.choice([0.1, 0.2, 0.3, 0.05])) * (1.0 if rng.random() < 0.95 else -1.0)
        used[row] = np.minimum(np.maximum(used[row] + step, 0.0), 1.2)
        if rng.random() < 0.05:
            used[:] = 0.7
        for _ in range(3):
            rows = row_sets[int(rng.integers(2))]
            check = FitCheck(rows, cap[rows], np.array(asks[int(rng.integers(len(asks)))]))
            fits = bool((used[rows] + check.ask <= check.cap).all(axis=1).any())
            assert cache.fits_somewhere(state, check) == fits
    assert calls[0] < 1200  # (1,013 checks; emptied on every write, the cache would check 1,686 times)


def test_the_memos_shuffle_draws_as_the_stacks_permutation() -> None:
    """The memo's shuffle of a scratch list leaves the scheduler's stream where the full pass's
    `permutation(n)` of the candidates does, for every n (none, one, many)."""
    memo, rng = FailedPasses(), np.random.default_rng(17)
    for n in [0, 1, 2, 3, 5, 64, 100, 101, 1000, *rng.integers(0, 5000, size=20).tolist()]:
        full, fast = np.random.default_rng(n), np.random.default_rng(n)
        full.permutation(n)
        fast.shuffle(memo._shuffled(n))
        assert full.bit_generator.state == fast.bit_generator.state
        assert full.random() == fast.random()


def test_room_the_fast_lane_found_is_not_checked_again_by_the_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """After the workers' fast lane found room, the scheduler's pass at the same stamp goes to
    the full pass without checking again, and plans as it does after its own check."""
    _, senv, ev = _blocked_world()
    state, memo = senv.state, FailedPasses.of(senv)
    assert memo is not None
    state.nodes.used[:] = 0.0
    memo.no_fit = NoFitCache()  # (the usage moved without a write)
    calls = _count_fit_checks(monkeypatch)
    start, pool = senv.rng.bit_generator.state, list(senv.ids._pool)
    assert replay_blocked(state, senv.rng, None, state.scheduler_config.preemption_config, ev) is None
    assert calls == [1] and senv.rng.bit_generator.state == start
    plan = next(GenericScheduler(senv, batch=True).process(ev))
    assert calls == [1] and plan.node_allocation
    after = senv.rng.bit_generator.state
    senv.rng.bit_generator.state, senv.ids._pool = start, pool  # (the same alloc IDs)
    memo._fit_seen = None  # (the pass checks for itself)
    again = next(GenericScheduler(senv, batch=True).process(ev))
    assert calls == [2] and senv.rng.bit_generator.state == after
    assert again == plan
