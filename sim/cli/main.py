"""The `nomadsim` command: run, validate, show, serve, view, plot, sweep and bench.

Each subcommand parses its flags and calls one function; errors a user can fix (a bad scenario,
a missing folder) are printed as one line and exit 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import ModuleType

from sim import __version__
from sim.cli import bench, plot, sweep
from sim.cli.options import parse_overrides
from sim.errors import SimError


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario and write its results folder (a failed run still writes its config and error)."""
    from sim.experiments.run import run_to_folder
    from sim.results.folder import default_dir
    from sim.scenario.load import load_scenario

    scenario = load_scenario(args.scenario, parse_overrides(args.set))
    seed = scenario.seed if args.seed is None else args.seed
    out = Path(args.out) if args.out else default_dir(args.results, scenario.name, seed)
    until = scenario.duration if args.until is None else _seconds(args.until)
    summary, _ = run_to_folder(scenario, out, seed=seed, until=until, csv=args.csv,
                               advance=lambda sim, t: _run_with_progress(sim, t, quiet=args.quiet))
    _print_summary(summary, out)
    return 0


def _seconds(value: str) -> float:
    from sim.scenario.build import parse_duration

    try:
        return parse_duration(value)
    except ValueError as err:
        raise SimError(f"--until: {err}") from None


def _run_with_progress(sim, until: float, quiet: bool) -> None:
    if quiet or not sys.stderr.isatty():
        sim.run(until)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    steps = 100
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("run", total=until)
        for i in range(1, steps + 1):
            sim.run(until * i / steps)
            bar.update(task, completed=sim.now)


def _print_summary(summary: dict[str, float], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"summary ({out})")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, "-" if value != value else f"{value:,.4g}")
    Console().print(table)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a scenario file (and its job files)."""
    from sim.scenario.load import load_scenario

    scenario = load_scenario(args.scenario, parse_overrides(args.set))
    print(f"{args.scenario}: ok ({len(scenario.node_names())} nodes, {len(scenario.workload)} workload actions, "
          f"{len(scenario.events)} events)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a results folder's summary."""
    path = Path(args.results_dir) / "summary.json"
    run_file = Path(args.results_dir) / "run.json"
    run = json.loads(run_file.read_text()) if run_file.exists() else {}
    if run.get("status") == "failed":
        raise SimError(f"{args.results_dir}: the run failed: {run.get('error', 'unknown error')}")
    if not path.exists():
        raise SimError(f"{args.results_dir}: no summary.json (not a results folder, or the run failed)")
    summary = {k: (float("nan") if v is None else v) for k, v in json.loads(path.read_text()).items()}
    _print_summary(summary, Path(args.results_dir))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the Jobs API of a simulated cluster over HTTP."""
    from sim.api.http import serve
    from sim.simulation import Simulation

    sim = Simulation.from_scenario(args.scenario, seed=args.seed, overrides=parse_overrides(args.set))
    serve(sim, sim.api, host=args.host, port=args.port, clock=args.clock, speed=args.speed)
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    """Serve the web view of a finished run's results folder (read-only)."""
    from sim.ui.web import view

    view(args.results_dir, host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="nomadsim", description="Discrete-event simulator of a Nomad-style scheduler.")
    parser.add_argument("--version", action="version", version=f"nomadsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and write results")
    run.add_argument("scenario")
    run.add_argument("--seed", type=int)
    run.add_argument("--out", help="results folder (default results/<name>-<seed>)")
    run.add_argument("--results", default="results", help="root of results folders")
    run.add_argument("--until", help="simulated time to stop at (e.g. 30m)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario key")
    run.add_argument("--csv", action="store_true", help="write CSV next to Parquet")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)
    val = sub.add_parser("validate", help="validate a scenario")
    val.add_argument("scenario")
    val.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    val.set_defaults(func=cmd_validate)
    show = sub.add_parser("show", help="print a results folder's summary")
    show.add_argument("results_dir")
    show.set_defaults(func=cmd_show)
    serve = sub.add_parser("serve", help="serve the Jobs API over HTTP, and the web view at /ui")
    serve.add_argument("scenario")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4646)
    serve.add_argument("--seed", type=int)
    serve.add_argument("--clock", choices=["manual", "realtime"], default="manual")
    serve.add_argument("--speed", type=float, default=1.0)
    serve.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    serve.set_defaults(func=cmd_serve)
    view = sub.add_parser("view", help="open the web view (/ui) over a finished run's results folder")
    view.add_argument("results_dir")
    view.add_argument("--host", default="127.0.0.1")
    view.add_argument("--port", type=int, default=4646)
    view.set_defaults(func=cmd_view)
    for name, (module, help_text) in sorted(EXTENSIONS.items()):
        _add_extension(sub, name, module, help_text)
    return parser


# Subcommands that live in their own modules: each has `configure(parser)` and `run(args) -> int`.
EXTENSIONS = {
    "plot": (plot, "write the standard plots of a results folder"),
    "sweep": (sweep, "run a parameter sweep (local pool or Dask)"),
    "bench": (bench, "run the regression benchmark suite"),
}


def _add_extension(sub: argparse._SubParsersAction, name: str, module: ModuleType, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text)
    module.configure(parser)
    parser.set_defaults(func=module.run)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nomadsim` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SimError as err:
        print(f"nomadsim: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug: one line unless NOMADSIM_TRACEBACK is set
        if os.environ.get("NOMADSIM_TRACEBACK"):
            raise
        print(f"nomadsim: internal error: {type(err).__name__}: {err} (set NOMADSIM_TRACEBACK=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
