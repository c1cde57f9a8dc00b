"""Canonicalization: Nomad's defaults per job type and the job-to-group merges.

Expected values come from api/jobs.go (DefaultUpdateStrategy, Job.Canonicalize), api/tasks.go
(TaskGroup/Task Canonicalize, default restart and reschedule policies), api/resources.go and
nomad/structs/structs.go (Job/TaskGroup/Task Canonicalize); ported cases cite Nomad's
api/tasks_test.go TestTaskGroup_Canonicalize_Update / _ReschedulePolicy / _MigrateStrategy.
"""

from __future__ import annotations

import copy

import pytest

from sim.structs.canonicalize import canonicalize
from sim.structs.codec import copy_job, decode_job, encode_job, jobs_spec_equal
from sim.structs.job import (
    HOUR,
    MINUTE,
    SECOND,
    MigrateStrategy,
    ReschedulePolicy,
    RestartPolicy,
    UpdateStrategy,
)

BASE = {
    "ID": "web",
    "Datacenters": ["dc1"],
    "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec"}]}],
}
DEFAULT_UPDATE = UpdateStrategy(
    stagger=30 * SECOND, max_parallel=1, health_check="checks", min_healthy_time=10 * SECOND,
    healthy_deadline=5 * MINUTE, progress_deadline=10 * MINUTE, auto_revert=False,
    auto_promote=False, canary=0,
)
SERVICE_RESTART = RestartPolicy(attempts=2, interval=30 * MINUTE, delay=15 * SECOND, mode="fail")
BATCH_RESTART = RestartPolicy(attempts=3, interval=24 * HOUR, delay=15 * SECOND, mode="fail")
SERVICE_RESCHEDULE = ReschedulePolicy(delay=30 * SECOND, delay_function="exponential",
                                      max_delay=HOUR, unlimited=True)
BATCH_RESCHEDULE = ReschedulePolicy(attempts=1, interval=24 * HOUR, delay=5 * SECOND,
                                    delay_function="constant")
DEFAULT_MIGRATE = MigrateStrategy(max_parallel=1, health_check="checks",
                                  min_healthy_time=10 * SECOND, healthy_deadline=5 * MINUTE)


def canon(job_type=None, group=None, task=None, **job_kv):
    data = copy.deepcopy(BASE)
    if job_type is not None:
        data["Type"] = job_type
    data.update(job_kv)
    data["TaskGroups"][0].update(group or {})
    data["TaskGroups"][0]["Tasks"][0].update(task or {})
    job = decode_job(data)
    canonicalize(job)
    return job


def test_job_level_defaults():
    """Name=ID, default namespace, region, priority, type, node pool and datacenters."""
    job = canon(Datacenters=[])
    assert (job.name, job.namespace, job.region, job.priority, job.type, job.node_pool) == (
        "web", "default", "global", 50, "service", "default")
    assert job.datacenters == ["*"]
    assert not job.stop and not job.all_at_once


@pytest.mark.parametrize("job_type,restart,reschedule,update,migrate", [
    ("service", SERVICE_RESTART, SERVICE_RESCHEDULE, DEFAULT_UPDATE, DEFAULT_MIGRATE),
    ("batch", BATCH_RESTART, BATCH_RESCHEDULE, None, None),
    ("system", SERVICE_RESTART, None, DEFAULT_UPDATE, None),
    ("sysbatch", BATCH_RESTART, None, None, None),
])
def test_group_defaults_per_job_type(job_type, restart, reschedule, update, migrate):
    """Restart, reschedule, update and migrate defaults follow Nomad's table per job type."""
    tg = canon(job_type).task_groups[0]
    assert tg.restart_policy == restart
    assert tg.reschedule_policy == reschedule
    assert tg.update == update
    assert tg.migrate == migrate
    assert tg.count == 1
    assert tg.ephemeral_disk.size_mb == 300 and not tg.ephemeral_disk.sticky


@pytest.mark.parametrize("job_type", ["service", "batch", "system", "sysbatch"])
def test_task_defaults(job_type):
    """Tasks get resources 100 MHz / 300 MB, kill timeout 5s, logs 10x10 and the group restart."""
    job = canon(job_type)
    task = job.task_groups[0].tasks[0]
    assert (task.resources.cpu, task.resources.cores, task.resources.memory_mb) == (100, 0, 300)
    assert task.kill_timeout == 5 * SECOND
    assert (task.log_config.max_files, task.log_config.max_file_size_mb) == (10, 10)
    assert task.restart_policy == job.task_groups[0].restart_policy
    assert task.restart_policy is not job.task_groups[0].restart_policy


def test_group_update_overrides_job_update_field_by_field():
    """Nomad: api/tasks_test.go TestTaskGroup_Canonicalize_Update (group fields win)."""
    job = canon(Update={"MaxParallel": 3, "Canary": 1, "AutoRevert": True},
                group={"Update": {"MaxParallel": 0, "HealthCheck": "task_states"}})
    u = job.task_groups[0].update
    assert (u.max_parallel, u.health_check, u.canary, u.auto_revert) == (0, "task_states", 1, True)
    assert u.is_empty()
    assert (u.stagger, u.min_healthy_time, u.progress_deadline) == (30 * SECOND, 10 * SECOND, 10 * MINUTE)


