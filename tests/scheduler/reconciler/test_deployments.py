"""Reconciler deployments: creation, cancellation, MaxParallel, canaries, promotion, completion.

Cases ported from Nomad scheduler/reconciler/reconcile_cluster_test.go with Nomad's expected
counts; each docstring names the Nomad test.
"""

from __future__ import annotations

from sim.structs.consts import (
    ALLOC_NOT_NEEDED,
    DEPLOYMENT_CANCELLED,
    DEPLOYMENT_SUCCESSFUL,
    DESC_DEPLOYMENT_NEWER_JOB,
    DESC_DEPLOYMENT_RUNNING,
    DESC_DEPLOYMENT_RUNNING_AUTO_PROMOTION,
    DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION,
    DESC_DEPLOYMENT_SUCCESSFUL,
)
from sim.structs.deployment import DeploymentState
from sim.structs.job import HOUR, MINUTE, SECOND, ReschedulePolicy, UpdateStrategy

from ..fixtures_reconcile import (
    NOW,
    Ids,
    add_group,
    canary_update,
    copy_job,
    counts,
    destructive_indexes,
    du,
    expect,
    failed_at,
    healthy,
    mock_alloc,
    mock_allocs,
    mock_job,
    mock_node,
    new_deployment,
    no_canary_update,
    place_indexes,
    run,
    stop_indexes,
    tracker,
    update_destructive,
    update_ignore,
    update_inplace,
    update_mock,
)


def _updates(r):
    return [(u.deployment_id, u.status, u.status_description) for u in r.deployment_updates]


def _created(r, job, **states):
    d = r.deployment
    assert d is not None
    assert (d.job_id, d.job_version, d.job_create_index, d.status) == (
        job.id,
        job.version,
        job.create_index,
        "running",
    )
    assert (d.job_modify_index, d.job_spec_modify_index, d.eval_priority, d.create_time) == (
        job.modify_index,
        job.job_modify_index,
        50,
        NOW,
    )
    assert d.task_groups == states
    return d


def _canaries(ids, job, d, group, indexes, **changes):
    allocs = []
    for i in indexes:
        a = mock_alloc(ids, job, i, group, deployment_id=d.id, **changes)
        d.task_groups[group].placed_canaries.append(a.id)
        allocs.append(a)
    return allocs


def test_cancel_deployment_on_job_update():
    """Nomad: reconcile_cluster_test.go TestReconciler_CancelDeployment_JobUpdate."""
    ids, job = Ids(), mock_job()
    for status, cancelled in (("running", True), ("failed", False)):
        d = new_deployment(ids, job, status=status)
        newer = copy_job(job, version=job.version + 10)
        r = run(newer, mock_allocs(ids, newer, range(10)), deployment=d)
        assert counts(r) == expect()
        assert r.desired_tg_updates == {"web": du(ignore=10)}
        assert _updates(r) == (
            [(d.id, DEPLOYMENT_CANCELLED, DESC_DEPLOYMENT_NEWER_JOB)] if cancelled else []
        )


def test_create_deployment_rolling_upgrade_destructive():
    """Nomad: reconcile_cluster_test.go TestReconciler_CreateDeployment_RollingUpgrade_Destructive."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    d = _created(r, job, web=DeploymentState(desired_total=10))
    assert d.status_description == DESC_DEPLOYMENT_RUNNING
    assert counts(r) == expect(destructive=4)
    assert r.desired_tg_updates == {"web": du(destructive_update=4, ignore=6)}
    assert destructive_indexes(r) == [0, 1, 2, 3]


def test_create_deployment_rolling_upgrade_inplace():
    """Nomad: reconcile_cluster_test.go TestReconciler_CreateDeployment_RollingUpgrade_Inplace."""
    ids, old = Ids(), mock_job()
    job = copy_job(old, version=old.version + 1)
    job.task_groups[0].update = no_canary_update()
    r = run(job, mock_allocs(ids, old, range(10)), update=update_inplace)
    _created(r, job, web=DeploymentState(desired_total=10))
    assert counts(r) == expect(inplace=10)
    assert r.desired_tg_updates == {"web": du(in_place_update=10)}


def test_create_deployment_for_newer_create_index():
    """Nomad: reconcile_cluster_test.go TestReconciler_CreateDeployment_NewerCreateIndex."""
    ids, old = Ids(), mock_job()
    job = copy_job(old, create_index=old.create_index + 100)
    job.task_groups[0].update = no_canary_update()
    r = run(job, mock_allocs(ids, old, range(5)))
    _created(r, job, web=DeploymentState(desired_total=5))
    assert counts(r) == expect(place=5)
    assert r.desired_tg_updates == {"web": du(ignore=5, place=5)}


def test_dont_create_deployment_without_changes():
    """Nomad: reconcile_cluster_test.go TestReconciler_DontCreateDeployment_NoChanges."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    r = run(job, mock_allocs(ids, job, range(10)))
    assert r.deployment is None and r.deployment_updates == []
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=10)}


