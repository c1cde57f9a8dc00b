"""Reconciler basics: placements, scaling, updates, lost and draining nodes, stopped jobs.

Cases ported from Nomad scheduler/reconciler/reconcile_cluster_test.go with Nomad's expected
counts; each docstring names the Nomad test.
"""

from __future__ import annotations

from dataclasses import replace

from sim.scheduler.reconciler.cluster import ClusterState, ReconcilerState, reconcile
from sim.structs.consts import (
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST,
    ALLOC_DESIRED_STOP,
    ALLOC_LOST,
    ALLOC_MIGRATING,
    ALLOC_NOT_NEEDED,
    ALLOC_UPDATING,
    DEPLOYMENT_CANCELLED,
    DESC_DEPLOYMENT_STOPPED_JOB,
)
from sim.structs.deployment import DeploymentState
from sim.structs.job import UpdateStrategy

from ..fixtures_reconcile import (
    NOW,
    Ids,
    add_group,
    counts,
    destructive_indexes,
    du,
    expect,
    mock_alloc,
    mock_allocs,
    mock_job,
    mock_node,
    new_deployment,
    no_canary_update,
    place_indexes,
    run,
    stop_indexes,
    update_destructive,
    update_ignore,
    update_inplace,
)


def test_place_no_existing():
    """Nomad: reconcile_cluster_test.go TestReconciler_Place_NoExisting."""
    job = mock_job()
    r = run(job, [])
    assert counts(r) == expect(place=10)
    assert r.desired_tg_updates == {"web": du(place=10)}
    assert place_indexes(r) == list(range(10))
    assert r.deployment is None and r.deployment_updates == []


def test_place_existing():
    """Nomad: reconcile_cluster_test.go TestReconciler_Place_Existing."""
    ids, job = Ids(), mock_job()
    r = run(job, mock_allocs(ids, job, range(5)))
    assert counts(r) == expect(place=5)
    assert r.desired_tg_updates == {"web": du(place=5, ignore=5)}
    assert place_indexes(r) == list(range(5, 10))


def test_scale_down_partial():
    """Nomad: reconcile_cluster_test.go TestReconciler_ScaleDown_Partial."""
    ids, job = Ids(), mock_job()
    r = run(job, mock_allocs(ids, job, range(20)))
    assert counts(r) == expect(stop=10)
    assert r.desired_tg_updates == {"web": du(ignore=10, stop=10)}
    assert stop_indexes(r) == list(range(10, 20))
    assert {s.description for s in r.stop} == {ALLOC_NOT_NEEDED}


def test_scale_down_zero():
    """Nomad: reconcile_cluster_test.go TestReconciler_ScaleDown_Zero."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 0
    r = run(job, mock_allocs(ids, job, range(20)))
    assert counts(r) == expect(stop=20)
    assert r.desired_tg_updates == {"web": du(stop=20)}
    assert stop_indexes(r) == list(range(20))


def test_scale_down_zero_duplicate_names():
    """Nomad: reconcile_cluster_test.go TestReconciler_ScaleDown_Zero_DuplicateNames."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 0
    allocs = [mock_alloc(ids, job, i % 2) for i in range(20)]
    r = run(job, allocs)
    assert counts(r) == expect(stop=20)
    assert stop_indexes(r) == sorted(i % 2 for i in range(20))


def test_inplace():
    """Nomad: reconcile_cluster_test.go TestReconciler_Inplace."""
    ids, job = Ids(), mock_job()
    r = run(job, mock_allocs(ids, job, range(10)), update=update_inplace)
    assert counts(r) == expect(inplace=10)
    assert r.desired_tg_updates == {"web": du(in_place_update=10)}


