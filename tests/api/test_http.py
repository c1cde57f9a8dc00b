"""The HTTP server as a real subprocess (sim/api/http.py), driven by python-nomad and raw HTTP.

Nomad: command/agent/http.go (headers, plain-text errors, blocking queries) and
command/agent/job_endpoint.go (routes, methods, 400s). Every response body is checked against
the OpenAPI schema of its endpoint.
"""

from __future__ import annotations

import base64
import json
import threading
import time

import nomad
import pytest
import requests

from .support import (
    batch_job,
    example_job,
    parameterized_job,
    start_server,
    stop_server,
    tiny_scenario,
    validate_response,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("http") / "tiny.yaml"
    path.write_text(json.dumps(tiny_scenario()))
    proc, url = start_server(path)
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def client(server):
    port = int(server.rsplit(":", 1)[1])
    return nomad.Nomad(host="127.0.0.1", port=port, timeout=30)


def post(url: str, path: str, body=None, **kw) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30, **kw)


def sim_index(url: str) -> int:
    return requests.get(url + "/v1/sim/status", timeout=10).json()["Index"]


def settle(url: str, seconds: float = 120) -> dict:
    out = post(url, "/v1/sim/settle", {"MaxSeconds": seconds}).json()
    assert out["Settled"] is True
    return out


def test_example_job_lifecycle(server, client):
    """Register the example, settle: running allocs, complete evals, summary, versions, plan, stop."""
    reg = client.jobs.register_job(example_job())
    validate_response("RegisterJobResponse", reg)
    settle(server)
    allocs = client.job.get_allocations("example")
    validate_response("GetJobAllocationsResponse", allocs)
    assert [(a["Name"], a["ClientStatus"]) for a in allocs] == [("example.cache[0]", "running")]
    evals = client.job.get_evaluations("example")
    validate_response("GetJobEvaluationsResponse", evals)
    assert {e["Status"] for e in evals} == {"complete"}
    summary = client.job.get_summary("example")
    validate_response("GetJobSummaryResponse", summary)
    assert summary["Summary"]["cache"]["Running"] == 1
    job = example_job()
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] = {"foo": "bar"}
    plan = client.job.plan_job("example", job, diff=True)
    validate_response("PostJobPlanResponse", plan)
    assert plan["Diff"]["Type"] == "Edited" and plan["JobModifyIndex"] == reg["JobModifyIndex"]
    client.job.register_job("example", job)
    versions = client.job.get_versions("example")
    validate_response("GetJobVersionsResponse", versions)
    assert [v["Version"] for v in versions["Versions"]] == [1, 0]
    diffs = requests.get(server + "/v1/job/example/versions?diffs=true", timeout=30).json()["Diffs"]
    assert [d["Type"] for d in diffs] == ["Edited"]
    settle(server)
    stop = client.job.deregister_job("example")
    validate_response("DeleteJobResponse", stop)
    settle(server)
    assert {a["DesiredStatus"] for a in client.job.get_allocations("example")} == {"stop"}
    assert client.job.get_job("example")["Status"] == "dead"


def test_every_read_endpoint_fits_its_schema(server, client):
    """Lists, reads, deployments, nodes, evals, allocs and parse answer their OpenAPI shapes."""
    client.jobs.register_job(example_job())
    settle(server)
    checks = {
        "GetJobsResponse": client.jobs.get_jobs(), "GetJobResponse": client.job.get_job("example"),
        "GetJobDeploymentsResponse": client.job.get_deployments("example"),
        "GetJobDeploymentResponse": client.job.get_deployment("example"),
        "GetDeploymentsResponse": client.deployments.get_deployments(),
        "GetNodesResponse": client.nodes.get_nodes(),
    }
    node_id = checks["GetNodesResponse"][0]["ID"]
    checks["GetNodeResponse"] = client.node.get_node(node_id)
    ev = client.job.get_evaluations("example")[0]
    checks["GetEvaluationResponse"] = client.evaluation.get_evaluation(ev["ID"])
    checks["GetAllocationResponse"] = client.allocation.get_allocation(client.job.get_allocations("example")[0]["ID"])
    checks["GetDeploymentResponse"] = client.deployment.get_deployment(checks["GetJobDeploymentResponse"]["ID"])
    checks["PostJobParseResponse"] = client.jobs.parse('job "p" {\n group "g" {\n task "t" { driver = "exec" }\n }\n}\n')
    for name, body in checks.items():
        validate_response(name, body)
    assert checks["PostJobParseResponse"]["ID"] == "p"


