"""What the HTTP server refuses before a request reaches the simulation.

Nomad: command/agent/http.go (ACL tokens in `X-Nomad-Token`, `Permission denied` as a 403) and
Go's http.MaxBytesReader (`http: request body too large`). The token is read as Nomad's
parseToken reads it: `X-Nomad-Token`, else `Authorization: Bearer <token>`. Each limit is a field of `Limits`,
set from `nomadsim serve` flags. `TokenGuard` is a plain ASGI wrapper: with a token configured,
a write (PUT, POST, DELETE) without it is refused before any handler runs; reads stay open, as
with Nomad's anonymous policy granting read access.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from sim.errors import ApiError

MiB = 1 << 20
WRITE_METHODS = frozenset({"PUT", "POST", "DELETE", "PATCH"})
MAX_ADVANCE_SECONDS = 366 * 86400.0  # one /v1/sim/advance moves at most a (leap) year

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """The server's limits (generous defaults; every one a `serve` flag)."""

    max_body_bytes: int = 64 * MiB  # any request body
    max_hcl_bytes: int = 4 * MiB  # the JobHCL of /v1/jobs/parse (parsed off the event loop)
    max_blocking: int = 4096  # blocking queries waiting at once
    acl_token: str = ""  # when set, writes need it in X-Nomad-Token


def body_too_large() -> ApiError:
    """Go's http.MaxBytesReader error, as a 413."""
    return ApiError(413, "http: request body too large")


def check_content_length(value: str | None, limit: int) -> None:
    """Refuse a declared body over the limit before reading it.

    Raises:
        ApiError: 400 for a malformed Content-Length, 413 over the limit.
    """
    if value is None:
        return
    if not (value.isascii() and value.isdigit()):
        raise ApiError(400, "Bad Request: bad Content-Length")
    if int(value) > limit:
        raise body_too_large()


def hcl_size(text: str, limit: int) -> None:
    """Raises ApiError 413 when a JobHCL is over the parse limit."""
    if len(text) > limit:
        raise ApiError(413, f"JobHCL too large: {len(text)} bytes (limit {limit})")


def advance_seconds(value: Any, key: str) -> float:
    """A /v1/sim/advance duration: a finite number of seconds in [0, one year].

    Raises:
        ApiError: 400 naming the key and the accepted range.
    """
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not 0 <= value <= MAX_ADVANCE_SECONDS):
        raise ApiError(400, f"{key} must be a number of seconds between 0 and {MAX_ADVANCE_SECONDS:.0f}")
    return float(value)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _bearer(value: bytes | None) -> bytes:
    """The token of an `Authorization: Bearer <token>` header (Nomad reads it after X-Nomad-Token)."""
    scheme, _, token = (value or b"").partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" else b""


class TokenGuard:
    """ASGI wrapper: writes without the ACL token get Nomad's 403 `Permission denied`."""

    def __init__(self, app: Asgi, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            given = _header(scope, b"x-nomad-token") or _bearer(_header(scope, b"authorization"))
            if not hmac.compare_digest(given, self.token):
                body = b"Permission denied"
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