def test_paused_or_failed_deployment_places_no_more_canaries():
    """Nomad: reconcile_cluster_test.go TestReconciler_PausedOrFailedDeployment_NoMoreCanaries."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    for status, stop in (("paused", 0), ("failed", 1)):
        state = DeploymentState(desired_canaries=2, desired_total=10, placed_allocs=1)
        d = new_deployment(ids, job, status=status, web=state)
        allocs = mock_allocs(ids, job, range(10))
        canaries = _canaries(ids, job, d, "web", [0])
        fn = update_mock({canaries[0].id: update_ignore}, update_destructive)
        r = run(job, allocs + canaries, deployment=d, update=fn)
        assert counts(r) == expect(stop=stop)
        assert r.desired_tg_updates == {"web": du(ignore=11 - stop, stop=stop)}
        assert r.deployment is None and r.deployment_updates == []


def test_paused_or_failed_deployment_places_nothing_more():
    """Nomad: reconcile_cluster_test.go TestReconciler_PausedOrFailedDeployment_NoMorePlacements."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    job.task_groups[0].count = 15
    for status in ("paused", "failed"):
        d = new_deployment(
            ids, job, status=status, web=DeploymentState(desired_total=15, placed_allocs=10)
        )
        r = run(job, mock_allocs(ids, job, range(10)), deployment=d)
        assert counts(r) == expect()
        assert r.desired_tg_updates == {"web": du(ignore=10)}


def test_paused_or_failed_deployment_no_more_destructive_updates():
    """Nomad: reconcile_cluster_test.go TestReconciler_PausedOrFailedDeployment_NoMoreDestructiveUpdates."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    for status in ("paused", "failed"):
        d = new_deployment(
            ids, job, status=status, web=DeploymentState(desired_total=10, placed_allocs=1)
        )
        allocs = mock_allocs(ids, job, range(1, 10))
        new = mock_alloc(ids, job, 0, deployment_id=d.id)
        fn = update_mock({new.id: update_ignore}, update_destructive)
        r = run(job, allocs + [new], deployment=d, update=fn)
        assert counts(r) == expect()
        assert r.desired_tg_updates == {"web": du(ignore=10)}


def test_drain_node_canary():
    """Nomad: reconcile_cluster_test.go TestReconciler_DrainNode_Canary."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    d = new_deployment(
        ids, job, web=DeploymentState(desired_total=10, desired_canaries=2, placed_allocs=2)
    )
    node = mock_node(ids, drain=True)
    canaries = _canaries(ids, job, d, "web", [0, 1], node_id=node.id)
    for c in canaries:
        c.desired_transition.migrate = True
    fn = update_mock({c.id: update_ignore for c in canaries}, update_destructive)
    r = run(
        job,
        mock_allocs(ids, job, range(10)) + canaries,
        deployment=d,
        tainted={node.id: node},
        update=fn,
    )
    assert counts(r) == expect(place=2, stop=2)
    assert r.desired_tg_updates == {"web": du(canary=2, ignore=10)}
    assert stop_indexes(r) == [0, 1] and place_indexes(r) == [0, 1]
    assert all(p.canary for p in r.place)


