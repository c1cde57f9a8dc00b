"""Validation: Nomad's exact messages, nesting and multierror text (sim.structs.validate.job).

Expected messages come from nomad/structs/structs.go (Job/TaskGroup/Task.Validate and the
block validators) and nomad/job_endpoint_hooks.go jobValidate; the multierror layout is
hashicorp/go-multierror's ListFormatFunc as asserted in Nomad's
nomad/host_volume_endpoint_test.go.
"""

from __future__ import annotations

import copy

import pytest

from sim.errors import ValidationError
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import decode_job
from sim.structs.duration import format_go_duration, parse_go_duration
from sim.structs.validate.job import (
    format_multierror,
    format_warnings,
    job_warnings,
    validate_job,
    validate_job_update,
)

S = 1_000_000_000
M = 60 * S

BASE = {
    "ID": "web",
    "Name": "web",
    "Type": "service",
    "Datacenters": ["dc1"],
    "TaskGroups": [
        {
            "Name": "web",
            "Count": 1,
            "Tasks": [{"Name": "app", "Driver": "docker", "Resources": {"CPU": 100, "MemoryMB": 128}}],
        }
    ],
}


def multi(*msgs: str) -> str:
    """go-multierror's ListFormatFunc, written out independently of the implementation."""
    if len(msgs) == 1:
        return f"1 error occurred:\n\t* {msgs[0]}\n\n"
    return f"{len(msgs)} errors occurred:\n\t" + "\n\t".join(f"* {m}" for m in msgs) + "\n\n"


def G(*msgs: str) -> str:
    return "Task group web validation failed: " + multi(*msgs)


def T(*msgs: str) -> str:
    return "Task app validation failed: " + multi(*msgs)


def C(n: int, *msgs: str) -> str:
    return f"Constraint {n} validation failed: " + multi(*msgs)


def build(mutate=None) -> dict:
    data = copy.deepcopy(BASE)
    if mutate:
        mutate(data)
    return data


def check(data: dict, **kw) -> None:
    job = decode_job(data)
    canonicalize(job)
    validate_job(job, **kw)


def errors_of(data: dict, **kw) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        check(data, **kw)
    return info.value


def tg(d):
    return d["TaskGroups"][0]


def task(d):
    return d["TaskGroups"][0]["Tasks"][0]


def setk(getter, key, value):
    def mutate(d):
        getter(d)[key] = value
    return mutate


def job_set(**kv):
    return lambda d: d.update(kv)


def group_set(**kv):
    return lambda d: tg(d).update(kv)


def task_set(**kv):
    return lambda d: task(d).update(kv)


def res_set(**kv):
    return lambda d: task(d)["Resources"].update(kv)


def constraint(lt="${attr.kernel.name}", r="linux", op="="):
    return {"LTarget": lt, "RTarget": r, "Operand": op}


def batch(**group_kv):
    def mutate(d):
        d["Type"] = "batch"
        tg(d).update(group_kv)
    return mutate


def system(**job_kv):
    def mutate(d):
        d["Type"] = "system"
        d.update(job_kv)
    return mutate


def both(*mutations):
    def mutate(d):
        for m in mutations:
            m(d)
    return mutate


