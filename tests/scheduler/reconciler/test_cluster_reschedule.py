"""Reconciler rescheduling: failed allocs replaced now, later (follow-up evals) or never.

Cases ported from Nomad scheduler/reconciler/reconcile_cluster_test.go with Nomad's expected
counts; each docstring names the Nomad test.
"""

from __future__ import annotations

from sim.structs.alloc import Allocation, TaskState
from sim.structs.consts import (
    ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_RUNNING,
    ALLOC_DESIRED_STOP,
    ALLOC_RESCHEDULED,
    EVAL_STATUS_PENDING,
    RESCHEDULING_FOLLOWUP_EVAL_DESC,
    TRIGGER_ALLOC_RESCHEDULE,
    TRIGGER_RETRY_FAILED_ALLOC,
)
from sim.structs.deployment import DeploymentState
from sim.structs.job import HOUR, MINUTE, SECOND, Job, ReschedulePolicy, TaskGroup

from ..fixtures_reconcile import (
    NOW,
    Ids,
    counts,
    du,
    expect,
    failed_at,
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
    update_inplace,
    update_mock,
)


def _group(job) -> TaskGroup:
    return job.task_groups[0]


def _rescheduled_chain(ids: Ids, job: Job, failed: float) -> list[Allocation]:
    """Nomad's batch reschedule setup: six allocs, 0 failed and replaced by 1, 1 failed and
    replaced by 2, 2 (rescheduled twice) failed at `failed`, 5 complete, the rest running."""
    allocs = mock_allocs(ids, job, range(6), client_status=ALLOC_CLIENT_RUNNING)
    for prev, alloc in zip(allocs[:2], allocs[1:3], strict=True):
        prev.next_allocation = alloc.id
    for alloc in allocs[:3]:
        alloc.client_status = ALLOC_CLIENT_FAILED
    allocs[1].reschedule_tracker = tracker(NOW - 3600)
    allocs[2].reschedule_tracker = tracker(NOW - 7200, NOW - 3600)
    allocs[2].task_states = failed_at(failed)
    allocs[5].client_status = ALLOC_CLIENT_COMPLETE
    return allocs


def test_reschedule_later_batch():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleLater_Batch."""
    ids, job = Ids(), mock_job()
    _group(job).count = 4
    _group(job).reschedule_policy = ReschedulePolicy(
        attempts=3, interval=24 * HOUR, delay=15 * SECOND, delay_function="constant"
    )
    allocs = _rescheduled_chain(ids, job, failed=NOW)
    r = run(job, allocs, batch=True, eval_id="eval-x")
    evals = r.desired_followup_evals["web"]
    assert len(evals) == 1 and evals[0].wait_until == NOW + 15
    ev = evals[0]
    assert (ev.triggered_by, ev.status, ev.status_description) == (
        TRIGGER_ALLOC_RESCHEDULE,
        EVAL_STATUS_PENDING,
        RESCHEDULING_FOLLOWUP_EVAL_DESC,
    )
    assert (ev.job_id, ev.type, ev.priority, ev.previous_eval) == (job.id, "service", 50, "eval-x")
    assert counts(r) == expect(attribute=1)
    assert r.desired_tg_updates == {"web": du(ignore=4, reschedule_later=1)}
    (annotated,) = r.attribute_updates.values()
    assert annotated.index() == 2 and annotated.followup_eval_id == ev.id
    assert allocs[2].followup_eval_id == ""


def test_reschedule_later_with_batched_evals_batch():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleLaterWithBatchedEvals_Batch."""
    ids, job = Ids(), mock_job()
    _group(job).reschedule_policy = ReschedulePolicy(
        attempts=3, interval=24 * HOUR, delay=15 * SECOND, delay_function="constant"
    )
    allocs = mock_allocs(ids, job, range(10), client_status=ALLOC_CLIENT_RUNNING)
    for i in range(5):
        allocs[i].client_status = ALLOC_CLIENT_FAILED
        allocs[i].task_states = failed_at(NOW + 0.05 * i)
    for i in (5, 6):
        allocs[i].client_status = ALLOC_CLIENT_FAILED
        allocs[i].task_states = failed_at(NOW + 10)
    r = run(job, allocs, batch=True)
    evals = r.desired_followup_evals["web"]
    assert [e.wait_until for e in evals] == [NOW + 15, NOW + 25]
    assert [e.triggered_by for e in evals] == [TRIGGER_ALLOC_RESCHEDULE, TRIGGER_RETRY_FAILED_ALLOC]
    assert counts(r) == expect(attribute=7)
    assert r.desired_tg_updates == {"web": du(ignore=10, reschedule_later=7)}
    for alloc in r.attribute_updates.values():
        assert alloc.followup_eval_id == evals[0 if alloc.index() < 5 else 1].id


