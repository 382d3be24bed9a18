"""The console's user management page: staff accounts and their roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from outreach.staff import users
from outreach.staff.errors import Invalid
from outreach.web.staff.console import Console, problem_view


def router(c: Console, authed: list[Any]) -> APIRouter:
    st, pages, who, claim = c.st, c.pages, c.who, c.claim
    router = APIRouter(dependencies=authed)

    @router.get("/users")
    async def user_list(request: Request) -> Response:
        who(request).require("user.manage")
        async with st.tx() as s:
            rows = await users.all_users(s)
        return pages.render("users.html", request, users=rows, problems=[])

    @router.post("/users")
    async def add_user(request: Request) -> Response:
        p = who(request)
        p.require("user.manage")
        form = await request.form()
        url = f"{request.scope.get('root_path', '')}/users"
        try:
            async with st.tx() as s:
                await claim(s, request, url)
                await users.add(
                    s,
                    username=str(form.get("username") or ""),
                    password=str(form.get("password") or ""),
                    role=str(form.get("role") or ""),
                    display_name=str(form.get("display_name") or "") or None,
                    actor=p.username,
                    now=st.now,
                )
        except Invalid as e:
            async with st.tx() as s:
                rows = await users.all_users(s)
            return pages.render(
                "users.html",
                request,
                422,
                users=rows,
                problems=[problem_view(x) for x in e.problems],
            )
        return RedirectResponse(url, 303)

    return router
