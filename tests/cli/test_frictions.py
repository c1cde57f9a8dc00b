"""Small frictions a new user met, each fixed: validate decodes every job as registration does,
run prints rejected actions, policy modules are found next to the scenario, a job file is
recognised, time never runs backwards, settle runs what is due at t=0, and every option of
run/validate/show/serve has help text and examples."""

from __future__ import annotations

import sys

import pytest
import requests
import yaml
from conftest import ROOT, tiny_scenario

from sim.cli.main import build_parser, main
from sim.errors import SimError
from sim.simulation import Simulation

BAD_COUNT = {"ID": "web", "Type": "service", "TaskGroups": [{"Name": "g", "Count": "three", "Tasks": [
    {"Name": "t", "Driver": "docker", "Config": {"image": "x"}, "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}
WEB = {"ID": "web", "Type": "service", "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [
    {"Name": "t", "Driver": "docker", "Config": {"image": "x"}, "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}


def _write(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_validate_decodes_every_job_with_the_registration_rules(tmp_path, capsys):
    """`"Count": "three"` fails validate (and run) with Nomad's decoder message, naming the workload entry."""
    scenario = _write(tmp_path / "s.yaml", tiny_scenario(workload=[{"at": 0, "register": BAD_COUNT}]))
    assert main(["validate", scenario]) == 2
    err = capsys.readouterr().err
    assert "workload[0].register" in err and "cannot unmarshal string into Go struct field" in err and "Count" in err
    assert main(["run", scenario, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert not (tmp_path / "out").exists()


def test_validate_applies_nomad_admission_checks(tmp_path, capsys):
    """A job registration would reject (priority out of range) fails validate with Nomad's message."""
    job = {**WEB, "Priority": 500}
    assert main(["validate", _write(tmp_path / "s.yaml", tiny_scenario(workload=[{"at": 0, "register": job}]))]) == 2
    assert "job priority must be between [1, 100]" in capsys.readouterr().err


def test_run_prints_rejected_actions_with_their_messages(tmp_path, capsys):
    param = {**WEB, "ID": "p", "Type": "batch", "ParameterizedJob": {"MetaRequired": ["colour"]}}
    scenario = _write(tmp_path / "s.yaml", tiny_scenario(duration="5m", workload=[
        {"at": 0, "register": param}, {"at": "1m", "dispatch": {"job": "p", "meta": {"size": "s"}}}]))
    assert main(["run", scenario, "--out", str(tmp_path / "out"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "rejected at 60 s: dispatch p: Dispatch request included unpermitted metadata keys: [size]" in err


POLICY = """
import numpy as np
from sim.scheduler.policies import policy

@policy()
def first_rows(nodes, ask):
    return np.where(nodes["row"] < 1, 1.0, -1.0)
"""


@pytest.mark.parametrize("where", ["scenario folder", "current directory"])
def test_policy_modules_are_found_next_to_the_scenario_or_in_the_cwd(tmp_path, monkeypatch, where):
    """The README's `policy: mypolicies:...` works as written, without PYTHONPATH."""
    scenario_dir, cwd = tmp_path / "scen", tmp_path / "cwd"
    scenario_dir.mkdir()
    cwd.mkdir()
    (scenario_dir if where == "scenario folder" else cwd).joinpath("mypolicies_knob.py").write_text(POLICY)
    monkeypatch.chdir(cwd)
    sys.modules.pop("mypolicies_knob", None)
    data = tiny_scenario(duration="5m", workload=[{"at": 0, "register": WEB}],
                         control_plane={"policy": "mypolicies_knob:first_rows"})
    sim = Simulation.from_scenario(_write(scenario_dir / "s.yaml", data))
    sim.run()
    nodes = set(sim.results()["placements"]["node_name"])
    assert nodes == {"node-0"}  # the policy decided: every alloc on the first row
    sys.modules.pop("mypolicies_knob", None)


def test_an_unknown_policy_module_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tiny_scenario(duration="5m", control_plane={"policy": "nosuchmodule_xyz:f"})
    with pytest.raises(SimError, match=r"cannot import module 'nosuchmodule_xyz'.*also looked for nosuchmodule_xyz.py"):
        Simulation.from_scenario(_write(tmp_path / "s.yaml", data))


def test_a_job_file_given_as_scenario_is_recognised(capsys):
    assert main(["run", str(ROOT / "scenarios" / "jobs" / "web.json")]) == 2
    err = capsys.readouterr().err
    assert "this is a Nomad job file, not a scenario" in err and "register:" in err


def test_running_to_a_time_already_passed_raises():
    sim = Simulation.from_scenario(tiny_scenario())
    sim.run(until=600)
    with pytest.raises(SimError, match="already at 600 s"):
        sim.run(until=300)
    sim.run(until=600)  # the present is fine
    assert sim.now == 600


def test_settle_at_t0_runs_the_scenario_s_0s_registrations():
    """In process: settle() at t=0 places the jobs registered at 0 s before it answers."""
    sim = Simulation.from_scenario(tiny_scenario(workload=[{"at": 0, "register": WEB}]))
    assert sim.settle(60) is True
    assert [j["ID"] for j in sim.api.list_jobs()] == ["web"]
    assert len(sim.api.job_allocations("web")) == 2


def test_http_settle_at_t0_runs_the_scenario_s_0s_registrations(tmp_path):
    from api.support import start_server, stop_server

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_scenario(workload=[{"at": 0, "register": WEB}])))
    proc, url = start_server(path)
    try:
        out = requests.post(url + "/v1/sim/settle", json={"MaxSeconds": 60}, timeout=30).json()
        assert out["Settled"] is True
        allocs = requests.get(url + "/v1/job/web/allocations", timeout=10).json()
        assert len(allocs) == 2
    finally:
        stop_server(proc)


@pytest.mark.parametrize("command", ["run", "validate", "show", "serve"])
def test_every_option_has_help_text_and_the_command_has_examples(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"{command} {action.option_strings or action.dest}: no help text"
    assert "examples:" in sub.format_help() and f"nomadsim {command}" in sub.format_help()


def test_readme_setup_commands_are_unchanged():
    """The two setup commands of the README stay as they are (the quick start depends on them)."""
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[dev]" && nomadsim run scenarios/quickstart.yaml' in readme
    assert 'pip install -e ".[dev]" && pytest' in readme
