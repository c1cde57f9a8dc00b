"""The server's clock: simulated seconds since the run's start, and the Unix time they stand for.

SimPy counts seconds from 0; Nomad stamps objects with Unix time (SubmitTime, CreateTime and
launch times in nanoseconds, periodic launches in seconds). A `Clock` holds the Unix time of the
run's start and converts.
"""

from __future__ import annotations

import simpy


class Clock:
    """Simulated time of one environment, readable as Unix time from `start_unix` on."""

    __slots__ = ("env", "start_unix")

    def __init__(self, env: simpy.Environment, start_unix: float = 0.0):
        self.env = env
        self.start_unix = start_unix

    @property
    def now(self) -> float:
        """Simulated seconds since the run's start."""
        return self.env.now

    def unix_nanos(self, at: float | None = None) -> int:
        """Simulated time (now, or `at`) as Unix nanoseconds (Nomad's SubmitTime, CreateTime ...)."""
        return int(round((self.start_unix + (self.env.now if at is None else at)) * 1e9))

    def unix_seconds(self) -> int:
        """Now as whole Unix seconds (Go's time.Now().Unix())."""
        return self.unix_nanos() // 1_000_000_000
