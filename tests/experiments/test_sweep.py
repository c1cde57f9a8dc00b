"""Tests of sim.experiments.sweep and `nomadsim sweep`: expansion, the table, failures, resume, executors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.cli.main import main
from sim.errors import SimError
from sim.experiments.sweep import expand, sweep

HERE = __name__

FACTORS = {"control_plane.scheduler_algorithm": ["binpack", "spread"], "control_plane.num_schedulers": [1, 2]}


def raises(nodes, ask):
    """A policy that always fails."""
    raise RuntimeError("policy exploded")


def tiny(count: int = 3) -> dict:
    """Four nodes, one service job of `count` allocations, ten simulated minutes."""
    job = {"ID": "web", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "web", "Count": count, "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "x"},
                                                  "Resources": {"CPU": 500, "MemoryMB": 256}}]}]}
    return {"name": "tiny-sweep", "seed": 1, "duration": "10m",
            "cluster": {"nodes": [{"count": 4, "resources": {"cpu": 4000, "memory": 4096}}]},
            "workload": [{"at": "0s", "register": job}], "metrics": {"sample_every": "1m"}}


# -- expansion -----------------------------------------------------------------------------------


def test_expand_is_the_cartesian_product_times_seeds(tmp_path):
    """2 x 2 factors x 3 seeds gives 12 specs in factor-major order with stable ids."""
    specs = expand(tiny(), FACTORS, [1, 2, 3], tmp_path)
    assert len(specs) == 12
    assert [s["factors"] for s in specs[:3]] == [{"control_plane.scheduler_algorithm": "binpack",
                                                  "control_plane.num_schedulers": 1}] * 3
    assert [s["seed"] for s in specs[:3]] == [1, 2, 3]
    again = expand(tiny(), FACTORS, [1, 2, 3], tmp_path / "elsewhere")
    assert [s["run_id"] for s in specs] == [s["run_id"] for s in again]
    assert len({s["run_id"] for s in specs}) == 12


def test_expand_rejects_repeated_values_and_bad_factors(tmp_path):
    """Repeated factor values, scalar factors and a `seed` factor are errors."""
    with pytest.raises(SimError, match="identical"):
        expand(tiny(), {"control_plane.num_schedulers": [1, 1]}, [1], tmp_path)
    with pytest.raises(SimError, match="list of values"):
        expand(tiny(), {"control_plane.num_schedulers": 2}, [1], tmp_path)
    with pytest.raises(SimError, match="seeds"):
        expand(tiny(), {"seed": [1, 2]}, [1], tmp_path)


# -- running -------------------------------------------------------------------------------------


def test_sweep_table_has_one_row_per_run_with_factors_and_kpis(tmp_path):
    """The table is keyed by run id and factor values; each run keeps its results folder."""
    frame = sweep(tiny(), FACTORS, [1, 2], "serial", out=tmp_path)
    assert len(frame) == 8
    assert list(frame.columns[:6]) == ["run_id", *FACTORS, "seed", "status", "error"]
    assert (frame["status"] == "complete").all()
    assert (frame["placements"] == 3).all()
    for run_id in frame["run_id"]:
        run = json.loads((tmp_path / run_id / "run.json").read_text())
        identity = json.loads((tmp_path / run_id / "sweep_run.json").read_text())
        assert run["status"] == "complete" and identity["run_id"] == run_id
        assert (tmp_path / run_id / "summary.json").exists()
    assert pd.read_csv(tmp_path / "sweep.csv")["run_id"].tolist() == frame["run_id"].tolist()


def test_a_crashing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    """A failing policy and an invalid value fail their runs only, with the error kept."""
    factors = {"control_plane.policy": [f"{HERE}:raises", "sim.scheduler.policies:tetris"], "control_plane.num_schedulers": [0, 1]}
    frame = sweep(tiny(), factors, [1], "serial", out=tmp_path).set_index(list(factors))
    assert frame.loc[("sim.scheduler.policies:tetris", 1), "status"] == "complete"
    assert "policy exploded" in frame.loc[(f"{HERE}:raises", 1), "error"]
    assert "num_schedulers" in frame.loc[("sim.scheduler.policies:tetris", 0), "error"]
    failed = frame[frame["status"] == "failed"]
    assert len(failed) == 3
    run = json.loads((tmp_path / failed["run_id"].iloc[0] / "run.json").read_text())
    assert run["status"] == "failed" and run["error"]


def test_resume_skips_finished_runs(tmp_path):
    """Started again, a sweep reruns nothing and returns the same table."""
    first = sweep(tiny(), FACTORS, [1], "serial", out=tmp_path)
    fresh = []
    again = sweep(tiny(), FACTORS, [1], "serial", out=tmp_path, on_result=fresh.append)
    assert fresh == []
    pd.testing.assert_frame_equal(first, again)
    more = sweep(tiny(), FACTORS, [1, 2], "serial", out=tmp_path, on_result=fresh.append)
    assert len(fresh) == 4 and len(more) == 8


def test_local_pool_and_dask_local_cluster_give_identical_tables(tmp_path):
    """A 2 x 2 sweep on the process pool and on a Dask LocalCluster: the same table."""
    pytest.importorskip("distributed")
    pool = sweep(tiny(), FACTORS, [1], "local", workers=2, out=tmp_path / "pool")
    dask = sweep(tiny(), FACTORS, [1], "dask", workers=2, out=tmp_path / "dask")
    assert (pool["status"] == "complete").all()
    pd.testing.assert_frame_equal(pool, dask)


SLOW_POLICY = '''
import time
import numpy as np


def slow(nodes, ask):
    time.sleep(0.15)
    return np.zeros(nodes.size)
'''


def test_killed_sweep_resumes_without_rerunning_finished_runs(tmp_path, monkeypatch):
    """Kill `nomadsim sweep` after some runs finished; the restart reruns only the others and
    its table equals an uninterrupted sweep's."""
    (tmp_path / "slowpolicy.py").write_text(SLOW_POLICY)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    spec = {"scenario": tiny(2), "factors": FACTORS, "seeds": [1], "set": {"control_plane.policy": "slowpolicy:slow"},
            "out": str(out)}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(tmp_path / "sweep.yaml"), "--workers", "1",
                             "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_complete(out, 2, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    assert 2 <= len(finished) < 4
    fresh = []
    same = {"fixed": spec["set"], "base_dir": tmp_path}  # as the sweep file gives them
    resumed = sweep(tiny(2), FACTORS, [1], "serial", out=out, on_result=fresh.append, **same)
    assert len(fresh) == 4 - len(finished)
    assert {r["run_id"] for r in fresh}.isdisjoint(finished)
    assert {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/summary.json") if p.parent.name in finished} == finished
    whole = sweep(tiny(2), FACTORS, [1], "serial", out=tmp_path / "whole", **same)
    pd.testing.assert_frame_equal(resumed, whole)


def _wait_for_complete(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = 0
        for run in out.glob("*/run.json"):
            try:
                done += json.loads(run.read_text()).get("status") == "complete"
            except ValueError:
                continue
        if done >= n or proc.poll() is not None:
            return done
        time.sleep(0.02)
    raise AssertionError("the sweep did not finish runs in time")


# -- the command ---------------------------------------------------------------------------------


def test_sweep_command_runs_a_sweep_file(tmp_path, capsys):
    """`nomadsim sweep FILE` writes the table and prints a summary per combination."""
    spec = {"scenario": tiny(), "factors": {"control_plane.num_schedulers": [1, 2]}, "seeds": 2, "out": str(tmp_path / "o")}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(tmp_path / "s.yaml"), "--workers", "1", "--quiet"]) == 0
    frame = pd.read_csv(tmp_path / "o" / "sweep.csv")
    assert len(frame) == 4 and sorted(frame["seed"].unique()) == [1, 2]
    assert "runs" in capsys.readouterr().out


def test_sweep_command_rejects_unknown_keys(tmp_path, capsys):
    """An unknown key in the sweep file is a one-line error, exit 2."""
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"scenario": tiny(), "factors": {"a": [1]}, "sedes": 2}))
    assert main(["sweep", str(tmp_path / "s.yaml")]) == 2
    assert "unknown key 'sedes'" in capsys.readouterr().err
