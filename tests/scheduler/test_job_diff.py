"""Destructive-change detection: what changed between two versions of a job."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sim.scheduler.job_diff import combined_task_meta, network_updated, tasks_updated
from sim.structs.job import Job, LogConfig, NetworkResource, Port, RestartPolicy, Service

from .fixtures_reconcile import mock_job


def _task(job: Job):
    return job.task_groups[0].tasks[0]


def _group(job: Job):
    return job.task_groups[0]


DESTRUCTIVE: list[tuple[str, Callable[[Job], None]]] = [
    ("task config", lambda j: _task(j).config.update(command="/bin/other")),
    ("task name", lambda j: setattr(_task(j), "name", "foo")),
    ("task driver", lambda j: setattr(_task(j), "driver", "foo")),
    ("number of tasks", lambda j: _group(j).tasks.append(_task(j))),
    (
        "group dynamic ports",
        lambda j: setattr(
            _group(j).networks[0], "dynamic_ports", [Port("http"), Port("https"), Port("admin")]
        ),
    ),
    ("task env", lambda j: _task(j).env.update(NEW_ENV="NEW_VALUE")),
    ("task user", lambda j: setattr(_task(j), "user", "foo")),
    (
        "task artifacts",
        lambda j: _task(j).extra.update(Artifacts=[{"GetterSource": "http://foo.com/bar"}]),
    ),
    ("task meta", lambda j: _task(j).meta.update(baz="boom")),
    ("task cpu", lambda j: setattr(_task(j).resources, "cpu", 1337)),
    (
        "task devices",
        lambda j: _task(j).resources.extra.update(Devices=[{"Name": "gpu", "Count": 1}]),
    ),
    ("port label", lambda j: setattr(_group(j).networks[0].dynamic_ports[0], "label", "foobar")),
    (
        "reserved ports",
        lambda j: setattr(_group(j).networks[0], "reserved_ports", [Port("foo", 1312)]),
    ),
    ("sticky disk", lambda j: setattr(_group(j).ephemeral_disk, "sticky", True)),
    ("group meta", lambda j: _group(j).meta.update(j17_test="roll_baby_roll")),
    ("job meta", lambda j: j.meta.update(j18_test="roll_baby_roll")),
    ("network mode", lambda j: setattr(_group(j).networks[0], "mode", "bridge")),
    ("task cores", lambda j: setattr(_task(j).resources, "cores", 4)),
    ("task memory max", lambda j: setattr(_task(j).resources, "memory_max_mb", 1024)),
    ("templates", lambda j: _task(j).extra.update(Templates=[{"ErrMissingKey": True}])),
    ("volumes", lambda j: _group(j).extra.update(Volumes={"v": {"Name": "v", "Type": "csi"}})),
    ("csi plugin", lambda j: _task(j).extra.update(CSIPluginConfig={"ID": "p", "Type": "node"})),
    (
        "volume mounts",
        lambda j: _task(j).extra.update(VolumeMounts=[{"Volume": "v", "SELinuxLabel": "z"}]),
    ),
    ("secrets", lambda j: _task(j).extra.update(Secrets=[{"Name": "s", "Provider": "nomad"}])),
    ("identities", lambda j: _task(j).extra.update(Identities=[{"Name": "vault"}])),
    ("log disabled", lambda j: setattr(_task(j), "log_config", LogConfig(disabled=True))),
    (
        "render templates",
        lambda j: setattr(_task(j), "restart_policy", RestartPolicy(render_templates=True)),
    ),
    ("consul namespace", lambda j: _group(j).extra.update(Consul={"Namespace": "other"})),
]

IN_PLACE: list[tuple[str, Callable[[Job], None]]] = [
    ("count", lambda j: setattr(_group(j), "count", 3)),
    ("priority", lambda j: setattr(j, "priority", 90)),
    ("constraints", lambda j: _group(j).constraints.clear()),
    ("kill timeout", lambda j: setattr(_task(j), "kill_timeout", 30 * 10**9)),
    ("service tags", lambda j: _task(j).services.append(Service(name="extra", port_label="http"))),
    ("restart attempts", lambda j: setattr(_group(j).restart_policy, "attempts", 9)),
    ("reschedule policy", lambda j: setattr(_group(j), "reschedule_policy", None)),
    ("log max files", lambda j: setattr(_task(j), "log_config", LogConfig(max_files=3))),
    ("identical templates", lambda j: _task(j).extra.update(Templates=[])),
]


def test_identical_jobs_are_not_updated():
    """Nomad: scheduler/util_test.go TestTasksUpdated (j1 vs j2)."""
    assert not tasks_updated(mock_job(), mock_job(), "web")


@pytest.mark.parametrize(("case", "change"), DESTRUCTIVE, ids=[c for c, _ in DESTRUCTIVE])
def test_destructive_changes(case, change):
    """Nomad: scheduler/util_test.go TestTasksUpdated (each modified job is destructive)."""
    changed = mock_job()
    change(changed)
    assert tasks_updated(mock_job(), changed, "web"), case


@pytest.mark.parametrize(("case", "change"), IN_PLACE, ids=[c for c, _ in IN_PLACE])
def test_non_destructive_changes(case, change):
    """Count, priority, constraints, services, policies... update in place (docs/fidelity.md#reconciler, updates)."""
    changed = mock_job()
    change(changed)
    assert not tasks_updated(mock_job(), changed, "web"), case


NETWORK_CASES = [
    ("mode", [NetworkResource(mode="host")], [NetworkResource(mode="bridge")], True),
    (
        "host_network",
        [NetworkResource(dynamic_ports=[Port("http", to=8080)])],
        [NetworkResource(dynamic_ports=[Port("http", to=8080, host_network="public")])],
        True,
    ),
    (
        "port to",
        [NetworkResource(dynamic_ports=[Port("http", to=8080)])],
        [NetworkResource(dynamic_ports=[Port("http", to=8088)])],
        True,
    ),
    ("hostname", [NetworkResource(hostname="foo")], [NetworkResource(hostname="bar")], True),
    (
        "dynamic value ignored",
        [NetworkResource(dynamic_ports=[Port("http", value=0)])],
        [NetworkResource(dynamic_ports=[Port("http", value=25000)])],
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "a", "b", "updated"), NETWORK_CASES, ids=[c[0] for c in NETWORK_CASES]
)
def test_network_updated(case, a, b, updated):
    """Nomad: scheduler/util_test.go TestNetworkUpdated."""
    assert bool(network_updated(a, b)) is updated, case


def test_combined_task_meta_prefers_task_then_group_then_job():
    """Nomad: structs.go Job.CombinedTaskMeta."""
    job = mock_job()
    job.meta["foo"] = "job"
    _group(job).meta["foo"] = "group"
    _group(job).meta["g"] = "1"
    meta = combined_task_meta(job, "web", "web")
    assert meta["foo"] == "bar" and meta["g"] == "1" and meta["owner"] == "armon"
    assert combined_task_meta(job, "missing", "web") == job.meta