def test_lost_node_canary():
    """Nomad: reconcile_cluster_test.go TestReconciler_LostNode_Canary."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    d = new_deployment(
        ids, job, web=DeploymentState(desired_total=10, desired_canaries=2, placed_allocs=2)
    )
    canaries = _canaries(ids, job, d, "web", [0, 1])
    down = mock_node(ids, canaries[1].node_id, status="down")
    fn = update_mock({c.id: update_ignore for c in canaries}, update_destructive)
    r = run(
        job,
        mock_allocs(ids, job, range(10)) + canaries,
        deployment=d,
        tainted={down.id: down},
        update=fn,
    )
    assert counts(r) == expect(place=1, stop=1)
    assert r.desired_tg_updates == {"web": du(canary=1, ignore=11)}
    assert stop_indexes(r) == [1] and place_indexes(r) == [1]


def test_stop_old_canaries():
    """Nomad: reconcile_cluster_test.go TestReconciler_StopOldCanaries."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    d = new_deployment(
        ids, job, web=DeploymentState(desired_total=10, desired_canaries=2, placed_allocs=2)
    )
    job = copy_job(job, version=job.version + 10)
    canaries = _canaries(ids, job, d, "web", [0, 1])
    r = run(
        job, mock_allocs(ids, job, range(10)) + canaries, deployment=d, update=update_destructive
    )
    new = _created(r, job, web=DeploymentState(desired_canaries=2, desired_total=10))
    assert new.status_description == DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION
    assert _updates(r) == [(d.id, DEPLOYMENT_CANCELLED, DESC_DEPLOYMENT_NEWER_JOB)]
    assert counts(r) == expect(place=2, stop=2)
    assert r.desired_tg_updates == {"web": du(canary=2, stop=2, ignore=10)}
    assert {s.alloc.id for s in r.stop} == {c.id for c in canaries}
    assert place_indexes(r) == [0, 1]


def test_new_canaries():
    """Nomad: reconcile_cluster_test.go TestReconciler_NewCanaries."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    d = _created(r, job, web=DeploymentState(desired_canaries=2, desired_total=10))
    assert d.status_description == DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION
    assert counts(r) == expect(place=2)
    assert r.desired_tg_updates == {"web": du(canary=2, ignore=10)}
    assert place_indexes(r) == [0, 1] and all(p.canary for p in r.place)


def test_new_canaries_auto_promote_description():
    """A created canary deployment whose groups all auto-promote says so.

    Nomad: reconcile_cluster.go setDeploymentStatusAndUpdates.
    """
    ids, job = Ids(), mock_job()
    update = canary_update()
    update.auto_promote = True
    update.progress_deadline = 10 * MINUTE
    job.task_groups[0].update = update
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    state = DeploymentState(
        auto_promote=True, progress_deadline=600.0, desired_canaries=2, desired_total=10
    )
    d = _created(r, job, web=state)
    assert d.status_description == DESC_DEPLOYMENT_RUNNING_AUTO_PROMOTION


def test_new_canaries_count_greater():
    """Nomad: reconcile_cluster_test.go TestReconciler_NewCanaries_CountGreater."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 3
    update = canary_update()
    update.canary = 7
    job.task_groups[0].update = update
    r = run(job, mock_allocs(ids, job, range(3)), update=update_destructive)
    _created(r, job, web=DeploymentState(desired_canaries=7, desired_total=3))
    assert counts(r) == expect(place=3)
    assert r.desired_tg_updates == {"web": du(canary=7, ignore=3, place=3)}
    assert place_indexes(r) == [0, 1, 2]


