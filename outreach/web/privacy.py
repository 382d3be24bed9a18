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
        # The published policy names the company of config/dealer.toml, whatever sender
        # OUTREACH_DEALER_FILE sets for mails (the demo's); the registry is the App's.
        doc = document.load(s.config_dir, registry=app.policy.registry)
        html = document.render(doc, s.templates_dir)
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return [Route("/privacy", privacy, methods=["GET"])]
