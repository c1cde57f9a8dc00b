"""Tests of sim.scenario.load: loading, defaults, the resolved form, and one error per bad scenario."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sim.errors import ScenarioError
from sim.scenario.actions import Dispatch, DispatchGenerate, Generate, Register, TraceSpec, Update
from sim.scenario.load import (
    apply_set,
    load_scenario,
    parse_duration,
    parse_rate,
    parse_time,
    schema,
)
from sim.scenario.types import DomainEvent, DrainFraction, NodeEvent, RandomFailures

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
SAMPLES = sorted(SCENARIOS.glob("*.yaml"))

BASE: dict[str, Any] = {
    "name": "t",
    "seed": 1,
    "duration": "1h",
    "cluster": {
        "nodes": [
            {"count": 3, "resources": {"cpu": 4000, "memory": 4096}, "meta": {"rack": "r1"}, "rack": "meta.rack"},
            {"count": 2, "name_prefix": "big", "node_class": "big", "resources": {"cpu": 8000, "memory": 8192}},
        ]
    },
    "workload": [
        {"at": "0s", "register": "jobs/web.json"},
        {"at": "1m", "register": "jobs/thumbnailer.json"},
        {"at": "5m", "update": {"job": "web", "set": {"TaskGroups.frontend.Count": 5}}},
    ],
}


def write(tmp_path: Path, data: Any, name: str = "s.yaml") -> Path:
    """Write a scenario (and the sample job files it may reference) into tmp_path."""
    jobs = tmp_path / "jobs"
    if not jobs.exists():
        shutil.copytree(SCENARIOS / "jobs", jobs)
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, data: Any) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, data))
    return info.value


def test_sample_scenarios_all_validate():
    """Every scenario in scenarios/ loads."""
    assert len(SAMPLES) >= 7
    for path in SAMPLES:
        scenario = load_scenario(path)
        assert scenario.name == path.stem and scenario.duration > 0


def test_sample_scenarios_round_trip_through_to_dict():
    """to_dict gives a scenario that loads back equal (job files inlined)."""
    for path in SAMPLES:
        scenario = load_scenario(path)
        again = load_scenario(scenario.to_dict())
        assert again == scenario and again.to_dict() == scenario.to_dict()


def test_minimal_design_scenario_keeps_its_meaning(tmp_path):
    """The minimal scenario of docs/architecture.md#scenario-format: 10 nodes named node-0..9 with the given resources."""
    s = load_scenario(SCENARIOS / "quickstart.yaml")
    group = s.cluster.nodes[0]
    assert (s.name, s.seed, s.duration) == ("quickstart", 1, 3600.0)
    assert s.node_names() == [f"node-{i}" for i in range(10)]
    assert (group.resources.cpu, group.resources.memory, group.resources.disk) == (14000, 8192, 102400)
    assert (group.reserved.cpu, group.reserved.memory, group.reserved.ports) == (100, 256, "22")
    assert group.attributes == {"kernel.name": "linux", "arch": "x86"} and group.drivers == ("docker", "exec")
    first = s.workload[0]
    assert isinstance(first, Register) and first.at == 0 and first.source.job["ID"] == "web"


def test_defaults_are_filled_in(tmp_path):
    """Omitted keys get the documented defaults."""
    s = load_scenario(write(tmp_path, {"duration": 60, "cluster": {"nodes": [{"count": 1, "resources": {"cpu": 1, "memory": 1}}]}}))
    g, cp = s.cluster.nodes[0], s.control_plane
    assert (s.name, s.seed, s.start_time) == ("s", 0, 1767225600.0)
    assert (g.name_prefix, g.datacenter, g.node_class, g.node_pool) == ("node", "dc1", "", "default")
    assert g.resources.disk == 102400 and g.drivers == ("docker", "exec", "raw_exec")
    assert (g.port_range.min, g.port_range.max) == (20000, 32000)
    assert (cp.num_schedulers, cp.think_time.base, cp.think_time.per_placement) == (2, 0.005, 0.0001)
    assert (cp.plan_apply_latency, cp.heartbeat_ttl, cp.heartbeat_grace, cp.nack_timeout) == (0.002, 10, 10, 60)
    assert (cp.eval_delivery_limit, cp.scheduler_algorithm, cp.job_tracked_versions) == (3, "binpack", 6)
    assert cp.preemption.system and not (cp.preemption.batch or cp.preemption.service or cp.preemption.sysbatch)
    assert s.metrics.sample_every == 10.0 and s.metrics.tables is None


