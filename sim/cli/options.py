"""Flag values shared by the subcommands: `--set key=value` overrides and `--dask` executors."""

from __future__ import annotations

import argparse
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
