"""The job codec on the reference material and on malformed input (sim.structs.codec).

Every job in tests/data/reference (jobs/, api-docs-samples/) and in the JSON samples of
seed/jobs-http-api.md decodes, canonicalizes and encodes back with every given non-null field
intact. Jobs that current Nomad rejects (old documentation samples) are rejected with Nomad's
exact message; the rest validate.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from sim.errors import ValidationError
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import copy_job, decode_job, encode_job, jobs_spec_equal, json_name
from sim.structs.job import SECOND, Job
from sim.structs.validate.job import validate_job

DATA = Path(__file__).resolve().parents[1] / "data"
REFERENCE = DATA / "reference"

# Zero values canonicalize replaces by Nomad's defaults (structs.NetworkResource.Canonicalize).
CANONICAL_FILLS = {("HostNetwork", "", "default")}


def _jobs_in(data, where):
    """Every job object (has Datacenters and a TaskGroups list or null) inside a JSON value."""
    if isinstance(data, dict):
        if "Datacenters" in data and isinstance(data.get("TaskGroups", 0), list | type(None)):
            yield where, data
        for key, value in data.items():
            yield from _jobs_in(value, f"{where}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _jobs_in(value, f"{where}[{i}]")


def _sources():
    out = []
    for path in sorted((REFERENCE / "jobs").glob("*.json")):
        data = json.loads(path.read_text())
        out.append((path.name, data.get("Job", data)))
    for path in sorted((REFERENCE / "api-docs-samples").glob("*.json")):
        out += list(_jobs_in(json.loads(path.read_text()), path.name))
    md = (DATA / "seed" / "jobs-http-api.md").read_text()
    for i, block in enumerate(re.findall(r"```json\n(.*?)```", md, re.S)):
        out += list(_jobs_in(json.loads(block), f"jobs-http-api.md#{i}"))
    return out


SOURCES = _sources()
IDS = [name for name, _ in SOURCES]
BATCH_UPDATE = ("1 error occurred:\n\t* Task group cache validation failed: 1 error occurred:\n"
                '\t* Job type "batch" does not allow update block\n\n\n\n')
# Documentation samples that current Nomad (aa026cc99c) rejects, with its exact message.
REJECTED = {
    "invalid-id-with-space-example-short-bad.json": "1 error occurred:\n\t* Job ID contains a space\n\n",
    "invalid-missing-id-and-name.json": "2 errors occurred:\n\t* Missing job ID\n\t* Missing job name\n\n",
    # 2017 docs: a batch job with a job-level update block (disallowed since Nomad 0.6).
    "batch-periodic-parameterized-constraints-2017.json": BATCH_UPDATE,
    "read-job-response-batch-periodic-parameterized-affinities.json": BATCH_UPDATE,
    "jobs-http-api.md#2": BATCH_UPDATE,
    # 2017 docs: group update with Stagger 0.
    "jobs-http-api.md#3[0]": ("1 error occurred:\n\t* Task group cache validation failed: 1 error occurred:\n"
                              "\t* Stagger must be greater than zero: 0s\n\n\n\n"),
    # 2020 docs: reschedule Attempts 10 with Unlimited true and Interval 0.
    "service-update-restart-services-2020.json": (
        "1 error occurred:\n\t* Task group cache validation failed: 3 errors occurred:\n"
        "\t* Interval must be a non zero value if Attempts > 0\n"
        "\t* Reschedule Policy with Attempts = 10, Interval = 0s, and Unlimited = true is ambiguous\n"
        "\t* If Attempts >0, Unlimited cannot also be set to true\n\n\n\n"),
    # The parse sample has no task groups.
    "parse-job.response.json": "1 error occurred:\n\t* Missing job task groups\n\n",
}


def changed_fields(given, out, path=""):
    """Paths where a given non-null value is not found unchanged in the output."""
    if given is None or given == [] or given == {}:
        return []
    if isinstance(given, dict):
        if not isinstance(out, dict):
            return [path]
        return [p for k, v in given.items() for p in changed_fields(v, out.get(k), f"{path}.{k}")]
    if isinstance(given, list):
        if not isinstance(out, list) or len(out) != len(given):
            return [path]
        return [p for i, (a, b) in enumerate(zip(given, out, strict=True))
                for p in changed_fields(a, b, f"{path}[{i}]")]
    if given == out and type(given) is type(out):
        return []
    key = path.rsplit(".", 1)[-1]
    return [] if (key, given, out) in CANONICAL_FILLS else [path]


def test_reference_material_is_found():
    """The reference folders hold the expected jobs (guards against a silent empty glob)."""
    assert len(SOURCES) >= 14
    assert set(REJECTED) <= set(IDS)


@pytest.mark.parametrize("name,data", SOURCES, ids=IDS)
def test_reference_job_round_trips(name, data):
    """decode -> encode keeps every given non-null field (unknown keys via extra)."""
    assert changed_fields(data, encode_job(decode_job(data))) == []


@pytest.mark.parametrize("name,data", SOURCES, ids=IDS)
def test_reference_job_canonical_encoding_keeps_given_fields(name, data):
    """decode -> canonicalize -> encode keeps every given field but Nomad's own rewrites.

    Nomad rewrites zero-valued fields it defaults (CANONICAL_FILLS) and reduces the job-level
    update block to Stagger and MaxParallel once merged into the groups, dropping the
    job-level migrate and reschedule blocks (command/agent/job_endpoint.go ApiJobToStructJob).
    """
    job = decode_job(data)
    canonicalize(job)
    out = encode_job(job)
    job_blocks = ("Update", "Migrate", "Reschedule")
    assert changed_fields({k: v for k, v in data.items() if k not in job_blocks}, out) == []
    given = data.get("Update") or {}
    kept = {"Stagger": given.get("Stagger") or 30 * SECOND, "MaxParallel": given.get("MaxParallel", 1)}
    if data.get("Type") in ("batch", "sysbatch") and not given:
        kept = {"Stagger": 0, "MaxParallel": 0}
    if kept["MaxParallel"] == 0:
        kept["Stagger"] = 0
    assert {k: out["Update"][k] for k in kept} == kept
    assert out["Update"]["HealthyDeadline"] == 0 and out["Migrate"] is None and out["Reschedule"] is None


@pytest.mark.parametrize("name,data", SOURCES, ids=IDS)
def test_reference_job_validates_as_nomad_would(name, data):
    """Valid jobs validate; the samples current Nomad rejects fail with Nomad's message."""
    job = decode_job(data)
    canonicalize(job)
    if name in REJECTED:
        with pytest.raises(ValidationError) as info:
            validate_job(job)
        assert info.value.message == REJECTED[name]
    else:
        validate_job(job)


