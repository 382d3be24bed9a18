"""The staff console (/staff, Japanese pages) and the staff JSON API (/api/v1).

`mount(web, app)` adds both to the web app built by `outreach.web.app.create_app`. The API is
wrapped so that an unauthenticated request is refused before its body is read, and no body
is larger than `API_MAX_BODY` (the OpenAPI document, too, needs a session).
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Scope

from outreach import bootstrap
from outreach.staff import auth
from outreach.web import security
from outreach.web.staff import api, pages
from outreach.web.staff.state import COOKIE, StaffWeb, bearer_token

__all__ = ["API_PREFIX", "CONSOLE_PREFIX", "COOKIE", "mount", "standalone"]

API_PREFIX = "/api/v1"
CONSOLE_PREFIX = "/staff"
API_MAX_BODY = 1 << 20  # a campaign with its three templates is a few kB
API_PUBLIC = frozenset({("POST", "/session")})
_API_REFUSALS = {
    401: "ログインしてください",
    413: "リクエストが大きすぎます",
}


def _api_refusal(status: int, _wait: float | None) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {"detail": _API_REFUSALS.get(status, "リクエストを受け付けられません"), "problems": []},
        ensure_ascii=False,
    ).encode()
    return [(b"content-type", b"application/json"), (b"cache-control", b"no-store")], body


def mount(web: FastAPI, app: bootstrap.App) -> StaffWeb:
    st = StaffWeb(app)

    async def authenticated(scope: Scope) -> bool:
        request = Request(scope)
        token = bearer_token(request) or request.cookies.get(COOKIE)
        if not token:
            return False
        async with st.tx() as s:
            return await auth.authenticate(s, token, now=st.now) is not None

    guarded = security.AuthBeforeBody(
        api.build(st),
        authenticated=authenticated,
        max_bytes=API_MAX_BODY,
        refusal=_api_refusal,
        public=API_PUBLIC,
    )
    web.mount(API_PREFIX, guarded)
    web.mount(CONSOLE_PREFIX, pages.build(st))
    return st


def standalone(app: bootstrap.App) -> FastAPI:
    """Only the staff console and API (tests, and the schemathesis run against the spec)."""
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    mount(web, app)
    return web
