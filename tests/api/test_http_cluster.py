"""The endpoints beyond jobs over HTTP, driven by python-nomad against `nomadsim serve` (a subprocess).

Every call issue 15 lists: lists, alloc stop, agent, status, regions, namespaces, search, metrics,
job scale and the event stream. Bodies are checked against Nomad's OpenAPI response schemas (the
shapes its clients decode), status codes and plain-text messages against Nomad's handlers.
"""

from __future__ import annotations

import json
import queue
import threading

import nomad
import pytest
import requests
from nomad.api.exceptions import BaseNomadException, URLNotFoundNomadException

from .support import (
    DATA,
    batch_job,
    example_job,
    start_server,
    stop_server,
    tiny_scenario,
    validate_response,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("http-cluster") / "tiny.yaml"
    path.write_text(json.dumps({**tiny_scenario(), "namespaces": [{"name": "apps"}]}))
    proc, url = start_server(path)
    requests.post(url + "/v1/jobs", json=example_job(), timeout=30)
    requests.post(url + "/v1/jobs", json=batch_job("alpha"), timeout=30)
    requests.post(url + "/v1/sim/settle", json={"MaxSeconds": 300}, timeout=60)
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def client(server):
    return nomad.Nomad(host="127.0.0.1", port=int(server.rsplit(":", 1)[1]), timeout=30)


def get(url: str, path: str, **params) -> requests.Response:
    return requests.get(url + path, params=params, timeout=30)


def post(url: str, path: str, body=None) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30)


def test_lists_of_allocations_and_evaluations(server, client):
    allocs = client.allocations.get_allocations()
    validate_response("GetAllocationsResponse", allocs)
    assert {a["JobID"] for a in allocs} == {"example", "alpha"}
    assert all(a["TaskStates"] is None for a in client.allocations.get_allocations(task_states=False))
    assert all(a["AllocatedResources"] for a in client.allocations.get_allocations(resources=True))
    running = client.allocations.get_allocations(filter_='JobID == "example" and ClientStatus == "running"')
    assert [a["JobID"] for a in running] == ["example"]
    assert client.allocations.get_allocations(prefix=allocs[0]["ID"][:8])[0]["ID"] == allocs[0]["ID"]
    assert client.allocations.get_allocations(namespace="apps") == []
    evals = client.evaluations.get_evaluations()
    validate_response("GetEvaluationsResponse", evals)
    assert client.evaluations.get_evaluations(prefix=evals[0]["ID"][:4])[0]["ID"] == evals[0]["ID"]
    assert {e["JobID"] for e in get(server, "/v1/evaluations", job="alpha").json()} == {"alpha"}
    assert get(server, "/v1/evaluations", status="pending").json() == []
    resp = get(server, "/v1/allocations")
    assert int(resp.headers["X-Nomad-Index"]) >= max(a["ModifyIndex"] for a in allocs)
    assert resp.headers["X-Nomad-KnownLeader"] == "true"


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("/v1/allocations", {"filter": "JobID =="}, 400, "failed to create result paginator: failed to read filter "
                                                     "expression: expected a value, found 'end of input' in 'JobID =='"),
    ("/v1/allocations", {"filter": 'Nope == "x"'}, 400, 'failed to read result page: error finding value in datum: '
                                                        '/Nope at part 0: couldn\'t find key: struct field with name "Nope"'),
    ("/v1/allocations", {"task_states": "maybe"}, 400, 'strconv.ParseBool: parsing "maybe": invalid syntax'),
    ("/v1/evaluations", {"job": "a", "filter": 'JobID == "a"'}, 500,
     "Filter expression cannot be used with other filter parameters"),
    ("/v1/node/nope/allocations", {}, 404, "node not found"),
    ("/v1/namespace/nope", {}, 404, "Namespace not found"),
    ("/v1/node/pool/nope", {}, 404, "node pool not found"),
    ("/v1/job/nope/scale", {}, 404, "job not found"),
    ("/v1/metrics", {"format": "prometheus"}, 415, "Prometheus is not enabled"),
    ("/v1/search", {}, 405, "Invalid method"),
    ("/v1/search/fuzzy", {}, 405, "Invalid method"),
    ("/v1/allocation/x/stop", {}, 405, "Invalid method"),
    ("/v1/event/stream", {"index": "x"}, 400, 'Unable to parse index: strconv.Atoi: parsing "x": invalid syntax'),
    ("/v1/event/stream", {"topic": "Job:a:b"}, 400,
     "Invalid topic query: error parsing topics: Invalid key value pair for topic, topic: Job:a:b"),
])
def test_read_errors(server, path, params, status, message):
    resp = get(server, path, **params)
    assert (resp.status_code, resp.text) == (status, message)


