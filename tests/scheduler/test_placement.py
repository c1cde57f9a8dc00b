"""The stack-free part of the in-place update decision."""

from __future__ import annotations

from sim.scheduler.placement import alloc_on, alloc_update_precheck
from sim.structs.alloc import AllocMetric
from sim.structs.job import Job, Task, TaskGroup

from .fixtures_reconcile import Ids, mock_alloc, mock_job, mock_node


def _task(job: Job) -> Task:
    return job.task_groups[0].tasks[0]


def _group(job: Job) -> TaskGroup:
    return job.task_groups[0]


def test_alloc_update_precheck():
    """Nomad: scheduler/util.go genericAllocUpdateFn, before the stack is consulted."""
    ids, job = Ids(), mock_job()
    alloc = mock_alloc(ids, job, 0)
    node = mock_node(ids, alloc.node_id)
    assert alloc_update_precheck(alloc, job, _group(job), node) == (True, False, None)
    newer = mock_job()
    newer.job_modify_index = 200
    assert alloc_update_precheck(alloc, newer, _group(newer), node) is None
    assert alloc_update_precheck(alloc, newer, _group(newer), None) == (False, True, None)
    newer.datacenters = ["dc2"]
    assert alloc_update_precheck(alloc, newer, _group(newer), node) == (False, True, None)
    _task(newer).driver = "docker"
    assert alloc_update_precheck(alloc, newer, _group(newer), node) == (False, True, None)
    alloc.client_status = "complete"
    newer.datacenters, _task(newer).driver = ["dc1"], "exec"
    assert alloc_update_precheck(alloc, newer, _group(newer), node) == (True, False, None)


def test_alloc_on_puts_each_value_in_its_field():
    """`alloc_on` passes Allocation's leading fields by position: each lands where named."""
    ids, job = Ids(), mock_job()
    node = mock_node(ids, "node-x")
    metric = AllocMetric()
    alloc = alloc_on("alloc-1", "eval-1", job, "web", "example.web[3]", node, [("http", 8080)], (), metric, 0.75,
                     (500, 256, 150), deployment_id="dep-1")
    assert (alloc.id, alloc.namespace, alloc.eval_id, alloc.name) == ("alloc-1", job.namespace, "eval-1", "example.web[3]")
    assert (alloc.node_id, alloc.node_name, alloc.job_id, alloc.job, alloc.task_group) == (
        node.id, node.name, job.id, job, "web")
    assert (alloc.cpu, alloc.memory_mb, alloc.disk_mb) == (500, 256, 150)
    assert (alloc.ports, alloc.devices, alloc.networks) == ([("http", 8080)], (), ())
    assert (alloc.metrics, alloc.score, alloc.deployment_id) == (metric, 0.75, "dep-1")
