"""Dispatching parameterized jobs (sim/server/dispatch.py), in the domain and through the API.

Nomad: nomad/job_endpoint_test.go TestJobEndpoint_Dispatch (its table of cases),
TestJobEndpoint_Dispatch_JobChildrenSummary. The scenario starts at Unix 1767225600.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from sim.errors import ApiError, ValidationError
from sim.scenario.actions import DispatchGenerate
from sim.scenario.load import load_scenario
from sim.server.dispatch import DispatchRequest, decode_payload, dispatch, dispatched_id
from sim.simulation import Simulation

START = 1767225600  # 2026-01-01T00:00:00Z
LIMIT = 16 * 1024


def scenario(seed: int = 3) -> dict:
    """Three roomy nodes in dc1, one hour."""
    return {"name": "dispatch", "seed": seed, "duration": "1h",
            "cluster": {"nodes": [{"count": 3, "resources": {"cpu": 4000, "memory": 8192, "disk": 102400}}]}}


def param_job(job_id: str = "param", payload: str = "optional", required=(), optional=(), **extra) -> dict:
    """A parameterized batch job; its task reads the payload into `input.json` and runs 30 s."""
    task = {"Name": "t", "Driver": "docker", "Config": {"image": "busybox"}, "Meta": {"sim.runtime": "30s"},
            "DispatchPayload": {"File": "input.json"}, "Resources": {"CPU": 100, "MemoryMB": 64}}
    job = {"ID": job_id, "Type": "batch", "Datacenters": ["dc1"], "Meta": {"team": "a", "size": "1"},
           "ParameterizedJob": {"Payload": payload, "MetaRequired": list(required), "MetaOptional": list(optional)},
           "TaskGroups": [{"Name": "work", "Count": 1, "Tasks": [task]}]}
    job.update(extra)
    return {"Job": job}


@pytest.fixture
def sim() -> Simulation:
    sim = Simulation.from_scenario(scenario())
    sim.api.register_job(param_job("req", payload="required", required=["size"], optional=["color"]))
    sim.api.register_job(param_job("forbid", payload="forbidden"))
    sim.api.register_job(param_job("opt", optional=["size"]))
    plain = param_job("plain")
    del plain["Job"]["ParameterizedJob"]
    sim.api.register_job(plain)
    sim.api.register_job(param_job("stopped"))
    sim.api.deregister_job("stopped")
    sim.settle(60)
    return sim


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


REJECTIONS = [
    ("missing required meta", "req", {"Payload": b64(b"x"), "Meta": {"color": "red"}},
     "Dispatch did not provide required meta keys: [size]"),
    ("unpermitted meta key", "req", {"Payload": b64(b"x"), "Meta": {"size": "2", "shape": "o", "age": "3"}},
     "Dispatch request included unpermitted metadata keys: [age shape]"),
    ("payload required", "req", {"Meta": {"size": "2"}},
     "Payload is not provided but required by parameterized job"),
    ("payload forbidden", "forbid", {"Payload": b64(b"x")},
     "Payload provided but forbidden by parameterized job"),
    ("payload over 16 KiB", "opt", {"Payload": b64(b"x" * (LIMIT + 1))},
     f"Payload exceeds maximum size; {LIMIT + 1} > {LIMIT}"),
    ("stopped parent", "stopped", {}, 'Specified job "stopped" is stopped'),
    ("not parameterized", "plain", {}, 'Specified job "plain" is not a parameterized job'),
    ("no such job", "nope", {}, "parameterized job not found"),
    ("priority out of range", "opt", {"Priority": 101}, "dispatch job priority must be between [1, 100]"),
]


@pytest.mark.parametrize(("case", "job_id", "body", "message"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_each_rejection_answers_nomads_message_and_changes_nothing(sim, case, job_id, body, message):
    """Every rejected dispatch is a 500 with Nomad's message; no index, job, eval or ID draw happens."""
    index, jobs, evals = sim.state.index, len(sim.state.jobs()), len(sim.state.evals())
    ids_state = sim.rngs["ids"].bit_generator.state
    with pytest.raises(ApiError) as err:
        sim.api.dispatch_job(job_id, body)
    assert (err.value.status, err.value.message) == (500, message)
    assert (sim.state.index, len(sim.state.jobs()), len(sim.state.evals())) == (index, jobs, evals)
    assert sim.rngs["ids"].bit_generator.state == ids_state


