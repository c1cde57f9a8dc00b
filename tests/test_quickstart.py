"""The README's quickstart: `nomadsim run scenarios/quickstart.yaml --out DIR --quiet` works.

Run as a subprocess through the installed console script (as a user would), it writes the
results folder of sim.results.folder: scenario.json (loadable again), run.json, one Parquet file per
table and summary.json; and its tables are the bytes an in-process run writes.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.results.folder import read_results, write_tables
from sim.scenario.load import load_scenario
from sim.simulation import Simulation

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = "nomadsim run scenarios/quickstart.yaml"
TABLES = {"allocations", "evaluations", "placements", "node_usage"}


def nomadsim() -> list[str]:
    """The console script next to this interpreter (or on PATH), else `python -m sim`."""
    script = Path(sys.executable).with_name("nomadsim")
    if script.exists():
        return [str(script)]
    found = shutil.which("nomadsim")
    return [found] if found else [sys.executable, "-m", "sim"]


def run_cli(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the CLI from the repo root, capturing its output."""
    return subprocess.run(nomadsim() + args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """The quickstart run's process and results folder."""
    out = tmp_path_factory.mktemp("quickstart") / "tmp"
    return run_cli(shlex.split(QUICKSTART)[1:] + ["--out", str(out), "--quiet"]), out


def test_quickstart_command_succeeds(quickstart) -> None:
    """The command exits 0 without a traceback and prints the summary."""
    proc, _ = quickstart
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "summary" in proc.stdout


def test_quickstart_writes_the_results_folder(quickstart) -> None:
    """scenario.json, run.json, the Parquet tables and summary.json are all there."""
    _, out = quickstart
    names = {p.name for p in out.iterdir()}
    assert {"scenario.json", "run.json", "summary.json"} <= names
    assert {f"{t}.parquet" for t in TABLES} <= names


def test_run_json_records_seed_version_and_status(quickstart) -> None:
    """run.json says which seed and package version ran, to the end, successfully."""
    _, out = quickstart
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 1 and run["status"] == "complete" and run["until"] == 3600
    assert run["package_version"] and run["rejected_actions"] == []


def test_scenario_json_is_the_resolved_scenario_and_loads_again(quickstart) -> None:
    """The written scenario has every default explicit and is itself a valid scenario."""
    _, out = quickstart
    resolved = json.loads((out / "scenario.json").read_text())
    assert resolved["name"] == "quickstart" and resolved["duration"] == 3600
    again = load_scenario(resolved)
    assert again.to_dict() == load_scenario(ROOT / "scenarios" / "quickstart.yaml").to_dict()


def test_tables_show_the_quickstart_jobs_placed_and_run(quickstart) -> None:
    """Both jobs were placed (3 web, 5 report) and the batch allocs completed."""
    _, out = quickstart
    tables = read_results(out)
    assert TABLES <= set(tables)
    placed = tables["placements"]["job_id"].value_counts().to_dict()
    assert placed == {"report": 5, "web": 3}
    allocs = tables["allocations"]
    done = allocs[(allocs.job_id == "report") & (allocs.client_status == "complete")]
    assert done["alloc_id"].nunique() == 5
    assert (tables["node_usage"]["cpu_allocated"] <= tables["node_usage"]["cpu_capacity"]).all()


def test_summary_json_holds_numbers(quickstart) -> None:
    """summary.json maps KPIs to numbers (null where undefined), and `units` gives each one's unit."""
    _, out = quickstart
    summary = json.loads((out / "summary.json").read_text())
    units = summary.pop("units")
    assert summary and all(isinstance(v, int | float) or v is None for v in summary.values())
    assert set(units) == set(summary) and units["placements"] == "count" and units["eval_latency_p95"] == "s"


def test_cli_tables_equal_an_in_process_run(quickstart, tmp_path: Path) -> None:
    """The CLI writes the same Parquet bytes as Simulation.from_scenario(...).run() in process."""
    _, out = quickstart
    sim = Simulation.from_scenario(ROOT / "scenarios" / "quickstart.yaml", seed=1)
    sim.run()
    write_tables(tmp_path, sim.results())
    assert {p.name for p in tmp_path.glob("*.parquet")} == {p.name for p in out.glob("*.parquet")}
    for mine in sorted(tmp_path.glob("*.parquet")):
        assert mine.read_bytes() == (out / mine.name).read_bytes(), mine.name


def test_bad_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A scenario error is printed as one line naming the key, exit status 2, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration: 1h\ncluster:\n  nodes:\n    - count: -1\n      resources: {cpu: 1, memory: 1}\n")
    proc = run_cli(["run", str(bad), "--out", str(tmp_path / "out"), "--quiet"])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "cluster.nodes[0].count" in proc.stderr


def test_readme_documents_the_quickstart_and_test_commands() -> None:
    """The README shows the quickstart command and the test command."""
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not written yet")
    text = readme.read_text(encoding="utf-8")
    assert re.search(r"nomadsim run scenarios/quickstart\.yaml", text)
    assert re.search(r"\bpytest\b", text)
