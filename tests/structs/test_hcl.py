"""HCL job files to Nomad's JSON job form (sim/api/hcl.py), on the reference HCL jobs."""

from __future__ import annotations

import pytest
from conftest import DATA

from sim.structs.canonicalize import canonicalize
from sim.structs.codec import decode_job
from sim.structs.hcl import parse_job_hcl
from sim.structs.job import SECOND
from sim.structs.validate.job import validate_job

REFERENCE = DATA / "reference"

HCL = sorted((REFERENCE / "jobs-hcl").iterdir())
# Rejected by Nomad's own validation too: HCL1 list ports that collide, and a kill timeout
# longer than the group's 3s progress deadline.
INVALID = {"hcl1-multi-network-static-dynamic-ports.hcl", "rescheduling-canary-autorevert.nomad"}


def _parse(name: str) -> dict:
    return parse_job_hcl((REFERENCE / "jobs-hcl" / name).read_text())


@pytest.mark.parametrize("path", HCL, ids=[p.name for p in HCL])
def test_every_reference_hcl_job_parses_and_decodes(path):
    """Each reference HCL file becomes a job the codec decodes; the valid ones validate."""
    job = decode_job(parse_job_hcl(path.read_text()))
    canonicalize(job)
    assert job.id and job.task_groups and all(tg.tasks for tg in job.task_groups)
    if path.name not in INVALID:
        validate_job(job)


def test_example_job_maps_blocks_attributes_and_durations():
    """`nomad job init`'s example: update, restart, ports, services and resources map to Nomad JSON."""
    job = _parse("example-service-redis-commented.nomad.hcl")
    assert (job["ID"], job["Name"], job["Type"], job["Datacenters"]) == ("example", "example", "service", ["*"])
    assert job["Update"]["HealthyDeadline"] == 180 * SECOND and job["Update"]["MaxParallel"] == 1
    group = job["TaskGroups"][0]
    assert group["RestartPolicy"] == {"Attempts": 2, "Interval": 1800 * SECOND, "Delay": 15 * SECOND, "Mode": "fail"}
    assert group["Networks"][0]["DynamicPorts"] == [{"Label": "db", "To": 6379, "Value": 0}]
    assert group["Services"][0]["PortLabel"] == "db" and group["EphemeralDisk"] == {"SizeMB": 300}
    task = group["Tasks"][0]
    assert task["Resources"] == {"CPU": 500, "MemoryMB": 256}
    assert task["Config"] == {"image": "redis:7", "ports": ["db"], "auth_soft_fail": True}


def test_constraints_get_the_default_operand_and_affinities_their_weight():
    """A constraint without operator is `=`; affinity blocks keep operator and weight."""
    job = _parse("multiple-affinities.nomad")
    assert job["Constraints"] == [{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}]
    assert job["Affinities"][0] == {"LTarget": "${meta.rack}", "Operand": "=", "RTarget": "r1", "Weight": 100}


def test_spread_targets_become_spread_target_list():
    """`target "r1" { percent = 70 }` becomes SpreadTarget [{Value, Percent}]."""
    spread = _parse("multiple-spread.nomad")["TaskGroups"][0]["Spreads"][0]
    assert spread["Attribute"] == "${meta.rack}"
    assert spread["SpreadTarget"] == [{"Percent": 70, "Value": "r1"}, {"Percent": 30, "Value": "r2"}]


def test_periodic_and_parameterized_blocks():
    """`cron` becomes Spec with SpecType cron; parameterized meta lists carry over."""
    periodic = _parse("periodic-simple.nomad")["Periodic"]
    assert periodic == {"Spec": "* * * * *", "ProhibitOverlap": True, "SpecType": "cron", "Enabled": True}
    assert _parse("parameterized-simple.nomad")["ParameterizedJob"] == {"MetaOptional": ["i"]}


def test_string_booleans_and_hcl1_port_lists_are_typed():
    """`unlimited = "true"` is a bool; HCL1 reserved/dynamic port lists become port objects."""
    group = _parse("rescheduling-canary-autorevert.nomad")["TaskGroups"][0]
    assert group["ReschedulePolicy"] == {"Unlimited": True}
    net = _parse("hcl1-multi-network-static-dynamic-ports.hcl")["TaskGroups"][0]["Tasks"][0]["Resources"]["Networks"][0]
    assert net["MBits"] == 100 and net["ReservedPorts"][0] == {"Label": "", "Value": 1}
    assert [p["Label"] for p in net["DynamicPorts"]] == ["HTTP", "HTTPS", "ADMIN"]


def test_constraint_shortcuts():
    """`distinct_hosts = true` and `regexp = ...` set the operand, as jobspec does."""
    job = parse_job_hcl('job "x" {\n constraint { distinct_hosts = true }\n'
                        ' constraint {\n attribute = "${attr.os}"\n regexp = "^lin"\n }\n'
                        ' group "g" {\n task "t" { driver = "exec" }\n }\n}\n')
    assert job["Constraints"] == [{"Operand": "distinct_hosts", "RTarget": "true"},
                                  {"LTarget": "${attr.os}", "Operand": "regexp", "RTarget": "^lin"}]


def test_bad_hcl_and_missing_job_block_raise_value_error():
    """Unparseable text and files without one job block are rejected."""
    with pytest.raises(ValueError):
        parse_job_hcl('job "x" {')
    with pytest.raises(ValueError, match="'job' block is required"):
        parse_job_hcl('variable "x" {}\n')
