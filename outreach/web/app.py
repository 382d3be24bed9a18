"""The ASGI app factory: builds the app for one `bootstrap.App` and mounts the routers.

Kept small: each area (opt-out pages, staff console, API) contributes its routes here. Hooks
run at startup and shutdown (the scheduler is started from an `on_startup` hook by `serve`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from fastapi import FastAPI
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from outreach import bootstrap
from outreach.gate import batch
from outreach.web import feedback, health, optout, privacy, security, signup, staff

Hook = Callable[[bootstrap.App], Awaitable[None]]


class Serving:
    """Every request (and the lifespan, whose scheduler jobs share the loop) runs marked as
    served (`gate.batch.serving`): no batch pauses the garbage collector in a web server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        batch.serving()
        await self.app(scope, receive, send)


def create_app(
    app: bootstrap.App,
    *,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> FastAPI:
    """The web app over `app`. `on_startup` hooks run in order once the server starts,
    `on_shutdown` hooks in reverse when it stops (e.g. start/stop the scheduler, close the
    engine)."""
    startup, shutdown = list(on_startup), list(on_shutdown)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batch.serving()
        for hook in startup:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(shutdown):
                await hook(app)

    web = FastAPI(
        title="outreach",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    web.state.outreach = app
    web.state.on_startup = startup
    web.state.on_shutdown = shutdown

    deps = optout.build_deps(app)
    web.router.routes.extend(optout.routes(deps))
    web.router.routes.extend(privacy.routes(app))  # /privacy, from the registry (R10)
    sign = signup.build(app)
    web.router.routes.extend(signup.routes(sign))  # /signup, /signup/confirm/{token}
    # Mounted before /staff, which would otherwise take every /staff/… path.
    web.mount(signup.SHOWROOM_PREFIX, signup.showroom(sign))
    web.mount(feedback.PREFIX, feedback.build(app))
    staff.mount(web, app)  # /staff console and /api/v1 (outreach.web.staff)

    async def healthz(request: Request) -> Response:
        try:
            async with app.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not healthy"; details go to the logs only
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    web.add_route("/healthz", healthz, methods=["GET"])
    web.router.routes.extend(health.routes(app))  # /livez, /readyz, /metrics

    async def landing(request: Request) -> Response:
        """`/`: staff with a session go to the console; anyone else gets a Japanese page
        saying what this site is and where to go (mail links, the phone, the console)."""
        if request.cookies.get(staff.COOKIE):
            return RedirectResponse("/staff/", 303)
        return deps.render("landing.html")

    web.add_route("/", landing, methods=["GET"])

    async def not_found(request: Request, exc: Exception) -> Response:
        return deps.error(404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return deps.error(405)

    web.add_exception_handler(404, not_found)
    web.add_exception_handler(405, not_allowed)

    # Outermost last: headers on every answer, then the rate limit, then the size limit.
    web_policy = deps.policy.web
    web.add_middleware(
        security.BodyLimit, max_bytes=web_policy.max_body_bytes, refusal=deps.error_bytes
    )
    web.add_middleware(
        security.RateLimit,
        buckets=security.TokenBuckets(rate=web_policy.rate_per_second, burst=web_policy.burst),
        forwarded_hops=web_policy.forwarded_hops,
        refusal=deps.error_bytes,
    )
    web.add_middleware(security.SecurityHeaders)
    web.add_middleware(Serving)
    return web
