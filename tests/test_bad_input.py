"""Bad input is rejected at the edges, before any state changes (docs/architecture.md#conventions, convention 5).

Invalid jobs through the in-process API (`sim.api.register_job`, an ApiError with Nomad's
status) and through the job endpoint (`JobEndpoint.register`, a ValidationError) leave the state
untouched: same raft index, same table indexes, no job, version, eval or alloc written, nothing
queued. Invalid scenarios name the offending key. A hypothesis fuzz feeds random and mutated job
JSON through the API: each payload is accepted or answered with a 400/500 ApiError, nothing else.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import DATA, tiny_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import ApiError, ScenarioError, ValidationError
from sim.scenario.load import load_scenario
from sim.simulation import Simulation
from sim.structs.codec import decode_job

REFERENCE_JOBS = DATA / "reference" / "jobs"
VALID_REFERENCE = sorted(p for p in REFERENCE_JOBS.glob("*.json") if not p.name.startswith("invalid-"))
INVALID_REFERENCE = sorted(REFERENCE_JOBS.glob("invalid-*.json"))


def fingerprint(sim: Simulation) -> tuple:
    """Everything a write would change: indexes, object counts, versions, queues."""
    state = sim.state
    jobs = tuple((j.namespace, j.id, j.version, j.modify_index, j.status) for j in state.jobs(None))
    return (state.index, tuple(sorted(state.table_index.items())), jobs, len(state.evals()), len(state.allocs()),
            sim.server.broker.ready_count(), sim.server.plan_queue.depth())


def small_job(job_id: str = "web", **group) -> dict:
    """A valid one-group service job (with optional group overrides)."""
    task = {"Name": "t", "Driver": "docker", "Config": {"image": "nginx"}, "Resources": {"CPU": 100, "MemoryMB": 64}}
    return {"ID": job_id, "Type": "service", "Datacenters": ["dc1"],
            "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [task]} | group]}


def _sim() -> Simulation:
    return Simulation.from_scenario(tiny_scenario(), seed=1)


def _with_existing_job() -> Simulation:
    sim = _sim()
    sim.api.register_job({"Job": small_job()})
    sim.run(30)
    assert sim.state.job_by_id("default", "web").status == "running"
    return sim


INVALID_JOBS = {
    "negative count": (small_job(Count=-1), 500, "count can't be negative"),
    "no task groups": ({"ID": "web", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": []}, 500, "Missing job task groups"),
    "no driver": ({**small_job(), "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t"}]}]}, 500, "Missing task driver"),
    "bad type": ({**small_job(), "Type": "daemon"}, 500, "Invalid job type"),
    "priority too high": ({**small_job(), "Priority": 101}, 500, "priority must be between"),
    "wrong field type": ({**small_job(), "Priority": "high"}, 400, ""),
    "no ID": ({k: v for k, v in small_job().items() if k != "ID"}, 400, "Job ID hasn't been provided"),
    "duplicate groups": ({**small_job(), "TaskGroups": small_job()["TaskGroups"] * 2}, 500, "redefines 'g'"),
}


@pytest.mark.parametrize("case", sorted(INVALID_JOBS))
def test_invalid_job_through_the_api_changes_nothing(case: str) -> None:
    """An invalid job answers Nomad's status and message; the state index and tables stay as they were."""
    job, status, message = INVALID_JOBS[case]
    sim = _with_existing_job()
    before = fingerprint(sim)
    with pytest.raises(ApiError) as err:
        sim.api.register_job({"Job": copy.deepcopy(job)})
    assert err.value.status == status
    assert message in err.value.message
    assert fingerprint(sim) == before


@pytest.mark.parametrize("path", INVALID_REFERENCE, ids=lambda p: p.stem)
def test_invalid_reference_jobs_are_rejected_without_a_write(path: Path) -> None:
    """The two invalid reference jobs are refused by the API on a fresh cluster with no write."""
    sim = _sim()
    before = fingerprint(sim)
    with pytest.raises(ApiError) as err:
        sim.api.register_job(json.loads(path.read_text()))
    assert err.value.status in (400, 500) and err.value.message
    assert fingerprint(sim) == before
    assert sim.state.index == 1  # the initial node registration only


@pytest.mark.parametrize("case", sorted(k for k, v in INVALID_JOBS.items() if v[1] == 500))
def test_invalid_job_through_the_job_endpoint_changes_nothing(case: str) -> None:
    """JobEndpoint.register raises a ValidationError naming a field; nothing is written."""
    job, _, message = INVALID_JOBS[case]
    sim = _with_existing_job()
    before = fingerprint(sim)
    with pytest.raises(ValidationError) as err:
        sim.server.jobs.register(decode_job({"Job": copy.deepcopy(job)}))
    assert err.value.field and message in err.value.message
    assert fingerprint(sim) == before


