"""HTTP routes beyond the job endpoints: lists, alloc stop, agent, status, regions, namespaces, node
pools, search, metrics and the event stream.

Nomad: command/agent/http.go registerHandlers and the *_endpoint.go handlers named in each
docstring. Handlers call `JobsApi` methods through `NomadHttp.read`/`write` (sim/api/http.py), so
reads block on `?index=` like every other read. The event stream (GET /v1/event/stream) writes
newline-delimited JSON: `{"Index": N, "Events": [...]}` per write, `{}` as a heartbeat; it follows
the simulation as its clock moves (state-store writes), and `?index=` replays the buffer from there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sim.api.events import EventBroker, filtered, parse_topics
from sim.api.requests import query_bool
from sim.errors import ApiError

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from sim.api.jobs import JobsApi
    from sim.world import World

HEARTBEAT = 30.0  # Nomad: the event stream's JSON heartbeat (wall seconds; a keep-alive, not simulated)
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]
ALLOCS = frozenset({"allocs"})


def _json(value: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value, separators=(",", ":")).encode(), media_type="application/json",
                    headers=headers)


def _only(request: Request, *methods: str) -> None:
    """Nomad's 405 for any other method."""
    if request.method not in methods:
        raise ApiError(405, "Invalid method")


def _bool(request: Request, name: str) -> bool | None:
    """An optional boolean query parameter (None when absent)."""
    value = request.query_params.get(name)
    return None if value is None else query_bool(value)


class NomadHttp(Protocol):
    """What the handlers use of sim.api.http.NomadHttp."""

    sim: World
    api: JobsApi
    lock: asyncio.Lock

    async def read(self, request: Request, fn: Callable[..., Any], tables: AbstractSet[str], *args: Any,
                   **kwargs: Any) -> Response: ...

    async def write(self, request: Request, fn: Callable[..., Any], *args: Any, with_body: bool = True,
                    **kwargs: Any) -> Response: ...