@pytest.mark.parametrize("path", ["/v1/allocations", "/v1/evaluations", "/v1/agent/self", "/v1/regions",
                                  "/v1/namespaces", "/v1/metrics", "/v1/event/stream", "/v1/status/peers"])
def test_reads_refuse_writes(server, path):
    resp = post(server, path, {})
    assert (resp.status_code, resp.text) == (405, "Invalid method")


def test_allocations_of_an_eval_a_deployment_and_a_node(server, client):
    alloc = client.allocations.get_allocations(filter_='JobID == "example"')[0]
    by_eval = client.evaluation.get_allocations(alloc["EvalID"])
    validate_response("GetEvaluationAllocationsResponse", by_eval)
    assert alloc["ID"] in [a["ID"] for a in by_eval]
    deployment = client.job.get_deployment("example")
    by_dep = client.deployment.get_deployment_allocations(deployment["ID"])  # was a 405 (the actions route)
    validate_response("GetDeploymentAllocationsResponse", by_dep)
    assert [a["ID"] for a in by_dep] == [alloc["ID"]]
    by_node = client.node.get_allocations(alloc["NodeID"])
    validate_response("GetNodeAllocationsResponse", by_node)
    assert alloc["ID"] in [a["ID"] for a in by_node] and all(a["Job"] for a in by_node)


def test_agent_status_regions_namespaces(server, client):
    me = client.agent.get_agent()
    assert (me["config"]["Region"], me["config"]["Datacenter"], me["member"]["Status"]) == ("global", "dc1", "alive")
    members = client.agent.get_members()
    assert members["ServerRegion"] == "global" and members["Members"][0]["Name"] == "nomadsim.global"
    peers = client.status.peers.get_peers()
    validate_response("GetStatusPeersResponse", peers)
    assert peers == [client.status.leader.get_leader()]
    regions = client.regions.get_regions()
    validate_response("GetRegionsResponse", regions)
    assert regions == ["global"]
    namespaces = client.namespaces.get_namespaces()
    validate_response("GetNamespacesResponse", namespaces)
    assert [n["Name"] for n in namespaces] == ["apps", "default"]
    assert client.namespace.get_namespace("apps")["Name"] == "apps"
    with pytest.raises(URLNotFoundNomadException):
        client.namespace.get_namespace("nope")
    assert [p["Name"] for p in get(server, "/v1/node/pools").json()] == ["all", "default"]


def test_search_and_fuzzy_search(server, client):
    out = client.search.search("ex", "jobs")
    validate_response("GetSearchResponse", out)
    assert out["Matches"] == {"jobs": ["example"]} and out["Truncations"] == {"jobs": False}
    everything = client.search.search("", "all")
    assert set(everything["Matches"]) >= {"allocs", "jobs", "nodes", "evals", "deployment", "namespaces", "node_pools"}
    fuzzy = client.search.fuzzy_search("redis", "all")
    validate_response("GetFuzzySearchResponse", fuzzy)
    assert {"ID": "redis", "Scope": ["default", "example", "cache"]} in fuzzy["Matches"]["tasks"]
    with pytest.raises(BaseNomadException) as err:  # python-nomad checks contexts itself; its base request does not
        client.search.request(json={"Prefix": "x", "Context": "bogus"}, method="post")
    assert err.value.nomad_resp.status_code == 500
    assert err.value.nomad_resp.text.startswith("context must be one of [allocs jobs nodes")
    resp = post(server, "/v1/search/fuzzy", {"Text": "r", "Context": "all"})
    assert (resp.status_code, resp.text) == (500, "fuzzy search query must be at least 2 characters, got 1")
    resp = post(server, "/v1/search", {"Prefix": 5})
    assert (resp.status_code, resp.text) == (
        400, "json: cannot unmarshal number into Go struct field SearchRequest.Prefix of type string")