def test_invalid_update_of_a_running_job_keeps_its_version_and_allocs() -> None:
    """A bad update (type change) of a running job is refused; version, allocs and evals stay."""
    sim = _with_existing_job()
    before, allocs = fingerprint(sim), [(a.id, a.desired_status) for a in sim.state.allocs()]
    with pytest.raises(ApiError) as err:
        sim.api.register_job({"Job": {**small_job(), "Type": "batch"}})
    assert err.value.status == 500 and "cannot update job from type" in err.value.message
    assert fingerprint(sim) == before
    sim.run(60)
    assert [(a.id, a.desired_status) for a in sim.state.allocs()] == allocs


def test_enforce_index_conflict_changes_nothing() -> None:
    """A check-and-set register with a stale JobModifyIndex is refused before any write."""
    sim = _with_existing_job()
    before = fingerprint(sim)
    with pytest.raises(ApiError) as err:
        sim.api.register_job({"Job": small_job(Count=5), "EnforceIndex": True, "JobModifyIndex": 1})
    assert err.value.status == 500
    assert "Enforcing job modify index 1: job exists with conflicting job modify index" in err.value.message
    assert fingerprint(sim) == before


def test_malformed_request_bodies_are_400s() -> None:
    """A body that is not a request object, or has no Job, is a 400 and writes nothing."""
    sim = _sim()
    before = fingerprint(sim)
    for payload in (None, [], "job", 3, {}, {"Job": None}, {"Job": []}, {"Job": "x"}):
        with pytest.raises(ApiError) as err:
            sim.api.register_job(payload)
        assert err.value.status == 400, payload
    assert fingerprint(sim) == before


def test_valid_job_after_rejections_gets_the_next_index() -> None:
    """Rejections burn no index: the next accepted write is exactly one index later."""
    sim = _sim()
    start = sim.state.index
    for job, _, _ in INVALID_JOBS.values():
        with pytest.raises(ApiError):
            sim.api.register_job({"Job": copy.deepcopy(job)})
    answer = sim.api.register_job({"Job": small_job()})
    assert answer["Index"] == answer["JobModifyIndex"] == start + 1


# --- invalid scenarios ------------------------------------------------------------------------

_JOB = small_job()


def _scenario(**changes) -> dict:
    scenario = tiny_scenario(workload=[{"at": 0, "register": copy.deepcopy(_JOB)}])
    for dotted, value in changes.items():
        node = scenario
        *parents, last = dotted.split("/")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    return scenario


INVALID_SCENARIOS = {
    "typo at the top": (tiny_scenario(clustr={}), "clustr", "did you mean 'cluster'"),
    "negative node count": (_scenario(**{"cluster/nodes/0/count": -1}), "cluster.nodes[0].count", ">= 0"),
    "bad duration": (_scenario(duration="ten minutes"), "duration", "duration"),
    "unknown node in an event": (_scenario(events=[{"at": 5, "node_down": "nod-1"}]), "events[0].node_down", "no node named 'nod-1'"),
    "job without ID": (_scenario(workload=[{"at": 0, "register": {"TaskGroups": []}}]), "workload[0].register", "no ID"),
    "update of an unknown job": (_scenario(workload=[{"at": 0, "register": _JOB}, {"at": 5, "update": {"job": "wbe", "set": {"TaskGroups.g.Count": 3}}}]),
                                 "workload[1].update.job", "did you mean 'web'"),
    "wrong type": (_scenario(control_plane={"num_schedulers": "two"}), "control_plane.num_schedulers", "integer"),
    "inverted port range": (_scenario(**{"cluster/nodes/0/port_range": {"min": 30000, "max": 20000}}), "cluster.nodes[0].port_range.max", "min"),
    "register without at": (_scenario(workload=[{"register": _JOB}]), "workload[0].at", "'at'"),
    "unknown resource key": (_scenario(**{"cluster/nodes/0/resources/gpu": 1}), "cluster.nodes[0].resources.gpu", "unknown key"),
}


@pytest.mark.parametrize("case", sorted(INVALID_SCENARIOS))
def test_invalid_scenario_names_the_offending_key(case: str) -> None:
    """The ScenarioError's path is the key at fault and the message says what is wrong."""
    scenario, path, message = INVALID_SCENARIOS[case]
    with pytest.raises(ScenarioError) as err:
        Simulation.from_scenario(scenario, seed=1)
    assert err.value.path == path
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_invalid_scenario_file_names_file_key_and_line(tmp_path: Path) -> None:
    """From a YAML file the error carries the file, the key path and its line."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nduration: 1h\ncluster:\n  nodes:\n    - count: 2\n      resources: {cpu: 1000, memory: -5}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.path == "cluster.nodes[0].resources.memory"
    assert err.value.file == str(path) and err.value.line == 6
    assert str(err.value).startswith(f"{path}:6: cluster.nodes[0].resources.memory: ")


# --- fuzzing the API ----------------------------------------------------------------------------

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None)
HOSTILE = [None, True, 0, -1, 2**31, 2**63, -(2**64), 10**30, 1.5, float("1e308"), "", " ", "a b", "\u2603",
           "ünïcødé", "\x00", "${attr.kernel.name}", [], {}, [None], {"": None}]
scalars = st.one_of(st.sampled_from(HOSTILE), st.integers(), st.text(max_size=8),
                    st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=20)


def _leaves(value, path=()):
    """Every (path, value) inside a JSON value, the root included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _leaves(child, (*path, key))


