"""The journal (sim/api/journal.py) and the server process: kill -9 loses nothing, SIGTERM is
prompt, `run --journal` reproduces a served run, `serve --out` writes its results folder."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import requests
from api.support import batch_job, start_server, stop_server, tiny_scenario

from sim.api.journal import Journal, read_records, replay
from sim.simulation import Simulation


def snapshot(url: str) -> dict:
    """What a client sees: job list, versions and allocations of every job, index and time."""
    jobs = requests.get(url + "/v1/jobs", timeout=10)
    out = {"jobs": jobs.json(), "index": jobs.headers["X-Nomad-Index"],
           "status": {k: v for k, v in requests.get(url + "/v1/sim/status", timeout=10).json().items()
                      if k in ("Time", "Index", "Jobs", "Allocations", "Evaluations")}}
    for job in out["jobs"]:
        base = f"{url}/v1/job/{job['ID']}"
        out[job["ID"]] = (requests.get(base + "/versions", timeout=10).json(),
                          requests.get(base + "/allocations", timeout=10).json())
    return out


def writes(url: str, tag: str, n: int) -> None:
    """A client's mixed writes: register, advance, update, plan, stop."""
    for i in range(n):
        job = batch_job(f"{tag}-{i % 4}", count=1 + i % 3)
        job["Job"]["Meta"] = {"round": str(i)}
        requests.post(url + "/v1/jobs", json=job, timeout=30)
        requests.post(url + "/v1/sim/advance", json={"Seconds": 7}, timeout=30)
        requests.post(f"{url}/v1/job/{tag}-{i % 4}/plan", json=job, timeout=30)
        if i % 5 == 4:
            requests.delete(f"{url}/v1/job/{tag}-{(i + 1) % 4}", timeout=30)


def test_kill_9_during_load_then_restart_with_the_journal(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(json.dumps(tiny_scenario()))
    journal = tmp_path / "journal.jsonl"
    proc, url = start_server(scenario, "--journal", str(journal))
    try:
        clients = [threading.Thread(target=writes, args=(url, f"c{k}", 8)) for k in range(3)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        node = requests.get(url + "/v1/nodes", timeout=10).json()[0]["ID"]
        assert requests.post(f"{url}/v1/sim/nodes/{node}/down", json={}, timeout=10).status_code == 200
        requests.post(url + "/v1/sim/advance", json={"Seconds": 30}, timeout=30)
        before = snapshot(url)
        stop = threading.Event()

        def reads():  # load while the process dies: reads and open blocking queries
            while not stop.is_set():
                try:
                    requests.get(url + "/v1/jobs?index=999999&wait=5s", timeout=0.2)
                except requests.RequestException:
                    pass
        readers = [threading.Thread(target=reads) for _ in range(4)]
        for r in readers:
            r.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for r in readers:
            r.join()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(before["jobs"]) == 12 and int(before["index"]) > 100
    proc, url = start_server(scenario, "--journal", str(journal))
    try:
        assert snapshot(url) == before
    finally:
        stop_server(proc)


def test_replay_gives_identical_state_and_results_offline(tmp_path):
    """A served run's journal replayed in-process and by `nomadsim run --journal`; `serve --out`."""
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(json.dumps(tiny_scenario()))
    journal, served, offline = tmp_path / "j.jsonl", tmp_path / "served", tmp_path / "offline"
    proc, url = start_server(scenario, "--journal", str(journal), "--out", str(served))
    try:
        writes(url, "r", 6)
        answer = requests.post(url + "/v1/sim/results", timeout=60)
        assert answer.status_code == 200 and answer.json()["Out"] == str(served)
        assert (served / "allocations.parquet").exists()
        shutil.rmtree(served)
    finally:
        stop_server(proc)
    assert (served / "allocations.parquet").exists()  # written again on exit
    records = read_records(journal)
    assert records[0]["Journal"] == 1 and any(r.get("Call") == "register_job" for r in records)
    sim = Simulation.from_scenario(scenario)
    replay(sim, sim.api, journal)
    run = subprocess.run([sys.executable, "-m", "sim", "run", str(scenario), "--journal", str(journal), "--out",
                          str(offline), "--quiet"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads((served / "run.json").read_text())["until"] == sim.now
    for table in ("allocations", "evaluations", "jobs"):
        pd.testing.assert_frame_equal(pd.read_parquet(served / f"{table}.parquet"),
                                      pd.read_parquet(offline / f"{table}.parquet"))


def test_journal_of_another_seed_is_refused(tmp_path):
    sim = Simulation.from_scenario(tiny_scenario())
    path = tmp_path / "j.jsonl"
    Journal.open(path, sim, sim.api).call("register_job", (batch_job("a"),), {"namespace": "default"})
    other = Simulation.from_scenario({**tiny_scenario(), "seed": 8})
    try:
        Journal.open(path, other, other.api)
    except Exception as err:
        assert "not of this scenario" in str(err)
    else:
        raise AssertionError("a journal of another seed was replayed")


def test_torn_last_line_is_dropped(tmp_path):
    sim = Simulation.from_scenario(tiny_scenario())
    path = tmp_path / "j.jsonl"
    journal = Journal.open(path, sim, sim.api)
    sim.api.register_job(batch_job("a"))
    journal.call("register_job", (batch_job("a"),), {"namespace": "default"})
    with path.open("ab") as f:
        f.write(b'{"Time": 3, "Call": "regis')
    again = Simulation.from_scenario(tiny_scenario())
    Journal.open(path, again, again.api).advanced(5.0)
    assert again.state.index == sim.state.index
    assert [r.get("Time") for r in read_records(path)[1:]] == [0.0, 5.0]


def test_sigterm_is_prompt_despite_blocking_queries_and_non_loopback_warns(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(json.dumps(tiny_scenario()))
    proc, url = start_server(scenario, "--host", "0.0.0.0")
    url = url.replace("0.0.0.0", "127.0.0.1")
    blocked = [threading.Thread(target=lambda: requests.get(url + "/v1/jobs?index=999999&wait=300s", timeout=60))
               for _ in range(20)]
    for b in blocked:
        b.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    took = time.monotonic() - t0
    for b in blocked:
        b.join(5)
    assert took < 2.5
    assert "warning: listening on 0.0.0.0, not loopback" in proc.stderr.read().decode()


def test_serve_flags_acl_token_and_body_limit(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(json.dumps(tiny_scenario()))
    proc, url = start_server(scenario, "--acl-token", "T0k", "--max-body-bytes", "2000")
    try:
        job = batch_job("a")
        denied = requests.post(url + "/v1/jobs", json=job, timeout=10)
        assert (denied.status_code, denied.text) == (403, "Permission denied")
        assert requests.post(url + "/v1/jobs", json=job, headers={"X-Nomad-Token": "T0k"}, timeout=10).ok
        job["Job"]["Meta"] = {"pad": "x" * 3000}
        big = requests.post(url + "/v1/jobs", json=job, headers={"X-Nomad-Token": "T0k"}, timeout=10)
        assert (big.status_code, big.text) == (413, "http: request body too large")
        assert requests.get(url + "/v1/jobs", timeout=10).json()[0]["ID"] == "a"
    finally:
        stop_server(proc)
