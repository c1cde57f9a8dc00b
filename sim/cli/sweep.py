"""`nomadsim sweep SWEEP.yaml`: a parameter sweep described in a file, run locally or on Dask.

A sweep file:

```yaml
scenario: ../scenarios/mixed.yaml   # relative to this file, or the scenario inline
factors:                            # dotted scenario keys -> the values they take
  control_plane.scheduler_algorithm: [binpack, spread]
  control_plane.num_schedulers: [1, 2, 4]
seeds: [1, 2, 3]                    # or a count: 3 means seeds 1, 2, 3
set: {duration: 30m}                # optional overrides for every run
until: 30m                          # optional stop time (default: the scenario's duration)
out: results/sweep-mixed            # optional (default results/sweep-<file name>)
```

The table goes to `<out>/sweep.csv` (and `sweep.parquet`); each run's folder to `<out>/<run_id>/`.
Started again over the same folder, the sweep skips the runs already finished.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sim.cli.options import executor_of, parse_overrides, sigterm_interrupts
from sim.errors import SimError

SWEEP_KEYS = ("scenario", "factors", "seeds", "set", "until", "out")
SHOWN_KPIS = ("placements", "placement_failures", "placement_latency_p95", "cpu_utilisation_mean", "nodes_in_use_mean",
              "packing_efficiency_mean")


def configure(parser: argparse.ArgumentParser) -> None:
    """The `sweep` subcommand's flags."""
    parser.add_argument("sweep_file", help="the sweep description (YAML)")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per CPU)")
    parser.add_argument("--dask", metavar="ADDRESS", help="run on Dask: 'local' (a LocalCluster) or tcp://host:8786")
    parser.add_argument("--out", help="the sweep's folder (overrides the file's `out`)")
    parser.add_argument("--seeds", type=int, metavar="N", help="seeds 1..N (overrides the file's `seeds`)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario key in every run")
    parser.add_argument("--no-resume", action="store_true", help="rerun runs already finished in the folder")
    parser.add_argument("--retry-failed", action="store_true", help="rerun runs that failed before")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress lines")


def load_sweep_file(path: str | Path) -> dict[str, Any]:
    """The sweep description with the scenario resolved against the file's folder.

    Raises:
        SimError: a missing file, unknown keys, or missing `scenario` / `factors`.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SimError(f"cannot read sweep file: {err}") from None
    except yaml.YAMLError as err:
        raise SimError(f"{path}: invalid YAML: {err}") from None
    if not isinstance(data, dict):
        raise SimError(f"{path}: a sweep file is a mapping with {', '.join(SWEEP_KEYS)}")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise SimError(f"{path}: unknown key {unknown[0]!r} (expected {', '.join(SWEEP_KEYS)})")
    for key in ("scenario", "factors"):
        if key not in data:
            raise SimError(f"{path}: required key {key!r} is missing")
    if not isinstance(data["factors"], dict) or not data["factors"]:
        raise SimError(f"{path}: factors: expected a mapping of scenario keys to lists of values")
    scenario = data["scenario"]
    data["base_dir"] = path.parent.resolve()
    if isinstance(scenario, str):
        data["scenario"] = (path.parent / scenario).resolve()
    data["seeds"] = seed_list(data.get("seeds", [1]), path)
    data.setdefault("out", f"results/sweep-{path.stem}")
    return data


def seed_list(value: Any, where: Any = "seeds") -> list[int]:
    """A list of seeds, or a count n meaning 1..n."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SimError(f"{where}: seeds: a count must be at least 1")
        return list(range(1, value + 1))
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise SimError(f"{where}: seeds: expected a count or a non-empty list of integers")


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print a per-combination summary; exit 1 if any run failed."""
    from sim.experiments.sweep import sweep
    from sim.scenario.build import parse_duration

    spec = load_sweep_file(args.sweep_file)
    seeds = list(range(1, args.seeds + 1)) if args.seeds else spec["seeds"]
    out = Path(args.out or spec["out"])
    fixed = {**(spec.get("set") or {}), **parse_overrides(args.set)}
    until = spec.get("until")
    until = parse_duration(until) if isinstance(until, str) else until
    progress = Progress(list(spec["factors"]), quiet=args.quiet)
    try:
        with sigterm_interrupts():
            frame = sweep(spec["scenario"], spec["factors"], seeds, executor_of(args), args.workers, out,
                          fixed=fixed, base_dir=spec["base_dir"], until=until, resume=not args.no_resume,
                          retry_failed=args.retry_failed, on_result=progress,
                          on_start=progress.start)
    except KeyboardInterrupt:
        print(f"nomadsim: sweep interrupted after {progress.done} of {progress.total} runs; its workers are "
              f"stopped. Run the same command again to resume (finished runs are kept in {out}).", file=sys.stderr)
        return 130
    frame.to_parquet(out / "sweep.parquet", index=False)
    _print_summary(frame, list(spec["factors"]), out)
    return 1 if (frame["status"] == "failed").any() else 0


class Progress:
    """One line per finished run: `[k/N] factor=value ... seed S status, ETA`."""

    def __init__(self, factors: list[str], quiet: bool = False):
        self.factors = factors
        self.quiet = quiet
        self.done = self.total = self.skipped = 0
        self.started = time.monotonic()

    def start(self, to_run: int, finished: int) -> None:
        """Called before the first run: how many runs there are to do, and how many were already done."""
        self.total, self.skipped, self.started = to_run, finished, time.monotonic()
        if finished and not self.quiet:
            print(f"resuming: {finished} runs already finished, {to_run} to run", file=sys.stderr, flush=True)

    def __call__(self, row: dict[str, Any]) -> None:
        self.done += 1
        if self.quiet:
            return
        values = " ".join(f"{f.rsplit('.', 1)[-1]}={row.get(f)}" for f in self.factors)
        error = f": {row['error']}" if row["error"] else ""
        print(f"[{self.done}/{self.total}] {values} seed={row['seed']} {row['status']}{error} "
              f"(ETA {self.eta()})", file=sys.stderr, flush=True)

    def eta(self) -> str:
        """Wall time left at the mean pace so far (runs run in parallel, so this is a rough estimate)."""
        left = self.total - self.done
        if not left:
            return "done"
        seconds = (time.monotonic() - self.started) / max(self.done, 1) * left
        return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _print_summary(frame, factors: list[str], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from sim.results.kpis import KPI_UNITS
    from sim.results.units import format_value

    kpis = [k for k in SHOWN_KPIS if k in frame.columns]
    grouped = frame.groupby(factors, sort=False, dropna=False)
    table = Table(title=f"sweep: {len(frame)} runs, KPI means over seeds (table: {out / 'sweep.csv'})")
    for col in factors:  # the last part of a dotted key names the column
        table.add_column(col.rsplit(".", 1)[-1])
    for col in ["runs", "failed", *[f"{k} ({KPI_UNITS.get(k) or '-'})" for k in kpis]]:
        table.add_column(col, justify="right")
    for values, group in grouped:
        values = values if isinstance(values, tuple) else (values,)
        means = [group[k].mean() for k in kpis]
        table.add_row(*map(str, values), str(len(group)), str(int((group["status"] == "failed").sum())),
                      *[format_value(m) for m in means])  # means over seeds: never rounded to counts
    Console(width=max(120, Console().width)).print(table)