def test_reschedule_now_batch():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleNow_Batch."""
    ids, job = Ids(), mock_job()
    _group(job).count = 4
    _group(job).reschedule_policy = ReschedulePolicy(
        attempts=3, interval=24 * HOUR, delay=5 * SECOND, delay_function="constant"
    )
    allocs = _rescheduled_chain(ids, job, failed=NOW - 5)
    allocs[2].followup_eval_id = "some-other-eval"
    r = run(job, allocs, batch=True)
    assert "web" not in r.desired_followup_evals
    assert counts(r) == expect(place=1, stop=1)
    assert r.desired_tg_updates == {"web": du(place=1, stop=1, ignore=3)}
    (p,) = r.place
    assert place_indexes(r) == [2]
    assert p.reschedule and p.previous_alloc is allocs[2]
    assert r.stop[0].description == ALLOC_RESCHEDULED


def _service_policy(job, attempts=1):
    _group(job).count = 5
    _group(job).reschedule_policy = ReschedulePolicy(
        attempts=attempts, interval=24 * HOUR, delay=5 * SECOND, max_delay=HOUR
    )
    _group(job).update = no_canary_update()


def test_reschedule_later_service():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleLater_Service."""
    ids, job = Ids(), mock_job()
    _service_policy(job)
    _group(job).reschedule_policy.delay = 15 * SECOND
    _group(job).update = None
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[0].client_status = ALLOC_CLIENT_FAILED
    allocs[0].reschedule_tracker = tracker(NOW - 3600)
    allocs[1].task_states = failed_at(NOW)
    allocs[1].client_status = ALLOC_CLIENT_FAILED
    allocs[4].desired_status = ALLOC_DESIRED_STOP
    r = run(job, allocs)
    evals = r.desired_followup_evals["web"]
    assert len(evals) == 1 and evals[0].wait_until == NOW + 15
    assert counts(r) == expect(place=1, attribute=1)
    assert r.desired_tg_updates == {"web": du(place=1, ignore=4, reschedule_later=1)}
    assert place_indexes(r) == [4]
    assert r.attribute_updates[allocs[1].id].followup_eval_id == evals[0].id


def test_service_client_status_complete_is_replaced():
    """Nomad: reconcile_cluster_test.go TestReconciler_Service_ClientStatusComplete."""
    ids, job = Ids(), mock_job()
    _service_policy(job)
    _group(job).update = None
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[4].client_status = ALLOC_CLIENT_COMPLETE
    r = run(job, allocs)
    assert counts(r) == expect(place=1)
    assert r.desired_tg_updates == {"web": du(place=1, ignore=4)}
    assert place_indexes(r) == [4] and r.place[0].previous_alloc is None


def test_service_desired_stop_failed_is_replaced_not_rescheduled():
    """Nomad: reconcile_cluster_test.go TestReconciler_Service_DesiredStop_ClientStatusComplete."""
    ids, job = Ids(), mock_job()
    _service_policy(job)
    _group(job).update = None
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[4].client_status = ALLOC_CLIENT_FAILED
    allocs[4].desired_status = ALLOC_DESIRED_STOP
    r = run(job, allocs)
    assert counts(r) == expect(place=1)
    assert r.desired_tg_updates == {"web": du(place=1, ignore=4)}
    assert r.desired_followup_evals == {}


