"""Tests of the `nomadsim` command: run, validate, show, and one-line errors for bad scenarios."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from sim.cli.main import main

JOBS = ROOT / "scenarios" / "jobs"
TRACE = ROOT / "scenarios" / "traces" / "alibaba-2017-batch-tasks.csv"
BASE: dict[str, Any] = {
    "name": "cli",
    "seed": 3,
    "duration": "10m",
    "cluster": {"nodes": [{"count": 3, "resources": {"cpu": 4000, "memory": 4096}, "meta": {"rack": "r1"},
                           "rack": "meta.rack"}]},
    "workload": [
        {"at": "0s", "register": "jobs/web.json"},
        {"at": "30s", "register": "jobs/batch.json"},
        {"at": "2m", "update": {"job": "web", "set": {"TaskGroups.frontend.Count": 2}}},
    ],
    "task_behavior": [{"match": {"job": "report"}, "runtime": "1m"}],
}


def write(tmp_path: Path, data: Any, name: str = "s.yaml") -> Path:
    """A scenario file (text or mapping) next to a copy of the sample job files."""
    if not (tmp_path / "jobs").exists():
        shutil.copytree(JOBS, tmp_path / "jobs")
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `nomadsim ARGS` in process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_the_results_folder(tmp_path, capsys):
    """run with --seed, --until, --set and --csv: tables, CSV, summary and run facts, then a summary table."""
    out = tmp_path / "res"
    code, stdout, _ = cli(capsys, "run", write(tmp_path, BASE), "--seed", 7, "--until", "5m", "--out", out,
                          "--set", "control_plane.num_schedulers=1", "--csv", "--quiet")
    assert code == 0 and "placement_latency_p95" in stdout
    run = json.loads((out / "run.json").read_text())
    assert (run["status"], run["seed"], run["until"], run["rejected_actions"]) == ("complete", 7, 300.0, [])
    assert run["package_version"]
    scenario = json.loads((out / "scenario.json").read_text())
    assert scenario["seed"] == 7 and scenario["control_plane"]["num_schedulers"] == 1
    for table in ("placements", "evaluations", "allocations", "jobs", "cluster", "node_usage"):
        assert (out / f"{table}.parquet").exists() and (out / f"{table}.csv").exists()
    schema = json.loads((out / "schema.json").read_text())
    assert schema["jobs"][0] == {"column": "job_id", "dtype": "string", "unit": "", "meaning": "job ID"}
    assert json.loads((out / "summary.json").read_text())["placements"] >= 4


def test_default_folder_is_results_name_seed(tmp_path, capsys, monkeypatch):
    """Without --out the folder is <results>/<scenario name>-<seed>."""
    monkeypatch.chdir(tmp_path)
    code, _, _ = cli(capsys, "run", write(tmp_path, BASE), "--until", "1m", "--quiet")
    assert code == 0 and (tmp_path / "results" / "cli-3" / "summary.json").exists()


def test_rerunning_scenario_json_repeats_the_run(tmp_path, capsys):
    """The resolved scenario a run writes runs again to the same tables."""
    first, second = tmp_path / "a", tmp_path / "b"
    assert cli(capsys, "run", write(tmp_path, BASE), "--seed", 5, "--out", first, "--quiet")[0] == 0
    assert cli(capsys, "run", first / "scenario.json", "--out", second, "--quiet")[0] == 0
    assert (first / "placements.parquet").read_bytes() == (second / "placements.parquet").read_bytes()
    assert (first / "summary.json").read_text() == (second / "summary.json").read_text()


def test_validate_and_show(tmp_path, capsys):
    """validate reports the scenario's size; show prints a results folder's summary."""
    path = write(tmp_path, BASE)
    code, stdout, _ = cli(capsys, "validate", path)
    assert code == 0 and "ok (3 nodes, 3 workload actions, 0 events)" in stdout
    cli(capsys, "run", path, "--out", tmp_path / "res", "--quiet")
    code, stdout, _ = cli(capsys, "show", tmp_path / "res")
    assert code == 0 and "batch_completion_time_mean" in stdout


def test_failed_run_keeps_its_config_and_error(tmp_path, capsys, monkeypatch):
    """A run that raises still leaves scenario.json and run.json with the error; one line, exit 2."""
    from sim.simulation import Simulation

    def boom(self, until=None):
        raise RuntimeError("the engine broke\nsecond line")

    monkeypatch.setattr(Simulation, "run", boom)
    out = tmp_path / "res"
    code, _, err = cli(capsys, "run", write(tmp_path, BASE), "--out", out, "--quiet")
    assert code == 2 and err.count("\n") == 1 and "run failed: RuntimeError: the engine broke" in err
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and run["error"].startswith("RuntimeError: the engine broke")
    assert "Traceback" in run["traceback"] and (out / "scenario.json").exists()
    assert not (out / "summary.json").exists()
    code, _, err = cli(capsys, "show", out)
    assert code == 2 and "the run failed: RuntimeError" in err


@pytest.mark.parametrize("args, message", [
    (["show", "/nonexistent/folder"], "no such results folder"),
    (["run", "{scenario}", "--until", "soon"], "--until: invalid duration 'soon'"),
    (["run", "{scenario}", "--set", "duration"], "--set expects key=value"),
    (["run", "{scenario}", "--set", "duration=[1"], "--set duration: invalid value"),
    (["validate", "/nonexistent/scenario.yaml"], "cannot read scenario"),
])
def test_bad_command_lines_are_one_line_errors(tmp_path, capsys, args, message):
    """Bad flags and paths: exit 2 and one line on stderr."""
    scenario = write(tmp_path, BASE)
    code, _, err = cli(capsys, *[a.format(scenario=scenario) for a in args])
    assert code == 2 and err.count("\n") == 1 and message in err


def _set(path: str, value: Any):
    def edit(data: dict) -> dict:
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return data
    return edit


PERIODIC_BAD_CRON = {"ID": "p", "Type": "batch", "Periodic": {"Enabled": True, "SpecType": "cron", "Spec": "61 * * * *"},
                     "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "x"}}]}]}

MALFORMED = [
    ("wrong type", _set("cluster.nodes.0.count", "three"), "cluster.nodes[0].count"),
    ("unknown top-level key", _set("durration", "1h"), "durration"),
    ("unknown resource key", _set("cluster.nodes.0.resources.cpus", 4), "cluster.nodes[0].resources.cpus"),
    ("negative count", _set("cluster.nodes.0.count", -1), "cluster.nodes[0].count"),
    ("bad duration", _set("duration", "10 minutes"), "duration"),
    ("negative duration", _set("duration", -5), "duration"),
    ("bad action time", _set("workload.0.at", "soon"), "workload[0].at"),
    ("missing job file", _set("workload.0.register", "jobs/nope.json"), "workload[0].register"),
    ("missing trace file", _set("workload.2", {"trace": {"format": "alibaba2017", "path": "nope.csv"}}),
     "workload[2].trace.path"),
    ("bad cron", _set("workload.1.register", PERIODIC_BAD_CRON), "workload[1].register.Periodic.Spec"),
    ("unknown distribution", _set("task_behavior.0.runtime", {"dist": "gaussian", "mean": 5}),
     "task_behavior[0].runtime.dist"),
    ("unknown node", _set("events", [{"at": "1m", "node_down": "node-99"}]), "events[0].node_down"),
    ("update of unknown job", _set("workload.2.update.job", "wbe"), "workload[2].update.job"),
    ("zero sample period", _set("metrics", {"sample_every": 0}), "metrics.sample_every"),
    ("reserved over capacity", _set("cluster.nodes.0.reserved", {"cpu": 5000}), "cluster.nodes[0].reserved.cpu"),
    ("bad rate", _set("workload.2", {"generate": {"rate": "fast", "template": "jobs/batch.json"}}),
     "workload[2].generate.rate"),
    ("unknown algorithm", _set("control_plane", {"scheduler_algorithm": "random"}), "control_plane.scheduler_algorithm"),
    ("after cycle", lambda d: (d["workload"][0].update(after=["report"]), d["workload"][1].update(after=["web"]), d)[-1],
     "workload[0].after"),
    ("fraction over one", _set("events", [{"at": "1m", "drain_fraction": {"fraction": 1.5}}]),
     "events[0].drain_fraction.fraction"),
    ("missing cluster", lambda d: {k: v for k, v in d.items() if k != "cluster"}, "cluster"),
    ("bad start time", _set("start_time", "yesterday"), "start_time"),
    ("bad reserved ports", _set("cluster.nodes.0.reserved", {"ports": "ssh"}), "cluster.nodes[0].reserved.ports"),
]


@pytest.mark.parametrize("edit, key", [pytest.param(e, k, id=name) for name, e, k in MALFORMED])
def test_malformed_scenarios_give_one_clear_line(tmp_path, capsys, edit, key):
    """Each malformed scenario: validate and run exit 2 with one stderr line naming the file, line and key path."""
    path = write(tmp_path, edit(copy.deepcopy(BASE)))
    for command in (["validate", path], ["run", path, "--out", tmp_path / "res", "--quiet"]):
        code, stdout, err = cli(capsys, *command)
        assert code == 2 and stdout == "" and err.count("\n") == 1, err
        assert err.startswith(f"nomadsim: error: {path}:") and f" {key}: " in err, err
    assert not (tmp_path / "res").exists()


def test_invalid_yaml_names_the_line(tmp_path, capsys):
    """A YAML syntax error points at its line."""
    path = write(tmp_path, "name: x\ncluster: [\n  nodes: 1\n")
    code, _, err = cli(capsys, "validate", path)
    assert code == 2 and f"{path}:" in err and "invalid YAML" in err


def test_console_script_prints_no_traceback(tmp_path):
    """Through the installed entry point, a bad scenario is one line on stderr and exit 2."""
    path = write(tmp_path, _set("duration", "forever")(copy.deepcopy(BASE)))
    script = Path(sys.executable).with_name("nomadsim")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "sim"]
    proc = subprocess.run([*cmd, "run", str(path), "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "duration: expected a duration" in proc.stderr and "'forever'" in proc.stderr