def test_new_canaries_multiple_groups():
    """Nomad: reconcile_cluster_test.go TestReconciler_NewCanaries_MultiTG."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    add_group(job, "tg2")
    allocs = mock_allocs(ids, job, range(10)) + mock_allocs(ids, job, range(10), group="tg2")
    r = run(job, allocs, update=update_destructive)
    _created(
        r,
        job,
        web=DeploymentState(desired_canaries=2, desired_total=10),
        tg2=DeploymentState(desired_canaries=2, desired_total=10),
    )
    assert counts(r) == expect(place=4)
    assert r.desired_tg_updates == {"web": du(canary=2, ignore=10), "tg2": du(canary=2, ignore=10)}
    assert place_indexes(r) == [0, 0, 1, 1]


def test_new_canaries_scale_up():
    """Nomad: reconcile_cluster_test.go TestReconciler_NewCanaries_ScaleUp."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    job.task_groups[0].count = 15
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    _created(r, job, web=DeploymentState(desired_canaries=2, desired_total=15))
    assert counts(r) == expect(place=2)
    assert r.desired_tg_updates == {"web": du(canary=2, ignore=10)}
    assert place_indexes(r) == [0, 1]


def test_new_canaries_scale_down():
    """Nomad: reconcile_cluster_test.go TestReconciler_NewCanaries_ScaleDown."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    job.task_groups[0].count = 5
    r = run(job, mock_allocs(ids, job, range(10)), update=update_destructive)
    _created(r, job, web=DeploymentState(desired_canaries=2, desired_total=5))
    assert counts(r) == expect(place=2, stop=5)
    assert r.desired_tg_updates == {"web": du(canary=2, stop=5, ignore=5)}
    assert place_indexes(r) == [0, 1] and stop_indexes(r) == [5, 6, 7, 8, 9]


def test_new_canaries_fill_names():
    """Nomad: reconcile_cluster_test.go TestReconciler_NewCanaries_FillNames."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = UpdateStrategy(
        canary=4,
        max_parallel=2,
        health_check="checks",
        min_healthy_time=10 * SECOND,
        healthy_deadline=10 * MINUTE,
    )
    d = new_deployment(
        ids, job, web=DeploymentState(desired_total=10, desired_canaries=4, placed_allocs=2)
    )
    canaries = _canaries(ids, job, d, "web", [0, 3])
    r = run(
        job, mock_allocs(ids, job, range(10)) + canaries, deployment=d, update=update_destructive
    )
    assert r.deployment is None
    assert counts(r) == expect(place=2)
    assert r.desired_tg_updates == {"web": du(canary=2, ignore=12)}
    assert place_indexes(r) == [1, 2]


def test_promote_canaries_unblocks_max_parallel():
    """Nomad: reconcile_cluster_test.go TestReconciler_PromoteCanaries_Unblock."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    state = DeploymentState(promoted=True, desired_total=10, desired_canaries=2, placed_allocs=2)
    d = new_deployment(ids, job, web=state)
    canaries = _canaries(ids, job, d, "web", [0, 1], deployment_status=healthy())
    fn = update_mock({c.id: update_ignore for c in canaries}, update_destructive)
    r = run(job, mock_allocs(ids, job, range(10)) + canaries, deployment=d, update=fn)
    assert counts(r) == expect(destructive=2, stop=2)
    assert r.desired_tg_updates == {"web": du(stop=2, destructive_update=2, ignore=8)}
    assert not {s.alloc.id for s in r.stop} & {c.id for c in canaries}
    assert destructive_indexes(r) == [2, 3] and stop_indexes(r) == [0, 1]
    assert {s.description for s in r.stop} == {ALLOC_NOT_NEEDED}


def test_promote_canaries_equal_to_count_completes_deployment():
    """Nomad: reconcile_cluster_test.go TestReconciler_PromoteCanaries_CanariesEqualCount."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    job.task_groups[0].count = 2
    state = DeploymentState(
        promoted=True, desired_total=2, desired_canaries=2, placed_allocs=2, healthy_allocs=2
    )
    d = new_deployment(ids, job, web=state)
    canaries = _canaries(ids, job, d, "web", [0, 1], deployment_status=healthy())
    fn = update_mock({c.id: update_ignore for c in canaries}, update_destructive)
    r = run(job, mock_allocs(ids, job, range(2)) + canaries, deployment=d, update=fn)
    assert _updates(r) == [(d.id, DEPLOYMENT_SUCCESSFUL, DESC_DEPLOYMENT_SUCCESSFUL)]
    assert counts(r) == expect(stop=2)
    assert r.desired_tg_updates == {"web": du(stop=2, ignore=2)}
    assert not {s.alloc.id for s in r.stop} & {c.id for c in canaries}


