"""Regression benchmarks: a scenario suite run per policy and seed, compared with a baseline.

A suite is a folder of scenario files (default `scenarios/bench/`); every `*.yaml` in it is run
once per configured policy and seed through the sweep machinery (sim.experiments.sweep, any executor). A
policy is a name and the scenario overrides it stands for: `binpack` and `spread` set Nomad's
`control_plane.scheduler_algorithm`; `random`, `worst-fit` and `tetris` set
`control_plane.policy` to the built-ins of sim.scheduler.policies; `NAME=module:function` names a custom
one (and `NAME=binpack` gives a built-in another label).

The baseline (`results/baseline/<suite>.json`) holds each KPI per scenario, policy and seed.
A KPI with a `KpiSpec` gets a verdict: the change is the mean over seeds of now - baseline,
paired by seed (Welch's unpaired difference when no seed is shared); it is a REGRESSION when it
goes the bad way by more than the tolerance (max(abs, rel * |baseline|)) and by more than the
half-width of its 95% confidence interval across seeds (Student's t), `better` when the same
holds the good way, `inconclusive` when it passes the tolerance but not the interval, else ok.
A KPI the baseline had but the run lost (NaN) is a regression. KPIs without a spec are `info`.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import SimError
from sim.experiments.sweep import make_spec, run_specs, source_fields

DEFAULT_SUITE = Path("scenarios/bench")
BASELINE_ROOT = Path("results/baseline")
DEFAULT_POLICIES = ("binpack", "spread")
DEFAULT_SEEDS = (1, 2, 3)
REGRESSION = "REGRESSION"

POLICIES: dict[str, dict[str, Any]] = {
    "binpack": {"control_plane.scheduler_algorithm": "binpack"},
    "spread": {"control_plane.scheduler_algorithm": "spread"},
    "random": {"control_plane.policy": "sim.scheduler.policies:random"},
    "worst-fit": {"control_plane.policy": "sim.scheduler.policies:worst_fit"},
    "tetris": {"control_plane.policy": "sim.scheduler.policies:tetris"},
}


@dataclass(frozen=True, slots=True)
class KpiSpec:
    """Which way is better, and how much change is tolerated (max of abs and rel * |baseline|)."""

    better: str  # "lower" or "higher"
    rel: float = 0.0
    abs: float = 0.0

    def tolerance(self, baseline: float) -> float:
        """The change tolerated around `baseline`."""
        return max(self.abs, self.rel * abs(baseline))


KPIS: dict[str, KpiSpec] = {
    "placements": KpiSpec("higher", rel=0.02, abs=0.5),
    "placement_failures": KpiSpec("lower", rel=0.05, abs=0.5),
    "placement_latency_p50": KpiSpec("lower", rel=0.25, abs=0.05),
    "placement_latency_p95": KpiSpec("lower", rel=0.25, abs=0.1),
    "eval_latency_p95": KpiSpec("lower", rel=0.25, abs=0.1),
    "cpu_utilisation_mean": KpiSpec("higher", rel=0.05, abs=0.005),
    "memory_utilisation_mean": KpiSpec("higher", rel=0.05, abs=0.005),
    "deployment_success_rate": KpiSpec("higher", abs=0.05),
    "deployment_duration_mean": KpiSpec("lower", rel=0.25, abs=5.0),
    "batch_jobs_completed": KpiSpec("higher", rel=0.02, abs=0.5),
    "batch_completion_time_mean": KpiSpec("lower", rel=0.10, abs=1.0),
    "batch_completion_time_p95": KpiSpec("lower", rel=0.15, abs=2.0),
    "batch_slowdown_mean": KpiSpec("lower", rel=0.05, abs=0.02),
    "rejected_actions": KpiSpec("lower", abs=0.5),
}

# Two-sided 95% Student t quantiles by degrees of freedom (beyond 30: the normal's 1.96).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def t95(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (conservative between rows)."""
    if df < 1:
        return math.inf
    return next((_T95[k] for k in sorted(_T95, reverse=True) if k <= df), 12.706) if df <= 30 else 1.96


# -- configuration ------------------------------------------------------------------------------


def policy_overrides(arg: str) -> tuple[str, dict[str, Any]]:
    """`binpack` / `tetris` / ... or `NAME=<built-in or module:function>` -> (label, overrides)."""
    name, sep, spec = arg.partition("=")
    spec = spec if sep else name
    if not name or not spec or not re.fullmatch(r"[\w-]+", name):
        raise SimError(f"--policy expects NAME or NAME=module:function (NAME of letters, digits, _ and -), got {arg!r}")
    if spec in POLICIES:
        return name, dict(POLICIES[spec])
    if ":" not in spec:
        raise SimError(f"unknown policy {spec!r}: use one of {', '.join(POLICIES)} or module:function")
    return name, {"control_plane.policy": spec}


