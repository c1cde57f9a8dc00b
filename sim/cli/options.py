"""Shared by the subcommands: `--set key=value` overrides, `--dask` executors, SIGTERM as Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import yaml

from sim.errors import SimError


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs as a mapping of scenario keys to YAML-parsed values."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SimError(f"--set expects key=value, got {pair!r}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise SimError(f"--set {key}: invalid value {value!r}: {str(err).splitlines()[0]}") from None
    return out


def executor_of(args: argparse.Namespace) -> str:
    """The executor named by --dask (local means a LocalCluster), else the local pool."""
    if not args.dask:
        return "local"
    return "dask" if args.dask == "local" else args.dask


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM stops the command as Ctrl-C does (KeyboardInterrupt)."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
