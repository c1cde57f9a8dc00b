"""UUID-shaped identifiers drawn from a run's random stream, so runs are reproducible."""

from __future__ import annotations

import numpy as np


class IdGenerator:
    """Makes Nomad-style UUIDs (8-4-4-4-12 hex) from a seeded numpy Generator."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._pool: list[str] = []

    def uuid(self) -> str:
        """A fresh UUID-shaped string (version-4 layout)."""
        if not self._pool:
            raw = self._rng.integers(0, 2**63, size=(256, 2), dtype=np.int64)
            self._pool = [_format(int(a), int(b)) for a, b in raw][::-1]
        return self._pool.pop()

    def hex8(self) -> str:
        """The first 8 hex characters of a fresh UUID (Nomad's dispatch ID suffix)."""
        return self.uuid()[:8]


def _format(a: int, b: int) -> str:
    h = f"{a:016x}{b:016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"