def test_attribute_and_meta_values_become_strings(tmp_path):
    """Numbers and booleans in attributes/meta are coerced to strings as Nomad stores them."""
    data = copy.deepcopy(BASE)
    data["cluster"]["nodes"][0]["attributes"] = {"cpu.numcores": 8, "kernel.version": 5.15, "x": True}
    g = load_scenario(write(tmp_path, data)).cluster.nodes[0]
    assert g.attributes == {"cpu.numcores": "8", "kernel.version": "5.15", "x": "true"}


def test_node_names_continue_across_groups_with_one_prefix(tmp_path):
    """Two groups sharing a prefix number their nodes on, so names stay unique."""
    data = copy.deepcopy(BASE)
    data["cluster"]["nodes"][1]["name_prefix"] = "node"
    assert load_scenario(write(tmp_path, data)).node_names() == [f"node-{i}" for i in range(5)]


def test_domains_are_racks_then_datacenters(tmp_path):
    """Failure domains come from the rack field and from datacenters."""
    s = load_scenario(write(tmp_path, BASE))
    assert s.cluster.domains() == {"r1": ["node-0", "node-1", "node-2"], "dc1": s.node_names()}


def test_workload_actions_are_typed(tmp_path):
    """Each workload item becomes its action dataclass, with times in seconds."""
    data = copy.deepcopy(BASE)
    data["workload"] += [
        {"at": "2m", "dispatch": {"job": "thumbnailer", "meta": {"size": 64}}},
        {"dispatch_generate": {"job": "thumbnailer", "rate": "60/h", "start": "2m", "count": 5}},
        {"at": "10s", "generate": {"rate": 0.5, "template": "jobs/worker-template.json", "distributions": {"runtime": "3m"}}},
    ]
    s = load_scenario(write(tmp_path, data))
    update, dispatch, dgen, gen = s.workload[2:]
    assert isinstance(update, Update) and update.at == 300 and update.set == {"TaskGroups.frontend.Count": 5}
    assert isinstance(dispatch, Dispatch) and dispatch.meta == {"size": "64"}
    assert isinstance(dgen, DispatchGenerate) and (dgen.start, dgen.stop, dgen.rate, dgen.count) == (120, 3600, 60 / 3600, 5)
    assert isinstance(gen, Generate) and (gen.start, gen.stop, gen.rate, gen.id_prefix) == (10, 3600, 0.5, "worker")
    assert gen.distributions["runtime"].param("value") == 180.0


def test_hcl_register_keeps_the_path_and_reads_the_job_id(tmp_path):
    """An HCL job is stored as a path for later parsing; its ID comes from the job label."""
    (tmp_path / "p.nomad").write_text('job "periodic" {\n  type = "batch"\n}\n', encoding="utf-8")
    data = copy.deepcopy(BASE)
    data["workload"] = [{"at": 0, "register": "p.nomad"}, {"at": 60, "deregister": {"job": "periodic", "purge": True}}]
    source = load_scenario(write(tmp_path, data)).workload[0].source
    assert source.is_hcl and source.path == str((tmp_path / "p.nomad").resolve()) and source.job_id == "periodic"


