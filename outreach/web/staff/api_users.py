"""The staff API's user resource: staff accounts and their roles."""

from __future__ import annotations

from fastapi import APIRouter, Request

from outreach.staff import users
from outreach.web.staff import schemas
from outreach.web.staff.api_common import who
from outreach.web.staff.state import StaffWeb


def router(st: StaffWeb) -> APIRouter:
    router = APIRouter()

    @router.get("/users", response_model=list[schemas.UserOut], tags=["users"])
    async def list_users(request: Request) -> list[schemas.UserOut]:
        async with st.tx() as s:
            who(request).require("user.manage")
            return [
                schemas.UserOut.model_validate(u, from_attributes=True)
                for u in await users.all_users(s)
            ]

    @router.post("/users", response_model=schemas.UserOut, status_code=201, tags=["users"])
    async def add_user(body: schemas.UserIn, request: Request) -> schemas.UserOut:
        async with st.tx() as s:
            p = who(request)
            p.require("user.manage")
            u = await users.add(
                s,
                username=body.username,
                password=body.password,
                role=body.role,
                display_name=body.display_name,
                actor=p.username,
                now=st.now,
            )
            return schemas.UserOut.model_validate(u, from_attributes=True)

    return router
