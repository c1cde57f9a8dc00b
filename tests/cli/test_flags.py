"""Every command-line flag does something a test shows: FLAG_TESTS maps each option of each
subcommand to the test that exercises it; the flags no other test covered are tested here."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from conftest import ROOT, tiny_scenario

from sim.cli.main import build_parser, main

CLI = "tests/cli/test_cli.py"
LIFE = "tests/experiments/test_run_lifecycle.py"
HTTP = "tests/api/test_http.py"
BENCH = "tests/experiments/test_bench.py"
SWEEP = "tests/experiments/test_sweep.py"
SIGNALS = "tests/experiments/test_sweep_signals.py"
HERE = "tests/cli/test_flags.py"
PLOTS = "tests/plots/test_plots.py"
JOURNAL = "tests/hardening/test_journal.py"
LIMITS = "tests/hardening/test_regressions.py"

# "<command> <option or positional>" -> "file::test" showing its effect
FLAG_TESTS: dict[str, str] = {
    **{f"run {f}": f"{CLI}::test_run_writes_the_results_folder"
       for f in ("scenario", "--seed", "--out", "--until", "--set", "--csv", "--quiet")},
    "run --results": f"{LIFE}::test_the_default_folder_is_new_for_each_run",
    "run --force": f"{LIFE}::test_a_non_empty_folder_is_refused_unless_forced",
    "run --checkpoint-every": f"{LIFE}::test_progress_bar_and_checkpoints_together",
    "validate scenario": f"{CLI}::test_validate_and_show",
    "validate --set": f"{HERE}::test_validate_set",
    "show results_dir": f"{CLI}::test_validate_and_show",
    "serve scenario": f"{HTTP}::test_example_job_lifecycle",
    "serve --port": f"{HTTP}::test_example_job_lifecycle",
    "serve --clock": f"{HTTP}::test_realtime_clock_follows_the_wall_clock",
    "serve --speed": f"{HTTP}::test_realtime_clock_follows_the_wall_clock",
    **{f"serve {f}": f"{HERE}::test_serve_host_seed_and_set" for f in ("--host", "--seed", "--set")},
    **{f"bench {f}": f"{BENCH}::test_bench_catches_a_deliberately_worse_policy"
       for f in ("suite", "--workers", "--seeds", "--policy", "--baseline", "--update-baseline", "--out", "--quiet")},
    **{f"bench {f}": f"{HERE}::test_bench_scenario_set_resume_and_all" for f in ("--scenario", "--set", "--resume",
                                                                                "--all")},
    "bench --dask": f"{SWEEP}::test_local_pool_and_dask_local_cluster_give_identical_tables (same executor_of)",
    "plot results_dir": f"{PLOTS}::test_nomadsim_plot_on_a_sweep_folder_writes_the_comparison",
    "plot --out": f"{PLOTS}::test_nomadsim_plot_on_a_sweep_folder_writes_the_comparison",
    "plot --dpi": f"{HERE}::test_plot_dpi_and_by",
    "plot --by": f"{HERE}::test_plot_dpi_and_by",
    "plot --format": f"{PLOTS}::test_nomadsim_plot_writes_svg_or_pdf_and_skips_what_a_run_lacks",
    "run --journal": f"{JOURNAL}::test_replay_gives_identical_state_and_results_offline",
    "serve --journal": f"{JOURNAL}::test_replay_gives_identical_state_and_results_offline",
    "serve --out": f"{JOURNAL}::test_replay_gives_identical_state_and_results_offline",
    "serve --acl-token": f"{JOURNAL}::test_serve_flags_acl_token_and_body_limit",
    "serve --max-body-bytes": f"{JOURNAL}::test_serve_flags_acl_token_and_body_limit",
    "serve --max-blocking-queries": f"{LIMITS}::test_blocking_queries_are_capped (the same Limits field)",
    **{f"view {f}": f"{HERE}::test_view_serves_a_finished_run" for f in ("results_dir", "--host", "--port")},
    "sweep sweep_file": f"{SIGNALS}::test_progress_lines_show_k_of_n_factor_values_and_eta",
    "sweep --workers": f"{SIGNALS}::test_a_killed_worker_s_runs_are_retried",
    "sweep --quiet": f"{SWEEP}::test_killed_sweep_resumes_without_rerunning_finished_runs",
    "sweep --dask": f"{SWEEP}::test_local_pool_and_dask_local_cluster_give_identical_tables (same executor_of)",
    **{f"sweep {f}": f"{HERE}::test_sweep_out_seeds_set_no_resume_and_retry_failed"
       for f in ("--out", "--seeds", "--set", "--no-resume", "--retry-failed")},
}


def test_every_flag_has_a_test():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    flags = {f"{name} {a.option_strings[0] if a.option_strings else a.dest}"
             for name, sub in commands.items() for a in sub._actions if a.dest != "help"}
    assert flags == set(FLAG_TESTS), (flags - set(FLAG_TESTS), set(FLAG_TESTS) - flags)
    for where in FLAG_TESTS.values():
        file, test = where.split(" ")[0].split("::")
        assert f"def {test}(" in (ROOT / file).read_text(), where


JOB = {"ID": "w", "Type": "batch", "Meta": {"sim.runtime": "2m"}, "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [
    {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Resources": {"CPU": 500, "MemoryMB": 256}}]}]}


def _scenario(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_scenario(duration="10m", workload=[{"at": 0, "register": JOB}],
                                                 metrics={"sample_every": "1m"}, **extra)))
    return path


def test_validate_set(tmp_path, capsys):
    """--set applies before validation: a bad override fails, a good one changes what is reported."""
    path = _scenario(tmp_path)
    assert main(["validate", str(path), "--set", "cluster.nodes[0].count=5"]) == 0
    assert "(5 nodes," in capsys.readouterr().out
    assert main(["validate", str(path), "--set", "duration=0s"]) == 2


def test_serve_host_seed_and_set(tmp_path):
    """--host binds that address, --set changes the cluster, --seed changes the random streams (alloc IDs)."""
    from api.support import start_server, stop_server

    path = _scenario(tmp_path)
    ids = {}
    for seed in (5, 6):
        proc, url = start_server(path, "--host", "127.0.0.1", "--seed", str(seed), "--set", "cluster.nodes[0].count=4")
        try:
            assert requests.get(url + "/v1/sim/status", timeout=10).json()["Nodes"] == 4
            requests.post(url + "/v1/sim/settle", json={"MaxSeconds": 30}, timeout=30)
            ids[seed] = sorted(a["ID"] for a in requests.get(url + "/v1/job/w/allocations", timeout=10).json())
        finally:
            stop_server(proc)
    assert len(ids[5]) == 2 and ids[5] != ids[6]


def test_view_serves_a_finished_run(tmp_path):
    """`nomadsim view DIR --host --port` serves the web view of that run, read-only."""
    import subprocess

    from api.support import free_port

    path, out = _scenario(tmp_path), tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim", "view", str(out), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                page = requests.get(url + "/ui", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.1)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert requests.post(url + "/v1/jobs", json={}, timeout=10).status_code == 404  # read-only
    finally:
        proc.terminate()
        proc.wait(10)


def _sweep_file(tmp_path: Path) -> Path:
    spec = {"scenario": "s.yaml", "factors": {"control_plane.scheduler_algorithm": ["binpack", "spread"]}, "seeds": 1}
    _scenario(tmp_path)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_sweep_out_seeds_set_no_resume_and_retry_failed(tmp_path, capsys):
    """--out/--seeds/--set shape the sweep; a second start skips finished runs unless --no-resume; a
    failed run is kept unless --retry-failed."""
    path, out = _sweep_file(tmp_path), tmp_path / "out"
    base = ["sweep", str(path), "--workers", "1", "--out", str(out)]
    assert main([*base, "--seeds", "2", "--set", "duration=5m"]) == 0
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 4 and sorted(set(table["seed"])) == [1, 2]
    assert {json.loads(p.read_text())["until"] for p in out.glob("*/run.json")} == {300.0}
    capsys.readouterr()
    assert main([*base, "--seeds", "2", "--set", "duration=5m"]) == 0
    assert "[" not in capsys.readouterr().err  # everything was finished: no run line
    assert main([*base, "--seeds", "2", "--set", "duration=5m", "--no-resume"]) == 0
    assert capsys.readouterr().err.count("[") == 4
    run_dir = next(out.glob("*/run.json")).parent
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**run, "status": "failed", "error": "boom"}))
    assert main([*base, "--seeds", "2", "--set", "duration=5m"]) == 1  # the failed run is kept
    capsys.readouterr()
    assert main([*base, "--seeds", "2", "--set", "duration=5m", "--retry-failed"]) == 0
    assert capsys.readouterr().err.count("[") == 1


def test_plot_dpi_and_by(tmp_path, capsys):
    """--dpi sets the resolution of the PNGs; --by picks the factor a sweep's figures compare."""
    from PIL import Image

    path, out = _sweep_file(tmp_path), tmp_path / "out"
    assert main(["sweep", str(path), "--workers", "1", "--out", str(out), "--quiet"]) == 0
    sizes = {}
    for dpi in (50, 100):
        assert main(["plot", str(out), "--out", str(tmp_path / f"png{dpi}"), "--dpi", str(dpi),
                     "--by", "control_plane.scheduler_algorithm"]) == 0
        sizes[dpi] = Image.open(tmp_path / f"png{dpi}" / "kpi_comparison.png").size
    assert sizes[100][0] == pytest.approx(2 * sizes[50][0], rel=0.05)
    capsys.readouterr()
    assert main(["plot", str(out), "--out", str(tmp_path / "bad"), "--by", "nosuchfactor"]) == 2