def test_job_update_copied_into_every_group():
    """A job-level update block is inherited (as a copy) by groups without one."""
    data = copy.deepcopy(BASE)
    data["Update"] = {"MaxParallel": 2, "Canary": 2}
    data["TaskGroups"].append({"Name": "h", "Tasks": [{"Name": "t", "Driver": "exec"}]})
    job = decode_job(data)
    canonicalize(job)
    a, b = job.task_groups[0].update, job.task_groups[1].update
    assert a == b and a is not b
    assert (a.max_parallel, a.canary, a.healthy_deadline) == (2, 2, 5 * MINUTE)


def test_job_level_blocks_are_reduced_after_merging():
    """The job keeps only Stagger/MaxParallel of its update; job migrate/reschedule go away."""
    job = canon(Update={"MaxParallel": 2, "MinHealthyTime": 20 * SECOND}, Migrate={"MaxParallel": 3},
                Reschedule={"Delay": 40 * SECOND})
    assert job.update == UpdateStrategy(stagger=30 * SECOND, max_parallel=2)
    assert job.migrate is None and job.reschedule is None
    tg = job.task_groups[0]
    assert (tg.update.min_healthy_time, tg.migrate.max_parallel, tg.reschedule_policy.delay) == (
        20 * SECOND, 3, 40 * SECOND)
    assert canon("batch").update == UpdateStrategy()


def test_empty_job_update_is_not_inherited():
    """An all-zero job update block is not merged into groups (api UpdateStrategy.Empty)."""
    zeros = {k: 0 for k in ("Stagger", "MaxParallel", "MinHealthyTime", "HealthyDeadline",
                            "ProgressDeadline", "Canary")}
    job = canon(Update=dict(zeros, HealthCheck="", AutoRevert=False, AutoPromote=False))
    assert job.task_groups[0].update is None


def test_batch_job_update_is_still_merged():
    """Nomad merges a batch job's update block into groups (validation then rejects it)."""
    job = canon("batch", Update={"Stagger": 10 * SECOND, "MaxParallel": 1})
    assert job.task_groups[0].update.stagger == 10 * SECOND


def test_restart_policy_merges_group_then_task():
    """Task restart = group's (itself merged over the type default) overridden by the task's."""
    job = canon("batch", group={"RestartPolicy": {"Attempts": 0}}, task={"RestartPolicy": {"Mode": "delay"}})
    tg = job.task_groups[0]
    assert tg.restart_policy == RestartPolicy(attempts=0, interval=24 * HOUR, delay=15 * SECOND, mode="fail")
    assert tg.tasks[0].restart_policy == RestartPolicy(attempts=0, interval=24 * HOUR,
                                                       delay=15 * SECOND, mode="delay")


def test_job_reschedule_merged_under_group_reschedule():
    """Nomad: api/tasks_test.go TestTaskGroup_Canonicalize_ReschedulePolicy (job then group)."""
    job = canon("batch", Reschedule={"Attempts": 5, "Interval": HOUR},
                group={"ReschedulePolicy": {"Delay": 20 * SECOND}})
    assert job.task_groups[0].reschedule_policy == ReschedulePolicy(
        attempts=5, interval=HOUR, delay=20 * SECOND, delay_function="constant")


def test_explicit_zero_reschedule_is_kept():
    """attempts 0 / unlimited false given by the user is not replaced by defaults."""
    rp = canon(group={"ReschedulePolicy": {"Attempts": 0, "Unlimited": False}}).task_groups[0].reschedule_policy
    assert (rp.attempts, rp.unlimited, rp.delay, rp.delay_function) == (0, False, 30 * SECOND, "exponential")


def test_system_reschedule_given_is_canonicalized_with_zero_defaults():
    """A system group's reschedule block is kept (for validation to reject), zeros filled."""
    rp = canon("system", group={"ReschedulePolicy": {"Attempts": 2}}).task_groups[0].reschedule_policy
    assert rp == ReschedulePolicy(attempts=2)


def test_migrate_merge_and_service_default():
    """Nomad: api/tasks_test.go TestTaskGroup_Canonicalize_MigrateStrategy."""
    job = canon(Migrate={"MaxParallel": 3}, group={"Migrate": {"HealthCheck": "task_states"}})
    assert job.task_groups[0].migrate == MigrateStrategy(
        max_parallel=3, health_check="task_states", min_healthy_time=10 * SECOND, healthy_deadline=5 * MINUTE)


def test_count_from_scaling_min_and_scaling_defaults():
    """Count defaults to scaling.min; scaling gets enabled=true and max=-1 when absent."""
    tg = canon(group={"Scaling": {"Min": 3}}).task_groups[0]
    assert tg.count == 3
    assert (tg.scaling.min, tg.scaling.max, tg.scaling.enabled) == (3, -1, True)
    tg = canon(group={"Count": 2, "Scaling": {"Max": 5}}).task_groups[0]
    assert (tg.count, tg.scaling.min) == (2, 2)