def test_deployment_limit_health_accounting():
    """Nomad: reconcile_cluster_test.go TestReconciler_DeploymentLimit_HealthAccounting."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    for n_healthy in range(5):
        d = new_deployment(
            ids, job, web=DeploymentState(promoted=True, desired_total=10, placed_allocs=4)
        )
        new = mock_allocs(ids, job, range(4), deployment_id=d.id)
        for a in new[:n_healthy]:
            a.deployment_status = healthy()
        fn = update_mock({a.id: update_ignore for a in new}, update_destructive)
        r = run(job, mock_allocs(ids, job, range(4, 10)) + new, deployment=d, update=fn)
        assert counts(r) == expect(destructive=n_healthy)
        assert r.desired_tg_updates == {
            "web": du(destructive_update=n_healthy, ignore=10 - n_healthy)
        }
        assert destructive_indexes(r) == list(range(4, 4 + n_healthy))


def test_tainted_node_rolling_upgrade():
    """Nomad: reconcile_cluster_test.go TestReconciler_TaintedNode_RollingUpgrade."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    d = new_deployment(
        ids, job, web=DeploymentState(promoted=True, desired_total=10, placed_allocs=7)
    )
    old = mock_allocs(ids, job, range(8, 10))
    new = mock_allocs(ids, job, range(8), deployment_id=d.id)
    for a in new:
        a.deployment_status = healthy()
    tainted = {new[0].node_id: mock_node(ids, new[0].node_id, status="down")}
    for a in new[1:3]:
        tainted[a.node_id] = mock_node(ids, a.node_id, drain=True)
        a.desired_transition.migrate = True
    fn = update_mock({a.id: update_ignore for a in new}, update_destructive)
    r = run(job, old + new, deployment=d, tainted=tainted, update=fn)
    assert counts(r) == expect(place=3, destructive=2, stop=3)
    assert r.desired_tg_updates == {
        "web": du(place=1, stop=1, migrate=2, destructive_update=2, ignore=5)
    }
    assert destructive_indexes(r) == [8, 9]
    assert place_indexes(r) == [0, 1, 2] and stop_indexes(r) == [0, 1, 2]


def test_failed_deployment_tainted_nodes():
    """Nomad: reconcile_cluster_test.go TestReconciler_FailedDeployment_TaintedNodes."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    d = new_deployment(
        ids,
        job,
        status="failed",
        web=DeploymentState(promoted=True, desired_total=10, placed_allocs=4),
    )
    old = mock_allocs(ids, job, range(4, 10))
    new = mock_allocs(ids, job, range(4), deployment_id=d.id)
    for a in new:
        a.deployment_status = healthy()
    tainted = {new[0].node_id: mock_node(ids, new[0].node_id, status="down")}
    tainted[new[1].node_id] = mock_node(ids, new[1].node_id, drain=True)
    new[1].desired_transition.migrate = True
    fn = update_mock({a.id: update_ignore for a in new}, update_destructive)
    r = run(job, old + new, deployment=d, tainted=tainted, update=fn)
    assert counts(r) == expect(place=2, stop=2)
    assert r.desired_tg_updates == {"web": du(place=1, migrate=1, stop=1, ignore=8)}
    assert place_indexes(r) == [0, 1] and stop_indexes(r) == [0, 1]


def test_complete_deployment_is_left_alone():
    """Nomad: reconcile_cluster_test.go TestReconciler_CompleteDeployment."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    state = DeploymentState(
        promoted=True, desired_total=10, desired_canaries=2, placed_allocs=10, healthy_allocs=10
    )
    d = new_deployment(ids, job, status="successful", web=state)
    r = run(
        job,
        mock_allocs(ids, job, range(10), deployment_id=d.id, deployment_status=healthy()),
        deployment=d,
    )
    assert r.deployment is None and r.deployment_updates == []
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=10)}


