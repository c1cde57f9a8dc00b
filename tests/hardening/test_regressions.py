"""Every input issue 15 found breaking the server, answered now with Nomad's status and text.

Each test sends the request that used to break the server (a 500, a hang, a dead simulation)
in-process through the ASGI app, and checks the answer and that nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from api.support import batch_job

from sim.api.blocking import BlockingQueries
from sim.api.limits import Limits
from sim.simulation import Simulation
from sim.structs.codec import decode_job

from .asgi import call, fingerprint, tiny_app


def run(coro):
    return asyncio.run(coro)


def rejected(sim, app, method, target, body, status, text, headers=None):
    """The request answers `status` with exactly `text` and leaves the simulation unchanged."""
    before = fingerprint(sim)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = run(call(app, method, target, raw, headers))
    assert (answer.status, answer.text) == (status, text)
    assert fingerprint(sim) == before


def bad_meta_job(value="abc"):
    job = batch_job("bad")
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Meta"] = {"sim.runtime": value}
    return job


def test_bad_sim_meta_is_a_400_naming_key_and_value():
    sim, app = tiny_app()
    rejected(sim, app, "POST", "/v1/jobs", bad_meta_job(), 400,
             "group 'work' task 't': meta 'sim.runtime': invalid duration 'abc'")
    job = bad_meta_job()
    job["Job"]["Meta"] = {"sim.fail_health": "perhaps"}
    del job["Job"]["TaskGroups"][0]["Tasks"][0]["Meta"]
    rejected(sim, app, "POST", "/v1/job/bad/plan", job, 400,
             "group 'work' task 't': meta 'sim.fail_health': invalid boolean 'perhaps'")


def test_a_bad_sim_meta_that_reaches_a_client_fails_its_allocs_not_the_world():
    """A job written past the API (the server directly): its allocs fail with Driver Failure."""
    sim = Simulation.from_scenario(tiny_app()[0].scenario.to_dict())
    job = decode_job(bad_meta_job())
    job.namespace = "default"
    sim.server.jobs.register(job)
    sim.api.register_job(batch_job("good"))
    sim.settle(300)
    sim.run(sim.now + 60)  # the world runs on
    by_job = {}
    for alloc in sim.state.allocs():
        by_job.setdefault(alloc.job.id, set()).add(alloc.client_status)
    assert by_job["good"] == {"complete"} and by_job["bad"] == {"failed"}
    events = [(e.type, e.message) for a in sim.state.allocs_by_job("default", "bad")
              for ts in a.task_states.values() for e in ts.events]
    assert ("Driver Failure", "meta 'sim.runtime': invalid duration 'abc'") in events
    assert ("Not Restarting", "Error was unrecoverable") in events


@pytest.mark.parametrize("target", ["/v1/jobs?index=%C2%B2", "/v1/jobs?index=18446744073709551616",
                                    "/v1/jobs?index=-1", "/v1/job/x?index=1%C2%B2"])
def test_bad_index_is_invalid_index(target):
    sim, app = tiny_app()
    rejected(sim, app, "GET", target, b"", 400, "Invalid index")


def test_index_at_the_64_bit_limit_is_accepted():
    """The largest index parses; the query blocks until its simulated `wait` passes (an advance)."""
    sim, app = tiny_app()

    async def query_then_advance():
        query = asyncio.create_task(call(app, "GET", "/v1/jobs?index=18446744073709551615&wait=1ms"))
        await asyncio.sleep(0.05)
        assert not query.done()
        await call(app, "POST", "/v1/sim/advance", b'{"Seconds": 1}')
        return await asyncio.wait_for(query, 10)

    assert run(query_then_advance()).status == 200


def test_unicode_digit_eval_priority():
    sim, app = tiny_app()
    rejected(sim, app, "DELETE", "/v1/job/x?eval_priority=%C2%B2", b"", 400, "Failed to parse value of eval_priority")


@pytest.mark.parametrize("depth", [1_000, 20_000])
def test_deep_json_is_exceeded_max_depth(depth):
    sim, app = tiny_app()
    rejected(sim, app, "POST", "/v1/jobs", b'{"Job":' + b"[" * depth + b"]" * depth + b"}", 400,
             "exceeded max depth")


def test_deep_json_inside_a_free_form_map_is_a_400():
    sim, app = tiny_app()
    job = batch_job("deep")
    body = json.dumps(job).encode().replace(b'"image": "busybox"', b'"x": ' + b"[" * 300 + b"]" * 300)
    rejected(sim, app, "POST", "/v1/jobs", body, 400, "json: exceeded max depth")


@pytest.mark.parametrize("body, text", [
    (b'{"Seconds": NaN}', "invalid character 'N' looking for beginning of value"),
    (b'{"Seconds": Infinity}', "invalid character 'I' looking for beginning of value"),
    (b'{"Seconds": 1e999}', "Seconds must be a number of seconds between 0 and 31622400"),
    (b'{"Seconds": 1e9}', "Seconds must be a number of seconds between 0 and 31622400"),
    (b'{"Seconds": -1}', "Seconds must be a number of seconds between 0 and 31622400"),
    (b'{"Seconds": "5"}', "Seconds must be a number of seconds between 0 and 31622400"),
    (b'{}', "Seconds must be a number of seconds between 0 and 31622400"),
])
def test_sim_advance_validates_seconds(body, text):
    sim, app = tiny_app()
    rejected(sim, app, "POST", "/v1/sim/advance", body, 400, text)


def test_lone_surrogate_is_replaced_as_go_decodes_it():
    """Nomad's own answer is the RPC error as a 500; it used to crash encoding the surrogate."""
    sim, app = tiny_app()
    node = sim.state.nodes.nodes[0].id
    rejected(sim, app, "POST", f"/v1/node/{node}/eligibility", b'{"Eligibility":"\\ud800"}', 500,
             'invalid scheduling eligibility "\ufffd"')