def test_missing_job_id_is_rejected_in_the_domain(sim):
    """An empty JobID: `missing parameterized job ID`, before any lookup."""
    with pytest.raises(ValidationError, match="missing parameterized job ID"):
        dispatch(sim.server, "default", DispatchRequest(job_id=""))


def test_payload_of_exactly_16_kib_is_accepted(sim):
    """The limit is inclusive: 16384 decoded bytes dispatch."""
    out = sim.api.dispatch_job("opt", {"Payload": b64(b"x" * LIMIT)})
    assert out["DispatchedJobID"].startswith("opt/dispatch-")


def test_valid_dispatch_answers_the_seed_shape(sim):
    """DispatchedJobID, EvalID, EvalCreateIndex, JobCreateIndex, Index: the job write, then the eval write."""
    sim.run(125)
    before = sim.state.index
    out = sim.api.dispatch_job("req", {"Payload": b64(b'{"k": 1}'), "Meta": {"size": "9", "color": "red"}})
    assert sorted(out) == ["DispatchedJobID", "EvalCreateIndex", "EvalID", "Index", "JobCreateIndex"]
    assert re.fullmatch(rf"req/dispatch-{START + 125}-[0-9a-f]{{8}}", out["DispatchedJobID"])
    assert out["JobCreateIndex"] == before + 1 and out["EvalCreateIndex"] == out["Index"] == before + 2
    ev = sim.state.eval_by_id(out["EvalID"])
    assert (ev.job_id, ev.triggered_by, ev.job_modify_index) == (out["DispatchedJobID"], "job-register", before + 1)
    assert sim.api.last_index == out["Index"]


def test_dispatched_child_is_a_copy_with_meta_payload_and_payload_file(sim):
    """The child: ParentID, Name = ID, Dispatched, meta merged over the parent's, payload kept, DispatchPayload file kept."""
    out = sim.api.dispatch_job("req", {"Payload": b64(b"hello"), "Meta": {"size": "9"}})
    child = sim.api.read_job(out["DispatchedJobID"])
    assert (child["ParentID"], child["Name"], child["Dispatched"]) == ("req", out["DispatchedJobID"], True)
    assert child["Meta"] == {"team": "a", "size": "9"} and child["ParameterizedJob"] is not None
    assert base64.b64decode(child["Payload"]) == b"hello"
    assert child["TaskGroups"][0]["Tasks"][0]["DispatchPayload"] == {"File": "input.json"}
    assert child["Status"] == "pending" and child["SubmitTime"] == sim.server.unix_nanos()
    assert sim.api.read_job("req")["Meta"] == {"team": "a", "size": "1"}


def test_id_prefix_template_goes_before_the_time(sim):
    """IdPrefixTemplate: `<parent>/dispatch-<prefix>-<unix>-<8 hex>`. Nomad: structs.DispatchedID."""
    out = sim.api.dispatch_job("opt", {"IdPrefixTemplate": "nightly"})
    unix = START + int(sim.now)
    assert re.fullmatch(rf"opt/dispatch-nightly-{unix}-[0-9a-f]{{8}}", out["DispatchedJobID"])
    assert dispatched_id("p", "", 5, "abcdef01") == "p/dispatch-5-abcdef01"