def test_metrics(server, client):
    out = client.metrics.get_metrics()
    validate_response("GetMetricsSummaryResponse", out)
    names = {g["Name"] for g in out["Gauges"]}
    assert {"nomad.nomad.broker.total_ready", "nomad.nomad.blocked_evals.total_blocked",
            "nomad.nomad.job_status.running", "nomad.client.allocations.running"} <= names
    assert out["Timestamp"].endswith(" +0000 UTC")


def test_job_scale_over_http(server, client):
    status = client.job.request("example", "scale", method="get").json()
    validate_response("GetJobScaleStatusResponse", status)
    assert status["TaskGroups"]["cache"]["Desired"] == 1
    out = client.job.request("example", "scale", method="post",
                             json={"Count": 2, "Target": {"Group": "cache"}, "Message": "by test"}).json()
    validate_response("PostJobScalingResponse", out)
    assert client.evaluation.get_evaluation(out["EvalID"])["TriggeredBy"] == "job-scaling"
    assert client.job.get_job("example")["TaskGroups"][0]["Count"] == 2
    post(server, "/v1/sim/advance", {"Seconds": 1})  # the scaling eval starts a deployment
    resp = post(server, "/v1/job/example/scale", {"Count": 3, "Target": {"Group": "cache"}})
    assert (resp.status_code, resp.text) == (400, "job scaling blocked due to active deployment")
    resp = post(server, "/v1/job/example/scale", {"Count": 3, "Target": {"Group": "web"}})
    assert (resp.status_code, resp.text) == (400, 'task group "web" specified for scaling does not exist in job')
    resp = requests.delete(server + "/v1/job/example/scale", timeout=30)
    assert (resp.status_code, resp.text) == (405, "Invalid method")
    post(server, "/v1/sim/settle", {"MaxSeconds": 300})
    events = get(server, "/v1/job/example/scale").json()["TaskGroups"]["cache"]["Events"]
    assert (events[0]["Count"], events[0]["PreviousCount"], events[0]["Message"]) == (2, 1, "by test")


def test_job_in_an_unknown_namespace_or_pool_is_refused(server):
    before = get(server, "/v1/sim/status").json()["Index"]
    resp = post(server, "/v1/jobs", batch_job("x", Namespace="nope"))
    assert (resp.status_code, resp.text) == (500, '1 error occurred:\n\t* job "x" is in nonexistent namespace "nope"\n\n')
    resp = post(server, "/v1/jobs?namespace=apps", batch_job("y", NodePool="gpu"))
    assert (resp.status_code, resp.text) == (500, '1 error occurred:\n\t* job "y" is in nonexistent node pool "gpu"\n\n')
    assert get(server, "/v1/sim/status").json()["Index"] == before


def test_event_stream_with_python_nomad(server, client):
    events: queue.Queue = queue.Queue()
    stream, stop, events = client.event.stream.get_stream(topic={"Job": "streamed"}, event_queue=events, timeout=30)
    stream.daemon = True
    stream.start()
    threading.Event().wait(0.5)  # the subscription is open
    post(server, "/v1/jobs", batch_job("streamed"))
    post(server, "/v1/sim/advance", {"Seconds": 5})
    first = events.get(timeout=30)
    assert set(first) == {"Index", "Events"}
    event = first["Events"][0]
    assert (event["Topic"], event["Type"], event["Key"], event["Namespace"]) == ("Job", "JobRegistered", "streamed",
                                                                                "default")
    assert event["Payload"]["Job"]["ID"] == "streamed" and event["Index"] == first["Index"]
    stop.set()  # python-nomad's thread ends after its next message
    post(server, "/v1/job/streamed", batch_job("streamed", count=3))
    stream.join(30)
    assert not stream.is_alive()
    resume = requests.get(server + "/v1/event/stream", params={"index": first["Index"], "topic": "Evaluation"},
                          stream=True, timeout=30)
    line = json.loads(next(resume.iter_lines()))  # replayed from the buffer
    resume.close()
    assert line["Index"] >= first["Index"] and {e["Topic"] for e in line["Events"]} == {"Evaluation"}


