"""A served simulation's journal: every write and every time advance, so a restart loses nothing.

The simulation is deterministic, so its state is its scenario, its seed and what clients did to
it, in order and at which simulated time. `nomadsim serve --journal FILE` appends one JSON record
per line, written through to the OS at once and fsync'd before the answer is sent:

    {"Journal": 1, "Scenario": "...", "Seed": 7, "Digest": "<sha256 of the scenario>"}   (first line)
    {"Time": 12.0, "Call": "register_job", "Args": [{...}], "Kwargs": {"namespace": "default"}}
    {"Time": 12.0, "Call": "sim_node", "Args": ["node-1", "down", {}], "Kwargs": {}}
    {"Time": 42.5}                                                 (time advanced to 42.5 s)

Replaying runs the world to each record's time (only forward: a write at the current time runs
nothing first, as it did when served), then repeats the call. Writes the server rejected are
journaled too (replay rejects them again), so nothing a request did, rng draws included, is
lost. A torn last line (the process died mid-write) is dropped. `nomadsim run SCEN --journal
FILE` replays the same records offline.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.api.simclock import node_event
from sim.errors import ApiError, SimError

if TYPE_CHECKING:
    from sim.api.jobs import JobsApi
    from sim.world import World

VERSION = 1
NODE_EVENT = "sim_node"  # the Call of POST /v1/sim/nodes/:id/:action


def header(world: World) -> dict[str, Any]:
    """The first record: which scenario and seed the journal belongs to."""
    text = json.dumps(world.scenario.to_dict(), sort_keys=True, default=str)
    return {"Journal": VERSION, "Scenario": world.scenario.name, "Seed": world.seed,
            "Digest": hashlib.sha256(text.encode()).hexdigest()}


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a journal file (header included); a torn last line is dropped.

    Raises:
        SimError: a line other than the last is not a JSON object.
    """
    lines = Path(path).read_bytes().split(b"\n")
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if n >= len(lines) - 1:  # the last line, cut short by a crash
                break
            raise SimError(f"{path}:{n}: not a journal record") from None
        if not isinstance(record, dict):
            raise SimError(f"{path}:{n}: not a journal record")
        records.append(record)
    return records


def check_header(records: list[dict[str, Any]], world: World, path: str | Path) -> None:
    """Raises SimError unless the journal was written for this scenario and seed."""
    want = header(world)
    got = records[0] if records else {}
    if got.get("Journal") != VERSION:
        raise SimError(f"{path}: not a nomadsim journal (version {VERSION})")
    if (got.get("Seed"), got.get("Digest")) != (want["Seed"], want["Digest"]):
        raise SimError(f"{path}: journal of scenario {got.get('Scenario')!r} seed {got.get('Seed')}, "
                       f"not of this scenario {want['Scenario']!r} seed {want['Seed']}")


def apply(world: World, api: JobsApi, record: dict[str, Any]) -> None:
    """Repeat one record: run to its time, then its call (its error, if any, again ignored)."""
    time = float(record["Time"])
    if time > world.now:
        world.run(time)
    call = record.get("Call")
    if call is None:
        return
    args, kwargs = record.get("Args", []), record.get("Kwargs", {})
    try:
        if call == NODE_EVENT:
            node_event(world, *args)
        else:
            getattr(api, call)(*args, **kwargs)
    except ApiError:
        pass


def replay(world: World, api: JobsApi, path: str | Path) -> int:
    """Replay a journal file into a fresh world; returns how many records it applied.

    Raises:
        SimError: the journal is of another scenario or seed, or damaged.
    """
    records = read_records(path)
    check_header(records, world, path)
    for record in records[1:]:
        apply(world, api, record)
    return len(records) - 1


def end_time(path: str | Path) -> float:
    """The simulated time of a journal's last record (0 when it has none)."""
    records = read_records(path)
    return max((float(r["Time"]) for r in records[1:]), default=0.0)


class Journal:
    """Appends records to a journal file: each written through to the OS at once (a killed
    process loses none), and fsync'd by `sync`, which the server awaits off the event loop
    before it answers (concurrent writes share one fsync)."""

    def __init__(self, path: str | Path, world: World, api: JobsApi):
        self.path = Path(path)
        self.world = world
        self.api = api
        self._last_time = world.now
        self._file = self.path.open("ab")

    @classmethod
    def open(cls, path: str | Path, world: World, api: JobsApi) -> Journal:
        """Replay `path` if it exists (else start it), then append to it."""
        path = Path(path)
        if path.exists() and path.stat().st_size:
            replay(world, api, path)
            data = path.read_bytes()
            if not data.endswith(b"\n"):  # drop a torn last line before appending
                with path.open("r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
        journal = cls(path, world, api)
        if not path.stat().st_size:
            journal._append(header(world))
            journal.sync()
        return journal

    def _append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":"), ensure_ascii=True).encode() + b"\n")
        self._file.flush()
        self._last_time = float(record.get("Time", self._last_time))

    def sync(self) -> None:
        """fsync what was appended (blocking: the server runs it in a thread)."""
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Sync and close the file."""
        if not self._file.closed:
            self.sync()
            self._file.close()

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A write request reached the simulation: `api.<name>(*args, **kwargs)` (or a node event)."""
        if name != NODE_EVENT and not callable(getattr(self.api, name, None)):
            raise TypeError(f"journal: {name!r} is not a JobsApi method")
        self._append({"Time": self.world.now, "Call": name, "Args": list(args), "Kwargs": kwargs})

    def advanced(self, now: float) -> None:
        """Simulated time moved to `now`."""
        if now > self._last_time:
            self._append({"Time": now})
