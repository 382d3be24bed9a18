"""The conversion report (入庫率) in the console, with its chart (outreach.conversion)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from outreach import conversion
from outreach.staff import auth
from outreach.web.staff import charts

if TYPE_CHECKING:
    from outreach.web.staff.console import Pages


def _who(request: Request) -> auth.Principal:
    p: auth.Principal = request.state.principal
    return p


def add(web: FastAPI, pages: Pages, authed: list[Any]) -> None:
    st = pages.st

    @web.get("/conversion", dependencies=authed)
    async def conversion_report(request: Request) -> Response:
        _who(request).require("dashboard.read")
        try:
            days = int(request.query_params.get("days") or conversion.DEFAULT_DAYS)
        except ValueError:
            days = conversion.DEFAULT_DAYS
        days = max(1, min(days, 365))
        async with st.tx() as s:
            report = await conversion.report(s, days=days)
        chart = charts.bars(
            [(r.label[:10], round(r.rate * 100)) for r in report.rows], title="入庫率（%）"
        )
        return pages.render("conversion.html", request, r=report, chart=chart, days=days)