class Routes:
    """The handlers, bound to one server's `NomadHttp`."""

    def __init__(self, h: NomadHttp):
        self.h = h
        self.api = h.api
        self.broker = EventBroker(h.sim.state, h.sim.server.unix_nanos)

    async def _plain(self, request: Request, fn: Callable[..., Any], *args: Any) -> Response:
        """A GET that does not block (agent and status endpoints set no index)."""
        _only(request, "GET")
        async with self.h.lock:
            return _json(fn(*args))

    # -- lists ------------------------------------------------------------------------------

    async def allocations(self, request: Request) -> Response:
        """GET /v1/allocations (alloc_endpoint.go AllocsRequest)."""
        _only(request, "GET")
        q = request.query_params
        task_states = _bool(request, "task_states")
        return await self.h.read(request, self.api.list_allocations, ALLOCS, q.get("prefix", ""),
                                 task_states=True if task_states is None else task_states,
                                 resources=bool(_bool(request, "resources")), filter=q.get("filter", ""))

    async def evaluations(self, request: Request) -> Response:
        """GET /v1/evaluations (eval_endpoint.go EvalsRequest)."""
        _only(request, "GET")
        q = request.query_params
        return await self.h.read(request, self.api.list_evaluations, {"evals"}, q.get("prefix", ""),
                                 job=q.get("job", ""), status=q.get("status", ""), filter=q.get("filter", ""))

    async def eval_allocations(self, request: Request) -> Response:
        """GET /v1/evaluation/:id/allocations."""
        _only(request, "GET")
        return await self.h.read(request, self.api.eval_allocations, ALLOCS, request.path_params["id"])

    async def deployment_allocations(self, request: Request) -> Response:
        """GET /v1/deployment/allocations/:id."""
        _only(request, "GET")
        return await self.h.read(request, self.api.deployment_allocations, ALLOCS, request.path_params["id"])

    async def node_allocations(self, request: Request) -> Response:
        """GET /v1/node/:id/allocations."""
        _only(request, "GET")
        return await self.h.read(request, self.api.node_allocations, ALLOCS, request.path_params["id"])

    async def allocation_stop(self, request: Request) -> Response:
        """POST /v1/allocation/:id/stop (`?no_shutdown_delay=`; alloc_endpoint.go allocStop)."""
        _only(request, "PUT", "POST")
        value = request.query_params.get("no_shutdown_delay")
        if value:
            try:
                query_bool(value)
            except ApiError as exc:
                raise ApiError(500, f"no_shutdown_delay value is not a boolean: {exc.message}") from None
        return await self.h.write(request, self.api.stop_allocation, request.path_params["id"], with_body=False)

    # -- agent, status, regions, namespaces, node pools, metrics --------------------------------

    async def agent_self(self, request: Request) -> Response:
        """GET /v1/agent/self."""
        return await self._plain(request, self.api.agent_self)

    async def agent_members(self, request: Request) -> Response:
        """GET /v1/agent/members."""
        return await self._plain(request, self.api.agent_members)

    async def status_peers(self, request: Request) -> Response:
        """GET /v1/status/peers."""
        return await self._plain(request, self.api.status_peers)

    async def regions(self, request: Request) -> Response:
        """GET /v1/regions."""
        return await self._plain(request, self.api.regions)

    async def namespaces(self, request: Request) -> Response:
        """GET /v1/namespaces (`?prefix=`)."""
        _only(request, "GET")
        return await self.h.read(request, self.api.list_namespaces, frozenset(), request.query_params.get("prefix", ""))

    async def namespace(self, request: Request) -> Response:
        """GET /v1/namespace/:name (writes are not simulated: 405)."""
        _only(request, "GET")
        return await self.h.read(request, self.api.read_namespace, frozenset(), request.path_params["name"])

    async def node_pools(self, request: Request) -> Response:
        """GET /v1/node/pools (`?prefix=`)."""
        _only(request, "GET")
        return await self.h.read(request, self.api.list_node_pools, {"nodes"}, request.query_params.get("prefix", ""))

    async def node_pool(self, request: Request) -> Response:
        """GET /v1/node/pool/:name."""
        _only(request, "GET")
        return await self.h.read(request, self.api.read_node_pool, {"nodes"}, request.path_params["name"])

    async def metrics(self, request: Request) -> Response:
        """GET /v1/metrics (`?format=prometheus` is 415: not enabled, as Nomad's default)."""
        _only(request, "GET")
        async with self.h.lock:
            return _json(self.api.metrics(format=request.query_params.get("format", "")))

    # -- search -----------------------------------------------------------------------------

    async def search(self, request: Request) -> Response:
        """PUT/POST /v1/search (search_endpoint.go: any other method is 405)."""
        _only(request, "PUT", "POST")
        return await self.h.write(request, self.api.search)

    async def fuzzy_search(self, request: Request) -> Response:
        """PUT/POST /v1/search/fuzzy."""
        _only(request, "PUT", "POST")
        return await self.h.write(request, self.api.fuzzy_search)

    # -- the event stream -------------------------------------------------------------------

    async def event_stream(self, request: Request) -> Response:
        """GET /v1/event/stream (`?topic=Job:web`, `?index=`, `?namespace=`; event_endpoint.go)."""
        _only(request, "GET")
        q = request.query_params
        text = q.get("index") or "0"
        try:
            index = int(text, 10)
        except ValueError:
            raise ApiError(400, f'Unable to parse index: strconv.Atoi: parsing "{text}": invalid syntax') from None
        try:
            topics = parse_topics(q.getlist("topic"))
        except ValueError as exc:
            raise ApiError(400, f"Invalid topic query: {exc}") from None
        namespace = q.get("namespace") or "default"
        return StreamingResponse(self._stream(request, index, topics, namespace), media_type="application/json",
                                 headers={"Cache-Control": "no-cache"})

    async def _stream(self, request: Request, index: int, topics: dict[str, list[str]],
                      namespace: str) -> AsyncIterator[bytes]:
        broker, wake = self.broker, asyncio.Event()
        broker.attach()
        broker.on_events.append(wake.set)
        try:
            sent = index - 1
            while True:
                wake.clear()
                for batch in broker.since(sent + 1):
                    sent = batch["Index"]
                    out = filtered(batch, topics, namespace)
                    if out is not None:
                        yield json.dumps(out, separators=(",", ":")).encode() + b"\n"
                try:
                    await asyncio.wait_for(wake.wait(), HEARTBEAT)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b"{}\n"
        finally:
            broker.on_events.remove(wake.set)
            broker.detach()


def routes(h: NomadHttp) -> list[Route]:
    """The routes, ahead of the generic ones they refine (deployment/allocations, node/:id/allocations)."""
    r = Routes(h)
    table: list[tuple[str, Callable]] = [
        ("/v1/allocations", r.allocations), ("/v1/allocation/{id}/stop", r.allocation_stop),
        ("/v1/evaluations", r.evaluations), ("/v1/evaluation/{id}/allocations", r.eval_allocations),
        ("/v1/deployment/allocations/{id}", r.deployment_allocations),
        ("/v1/node/pools", r.node_pools), ("/v1/node/pool/{name}", r.node_pool),
        ("/v1/node/{id}/allocations", r.node_allocations),
        ("/v1/agent/self", r.agent_self), ("/v1/agent/members", r.agent_members),
        ("/v1/status/peers", r.status_peers), ("/v1/regions", r.regions),
        ("/v1/namespaces", r.namespaces), ("/v1/namespace/{name:path}", r.namespace),
        ("/v1/search", r.search), ("/v1/search/fuzzy", r.fuzzy_search),
        ("/v1/metrics", r.metrics), ("/v1/event/stream", r.event_stream),
    ]
    return [Route(path, endpoint, methods=METHODS) for path, endpoint in table]
