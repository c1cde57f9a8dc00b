"""Nomad JSON shapes of runtime objects (sim/api/encode.py), against the API docs' samples and
the OpenAPI schemas."""

from __future__ import annotations

from sim.api import encode as E
from sim.structs.alloc import (
    Allocation,
    AllocDeploymentStatus,
    AllocMetric,
    NodeScoreMeta,
    RescheduleEvent,
    ScoreLayout,
    TaskEvent,
    TaskState,
)
from sim.structs.deployment import Deployment, DeploymentState
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job, Resources, Task, TaskGroup
from sim.structs.job_summary import JobSummary, TaskGroupSummary
from sim.structs.node import DrainMetadata, DrainStrategy, Node, NodeEvent, NodeResources

from .support import sample, shape_problems, validate_response

START = 1_767_225_600  # 2026-01-01T00:00:00Z


def nanos(t: float) -> int:
    return int(round((START + t) * 1e9))


def _job() -> Job:
    task = Task(name="redis", driver="docker", resources=Resources(cpu=500, memory_mb=256))
    return Job(id="example", name="example", namespace="default", type="service", priority=50,
               task_groups=[TaskGroup(name="cache", count=1, tasks=[task])], create_index=7, modify_index=7,
               job_modify_index=7)


def _alloc() -> Allocation:
    events = [TaskEvent("Received", 1.0), TaskEvent("Task Setup", 1.0, message="Building Task Directory"),
              TaskEvent("Started", 2.5)]
    return Allocation(
        id="a1", namespace="default", eval_id="e1", name="example.cache[0]", node_id="n1", node_name="node-0",
        job_id="example", job=_job(), task_group="cache", cpu=500, memory_mb=256, disk_mb=300,
        ports=[("db", 21000)], client_status="running",
        task_states={"redis": TaskState(state="running", started_at=2.5, events=events)},
        deployment_status=AllocDeploymentStatus(healthy=True, timestamp=12.5), previous_allocation="a0",
        reschedule_tracker=[RescheduleEvent(0.5, "a0", "n0", 5.0)],
        metrics=AllocMetric(nodes_evaluated=3, nodes_available={"dc1": 3}), create_index=9, modify_index=13,
        create_time=1.0, modify_time=2.5)


def _eval(**kw) -> Evaluation:
    fields = {"status": "complete", "queued_allocations": {"cache": 0}, "snapshot_index": 8, "create_index": 8,
              "modify_index": 10, "create_time": 1.0, "modify_time": 1.5, **kw}
    return Evaluation(id="e1", namespace="default", priority=50, type="service", triggered_by="job-register",
                      job_id="example", job_modify_index=7, **fields)


def test_rfc3339_trims_trailing_zeros_like_go():
    """Go marshals time.Time as RFC 3339 with nanoseconds, trailing zeros trimmed."""
    assert E.rfc3339(1_495_755_683_240_184_101) == "2017-05-25T23:41:23.240184101Z"
    assert E.rfc3339(1_767_225_600_500_000_000) == "2026-01-01T00:00:00.5Z"
    assert E.rfc3339(1_767_225_600_000_000_000) == "2026-01-01T00:00:00Z"
    assert E.sim_time(nanos, None) == E.ZERO_TIME == "0001-01-01T00:00:00Z"


def test_alloc_stub_has_every_sample_key():
    """The list stub carries every key of the job-allocations sample, with its type."""
    stub = E.encode_alloc_stub(_alloc(), nanos)
    assert shape_problems(sample("job-allocations.response.json")[0], stub) == []
    assert stub["TaskStates"]["redis"]["StartedAt"] == "2026-01-01T00:00:02.5Z"
    assert stub["TaskStates"]["redis"]["Events"][1]["Message"] == "Building Task Directory"
    assert stub["RescheduleTracker"]["Events"][0]["Delay"] == 5_000_000_000
    assert stub["CreateTime"] == nanos(1.0) and stub["JobVersion"] == 0
    validate_response("GetJobAllocationsResponse", [stub])


