"""`GET /privacy`: the published privacy policy, generated from the registry (R10)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from outreach import bootstrap
from outreach.policy import document


def routes(app: bootstrap.App) -> list[BaseRoute]:
    async def privacy(request: Request) -> Response:
        s = app.settings
        p = app.policy
        doc = document.load(s.config_dir, registry=p.registry, dealer=p.dealer)
        html = document.render(doc, s.templates_dir)
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return [Route("/privacy", privacy, methods=["GET"])]
