"""`nomadsim plot RESULTS_DIR [--out DIR] [--format png|svg|pdf]`: write the standard figures of a results folder.

A run's folder (Parquet tables) gets the figures of `sim.plots.STANDARD_PLOTS` it has data for
(a run without deployments gets no deployment timeline: a line on stderr says so); a sweep's
folder (with `sweep.csv`) gets the policy comparison figures instead: KPI bars by factor and
CDFs of placement latency, evaluation latency and per-node cpu utilisation. The files go to
`RESULTS_DIR/plots/` unless `--out` says otherwise; one line per file is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.errors import SimError


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `nomadsim plot`."""
    parser.add_argument("results_dir", help="a results folder (nomadsim run --out) or a sweep folder")
    parser.add_argument("--out", help="folder for the figures (default RESULTS_DIR/plots)")
    parser.add_argument("--dpi", type=int, default=110, help="resolution of PNGs (and of images inside pdf/svg)")
    parser.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="file format of the figures")
    parser.add_argument("--by", action="append", default=None, metavar="COLUMN",
                        help="sweep folders: the factor column(s) to compare (default: every factor)")


def write_sweep_plots(folder: Path, out: Path, by: list[str] | None = None, dpi: int = 110,
                      fmt: str = "png") -> list[Path]:
    """The comparison figures of a sweep folder."""
    import pandas as pd

    from sim.plots.base import save
    from sim.plots.compare import compare_cdfs, compare_kpis, factor_columns, runs_from_sweep

    factors = factor_columns(pd.read_csv(folder / "sweep.csv"))
    for column in by or []:
        if column not in factors:
            raise SimError(f"--by {column!r}: not a factor of this sweep (factors: {', '.join(factors) or 'none'})")
    runs = runs_from_sweep(folder, by)
    if not runs:
        raise SimError(f"{folder}: the sweep has no completed runs")
    return [save(compare_kpis(folder, by=by), out / f"kpi_comparison.{fmt}", dpi=dpi),
            save(compare_cdfs(runs, ["placement_latency", "eval_latency", "node_cpu_utilisation"]),
                 out / f"cdf_comparison.{fmt}", dpi=dpi)]


def run(args: argparse.Namespace) -> int:
    """Write the plots and print their paths."""
    from sim.plots.standard import write_standard_plots
    from sim.results.folder import require_complete

    folder = Path(args.results_dir)
    if not folder.is_dir():
        raise SimError(f"{args.results_dir}: no such results folder")
    out = Path(args.out) if args.out else folder / "plots"
    if (folder / "sweep.csv").is_file():
        paths = write_sweep_plots(folder, out, args.by, args.dpi, args.format)
    else:
        require_complete(folder)  # never draw a half-written, interrupted or failed run
        paths = write_standard_plots(folder, out, dpi=args.dpi, fmt=args.format,
                                     skipped=lambda name, why: print(f"skipped {name}: {why}", file=sys.stderr))
    for path in paths:
        print(path)
    return 0