CASES = [
    # --- job level (structs.Job.Validate) ---
    ("missing-id", job_set(ID=""), multi("Missing job ID")),
    ("id-space", job_set(ID="a b"), multi("Job ID contains a space")),
    ("id-null", job_set(ID="a\x00b"), multi("Job ID contains a null character")),
    ("missing-name", job_set(Name=""), multi("Missing job name")),
    ("name-null", job_set(Name="w\x00"), multi("Job Name contains a null character")),
    ("missing-type", job_set(Type=""), multi("Missing job type")),
    ("invalid-type", job_set(Type="foo"), multi('Invalid job type: "foo"')),
    ("empty-datacenter", job_set(Datacenters=["dc1", ""]), multi("Job datacenter must be non-empty string")),
    ("no-groups", job_set(TaskGroups=[]), multi("Missing job task groups")),
    ("group-redefined", lambda d: d["TaskGroups"].append(copy.deepcopy(tg(d))),
     multi("Job task group 2 redefines 'web' from group 1")),
    ("group-missing-name", group_set(Name=""),
     multi("Job task group 1 missing name", "Task group  validation failed: " + multi("Missing task group name"))),
    ("system-count", system(TaskGroups=[dict(BASE["TaskGroups"][0], Count=2)]),
     multi("Job task group web has count 2. Count cannot exceed 1 with system scheduler")),
    ("system-affinity", system(Affinities=[{"LTarget": "${node.class}", "RTarget": "a", "Operand": "="}]),
     multi("System jobs may not have an affinity block")),
    ("system-spread", system(Spreads=[{"Attribute": "${node.datacenter}"}]),
     multi("System jobs may not have a spread block")),
    ("periodic-service", job_set(Periodic={"Spec": "* * * * *"}),
     multi('Periodic can only be used with "batch" or "sysbatch" scheduler')),
    ("parameterized-service", job_set(ParameterizedJob={}),
     multi('Parameterized job can only be used with "batch" or "sysbatch" scheduler')),
    ("periodic-two-specs", both(batch(), job_set(Periodic={"Spec": "* * * * *", "Specs": ["@daily"]})),
     multi(multi("Only cron or crons may be used"))),
    ("periodic-no-spec", both(batch(), job_set(Periodic={})), multi(multi("Must specify a spec"))),
    ("periodic-time-zone", both(batch(), job_set(Periodic={"Spec": "@daily", "TimeZone": "Mars/Base"})),
     multi(multi('Invalid time zone "Mars/Base": unknown time zone Mars/Base'))),
    ("periodic-spec-type", both(batch(), job_set(Periodic={"Spec": "@daily", "SpecType": "foo"})),
     multi(multi('Unknown periodic specification type "foo"'))),
    ("periodic-bad-cron", both(batch(), job_set(Periodic={"Spec": "61 * * * *"})),
     multi(multi("Invalid cron spec \"61 * * * *\": syntax error in minute field: '61'"))),
    ("parameterized-payload", both(batch(), job_set(ParameterizedJob={"Payload": "sometimes"})),
     multi(multi('Unknown payload requirement: "sometimes"'))),
    ("parameterized-meta", both(batch(), job_set(ParameterizedJob={"MetaRequired": ["a", "b"], "MetaOptional": ["b"]})),
     multi(multi("Required and optional meta keys should be disjoint. Following keys exist in both: [b]"))),
    # --- admission hook (jobValidate) ---
    ("core-type", job_set(Type="_core"), multi("job type cannot be core")),
    ("payload", job_set(Payload="aGk="), multi("job can't be submitted with a payload, only dispatched")),
    ("priority-high", job_set(Priority=101), multi("job priority must be between [1, 100]")),
    ("priority-negative", job_set(Priority=-5), multi("job priority must be between [1, 100]")),
    # --- constraints (structs.Constraint.Validate) ---
    ("constraint-no-operand", job_set(Constraints=[constraint(op="")]),
     multi(C(1, "Missing constraint operand", 'Unknown constraint type ""'))),
    ("constraint-unknown", job_set(Constraints=[constraint(), constraint(op="~")]),
     multi(C(2, 'Unknown constraint type "~"'))),
    ("constraint-no-rtarget", job_set(Constraints=[constraint(r="")]), multi(C(1, 'Operator "=" requires an RTarget'))),
    ("constraint-is-set-rtarget", job_set(Constraints=[constraint(op="is_set")]),
     multi(C(1, 'Operator "is_set" does not support an RTarget'))),
    ("constraint-set-contains", job_set(Constraints=[constraint(r="", op="set_contains")]),
     multi(C(1, "Set contains constraint requires an RTarget"))),
    ("constraint-regexp", job_set(Constraints=[constraint(r="(abc", op="regexp")]),
     multi(C(1, "Regular expression failed to compile: error parsing regexp: missing closing ): `(abc`"))),
    ("constraint-version", job_set(Constraints=[constraint(r=">= 1.x", op="version")]),
     multi(C(1, "Version constraint is invalid: malformed constraint: >= 1.x"))),
    ("constraint-semver-pessimistic", job_set(Constraints=[constraint(r="~> 1.0", op="semver")]),
     multi(C(1, "Semver constraint is invalid: Malformed constraint: ~> 1.0"))),
    ("distinct-property-zero", job_set(Constraints=[constraint(r="0", op="distinct_property")]),
     multi(C(1, "Distinct Property must have an allowed count of 1 or greater: 0 < 1"))),
    ("distinct-property-text", job_set(Constraints=[constraint(r="abc", op="distinct_property")]),
     multi(C(1, 'Failed to convert RTarget "abc" to uint64: strconv.ParseUint: parsing "abc": invalid syntax'))),
    ("constraint-no-ltarget", job_set(Constraints=[constraint(lt="")]),
     multi(C(1, "no attribute provided but is required by operator"))),
    ("constraint-bad-target", job_set(Constraints=[constraint(lt="${foo.bar}")]),
     multi(C(1, 'unsupported attribute "${foo.bar}"'))),
    ("constraint-no-brace", job_set(Constraints=[constraint(lt="$attr.x")]),
     multi(C(1, 'attribute "$attr.x" is missing an opening brace'))),
    ("task-distinct-hosts", task_set(Constraints=[{"Operand": "distinct_hosts"}]),
     multi(G(T("Constraint 1 has disallowed Operand at task level: distinct_hosts")))),
    # --- affinities and spreads ---
    ("affinity-zero", job_set(Affinities=[{"LTarget": "${node.class}", "RTarget": "a", "Operand": "=", "Weight": 0}]),
     multi("Affinity 1 validation failed: " + multi("Affinity weight cannot be zero"))),
    ("affinity-range", group_set(Affinities=[{"LTarget": "${node.class}", "RTarget": "a", "Operand": "=", "Weight": 101}]),
     multi(G("Affinity 1 validation failed: " + multi("Affinity weight must be within the range [-100,100]")))),
    ("affinity-operator", task_set(Affinities=[{"LTarget": "${node.class}", "RTarget": "a", "Operand": "~"}]),
     multi(G(T("Affinity 1 validation failed: " + multi('Unknown affinity operator "~"'))))),
    ("affinity-no-ltarget", job_set(Affinities=[{"RTarget": "a", "Operand": "="}]),
     multi("Affinity 1 validation failed: " + multi("No LTarget provided but is required"))),
    ("spread-attribute", job_set(Spreads=[{"Weight": 10}]),
     multi("Spread 1 validation failed: " + multi("Missing spread attribute"))),
    ("spread-weight", group_set(Spreads=[{"Attribute": "${node.datacenter}", "Weight": 0}]),
     multi(G("Spread 1 validation failed: " + multi("Spread block must have a positive weight from 0 to 100")))),
    ("spread-sum", job_set(Spreads=[{"Attribute": "${node.datacenter}", "SpreadTarget": [
        {"Value": "dc1", "Percent": 70}, {"Value": "dc2", "Percent": 50}]}]),
     multi("Spread 1 validation failed: " + multi("Sum of spread target percentages must not be greater than 100%; got 120%"))),
    ("spread-duplicate", job_set(Spreads=[{"Attribute": "${node.datacenter}", "SpreadTarget": [
        {"Value": "dc1", "Percent": 10}, {"Value": "dc1", "Percent": 10}]}]),
     multi("Spread 1 validation failed: " + multi('Spread target value "dc1" already defined'))),
    # --- task group (structs.TaskGroup.Validate) ---
    ("count-negative", group_set(Count=-1), multi(G("Task group count can't be negative"))),
    ("no-tasks", group_set(Tasks=[]), multi(G("Missing tasks for task group"))),
    ("restart-mode", group_set(RestartPolicy={"Mode": "x"}), multi(G('Unsupported restart mode: "x"'))),
    ("restart-ambiguous", group_set(RestartPolicy={"Mode": "delay", "Attempts": 0}),
     multi(G('Restart policy "delay" with 0 attempts is ambiguous'))),
    ("restart-interval", group_set(RestartPolicy={"Interval": S}),
     multi(G("Interval can not be less than 5s (got 1s)",
             "Nomad can't restart the TaskGroup 2 times in an interval of 1s with a delay of 15s"))),
    ("reschedule-delay", group_set(ReschedulePolicy={"Delay": S}), multi(G("Delay cannot be less than 5s (got 1s)"))),
    ("reschedule-function", group_set(ReschedulePolicy={"DelayFunction": "linear"}),
     multi(G('Invalid delay function "linear", must be one of ["constant" "exponential" "fibonacci"]'))),
    ("reschedule-attempts", batch(ReschedulePolicy={"Attempts": 10, "Interval": M, "Delay": 10 * S}),
     multi(G('Nomad can only make 6 attempts in 1m0s with initial delay 10s and delay function "constant"',
             "Set the interval to at least 1m40s to accommodate 10 attempts"))),
    ("reschedule-ambiguous", group_set(ReschedulePolicy={"Attempts": 3, "Interval": 0}),
     multi(G("Interval must be a non zero value if Attempts > 0",
             "Reschedule Policy with Attempts = 3, Interval = 0s, and Unlimited = true is ambiguous",
             "If Attempts >0, Unlimited cannot also be set to true"))),
    ("system-reschedule", both(system(), group_set(ReschedulePolicy={"Attempts": 1})),
     multi(G("System or sysbatch jobs should not have a reschedule policy"))),
    ("disk-small", group_set(EphemeralDisk={"SizeMB": 5}),
     multi(G("minimum DiskMB value is 10; got 5", T(multi("log storage (100 MB) must be less than requested disk capacity (5 MB)"))))),
    ("batch-update", batch(Update={"MaxParallel": 2}), multi(G('Job type "batch" does not allow update block'))),
    ("batch-migrate", batch(Migrate={"MaxParallel": 2}), multi(G('Job type "batch" does not allow migrate block'))),
    ("update-health-check", group_set(Update={"HealthCheck": "x"}), multi(G('Invalid health check given: "x"'))),
    ("update-canary", group_set(Update={"Canary": -1}), multi(G("Canary count can not be less than zero: -1 < 0"))),
    ("update-auto-promote", group_set(Update={"AutoPromote": True}),
     multi(G("Auto Promote requires a Canary count greater than zero"))),
    ("update-min-healthy", group_set(Update={"MinHealthyTime": 10 * M}),
     multi(G("Minimum healthy time must be less than healthy deadline: 10m0s > 5m0s"))),
    ("update-healthy-deadline", group_set(Update={"HealthyDeadline": 15 * M}),
     multi(G("Healthy deadline must be less than progress deadline: 15m0s > 10m0s"))),
    ("update-stagger", group_set(Update={"Stagger": 0}), multi(G("Stagger must be greater than zero: 0s"))),
    ("two-leaders", group_set(Tasks=[
        {"Name": "a", "Driver": "exec", "Leader": True}, {"Name": "b", "Driver": "exec", "Leader": True}]),
     multi(G("Only one task may be marked as leader"))),
    ("no-main-task", group_set(Tasks=[{"Name": "app", "Driver": "exec", "Lifecycle": {"Hook": "prestart"}}]),
     multi(G("Task group web must have at least one main task"))),
    ("task-redefined", group_set(Tasks=[{"Name": "app", "Driver": "exec"}, {"Name": "app", "Driver": "exec"}]),
     multi(G("Task 2 redefines 'app' from task 1"))),
    ("port-label", group_set(Networks=[{"DynamicPorts": [{"Label": "http"}, {"Label": "http"}]}]),
     multi(G("Task group network validation failed: " + multi("Port label http already in use by taskgroup network")))),
    ("static-port", group_set(Networks=[{"ReservedPorts": [{"Label": "a", "Value": 8080}, {"Label": "b", "Value": 8080}]}]),
     multi(G("Task group network validation failed: " + multi("Static port 8080 already reserved by taskgroup network:a")))),
    ("port-range", group_set(Networks=[{"ReservedPorts": [{"Label": "http", "Value": 70000}]}]),
     multi(G("Task group network validation failed: " + multi("Port http (70000) cannot be greater than 65535")))),
    ("scaling-max", group_set(Count=3, Scaling={"Min": 1, "Max": 2}),
     multi(G("Task group scaling policy validation failed: " + multi(
         "Scaling policy invalid: task group count must not be greater than maximum count in scaling policy")))),
    ("service-provider", group_set(Services=[{"Name": "web", "Provider": "etcd"}]),
     multi(G("Task group service validation failed: " + multi(
         "Service[0] web validation failed: " + multi('Service provider must be "consul", or "nomad"; not "etcd"'))))),
    # --- task (structs.Task.Validate) ---
    ("task-alloc", task_set(Name="alloc"),
     multi(G("Task alloc validation failed: " + multi('Task cannot be named "alloc"')))),
    ("task-slash", task_set(Name="a/b"),
     multi(G("Task a/b validation failed: " + multi("Task name cannot include slashes")))),
    ("task-driver", task_set(Driver=""), multi(G(T("Missing task driver")))),
    ("kill-timeout", task_set(KillTimeout=15 * M),
     multi(G(T("KillTimout (15m0s) longer than the group's ProgressDeadline (10m0s)")))),
    ("cpu-zero", res_set(CPU=0), multi(G(T(multi(multi("minimum CPU value is 1; got 0")))))),
    ("cpu-and-cores", res_set(Cores=2), multi(G(T(multi("Task can only ask for 'cpu' or 'cores' resource, not both."))))),
    ("task-disk", res_set(DiskMB=100),
     multi(G(T(multi("Task can't ask for disk resources, they have to be specified at the task group level."))))),
    ("memory-max", res_set(MemoryMaxMB=100), multi(G(T(multi("MemoryMaxMB value (100) should be larger than MemoryMB value (128)"))))),
    ("log-files", task_set(LogConfig={"MaxFiles": 0}), multi(G(T(multi("minimum number of files is 1; got 0"))))),
    ("lifecycle-hook", both(task_set(Lifecycle={"Hook": "bogus"}),
                            lambda d: tg(d)["Tasks"].append({"Name": "main", "Driver": "exec"})),
     multi(G(T("Lifecycle validation failed: invalid hook: bogus")))),
    ("dispatch-escape", task_set(DispatchPayload={"File": "../../../../etc/passwd"}),
     multi(G(T("Dispatch Payload validation failed: destination escapes allocation directory")))),
    ("system-task-affinity", both(system(), task_set(Affinities=[{"LTarget": "${node.class}", "RTarget": "a", "Operand": "="}])),
     multi(G(T("System jobs may not have an affinity block")))),
]