def test_explicit_count_zero_is_kept():
    """Count 0 is a valid count and is not replaced by the default 1."""
    assert canon(group={"Count": 0}).task_groups[0].count == 0


def test_cores_without_cpu_gives_cpu_zero():
    """Asking for cores leaves CPU at 0 (api Resources.Canonicalize)."""
    res = canon(task={"Resources": {"Cores": 2}}).task_groups[0].tasks[0].resources
    assert (res.cpu, res.cores, res.memory_mb) == (0, 2, 300)


def test_explicit_cpu_zero_is_kept():
    """An explicit CPU 0 stays 0 so validation can reject it."""
    assert canon(task={"Resources": {"CPU": 0}}).task_groups[0].tasks[0].resources.cpu == 0


def test_affinity_and_spread_weights_default_to_50():
    """Weights absent become 50; an explicit 0 is kept."""
    aff = {"LTarget": "${node.class}", "RTarget": "a", "Operand": "="}
    job = canon(Affinities=[aff, dict(aff, Weight=0)], group={"Spreads": [{"Attribute": "${node.datacenter}"}]},
                task={"Affinities": [aff]})
    assert [a.weight for a in job.affinities] == [50, 0]
    assert job.task_groups[0].spreads[0].weight == 50
    assert job.task_groups[0].tasks[0].affinities[0].weight == 50


def test_port_host_network_defaults():
    """Empty HostNetwork becomes "default" for group and task ports."""
    net = {"DynamicPorts": [{"Label": "http"}], "ReservedPorts": [{"Label": "x", "Value": 80, "HostNetwork": "pub"}]}
    job = canon(group={"Networks": [net]}, task={"Resources": {"Networks": [net]}})
    for n in (job.task_groups[0].networks[0], job.task_groups[0].tasks[0].resources.networks[0]):
        assert [p.host_network for p in n.dynamic_ports + n.reserved_ports] == ["default", "pub"]


def test_periodic_and_parameterized_defaults():
    """Periodic: enabled, cron, UTC; parameterized payload: optional."""
    job = canon("batch", Periodic={"Spec": "@daily"}, ParameterizedJob={})
    p = job.periodic
    assert (p.enabled, p.spec_type, p.prohibit_overlap, p.time_zone) == (True, "cron", False, "UTC")
    assert job.parameterized_job.payload == "optional"
    assert canon("batch", Periodic={"Spec": "@daily", "Enabled": False}).periodic.enabled is False


def test_service_name_and_provider_defaults():
    """Unnamed services are named job-group[-task]; provider defaults to consul."""
    job = canon(group={"Services": [{}]}, task={"Services": [{"Provider": "nomad"}]})
    assert (job.task_groups[0].services[0].name, job.task_groups[0].services[0].provider) == ("web-g", "consul")
    assert (job.task_groups[0].tasks[0].services[0].name, job.task_groups[0].tasks[0].services[0].provider) == (
        "web-g-t", "nomad")


def test_service_name_interpolation():
    """${JOB}, ${TASKGROUP}, ${TASK} and ${BASE} are replaced in service names."""
    job = canon(group={"Services": [{"Name": "${JOB}-${TASKGROUP}-${TASK}-${X}"}]},
                task={"Services": [{"Name": "${BASE}"}]})
    assert job.task_groups[0].services[0].name == "web-g-group-${X}"
    assert job.task_groups[0].tasks[0].services[0].name == "web-g-t"


def test_explicit_values_win_over_defaults():
    """Given region, namespace, priority, node pool and kill timeout are kept."""
    job = canon(Region="eu", Namespace="apps", Priority=70, NodePool="gpu", task={"KillTimeout": 30 * SECOND})
    assert (job.region, job.namespace, job.priority, job.node_pool) == ("eu", "apps", 70, "gpu")
    assert job.task_groups[0].tasks[0].kill_timeout == 30 * SECOND


@pytest.mark.parametrize("job_type", ["service", "batch", "system", "sysbatch"])
def test_canonicalize_is_idempotent(job_type):
    """Canonicalizing a canonical job changes nothing."""
    job = canon(job_type, Update={"MaxParallel": 2}, group={"RestartPolicy": {"Attempts": 1}},
                task={"RestartPolicy": {"Delay": SECOND}})
    again = copy_job(job)
    canonicalize(again)
    assert again == job
    assert jobs_spec_equal(again, job)


def test_canonical_job_has_no_unset_fields():
    """After canonicalize no pointer-style field of a group or task is left None."""
    job = canon(group={"Update": {}, "Migrate": {}, "ReschedulePolicy": {}, "EphemeralDisk": {}},
                task={"LogConfig": {}, "Resources": {}})
    encoded = encode_job(job)["TaskGroups"][0]
    for block in ("Update", "Migrate", "ReschedulePolicy", "RestartPolicy", "EphemeralDisk"):
        assert None not in encoded[block].values(), block
    assert None not in encoded["Tasks"][0]["LogConfig"].values()