def test_bench_scenario_set_resume_and_all(tmp_path, capsys):
    """--scenario picks scenarios by name, --set overrides every run, --resume keeps finished runs,
    --all also prints the KPIs without a tolerance (info)."""
    suite = tmp_path / "suite"
    suite.mkdir()
    for name in ("one", "two"):
        (suite / f"{name}.yaml").write_text(yaml.safe_dump({**tiny_scenario(duration="5m"), "name": name,
                                                            "workload": [{"at": 0, "register": JOB}]}))
    common = [str(suite), "--seeds", "1", "--workers", "1", "--quiet", "--policy", "binpack",
              "--baseline", str(tmp_path / "b.json"), "--out", str(tmp_path / "runs"), "--scenario", "one"]
    assert main(["bench", *common, "--set", "duration=3m", "--update-baseline"]) == 0
    runs = sorted(p.parent.name for p in (tmp_path / "runs").glob("*/run.json"))
    assert runs == ["one.binpack.s1"]
    assert json.loads((tmp_path / "runs" / runs[0] / "run.json").read_text())["until"] == 180.0
    stamp = (tmp_path / "runs" / runs[0] / "summary.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["bench", *common, "--set", "duration=3m", "--resume", "--all"]) == 0
    assert (tmp_path / "runs" / runs[0] / "summary.json").stat().st_mtime_ns == stamp
    out = capsys.readouterr().out
    assert "info" in out and "nodes_in_use_mean" in out
    assert sys.modules.get("sim.cli.bench") is not None