def test_full_alloc_has_job_resources_and_metrics():
    """GET /v1/allocation/:id: the job, allocated resources and the placement metrics."""
    alloc = E.encode_alloc(_alloc(), nanos, lambda job: {"ID": job.id})
    assert alloc["Job"] == {"ID": "example"}
    assert alloc["AllocatedResources"]["Tasks"]["redis"]["Cpu"]["CpuShares"] == 500
    assert alloc["AllocatedResources"]["Shared"]["Ports"][0]["Value"] == 21000
    assert alloc["Metrics"]["NodesAvailable"] == {"dc1": 3}
    assert alloc["DeploymentStatus"]["Healthy"] is True
    validate_response("GetAllocationResponse", alloc)


def test_eval_has_every_sample_key():
    """Evaluations carry every key of the job-evaluations sample; durations and times are ns."""
    ev = E.encode_eval(_eval(wait=2.0), nanos)
    assert shape_problems(sample("job-evaluations.response.json")[0], ev) == []
    assert ev["Wait"] == 2_000_000_000 and ev["CreateTime"] == nanos(1.0)
    assert ev["FailedTGAllocs"] is None and ev["WaitUntil"] == E.ZERO_TIME
    validate_response("GetEvaluationResponse", ev)


def test_blocked_eval_matches_plan_created_evals_sample():
    """A blocked eval with failed allocs and class eligibility fits the plan sample's CreatedEvals."""
    metric = AllocMetric(nodes_evaluated=1, nodes_exhausted=1, dimension_exhausted={"cpu": 1},
                         nodes_available={"dc1": 1}, coalesced_failures=3)
    ev = E.encode_eval(_eval(status="blocked", class_eligibility={"v1:1": True},
                             failed_tg_allocs={"cache": metric}), nanos)
    assert shape_problems(sample("plan-job.response.json")["CreatedEvals"][0], ev) == []
    assert ev["FailedTGAllocs"]["cache"]["DimensionExhausted"] == {"cpu": 1}
    assert shape_problems(sample("plan-job.response.json")["FailedTGAllocs"]["cache"],
                          ev["FailedTGAllocs"]["cache"]) == []


def test_deployment_has_every_sample_key():
    """Deployments carry every key of the deployment sample; deadlines are ns and RFC 3339."""
    dep = Deployment(id="d1", namespace="default", job_id="my-job", job_version=1, job_modify_index=19,
                     job_spec_modify_index=19, job_create_index=7, create_index=21, modify_index=25,
                     task_groups={"cache": DeploymentState(auto_revert=True, progress_deadline=600.0,
                                                           require_progress_by=30.0, placed_canaries=["a", "b"],
                                                           desired_canaries=2, desired_total=3)})
    out = E.encode_deployment(dep, nanos)
    assert shape_problems(sample("job-deployment.response.json"), out) == []
    group = out["TaskGroups"]["cache"]
    assert group["ProgressDeadline"] == 600_000_000_000 and group["RequireProgressBy"] == "2026-01-01T00:00:30Z"
    validate_response("GetDeploymentResponse", out)


def test_summary_and_job_stub_have_every_sample_key():
    """Summaries and list stubs carry every key of the summary and list-jobs samples."""
    summary = JobSummary(job_id="example", namespace="default", summary={"cache": TaskGroupSummary(running=1)},
                         create_index=7, modify_index=13)
    out = E.encode_summary(summary)
    assert shape_problems(sample("job-summary.response.json"), out) == []
    stub = E.encode_job_stub(_job(), summary)
    assert shape_problems(sample("list-jobs.response.json")[0], stub) == []
    assert "Meta" not in stub and E.encode_job_stub(_job(), summary, meta=True)["Meta"] is None
    validate_response("GetJobSummaryResponse", out)
    validate_response("GetJobsResponse", [stub])


