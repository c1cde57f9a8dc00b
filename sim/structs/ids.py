"""UUID-shaped identifiers drawn from a run's random stream, so runs are reproducible."""

from __future__ import annotations

import numpy as np

POOL = 256  # UUIDs drawn at a time (two int64 draws each)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# the 32 hex digits' places in the 36 characters of "8-4-4-4-12" (the other four are dashes)
_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


class IdGenerator:
    """Makes Nomad-style UUIDs (8-4-4-4-12 hex) from a seeded numpy Generator."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._pool: list[str] = []

    def uuid(self) -> str:
        """A fresh UUID-shaped string (version-4 layout)."""
        return (self._pool or self._refill()).pop()

    def uuids(self, n: int) -> list[str]:
        """`n` fresh UUIDs: `uuid()` called `n` times (the pool refilled at the same points)."""
        out: list[str] = []
        while n > 0:
            pool = self._pool or self._refill()
            take = pool[-n:]  # (the last ones: `uuid` pops from the end)
            take.reverse()
            del pool[-n:]
            out += take
            n -= len(take)
        return out

    def _refill(self) -> list[str]:
        """The next POOL UUIDs, drawn at once, kept to be popped in draw order."""
        self._pool = _format_all(self._rng.integers(0, 2**63, size=(POOL, 2), dtype=np.int64))[::-1]
        return self._pool

    def hex8(self) -> str:
        """The first 8 hex characters of a fresh UUID (Nomad's dispatch ID suffix)."""
        return self.uuid()[:8]


def _format_all(raw: np.ndarray) -> list[str]:
    """Per row (a, b) of non-negative int64: the 32 hex digits of a then b, as a version-4 UUID
    (the 13th digit is 4, the 17th is 8 + its value mod 4, i.e. one of 89ab)."""
    octets = raw.astype(">u8").view(np.uint8).reshape(len(raw), 16)
    digits = np.empty((len(raw), 32), dtype=np.uint8)
    digits[:, 0::2] = octets >> 4
    digits[:, 1::2] = octets & 15
    digits[:, 12] = 4
    digits[:, 16] = 8 + (digits[:, 16] & 3)
    chars = np.full((len(raw), 36), ord("-"), dtype=np.uint8)
    chars[:, _DIGITS] = _HEX[digits]
    text = chars.tobytes().decode("ascii")
    return [text[i : i + 36] for i in range(0, len(text), 36)]
