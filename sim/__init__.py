"""nomadsim: a discrete-event simulator of a Nomad-style cluster scheduler.

`from sim import Simulation` is the entry point (DESIGN.md). It is resolved lazily, so importing a
light module (`sim.structs`, `sim.plots.cluster`) does not build the whole engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.simulation import Simulation

__all__ = ["Simulation"]


def __getattr__(name: str) -> Any:
    if name == "Simulation":
        from sim.simulation import Simulation

        return Simulation
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