def test_write_endpoints_fit_their_schemas(server, client):
    """Evaluate, dispatch (child IDs with slashes route), revert, stable and node updates."""
    client.jobs.register_job(batch_job("w"))
    validate_response("PostJobEvaluateResponse", client.job.evaluate_job("w"))
    client.jobs.register_job(parameterized_job("p"))
    out = client.job.dispatch_job("p", payload=base64.b64encode(b"x").decode(), meta=None)
    validate_response("PostJobDispatchResponse", out)
    child = out["DispatchedJobID"]
    assert child.startswith("p/dispatch-")
    assert client.job.get_summary(child)["JobID"] == child and client.job.get_job(child)["ParentID"] == "p"
    job = batch_job("w")
    job["Job"]["Priority"] = 70
    client.job.register_job("w", job)
    validate_response("PostJobRevertResponse", client.job.revert_job("w", 0))
    validate_response("PostJobStabilityResponse", client.job.stable_job("w", 2, True))
    node_id = client.nodes.get_nodes()[0]["ID"]
    out = client.node.eligible_node(node_id, ineligible=True)
    validate_response("NodeEligibilityUpdateResponse", out)
    client.node.eligible_node(node_id, eligible=True)


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1/jobs", "{not json", 400, "invalid character 'n' looking for beginning of value"),
    ("POST", "/v1/jobs", json.dumps({"Job": {"ID": "x", "Priority": "high"}}), 400, None),
    ("POST", "/v1/job/other", json.dumps(batch_job("w2")), 400, "Job ID does not match name"),
    ("GET", "/v1/job/missing", None, 404, "job not found"),
    ("GET", "/v1/job/missing/versions", None, 404, "job versions not found"),
    ("DELETE", "/v1/jobs", None, 405, "Invalid method"),
    ("GET", "/v1/job/w2/plan", None, 405, "Invalid method"),
    ("PUT", "/v1/job/w2/summary", None, 405, "Invalid method"),
    ("POST", "/v1/job/w2/periodic/force", None, 500, "can't force launch non-periodic job"),
    ("POST", "/v1/job/p2/dispatch", json.dumps({"Payload": base64.b64encode(b"x" * 16385).decode()}), 500,
     "Payload exceeds maximum size; 16385 > 16384"),
    ("POST", "/v1/job/w2", json.dumps({**batch_job("w2"), "EnforceIndex": True, "JobModifyIndex": 1}), 500, None),
    ("GET", "/v1/jobs?index=abc", None, 400, "Invalid index"),
    ("GET", "/v1/jobs?index=1&wait=10", None, 400, "Invalid wait time"),
])
def test_bad_input_answers_nomads_status_and_writes_nothing(server, client, method, path, body, status, message):
    """Each bad request gets Nomad's status and plain-text message; the state index is unchanged."""
    client.jobs.register_job(batch_job("w2"))
    client.jobs.register_job(parameterized_job("p2"))
    before = sim_index(server)
    resp = requests.request(method, server + path, data=body, timeout=30)
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith("text/plain")
    if message is not None:
        assert resp.text == message
    if "EnforceIndex" in (body or ""):
        assert resp.text.startswith("Enforcing job modify index 1: job exists with conflicting job modify index")
    assert sim_index(server) == before


def test_headers_on_reads_and_writes(server):
    """Reads carry X-Nomad-Index, KnownLeader and LastContact; writes X-Nomad-Index = Index."""
    write = post(server, "/v1/jobs", batch_job("h"))
    assert write.headers["X-Nomad-Index"] == str(write.json()["Index"])
    read = requests.get(server + "/v1/job/h", timeout=10)
    assert read.headers["X-Nomad-Index"] == str(read.json()["ModifyIndex"])
    assert (read.headers["X-Nomad-KnownLeader"], read.headers["X-Nomad-LastContact"]) == ("true", "0")
    ns = requests.get(server + "/v1/jobs?namespace=default&region=global&prefix=h", timeout=10).json()
    assert [j["ID"] for j in ns] == ["h"]


def test_blocking_query_returns_when_another_client_writes(server):
    """A GET with index = current blocks until a second client's write lands, then answers the new index."""
    post(server, "/v1/jobs", batch_job("blk"))
    index = int(requests.get(server + "/v1/job/blk", timeout=10).headers["X-Nomad-Index"])
    result = {}

    def watch():
        t0 = time.monotonic()
        resp = requests.get(f"{server}/v1/job/blk?index={index}&wait=60s", timeout=60)
        result.update(elapsed=time.monotonic() - t0, index=int(resp.headers["X-Nomad-Index"]),
                      priority=resp.json()["Priority"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)
    assert watcher.is_alive()
    job = batch_job("blk")
    job["Job"]["Priority"] = 77
    post(server, "/v1/job/blk", job)
    watcher.join(20)
    assert result["index"] > index and result["priority"] == 77 and result["elapsed"] < 10


def test_blocking_query_times_out_in_simulated_time(server):
    """Without writes, a blocked GET answers once `wait` simulated seconds pass (another client advances)."""
    settle(server)
    resp = requests.get(server + "/v1/job/missing/deployments", timeout=10)
    index = int(resp.headers["X-Nomad-Index"])
    result = {}

    def watch():
        r = requests.get(f"{server}/v1/job/missing/deployments?index={index}&wait=5s", timeout=60)
        result.update(index=int(r.headers["X-Nomad-Index"]), time=requests.get(server + "/v1/sim/status").json()["Time"])

    start = requests.get(server + "/v1/sim/status", timeout=10).json()["Time"]
    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)
    assert watcher.is_alive()
    post(server, "/v1/sim/advance", {"Seconds": 30})
    watcher.join(20)
    assert result["index"] == index and result["time"] >= start + 5


