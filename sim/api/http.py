"""The HTTP server: Nomad's /v1 API over a simulation, plus /v1/sim to drive simulated time.

Nomad: command/agent/http.go (wrap: headers, plain-text errors with their codes, blocking-query
parameters) and command/agent/job_endpoint.go (JobSpecificRequest: the suffix routing of
/v1/job/<id>/..., so IDs with slashes such as dispatched children route). Each handler calls
one `JobsApi` method under the single simulation lock; reads with `?index=` block in simulated
time (sim.api.blocking); `SimClock` moves time on request or with the wall clock.

This is the only module that imports the web stack (starlette, uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim.api.blocking import BlockingQueries, ClientGone, parse_index, parse_wait
from sim.api.journal import NODE_EVENT, Journal
from sim.api.limits import (
    Limits,
    TokenGuard,
    advance_seconds,
    body_too_large,
    check_content_length,
    hcl_size,
)
from sim.api.operator import parse_cas
from sim.api.requests import ascii_uint, body, lookup, parse_json_body, query_bool
from sim.api.results_out import write_results
from sim.api.routes import routes as more_routes
from sim.api.simclock import SimClock, node_event, sim_metrics, sim_status
from sim.errors import ApiError
from sim.ui.web import ui_routes

if TYPE_CHECKING:
    from sim.api.jobs import JobsApi
    from sim.world import World

READ_HEADERS = {"X-Nomad-KnownLeader": "true", "X-Nomad-LastContact": "0"}
WRITES = ("PUT", "POST")
ALL_METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]


# Wall seconds a blocked query waits at most under the manual clock, when nobody moves simulated time.
MANUAL_WALL_GUARD = 300.0


class JobRoute(NamedTuple):
    """A /v1/job/<id><suffix> endpoint: the JobsApi method it calls, and how."""

    suffix: str
    method: str  # the JobsApi method
    tables: frozenset[str] | None  # a GET blocking on these tables; None for a PUT/POST
    flags: tuple[str, ...] = ()  # boolean query parameters a GET passes by name
    with_body: bool = True  # a write passes the JSON body


# Nomad checks the suffixes in this order (job_endpoint.go, JobSpecificRequest).
JOB_ROUTES = (
    JobRoute("/evaluate", "evaluate_job", None),
    JobRoute("/allocations", "job_allocations", frozenset({"allocs"}), ("all",)),
    JobRoute("/evaluations", "job_evaluations", frozenset({"evals"})),
    JobRoute("/periodic/force", "force_periodic", None, with_body=False),
    JobRoute("/plan", "plan_job", None),
    JobRoute("/summary", "job_summary", frozenset({"job_summary"})),
    JobRoute("/dispatch", "dispatch_job", None),
    JobRoute("/versions", "job_versions", frozenset({"job_version"}), ("diffs",)),
    JobRoute("/revert", "revert_job", None),
    JobRoute("/deployments", "job_deployments", frozenset({"deployment"}), ("all",)),
    JobRoute("/deployment", "job_deployment", frozenset({"deployment"})),
    JobRoute("/stable", "stable_job", None),
    JobRoute("/scale", "job_scale_status", frozenset({"jobs", "allocs", "scaling_event"})),  # POST: scale_job
)


def dumps(value: Any) -> bytes:
    """Compact JSON, as Nomad answers without ?pretty."""
    return json.dumps(value, separators=(",", ":")).encode()


def error_response(exc: ApiError, index: int | None = None) -> Response:
    """A Nomad error: the message as the whole plain-text body."""
    headers = {"X-Nomad-Index": str(index)} if index is not None else None
    return Response(exc.message, status_code=exc.status, media_type="text/plain", headers=headers)


def invalid_method() -> ApiError:
    """Nomad: ErrInvalidMethod."""
    return ApiError(405, "Invalid method")


class NomadHttp:
    """Request handlers bound to one simulation."""

    def __init__(self, world: World, api: JobsApi, clock: str = "manual", speed: float = 1.0,
                 limits: Limits | None = None, journal: Journal | None = None, out: Path | None = None):
        self.sim = world
        self.api = api
        self.limits = limits or Limits()
        self.journal = journal
        self.out = out  # the results folder of POST /v1/sim/results and of shutdown
        self.lock = asyncio.Lock()
        self.blocking = BlockingQueries(world.state, self.limits.max_blocking)
        self.clock = SimClock(world, self.blocking, self.lock, clock, speed)
        self.clock.on_advance = journal.advanced if journal is not None else None
        self._parsers = asyncio.Semaphore(2)  # HCL parses running off the event loop at once

    # -- plumbing ---------------------------------------------------------------------------

    async def _body(self, request: Request) -> Any:
        """The request's JSON body (None when empty), at most `max_body_bytes`; Go's decoder errors as 400s."""
        limit = self.limits.max_body_bytes
        check_content_length(request.headers.get("content-length"), limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise body_too_large()
            chunks.append(chunk)
        return parse_json_body(b"".join(chunks))

    def _wall_cap(self, wait: float) -> float:
        """Wall seconds a blocked request may wait at most (so a client never hangs).

        `wait` is simulated time: under the manual clock only a client's advance moves it, so the
        guard is MANUAL_WALL_GUARD wall seconds whatever the wait (Nomad's maximum query time).
        """
        return MANUAL_WALL_GUARD if self.clock.mode == "manual" else wait / self.clock.speed + 1.0

    async def read(self, request: Request, fn: Callable[..., Any], tables: AbstractSet[str], *args: Any,
                   **kwargs: Any) -> Response:
        """A GET: run the read, blocking while its index is not past `?index=`."""
        q = request.query_params
        min_index = parse_index(q.get("index"))
        wait = parse_wait(q.get("wait")) if min_index else 0.0
        kwargs.setdefault("namespace", q.get("namespace") or "default")
        loop = asyncio.get_running_loop()
        deadline, wall_end = self.sim.now + wait, loop.time() + self._wall_cap(wait)
        watched, gone = frozenset(tables), None
        try:
            while True:
                async with self.lock:
                    result, error = self._call(fn, args, kwargs)
                    index = self.api.last_index
                remaining = wall_end - loop.time()
                if (not min_index or index > min_index or self.sim.now >= deadline or remaining <= 0
                        or self.blocking.closed):
                    break
                gone = gone or disconnected(request)
                await self.blocking.wait(watched, deadline, remaining, gone)
        except ClientGone:
            return Response(status_code=499)  # nobody reads it: the client left
        finally:
            if gone is not None:
                gone.cancel()
        index = max(1, index)  # Nomad never answers index 0 (clients would spin)
        if error is not None:
            return error_response(error, index)
        return Response(dumps(result), media_type="application/json",
                        headers={"X-Nomad-Index": str(index), **READ_HEADERS})

    async def _synced(self) -> None:
        """Wait until the journal is on disk (fsync in a thread: the loop and the lock stay free)."""
        if self.journal is not None:
            await asyncio.to_thread(self.journal.sync)

    def _journal(self, name: str, args: tuple, kwargs: dict) -> None:
        """Append a write to the journal (if the server keeps one)."""
        if self.journal is not None:
            self.journal.call(name, args, kwargs)

    @staticmethod
    def _call(fn: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[Any, ApiError | None]:
        try:
            return fn(*args, **kwargs), None
        except ApiError as exc:
            return None, exc

    async def write(self, request: Request, fn: Callable[..., Any], *args: Any, with_body: bool = True,
                    **kwargs: Any) -> Response:
        """A PUT/POST/DELETE: one API call under the lock; X-Nomad-Index is the write's index."""
        if with_body:
            args = (*args, await self._body(request))
        kwargs.setdefault("namespace", request.query_params.get("namespace") or "default")
        async with self.lock:
            try:
                result = fn(*args, **kwargs)
            except ApiError:  # a rejected write is journaled too: replay rejects it again, draws included
                self._journal(fn.__name__, args, kwargs)
                raise
            self._journal(fn.__name__, args, kwargs)
            index = self.api.last_index
        await self._synced()
        return Response(dumps(result), media_type="application/json", headers={"X-Nomad-Index": str(index)})

    # -- /v1/jobs ---------------------------------------------------------------------------

    async def jobs(self, request: Request) -> Response:
        """GET list, PUT/POST register."""
        q = request.query_params
        if request.method == "GET":
            return await self.read(request, self.api.list_jobs, {"jobs", "job_summary"}, q.get("prefix", ""),
                                   meta=query_bool(q.get("meta")))
        if request.method in WRITES:
            return await self.write(request, self.api.register_job)
        raise invalid_method()

    async def jobs_parse(self, request: Request) -> Response:
        """PUT/POST /v1/jobs/parse."""
        if request.method not in WRITES:
            raise invalid_method()
        payload = await self._body(request)
        hcl = lookup(payload, "JobHCL") if isinstance(payload, dict) else None
        if isinstance(hcl, str):
            hcl_size(hcl, self.limits.max_hcl_bytes)
        async with self._parsers:  # off the event loop: other requests go on meanwhile
            out = await asyncio.to_thread(self.api.parse_job, payload)
        return Response(dumps(out), media_type="application/json")

    async def job_specific(self, request: Request) -> Response:
        """/v1/job/<id>[/<suffix>]: Nomad's suffix routing, then the job itself."""
        path = request.path_params["rest"]
        for route in JOB_ROUTES:
            if path.endswith(route.suffix) and len(path) > len(route.suffix):
                return await self.job_route(request, route, path[: -len(route.suffix)])
        return await self.job_crud(request, path)

    async def job_route(self, request: Request, route: JobRoute, job_id: str) -> Response:
        """One /v1/job/<id>/<suffix> endpoint: a blocking GET or a PUT/POST."""
        fn = getattr(self.api, route.method)
        q = request.query_params
        if route.suffix == "/scale" and request.method in WRITES:
            return await self.write(request, self.api.scale_job, job_id)
        if route.tables is not None:
            self._get(request)
            flags = {flag: query_bool(q.get(flag)) for flag in route.flags}
            return await self.read(request, fn, route.tables, job_id, **flags)
        self._post(request)
        if route.method == "dispatch_job":
            return await self._dispatch(request, job_id)
        return await self.write(request, fn, job_id, with_body=route.with_body)

    async def job_crud(self, request: Request, job_id: str) -> Response:
        """GET read, PUT/POST update, DELETE deregister."""
        q = request.query_params
        if request.method == "GET":
            return await self.read(request, self.api.read_job, {"jobs"}, job_id)
        if request.method in WRITES:
            return await self.write(request, self.api.update_job, job_id)
        if request.method == "DELETE":
            priority = q.get("eval_priority")
            value = 0 if priority is None else ascii_uint(priority, 63)
            if value is None:
                raise ApiError(400, "Failed to parse value of eval_priority")
            return await self.write(request, self.api.deregister_job, job_id, with_body=False,
                                    purge=query_bool(q.get("purge")), eval_priority=value)
        raise invalid_method()

    def _get(self, request: Request) -> None:
        """Nomad's 405 for anything but GET."""
        if request.method != "GET":
            raise invalid_method()

    def _post(self, request: Request) -> None:
        """Nomad's 405 for anything but PUT/POST."""
        if request.method not in WRITES:
            raise invalid_method()

    async def _dispatch(self, request: Request, job_id: str) -> Response:
        """POST /v1/job/<id>/dispatch: `?idempotency_token=` joins the body."""
        payload = await self._body(request)
        token = request.query_params.get("idempotency_token")
        if token and isinstance(payload, dict | type(None)):
            payload = {**(payload or {}), "IdempotencyToken": token}
        return await self.write(request, self.api.dispatch_job, job_id, payload, with_body=False)

    # -- evaluations, allocations, deployments, nodes ------------------------------------------

    async def evaluation(self, request: Request) -> Response:
        """GET /v1/evaluation/:id."""
        self._get(request)
        return await self.read(request, self.api.read_evaluation, {"evals"}, request.path_params["id"])

    async def allocation(self, request: Request) -> Response:
        """GET /v1/allocation/:id."""
        self._get(request)
        return await self.read(request, self.api.read_allocation, {"allocs"}, request.path_params["id"])

    async def deployments(self, request: Request) -> Response:
        """GET /v1/deployments (`?prefix=`)."""
        self._get(request)
        return await self.read(request, self.api.list_deployments, {"deployment"},
                               request.query_params.get("prefix", ""))

    async def deployment(self, request: Request) -> Response:
        """GET /v1/deployment/:id."""
        self._get(request)
        return await self.read(request, self.api.read_deployment, {"deployment"}, request.path_params["id"])

    async def deployment_action(self, request: Request) -> Response:
        """POST /v1/deployment/{promote,fail,pause,allocation-health}/:id."""
        self._post(request)
        action, dep_id = request.path_params["action"], request.path_params["id"]
        actions = {"promote": self.api.promote_deployment, "pause": self.api.pause_deployment,
                   "allocation-health": self.api.set_alloc_health}
        if action == "fail":
            return await self.write(request, self.api.fail_deployment, dep_id, with_body=False)
        fn = actions.get(action)
        if fn is None:
            return await _not_found(request)
        return await self.write(request, fn, dep_id)

    async def nodes(self, request: Request) -> Response:
        """GET /v1/nodes (`?prefix=`, `?resources=`)."""
        self._get(request)
        q = request.query_params
        return await self.read(request, self.api.list_nodes, {"nodes"}, q.get("prefix", ""),
                               resources=query_bool(q.get("resources")))

    async def node(self, request: Request) -> Response:
        """GET /v1/node/:id."""
        self._get(request)
        return await self.read(request, self.api.read_node, {"nodes"}, request.path_params["id"])

    async def node_action(self, request: Request) -> Response:
        """POST /v1/node/:id/{drain,eligibility,purge}; other actions are 404s."""
        fn = {"drain": self.api.drain_node, "eligibility": self.api.node_eligibility,
              "purge": self.api.purge_node}.get(request.path_params["action"])
        if fn is None:
            return await _not_found(request)
        self._post(request)
        return await self.write(request, fn, request.path_params["id"])

    async def scheduler_configuration(self, request: Request) -> Response:
        """GET / PUT / POST /v1/operator/scheduler/configuration (PUT: `?cas=`)."""
        if request.method == "GET":
            return await self.read(request, self.api.scheduler_configuration, {"scheduler_config"})
        if request.method in WRITES:
            cas = parse_cas(request.query_params.get("cas"))
            return await self.write(request, self.api.update_scheduler_configuration, cas=cas)
        raise invalid_method()

    async def status_leader(self, request: Request) -> Response:
        """GET /v1/status/leader: the one simulated server."""
        self._get(request)
        return Response(dumps("127.0.0.1:4647"), media_type="application/json")

    # -- /v1/sim ----------------------------------------------------------------------------

    async def sim_advance(self, request: Request) -> Response:
        """POST {"Seconds": S}: run S simulated seconds."""
        self._post(request)
        seconds = advance_seconds(body(await self._body(request), "SimAdvanceRequest").get("Seconds"), "Seconds")
        gone = disconnected(request)
        try:
            now = await self.clock.advance(seconds, gone)
        finally:
            gone.cancel()
        await self._synced()
        return self._sim_answer({"Time": now})

    async def sim_settle(self, request: Request) -> Response:
        """POST {"MaxSeconds": S}: run until nothing is pending (or S passes)."""
        self._post(request)
        max_seconds = advance_seconds(body(await self._body(request), "SimSettleRequest").get("MaxSeconds", 3600.0),
                                      "MaxSeconds")
        gone = disconnected(request)
        try:
            settled = await self.clock.settle(max_seconds, gone=gone)
        finally:
            gone.cancel()
        await self._synced()
        return self._sim_answer({"Time": self.sim.now, "Settled": settled})

    def _sim_answer(self, out: dict[str, Any]) -> Response:
        index = self.sim.state.index
        out["Index"] = index
        return Response(dumps(out), media_type="application/json", headers={"X-Nomad-Index": str(index)})

    async def sim_status(self, request: Request) -> Response:
        """GET: simulated time, clock, pending work and table sizes."""
        self._get(request)
        async with self.lock:
            out = sim_status(self.sim, self.clock, len(self.blocking))
        return self._sim_answer(out)

    async def sim_metrics(self, request: Request) -> Response:
        """GET: a summary of the run so far (counts by status, metric rows per table)."""
        self._get(request)
        async with self.lock:
            out = sim_metrics(self.sim)
        return self._sim_answer(out)

    async def sim_nodes(self, request: Request) -> Response:
        """POST /v1/sim/nodes: a node group (the scenario's `add_nodes` form) joins now."""
        self._post(request)
        return await self.write(request, self.api.add_nodes)

    async def sim_node(self, request: Request) -> Response:
        """POST /v1/sim/nodes/:id/down|up|drain: a node event now (ID or name)."""
        self._post(request)
        if request.path_params["action"] not in ("down", "up", "drain"):
            return await _not_found(request)
        payload = body(await self._body(request), "SimNodeRequest")
        args = (request.path_params["id"], request.path_params["action"], payload)
        async with self.lock:
            out = node_event(self.sim, *args)
            self._journal(NODE_EVENT, args, {})
        await self._synced()
        return self._sim_answer(out)

    async def sim_results(self, request: Request) -> Response:
        """POST /v1/sim/results: write the results folder of the run so far (`serve --out DIR`)."""
        self._post(request)
        if self.out is None:
            raise ApiError(400, "no results folder: start the server with --out DIR")
        async with self.lock:
            summary = write_results(self.sim, self.out)
        return self._sim_answer({"Time": self.sim.now, "Out": str(self.out), "Summary": summary})


def disconnected(request: Request) -> asyncio.Future:
    """A future that completes when the client disconnects (cancel it once answered)."""
    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
    return asyncio.ensure_future(watch())


async def _api_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)  # type: ignore[arg-type]


