"""The stack-free part of the in-place update decision."""

from __future__ import annotations

from sim.scheduler.placement import alloc_update_precheck
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