def test_nodes_fit_the_openapi_schemas():
    """Node list stubs and nodes fit Nomad's OpenAPI NodeListStub and Node."""
    node = Node(id="n1", name="node-0", drivers=["docker"], attributes={"nomad.version": "1.11.0"},
                resources=NodeResources(4000, 8192, 102400), reserved=NodeResources(100, 256, 4096, "22"))
    stub = E.encode_node_stub(node, nanos, resources=True)
    assert stub["Version"] == "1.11.0" and stub["Drivers"]["docker"]["Healthy"] is True
    assert stub["NodeResources"]["Cpu"]["CpuShares"] == 4000
    full = E.encode_node(node, nanos)
    assert full["ReservedResources"]["Networks"]["ReservedHostPorts"] == "22" and full["DrainStrategy"] is None
    validate_response("GetNodesResponse", [stub])
    validate_response("GetNodeResponse", full)
    node.drain = True
    node.drain_strategy = DrainStrategy(deadline=0.0, started_at=10.0)
    node.last_drain = DrainMetadata(started_at=10.0, updated_at=10.5, status="draining", meta={"by": "ops"})
    node.events = (NodeEvent("Node drain strategy set", "Drain", 10.0, create_index=7),)
    draining = E.encode_node(node, nanos)
    assert draining["DrainStrategy"]["ForceDeadline"] == E.ZERO_TIME and draining["DrainStrategy"]["Deadline"] == 0
    assert draining["DrainStrategy"]["StartedAt"] == E.rfc3339(nanos(10.0))
    assert draining["LastDrain"] == {"StartedAt": E.rfc3339(nanos(10.0)), "UpdatedAt": E.rfc3339(nanos(10.0)),
                                     "Status": "draining", "AccessorID": "", "Meta": {"by": "ops"}}
    assert draining["Events"] == [{"Message": "Node drain strategy set", "Subsystem": "Drain", "Details": None,
                                   "Timestamp": E.rfc3339(nanos(10.0)), "CreateIndex": 7}]
    assert E.encode_node_stub(node, nanos)["LastDrain"] == draining["LastDrain"]
    node.drain_strategy = DrainStrategy(deadline=3600.0, started_at=10.0, force_deadline=3610.0)
    assert E.encode_node(node, nanos)["DrainStrategy"]["ForceDeadline"] == E.rfc3339(nanos(3610.0))
    assert stub["Drivers"]["docker"]["UpdateTime"] == E.ZERO_TIME
    validate_response("GetNodeResponse", draining)


def test_metric_json_reads_the_compact_metric_without_changing_it():
    """Packed top scores and unused maps encode as the plain struct does; nothing is created."""
    layout = ScoreLayout((("binpack", None), ("job-anti-affinity", None), ("node-reschedule-penalty", 0.0),
                          ("node-affinity", 0.0)))
    packed = AllocMetric(nodes_evaluated=2, nodes_available={"dc1": 2})
    packed.set_top_scores(layout, ["n1", "n2"], [0.375, 0.75, -0.0, 0.25, 0.5, 0.0])
    listed = AllocMetric(nodes_evaluated=2, nodes_available={"dc1": 2}, class_filtered={}, constraint_filtered={},
                         class_exhausted={}, dimension_exhausted={}, quota_exhausted=[], resources_exhausted={},
                         score_meta_data=[NodeScoreMeta("n1", {"binpack": 0.75, "job-anti-affinity": -0.0,
                                                               "node-reschedule-penalty": 0.0, "node-affinity": 0.0},
                                                        0.375),
                                          NodeScoreMeta("n2", {"binpack": 0.5, "job-anti-affinity": 0.0,
                                                               "node-reschedule-penalty": 0.0, "node-affinity": 0.0},
                                                        0.25)])
    out = E.encode_metric(packed)
    assert out == E.encode_metric(listed) and repr(out) == repr(E.encode_metric(listed))  # -0.0 too
    assert out["ScoreMetaData"][0]["Scores"] == {"binpack": 0.75, "job-anti-affinity": -0.0,
                                                 "node-reschedule-penalty": 0.0, "node-affinity": 0.0}
    assert out["QuotaExhausted"] is None and out["ResourcesExhausted"] is None and out["ClassFiltered"] == {}
    assert packed.peek("score_meta_data") is None and packed.peek("class_filtered") is None
