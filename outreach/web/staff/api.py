"""The staff JSON API under /api/v1, documented by OpenAPI at /api/v1/openapi.json.

Authenticated by `Authorization: Bearer <token>` (from POST /session) or by the console's
session cookie plus the X-CSRF-Token header for writes. The same service functions as the
console and the CLI; this module only translates HTTP.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer

from outreach import labels
from outreach.errors import OutreachError
from outreach.staff import auth
from outreach.staff import spec as spec_mod
from outreach.staff.errors import Busy, Invalid, NotAuthenticated, RateLimited
from outreach.web.staff import (
    api_campaigns,
    api_customers,
    api_session,
    api_users,
    api_watching,
    schemas,
)
from outreach.web.staff.api_common import ERRORS, STATUS, campaign_out, status_of, who
from outreach.web.staff.api_customers import jsonable
from outreach.web.staff.api_session import _me
from outreach.web.staff.state import StaffWeb, remote

__all__ = ["ERRORS", "STATUS", "build", "campaign_out", "jsonable", "status_of", "who"]

RESOURCES = (api_session, api_campaigns, api_watching, api_customers, api_users)


def build(st: StaffWeb) -> FastAPI:
    api = FastAPI(
        title="outreach staff API",
        version="1",
        description="キャンペーンの作成・プレビュー・承認・配信管理と、顧客からの請求対応（開示・訂正・利用停止）",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,
    )
    bearer = HTTPBearer(auto_error=False, description="Token from POST /session")

    async def guard(request: Request, _: Any = Depends(bearer)) -> None:
        """Authenticate (and check CSRF for cookie writes) before anything else is parsed,
        so an unauthenticated request is refused with 401 whatever it carries."""
        async with st.tx() as s:
            request.state.principal = await st.principal(s, request)

    api.state.staff = st

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OutreachError)
        problems = (
            [{**dataclasses.asdict(p), "label": labels.field_name(p.field)} for p in exc.problems]
            if isinstance(exc, Invalid)
            else []
        )
        return JSONResponse(
            {"detail": str(exc), "problems": problems},
            status_code=status_of(exc),
            headers={"cache-control": "no-store"},
        )

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ())]
            field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
            problems.append(
                {
                    "field": field,
                    "label": labels.field_name(field),
                    "message": spec_mod.japanese(e),
                }
            )
        return JSONResponse({"detail": "入力が正しくありません", "problems": problems}, 422)

    api.add_exception_handler(OutreachError, on_error)
    api.add_exception_handler(RequestValidationError, on_invalid)

    @api.post("/session", response_model=schemas.SessionOut, tags=["session"])
    async def login(body: schemas.LoginIn, request: Request) -> schemas.SessionOut:
        """Log in; returns a bearer token (and the session's CSRF token)."""
        result = await st.login(body.username, body.password, remote(request))
        if result.reason == "rate_limited":
            raise RateLimited("ログインの失敗が続いたため、しばらくお待ちください")
        if result.reason in ("busy", "unavailable"):
            raise Busy("ただいま混み合っています。少し待ってからお試しください")
        if not result.ok or result.principal is None or result.token is None:
            raise NotAuthenticated("ユーザー名またはパスワードが違います")
        p = result.principal
        return schemas.SessionOut(
            token=result.token,
            csrf_token=p.csrf_token,
            expires_at=st.now + auth.SESSION_LIFETIME,
            user=_me(p),
        )

    router = APIRouter(dependencies=[Depends(guard)])
    for resource in RESOURCES:
        router.include_router(resource.router(st))
    api.include_router(router)
    return api
