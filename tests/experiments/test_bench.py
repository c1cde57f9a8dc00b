"""Tests of sim.experiments.bench and `nomadsim bench`: policies, verdicts, baselines, and catching a regression."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from sim.cli.main import main
from sim.errors import SimError
from sim.experiments.bench import (
    KPIS,
    REGRESSION,
    KpiSpec,
    compare,
    policy_overrides,
    read_baseline,
    suite_scenarios,
    t95,
    verdict,
    verdict_line,
    write_baseline,
)
from sim.scenario.load import load_scenario
from sim.scheduler.policies import policy

REPO = Path(__file__).resolve().parents[2]
HERE = __name__


@policy(mode="fit")
def fragment(nodes, ask):
    """A deliberately worse policy: always the emptiest node, so big asks find no room."""
    return 1.0 - nodes["cpu_used"] / nodes["cpu_capacity"]


def two_node_suite(folder: Path) -> Path:
    """A suite of one scenario: two 4000 MHz nodes, two 1000 MHz batch jobs, then a 3500 MHz one.

    With two nodes a batch select sees both, so binpack stacks the small jobs and the big one fits,
    while `fragment` puts one small job per node and the big one cannot be placed.
    """
    def job(name: str, cpu: int) -> dict:
        return {"ID": name, "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [
            {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Resources": {"CPU": cpu, "MemoryMB": 128}}]}]}

    scenario = {
        "name": "frag", "seed": 1, "duration": "5m",
        "cluster": {"nodes": [{"count": 2, "resources": {"cpu": 4000, "memory": 4096}}]},
        "workload": [{"at": "0s", "register": job("small-0", 1000)}, {"at": "5s", "register": job("small-1", 1000)},
                     {"at": "10s", "register": job("big", 3500)}],
        "task_behavior": [{"match": {"job": "*"}, "runtime": "1h"}],
        "metrics": {"sample_every": "1m"},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "frag.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    return folder


# -- configuration -------------------------------------------------------------------------------


def test_policy_overrides_map_names_to_scenario_keys():
    """Algorithms set scheduler_algorithm; built-in and custom policies set control_plane.policy."""
    assert policy_overrides("spread") == ("spread", {"control_plane.scheduler_algorithm": "spread"})
    assert policy_overrides("tetris") == ("tetris", {"control_plane.policy": "sim.scheduler.policies:tetris"})
    assert policy_overrides("mine=pkg.mod:fn") == ("mine", {"control_plane.policy": "pkg.mod:fn"})
    assert policy_overrides("base=binpack")[1] == {"control_plane.scheduler_algorithm": "binpack"}
    with pytest.raises(SimError, match="unknown policy"):
        policy_overrides("best-fit")


def test_committed_bench_scenarios_all_validate():
    """Every scenario of scenarios/bench loads."""
    files = suite_scenarios(REPO / "scenarios" / "bench")
    assert {"binpack-load", "mixed-day", "node-failures", "alibaba-trace", "nomad-grid-5000-spread"} <= {f.stem for f in files}
    for file in files:
        load_scenario(file)


def test_suite_scenarios_filters_by_name_glob(tmp_path):
    """--scenario globs select scenarios by file stem; no match is an error."""
    suite = two_node_suite(tmp_path / "suite")
    assert [f.stem for f in suite_scenarios(suite, ["fr*"])] == ["frag"]
    with pytest.raises(SimError, match="no scenarios"):
        suite_scenarios(suite, ["nope*"])


# -- verdicts ------------------------------------------------------------------------------------


def test_t95_matches_student_quantiles():
    """Known quantiles, conservative between table rows, 1.96 beyond 30."""
    assert t95(2) == pytest.approx(4.303)
    assert t95(11) == pytest.approx(2.228)
    assert t95(100) == pytest.approx(1.96)
    assert math.isinf(t95(0))


@pytest.mark.parametrize("base, now, expected", [
    ({"1": 10.0, "2": 10.0}, {"1": 10.2, "2": 10.2}, "ok"),             # within the tolerance
    ({"1": 10.0, "2": 10.0}, {"1": 14.0, "2": 14.0}, REGRESSION),       # worse, beyond the CI
    ({"1": 10.0, "2": 10.0}, {"1": 6.0, "2": 6.0}, "better"),
    ({"1": 10.0, "2": 10.0}, {"1": 4.0, "2": 20.0}, "inconclusive"),    # the CI spans zero
    ({"1": 10.0}, {}, REGRESSION),                                     # the KPI vanished
    ({}, {"1": 3.0}, "new"),
])
def test_verdict_weighs_tolerance_and_confidence(base, now, expected):
    """A regression is a change the bad way beyond both the tolerance and the 95% CI."""
    assert verdict(KpiSpec("lower", rel=0.05), base, now)[0] == expected


def test_verdict_pairs_by_seed():
    """Paired differences remove the seed-to-seed spread shared by baseline and now."""
    base = {"1": 10.0, "2": 20.0, "3": 30.0}
    now = {k: v + 2.0 for k, v in base.items()}
    result, delta, half = verdict(KpiSpec("lower", abs=1.0), base, now)
    assert (result, delta, half) == (REGRESSION, 2.0, 0.0)


def test_kpis_without_a_spec_are_info_only(tmp_path):
    """compare() reports unknown KPIs as info, never as regressions."""
    import pandas as pd

    frame = pd.DataFrame([{"run_id": "a", "scenario": "s", "policy": "p", "seed": 1, "status": "complete", "error": "",
                           "placements": 5.0, "exotic": 9.0}])
    base = {"runs": {"s/p": {"1": {"placements": 5.0, "exotic": 1.0}}}}
    got = compare(frame, base).set_index("kpi")["verdict"].to_dict()
    assert got == {"placements": "ok", "exotic": "info"}
    assert "exotic" not in KPIS


# -- baselines and the command -------------------------------------------------------------------


def test_write_baseline_merges_entries(tmp_path):
    """Updating a baseline replaces the runs it has and keeps the others."""
    import pandas as pd

    row = {"run_id": "a", "scenario": "s", "policy": "p", "seed": 1, "status": "complete", "error": "", "placements": 5.0}
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"suite": "x", "runs": {"other/p": {"1": {"placements": 1.0}}}}))
    write_baseline(path, pd.DataFrame([row]), "x")
    runs = read_baseline(path)["runs"]
    assert runs == {"other/p": {"1": {"placements": 1.0}}, "s/p": {"1": {"placements": 5.0}}}


def test_bench_without_a_baseline_says_how_to_make_one(tmp_path, capsys):
    """No baseline file: exit 2 with the command to record one."""
    suite = two_node_suite(tmp_path / "suite")
    assert main(["bench", str(suite), "--baseline", str(tmp_path / "none.json")]) == 2
    assert "--update-baseline" in capsys.readouterr().err


def test_bench_catches_a_deliberately_worse_policy(tmp_path, capsys):
    """Baseline with binpack, then the same label running a fragmenting policy: exit 1, KPI named."""
    suite = two_node_suite(tmp_path / "suite")
    common = [str(suite), "--seeds", "2", "--workers", "1", "--quiet", "--baseline", str(tmp_path / "base.json"),
              "--out", str(tmp_path / "runs")]
    assert main(["bench", *common, "--policy", "candidate=binpack", "--update-baseline"]) == 0
    assert main(["bench", *common, "--policy", "candidate=binpack"]) == 0
    capsys.readouterr()
    assert main(["bench", *common, "--policy", f"candidate={HERE}:fragment"]) == 1
    captured = capsys.readouterr()
    assert "regression in placement_failures (frag/candidate)" in captured.err
    assert "REGRESSION" in captured.out


def test_fragmenting_policy_really_fragments(tmp_path):
    """The scenario behind the regression test: binpack places all three jobs, fragment only two."""
    from sim.simulation import Simulation

    data = yaml.safe_load((two_node_suite(tmp_path) / "frag.yaml").read_text())
    placed = {}
    for name, spec in (("binpack", None), ("fragment", f"{HERE}:fragment")):
        sim = Simulation.from_scenario(data, seed=1, overrides={"control_plane.policy": spec} if spec else None)
        sim.run()
        placed[name] = len(sim.state.allocs())
    assert placed == {"binpack": 3, "fragment": 2}


def test_bench_shows_its_interval_compares_equal_seed_sets_and_ends_with_a_verdict(tmp_path, capsys):
    """The table has the 95% CI of each change and the seeds compared; the last line is the verdict;
    a run whose seeds the baseline never ran is refused instead of compared with other seeds."""
    suite = two_node_suite(tmp_path / "suite")
    common = [str(suite), "--workers", "1", "--quiet", "--baseline", str(tmp_path / "base.json"),
              "--out", str(tmp_path / "runs"), "--policy", "candidate=binpack"]
    assert main(["bench", *common, "--seeds", "2", "--update-baseline"]) == 0
    capsys.readouterr()
    assert main(["bench", *common, "--seeds", "3"]) == 0  # seeds 1, 2 compared; seed 3 has no baseline
    out = capsys.readouterr().out
    assert "95% CI of change" in out and "[+0, +0]" in out
    assert out.strip().splitlines()[-1].startswith("bench verdict: PASS")


def test_compare_uses_only_the_seeds_both_ran():
    import pandas as pd

    rows = [{"run_id": str(s), "scenario": "s", "policy": "p", "seed": s, "status": "complete", "error": "",
             "placements": v} for s, v in ((1, 5.0), (2, 7.0), (3, 100.0))]
    base = {"runs": {"s/p": {"1": {"placements": 5.0}, "2": {"placements": 7.0}}}}
    row = compare(pd.DataFrame(rows), base).iloc[0]
    assert (row["now"], row["baseline"], row["seeds"], row["verdict"]) == (6.0, 6.0, 2, "ok")
    with pytest.raises(SimError, match="compare equal seed sets"):
        compare(pd.DataFrame(rows[2:]), base)


def test_verdict_line_names_the_regressions():
    import pandas as pd

    comparison = pd.DataFrame([
        {"scenario": "s", "policy": "p", "kpi": "placements", "baseline": 5.0, "now": 2.0, "change": -3.0, "ci": 0.0,
         "seeds": 2, "verdict": REGRESSION},
        {"scenario": "s", "policy": "p", "kpi": "exotic", "baseline": 5.0, "now": 2.0, "change": -3.0, "ci": 0.0,
         "seeds": 2, "verdict": "info"}])
    line = verdict_line(comparison)
    assert line.startswith("bench verdict: FAIL - 1 regressions: placements (s/p)") and "\n" not in line