def test_rejected_reference_jobs_name_the_field():
    """The two invalid reference jobs name the offending field."""
    for name, field in (("invalid-id-with-space-example-short-bad.json", "ID"),
                        ("invalid-missing-id-and-name.json", "ID")):
        job = decode_job(dict(SOURCES)[name])
        canonicalize(job)
        with pytest.raises(ValidationError) as info:
            validate_job(job)
        assert info.value.field == field


def test_wrapped_and_bare_jobs_decode_the_same():
    """{"Job": {...}} and the bare job give equal structs."""
    data = dict(SOURCES)["service-full-example-cache-redis-canonical.json"]
    assert decode_job({"Job": data}) == decode_job(data)


def test_decoded_fields_and_extras():
    """Typed fields land in snake_case attributes; unknown keys are kept in extra."""
    job = decode_job(dict(SOURCES)["read-job-response-batch-periodic-parameterized-affinities.json"])
    task = job.task_groups[0].tasks[1]
    assert (job.id, job.type, job.create_index, task.resources.cpu) == ("example", "batch", 7, 500)
    assert task.resources.networks[0].reserved_ports[0].value == 25566
    assert task.services[0].checks[0].interval == 10 * SECOND
    assert task.extra["Templates"][0]["ChangeMode"] == "signal"
    assert job.extra["VaultToken"] == ""


def test_null_means_not_given():
    """JSON null keeps defaults; pointer fields stay None until canonicalized."""
    job = decode_job({"ID": "x", "Priority": None, "Name": None, "TaskGroups": [{"Count": None, "Update": {
        "MaxParallel": None, "Canary": 0}}]})
    assert job.priority == 0 and job.name is None
    update = job.task_groups[0].update
    assert (update.max_parallel, update.canary, job.task_groups[0].count) == (None, 0, None)


