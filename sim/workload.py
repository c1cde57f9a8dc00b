"""Workload replay: SimPy processes that submit a scenario's jobs and inject its events.

Each timed action becomes one process that waits until its time and calls the job endpoint (the
same domain logic the API uses); node events go to the heartbeat tracker and the clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.scenario_types import NodeEvent
from sim.scenario_workload import Deregister, Register, Update, apply_set
from sim.structs.codec import decode_job, encode_job

if TYPE_CHECKING:
    from sim.simulation import Simulation


class Workload:
    """Replays a scenario's workload and events in a simulation."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.errors: list[tuple[float, str, str]] = []  # (time, action, message) of rejected actions
        env = sim.env
        for action in sim.scenario.workload:
            handler = getattr(self, f"_{type(action).__name__.lower()}", None)
            if handler is None:
                raise NotImplementedError(f"workload action {type(action).__name__} is not supported yet")
            env.process(self._at(action.at, handler, action))
        for event in sim.scenario.events:
            handler = getattr(self, f"_event_{type(event).__name__.lower()}", None)
            if handler is None:
                raise NotImplementedError(f"event {type(event).__name__} is not supported yet")
            env.process(self._at(getattr(event, "at", 0.0), handler, event))

    def _at(self, at: float, handler, action):
        if at > self.sim.env.now:
            yield self.sim.env.timeout(at - self.sim.env.now)
        handler(action)

    # -- job actions ------------------------------------------------------------------------

    def _register(self, action: Register) -> None:
        job_dict = action.source.job if action.source.job is not None else _parse_hcl(action.source.path)
        self._submit(job_dict, "register")

    def _update(self, action: Update) -> None:
        job = self.sim.state.job_by_id("default", action.job)
        if job is None:
            self.errors.append((self.sim.now, "update", f"job {action.job!r} not found"))
            return
        spec = encode_job(job)
        for path, value in action.set.items():
            spec = apply_set(spec, path, value)
        self._submit(spec, "update")

    def _deregister(self, action: Deregister) -> None:
        self.sim.server.jobs.deregister("default", action.job, purge=action.purge)

    def _submit(self, job_dict: dict, what: str) -> None:
        from sim.errors import SimError

        try:
            self.sim.server.jobs.register(decode_job(job_dict))
        except SimError as err:
            self.errors.append((self.sim.now, what, str(err)))

    # -- node events ------------------------------------------------------------------------

    def _event_nodeevent(self, event: NodeEvent) -> None:
        server = self.sim.server
        for name in event.nodes:
            node = next((n for n in self.sim.state.nodes.nodes if n.name == name), None)
            if node is None:
                continue
            if event.action == "down":
                self.sim.clients.node_down(node.id)
            elif event.action == "up":
                self.sim.clients.node_up(node.id)
            elif event.action == "drain":
                server.drainer.drain(node.id, event.deadline)


def _parse_hcl(path: str) -> dict:
    from sim.api.hcl import hcl_to_job

    return hcl_to_job(path)