def test_reschedule_now_service():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleNow_Service."""
    ids, job = Ids(), mock_job()
    _service_policy(job)
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[0].client_status = ALLOC_CLIENT_FAILED
    allocs[0].reschedule_tracker = tracker(NOW - 3600)
    allocs[1].task_states = failed_at(NOW - 10)
    allocs[1].client_status = ALLOC_CLIENT_FAILED
    allocs[4].desired_status = ALLOC_DESIRED_STOP
    r = run(job, allocs)
    assert "web" not in r.desired_followup_evals
    assert counts(r) == expect(place=2, stop=1)
    assert r.desired_tg_updates == {"web": du(place=2, ignore=3, stop=1)}
    assert place_indexes(r) == [1, 4]
    assert [p.reschedule for p in r.place] == [True, False]
    assert stop_indexes(r) == [1]


def test_reschedule_now_within_allowed_time_window():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleNow_WithinAllowedTimeWindow."""
    ids, job = Ids(), mock_job()
    _service_policy(job)
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[0].client_status = ALLOC_CLIENT_FAILED
    allocs[0].reschedule_tracker = tracker(NOW - 3600)
    allocs[1].task_states = failed_at(NOW - 4)  # due in 1s: inside the window
    allocs[1].client_status = ALLOC_CLIENT_FAILED
    r = run(job, allocs)
    assert counts(r) == expect(place=1, stop=1)
    assert r.desired_tg_updates == {"web": du(place=1, stop=1, ignore=4)}
    assert place_indexes(r) == [1] and r.place[0].reschedule