def _nest(depth: int):
    value: object = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"Deep": value}
    return value


def _same_type(value: object, pick: int) -> object:
    """A hostile value of the same JSON type (huge and negative numbers, odd strings, empties)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return [0, -1, 1, 2**31, 2**63 - 1, 10**30, 65536][pick % 7]
    if isinstance(value, float):
        return [0.0, -1.0, 1e308][pick % 3]
    if isinstance(value, str):
        return ["", " ", "a b", "\u2603", "ünïcødé", "\x00", "${node.class}", "x" * 10000][pick % 8]
    return type(value)()


def mutate(job: dict, ops: list[tuple[str, int, object, str]]) -> dict:
    """Apply (kind, where, value, key) mutations: replace, drop, add, nest, same- or wrong-type."""
    job = copy.deepcopy(job)
    for kind, where, value, key in ops:
        paths = [p for p, _ in _leaves(job) if p]
        if not paths:
            break
        *parents, last = paths[where % len(paths)]
        parent = job
        for step in parents:
            parent = parent[step]
        if kind == "drop" and isinstance(parent, dict):
            del parent[last]
        elif kind == "add" and isinstance(parent, dict):
            parent[key or "Extra"] = value
        elif kind == "nest":
            parent[last] = _nest(50 + where % 200)
        elif kind == "same-type":
            parent[last] = _same_type(parent[last], where)
        elif kind == "wrong-type":
            parent[last] = [parent[last]] if not isinstance(parent[last], list) else {"0": parent[last]}
        else:
            parent[last] = value
    return job


def _reference_job(index: int) -> dict:
    """A valid reference job, or (one time in a few) the small job that places on the tiny cluster."""
    if index % (len(VALID_REFERENCE) + 2) >= len(VALID_REFERENCE):
        return small_job(f"small{index % 3}")
    data = json.loads(VALID_REFERENCE[index % len(VALID_REFERENCE)].read_text())
    return data.get("Job", data)


mutations = st.lists(st.tuples(st.sampled_from(["replace", "drop", "add", "nest", "same-type", "same-type", "wrong-type"]),
                               st.integers(0, 10**6), json_values, st.text(max_size=6)), min_size=1, max_size=4)


class ApiFuzz:
    """One long-lived simulation the fuzz cases share (hypothesis calls the test many times)."""

    sim: Simulation | None = None
    accepted = 0
    rejected = 0

    @classmethod
    def submit(cls, payload: object) -> None:
        """Register `payload`: accepted (index moves) or a 400/500 ApiError (nothing moves)."""
        if cls.sim is None:
            cls.sim = _sim()
        sim = cls.sim
        before = fingerprint(sim)
        try:
            answer = sim.api.register_job(payload)
        except ApiError as err:
            assert err.status in (400, 500), err
            assert isinstance(err.message, str) and err.message
            assert fingerprint(sim) == before
            cls.rejected += 1
            return
        cls.accepted += 1
        assert 0 < answer["Index"] <= sim.state.index and sim.state.index >= before[0]  # an unchanged
        assert set(answer) >= {"EvalID", "JobModifyIndex", "Index"}  # periodic job writes nothing
        if _total_count(payload) <= 50:
            sim.advance(5)  # the engine copes with whatever the API accepted


def _total_count(payload: object) -> int:
    """The allocs an accepted job asks for (to keep the fuzz from scheduling millions)."""
    job = payload.get("Job") if isinstance(payload, dict) else None
    groups = job.get("TaskGroups") if isinstance(job, dict) else None
    counts = [g.get("Count", 1) for g in groups or [] if isinstance(g, dict)]
    return sum(c if isinstance(c, int) and not isinstance(c, bool) else 10**9 for c in counts)


@SETTINGS
@given(json_values)
def test_random_payloads_are_accepted_or_refused_cleanly(payload: object) -> None:
    """Any JSON body (and any JSON as the Job) is a success or a 400/500, never a crash."""
    ApiFuzz.submit(payload)
    ApiFuzz.submit({"Job": payload})


@SETTINGS
@given(st.integers(0, 100), mutations)
def test_mutated_reference_jobs_are_accepted_or_refused_cleanly(index: int, ops: list) -> None:
    """Reference jobs with wrong types, dropped and extra fields, huge numbers, deep nesting and
    unicode are registered or refused with a 400/500; refusals write nothing."""
    ApiFuzz.submit({"Job": mutate(_reference_job(index), ops)})


def test_fuzz_sees_both_outcomes() -> None:
    """The mutated jobs are sometimes accepted and sometimes refused (the fuzz is not trivial)."""
    before = (ApiFuzz.accepted, ApiFuzz.rejected)
    for index in range(len(VALID_REFERENCE)):
        ApiFuzz.submit({"Job": _reference_job(index)})
        ApiFuzz.submit({"Job": mutate(_reference_job(index), [("replace", 3 + index, -1, "")])})
        ApiFuzz.submit({"Job": mutate(_reference_job(index), [("nest", 7 * index + 1, None, "")])})
    assert ApiFuzz.accepted > before[0] and ApiFuzz.rejected > before[1]