def test_mark_deployment_complete_with_failed_allocations():
    """Nomad: reconcile_cluster_test.go TestReconciler_MarkDeploymentComplete_FailedAllocations."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    d = new_deployment(
        ids, job, web=DeploymentState(desired_total=10, placed_allocs=20, healthy_allocs=10)
    )
    allocs = []
    for i in range(20):
        a = mock_alloc(ids, job, i % 10, deployment_id=d.id, deployment_status=healthy())
        if i < 10:
            a.client_status = "running"
        else:
            a.desired_status, a.client_status = "stop", "failed"
            a.deployment_status.healthy = False
        allocs.append(a)
    r = run(job, allocs, deployment=d)
    assert _updates(r) == [(d.id, DEPLOYMENT_SUCCESSFUL, DESC_DEPLOYMENT_SUCCESSFUL)]
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=10)}


def test_failed_deployment_cancels_unpromoted_canaries():
    """Nomad: reconcile_cluster_test.go TestReconciler_FailedDeployment_CancelCanaries."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = canary_update()
    add_group(job, "two")
    s0 = DeploymentState(promoted=True, desired_total=10, desired_canaries=2, placed_allocs=4)
    s1 = DeploymentState(promoted=False, desired_total=10, desired_canaries=2, placed_allocs=2)
    d = new_deployment(ids, job, status="failed", web=s0, two=s1)
    allocs, handled = [], {}
    for group, replacements in (("web", 4), ("two", 2)):
        for i in range(replacements):
            a = mock_alloc(ids, job, i, group, deployment_id=d.id, deployment_status=healthy())
            handled[a.id] = update_ignore
            if i < 2:
                d.task_groups[group].placed_canaries.append(a.id)
            allocs.append(a)
        allocs += mock_allocs(ids, job, range(replacements, 10), group=group)
    r = run(job, allocs, deployment=d, update=update_mock(handled, update_destructive))
    assert counts(r) == expect(stop=2)
    assert r.desired_tg_updates == {"web": du(ignore=10), "two": du(stop=2, ignore=8)}
    assert stop_indexes(r) == [0, 1] and {s.alloc.task_group for s in r.stop} == {"two"}


def test_failed_deployment_new_job_creates_new_deployment():
    """Nomad: reconcile_cluster_test.go TestReconciler_FailedDeployment_NewJob."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    d = new_deployment(
        ids,
        job,
        status="failed",
        web=DeploymentState(promoted=True, desired_total=10, placed_allocs=4),
    )
    allocs = mock_allocs(ids, job, range(4, 10))
    allocs += mock_allocs(ids, job, range(4), deployment_id=d.id, deployment_status=healthy())
    newer = copy_job(job, version=job.version + 100)
    r = run(newer, allocs, deployment=d, update=update_destructive)
    _created(r, newer, web=DeploymentState(desired_total=10))
    assert r.deployment_updates == []
    assert counts(r) == expect(destructive=4)
    assert r.desired_tg_updates == {"web": du(destructive_update=4, ignore=6)}
    assert destructive_indexes(r) == [0, 1, 2, 3]


def test_mark_deployment_complete():
    """Nomad: reconcile_cluster_test.go TestReconciler_MarkDeploymentComplete."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    state = DeploymentState(promoted=True, desired_total=10, placed_allocs=10, healthy_allocs=10)
    d = new_deployment(ids, job, web=state)
    r = run(
        job,
        mock_allocs(ids, job, range(10), deployment_id=d.id, deployment_status=healthy()),
        deployment=d,
    )
    assert _updates(r) == [(d.id, DEPLOYMENT_SUCCESSFUL, DESC_DEPLOYMENT_SUCCESSFUL)]
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=10)}