def test_blocking_query_wait_is_simulated_time_under_the_manual_clock(server):
    """`wait=1s` under the manual clock: still blocked after 2.5 wall seconds (nobody moved time),
    answered as soon as a client advances simulated time past it (README: wait in simulated time)."""
    resp = requests.get(server + "/v1/job/missing/deployments", timeout=10)
    result = {}

    def watch():
        r = requests.get(f"{server}/v1/job/missing/deployments?index={resp.headers['X-Nomad-Index']}&wait=1s",
                         timeout=60)
        result.update(status=r.status_code, at=time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(2.5)
    assert watcher.is_alive()
    advanced = time.monotonic()
    post(server, "/v1/sim/advance", {"Seconds": 2})
    watcher.join(20)
    assert result["status"] == 200 and result["at"] - advanced < 5


def test_sim_endpoints(server):
    """advance, settle, status, metrics and node down/up drive and report simulated time."""
    status = requests.get(server + "/v1/sim/status", timeout=10).json()
    out = post(server, "/v1/sim/advance", {"Seconds": 10}).json()
    assert out["Time"] == pytest.approx(status["Time"] + 10)
    assert post(server, "/v1/sim/advance", {"Seconds": -1}).status_code == 400
    metrics = requests.get(server + "/v1/sim/metrics", timeout=10).json()
    assert metrics["Nodes"] == {"ready": 3}
    down = post(server, "/v1/sim/nodes/node-2/down").json()
    assert down["Name"] == "node-2"
    post(server, "/v1/sim/advance", {"Seconds": 60})
    assert requests.get(server + "/v1/node/" + down["NodeID"], timeout=10).json()["Status"] == "down"
    post(server, "/v1/sim/nodes/node-2/up")
    assert requests.get(server + "/v1/node/" + down["NodeID"], timeout=10).json()["Status"] == "ready"
    assert post(server, "/v1/sim/nodes/nope/down").status_code == 404


def test_node_drain_and_deployment_actions_over_http(server, client):
    """Drain answers NodeDrainUpdateResponse; deployment pause answers DeploymentUpdateResponse."""
    node_id = client.nodes.get_nodes()[1]["ID"]
    out = client.node.drain_node_with_spec(node_id, {"Deadline": 60_000_000_000})
    validate_response("NodeDrainUpdateResponse", out)
    assert client.node.get_node(node_id)["Drain"] is True
    client.node.drain_node_with_spec(node_id, None, mark_eligible=True)
    assert client.node.get_node(node_id)["Drain"] is False
    job = example_job()
    job["Job"]["ID"] = job["Job"]["Name"] = "dep"
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"] = 100
    client.jobs.register_job(job)
    post(server, "/v1/sim/advance", {"Seconds": 1})
    dep = client.job.get_deployment("dep")
    if dep["Status"] == "running":
        validate_response("PostDeploymentPauseResponse", client.deployment.pause_deployment(dep["ID"], True))
        assert client.deployment.get_deployment(dep["ID"])["Status"] == "paused"
        client.deployment.pause_deployment(dep["ID"], False)
    resp = post(server, "/v1/deployment/fail/nope")
    assert (resp.status_code, resp.text) == (500, "deployment not found")


def test_realtime_clock_follows_the_wall_clock(tmp_path):
    """`--clock realtime --speed 20`: simulated time runs 20x the wall clock; waits are simulated."""
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(tiny_scenario()))
    proc, url = start_server(path, "--clock", "realtime", "--speed", "20")
    try:
        first = requests.get(url + "/v1/sim/status", timeout=10).json()
        assert first["Clock"] == "realtime"
        time.sleep(0.5)
        assert requests.get(url + "/v1/sim/status", timeout=10).json()["Time"] >= first["Time"] + 5
        index = requests.get(url + "/v1/jobs", timeout=10).headers["X-Nomad-Index"]
        t0 = time.monotonic()
        requests.get(f"{url}/v1/jobs?index={index}&wait=4s", timeout=30)
        assert time.monotonic() - t0 < 2.0  # 4 simulated seconds are 0.2 s of wall time
    finally:
        stop_server(proc)