def test_inplace_scale_up():
    """Nomad: reconcile_cluster_test.go TestReconciler_Inplace_ScaleUp."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 15
    r = run(job, mock_allocs(ids, job, range(10)), update=update_inplace)
    assert counts(r) == expect(place=5, inplace=10)
    assert r.desired_tg_updates == {"web": du(place=5, in_place_update=10)}
    assert place_indexes(r) == list(range(10, 15))


def test_inplace_scale_down():
    """Nomad: reconcile_cluster_test.go TestReconciler_Inplace_ScaleDown."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 5
    r = run(job, mock_allocs(ids, job, range(10)), update=update_inplace)
    assert counts(r) == expect(inplace=5, stop=5)
    assert r.desired_tg_updates == {"web": du(stop=5, in_place_update=5)}
    assert stop_indexes(r) == list(range(5, 10))
    assert sorted(a.index() for a in r.inplace_update) == list(range(5))


def test_destructive():
    """Nomad: reconcile_cluster_test.go TestReconciler_Destructive."""
    ids, job = Ids(), mock_job()
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    assert counts(r) == expect(destructive=10)
    assert r.desired_tg_updates == {"web": du(destructive_update=10)}
    assert destructive_indexes(r) == list(range(10))
    assert {d.stop_description for d in r.destructive_update} == {ALLOC_UPDATING}


def test_destructive_max_parallel_zero_is_unlimited():
    """Nomad: reconcile_cluster_test.go TestReconciler_DestructiveMaxParallel."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = UpdateStrategy(max_parallel=0, health_check="checks")
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    assert counts(r) == expect(destructive=10)
    assert r.desired_tg_updates == {"web": du(destructive_update=10)}
    assert r.deployment is None


def test_destructive_scale_up():
    """Nomad: reconcile_cluster_test.go TestReconciler_Destructive_ScaleUp."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 15
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    assert counts(r) == expect(place=5, destructive=10)
    assert r.desired_tg_updates == {"web": du(place=5, destructive_update=10)}
    assert place_indexes(r) == list(range(10, 15))


def test_destructive_scale_down():
    """Nomad: reconcile_cluster_test.go TestReconciler_Destructive_ScaleDown."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 5
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    assert counts(r) == expect(destructive=5, stop=5)
    assert r.desired_tg_updates == {"web": du(stop=5, destructive_update=5)}
    assert stop_indexes(r) == list(range(5, 10))
    assert destructive_indexes(r) == list(range(5))


def _down_nodes(ids, allocs, n):
    return {a.node_id: mock_node(ids, a.node_id, status="down") for a in allocs[:n]}


def test_lost_node():
    """Nomad: reconcile_cluster_test.go TestReconciler_LostNode."""
    ids, job = Ids(), mock_job()
    allocs = mock_allocs(ids, job, range(10))
    r = run(job, allocs, tainted=_down_nodes(ids, allocs, 2))
    assert counts(r) == expect(place=2, stop=2)
    assert r.desired_tg_updates == {"web": du(place=2, stop=2, ignore=8)}
    assert stop_indexes(r) == [0, 1] and place_indexes(r) == [0, 1]
    assert {(s.client_status, s.description) for s in r.stop} == {(ALLOC_CLIENT_LOST, ALLOC_LOST)}
    assert all(p.lost and p.previous_alloc is not None for p in r.place)


def test_lost_node_scale_up():
    """Nomad: reconcile_cluster_test.go TestReconciler_LostNode_ScaleUp."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 15
    allocs = mock_allocs(ids, job, range(10))
    r = run(job, allocs, tainted=_down_nodes(ids, allocs, 2))
    assert counts(r) == expect(place=7, stop=2)
    assert r.desired_tg_updates == {"web": du(place=7, stop=2, ignore=8)}
    assert place_indexes(r) == [0, 1, 10, 11, 12, 13, 14]


