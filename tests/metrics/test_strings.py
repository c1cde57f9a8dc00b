"""The results tables' Arrow-built string columns and positional joins (sim.metrics.strings, the
running intervals and node usage of sim.metrics.series, the jobs table's all_started) against
the pandas paths they replace, on random cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from conftest import tiny_scenario

from sim.metrics import strings
from sim.metrics.columns import ColumnRows
from sim.metrics.recorder import alloc_codes
from sim.metrics.schema import SCHEMA, frame
from sim.metrics.series import TERMINAL_CLIENT, node_usage_frame, running_intervals
from sim.results.tables import _kth_start
from sim.simulation import Simulation

IDS = [f"id-{i}" for i in range(12)]
STATUSES = ["pending", "running", "complete", "failed", "lost"]


def reference_intervals(allocations: pd.DataFrame) -> pd.DataFrame:
    """The merge-based definition: first running row per alloc, its first terminal row's time."""
    status = allocations["client_status"]
    cols = ["alloc_id", "job_id", "task_group", "node_id", "time"]
    run = allocations.loc[status == "running", cols].drop_duplicates("alloc_id")
    end = allocations.loc[status.isin(TERMINAL_CLIENT), ["alloc_id", "time"]].drop_duplicates("alloc_id")
    out = run.merge(end, on="alloc_id", how="left", suffixes=("_start", "_end"))
    out = out.rename(columns={"time_start": "start", "time_end": "end"})
    out.loc[out["end"] < out["start"], "end"] = np.nan
    return out.reset_index(drop=True)


def allocations(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """`n` random transition rows (in time order) over a few allocs, jobs and nodes."""
    pick = lambda values: [values[i] for i in rng.integers(0, len(values), n)]  # noqa: E731
    return frame("allocations", [
        (float(t), a, f"job-{a[-1]}", "g", node, status, "run")
        for t, a, node, status in zip(np.sort(rng.integers(0, 50, n)), pick(IDS), pick(["n1", "n2", "n3"]),
                                      pick(STATUSES), strict=True)])


@pytest.mark.parametrize("seed", range(30))
def test_running_intervals_match_the_merge(seed: int) -> None:
    rng = np.random.default_rng(seed)
    allocs = allocations(rng, int(rng.integers(0, 40)))
    got = running_intervals(allocs)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), reference_intervals(allocs))
    assert (allocs["alloc_id"].to_numpy()[got.index] == got["alloc_id"].to_numpy()).all()  # index: the row


@pytest.mark.parametrize("seed", range(30))
def test_first_index_is_a_left_join_on_the_first_duplicate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = pd.Series([IDS[i] for i in rng.integers(0, 12, 20)], dtype="string")
    among = pd.Series([IDS[i] for i in rng.integers(0, 8, int(rng.integers(0, 15)))], dtype="string")
    first = {v: i for i, v in reversed(list(enumerate(among)))}
    expected = [first.get(v, -1) for v in values]
    assert strings.first_index(values, among).tolist() == expected
    assert strings.first_index(values, list(among)).tolist() == expected
    python = pd.StringDtype("python")
    assert strings.first_index(values.astype(python), among.astype(python)).tolist() == expected


def test_strings_equal_astype() -> None:
    values = ["a", None, "", "é", "a"]
    expected = pd.Series(values, dtype=object).astype("string")
    by_codes = [strings.from_codes(np.array([0, 1, 2, 3, 0], dtype), ["a", None, "", "é"])
                for dtype in (np.uint8, np.uint16, np.uint32)]  # (codes as narrow as a table keeps them)
    for made in (strings.from_list(values), *by_codes):
        if made is not None:
            pd.testing.assert_series_equal(pd.Series(made), expected)
    assert strings.from_list([1.5, "a"]) is None  # not strings: astype decides


@pytest.mark.parametrize("seed", range(10))
def test_frame_of_columns_equals_frame_of_tuples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [(float(t), IDS[i], IDS[j], f"job-{j}", "g", "n1" if t % 2 else "", float(t) / 3, int(i), 0, int(j),
             "cpu" if t % 3 else "", float(i), float(j), np.nan)
            for t, i, j in zip(rng.integers(0, 99, 50), rng.integers(0, 12, 50), rng.integers(0, 12, 50), strict=True)]
    cols = [c for c, _, _ in SCHEMA["placements"]]
    stored = ColumnRows(len(cols), {cols.index(c): "d" for c in ("time", "score", "cpu", "memory", "disk")},
                        tuple(cols.index(c) for c in ("eval_id", "job_id", "node_id", "dimension_exhausted")))
    stored.extend(rows[:30])
    stored.append(rows[30])
    stored.extend(rows[31:])
    pd.testing.assert_frame_equal(frame("placements", stored), frame("placements", rows))
    assert repr(list(stored)) == repr(rows)