async def _not_found(request: Request) -> Response:
    return Response("404 page not found\n", status_code=404, media_type="text/plain")


def create_app(world: World, api: JobsApi, clock: str = "manual", speed: float = 1.0,
               limits: Limits | None = None, journal: Journal | None = None, out: Path | None = None) -> Any:
    """The ASGI app serving one simulation's API (the clock starts with the app; with `out`, the
    results folder is written when it stops)."""
    h = NomadHttp(world, api, clock, speed, limits, journal, out)

    def route(path: str, endpoint: Callable) -> Route:
        """A route taking every method (handlers answer Nomad's 405 themselves)."""
        return Route(path, endpoint, methods=ALL_METHODS)

    routes = [
        *more_routes(h),  # (first: they refine /v1/deployment/{action}/{id} and /v1/node/{id}/{action})
        route("/v1/jobs", h.jobs), route("/v1/jobs/parse", h.jobs_parse), route("/v1/job/{rest:path}", h.job_specific),
        route("/v1/evaluation/{id}", h.evaluation), route("/v1/allocation/{id}", h.allocation),
        route("/v1/deployments", h.deployments),
        route("/v1/deployment/{action:str}/{id}", h.deployment_action), route("/v1/deployment/{id}", h.deployment),
        route("/v1/nodes", h.nodes), route("/v1/node/{id}/{action}", h.node_action), route("/v1/node/{id}", h.node),
        route("/v1/status/leader", h.status_leader),
        route("/v1/operator/scheduler/configuration", h.scheduler_configuration),
        route("/v1/sim/advance", h.sim_advance), route("/v1/sim/settle", h.sim_settle),
        route("/v1/sim/status", h.sim_status), route("/v1/sim/metrics", h.sim_metrics),
        route("/v1/sim/nodes", h.sim_nodes), route("/v1/sim/nodes/{id}/{action}", h.sim_node),
        route("/v1/sim/results", h.sim_results),
        *ui_routes(h),
        route("/{path:path}", _not_found),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """The realtime clock runs while the app serves."""
        h.clock.start()
        yield
        h.blocking.close()
        await h.clock.stop()
        if h.out is not None:
            write_results(h.sim, h.out)
        if h.journal is not None:
            h.journal.close()

    app = Starlette(routes=routes, exception_handlers={ApiError: _api_error}, lifespan=lifespan)
    app.state.nomad = h
    return TokenGuard(app, h.limits.acl_token) if h.limits.acl_token else app


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(world: World, api: JobsApi, host: str = "127.0.0.1", port: int = 4646, clock: str = "manual",
          speed: float = 1.0, limits: Limits | None = None, journal: Journal | None = None,
          out: Path | None = None) -> None:
    """Serve a simulation's API over HTTP until interrupted (uvicorn, one process, one event loop).

    SIGTERM or Ctrl-C ends blocked queries at once and stops within about a second.
    """
    import uvicorn

    app = create_app(world, api, clock, speed, limits, journal, out)
    inner: Any = getattr(app, "app", app)  # inside the TokenGuard, if any
    nomad = inner.state.nomad
    if host not in LOOPBACK:
        print(f"nomadsim: warning: listening on {host}, not loopback: anyone who can reach it can change the "
              f"simulation{'' if (limits and limits.acl_token) else ' (no --acl-token set)'}", file=sys.stderr)
    print(f"nomadsim: serving {world.scenario.name!r} on http://{host}:{port} (clock {clock}, speed {speed})",
          file=sys.stderr, flush=True)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            with contextlib.suppress(RuntimeError):  # wake blocked queries from the loop's own thread
                asyncio.get_running_loop().call_soon_threadsafe(nomad.blocking.close)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=1)
    Server(config).run()
