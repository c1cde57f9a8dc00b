"""nomadsim: a discrete-event simulator of a Nomad-style cluster scheduler.

`from sim import Simulation` is the entry point (docs/architecture.md). It is resolved lazily, so
importing a light module (`sim.structs`, `sim.plots`) does not build the whole engine.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.simulation import Simulation

try:
    __version__ = version("nomadsim")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Simulation", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Simulation":
        from sim.simulation import Simulation

        return Simulation
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
