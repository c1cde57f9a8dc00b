"""Shared fixtures: the reference material, seeded rngs and small simulations."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def sigint_as_from_a_terminal() -> None:
    """`preexec_fn` of a command a test interrupts with SIGINT: SIGINT at its default, as a terminal
    starts it. A shell without job control starts a background pytest with SIGINT ignored; its
    children would inherit that, and Python leaves an ignored SIGINT ignored (no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def tiny_scenario(nodes: int = 3, **extra) -> dict:
    """A small scenario dict: `nodes` identical nodes in dc1, one hour."""
    scenario = {
        "name": "tiny",
        "seed": 1,
        "duration": "1h",
        "cluster": {"nodes": [{"count": nodes, "name_prefix": "node",
                               "resources": {"cpu": 4000, "memory": 8192, "disk": 102400},
                               "reserved": {"cpu": 100, "memory": 256, "disk": 4096, "ports": "22"}}]},
    }
    scenario.update(extra)
    return scenario


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator."""
    return np.random.default_rng(42)