def test_keys_match_case_insensitively_like_go():
    """Go's decoder accepts a key differing only in case; the exact key is emitted."""
    job = decode_job({"id": "x", "taskgroups": [{"count": 3}]})
    assert (job.id, job.task_groups[0].count) == ("x", 3)
    assert encode_job(job)["TaskGroups"][0]["Count"] == 3


def test_encode_emits_every_field_and_nulls_for_empty():
    """Encoding writes every modelled field; empty lists and maps are null as Go's nil."""
    out = encode_job(decode_job({"ID": "x", "Meta": {}, "Constraints": []}))
    assert out["Meta"] is None and out["Constraints"] is None and out["TaskGroups"] is None
    assert out["ID"] == "x" and out["Stop"] is False and out["Priority"] == 0


def test_json_names_use_nomad_acronyms():
    """snake_case to PascalCase keeps Nomad's acronyms."""
    assert [json_name(n) for n in ("memory_max_mb", "l_target", "parent_id", "cidr", "mbits", "cpu")] == [
        "MemoryMaxMB", "LTarget", "ParentID", "CIDR", "MBits", "CPU"]


@pytest.mark.parametrize("mutate,field,message", [
    (lambda d: d["TaskGroups"][0].update(Count="x"), "TaskGroups[0].Count",
     "json: cannot unmarshal string into Go struct field TaskGroup.Job.TaskGroups.Count of type int"),
    (lambda d: d.update(TaskGroups={"a": 1}), "TaskGroups",
     "json: cannot unmarshal object into Go struct field Job.Job.TaskGroups of type []*api.TaskGroup"),
    (lambda d: d["TaskGroups"][0].update(Update="x"), "TaskGroups[0].Update",
     "json: cannot unmarshal string into Go struct field TaskGroup.Job.TaskGroups.Update of type api.UpdateStrategy"),
    (lambda d: d["TaskGroups"][0]["Tasks"][0].update(Resources={"CPU": 2**63}), "TaskGroups[0].Tasks[0].Resources.CPU",
     "json: cannot unmarshal number 9223372036854775808 into Go struct field Resources.Job.TaskGroups.Tasks.Resources.CPU of type int"),
    (lambda d: d.update(Priority=True), "Priority",
     "json: cannot unmarshal bool into Go struct field Job.Job.Priority of type int"),
    (lambda d: d.update(Priority=1.5), "Priority",
     "json: cannot unmarshal number 1.5 into Go struct field Job.Job.Priority of type int"),
    (lambda d: d.update(Affinities=[{"Weight": 200}]), "Affinities[0].Weight",
     "json: cannot unmarshal number 200 into Go struct field Affinity.Job.Affinities.Weight of type int8"),
    (lambda d: d.update(Version=-1), "Version",
     "json: cannot unmarshal number -1 into Go struct field Job.Job.Version of type uint64"),
    (lambda d: d.update(Meta={"a": 1}), "Meta",
     "json: cannot unmarshal number into Go struct field Job.Job.Meta of type string"),
    (lambda d: d.update(Datacenters="dc1"), "Datacenters",
     "json: cannot unmarshal string into Go struct field Job.Job.Datacenters of type []string"),
    (lambda d: d.update(ID=5), "ID", "json: cannot unmarshal number into Go struct field Job.Job.ID of type string"),
    (lambda d: d["TaskGroups"].append("x"), "TaskGroups[1]",
     "json: cannot unmarshal string into Go struct field Job.Job.TaskGroups of type api.TaskGroup"),
    (lambda d: d["TaskGroups"][0]["Tasks"][0].update(KillTimeout="5s"), "TaskGroups[0].Tasks[0].KillTimeout",
     "json: cannot unmarshal string into Go struct field Task.Job.TaskGroups.Tasks.KillTimeout of type time.Duration"),
])
def test_wrong_types_name_the_field(mutate, field, message):
    """Type errors raise ValidationError with the field path and Go's decoder message."""
    data = {"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t"}]}]}
    mutate(data)
    with pytest.raises(ValidationError) as info:
        decode_job(data)
    assert (info.value.field, info.value.message) == (field, message)