@pytest.mark.parametrize("seed", range(20))
def test_kth_start_matches_the_sort_and_map(seed: int) -> None:
    """The jobs table's all_started: per job, the start of its desired-th run (ties in start order)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 30))
    runs = pd.DataFrame({"job_id": pd.Series([f"j{i}" for i in rng.integers(0, 5, n)], dtype="string"),
                         "start": rng.integers(0, 6, n).astype(float), "end": np.nan})
    desired = pd.Series(rng.integers(0, 5, 4), index=[f"j{i}" for i in range(4)])
    ordered = runs.sort_values(["job_id", "start"], kind="stable")
    rank = ordered.groupby("job_id", sort=False).cumcount() + 1
    hit = ordered[rank.to_numpy() == ordered["job_id"].map(desired).to_numpy()]
    expected = hit.set_index("job_id")["start"]
    got = _kth_start(runs, desired)
    assert dict(zip(got.index, got, strict=True)) == dict(zip(expected.index, expected, strict=True))


def test_node_usage_joined_by_codes_or_by_alloc_id() -> None:
    """The recorder's alloc codes join runs to placements as the alloc-ID join does."""
    sim = Simulation.from_scenario(tiny_scenario(workload=[
        {"at": 0, "register": {"ID": f"b{i}", "Type": "batch", "TaskGroups": [{"Name": "g", "Count": 3, "Tasks": [
            {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Meta": {"sim.runtime": f"{60 * (i + 1)}s"},
             "Resources": {"CPU": 500, "MemoryMB": 256}}]}]}} for i in range(4)],
        metrics={"sample_every": "30s"}))
    sim.run(900)
    rec = sim.recorder
    placements, allocs = (frame(name, rec.rows[name]) for name in ("placements", "allocations"))
    codes = alloc_codes(allocs, placements)
    for from_tables, from_rows in zip(codes, rec._alloc_codes()[0], strict=True):  # the same numbers
        np.testing.assert_array_equal(from_tables, from_rows)
    runs = running_intervals(allocs, ("job_id",), codes.allocations)
    pd.testing.assert_frame_equal(runs, running_intervals(allocs, ("job_id",)))
    args = (rec._samples, rec._node_ids, rec._node_cap, placements, allocs, runs)
    by_codes = node_usage_frame(*args, codes)
    assert by_codes["cpu_used"].sum() > 0
    pd.testing.assert_frame_equal(by_codes, node_usage_frame(*args))


@pytest.mark.parametrize("seed", range(10))
def test_mapped_equals_map_and_fillna(seed: int) -> None:
    """Node names by ID in Arrow: as `map(...).fillna(...)` gives them (NA, absent and NA-named IDs
    included, chunked columns too)."""
    rng = np.random.default_rng(seed)
    ids = [*IDS, None, "absent", "é"]
    mapping: dict[str, object] = {i: f"name-{k}" for k, i in enumerate(IDS[: int(rng.integers(0, 12))])}
    if mapping and rng.random() < 0.5:
        mapping[next(iter(mapping))] = None
    values = pd.Series([ids[i] for i in rng.integers(0, len(ids), 40)], dtype="string")
    if rng.random() < 0.5:
        values = pd.concat([values, values.iloc[:7]], ignore_index=True)  # (two chunks)
    expected = values.astype(object).map(mapping).fillna("").astype("string")
    made = strings.mapped(values, mapping, "")
    if made is not None:
        pd.testing.assert_series_equal(pd.Series(made), expected)
    assert strings.mapped(values.astype(pd.StringDtype("python")), mapping, "") is None


@pytest.mark.parametrize("seed", range(10))
def test_numbered_in_arrow_equals_factorize(seed: int) -> None:
    """Arrow strings numbered in Arrow (chunked, NA and empty columns included) as pandas'
    factorize of the columns joined numbers them."""
    rng = np.random.default_rng(seed)
    pool = [*IDS, None, "", "é"]

    def column() -> pd.Series:
        parts = [[pool[i] for i in rng.integers(0, len(pool), int(rng.integers(0, 30)))]
                 for _ in range(int(rng.integers(1, 4)))]
        chunked = pa.chunked_array([pa.array(part, type=pa.large_string()) for part in parts])
        return pd.Series(pd.arrays.ArrowStringArray(chunked))

    columns = [column() for _ in range(int(rng.integers(1, 4)))]
    expected = pd.factorize(pd.concat([c.astype(object) for c in columns], ignore_index=True), use_na_sentinel=False)[0]
    got = strings.numbered(*columns)
    assert [len(c) for c in got] == [len(c) for c in columns]
    np.testing.assert_array_equal(np.concatenate(got), expected)
