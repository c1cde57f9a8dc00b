"""Fixtures of the in-process API tests: the tiny simulation, bare and with the example running."""

from __future__ import annotations

import pytest

from sim.simulation import Simulation

from .support import example_job, tiny_scenario


@pytest.fixture
def sim() -> Simulation:
    """The tiny scenario, nothing registered yet."""
    return Simulation.from_scenario(tiny_scenario())


@pytest.fixture
def running(sim: Simulation) -> Simulation:
    """The example job registered and settled."""
    sim.api.register_job(example_job())
    sim.settle(120)
    return sim
