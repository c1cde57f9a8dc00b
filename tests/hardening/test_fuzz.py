"""Fuzzing the HTTP app (hypothesis): nothing a client sends breaks the server.

Requests are drawn over every route with random methods, query parameters and bodies (random
JSON, mutated valid jobs, raw bytes). Properties: no unhandled exception (an unhandled error
raises out of the in-process ASGI call), a status request answers within 1 s while the fuzzed
request is in flight, and after a rejected request (4xx/5xx) the state index, time and every
random stream are unchanged. Everything is journaled: replaying the journal afterwards gives the
same state. Bounded to about a minute.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from api.support import batch_job, example_job, tiny_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.api.http import create_app
from sim.api.journal import Journal, replay
from sim.simulation import Simulation

from .asgi import call, fingerprint

JOURNAL_DIR = tempfile.TemporaryDirectory()
JOURNAL = Path(JOURNAL_DIR.name) / "fuzz.jsonl"
SIM = Simulation.from_scenario(tiny_scenario())
APP = create_app(SIM, SIM.api, journal=Journal.open(JOURNAL, SIM, SIM.api))
asyncio.run(call(APP, "POST", "/v1/jobs", json.dumps(batch_job("seed-job")).encode()))
asyncio.run(call(APP, "POST", "/v1/sim/settle", b'{"MaxSeconds": 60}'))
NODE = SIM.state.nodes.nodes[0].id
IDS = st.sampled_from(["seed-job", "x", "a/b", "%C2%B2", "", NODE, NODE[:8], "..", "seed-job%00"])
SUFFIXES = ["", "/allocations", "/evaluations", "/plan", "/summary", "/dispatch", "/versions", "/revert",
            "/deployments", "/deployment", "/stable", "/evaluate", "/periodic/force", "/scale"]
PATHS = st.one_of(
    st.sampled_from(["/v1/jobs", "/v1/jobs/parse", "/v1/nodes", "/v1/deployments", "/v1/sim/status",
                     "/v1/sim/metrics", "/v1/sim/advance", "/v1/sim/settle", "/v1/status/leader", "/v1/nope"]),
    st.builds(lambda i, s: f"/v1/job/{i}{s}", IDS, st.sampled_from(SUFFIXES)),
    st.builds(lambda k, i: f"/v1/{k}/{i}", st.sampled_from(["evaluation", "allocation", "deployment", "node"]), IDS),
    st.builds(lambda a, i: f"/v1/node/{i}/{a}", st.sampled_from(["drain", "eligibility", "purge"]), IDS),
    st.builds(lambda a, i: f"/v1/deployment/{a}/{i}", st.sampled_from(["promote", "fail", "pause",
                                                                        "allocation-health"]), IDS),
    st.builds(lambda a, i: f"/v1/sim/nodes/{i}/{a}", st.sampled_from(["down", "up", "drain", "x"]), IDS),
)
QUERY_VALUES = st.one_of(st.sampled_from(["1", "0", "true", "²", "18446744073709551616", "-1", "1ms", "1e3",
                                          "%FF", "", "*", "NaN"]), st.text(max_size=8))
QUERY = st.dictionaries(st.sampled_from(["index", "wait", "prefix", "namespace", "all", "diffs", "purge",
                                         "eval_priority", "meta", "resources"]), QUERY_VALUES, max_size=3)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                    max_leaves=12)
JOB_KEYS = ["ID", "Type", "Priority", "Datacenters", "TaskGroups", "ConsulToken", "Multiregion", "Meta",
            "Update", "Periodic", "ParameterizedJob", "NodePool", "Namespace", "Constraints"]


@st.composite
def mutated_job(draw):
    job = draw(st.sampled_from([batch_job("fz"), example_job()]))
    inner = job["Job"]
    for _ in range(draw(st.integers(1, 3))):
        inner[draw(st.sampled_from(JOB_KEYS))] = draw(JSON)
    if draw(st.booleans()):
        task = inner.get("TaskGroups", [{}])
        if isinstance(task, list) and task and isinstance(task[0], dict) and isinstance(task[0].get("Tasks"), list):
            task[0]["Tasks"][0]["Meta"] = {draw(st.sampled_from(["sim.runtime", "sim.exit_code", "sim.fail_health"])):
                                           draw(st.text(max_size=5))}
    return json.dumps(job).encode()


BODIES = st.one_of(
    st.just(b""), st.binary(max_size=64), mutated_job(),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda s: json.dumps({"Seconds": s}).encode(), st.one_of(st.floats(), st.integers(), st.text())),
    st.sampled_from([b'{"Seconds": NaN}', b"[" * 5000, b'{"JobHCL":"job = 5"}', b'{"Eligibility":"\\ud800"}',
                     b'{"JobHCL": "job \\"a\\" { group \\"g\\" { count = \\"x\\" } }"}']),
)


async def one(method: str, target: str, body: bytes) -> tuple[int, float]:
    """The fuzzed request (given up after 2 s: a blocking query; the client leaves), with a status
    request sent while it is in flight; (status of the fuzzed request, seconds the status took)."""
    gone = asyncio.Event()
    task = asyncio.ensure_future(call(APP, method, target, body, disconnect=gone))
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    status = await asyncio.wait_for(call(APP, "GET", "/v1/sim/status"), 1.0)
    took = time.perf_counter() - t0
    assert status.status == 200
    done, _ = await asyncio.wait([task], timeout=2.0)
    if not done:
        gone.set()
    answer = await asyncio.wait_for(task, 5.0)
    return answer.status, took


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), path=PATHS, query=QUERY, body=BODIES)
def test_nothing_a_client_sends_breaks_the_server(method, path, query, body):
    if path == "/v1/sim/advance":  # keep simulated time short: a year of advance is valid, and slow here
        body = body if b"Seconds" not in body or len(body) > 40 else b'{"Seconds": 1}'
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    before = fingerprint(SIM)
    status, took = asyncio.run(one(method, target, body))
    assert took < 1.0
    if status >= 400 and status != 499:
        assert fingerprint(SIM) == before, (method, target, body[:200], status)


def test_the_fuzzed_journal_replays_to_the_same_state():
    """Whatever the fuzzing did (accepted, rejected, cut short), its journal reproduces it."""
    again = Simulation.from_scenario(tiny_scenario())
    replay(again, again.api, JOURNAL)
    assert fingerprint(again) == fingerprint(SIM)
