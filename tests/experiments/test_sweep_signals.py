"""A sweep on a process pool stops promptly on SIGINT/SIGTERM, retries runs lost with a killed
worker, never leaves orphan workers, reports k/N progress with factor values and ETA, and rejects
a misspelt factor before anything starts (Linux: processes are found through /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import sigint_as_from_a_terminal

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

SLOW = """
import time
import numpy as np

def slow(nodes, ask):
    time.sleep(SECONDS)
    return np.zeros(nodes.size)
"""


def _scenario() -> dict:
    job = {"ID": "web", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "web", "Count": 2, "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "x"},
                                              "Resources": {"CPU": 500, "MemoryMB": 256}}]}]}
    return {"name": "sig", "seed": 1, "duration": "5m",
            "cluster": {"nodes": [{"count": 3, "resources": {"cpu": 4000, "memory": 4096}}]},
            "workload": [{"at": "0s", "register": job}], "metrics": {"sample_every": "1m"}}


def _start(tmp_path: Path, seconds: float, factors: dict | None = None, seeds: int = 2) -> subprocess.Popen:
    (tmp_path / "slowpolicy.py").write_text(SLOW.replace("SECONDS", str(seconds)))
    spec = {"scenario": _scenario(), "factors": factors or {"control_plane.scheduler_algorithm": ["binpack", "spread"]},
            "seeds": seeds, "set": {"control_plane.policy": "slowpolicy:slow"}, "out": str(tmp_path / "out")}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(tmp_path / "sweep.yaml"), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            preexec_fn=sigint_as_from_a_terminal)


def _children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_workers(proc: subprocess.Popen, n: int, timeout: float = 60.0) -> set[int]:
    """The pool's worker processes once `n` of them run a simulation (their run folders exist)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = {c for c in _children(proc.pid) if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()}
        if len(workers) >= n:
            return workers
        time.sleep(0.2)
    raise AssertionError("the pool's workers never started")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_sweep_promptly_and_its_workers(tmp_path, sig):
    """kill -INT / -TERM of the main process: exit 130 within seconds, every worker gone, a resume hint."""
    proc = _start(tmp_path, seconds=30)
    workers = _wait_for_workers(proc, 2)
    time.sleep(1.0)
    started = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 15
    assert proc.returncode == 130 and "Run the same command again to resume" in err
    time.sleep(0.5)
    assert not [w for w in workers if _alive(w)]


def test_killing_the_main_process_leaves_no_orphans(tmp_path):
    """SIGKILL of the main process: its workers notice and exit instead of running on."""
    proc = _start(tmp_path, seconds=30)
    workers = _wait_for_workers(proc, 2)
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and [w for w in workers if _alive(w)]:
        time.sleep(0.2)
    assert not [w for w in workers if _alive(w)]


def test_a_killed_worker_s_runs_are_retried(tmp_path):
    """SIGKILL of one worker breaks the pool; its runs (and the queued ones) run again and complete."""
    proc = _start(tmp_path, seconds=1.5, seeds=2)
    workers = _wait_for_workers(proc, 2)
    time.sleep(0.5)
    os.kill(sorted(workers)[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert len(table) == 4 and (table["status"] == "complete").all(), table[["status", "error"]]


def test_progress_lines_show_k_of_n_factor_values_and_eta(tmp_path):
    proc = _start(tmp_path, seconds=0)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert len(lines) == 4 and lines[-1].startswith("[4/4]") and "ETA done" in lines[-1]
    assert all("scheduler_algorithm=" in line and "seed=" in line and "ETA" in line for line in lines)


def test_a_misspelt_factor_fails_before_any_run(tmp_path):
    proc = _start(tmp_path, seconds=0, factors={"control_plane.schedulr_algorithm": ["binpack", "spread"]})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "did you mean 'scheduler_algorithm'" in err
    assert not (tmp_path / "out").exists()