def test_lost_node_scale_down():
    """Nomad: reconcile_cluster_test.go TestReconciler_LostNode_ScaleDown."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 5
    allocs = mock_allocs(ids, job, range(10))
    r = run(job, allocs, tainted=_down_nodes(ids, allocs, 2))
    assert counts(r) == expect(stop=5)
    assert r.desired_tg_updates == {"web": du(stop=5, ignore=5)}
    assert stop_indexes(r) == [0, 1, 7, 8, 9]


def _draining(ids, allocs, n):
    tainted = {}
    for a in allocs[:n]:
        a.desired_transition.migrate = True
        tainted[a.node_id] = mock_node(ids, a.node_id, drain=True)
    return tainted


def test_drain_node():
    """Nomad: reconcile_cluster_test.go TestReconciler_DrainNode."""
    ids, job = Ids(), mock_job()
    allocs = mock_allocs(ids, job, range(10))
    r = run(job, allocs, tainted=_draining(ids, allocs, 2))
    assert counts(r) == expect(place=2, stop=2)
    assert r.desired_tg_updates == {"web": du(migrate=2, ignore=8)}
    assert stop_indexes(r) == [0, 1] and place_indexes(r) == [0, 1]
    assert {s.description for s in r.stop} == {ALLOC_MIGRATING}
    assert all(p.previous_alloc is not None and not p.reschedule for p in r.place)


def test_drain_node_scale_up():
    """Nomad: reconcile_cluster_test.go TestReconciler_DrainNode_ScaleUp."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 15
    allocs = mock_allocs(ids, job, range(10))
    r = run(job, allocs, tainted=_draining(ids, allocs, 2))
    assert counts(r) == expect(place=7, stop=2)
    assert r.desired_tg_updates == {"web": du(place=5, migrate=2, ignore=8)}
    assert place_indexes(r) == [0, 1, 10, 11, 12, 13, 14]
    assert sum(p.previous_alloc is not None for p in r.place) == 2


def test_drain_node_scale_down():
    """Nomad: reconcile_cluster_test.go TestReconciler_DrainNode_ScaleDown."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 8
    allocs = mock_allocs(ids, job, range(10))
    r = run(job, allocs, tainted=_draining(ids, allocs, 3))
    assert counts(r) == expect(place=1, stop=3)
    assert r.desired_tg_updates == {"web": du(migrate=1, stop=2, ignore=7)}
    assert stop_indexes(r) == [0, 1, 2] and place_indexes(r) == [0]


def test_removed_task_group():
    """Nomad: reconcile_cluster_test.go TestReconciler_RemovedTG."""
    ids, job = Ids(), mock_job()
    allocs = mock_allocs(ids, job, range(10))
    job.task_groups[0] = replace(job.task_groups[0], name="different")
    r = run(job, allocs)
    assert counts(r) == expect(place=10, stop=10)
    assert r.desired_tg_updates == {"different": du(place=10), "web": du(stop=10)}
    assert stop_indexes(r) == list(range(10)) and place_indexes(r) == list(range(10))


def test_job_stopped():
    """Nomad: reconcile_cluster_test.go TestReconciler_JobStopped (stopped job case)."""
    ids, job = Ids(), mock_job()
    add_group(job, "api")
    job.stop = True
    allocs = mock_allocs(ids, job, range(5)) + mock_allocs(ids, job, range(5, 10), group="api")
    r = run(job, allocs)
    assert counts(r) == expect(stop=10)
    assert r.desired_tg_updates == {"web": du(stop=5), "api": du(stop=5)}


def test_job_purged_stops_everything():
    """Nomad: reconcile_cluster_test.go TestReconciler_JobStopped (nil job case)."""
    ids, old = Ids(), mock_job()
    allocs = mock_allocs(ids, old, range(5), group="bar")
    r = run(None, allocs, job_id="foo")
    assert counts(r) == expect(stop=5)
    assert r.desired_tg_updates == {"bar": du(stop=5)}


def test_job_stopped_terminal_allocs_are_left_alone():
    """Nomad: reconcile_cluster_test.go TestReconciler_JobStopped_TerminalAllocs."""
    ids, job = Ids(), mock_job()
    job.stop = True
    allocs = mock_allocs(ids, job, range(10))
    for i, a in enumerate(allocs):
        if i % 2 == 0:
            a.desired_status = ALLOC_DESIRED_STOP
        else:
            a.client_status = ALLOC_CLIENT_FAILED
    r = run(job, allocs)
    assert r.stop == []
    assert r.desired_tg_updates == {"web": du()}


def test_cancel_deployment_when_job_stops():
    """Nomad: reconcile_cluster_test.go TestReconciler_CancelDeployment_JobStop."""
    ids, job = Ids(), mock_job()
    job.stop = True
    for status, cancelled in (("running", True), ("failed", False)):
        d = new_deployment(ids, job, status=status)
        r = run(job, mock_allocs(ids, job, range(10)), deployment=d)
        assert counts(r) == expect(stop=10)
        assert r.desired_tg_updates == {"web": du(stop=10)}
        updates = [(u.deployment_id, u.status, u.status_description) for u in r.deployment_updates]
        assert updates == (
            [(d.id, DEPLOYMENT_CANCELLED, DESC_DEPLOYMENT_STOPPED_JOB)] if cancelled else []
        )


def test_multiple_task_groups():
    """Nomad: reconcile_cluster_test.go TestReconciler_MultiTG."""
    ids, job = Ids(), mock_job()
    add_group(job, "foo")
    r = run(job, mock_allocs(ids, job, range(2)))
    assert counts(r) == expect(place=18)
    assert r.desired_tg_updates == {"web": du(place=8, ignore=2), "foo": du(place=10)}


def test_multiple_task_groups_single_update_block():
    """Nomad: reconcile_cluster_test.go TestReconciler_MultiTG_SingleUpdateBlock."""
    ids, job = Ids(), mock_job()
    add_group(job, "foo")
    job.task_groups[0].update = no_canary_update()
    allocs = mock_allocs(ids, job, range(10)) + mock_allocs(ids, job, range(10), group="foo")
    d = new_deployment(ids, job, web=DeploymentState(desired_total=10))
    r = run(job, allocs, deployment=d)
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=10), "foo": du(ignore=10)}
    assert r.deployment is None and r.deployment_updates == []


def test_reconcile_does_not_modify_the_given_deployment():
    """The reconciler works on a copy of the job's deployment."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    state = DeploymentState(desired_total=10, desired_canaries=0)
    d = new_deployment(ids, job, web=state)
    run(job, mock_allocs(ids, job, range(10)), deployment=d, update=update_destructive)
    assert (
        d.task_groups["web"] is state and state.desired_canaries == 0 and state.desired_total == 10
    )


