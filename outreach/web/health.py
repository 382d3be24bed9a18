"""`/livez`, `/readyz` and `/metrics` for the people who run the service.

- `/livez`: 200 while the process answers (no database access): restart it when this fails.
- `/readyz`: each check and what is wrong; 503 when the database is unreachable or its
  schema is behind the code, 200 with `"status": "degraded"` when only the worker or the
  scheduler is wrong (the opt-out pages still work then; alert, don't unroute).
- `/metrics`: the Prometheus exposition (outreach.metrics). With OUTREACH_METRICS_TOKEN set it
  needs `Authorization: Bearer <token>`; without, it answers only a direct loopback client
  (a request that came through a proxy, with `X-Forwarded-For` or `Forwarded`, is refused).
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from outreach import bootstrap, health, metrics
from outreach.db import migrate

PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def allowed(request: Request, token: str | None) -> bool:
    """Whether this request may read /metrics (see the module docstring)."""
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def routes(app: bootstrap.App) -> list[Route]:
    token = app.settings.metrics_token
    secret = token.get_secret_value() if token is not None else None
    groups = app.policy.sending.domains

    async def livez(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        report = await health.check(app)
        return JSONResponse(report.as_dict(), status_code=200 if report.ready else 503)

    async def metrics_page(request: Request) -> Response:
        if not allowed(request, secret):
            return Response("forbidden\n", status_code=403, media_type="text/plain")
        snap: metrics.Snapshot | None = None
        try:
            now = app.clock.now()
            async with app.sessions() as session:
                revision = await health.database_revision(session)
                snap = await metrics.snapshot(
                    session,
                    now,
                    domain_groups=groups,
                    leader_present=await metrics.leader_present(session, now),
                    schema_current=1 if revision in migrate.current_heads() else 0,
                )
        except Exception:  # the database is down: serve the process series; /readyz says why
            snap = None
        return Response(metrics.exposition(snap), media_type=metrics.CONTENT_TYPE)

    return [
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]