@pytest.mark.parametrize("name,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_validation_message_matches_nomad(name, mutate, expected):
    """Each invalid job is rejected with exactly Nomad's (nested, multierror) message."""
    assert errors_of(build(mutate)).message == expected


def test_base_job_is_valid():
    """The minimal service job used by the table validates."""
    check(build())


def test_all_errors_are_collected_in_nomad_order():
    """Job, hook and group errors are reported together in Nomad's order."""
    err = errors_of(build(both(job_set(ID="", Priority=500), group_set(Count=-1))))
    assert err.message == multi("Missing job ID", G("Task group count can't be negative"),
                                "job priority must be between [1, 100]")
    assert [f for f, _ in err.errors] == ["ID", "TaskGroups[0].Count", "Priority"]


def test_validation_error_field_is_first_leaf_path():
    """ValidationError.field names the first error's field path, errors list every leaf."""
    err = errors_of(build(res_set(CPU=0, MemoryMB=1)))
    assert err.field == "TaskGroups[0].Tasks[0].Resources.CPU"
    assert err.errors == [
        ("TaskGroups[0].Tasks[0].Resources.CPU", "minimum CPU value is 1; got 0"),
        ("TaskGroups[0].Tasks[0].Resources.MemoryMB", "minimum MemoryMB value is 10; got 1"),
    ]


def test_uncanonicalized_job_reports_missing_basics():
    """Without canonicalize the defaults are missing and Nomad's 'missing' checks fire."""
    from sim.structs.job import Job, LogConfig, Resources, Task, TaskGroup

    task_ = Task(name="app", driver="exec", resources=Resources(cpu=100, memory_mb=100),
                 log_config=LogConfig(max_files=1, max_file_size_mb=1))
    job = Job(id="web", name="web", type="service", task_groups=[TaskGroup(name="web", count=1, tasks=[task_])])
    with pytest.raises(ValidationError) as info:
        validate_job(job)
    assert info.value.message == multi(
        "Missing job region", "Job must be in a namespace", "Missing job datacenters",
        G("Task Group web should have a restart policy", "Task Group web should have a reschedule policy",
          "Task Group web should have an ephemeral disk object"),
        "job priority must be between [1, 100]")


def test_total_count_limit_uses_configured_max():
    """The job_max_count hook compares the sum of group counts."""
    err = errors_of(build(group_set(Count=4)), max_count=3)
    assert err.message == multi("total count was greater than configured job_max_count: 4 > 3")


def test_configured_max_priority():
    """The priority range follows the server's job_max_priority."""
    check(build(job_set(Priority=200)), max_priority=1000)
    assert errors_of(build(job_set(Priority=200)), max_priority=150).message == multi(
        "job priority must be between [1, 150]")


def test_multierror_format_literal():
    """format_multierror reproduces go-multierror's text byte for byte."""
    assert format_multierror(["missing name"]) == "1 error occurred:\n\t* missing name\n\n"
    assert format_multierror(["a", 'b: "x"']) == '2 errors occurred:\n\t* a\n\t* b: "x"\n\n'


def test_explicit_zero_reschedule_disables_rescheduling():
    """attempts 0 and unlimited false is a valid 'no rescheduling' policy."""
    check(build(group_set(ReschedulePolicy={"Attempts": 0, "Unlimited": False})))


def test_group_update_max_parallel_zero_is_valid():
    """An update block with max_parallel 0 (no deployments) validates."""
    check(build(group_set(Update={"MaxParallel": 0})))


def test_sysbatch_periodic_parameterized_job_is_valid():
    """Periodic and parameterized blocks are accepted on sysbatch jobs."""
    check(build(job_set(Type="sysbatch", Periodic={"Specs": ["@daily"], "TimeZone": "Europe/Paris"})))
    check(build(job_set(Type="sysbatch", ParameterizedJob={"Payload": "required"})))


def test_exponential_reschedule_with_huge_attempts_is_fast():
    """The attempts check is computed, not looped, once the delay is capped."""
    err = errors_of(build(batch(ReschedulePolicy={
        "Attempts": 2**62, "Interval": 24 * 60 * M, "DelayFunction": "exponential", "MaxDelay": M})))
    assert "Nomad can only make " in err.message
    assert err.message.count("Set the interval to at least") == 1


def test_fibonacci_reschedule_message():
    """A fibonacci policy that cannot fit reports possible attempts and the ceiling."""
    err = errors_of(build(batch(ReschedulePolicy={
        "Attempts": 10, "Interval": 2 * M, "Delay": 5 * S, "DelayFunction": "fibonacci", "MaxDelay": M})))
    assert err.message == multi(G(
        'Nomad can only make 8 attempts in 2m0s with initial delay 5s, delay function "fibonacci", '
        "and delay ceiling 1m0s",
        "Set the interval to at least 4m0s to accommodate 10 attempts"))


def _nomad_exponential(attempts, interval, delay, max_delay):
    """Nomad's viableAttempts "exponential" loop, verbatim in Python."""
    recommended, possible = 0, 0
    for i in range(attempts):
        nxt = 2**i * delay
        if nxt > max_delay:
            recommended += max_delay
        else:
            recommended = nxt
        possible += recommended < interval
    return possible >= attempts, possible, recommended


def _nomad_fibonacci(attempts, interval, delay, max_delay):
    """Nomad's viableAttempts "fibonacci" loop, verbatim in Python."""
    slots, reached = [delay, delay], False
    for i in range(2, attempts):
        if reached:
            nxt = slots[i - 1] + max_delay
        else:
            nxt = slots[i - 1] + slots[i - 2]
            if nxt > max_delay:
                nxt, reached = max_delay, True
        slots.append(nxt)
    if interval >= slots[-1]:
        return True, 0, slots[-1]
    return False, next(i for i, s in enumerate(slots) if s > interval), slots[-1]


@pytest.mark.parametrize("attempts", [0, 1, 2, 5, 9, 17, 40])
@pytest.mark.parametrize("interval_s", [0, 30, 119, 600, 7200])
def test_reschedule_fast_paths_match_nomad_loops(attempts, interval_s):
    """The closed-form attempt counts equal Nomad's loops (scheduler ReschedulePolicy.viableAttempts)."""
    from sim.structs.validate.blocks import _exponential_viable, _fibonacci_viable

    args = (attempts, interval_s * S, 5 * S, 60 * S)
    assert _exponential_viable(*args) == _nomad_exponential(*args)
    ok, possible, recommended = _fibonacci_viable(*args)
    assert (ok, recommended) == _nomad_fibonacci(*args)[::2]
    assert ok or possible == _nomad_fibonacci(*args)[1]


# --- update of an existing job (validateJobUpdate) -------------------------------------------


def canonical(mutate=None):
    job = decode_job(build(mutate))
    canonicalize(job)
    return job


@pytest.mark.parametrize("old,new,message", [
    (None, job_set(Dispatched=True), "job can't be submitted with 'Dispatched' set"),
    (job_set(), job_set(Type="batch"), 'cannot update job from type "service" to "batch"'),
    (batch(), both(batch(), job_set(Periodic={"Spec": "@daily"})), "cannot update non-periodic job to being periodic"),
    (both(batch(), job_set(Periodic={"Spec": "@daily"})), batch(), "cannot update periodic job to being non-periodic"),
    (batch(), both(batch(), job_set(ParameterizedJob={})),
     "cannot update non-parameterized job to being parameterized"),
    (both(batch(), job_set(ParameterizedJob={})), batch(),
     "cannot update parameterized job to being non-parameterized"),
    (job_set(), job_set(Dispatched=True), "field 'Dispatched' is read-only"),
])
def test_validate_job_update_rejections(old, new, message):
    """Nomad: nomad/job_endpoint.go validateJobUpdate messages, plain (no multierror)."""
    with pytest.raises(ValidationError) as info:
        validate_job_update(canonical(old) if old else None, canonical(new))
    assert info.value.message == message


def test_validate_job_update_allows_spec_changes():
    """Changing counts or resources of an existing job is allowed."""
    validate_job_update(canonical(), canonical(group_set(Count=5)))
    validate_job_update(None, canonical())


# --- warnings ---------------------------------------------------------------------------------


def test_warnings_for_services_without_shutdown_delay():
    """A group service with no shutdown_delay anywhere warns as Nomad does."""
    job = canonical(group_set(Services=[{"Name": "web", "PortLabel": "http"}]))
    warnings = job_warnings(job)
    assert warnings == ['group "web" defines services, but neither the group nor any of its tasks '
                        "have shutdown_delay set"]
    assert format_warnings(warnings) == "1 warning:\n\n* " + warnings[0]


def test_warnings_for_cron_memory_max_and_max_parallel():
    """cron deprecation, memory_max without oversubscription and max_parallel > count warn."""
    job = canonical(both(batch(Count=2), job_set(Periodic={"Spec": "@daily"}), res_set(MemoryMaxMB=512)))
    job.task_groups[0].update = canonical(group_set(Count=2, Update={"MaxParallel": 5})).task_groups[0].update
    warnings = job_warnings(job)
    assert warnings[0].startswith('Group "web" has warnings: 1 error occurred:\n\t* Update max parallel count')
    assert "cron is deprecated and may be removed in a future release. Use crons instead" in warnings
    assert warnings[-1] == ('Memory oversubscription is not enabled; Task "web.app" memory_max value will be '
                            "ignored. Update the Scheduler Configuration to allow oversubscription.")
    assert job_warnings(job, memory_oversubscription=True) == warnings[:-1]
    assert format_warnings([]) == ""


# --- Go duration text -------------------------------------------------------------------------


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (1, "1ns"), (1500, "1.5\u00b5s"), (2_500_000, "2.5ms"), (S, "1s"), (90 * S, "1m30s"),
    (5 * M, "5m0s"), (60 * M, "1h0m0s"), (1_500_000_000, "1.5s"), (-S, "-1s"), (26 * 60 * M + S, "26h0m1s"),
])
def test_go_duration_format(ns, text):
    """Durations print as Go's time.Duration.String (Go standard library time_test.go cases)."""
    assert format_go_duration(ns) == text


@pytest.mark.parametrize("text,ns", [("30s", 30 * S), ("1h30m", 90 * M), ("1.5h", 90 * M), ("300ms", S * 3 // 10),
                                     ("-2m", -2 * M), ("0", 0)])
def test_go_duration_parse(text, ns):
    """Go's ParseDuration syntax is accepted."""
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text,message", [("", 'time: invalid duration ""'), ("10", 'time: missing unit in duration "10"'),
                                          ("3x", 'time: unknown unit "x" in duration "3x"')])
def test_go_duration_parse_errors(text, message):
    """Bad durations raise with Go's message."""
    with pytest.raises(ValueError, match=message):
        parse_go_duration(text)