def suite_scenarios(suite: str | Path, only: Sequence[str] = ()) -> list[Path]:
    """The suite's scenario files (a folder's `*.yaml`, or one file), filtered by name globs."""
    path = Path(suite)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("*.yaml"))
    else:
        raise SimError(f"bench suite not found: {suite}")
    if only:
        files = [f for f in files if any(fnmatch.fnmatchcase(f.stem, pattern) for pattern in only)]
    if not files:
        raise SimError(f"bench suite {suite}: no scenarios" + (f" matching {', '.join(only)}" if only else ""))
    return files


def suite_name(suite: str | Path) -> str:
    """The suite's name: its folder's (or file's) name."""
    path = Path(suite)
    return path.stem if path.is_file() else path.resolve().name


def bench_specs(scenarios: Sequence[Path], policies: Mapping[str, Mapping[str, Any]], seeds: Iterable[int],
                out: str | Path, fixed: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One run spec per scenario, policy and seed; run ids `<scenario>.<policy>.s<seed>`."""
    specs = []
    seeds = list(seeds)
    for file in scenarios:
        fields = source_fields(file)
        for name, overrides in policies.items():
            for seed in seeds:
                labels = {"scenario": file.stem, "policy": name}
                specs.append(make_spec(fields, {**(fixed or {}), **overrides}, seed, out,
                                       run_id=f"{file.stem}.{name}.s{seed}", labels=labels))
    return specs


def run_bench(suite: str | Path = DEFAULT_SUITE, policies: Sequence[str] = DEFAULT_POLICIES,
              seeds: Iterable[int] = DEFAULT_SEEDS, executor: Any = "local", workers: int | None = None,
              out: str | Path | None = None, *, only: Sequence[str] = (), fixed: Mapping[str, Any] | None = None,
              resume: bool = False, on_result: Any = None) -> pd.DataFrame:
    """Run the suite; one row per scenario, policy and seed (sim.experiments.sweep table columns)."""
    chosen = dict(policy_overrides(p) for p in policies)
    out = Path(out) if out is not None else Path("results/bench") / suite_name(suite)
    specs = bench_specs(suite_scenarios(suite, only), chosen, seeds, out, fixed)
    return run_specs(specs, executor, workers, resume=resume, on_result=on_result)


# -- baseline -----------------------------------------------------------------------------------


def baseline_path(suite: str | Path, root: str | Path = BASELINE_ROOT) -> Path:
    """`results/baseline/<suite name>.json`."""
    return Path(root) / f"{suite_name(suite)}.json"


def kpi_columns(frame: pd.DataFrame) -> list[str]:
    """The KPI columns of a bench table."""
    fixed = {"run_id", "scenario", "policy", "seed", "status", "error"}
    return [c for c in frame.columns if c not in fixed]


def runs_of(frame: pd.DataFrame) -> dict[str, dict[str, dict[str, float | None]]]:
    """`<scenario>/<policy>` -> seed -> KPI -> value (None for NaN), from complete runs."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    kpis = kpi_columns(frame)
    for row in frame[frame["status"] == "complete"].to_dict("records"):
        values = {k: (None if _nan(row[k]) else float(row[k])) for k in kpis}
        out.setdefault(f"{row['scenario']}/{row['policy']}", {})[str(int(row["seed"]))] = values
    return out


def write_baseline(path: str | Path, frame: pd.DataFrame, suite: str) -> dict[str, Any]:
    """Merge the complete runs of `frame` into the baseline file (their entries replaced)."""
    from sim.results.folder import package_version

    path = Path(path)
    data: dict[str, Any] = read_baseline(path) if path.exists() else {"suite": suite, "runs": {}}
    data["runs"].update(runs_of(frame))
    data.update(suite=suite, package_version=package_version(), runs=dict(sorted(data["runs"].items())))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline file's contents."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise SimError(f"cannot read baseline {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise SimError(f"baseline {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
        raise SimError(f"baseline {path}: expected a mapping with 'runs'")
    return data


# -- comparison ---------------------------------------------------------------------------------


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _values(per_seed: Mapping[str, Mapping[str, Any]], kpi: str) -> dict[str, float]:
    return {seed: float(kpis[kpi]) for seed, kpis in per_seed.items() if not _nan(kpis.get(kpi))}


def change(base: Mapping[str, float], now: Mapping[str, float]) -> tuple[float, float]:
    """(mean change now - baseline, half-width of its 95% CI), paired by seed when seeds are shared."""
    common = sorted(set(base) & set(now))
    if common:
        d = np.array([now[s] - base[s] for s in common])
        half = t95(len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else 0.0
        return float(d.mean()), float(half)
    b, n = np.array(list(base.values())), np.array(list(now.values()))
    if len(b) < 2 or len(n) < 2:
        return float(n.mean() - b.mean()), 0.0
    se = math.sqrt(b.var(ddof=1) / len(b) + n.var(ddof=1) / len(n))
    return float(n.mean() - b.mean()), t95(min(len(b), len(n)) - 1) * se


def verdict(spec: KpiSpec | None, base: Mapping[str, float], now: Mapping[str, float]) -> tuple[str, float, float]:
    """(verdict, change, CI half-width) of one KPI; see the module docstring."""
    if not base and not now:
        return "n/a", math.nan, math.nan
    if not base:
        return "new", math.nan, math.nan
    if not now:
        return (REGRESSION if spec is not None else "info"), math.nan, math.nan
    delta, half = change(base, now)
    if spec is None:
        return "info", delta, half
    if abs(delta) <= spec.tolerance(float(np.mean(list(base.values())))):
        return "ok", delta, half
    if abs(delta) <= half:
        return "inconclusive", delta, half
    worse = delta > 0 if spec.better == "lower" else delta < 0
    return (REGRESSION if worse else "better"), delta, half


def compare(frame: pd.DataFrame, baseline: Mapping[str, Any], kpis: Mapping[str, KpiSpec] = KPIS) -> pd.DataFrame:
    """One row per scenario, policy and KPI: baseline and now (means), change, CI, verdict.

    Only the seeds both sides ran are compared (`seeds` says how many), so the two means are over
    the same seed set.

    Raises:
        SimError: the baseline has runs of a scenario and policy but none with a seed of this run.
    """
    now_runs = runs_of(frame)
    rows = []
    for key, per_seed in now_runs.items():
        scenario, policy = key.split("/", 1)
        base_seeds = baseline.get("runs", {}).get(key, {})
        common = set(base_seeds) & set(per_seed)
        if base_seeds and not common:
            raise SimError(f"{key}: the baseline ran seeds {', '.join(sorted(base_seeds))} and this run "
                           f"{', '.join(sorted(per_seed))}: compare equal seed sets (--seeds N)")
        if base_seeds:
            base_seeds = {s: v for s, v in base_seeds.items() if s in common}
            per_seed = {s: v for s, v in per_seed.items() if s in common}
        names = list(dict.fromkeys([*kpi_columns(frame), *(k for s in base_seeds.values() for k in s)]))
        for kpi in names:
            base, now = _values(base_seeds, kpi), _values(per_seed, kpi)
            result, delta, half = verdict(kpis.get(kpi), base, now)
            rows.append({
                "scenario": scenario, "policy": policy, "kpi": kpi,
                "baseline": float(np.mean(list(base.values()))) if base else math.nan,
                "now": float(np.mean(list(now.values()))) if now else math.nan,
                "change": delta, "ci": half, "seeds": len(now), "verdict": result,
            })
    return pd.DataFrame(rows, columns=["scenario", "policy", "kpi", "baseline", "now", "change", "ci", "seeds",
                                       "verdict"])


def verdict_line(comparison: pd.DataFrame, failed_runs: int = 0) -> str:
    """One line: FAIL with the regressions (and failed runs) or PASS, and the counts of every verdict."""
    judged = comparison[~comparison["verdict"].isin(["info", "n/a"])]
    counts = judged["verdict"].value_counts()
    bad = regressions(comparison)
    tally = ", ".join(f"{counts.get(v, 0)} {v.lower()}" for v in (REGRESSION, "inconclusive", "better", "ok", "new"))
    what = f"{len(judged)} KPI comparisons over {comparison[['scenario', 'policy']].drop_duplicates().shape[0]} " \
           f"scenario/policy pairs ({tally})"
    if len(bad) or failed_runs:
        names = ", ".join(f"{r['kpi']} ({r['scenario']}/{r['policy']})" for r in bad.to_dict("records")[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        runs = f"{failed_runs} runs failed; " if failed_runs else ""
        return f"bench verdict: FAIL - {runs}{len(bad)} regressions{': ' + names + more if names else ''}; {what}"
    return f"bench verdict: PASS - no regression at 95% confidence beyond the tolerances; {what}"


def regressions(comparison: pd.DataFrame) -> pd.DataFrame:
    """The comparison rows that are regressions."""
    return comparison[comparison["verdict"] == REGRESSION]
