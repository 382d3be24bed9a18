"""The sending-state panel: workers alive, the queue by status and channel, the oldest
waiting mail and why, and a warning when nothing drains (outreach.sendstate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from outreach import sendstate
from outreach.staff import auth

if TYPE_CHECKING:
    from outreach.web.staff.console import Pages


def _who(request: Request) -> auth.Principal:
    p: auth.Principal = request.state.principal
    return p


def add(web: FastAPI, pages: Pages, authed: list[Any]) -> None:
    st = pages.st

    @web.get("/sending", dependencies=authed)
    async def sending_state(request: Request) -> Response:
        _who(request).require("dashboard.read")
        async with st.tx() as s:
            state = await sendstate.snapshot(s, now=st.now)
        return pages.render("sending.html", request, s=state)
