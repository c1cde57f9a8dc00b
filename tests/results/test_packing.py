"""Placement-sensitive KPIs: binpack and spread place differently, and the summary now says so;
wait times per job type and priority; bounded slowdown; node names beside node IDs; units."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import tiny_scenario

from sim.results.kpis import KPIS, summarize
from sim.results.tables import BSLD_TAU, table_schemas
from sim.results.units import UNITS, column_unit, format_value
from sim.scenario.load import load_scenario
from sim.simulation import Simulation


def _service(job_id: str, count: int, priority: int = 50) -> dict:
    return {"ID": job_id, "Type": "service", "Priority": priority, "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [
        {"Name": "t", "Driver": "docker", "Config": {"image": "x"}, "Resources": {"CPU": 300, "MemoryMB": 256}}]}]}


def _batch(job_id: str, runtime: str, count: int, priority: int = 50) -> dict:
    return {"ID": job_id, "Type": "batch", "Priority": priority, "Meta": {"sim.runtime": runtime},
            "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [
                {"Name": "t", "Driver": "exec", "Config": {"command": "x"},
                 "Resources": {"CPU": 1800, "MemoryMB": 512}}]}]}


SCENARIO = tiny_scenario(
    10, duration="30m", metrics={"sample_every": "30s"},
    workload=[*({"at": f"{i}s", "register": _service(f"web{i}", 1)} for i in range(8)),  # one alloc each
              {"at": "1m", "register": _batch("wide", "4m", 24, priority=70)},  # more than fits: some wait
              {"at": "2m", "register": _batch("short", "1s", 2)}])


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[dict[str, float], dict[str, pd.DataFrame]]]:
    out = {}
    for algorithm in ("binpack", "spread"):
        sim = Simulation(load_scenario(SCENARIO, {"control_plane.scheduler_algorithm": algorithm}))
        sim.run()
        tables = sim.results()
        out[algorithm] = (summarize(tables), tables)
    return out


def test_binpack_and_spread_summaries_differ_where_placement_differs(runs):
    """Same work, same utilisation; binpack uses fewer nodes, packs them fuller and loads them less evenly."""
    binpack, spread = runs["binpack"][0], runs["spread"][0]
    assert binpack["placements"] == spread["placements"]
    assert binpack["cpu_utilisation_mean"] == pytest.approx(spread["cpu_utilisation_mean"], rel=0.05)
    assert binpack["nodes_in_use_mean"] < spread["nodes_in_use_mean"]
    assert binpack["packing_efficiency_mean"] > spread["packing_efficiency_mean"]
    assert binpack["load_imbalance_cv_mean"] > spread["load_imbalance_cv_mean"]
    assert binpack["load_imbalance_max_mean"] > spread["load_imbalance_max_mean"]


def test_nodes_in_use_over_time_is_recomputable(runs):
    """nodes_in_use_max: the most nodes with anything allocated at one sample (node_usage)."""
    summary, tables = runs["spread"]
    usage = tables["node_usage"]
    used = usage[(usage["cpu_allocated"] > 0) | (usage["memory_allocated"] > 0)].groupby("time").size()
    assert summary["nodes_in_use_max"] == used.max() and isinstance(summary["nodes_in_use_max"], int)


def test_wait_times_per_job_type_and_priority(runs):
    """The wait_times table: one row per (type, priority); the wide batch job waits for capacity."""
    tables = runs["binpack"][1]
    waits = tables["wait_times"].set_index(["type", "priority"])
    assert list(waits.index) == [("batch", 50), ("batch", 70), ("service", 50)]
    jobs = tables["jobs"].set_index("job_id")
    assert waits.loc[("batch", 70), "wait_p50"] == pytest.approx(jobs.loc["wide", "all_started"] - jobs.loc["wide", "submit"])
    assert waits.loc[("batch", 70), "wait_p50"] > 60  # it waited for the first wave to finish
    assert waits.loc[("service", 50), "jobs"] == 8 and waits.loc[("service", 50), "wait_p99"] < 1


def test_bounded_slowdown_bounds_short_jobs(runs):
    """A 1 s job's slowdown counts its run as BSLD_TAU seconds: bounded slowdown <= plain slowdown, >= 1."""
    jobs = runs["binpack"][1]["jobs"].set_index("job_id")
    short = jobs.loc["short"]
    assert short["bounded_slowdown"] == pytest.approx(max(1.0, short["makespan"] / max(short["runtime"], BSLD_TAU)))
    assert 1.0 <= short["bounded_slowdown"] <= short["slowdown"]
    assert math.isnan(jobs.loc["web0", "bounded_slowdown"])  # service jobs have none


def test_tables_name_nodes_beside_node_ids(runs):
    """Every table with node_id has node_name right after it, matching the nodes table."""
    tables = runs["binpack"][1]
    names = dict(zip(tables["nodes"]["node_id"], tables["nodes"]["name"], strict=True))
    for name, frame in tables.items():
        if "node_id" in frame.columns and name != "nodes":
            cols = list(frame.columns)
            assert cols[cols.index("node_id") + 1] == "node_name", name
            named = frame[frame["node_id"] != ""]
            assert (named["node_id"].map(names) == named["node_name"]).all(), name
            assert name in table_schemas() and "node_name" in [c for c, _, _ in table_schemas()[name]]


def test_every_kpi_and_column_has_a_unit(runs):
    """KPIS give each KPI a unit of UNITS; every numeric column of every table has one too."""
    assert all(unit in UNITS for unit, _ in KPIS.values())
    for frame in runs["binpack"][1].values():
        for column, dtype in frame.dtypes.items():
            assert column_unit(str(column), str(dtype)) in UNITS


def test_numbers_are_printed_one_way():
    """Counts with separators, other values with 4 significant digits, never exponents; '-' when missing."""
    assert format_value(29312, "count") == "29,312"
    assert format_value(0.0074, "s") == "0.007400"
    assert format_value(284.5196, "s") == "284.5"
    assert format_value(123456.7, "s") == "123,457"
    assert format_value(float("nan"), "s") == "-" and format_value(None) == "-"
