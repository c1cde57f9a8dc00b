"""Golden results: every table of a few sample scenarios hashes to the digest committed here.

A refactor or a speed-up must leave the simulation's output unchanged; this test says so at a
glance and names the table that moved. The digest covers each table's columns, dtypes and values
(pandas' content hash, not the Parquet bytes, which depend on pyarrow's writer). "Same seed, same
bytes" holds for one set of numeric libraries on one kind of CPU, so the digests are checked only
under the numpy and pandas versions they were recorded with and against those recorded on a
machine of the same float kind (`float_kind`; both in `tests/data/golden.json`); otherwise the
test is skipped with that reason. A deliberate change of behaviour (a fidelity fix) re-records
them: `python tests/test_golden.py --record` on each kind of machine, and the commit says why.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, ROOT

from sim.simulation import Simulation

GOLDEN = DATA / "golden.json"
# scenario -> `--set` overrides that keep it small (seconds to run)
CASES: dict[str, dict[str, Any]] = {
    "quickstart": {},
    "canary-autorevert": {},
    "node-failures": {},
    "periodic-batch": {},
    "alibaba-trace": {"workload[0].trace.limit": 150, "duration": "2h"},
}


def library_versions() -> dict[str, str]:
    """The versions that decide the bytes of a table (major.minor)."""
    return {"numpy": ".".join(np.__version__.split(".")[:2]), "pandas": ".".join(pd.__version__.split(".")[:2])}


def float_kind() -> str:
    """The kind of machine whose float results the digests hold. numpy computes the bin-packing
    score's powers of ten (sim.scheduler.feasible.rank.score_fit) with Intel's SVML on CPUs with
    AVX-512 (AVX512_SKX) and with the C library's pow elsewhere; the two differ in the last bit of
    some scores (the placements table's `score`), never seen to change a placement."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__  # numpy 2
    except ImportError:  # numpy 1.26
        from numpy.core._multiarray_umath import __cpu_features__  # type: ignore[no-redef]
    return platform.machine() + ("-avx512_skx" if __cpu_features__.get("AVX512_SKX") else "")


def table_digest(frame: pd.DataFrame) -> str:
    """sha256 over the columns, their dtypes and every value (row order included)."""
    h = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def digests(name: str) -> dict[str, str]:
    """The digest of every results table of one scenario run."""
    sim = Simulation.from_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=CASES[name])
    sim.run()
    return {table: table_digest(frame) for table, frame in sorted(sim.results().items())}


def recorded() -> dict[str, Any]:
    """The committed digests and the library versions they were recorded with."""
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_match_the_recorded_digests(name: str) -> None:
    """Each table of the scenario is exactly what it was when the digests were recorded."""
    golden = recorded()
    if golden["versions"] != library_versions():
        pytest.skip(f"digests recorded under {golden['versions']}, running {library_versions()}")
    kind = float_kind()
    if kind not in golden["runs"]:
        pytest.skip(f"digests recorded on {sorted(golden['runs'])} machines, running on {kind}")
    runs = golden["runs"][kind][name]
    got = digests(name)
    changed = sorted(t for t in set(got) | set(runs) if got.get(t) != runs.get(t))
    assert changed == [], f"{name}: these tables changed: {changed}"


def test_digest_sees_a_changed_value_and_a_changed_dtype() -> None:
    """One value or one dtype changed gives another digest."""
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    other = frame.copy()
    other.loc[1, "a"] = 2.0000000001
    assert table_digest(frame) == table_digest(frame.copy())
    assert table_digest(other) != table_digest(frame)
    assert table_digest(frame.astype({"a": "float32"})) != table_digest(frame)


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    # this machine kind's digests, beside the other kinds' when recorded under the same versions
    golden = recorded() if GOLDEN.exists() else {"versions": library_versions(), "runs": {}}
    kinds = golden["runs"] if golden["versions"] == library_versions() else {}
    kinds[float_kind()] = {n: digests(n) for n in sorted(CASES)}
    GOLDEN.write_text(json.dumps({"versions": library_versions(), "runs": kinds}, indent=1, sort_keys=True) + "\n")
    print(f"recorded {GOLDEN} for {float_kind()}")