def test_job_change_scale_up_second_eval():
    """Nomad: reconcile_cluster_test.go TestReconciler_JobChange_ScaleUp_SecondEval."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    job.task_groups[0].count = 30
    d = new_deployment(ids, job, web=DeploymentState(desired_total=30, placed_allocs=20))
    new = mock_allocs(ids, job, range(10, 30), deployment_id=d.id)
    fn = update_mock({a.id: update_ignore for a in new}, update_destructive)
    r = run(job, mock_allocs(ids, job, range(10)) + new, deployment=d, update=fn)
    assert r.deployment is None and r.deployment_updates == []
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=30)}


def test_rolling_upgrade_missing_allocs():
    """Nomad: reconcile_cluster_test.go TestReconciler_RollingUpgrade_MissingAllocs."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].update = no_canary_update()
    r = run(job, mock_allocs(ids, job, range(7)), update=update_destructive)
    _created(r, job, web=DeploymentState(desired_total=10))
    assert counts(r) == expect(place=3, destructive=1)
    assert r.desired_tg_updates == {"web": du(place=3, destructive_update=1, ignore=6)}
    assert place_indexes(r) == [7, 8, 9] and destructive_indexes(r) == [0]


def test_failed_deployment_auto_revert_completes():
    """Nomad: reconcile_cluster_test.go TestReconciler_FailedDeployment_AutoRevert_CancelCanaries."""
    ids, job = Ids(), mock_job()
    job.task_groups[0].count = 3
    job.task_groups[0].update = UpdateStrategy(canary=3, max_parallel=2, health_check="checks")
    v1 = copy_job(job, version=1)
    v2 = copy_job(job, version=2)
    state = DeploymentState(promoted=True, desired_total=3, placed_allocs=3, healthy_allocs=3)
    d = new_deployment(ids, v2, web=state)
    allocs = mock_allocs(
        ids, v2, range(3), deployment_id=d.id, deployment_status=healthy(), client_status="running"
    )
    for i in range(3):
        a = mock_alloc(ids, v1, i, deployment_id=ids(), deployment_status=healthy())
        a.deployment_status.healthy = False
        a.desired_status, a.client_status = "stop", "failed"
        allocs.append(a)
    r = run(v2, allocs, deployment=d)
    assert _updates(r) == [(d.id, DEPLOYMENT_SUCCESSFUL, DESC_DEPLOYMENT_SUCCESSFUL)]
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=3)}


def test_reschedule_now_service_with_canaries():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleNow_Service_WithCanaries."""
    ids, job = Ids(), mock_job()
    tg = job.task_groups[0]
    tg.count = 5
    tg.reschedule_policy = ReschedulePolicy(
        attempts=1, interval=24 * HOUR, delay=5 * SECOND, max_delay=HOUR
    )
    tg.update = canary_update()
    job2 = copy_job(job, version=job.version + 1)
    d = new_deployment(ids, job2, web=DeploymentState(desired_canaries=2, desired_total=5))
    allocs = mock_allocs(ids, job, range(5), client_status="running")
    allocs[0].client_status = "failed"
    allocs[0].reschedule_tracker = tracker(NOW - 3600)
    allocs[1].task_states = failed_at(NOW - 10)
    allocs[1].client_status = "failed"
    allocs[4].client_status = "failed"
    canaries = _canaries(ids, job, d, "web", [0, 1], client_status="running")
    for c in canaries:
        c.deployment_status = healthy(canary=True)
        c.deployment_status.healthy = False
    r = run(job2, allocs + canaries, deployment=d)
    assert "web" not in r.desired_followup_evals
    assert counts(r) == expect(place=2, stop=2)
    assert r.desired_tg_updates == {"web": du(place=2, stop=2, ignore=5)}
    assert place_indexes(r) == [1, 4] and all(p.reschedule for p in r.place)


def test_scale_up_updates_in_place_and_creates_deployment():
    """A count-only change updates every alloc in place and deploys the new total.

    docs/fidelity.md#reconciler (updates and deployments); Nomad: createDeployment.
    """
    ids, old = Ids(), mock_job()
    old.task_groups[0].update = no_canary_update()
    job = copy_job(old, version=1, job_modify_index=200)
    job.task_groups[0].count = 5
    r = run(job, mock_allocs(ids, old, range(3)), update=update_inplace)
    _created(r, job, web=DeploymentState(desired_total=5))
    assert counts(r) == expect(place=2, inplace=3)
    assert r.desired_tg_updates == {"web": du(place=2, in_place_update=3)}
    assert place_indexes(r) == [3, 4]