def test_reschedule_now_when_eval_is_the_followup():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleNow_EvalIDMatch."""
    ids, job = Ids(), mock_job()
    _service_policy(job)
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[0].client_status = ALLOC_CLIENT_FAILED
    allocs[0].reschedule_tracker = tracker(NOW - 3600)
    allocs[1].task_states = failed_at(NOW - 5)
    allocs[1].client_status = ALLOC_CLIENT_FAILED
    allocs[1].followup_eval_id = "followup"
    r = run(job, allocs, eval_id="followup", now=NOW - 30)
    assert "web" not in r.desired_followup_evals
    assert counts(r) == expect(place=1, stop=1)
    assert r.desired_tg_updates == {"web": du(place=1, stop=1, ignore=4)}
    assert place_indexes(r) == [1] and r.place[0].reschedule


def test_dont_reschedule_previously_rescheduled():
    """Nomad: reconcile_cluster_test.go TestReconciler_DontReschedule_PreviouslyRescheduled."""
    ids, job = Ids(), mock_job()
    _group(job).count = 5
    _group(job).reschedule_policy = ReschedulePolicy(attempts=5, interval=24 * HOUR)
    allocs = mock_allocs(ids, job, range(7), client_status=ALLOC_CLIENT_RUNNING)
    allocs[0].client_status = ALLOC_CLIENT_FAILED
    allocs[0].id = allocs[1].id
    allocs[1].client_status = ALLOC_CLIENT_FAILED
    allocs[1].reschedule_tracker = tracker(NOW - 3600)
    allocs[1].next_allocation = allocs[2].id
    allocs[4].desired_status = ALLOC_DESIRED_STOP
    r = run(job, allocs)
    assert counts(r) == expect(place=1)
    assert r.desired_tg_updates == {"web": du(place=1, ignore=4)}
    assert place_indexes(r) == [0]


def test_failed_deployment_dont_reschedule():
    """Nomad: reconcile_cluster_test.go TestReconciler_FailedDeployment_DontReschedule."""
    ids, job = Ids(), mock_job()
    _group(job).update = no_canary_update()
    d = new_deployment(
        ids,
        job,
        status="failed",
        web=DeploymentState(promoted=True, desired_total=5, placed_allocs=4),
    )
    allocs = mock_allocs(ids, job, range(4), deployment_id=d.id)
    for a in allocs[2:]:
        a.client_status = ALLOC_CLIENT_FAILED
        a.task_states = failed_at(NOW - 10)
    r = run(job, allocs, deployment=d, update=update_destructive)
    assert counts(r) == expect()
    assert r.desired_tg_updates == {"web": du(ignore=2)}


def test_running_deployment_reschedules_only_marked_allocs():
    """Nomad: reconcile_cluster_test.go TestReconciler_DeploymentWithFailedAllocs_DontReschedule."""
    ids, job = Ids(), mock_job()
    _group(job).update = no_canary_update()
    d = new_deployment(ids, job, web=DeploymentState(desired_total=10, placed_allocs=10))
    allocs = mock_allocs(ids, job, range(10), deployment_id=d.id, client_status=ALLOC_CLIENT_FAILED)
    for a in allocs:
        a.task_states = failed_at(NOW - 10)
    for a in allocs[:5]:
        a.desired_transition.reschedule = True
    r = run(job, allocs, deployment=d, update=update_destructive)
    assert counts(r) == expect(place=5, stop=5)
    assert r.desired_tg_updates == {"web": du(place=5, stop=5, ignore=5)}


def test_successful_deployment_with_failed_allocs_reschedules():
    """Nomad: reconcile_cluster_test.go TestReconciler_SuccessfulDeploymentWithFailedAllocs_Reschedule."""
    ids, job = Ids(), mock_job()
    _group(job).update = no_canary_update()
    d = new_deployment(
        ids, job, status="successful", web=DeploymentState(desired_total=10, placed_allocs=10)
    )
    allocs = mock_allocs(ids, job, range(10), deployment_id=d.id, client_status=ALLOC_CLIENT_FAILED)
    for a in allocs:
        a.task_states = failed_at(NOW - 10)
    r = run(job, allocs, deployment=d, update=update_destructive)
    assert counts(r) == expect(place=10, stop=10)
    assert r.desired_tg_updates == {"web": du(place=10, stop=10)}
    assert all(p.previous_alloc is not None and p.previous_alloc.name == p.name for p in r.place)


def test_force_reschedule_past_the_limit():
    """Nomad: reconcile_cluster_test.go TestReconciler_ForceReschedule_Service."""
    ids, job = Ids(), mock_job()
    _service_policy(job)
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[0].client_status = ALLOC_CLIENT_FAILED
    allocs[0].reschedule_tracker = tracker(NOW - 3600)
    allocs[0].desired_transition.force_reschedule = True
    r = run(job, allocs)
    assert "web" not in r.desired_followup_evals
    assert counts(r) == expect(place=1, stop=1)
    assert r.desired_tg_updates == {"web": du(place=1, stop=1, ignore=4)}
    assert place_indexes(r) == [0] and r.place[0].reschedule


def test_reschedule_disabled_service():
    """Nomad: reconcile_cluster_test.go TestReconciler_RescheduleNot_Service."""
    ids, job = Ids(), mock_job()
    _service_policy(job, attempts=0)
    allocs = mock_allocs(ids, job, range(5), client_status=ALLOC_CLIENT_RUNNING)
    allocs[0].client_status = ALLOC_CLIENT_FAILED
    allocs[0].reschedule_tracker = tracker(NOW - 3600)
    allocs[1].task_states = failed_at(NOW - 10)
    allocs[1].client_status = ALLOC_CLIENT_FAILED
    allocs[4].desired_status = ALLOC_DESIRED_STOP
    r = run(job, allocs)
    assert "web" not in r.desired_followup_evals
    assert counts(r) == expect(place=1)
    assert r.desired_tg_updates == {"web": du(place=1, ignore=4)}
    assert all(p.previous_alloc is None and not p.reschedule for p in r.place)


def test_inplace_rollback_with_failed_allocs():
    """Nomad: reconcile_cluster_test.go TestReconciler_Inplace_Rollback."""
    ids, job = Ids(), mock_job()
    _group(job).count = 4
    _group(job).reschedule_policy = ReschedulePolicy(
        delay_function="exponential", interval=30 * SECOND, delay=HOUR, attempts=3, unlimited=True
    )
    allocs = mock_allocs(ids, job, range(3))
    allocs[0].client_status = ALLOC_CLIENT_RUNNING
    allocs[1].client_status = ALLOC_CLIENT_FAILED
    allocs[1].task_states = failed_at(NOW - 10 * MINUTE / SECOND)
    allocs[2].client_status = ALLOC_CLIENT_FAILED
    fn = update_mock({allocs[0].id: update_inplace}, update_destructive)
    r = run(job, allocs, update=fn)
    assert counts(r) == expect(place=2, inplace=1, stop=1, destructive=1, attribute=1)
    assert r.desired_tg_updates == {
        "web": du(place=2, stop=1, in_place_update=1, destructive_update=1, reschedule_later=1)
    }
    assert len(r.desired_followup_evals) == 1
    assert [a.index() for a in r.inplace_update] == [0]
    assert stop_indexes(r) == [2] and place_indexes(r) == [2, 3]


def test_scale_down_counts_client_terminal_batch_allocs():
    """Nomad: reconcile_cluster_test.go TestReconciler_ScaleDown_ClientTerminal_Batch."""
    ids, job = Ids(), mock_job("batch")
    _group(job).count = 5
    allocs = mock_allocs(ids, job, range(7))
    allocs[5].client_status = ALLOC_CLIENT_COMPLETE
    allocs[5].task_states = {"web": TaskState(state="dead")}
    allocs[6].desired_status = ALLOC_DESIRED_STOP
    allocs[6].client_status = ALLOC_CLIENT_COMPLETE
    r = run(job, allocs, batch=True)
    assert counts(r) == expect(stop=1)
    assert r.desired_tg_updates == {"web": du(ignore=6, stop=1)}
    assert stop_indexes(r) == [5]


def test_scale_down_with_failed_service_alloc_reschedules_it():
    """Nomad: reconcile_cluster_test.go TestReconciler_ScaleDown_ClientTerminal_Service."""
    ids, job = Ids(), mock_job()
    _group(job).count = 5
    allocs = mock_allocs(ids, job, range(6))
    allocs[3].client_status = ALLOC_CLIENT_FAILED
    r = run(job, allocs)
    assert stop_indexes(r) == [3]
    assert counts(r) == expect(place=1, stop=1)
    assert r.desired_tg_updates == {"web": du(ignore=5, place=1, stop=1)}


def test_scale_down_active_deployment_stops_unmarked_failed_alloc():
    """Nomad: reconcile_cluster_test.go TestReconciler_ScaleDown_ClientTerminal_Service_ActiveDeployment."""
    ids, job = Ids(), mock_job()
    _group(job).count = 2
    d = new_deployment(ids, job, web=DeploymentState(desired_total=3, placed_allocs=3))
    allocs = mock_allocs(ids, job, range(3), deployment_id=d.id)
    allocs[2].client_status = ALLOC_CLIENT_FAILED
    r = run(job, allocs, deployment=d)
    assert counts(r) == expect(stop=1)
    assert r.desired_tg_updates == {"web": du(ignore=2, stop=1)}
    assert r.stop[0].alloc is allocs[2]


def test_batch_rerun_of_a_new_job_instance():
    """Nomad: reconcile_cluster_test.go TestReconciler_Batch_Rerun."""
    ids, job = Ids(), mock_job("batch")
    allocs = mock_allocs(ids, job, range(10), client_status=ALLOC_CLIENT_COMPLETE)
    for i, a in enumerate(allocs):
        if i % 2 == 0:
            a.desired_status = ALLOC_DESIRED_STOP
    job2 = mock_job("batch")
    job2.create_index += 1
    r = run(job2, allocs, batch=True)
    assert counts(r) == expect(place=10)
    assert r.desired_tg_updates == {"web": du(place=10, ignore=10)}
    assert place_indexes(r) == list(range(10))


def test_lost_alloc_with_stop_after_client_disconnect_waits():
    """Lost allocs of a group with stop_after_client_disconnect get a delayed eval, no placement.

    Nomad: reconcile_cluster.go computeGroup (lostLater guards computePlacements), filters.go
    delayByStopAfter.
    """
    ids, job = Ids(), mock_job()
    _group(job).stop_after_client_disconnect = 60 * SECOND
    allocs = mock_allocs(ids, job, range(10), client_status=ALLOC_CLIENT_RUNNING)
    tainted = {allocs[0].node_id: mock_node(ids, allocs[0].node_id, status="down")}
    r = run(job, allocs, tainted=tainted)
    (ev,) = r.desired_followup_evals["web"]
    assert ev.triggered_by == TRIGGER_RETRY_FAILED_ALLOC and ev.wait_until == NOW + 65
    assert counts(r) == expect(stop=1)
    assert r.stop[0].followup_eval_id == ev.id
