"""The staff API's session resource: logging out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from outreach.staff import auth, roles
from outreach.web.staff import schemas
from outreach.web.staff.api_common import who
from outreach.web.staff.state import StaffWeb


def router(st: StaffWeb) -> APIRouter:
    router = APIRouter()

    @router.delete("/session", status_code=204, tags=["session"])
    async def logout(request: Request) -> Response:
        async with st.tx() as s:
            p = who(request)
            await auth.logout(s, p, now=st.now)
        return Response(status_code=204)

    @router.get("/me", response_model=schemas.Me, tags=["session"])
    async def me(request: Request) -> schemas.Me:
        return _me(who(request))

    return router


def _me(p: auth.Principal) -> schemas.Me:
    return schemas.Me(
        username=p.username,
        display_name=p.display_name,
        role=p.role,
        permissions=sorted(k for k in roles.PERMISSIONS if p.can(k)),
    )