def test_parse_errors_are_400s():
    sim, app = tiny_app()
    rejected(sim, app, "POST", "/v1/jobs/parse", {"JobHCL": "job = 5"}, 400,
             'error parsing: Unsupported argument; An argument named "job" is not expected here')


def test_parse_size_limit():
    sim, app = tiny_app(limits=Limits(max_hcl_bytes=1000))
    rejected(sim, app, "POST", "/v1/jobs/parse", {"JobHCL": "#" * 1001}, 413,
             "JobHCL too large: 1001 bytes (limit 1000)")


def test_parse_runs_off_the_event_loop():
    """A large parse in flight: a status request still answers at once."""
    sim, app = tiny_app()
    hcl = 'job "big" {\n' + "".join(f'  meta {{ k{i} = "{i}" }}\n' for i in range(20000)) + "}\n"

    async def scenario():
        parse = asyncio.ensure_future(call(app, "POST", "/v1/jobs/parse", json.dumps({"JobHCL": hcl}).encode()))
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        status = await call(app, "GET", "/v1/sim/status")
        waited = time.perf_counter() - t0
        done = parse.done()
        await parse
        return status.status, waited, done

    status, waited, done = run(scenario())
    assert status == 200 and not done and waited < 1.0


@pytest.mark.parametrize("field, value, gotype", [
    ("ConsulToken", 5, "string"), ("VaultToken", {}, "string"), ("Multiregion", "x", "api.Multiregion"),
    ("UI", [], "api.JobUIConfig"), ("NomadTokenID", True, "string"),
])
def test_unmodelled_job_fields_are_typed(field, value, gotype):
    sim, app = tiny_app()
    job = batch_job("typed", **{field: value})
    kind = {int: "number", dict: "object", str: "string", list: "array", bool: "bool"}[type(value)]
    rejected(sim, app, "POST", "/v1/jobs", job, 400,
             f"json: cannot unmarshal {kind} into Go struct field Job.Job.{field} of type {gotype}")


def test_unmodelled_task_fields_are_typed():
    sim, app = tiny_app()
    job = batch_job("typed")
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Templates"] = {}
    rejected(sim, app, "POST", "/v1/jobs", job, 400, "json: cannot unmarshal object into Go struct field "
             "Task.Job.TaskGroups.Tasks.Templates of type []*api.Template")


def test_acl_token_guards_writes_only():
    sim, app = tiny_app(limits=Limits(acl_token="s3cret"))
    rejected(sim, app, "POST", "/v1/jobs", batch_job("a"), 403, "Permission denied")
    rejected(sim, app, "POST", "/v1/jobs", batch_job("a"), 403, "Permission denied", {"X-Nomad-Token": "wrong"})
    rejected(sim, app, "POST", "/v1/sim/advance", {"Seconds": 5}, 403, "Permission denied")
    ok = run(call(app, "POST", "/v1/jobs", json.dumps(batch_job("a")).encode(), {"X-Nomad-Token": "s3cret"}))
    assert ok.status == 200
    bearer = run(call(app, "POST", "/v1/jobs", json.dumps(batch_job("b")).encode(),
                      {"Authorization": "Bearer s3cret"}))
    assert bearer.status == 200
    assert run(call(app, "GET", "/v1/jobs")).status == 200


def test_body_size_limit():
    sim, app = tiny_app(limits=Limits(max_body_bytes=100))
    body = json.dumps(batch_job("a")).encode()
    rejected(sim, app, "POST", "/v1/jobs", body, 413, "http: request body too large",
             {"Content-Length": str(len(body))})
    rejected(sim, app, "POST", "/v1/jobs", body, 413, "http: request body too large")  # chunked: counted
    rejected(sim, app, "POST", "/v1/jobs", body, 400, "Bad Request: bad Content-Length", {"Content-Length": "²"})