def test_wrapped_and_inline_jobs_are_unwrapped(tmp_path):
    """A {"Job": ...} wrapper is removed both from files and inline jobs."""
    data = copy.deepcopy(BASE)
    inline = {"ID": "inline", "Type": "batch", "TaskGroups": [{"Name": "g", "Tasks": [
        {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}
    data["workload"].append({"at": 0, "register": {"Job": inline}})
    s = load_scenario(write(tmp_path, data))
    assert s.workload[0].source.job["ID"] == "web" and s.workload[3].source.job == inline


def test_events_are_typed_with_drain_deadline_default(tmp_path):
    """Events become NodeEvent/DomainEvent/RandomFailures/DrainFraction; drains default to 1h."""
    data = copy.deepcopy(BASE)
    data["events"] = [
        {"at": "1m", "node_down": "node-0"},
        {"at": "2m", "node_drain": ["big-0", "big-1"]},
        {"at": "3m", "domain_down": "r1"},
        {"random_failures": {"mtbf": "10h", "mttr": "5m"}},
        {"at": "4m", "drain_fraction": {"node_class": "big", "fraction": 0.5}},
    ]
    down, drain, dom, rnd, frac = load_scenario(write(tmp_path, data)).events
    assert down == NodeEvent(60, "down", ("node-0",)) and drain == NodeEvent(120, "drain", ("big-0", "big-1"), 3600)
    assert dom == DomainEvent(180, "down", "r1") and rnd == RandomFailures(36000, 300, 0, 3600)
    assert frac == DrainFraction(240, 0.5, "big", 3600)


def test_task_behavior_first_match_wins(tmp_path):
    """behavior_for returns the first rule whose globs all match."""
    data = copy.deepcopy(BASE)
    data["task_behavior"] = [
        {"match": {"image": "*-bad"}, "fail_health": True},
        {"match": {"job": "web*", "task": "nginx"}, "runtime": {"dist": "uniform", "low": "1m", "high": "2m"}},
        {"runtime": "30s", "exit_code": 2},
    ]
    s = load_scenario(write(tmp_path, data))
    assert s.behavior_for("web", "frontend", "nginx", "api:1-bad").fail_health
    assert s.behavior_for("web", "frontend", "nginx", "nginx:1").runtime.to_dict() == {"dist": "uniform", "low": 60.0, "high": 120.0}
    assert s.behavior_for("other", "g", "t").exit_code == 2


def test_overrides_are_yaml_parsed_and_applied_before_validation(tmp_path):
    """--set style overrides change values, lists by index, and create missing mappings."""
    path = write(tmp_path, BASE)
    s = load_scenario(path, {"seed": "42", "cluster.nodes[1].count": "7", "control_plane.think_time.base": "1ms", "metrics.tables": "[allocations]"})
    assert s.seed == 42 and s.cluster.nodes[1].count == 7 and s.control_plane.think_time.base == 0.001
    assert s.metrics.tables == ("allocations",)


def test_control_plane_maps_to_the_server_config(tmp_path):
    """ControlPlane.to_config carries every scenario knob into ControlPlaneConfig."""
    data = copy.deepcopy(BASE)
    data["control_plane"] = {"num_schedulers": 4, "nack_timeout": "30s", "preemption": {"batch": True}, "policy": "pkg.mod:score"}
    config = load_scenario(write(tmp_path, data)).control_plane.to_config()
    assert (config.num_schedulers, config.eval_nack_timeout, config.policy) == (4, 30.0, "pkg.mod:score")
    assert config.preemption == {"system": True, "batch": True, "service": False, "sysbatch": False}


def test_trace_action_loads_submissions_from_the_scenario_start(tmp_path):
    """A trace action resolves its path and loads submissions offset by `at`."""
    data = copy.deepcopy(BASE)
    data["workload"] = [{"at": "10s", "trace": {"format": "alibaba2017", "path": str(SCENARIOS / "traces/alibaba-2017-batch-tasks.csv"), "limit": 3}}]
    action = load_scenario(write(tmp_path, data)).workload[0]
    assert isinstance(action, TraceSpec)
    subs = action.load()
    assert len(subs) == 3 and subs[0].offset == 10.0


def test_parse_duration_units():
    """Durations accept ms/s/m/h/d, compounds and plain numbers."""
    assert [parse_duration(v) for v in ("500ms", "90s", "15m", "2h", "1d", "1h30m", 42, "7", 1.5)] == [
        0.5, 90.0, 900.0, 7200.0, 86400.0, 5400.0, 42.0, 7.0, 1.5]
    for bad in ("", "5x", "-1s", -1, True, "m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_parse_rate_and_time():
    """Rates are per second; RFC 3339 times become Unix seconds."""
    assert (parse_rate(2), parse_rate("120/h"), parse_rate("3/m")) == (2.0, 120 / 3600, 0.05)
    assert parse_time("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_time("2026-01-01T01:00:00+01:00") == 1767225600.0


def test_apply_set_by_name_and_index():
    """apply_set walks lists by index or Name and leaves the input unchanged."""
    job = {"TaskGroups": [{"Name": "web", "Count": 1, "Tasks": [{"Name": "t", "Config": {}}]}]}
    out = apply_set(job, "TaskGroups.web.Tasks[0].Config.image", "x:1")
    out = apply_set(out, "TaskGroups.0.Count", 3)
    assert out["TaskGroups"][0]["Count"] == 3 and out["TaskGroups"][0]["Tasks"][0]["Config"]["image"] == "x:1"
    assert job["TaskGroups"][0]["Count"] == 1
    with pytest.raises(KeyError):
        apply_set(job, "TaskGroups.api.Count", 2)


def test_published_schema_is_valid_json_schema():
    """The packaged schema is a valid Draft 2020-12 schema."""
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema())


def test_error_names_file_and_line(tmp_path):
    """A schema error carries the file, the key path and the line of the key."""
    data = copy.deepcopy(BASE)
    data["cluster"]["nodes"][1]["count"] = -1
    path = write(tmp_path, data)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "count: -1" in text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert (err.path, err.file, err.line) == ("cluster.nodes[1].count", str(path), line)
    assert str(err).startswith(f"{path}:{line}: cluster.nodes[1].count: must be >= 0")


def _with(path: str, value: Any) -> Any:
    """A mutation of BASE setting `path` (dotted, list indexes as numbers); value None deletes."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key = int(last) if isinstance(node, list) else last
        if value is None:
            del node[key]
        elif isinstance(node, list) and key == len(node):
            node.append(value)
        else:
            node[key] = value

    return mutate


REG_CRON = {"at": 0, "register": {"ID": "p", "Type": "batch", "Periodic": {"Spec": "61 * * * *"}}}
MALFORMED = [
    ("wrong type", _with("seed", "one"), "seed", "expected an integer"),
    ("unknown top key", _with("durration", "1h"), "durration", "did you mean 'duration'"),
    ("unknown nested key", _with("cluster.nodes.0.resourcs", {}), "cluster.nodes[0].resourcs", "did you mean 'resources'"),
    ("negative count", _with("cluster.nodes.0.count", -2), "cluster.nodes[0].count", "must be >= 0"),
    ("bad duration", _with("duration", "10 minutes"), "duration", "expected a duration"),
    ("zero duration", _with("duration", 0), "duration", "greater than zero"),
    ("missing cluster", _with("cluster", None), "cluster", "required key 'cluster' is missing"),
    ("missing cpu", _with("cluster.nodes.0.resources", {"memory": 1}), "cluster.nodes[0].resources.cpu", "missing"),
    ("reserved too large", _with("cluster.nodes.0.reserved", {"memory": 9000}), "cluster.nodes[0].reserved.memory", "exceeds"),
    ("bad port spec", _with("cluster.nodes.0.reserved", {"ports": "22-10"}), "cluster.nodes[0].reserved.ports", "invalid port spec"),
    ("port out of range", _with("cluster.nodes.0.reserved", {"ports": "70000"}), "cluster.nodes[0].reserved.ports", "ports must be"),
    ("port range inverted", _with("cluster.nodes.0.port_range", {"min": 30000, "max": 20000}), "cluster.nodes[0].port_range.max", "must be >="),
    ("rack without value", _with("cluster.nodes.0.meta", {}), "cluster.nodes[0].rack", "no value"),
    ("rack bad field", _with("cluster.nodes.0.rack", "shelf"), "cluster.nodes[0].rack", "invalid rack field"),
    ("attribute list", _with("cluster.nodes.0.attributes", {"x": [1]}), "cluster.nodes[0].attributes.x", "expected"),
    ("missing job file", _with("workload.0.register", "jobs/missing.json"), "workload[0].register", "file not found"),
    ("missing hcl file", _with("workload.0.register", "jobs/missing.nomad"), "workload[0].register", "file not found"),
    ("unsupported job file", _with("workload.0.register", "jobs/web.txt"), "workload[0].register", "unsupported job file"),
    ("job without ID", _with("workload.0.register", {"Type": "batch"}), "workload[0].register", "no ID"),
    ("bad cron", _with("workload.3", REG_CRON), "workload[3].register.Periodic.Spec", "Invalid cron spec"),
    ("two actions", _with("workload.0.promote", {"job": "web"}), "workload[0]", "exactly one of"),
    ("no action", _with("workload.0", {"at": 0}), "workload[0]", "exactly one of"),
    ("update without at", _with("workload.2.at", None), "workload[2].at", "'at' is missing"),
    ("update unknown job", _with("workload.2.update.job", "wbe"), "workload[2].update.job", "did you mean 'web'"),
    ("update before register", _with("workload.0.at", "10m"), "workload[2].update.job", "after this action"),
    ("update bad path", _with("workload.2.update.set", {"TaskGroups.api.Count": 1}), "workload[2].update.set.TaskGroups.api.Count", "no such field"),
    ("update empty segment", _with("workload.2.update.set", {"TaskGroups..Count": 1}), "workload[2].update.set.TaskGroups..Count", "invalid job path"),
    ("dispatch non-parameterized", _with("workload.3", {"at": "2m", "dispatch": {"job": "web"}}), "workload[3].dispatch.job", "not a parameterized job"),
    ("revert negative version", _with("workload.3", {"at": 0, "revert": {"job": "web", "version": -1}}), "workload[3].revert.version", "must be >= 0"),
    ("after on update", _with("workload.2.after", ["web"]), "workload[2].after", "register only"),
    ("after unknown job", _with("workload.1.after", ["nope"]), "workload[1].after[0]", "not registered"),
    ("after cycle", lambda d: (d["workload"][0].update(after=["thumbnailer"]), d["workload"][1].update(after=["web"])), "workload[0].after", "cycle"),
    ("unknown distribution", _with("task_behavior", [{"runtime": {"dist": "gaussian", "mean": 1}}]), "task_behavior[0].runtime.dist", "must be one of"),
    ("distribution missing param", _with("task_behavior", [{"runtime": {"dist": "uniform", "low": 1}}]), "task_behavior[0].runtime.high", "needs parameter"),
    ("distribution bad param", _with("task_behavior", [{"runtime": {"dist": "exponential", "mean": -3}}]), "task_behavior[0].runtime.mean", "must be > 0"),
    ("behavior unknown match key", _with("task_behavior", [{"match": {"imgae": "x"}}]), "task_behavior[0].match.imgae", "did you mean 'image'"),
    ("generate stop before start", _with("workload.3", {"generate": {"rate": 1, "start": "10m", "stop": "5m", "template": "jobs/web.json"}}), "workload[3].generate.stop", "must be after start"),
    ("generate bad rate", _with("workload.3", {"generate": {"rate": "5 per hour", "template": "jobs/web.json"}}), "workload[3].generate.rate", "expected a rate"),
    ("generate unknown dist key", _with("workload.3", {"generate": {"rate": 1, "template": "jobs/web.json", "distributions": {"cpus": 5}}}), "workload[3].generate.distributions.cpus", "did you mean 'cpu'"),
    ("trace missing file", _with("workload.3", {"trace": {"format": "openb", "path": "nope.csv"}}), "workload[3].trace.path", "file not found"),
    ("trace wrong format", _with("workload.3", {"trace": {"format": "openb", "path": str(SCENARIOS / "traces/alibaba-2017-batch-tasks.csv")}}), "workload[3].trace.path", "not an openb pod list"),
    ("trace unknown format", _with("workload.3", {"trace": {"format": "borg", "path": "x.csv"}}), "workload[3].trace.format", "must be one of"),
    ("event unknown node", _with("events", [{"at": 0, "node_down": ["node-0", "node-9"]}]), "events[0].node_down[1]", "no node named 'node-9'"),
    ("event unknown domain", _with("events", [{"at": 0, "domain_down": "r9"}]), "events[0].domain_down", "no rack or datacenter"),
    ("event deadline misplaced", _with("events", [{"at": 0, "node_up": "node-0", "deadline": "1m"}]), "events[0].deadline", "node_drain only"),
    ("event fraction too large", _with("events", [{"at": 0, "drain_fraction": {"fraction": 1.5}}]), "events[0].drain_fraction.fraction", "must be <= 1"),
    ("event unknown class", _with("events", [{"at": 0, "drain_fraction": {"node_class": "bgi", "fraction": 0.5}}]), "events[0].drain_fraction.node_class", "did you mean 'big'"),
    ("event without at", _with("events", [{"node_down": "node-0"}]), "events[0].at", "'at' is missing"),
    ("random failures zero mtbf", _with("events", [{"random_failures": {"mtbf": 0, "mttr": "1m"}}]), "events[0].random_failures.mtbf", "greater than zero"),
    ("bad enum", _with("control_plane", {"scheduler_algorithm": "binpak"}), "control_plane.scheduler_algorithm", "did you mean 'binpack'"),
    ("bad policy", _with("control_plane", {"policy": "no colon"}), "control_plane.policy", "module:function"),
    ("start time without zone", _with("start_time", "2026-01-01T00:00:00"), "start_time", "no zone"),
    ("zero sample period", _with("metrics", {"sample_every": 0}), "metrics.sample_every", "greater than zero"),
]


@pytest.mark.parametrize("mutate, path, words", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_scenario_gives_one_scenario_error(tmp_path, mutate, path, words):
    """Each malformed scenario raises one ScenarioError naming the key path and the file."""
    data = copy.deepcopy(BASE)
    mutate(data)
    err = load_error(tmp_path, data)
    assert err.path == path, str(err)
    assert words in str(err) and str(err).startswith(str(tmp_path / "s.yaml"))


def test_malformed_job_json_file_is_a_scenario_error(tmp_path):
    """A job file that is not JSON names the register key and the file."""
    write(tmp_path, BASE)
    (tmp_path / "jobs" / "web.json").write_text("{not json", encoding="utf-8")
    err = load_error(tmp_path, BASE)
    assert err.path == "workload[0].register" and "invalid JSON" in str(err)


def test_yaml_syntax_error_has_a_line(tmp_path):
    """Broken YAML is a ScenarioError with the line of the problem."""
    err = load_error(tmp_path, "name: x\ncluster:\n  nodes: [\n")
    assert err.path == "(root)" and err.line is not None and "invalid YAML" in str(err)


def test_duplicate_key_is_an_error(tmp_path):
    """A key written twice in one mapping is rejected at its second line."""
    err = load_error(tmp_path, "duration: 1h\nduration: 2h\n")
    assert (err.path, err.line) == ("duration", 2)


def test_non_mapping_document_is_an_error(tmp_path):
    """A scenario that is not a mapping names the root."""
    assert "expected a mapping" in str(load_error(tmp_path, "- 1\n- 2\n"))


def test_missing_scenario_file_is_an_error(tmp_path):
    """A scenario path that does not exist is a ScenarioError, not an OSError."""
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.yaml")


def test_bad_override_is_an_error(tmp_path):
    """An override through a missing list item names its key."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, BASE), {"cluster.nodes[5].count": "1"})
    assert info.value.path == "cluster.nodes[5].count"


def test_dict_source_resolves_files_against_base_dir(tmp_path):
    """A mapping scenario finds relative job files under base_dir."""
    write(tmp_path, BASE)
    s = load_scenario(BASE, base_dir=tmp_path)
    assert s.file is None and s.workload[0].source.job["ID"] == "web"


def test_inline_job_in_results_is_json_serialisable(tmp_path):
    """to_dict output serialises to JSON (it is written to results)."""
    data = copy.deepcopy(BASE)
    data["task_behavior"] = [{"runtime": {"dist": "choice", "values": [1, 2], "weights": [1, 3]}}]
    text = json.dumps(load_scenario(write(tmp_path, data)).to_dict())
    assert '"choice"' in text and '"web"' in text


def test_semantic_error_has_the_line_of_its_key(tmp_path):
    """Errors found after the schema pass still carry the line of the key they name."""
    data = copy.deepcopy(BASE)
    data["events"] = [{"at": 0, "node_down": "node-7"}]
    path = write(tmp_path, data)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "node_down" in text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert (info.value.path, info.value.line) == ("events[0].node_down", line)


FUZZ_VALUES = [None, -1, 0, 2.5, "x", "", "1h", True, [], {}, [1], {"a": 1}, {"dist": "uniform"}, "jobs/web.json", "node-0", 10**30]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out += _paths(value, prefix + (key,))
    return out


def test_random_mutations_only_ever_raise_scenario_errors(tmp_path):
    """Replacing any value of a valid scenario with junk gives a Scenario or a ScenarioError."""
    write(tmp_path, BASE)
    rng = np.random.default_rng(5)
    outcomes = set()
    for _ in range(300):
        data = copy.deepcopy(BASE)
        paths = [p for p in _paths(data) if p]
        *parents, last = paths[rng.integers(len(paths))]
        node = data
        for key in parents:
            node = node[key]
        node[last] = copy.deepcopy(FUZZ_VALUES[rng.integers(len(FUZZ_VALUES))])
        try:
            load_scenario(data, base_dir=tmp_path)
            outcomes.add("ok")
        except ScenarioError:
            outcomes.add("error")
    assert outcomes == {"ok", "error"}