def test_non_object_inputs_are_rejected():
    """A non-object job or a non-object Job in the envelope is a ValidationError."""
    for data in ([], "x", 3, None, {"Job": "..."}):
        with pytest.raises(ValidationError):
            decode_job(data)


def test_duration_strings_accepted_on_request():
    """Go duration strings decode to nanoseconds when duration_strings=True."""
    data = {"ID": "x", "TaskGroups": [{"Update": {"MinHealthyTime": "15s"}, "Tasks": [{"KillTimeout": "1m"}]}]}
    job = decode_job(data, duration_strings=True)
    assert job.task_groups[0].update.min_healthy_time == 15 * SECOND
    assert job.task_groups[0].tasks[0].kill_timeout == 60 * SECOND
    with pytest.raises(ValidationError, match='time: unknown unit "x"'):
        decode_job({"ID": "x", "TaskGroups": [{"ShutdownDelay": "3x"}]}, duration_strings=True)


def test_decode_does_not_alias_input():
    """Mutating the input after decoding leaves the job unchanged (extras are copied)."""
    data = {"ID": "x", "Custom": {"a": [1]}, "TaskGroups": [{"Tasks": [{"Config": {"args": ["a"]}}]}]}
    job = decode_job(data)
    data["Custom"]["a"].append(2)
    data["TaskGroups"][0]["Tasks"][0]["Config"]["args"].append("b")
    assert job.extra["Custom"] == {"a": [1]}
    assert job.task_groups[0].tasks[0].config == {"args": ["a"]}


def test_copy_job_is_deep_and_equal():
    """copy_job gives an equal job sharing no mutable part."""
    job = decode_job(dict(SOURCES)["service-full-example-cache-redis-canonical.json"])
    canonicalize(job)
    twin = copy_job(job)
    assert twin == job and twin is not job
    twin.task_groups[0].tasks[0].resources.cpu = 1
    twin.task_groups[0].tasks[0].config["image"] = "other"
    twin.extra["Multiregion"] = {}
    assert job.task_groups[0].tasks[0].resources.cpu == 500
    assert job.task_groups[0].tasks[0].config["image"] == "redis:7"
    assert job.extra["Multiregion"] is None


def test_spec_equality_ignores_server_fields():
    """Status, stability, version, indexes, submit time and version tag are not spec."""
    job = decode_job(dict(SOURCES)["minimal-cache-nodepool-type-omitted.json"])
    canonicalize(job)
    other = copy_job(job)
    other.status, other.stable, other.version, other.submit_time = "running", True, 3, 123
    other.create_index, other.modify_index, other.job_modify_index = 1, 2, 3
    other.status_description, other.version_tag = "x", {"Name": "v"}
    assert jobs_spec_equal(job, other)


@pytest.mark.parametrize("change", [
    lambda j: setattr(j.task_groups[0], "count", 2),
    lambda j: setattr(j, "stop", True),
    lambda j: j.meta.update(a="b"),
    lambda j: j.extra.update(ConsulToken="t"),
    lambda j: setattr(j.task_groups[0].tasks[0].resources, "memory_mb", 512),
])
def test_spec_equality_detects_changes(change):
    """Any change to the spec, including unknown fields, is a spec change."""
    job = decode_job(dict(SOURCES)["minimal-cache-nodepool-type-omitted.json"])
    canonicalize(job)
    other = copy_job(job)
    change(other)
    assert not jobs_spec_equal(job, other)


def test_encoded_job_decodes_to_the_same_job():
    """encode then decode is the identity on a canonical job."""
    for name, data in SOURCES:
        job = decode_job(copy.deepcopy(data))
        canonicalize(job)
        assert decode_job(encode_job(job)) == job, name


def test_decode_returns_a_job_with_absent_pointers_unset():
    """decode_job returns a Job (bare or wrapped in {"Job"}); absent pointer fields stay None."""
    job = decode_job({"ID": "x"})
    assert isinstance(job, Job) and job.id == "x"
    assert (job.name, job.type, job.update, job.periodic, job.task_groups) == (None, None, None, None, [])
    assert decode_job({"Job": {"ID": "x"}}) == job
