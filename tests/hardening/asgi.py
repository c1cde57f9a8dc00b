"""Calling the HTTP app in-process: one ASGI request, no sockets (used by the hardening tests).

`call` builds the scope uvicorn would, feeds the body, and collects the answer. `disconnect`
(an asyncio.Event) makes `receive` report the client leaving once it is set, as uvicorn does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote

from api.support import tiny_scenario

from sim.api.http import create_app
from sim.simulation import Simulation


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def call(app, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
               disconnect: asyncio.Event | None = None) -> Answer:
    """One request to an ASGI app."""
    path, _, query = target.partition("?")
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": unquote(path), "raw_path": path.encode(), "query_string": query.encode(),
             "headers": raw_headers, "server": ("127.0.0.1", 4646), "client": ("127.0.0.1", 50000),
             "root_path": ""}
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    gone = disconnect or asyncio.Event()

    async def receive():
        if pending:
            return pending.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    out: dict = {"status": 0, "headers": {}, "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return Answer(out["status"], out["headers"], out["body"])


def tiny_app(**kwargs):
    """(simulation, app) over the tiny scenario of the API tests."""
    sim = Simulation.from_scenario(tiny_scenario())
    return sim, create_app(sim, sim.api, **kwargs)


def fingerprint(sim: Simulation) -> tuple:
    """What a rejected request must leave unchanged: the state index, the time and every rng."""
    return (sim.state.index, sim.now, tuple(str(r.bit_generator.state) for r in sim.rngs.values()),
            len(sim.state.jobs(None)), len(sim.state.allocs()), len(sim.state.evals()))