def test_alloc_stop_over_http(server, client):
    alloc = client.allocations.get_allocations(filter_='JobID == "alpha" and ClientStatus == "running"')
    if not alloc:
        pytest.skip("the batch job finished")
    out = client.allocation.stop_allocation(alloc[0]["ID"])
    validate_response("PostAllocationStopResponse", out)
    assert client.evaluation.get_evaluation(out["EvalID"])["TriggeredBy"] == "alloc-stop"
    resp = post(server, "/v1/allocation/nope/stop")
    assert (resp.status_code, resp.text) == (404, "allocation not found")
    resp = post(server, f"/v1/allocation/{alloc[0]['ID']}/stop?no_shutdown_delay=maybe")
    assert resp.status_code == 500 and resp.text.startswith("no_shutdown_delay value is not a boolean")


GO_FIELDS = json.loads((DATA / "reference" / "go-api-fields.json").read_text())


def _has_go_fields(struct: str, value: dict) -> None:
    """Every field the official Go client's struct decodes is in the answer."""
    missing = set(GO_FIELDS[struct]) - set(value)
    assert not missing, f"{struct}: missing {sorted(missing)}"


def test_answers_carry_every_field_the_go_client_decodes(server, client):
    alloc = get(server, "/v1/allocations").json()[0]
    _has_go_fields("AllocationListStub", alloc)
    _has_go_fields("DesiredTransition", alloc["DesiredTransition"])
    _has_go_fields("Evaluation", get(server, "/v1/evaluations").json()[0])
    me = get(server, "/v1/agent/self").json()
    _has_go_fields("AgentSelf", me)
    _has_go_fields("AgentMember", me["member"])
    members = get(server, "/v1/agent/members").json()
    _has_go_fields("ServerMembers", members)
    scale = get(server, "/v1/job/example/scale").json()
    _has_go_fields("JobScaleStatusResponse", scale)
    group = scale["TaskGroups"]["cache"]
    _has_go_fields("TaskGroupScaleStatus", group)
    for event in group["Events"] or []:
        _has_go_fields("ScalingEvent", event)
    _has_go_fields("SearchResponse", post(server, "/v1/search", {"Prefix": "e", "Context": "jobs"}).json())
    fuzzy = post(server, "/v1/search/fuzzy", {"Text": "cache", "Context": "all"}).json()
    _has_go_fields("FuzzySearchResponse", fuzzy)
    _has_go_fields("FuzzyMatch", fuzzy["Matches"]["groups"][0])
    _has_go_fields("Namespace", get(server, "/v1/namespace/default").json())
    _has_go_fields("NodePool", get(server, "/v1/node/pool/default").json())
    metrics = get(server, "/v1/metrics").json()
    _has_go_fields("MetricsSummary", metrics)
    _has_go_fields("GaugeValue", metrics["Gauges"][0])
    _has_go_fields("SampledValue", metrics["Counters"][0])
    _has_go_fields("AllocStopResponse", post(server, f"/v1/allocation/{alloc['ID']}/stop").json())
    _has_go_fields("JobRegisterResponse", post(server, "/v1/job/alpha/scale", {"Target": {"Group": "work"}}).json())
    stream = requests.get(server + "/v1/event/stream", params={"index": 1}, stream=True, timeout=30)
    threading.Event().wait(0.5)  # subscribed; then a write for it to see
    post(server, "/v1/job/alpha/evaluate", {})
    batch = json.loads(next(stream.iter_lines()))
    stream.close()
    _has_go_fields("Events", {**batch, "Err": None})  # Err is the client's own (a decode error)
    _has_go_fields("Event", batch["Events"][0])
