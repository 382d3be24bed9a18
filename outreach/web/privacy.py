"""`GET /privacy`: the published privacy policy, generated from the registry (R10).

On the real dealer file, while a value the page prints is still a placeholder (go-live
guard), the page is not published: 503 with a short notice in Japanese, and the log names
the file and field to fill in.
"""

from __future__ import annotations

import html as html_mod
import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from outreach import bootstrap
from outreach.errors import ConfigError
from outreach.policy import document
from outreach.render import dealer as dealer_mod

log = logging.getLogger(__name__)
CSS_PATH = "/privacy/policy.css"

_NOT_YET = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>プライバシーポリシー（準備中）</title>
<link rel="stylesheet" href="/privacy/policy.css"></head>
<body><main>
<h1>プライバシーポリシー</h1>
<p>ただいま掲載の準備中です。個人情報の取り扱いについてのお問い合わせは、{contact}までご連絡ください。</p>
</main></body></html>
"""


def routes(app: bootstrap.App) -> list[BaseRoute]:
    async def privacy(request: Request) -> Response:
        s = app.settings
        dealer_file = dealer_mod.path(s)
        doc = document.load(s.config_dir, dealer_file)
        try:
            document.require_publishable(s.config_dir, dealer_file)
        except ConfigError as e:
            log.error("/privacy not published: %s", e)
            contact = html_mod.escape(f"{doc.dealer.sender_name}（{doc.dealer.contact_phone}）")
            return HTMLResponse(
                _NOT_YET.format(contact=contact),
                status_code=503,
                headers={"Cache-Control": "no-cache", "Retry-After": "3600"},
            )
        html = document.render(doc, s.templates_dir, css_href=CSS_PATH)
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    css = (app.settings.templates_dir / "web" / document.STYLESHEET).read_bytes()

    async def stylesheet(request: Request) -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    return [
        Route("/privacy", privacy, methods=["GET"]),
        Route(CSS_PATH, stylesheet, methods=["GET"]),
    ]