def test_idempotency_token_answers_the_existing_child(sim):
    """A retried dispatch with a used token answers the first child (no EvalID) and writes nothing."""
    first = sim.api.dispatch_job("opt", {"IdempotencyToken": "tok-1"})
    before = sim.state.index
    again = sim.api.dispatch_job("opt", {"IdempotencyToken": "tok-1"})
    assert again["DispatchedJobID"] == first["DispatchedJobID"] and again["EvalID"] == ""
    assert again["JobCreateIndex"] == first["JobCreateIndex"] and sim.state.index == before
    other = sim.api.dispatch_job("opt", {"IdempotencyToken": "tok-2"})
    assert other["DispatchedJobID"] != first["DispatchedJobID"]


def test_child_ids_come_from_the_runs_rng():
    """Same seed, same child IDs; another seed, other suffixes."""
    def ids(seed: int) -> list[str]:
        s = Simulation.from_scenario(scenario(seed))
        s.api.register_job(param_job("opt"))
        return [s.api.dispatch_job("opt", {})["DispatchedJobID"] for _ in range(3)]

    assert ids(3) == ids(3) and ids(3) != ids(4) and len(set(ids(3))) == 3


def test_children_run_and_the_parent_summary_counts_them(sim):
    """Dispatched children run to completion; the parent's Children go pending → dead; the parent stays running.

    Nomad: TestJobEndpoint_Dispatch_JobChildrenSummary.
    """
    for size in ("1", "2"):
        sim.api.dispatch_job("opt", {"Meta": {"size": size}})
    assert sim.api.job_summary("opt")["Children"] == {"Pending": 2, "Running": 0, "Dead": 0}
    sim.run(sim.now + 10)
    assert sim.api.job_summary("opt")["Children"] == {"Pending": 0, "Running": 2, "Dead": 0}
    sim.run(sim.now + 60)
    assert sim.api.job_summary("opt")["Children"] == {"Pending": 0, "Running": 0, "Dead": 2}
    assert sim.api.read_job("opt")["Status"] == "running"


def test_periodic_parameterized_child_gets_no_eval_and_is_tracked():
    """A dispatched child of a periodic parameterized job has no eval; the periodic dispatcher tracks it."""
    s = Simulation.from_scenario(scenario())
    s.api.register_job(param_job("pp", Periodic={"Enabled": True, "SpecType": "cron", "Spec": "*/5 * * * *"}))
    out = s.api.dispatch_job("pp", {})
    assert out["EvalID"] == "" and out["EvalCreateIndex"] == 0 and out["Index"] == out["JobCreateIndex"]
    assert [j.id for j in s.server.periodic.tracked_jobs()] == [out["DispatchedJobID"]]


def test_decode_payload_reads_standard_base64():
    """Payloads are standard padded base64; anything else is a ValueError (a 400 over HTTP)."""
    assert decode_payload(b64(b"\x00\xff")) == b"\x00\xff" and decode_payload("") == b""
    with pytest.raises(ValueError, match="illegal base64 data"):
        decode_payload("not base64!")


BENCH = Path(__file__).resolve().parents[2] / "scenarios" / "bench" / "dispatch-10k.yaml"


def test_benchmark_scenario_dispatches_ten_thousand_over_a_day():
    """scenarios/bench/dispatch-10k.yaml: a parameterized batch job and a day of Poisson dispatches capped at 10,000."""
    scenario = load_scenario(BENCH)
    generator = next(a for a in scenario.workload if isinstance(a, DispatchGenerate))
    assert (generator.job, generator.count, generator.stop - generator.start) == ("render", 10_000, 86_340.0)
    assert generator.rate * (generator.stop - generator.start) > 10_000 * 1.04  # the cap, not the window, ends it


@pytest.mark.benchmark
def test_benchmark_runs_ten_thousand_children_in_under_a_minute():
    """The dispatch benchmark: every child runs to completion within 60 s of wall time."""
    import importlib.util
    import time

    spec = importlib.util.spec_from_file_location("bench_dispatch", BENCH.parents[2] / "benchmarks" / "bench_dispatch.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    start = time.perf_counter()
    sim, _ = bench.build(BENCH)
    sim.run()
    assert time.perf_counter() - start < 60
    assert sim.state.job_summary("default", "render").children.dead == 10_000