# -- blocking queries -------------------------------------------------------------------------------


def test_abandoned_blocking_queries_are_cancelled():
    sim, app = tiny_app()
    hub = app.state.nomad.blocking

    async def scenario():
        gone = asyncio.Event()
        tasks = [asyncio.ensure_future(call(app, "GET", "/v1/jobs?index=999999&wait=300s", disconnect=gone))
                 for _ in range(200)]
        await asyncio.sleep(0.1)
        waiting = len(hub)
        gone.set()
        answers = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return waiting, len(hub), {a.status for a in answers}

    waiting, after, statuses = run(scenario())
    assert (waiting, after, statuses) == (200, 0, {499})


def test_a_write_wakes_only_queries_of_its_tables():
    class State:
        def subscribe(self, fn):
            self.fn = fn

    state = State()
    hub = BlockingQueries(state)

    async def scenario():
        jobs = [asyncio.ensure_future(hub.wait(frozenset({"jobs"}), 100.0, 5.0)) for _ in range(3)]
        nodes = [asyncio.ensure_future(hub.wait(frozenset({"nodes"}), 100.0, 5.0)) for _ in range(3)]
        await asyncio.sleep(0.01)
        state.fn(7, frozenset({"nodes"}))
        await asyncio.sleep(0.01)
        woke = ([t.done() for t in jobs], [t.done() for t in nodes])
        hub.close()
        await asyncio.gather(*jobs)
        return woke

    assert run(scenario()) == ([False] * 3, [True] * 3)


def test_blocking_queries_are_capped():
    sim, app = tiny_app(limits=Limits(max_blocking=5))

    async def scenario():
        gone = asyncio.Event()
        tasks = [asyncio.ensure_future(call(app, "GET", "/v1/jobs?index=999999", disconnect=gone))
                 for _ in range(5)]
        await asyncio.sleep(0.05)
        extra = await call(app, "GET", "/v1/jobs?index=999999")
        gone.set()
        await asyncio.gather(*tasks)
        return extra

    extra = run(scenario())
    assert (extra.status, extra.text) == (429, "Too many concurrent blocking queries (limit 5), retry later")


def test_long_advance_keeps_the_server_responsive_and_stops_when_the_client_leaves():
    sim, app = tiny_app()

    async def scenario():
        gone = asyncio.Event()
        advance = asyncio.ensure_future(call(app, "POST", "/v1/sim/advance", b'{"Seconds": 31536000}',
                                             disconnect=gone))
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        status = await call(app, "GET", "/v1/sim/status")
        waited = time.perf_counter() - t0
        gone.set()
        await asyncio.wait_for(advance, 2)
        stopped_at = sim.now
        await asyncio.sleep(0.2)
        return status.status, waited, stopped_at

    status, waited, stopped_at = run(scenario())
    assert status == 200 and waited < 1.0
    assert 0 < stopped_at < 31536000 and sim.now == stopped_at


class _Boom:
    """A scenario rule whose runtime distribution raises (for job `boom` only)."""

    match = staticmethod(lambda job, group, task, image: job == "boom")

    @staticmethod
    def runtime(rng):
        raise ZeroDivisionError("division by zero")


@pytest.mark.parametrize("start_delay", [None, 5.0])
def test_an_error_inside_a_simulated_task_fails_its_alloc_not_the_world(start_delay):
    sim = Simulation.from_scenario(tiny_app()[0].scenario.to_dict())
    rule = _Boom()
    rule.start_delay = start_delay
    sim.clients.resolver.rules = (rule,)
    sim.api.register_job(batch_job("boom"))
    sim.api.register_job(batch_job("good"))
    sim.settle(300)
    sim.run(sim.now + 120)
    status = {a.job.id: a.client_status for a in sim.state.allocs()}
    assert status == {"boom": "failed", "good": "complete"}
    events = [(e.type, e.message) for a in sim.state.allocs_by_job("default", "boom")
              for ts in a.task_states.values() for e in ts.events]
    assert ("Driver Failure", "ZeroDivisionError: division by zero") in events


def test_a_scenario_job_with_bad_sim_meta_is_a_rejected_action():
    """The workload registers as the API does: the job is refused, the run goes on."""
    job = bad_meta_job("soon")["Job"]
    scenario = {**tiny_app()[0].scenario.to_dict(), "workload": [{"at": 0, "register": job}]}
    sim = Simulation.from_scenario(scenario)
    sim.run(60)
    assert [e[1:] for e in sim.workload.errors] == [
        ("register", "bad", "group 'work' task 't': meta 'sim.runtime': invalid duration 'soon'")]
    assert sim.state.jobs(None) == []
