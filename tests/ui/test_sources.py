"""The web view's read endpoints, without a browser: live reads as blocking queries, recorded reads
rebuilt from a results folder (and agreeing with the live state at the same instant), bad input."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from sim.api.http import create_app
from sim.errors import ApiError, SimError
from sim.experiments.run import run_to_folder
from sim.scenario.load import load_scenario
from sim.simulation import Simulation
from sim.ui.live import LiveSource
from sim.ui.recorded import RecordedSource
from sim.ui.rows import page
from sim.ui.web import serving, view_app

SCENARIOS = Path(__file__).parents[2] / "scenarios"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "canary"
    run_to_folder(load_scenario(SCENARIOS / "canary-autorevert.yaml"), out, seed=3, until=3600.0)
    return out


@pytest.mark.parametrize("at", [30.0, 700.0, 1300.0, 1900.0])
def test_recorded_state_at_an_instant_matches_the_live_state(recorded: Path, at: float) -> None:
    """Allocations by status, deployments and job versions rebuilt from the tables equal the live ones."""
    sim = Simulation.from_scenario(SCENARIOS / "canary-autorevert.yaml", seed=3)
    sim.run(at)
    live, rec = LiveSource(sim), RecordedSource(recorded)
    q = {"limit": "5000"}
    live_allocs, rec_allocs = live.table("allocations", q), rec.table("allocations", q, at)
    assert rec_allocs["Counts"] == live_allocs["Counts"]
    assert {r[0]: r[4] for r in rec_allocs["Rows"]} == {r[0]: r[4] for r in live_allocs["Rows"]}
    live_deps, rec_deps = live.table("deployments", q), rec.table("deployments", q, at)
    assert [r[:5] for r in rec_deps["Rows"]] == [r[:5] for r in live_deps["Rows"]]
    assert rec.job("api", at)["Summary"] == {g: {**s, "Queued": 0} for g, s in live.job("api")["Summary"].items()}
    assert rec.table("jobs", q, at)["Rows"][0][5] == sim.state.job_by_id("default", "api").version
    names = lambda n: [n["States"][c] for c in n["State"]]  # noqa: E731
    assert names(rec.nodes(at)) == names(live.nodes())
    assert rec.nodes(at, have="6").keys() == {"Static", "States", "State", "CpuUsed", "MemoryUsed"}


def test_recorded_reads_refuse_instants_outside_the_run(recorded: Path) -> None:
    rec = RecordedSource(recorded)
    assert rec.status() == {"Name": "canary-autorevert", "Time": 3600.0, "ReadOnly": True, "Start": 0.0,
                            "End": 3600.0, "Nodes": 6}
    for bad, message in (("-1", "within the recorded span 0..3600 s"), ("soon", "at must be a number of seconds")):
        with pytest.raises(ApiError, match=message):
            rec.at_of(bad)
    with pytest.raises(SimError, match="not a results folder"):
        RecordedSource(recorded / "nope")


def test_series_grow_with_time(recorded: Path) -> None:
    rec = RecordedSource(recorded)
    early, later = rec.series(-1, 600), rec.series(600, 1200)
    assert early["Time"][-1] == 600 and later["Time"][0] == 610 and later["Time"][-1] == 1200
    assert len(early["CpuUtilisation"]) == len(early["Time"])
    assert max(v for v in early["LatencyMax"] if v is not None) > 0


def test_table_filters_and_bad_parameters() -> None:
    rows = [("a1", "web", "running"), ("a2", "web", "failed"), ("b1", "api", "running")]
    get = {"ID": lambda r: r[0], "JobID": lambda r: r[1], "Status": lambda r: r[2], "Type": lambda r: r[1]}
    out = page("evaluations", rows, {"job": "web", "status": "running"}, get, lambda r: r)
    assert (out["Total"], out["Counts"], out["Rows"]) == (1, {"failed": 1, "running": 1}, [["a1", "web", "running"]])
    assert page("evaluations", rows, {"q": "B1"}, get, lambda r: r)["Rows"] == [["b1", "api", "running"]]
    assert [r[0] for r in page("evaluations", rows, {"limit": "2"}, get, lambda r: r)["Rows"]] == ["b1", "a2"]
    with pytest.raises(ApiError, match="unknown query parameter 'nodes' for evaluations"):
        page("evaluations", rows, {"nodes": "x"}, get)
    with pytest.raises(ApiError, match="limit must be an integer from 1 to 5000"):
        page("evaluations", rows, {"limit": "0"}, get)


def test_live_reads_are_blocking_queries() -> None:
    """A read with ?index= waits until its tables change; a write elsewhere does not wake it."""
    sim = Simulation.from_scenario(SCENARIOS / "quickstart.yaml")
    with serving(create_app(sim, sim.api)) as url:
        requests.post(f"{url}/v1/sim/advance", json={"Seconds": 30}, timeout=30).raise_for_status()
        first = requests.get(f"{url}/ui/api/allocations", timeout=10)
        index = int(first.headers["X-Nomad-Index"])
        assert index == sim.state.table_index["allocs"] and first.json()["Total"] == len(sim.state.allocs()) > 0
        answer: dict[str, requests.Response] = {}
        waiter = threading.Thread(target=lambda: answer.update(r=requests.get(
            f"{url}/ui/api/allocations", params={"index": index, "wait": "5m"}, timeout=30)))  # 5m of simulated time
        started = time.monotonic()
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive()  # nothing has changed yet
        requests.post(f"{url}/v1/sim/advance", json={"Seconds": 60}, timeout=30).raise_for_status()  # batch job at 1m
        waiter.join(30)
        assert time.monotonic() - started < 20
        assert int(answer["r"].headers["X-Nomad-Index"]) > index and answer["r"].json()["Total"] > first.json()["Total"]
        bad = requests.get(f"{url}/ui/api/jobs", params={"at": "3"}, timeout=10)
        assert (bad.status_code, bad.text) == (400, "at applies to recorded runs only (nomadsim view RESULTS_DIR)")
        assert requests.get(f"{url}/ui/api/node/nope", timeout=10).status_code == 404
        assert requests.get(f"{url}/ui/static/../web.py", timeout=10).status_code == 404
        page_ = requests.get(f"{url}/ui/", timeout=10)
        assert page_.status_code == 200 and 'src="/ui/static/js/main.js"' in page_.text
        assert requests.get(f"{url}/v1/nope", timeout=10).status_code == 404  # the catch-all still answers


def test_view_app_serves_the_page_read_only(recorded: Path) -> None:
    with serving(view_app(recorded)) as url:
        assert requests.get(f"{url}/ui/api/status", timeout=10).json()["ReadOnly"] is True
        nodes = requests.get(f"{url}/ui/api/nodes", params={"at": "700"}, timeout=10).json()
        assert len(nodes["ID"]) == 6 and nodes["States"] == ["ready"] and nodes["Static"] == "6"
        bad = requests.get(f"{url}/ui/api/nodes", params={"at": "7200"}, timeout=10)
        assert (bad.status_code, bad.text) == (400, "at must be within the recorded span 0..3600 s, got 7200")
        assert requests.post(f"{url}/v1/jobs", json={}, timeout=10).status_code == 404  # no API: read-only


def test_view_command_refuses_a_folder_without_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim.cli.main import main

    assert main(["view", str(tmp_path)]) == 2
    assert "not a results folder (no nodes.parquet" in capsys.readouterr().err
