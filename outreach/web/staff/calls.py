"""The call list in the console: per store and per day, whom to call and why, earlier
attempts and reachable hours; each outcome is written back in one transaction
(outreach.calls). Added to the console app by `pages.build` through `add`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from starlette.responses import RedirectResponse, Response

from outreach import calls, clock
from outreach.render import dates
from outreach.staff import auth
from outreach.staff.errors import Invalid, Problem
from outreach.web.staff import once

PERMISSION = "customer.request"  # the call list shows phone numbers and takes opt-outs


if TYPE_CHECKING:
    from outreach.web.staff.console import Pages


def _who(request: Request) -> auth.Principal:
    p: auth.Principal = request.state.principal
    return p


def _day(value: str | None, default: dt.date) -> dt.date:
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid([Problem("day", "日付は YYYY-MM-DD の形で指定してください")]) from None


def _store(value: str | None) -> int | None:
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise Invalid([Problem("store", "店舗を選び直してください")]) from None
    return n if 0 < n < 2**31 else None


def add(web: FastAPI, pages: Pages, authed: list[Any]) -> None:
    st = pages.st

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    @web.get("/calls", dependencies=authed)
    async def call_list(request: Request) -> Response:
        _who(request).require(PERMISSION)
        today = clock.today(st.app.clock)
        day = _day(request.query_params.get("day"), today)
        store_id = _store(request.query_params.get("store"))
        async with st.tx() as s:
            rows = await calls.day_list(s, day, store_id=store_id)
            older = await calls.carried_over(s, day, store_id=store_id)
            week = await calls.counts_by_day(
                s, today, today + dt.timedelta(days=13), store_id=store_id
            )
            shops = await calls.stores(s)
        phone = st.gate().policy.windows.get("phone")
        hours = f"{phone.start:%H:%M}〜{phone.end:%H:%M}" if phone and phone.end else "終日"
        return pages.render(
            "calls.html",
            request,
            day=day,
            day_ja=dates.jdate(day),
            today=today,
            store_id=store_id,
            stores=shops,
            calls=rows,
            older=older,
            week=sorted(week.items()),
            hours=hours,
            outcomes=calls.OUTCOMES,
            done=request.query_params.get("done"),
            prev_day=day - dt.timedelta(days=1),
            next_day=day + dt.timedelta(days=1),
            jdate=dates.jdate,
        )

    @web.post("/calls/{outbox_id}", dependencies=authed)
    async def call_outcome(
        request: Request, outbox_id: int = PathParam(ge=1, le=2**31 - 1)
    ) -> Response:
        p = _who(request)
        p.require(PERMISSION)
        form = await request.form()
        raw = str(form.get("on_date") or "")
        on_date = _day(raw, dt.date.min) if raw else None
        back = f"{root(request)}/calls?day={form.get('day') or ''}&done={outbox_id}"
        if form.get("store"):
            back += f"&store={form.get('store')}"
        async with st.tx() as s:
            nonce = getattr(request.state, "nonce", None)
            await once.claim(s, nonce, actor=p.username, now=st.now, url=back)
            await calls.record(
                s,
                st.gate(),
                outbox_id,
                outcome=str(form.get("outcome") or ""),
                on_date=on_date,
                note=str(form.get("note") or ""),
                actor=p.username,
                now=st.now,
            )
        return RedirectResponse(back, 303)
