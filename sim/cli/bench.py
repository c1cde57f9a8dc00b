"""`nomadsim bench [SUITE]`: run the regression suite and compare it with the committed baseline.

Prints one table row per scenario, policy and KPI (baseline, now, change, verdict) and exits 1
on a regression (naming each KPI) or a failed run, 2 when there is no baseline to compare with;
`--update-baseline` records this run as the baseline instead (results/baseline/<suite>.json).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from sim.cli.options import executor_of, parse_overrides
from sim.errors import SimError


def configure(parser: argparse.ArgumentParser) -> None:
    """The `bench` subcommand's flags."""
    from sim.experiments.bench import DEFAULT_POLICIES, DEFAULT_SEEDS, DEFAULT_SUITE

    parser.add_argument("suite", nargs="?", default=str(DEFAULT_SUITE), help=f"folder of scenarios (default {DEFAULT_SUITE})")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per CPU)")
    parser.add_argument("--dask", metavar="ADDRESS", help="run on Dask: 'local' (a LocalCluster) or tcp://host:8786")
    parser.add_argument("--seeds", type=int, default=len(DEFAULT_SEEDS), metavar="N", help="seeds 1..N (default %(default)s)")
    parser.add_argument("--policy", action="append", metavar="NAME[=SPEC]",
                        help=f"a policy to run (repeatable; default {', '.join(DEFAULT_POLICIES)}); "
                             "SPEC is a built-in name or module:function")
    parser.add_argument("--scenario", action="append", default=[], metavar="GLOB", help="only these scenarios (by name)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario key in every run")
    parser.add_argument("--baseline", help="baseline file (default results/baseline/<suite>.json)")
    parser.add_argument("--update-baseline", action="store_true", help="record this run as the baseline")
    parser.add_argument("--out", help="folder of the run results (default results/bench/<suite>)")
    parser.add_argument("--resume", action="store_true", help="keep runs already finished in --out")
    parser.add_argument("--all", action="store_true", help="also show KPIs without a tolerance (info)")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress lines")


def run(args: argparse.Namespace) -> int:
    """Run the suite, then compare with the baseline or update it."""
    from sim.experiments.bench import (
        DEFAULT_POLICIES,
        baseline_path,
        compare,
        read_baseline,
        regressions,
        run_bench,
        suite_name,
        verdict_line,
        write_baseline,
    )

    baseline = Path(args.baseline) if args.baseline else baseline_path(args.suite)
    if not args.update_baseline and not baseline.exists():
        raise SimError(f"no baseline at {baseline}: record one with `nomadsim bench {args.suite} --update-baseline`")
    frame = run_bench(args.suite, args.policy or DEFAULT_POLICIES, range(1, args.seeds + 1), executor_of(args),
                      args.workers, args.out, only=args.scenario, fixed=parse_overrides(args.set), resume=args.resume,
                      on_result=None if args.quiet else _progress)
    failed = frame[frame["status"] == "failed"]
    for row in failed.to_dict("records"):
        print(f"nomadsim bench: run {row['run_id']} failed: {row['error']}", file=sys.stderr)
    if args.update_baseline:
        write_baseline(baseline, frame, suite_name(args.suite))
        print(f"baseline updated: {baseline} ({int((frame['status'] == 'complete').sum())} runs)")
        return 1 if len(failed) else 0
    comparison = compare(frame, read_baseline(baseline))
    print_comparison(comparison, show_info=args.all)
    bad = regressions(comparison)
    for row in bad.to_dict("records"):
        print(f"nomadsim bench: regression in {row['kpi']} ({row['scenario']}/{row['policy']}): "
              f"baseline {_fmt(row['baseline'])}, now {_fmt(row['now'])}", file=sys.stderr)
    print(verdict_line(comparison, len(failed)))
    return 1 if len(bad) or len(failed) else 0


def _progress(row: dict) -> None:
    print(f"{row['run_id']} {row['status']}" + (f": {row['error']}" if row["error"] else ""), file=sys.stderr, flush=True)


def _fmt(value: float) -> str:
    from sim.results.units import format_value

    return format_value(value)


def _change(row: dict) -> str:
    delta, base = row["change"], row["baseline"]
    if math.isnan(delta):
        return "-"
    if abs(delta) < 1e-9 * max(1.0, abs(base) if not math.isnan(base) else 1.0):
        return "0"
    pct = f" ({delta / abs(base):+.1%})" if base and not math.isnan(base) else ""
    return f"{delta:+,.4g}{pct}"


def _interval(row: dict) -> str:
    """The 95% confidence interval of the change: [change - half, change + half]."""
    delta, half = row["change"], row["ci"]
    if math.isnan(delta) or math.isnan(half):
        return "-"
    return f"[{delta - half:+,.4g}, {delta + half:+,.4g}]"


def print_comparison(comparison: pd.DataFrame, show_info: bool = False) -> None:
    """The comparison as a table: scenario, policy, KPI, baseline, now, change (± CI), verdict."""
    from rich.console import Console
    from rich.table import Table

    shown = comparison if show_info else comparison[~comparison["verdict"].isin(["info", "n/a"])]
    table = Table(title="bench: now vs baseline (means over the seeds both ran; change paired by seed, "
                        "Student's t 95% confidence interval)")
    numeric = ("baseline", "now", "change", "95% CI of change", "seeds")
    for col in ("scenario", "policy", "KPI", *numeric, "verdict"):
        table.add_column(col, justify="right" if col in numeric else "left")
    styles = {"REGRESSION": "bold red", "better": "green", "inconclusive": "yellow"}
    for row in shown.to_dict("records"):
        verdict = row["verdict"]
        style = styles.get(verdict)
        table.add_row(row["scenario"], row["policy"], row["kpi"], _fmt(row["baseline"]), _fmt(row["now"]),
                      _change(row), _interval(row), str(row["seeds"]), f"[{style}]{verdict}[/]" if style else verdict)
    Console(width=max(120, Console().width)).print(table)
