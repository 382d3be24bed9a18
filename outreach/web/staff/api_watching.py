"""The staff API's watching resource: the dashboard."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request

from outreach.staff import watch
from outreach.web.staff.api_common import who
from outreach.web.staff.state import StaffWeb


def router(st: StaffWeb) -> APIRouter:
    router = APIRouter()

    @router.get("/dashboard", tags=["watching"])
    async def dashboard(request: Request) -> dict[str, Any]:
        """Latest daily runs, queue depth, failures in 24 h, opt-out trend (14 days)."""
        async with st.tx() as s:
            who(request).require("dashboard.read")
            return dataclasses.asdict(await watch.dashboard(s, now=st.now))

    return router
