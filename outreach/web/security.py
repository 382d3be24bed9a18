"""Hardening as plain ASGI middleware: security headers, a rate limit per client address, a
request body size limit, and authentication before the body for the JSON API. Plain ASGI (not
BaseHTTPMiddleware) so that it adds no task per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeaders:
    """Adds the headers above to every response, and the strict CSP unless a route set its own
    (the staff console may need a different one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in HEADERS if h[0] not in names)
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_address(scope: Scope, forwarded_hops: int) -> str:
    """The client's address; from X-Forwarded-For only when `forwarded_hops` proxies are trusted.

    With n trusted proxies, the client is the n-th address from the right of the header (the
    entries left of it were written by the client and can be anything).
    """
    direct = scope["client"][0] if scope.get("client") else "unknown"
    if forwarded_hops <= 0:
        return direct
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    hops = [h.strip() for h in ",".join(values).split(",") if h.strip()]
    if not hops:
        return direct
    return hops[-forwarded_hops] if len(hops) >= forwarded_hops else hops[0]


@dataclass
class TokenBuckets:
    """In-process token bucket per key. Per worker process: with n workers a client gets up to
    n times the rate, which is still a bound."""

    rate: float  # tokens per second
    burst: int
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key → (tokens, at)

    def take(self, key: str) -> float:
        """0.0 if allowed (one token taken), else the seconds until a token is available."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._prune(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst
        ]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) > self.max_keys:  # a flood of distinct addresses
            del self._buckets[next(iter(self._buckets))]


Refusal = Callable[[int, float | None], tuple[list[tuple[bytes, bytes]], bytes]]


PUBLIC = ("/u/", "/preferences/")  # the opt-out pages


class _PublicGuard:
    """An ASGI middleware that guards only the paths under `prefixes` (`guard`); every
    other request passes through untouched."""

    def __init__(self, app: ASGIApp, *, refusal: Refusal, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.refusal = refusal
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        await self.guard(scope, receive, send)

    async def guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RateLimit(_PublicGuard):
    """429 with a Retry-After once a client address has used its bucket.

    Only for the public paths under `prefixes` (the opt-out pages): the staff console has its
    own login limits, and a whole office behind one address must not share this bucket.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        buckets: TokenBuckets,
        forwarded_hops: int,
        refusal: Refusal,
        prefixes: tuple[str, ...] = PUBLIC,
    ) -> None:
        super().__init__(app, refusal=refusal, prefixes=prefixes)
        self.buckets = buckets
        self.hops = forwarded_hops

    async def guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        wait = self.buckets.take(client_address(scope, self.hops))
        if wait > 0:
            headers, body = self.refusal(429, wait)
            await _respond(
                send, 429, [*headers, (b"retry-after", str(int(wait) + 1).encode())], body
            )
            return
        await self.app(scope, receive, send)


class BodyLimit(_PublicGuard):
    """413 for a request body larger than `max_bytes`, by Content-Length or as it streams in.

    Only for the paths under `prefixes` (the opt-out pages, whose forms are tiny); the staff
    console posts campaign templates and sets its own limits.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        refusal: Refusal,
        prefixes: tuple[str, ...] = PUBLIC,
    ) -> None:
        super().__init__(app, refusal=refusal, prefixes=prefixes)
        self.max_bytes = max_bytes

    async def guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    headers, body = self.refusal(413, None)
                    await _respond(send, 413, headers, body)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                headers, body = self.refusal(413, None)
                await _respond(send, 413, headers, body)


class _TooLarge(Exception):
    pass


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


Authenticator = Callable[[Scope], Awaitable[bool]]


class AuthBeforeBody:
    """For an authenticated area (the JSON API): refuse a request without a live session
    with 401 before a byte of its body is read, and any body larger than `max_bytes` with
    413. Paths in `public` (method, path relative to the mount) are let through: the login.

    The route still authenticates (and checks CSRF) on its own; this only makes sure an
    anonymous client can make the server neither read nor parse a large body.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticated: Authenticator,
        max_bytes: int,
        refusal: Refusal,
        public: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.authenticated = authenticated
        self.refusal = refusal
        self.public = public
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (scope["method"], relative_path(scope)) not in self.public and not (
            await self.authenticated(scope)
        ):
            headers, body = self.refusal(401, None)
            await _respond(send, 401, headers, body)
            return
        # The body (at most max_bytes) is read here, whole, so that an oversized one gets a
        # clean 413 whether it announced its length or streamed in chunks.
        chunks: list[bytes] = []
        seen = 0
        for k, v in scope["headers"]:
            if k == b"content-length" and (not v.isdigit() or int(v) > self.max_bytes):
                seen = self.max_bytes + 1
        while seen <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if seen > self.max_bytes:
            headers, body = self.refusal(413, None)
            await _respond(send, 413, [*headers, (b"connection", b"close")], body)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def relative_path(scope: Scope) -> str:
    """The request path below the mount point (Starlette keeps the full path in `path`)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path