def test_disconnected_node_allocs_are_lost():
    """Without disconnect support an alloc on a disconnected node is lost and replaced.

    Nomad: filters.go classificationRules (disconnected node, no lost_after).
    """
    ids, job = Ids(), mock_job()
    allocs = mock_allocs(ids, job, range(10), client_status="running")
    node = mock_node(ids, allocs[0].node_id, status="disconnected")
    r = run(job, allocs, tainted={node.id: node})
    assert counts(r) == expect(place=1, stop=1)
    assert r.desired_tg_updates == {"web": du(place=1, stop=1, ignore=9)}
    assert r.stop[0].client_status == ALLOC_CLIENT_LOST


def test_unknown_alloc_on_disconnected_node_is_kept_when_supported():
    """An alloc already marked unknown stays counted when disconnected clients are supported.

    Nomad: filters.go classificationRules (disconnected node, alloc already unknown).
    """
    ids, job = Ids(), mock_job()
    allocs = mock_allocs(ids, job, range(10), client_status="running")
    allocs[0].client_status = "unknown"
    node = mock_node(ids, allocs[0].node_id, status="disconnected")
    state = ReconcilerState(job, job.id, "default", None, allocs, False, "e", 50)
    supported = ClusterState({node.id: node}, NOW, supports_disconnected=True)
    unsupported = ClusterState({node.id: node}, NOW, supports_disconnected=False)
    assert counts(reconcile(state, supported, update_ignore, ids)) == expect()
    assert counts(reconcile(state, unsupported, update_ignore, ids)) == expect(place=1, stop=1)


def test_node_gone_allocs_are_lost():
    """Nomad: filters.go classificationRules (tainted map entry with a nil node)."""
    ids, job = Ids(), mock_job()
    allocs = mock_allocs(ids, job, range(10))
    r = run(job, allocs, tainted={allocs[3].node_id: None})
    assert counts(r) == expect(place=1, stop=1)
    assert place_indexes(r) == [3] and r.place[0].lost
