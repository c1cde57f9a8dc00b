"""HTTP routes of the web view: the static page under /ui and its read endpoints under /ui/api.

Live (`ui_routes`, added to the app of `nomadsim serve`): each read is a Nomad blocking query
(`?index=N&wait=D`, X-Nomad-Index) through the server's own `read`, so the page waits for the
state tables it shows to change instead of polling. The page acts through the /v1 API itself.
Recorded (`view_app`, `nomadsim view RESULTS_DIR`): the same reads over a results folder at
`?at=` seconds, read-only. Besides sim/api/http.py, the only module that imports the web stack.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sim.errors import ApiError
from sim.ui.live import TABLES, LiveSource
from sim.ui.recorded import RecordedSource
from sim.ui.series import since_of

STATIC = Path(__file__).parent / "static"
MEDIA = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png",
         ".svg": "image/svg+xml"}
LIST_TABLES = ("jobs", "allocations", "evaluations", "deployments")
Endpoint = Callable[[Request], Awaitable[Response]]


class Reader(Protocol):
    """What the live routes need of the Nomad HTTP handlers (sim.api.http.NomadHttp)."""

    sim: Any
    api: Any
    clock: Any
    lock: Any

    async def read(self, request: Request, fn: Callable[..., Any], tables: AbstractSet[str], *args: Any,
                   **kwargs: Any) -> Response: ...


def _json(value: Any, index: int = 1) -> Response:
    """Compact JSON with its X-Nomad-Index (1 for a recorded run, which never changes)."""
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(body, media_type="application/json", headers={"X-Nomad-Index": str(index)})


async def static(request: Request) -> Response:
    """GET /ui/ (the page) and /ui/static/<file> (its modules and styles), from the package."""
    name = request.path_params.get("path", "index.html")
    path = (STATIC / name).resolve()
    if STATIC.resolve() not in path.parents or not path.is_file() or path.suffix not in MEDIA:
        return Response("404 page not found\n", status_code=404, media_type="text/plain")
    return Response(path.read_bytes(), media_type=MEDIA[path.suffix], headers={"Cache-Control": "no-cache"})


async def to_page(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=307)


def _page_routes() -> list[Route]:
    return [Route("/ui", to_page), Route("/ui/", static), Route("/ui/static/{path:path}", static)]


def ui_routes(h: Reader) -> list[Route]:
    """The web view over a running simulation (register them before the app's catch-all)."""
    source = LiveSource(h.sim)

    def blocking(read: str, fn: Callable[[Request], Any]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if "at" in request.query_params:
                raise ApiError(400, "at applies to recorded runs only (nomadsim view RESULTS_DIR)")

            def call(namespace: str = "default") -> Any:
                out = fn(request)
                h.api.last_index = source.index(read)
                return out
            return await h.read(request, call, TABLES[read])
        return endpoint

    async def status(request: Request) -> Response:
        async with h.lock:
            out = {**source.status(), "Clock": h.clock.mode, "Speed": h.clock.speed}
        return _json(out, h.sim.state.index)

    async def series(request: Request) -> Response:
        since = since_of(request.query_params.get("since"))
        async with h.lock:
            out = source.series(since)
        return _json(out, h.sim.state.index)

    def table(name: str) -> Endpoint:
        return blocking(name, lambda r: source.table(name, r.query_params))

    return [*_page_routes(), Route("/ui/api/status", status), Route("/ui/api/series", series),
            Route("/ui/api/nodes", blocking("nodes", lambda r: source.nodes(r.query_params.get("static")))),
            Route("/ui/api/node/{id}", blocking("node", lambda r: source.node(r.path_params["id"]))),
            Route("/ui/api/job/{id:path}", blocking("job", lambda r: source.job(
                r.path_params["id"], r.query_params.get("namespace") or "default"))),
            *[Route(f"/ui/api/{name}", table(name)) for name in LIST_TABLES]]


def view_routes(source: RecordedSource) -> list[Route]:
    """The web view over a results folder: every read at `?at=` seconds."""

    def at(fn: Callable[[Request, float], Any]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return _json(fn(request, source.at_of(request.query_params.get("at"))))
        return endpoint

    def table(name: str) -> Endpoint:
        return at(lambda r, t: source.table(name, r.query_params, t))

    return [*_page_routes(), Route("/ui/api/status", at(lambda r, t: source.status())),
            Route("/ui/api/series", at(lambda r, t: source.series(since_of(r.query_params.get("since")), t))),
            Route("/ui/api/nodes", at(lambda r, t: source.nodes(t, r.query_params.get("static")))),
            Route("/ui/api/node/{id}", at(lambda r, t: source.node(r.path_params["id"], t))),
            Route("/ui/api/job/{id:path}", at(lambda r, t: source.job(r.path_params["id"], t))),
            *[Route(f"/ui/api/{name}", table(name)) for name in LIST_TABLES],
            Route("/", to_page)]


async def _error(request: Request, exc: Exception) -> Response:
    """An ApiError as Nomad answers it: its message as the plain-text body."""
    assert isinstance(exc, ApiError)
    return Response(exc.message, status_code=exc.status, media_type="text/plain")


def view_app(folder: str | Path) -> Starlette:
    """The read-only web view of a results folder."""
    return Starlette(routes=view_routes(RecordedSource(folder)), exception_handlers={ApiError: _error})


@contextlib.contextmanager
def serving(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` from a background thread (a notebook, a test, a benchmark); yields its base URL.

    Port 0 picks a free port. On exit the server stops without waiting for open blocking queries.
    """
    import uvicorn

    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the web view could not start on {host}:{port}")
        thread.join(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = server.force_exit = True
        thread.join(10)


def view(folder: str | Path, host: str = "127.0.0.1", port: int = 4646) -> None:
    """Serve the read-only web view of a results folder until interrupted."""
    import uvicorn

    app = view_app(folder)
    print(f"nomadsim: viewing {str(folder)!r} on http://{host}:{port}/ui/", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
