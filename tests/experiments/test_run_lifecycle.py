"""Runs lose nothing and overwrite nothing: a results folder is never silently reused, Ctrl-C
keeps the results so far, files are written atomically with run.json flipping to complete last,
`show` and `plot` refuse an incomplete folder, long runs checkpoint, and a run reports its wall
time (run.json only) and simulated span."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, sigint_as_from_a_terminal, tiny_scenario

from sim.cli.main import main
from sim.errors import SimError
from sim.experiments.run import RunInterrupted, run_to_folder
from sim.results import folder as results_folder
from sim.results.folder import read_results, require_complete
from sim.scenario.load import load_scenario

JOB = {"ID": "w", "Type": "batch", "Meta": {"sim.runtime": "3m"}, "TaskGroups": [{"Name": "g", "Count": 3, "Tasks": [
    {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Resources": {"CPU": 500, "MemoryMB": 256}}]}]}
SCENARIO = tiny_scenario(3, duration="1h", workload=[{"at": "1m", "register": JOB},
                                                     {"at": "40m", "register": {**JOB, "ID": "late"}}],
                         metrics={"sample_every": "1m"})


def _scenario():
    return load_scenario(SCENARIO)


def _write(tmp_path: Path) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    return str(path)


def test_a_non_empty_folder_is_refused_unless_forced(tmp_path, capsys):
    """--out naming a folder with results: exit 2, nothing touched; --force replaces the run and its old plots."""
    out = tmp_path / "res"
    assert main(["run", _write(tmp_path), "--out", str(out), "--quiet"]) == 0
    (out / "plots").mkdir()
    (out / "plots" / "old.png").write_bytes(b"png")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert main(["run", _write(tmp_path), "--out", str(out), "--quiet", "--set", "seed=2"]) == 2
    assert "--force" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert main(["run", _write(tmp_path), "--out", str(out), "--quiet", "--set", "seed=2", "--force"]) == 0
    assert not (out / "plots").exists() and json.loads((out / "run.json").read_text())["seed"] == 2


def test_the_default_folder_is_new_for_each_run(tmp_path, capsys):
    """Without --out, a second run of the same scenario and seed goes to <name>-<seed>-2: the README command
    can be run twice and loses nothing."""
    args = ["run", _write(tmp_path), "--results", str(tmp_path / "results"), "--quiet"]
    assert main(args) == 0 and main(args) == 0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["tiny-1", "tiny-1-2"]
    first, second = (tmp_path / "results" / n / "summary.json" for n in ("tiny-1", "tiny-1-2"))
    assert first.read_bytes() == second.read_bytes()


def test_interrupted_run_writes_the_results_so_far(tmp_path):
    """KeyboardInterrupt mid-run: tables and summary up to the time reached, run.json `interrupted`."""
    out = tmp_path / "run"

    def advance(sim, until):
        sim.run(30 * 60)
        raise KeyboardInterrupt

    with pytest.raises(RunInterrupted, match="interrupted at simulated time 1800 s"):
        run_to_folder(_scenario(), out, advance=advance)
    run = json.loads((out / "run.json").read_text())
    assert (run["status"], run["simulated_until"]) == ("interrupted", 1800.0) and run["wall_seconds"] >= 0
    tables = read_results(out)
    assert set(tables["jobs"]["job_id"]) == {"w"}  # `late` (40m) was never reached
    assert (out / "summary.json").exists()
    with pytest.raises(SimError, match="interrupted at simulated time 1800 s"):
        require_complete(out)


def test_show_and_plot_refuse_an_incomplete_folder(tmp_path, capsys):
    """A folder still running (or crashed) or interrupted: show and plot exit 2 with the reason."""
    out = tmp_path / "run"
    run_to_folder(_scenario(), out)
    run = json.loads((out / "run.json").read_text())
    for status, message in (("running", "not complete (status 'running')"), ("interrupted", "interrupted")):
        (out / "run.json").write_text(json.dumps({**run, "status": status}))
        for command in (["show", str(out)], ["plot", str(out), "--out", str(tmp_path / "png")]):
            capsys.readouterr()
            assert main(command) == 2
            assert message in capsys.readouterr().err
    assert not (tmp_path / "png").exists()


def test_files_are_written_atomically_and_run_json_flips_last(tmp_path, monkeypatch):
    """A crash while writing the tables leaves no half-written file and run.json not `complete`."""
    out = tmp_path / "run"
    real = results_folder.atomic_write
    written = []

    def failing(path, write):
        written.append(path.name)
        if path.name == "placements.parquet":
            raise OSError("disk full")
        real(path, write)

    monkeypatch.setattr(results_folder, "atomic_write", failing)
    with pytest.raises(SimError, match="disk full"):
        run_to_folder(_scenario(), out)
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    assert not list(out.glob(".*.tmp")) and not (out / "placements.parquet").exists()
    monkeypatch.setattr(results_folder, "atomic_write", real)
    run_to_folder(_scenario(), tmp_path / "ok")
    assert not list((tmp_path / "ok").glob(".*.tmp"))


def test_run_json_is_written_after_every_table(tmp_path, monkeypatch):
    """The last file a run writes is run.json saying complete (so complete means every table is there)."""
    order = []
    real = results_folder.write_text

    def record(path, text):
        order.append((path.name, json.loads(text).get("status") if path.name == "run.json" else None))
        real(path, text)

    monkeypatch.setattr(results_folder, "write_text", record)
    run_to_folder(_scenario(), tmp_path / "run")
    assert order[-1] == ("run.json", "complete") and ("summary.json", None) in order[:-1]


def test_checkpoints_write_partial_results_and_leave_the_final_bytes_unchanged(tmp_path):
    """--checkpoint-every: partial tables at each checkpoint (run.json running, checkpoint_time); the final
    tables and summary are byte-identical to an uncheckpointed run's."""
    seen = []

    def advance(sim, until):
        sim.run(until)
        if until < 3600:
            run = json.loads((tmp_path / "ck" / "run.json").read_text())
            seen.append((until, run["status"], run.get("checkpoint_time")))

    run_to_folder(_scenario(), tmp_path / "ck", checkpoint_every=1200, advance=advance)
    run_to_folder(_scenario(), tmp_path / "plain")
    assert seen == [(1200, "running", None), (2400, "running", 1200)]  # read before this checkpoint's write
    for name in ("summary.json", "schema.json"):
        assert (tmp_path / "ck" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
    ck, plain = read_results(tmp_path / "ck"), read_results(tmp_path / "plain")
    assert ck.keys() == plain.keys() and all(ck[k].equals(plain[k]) for k in ck)


def test_run_reports_wall_time_and_simulated_span_in_run_json_only(tmp_path):
    out = tmp_path / "run"
    run_to_folder(_scenario(), out, until=1800)
    run = json.loads((out / "run.json").read_text())
    assert run["simulated_until"] == 1800.0 and run["wall_seconds"] > 0
    assert "wall" not in (out / "summary.json").read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_on_nomadsim_run_stops_cleanly(tmp_path, sig):
    """The real command: no traceback, exit 130, results so far written, run.json interrupted."""
    slow = tmp_path / "slowpolicy.py"
    slow.write_text("import time\nimport numpy as np\n\ndef slow(nodes, ask):\n    time.sleep(0.05)\n"
                    "    return np.zeros(nodes.size)\n")
    data = {**SCENARIO, "control_plane": {"policy": "slowpolicy:slow"},
            "workload": [{"at": f"{i}m", "register": {**JOB, "ID": f"j{i}"}} for i in range(60)]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "run", str(tmp_path / "s.yaml"), "--out", str(out),
                             "--quiet"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])},
                            preexec_fn=sigint_as_from_a_terminal)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out / "run.json").exists():
        time.sleep(0.2)
    time.sleep(3.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted at simulated time" in err
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted" and 0 < run["simulated_until"] < 3600
    assert (out / "summary.json").exists() and (out / "placements.parquet").exists()


def test_progress_bar_and_checkpoints_together(tmp_path, monkeypatch, capsys):
    """The CLI's progress bar runs each checkpoint's stretch from where the last one stopped."""
    from sim.cli import main as cli_main

    monkeypatch.setattr(cli_main.sys.stderr, "isatty", lambda: True, raising=False)
    out = tmp_path / "out"
    assert main(["run", _write(tmp_path), "--out", str(out), "--checkpoint-every", "20m"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["status"], run["simulated_until"]) == ("complete", 3600.0)
