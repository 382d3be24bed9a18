"""The monthly compliance report in the console: /staff/compliance (page), .pdf and .json.

Added to the console app by `add(...)` from `pages.build`, behind the same session guard;
only roles with `compliance.read` see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import FileResponse, JSONResponse, Response

from outreach.clock import JST
from outreach.compliance import pdf, report
from outreach.compliance.model import Report
from outreach.errors import InputRejected
from outreach.staff import auth
from outreach.web.staff.state import StaffWeb


def _month(request: Request, now: dt.datetime) -> str:
    value = request.query_params.get("month")
    if value is None:
        t = now.astimezone(JST)
        first = dt.date(t.year, t.month, 1) - dt.timedelta(days=1)  # the month just closed
        return f"{first.year:04d}-{first.month:02d}"
    try:
        report.month_bounds(value)
    except ValueError:
        raise InputRejected("対象月は YYYY-MM の形で指定してください") from None
    return value


def _months(chosen: str, now: dt.datetime) -> list[tuple[str, str]]:
    """(YYYY-MM, 2026年1月) of the last 36 months and the chosen one, newest first: a
    Japanese picker whatever the browser's language."""
    t = now.astimezone(JST)
    y, m = t.year, t.month
    out = []
    for _ in range(36):
        out.append((f"{y:04d}-{m:02d}", f"{y}年{m}月"))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    if chosen not in {k for k, _ in out}:
        cy, cm = (int(x) for x in chosen.split("-"))
        out.append((chosen, f"{cy}年{cm}月"))
    return out


def add(
    web: FastAPI,
    pages: Any,
    authed: list[Any],
    who: Callable[[Request], auth.Principal],
    st: StaffWeb,
) -> None:
    settings = st.app.settings

    async def build(request: Request) -> Report:
        who(request).require("compliance.read")
        month = _month(request, st.now)
        reg = st.app.policy.registry
        async with st.tx() as s:
            return await report.build(s, reg, month, st.now)

    @web.get("/compliance", dependencies=authed)
    async def compliance_page(request: Request) -> Response:
        r = await build(request)
        return pages.render(  # type: ignore[no-any-return]
            "compliance/page.html", request, r=r, months=_months(r.month, st.now)
        )

    @web.get("/compliance.json", dependencies=authed)
    async def compliance_json(request: Request) -> Response:
        r = await build(request)
        return JSONResponse(r.to_json(), headers={"cache-control": "no-store"})

    @web.get("/compliance.pdf", dependencies=authed)
    async def compliance_pdf(request: Request) -> Response:
        r = await build(request)
        data = await pdf.pdf(r, settings.templates_dir)
        return Response(
            data,
            media_type="application/pdf",
            headers={
                "cache-control": "no-store",
                "content-disposition": f'attachment; filename="compliance-{r.month}.pdf"',
            },
        )

    @web.get("/compliance/report.css")
    async def compliance_css() -> Response:
        path = settings.templates_dir / "web" / "staff" / "compliance" / "report.css"
        return FileResponse(path, media_type="text/css", headers={"cache-control": "max-age=300"})
