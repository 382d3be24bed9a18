"""The console's campaign pages: list, create, edit, schedule, act, preview, results."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from outreach.errors import NotFound
from outreach.staff import audit, campaigns, preview, testsend, validation, watch
from outreach.staff import spec as spec_mod
from outreach.staff.errors import Invalid
from outreach.web.staff import charts, forms
from outreach.web.staff.console import Console, PageId, problem_view
from outreach.web.staff.console import as_int as _int


def router(c: Console, authed: list[Any]) -> APIRouter:
    st, pages, who, claim = c.st, c.pages, c.who, c.claim
    router = APIRouter(dependencies=authed)

    @router.get("/campaigns")
    async def campaign_list(request: Request) -> Response:
        who(request).require("campaign.read")
        async with st.tx() as s:
            rows = await campaigns.all_campaigns(s)
        return pages.render("campaigns.html", request, campaigns=rows)

    def form_page(
        request: Request,
        values: dict[str, Any],
        *,
        campaign: Any = None,
        problems: Any = (),
        status: int = 200,
    ) -> Response:
        return pages.render(
            "campaign_form.html",
            request,
            status,
            v=values,
            campaign=campaign,
            problems=[problem_view(p) for p in problems],
            purposes=st.rules().purposes(),
            field_purposes=field_purposes(),
        )

    def field_purposes() -> dict[str, list[str]]:
        """For each audience field, the purposes whose data items cover it (the form offers
        a field only under those purposes)."""
        return validation.field_purposes(st.rules())

    @router.get("/campaigns/new")
    async def new_campaign(request: Request) -> Response:
        who(request).require("campaign.write")
        return form_page(request, forms.form_values(None))

    @router.post("/campaigns/new")
    async def create_campaign(request: Request) -> Response:
        p = who(request)
        data = forms.campaign_data(await request.form())
        root = request.scope.get("root_path", "")
        try:
            s_ = spec_mod.parse(data)
            async with st.tx() as s:
                row = await claim(s, request)
                c = await campaigns.create(s, s_, st.rules(), actor=p, now=st.now)
                row.result_url = f"{root}/campaigns/{c.id}"
        except Invalid as e:
            return form_page(request, _echo(data), problems=e.problems, status=422)
        return RedirectResponse(f"{root}/campaigns/{c.id}", 303)

    @router.get("/campaigns/{campaign_id}")
    async def campaign_page(campaign_id: PageId, request: Request) -> Response:
        who(request).require("campaign.read")
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
            results = await watch.campaign_results(s, campaign_id, now=st.now)
            history = await _history(s, campaign_id)
        chart = charts.bars(
            [(t.at, t.sent) for t in results.timeline],
            title=f"送信数の推移（{results.timeline_step}ごと）",
            x_label="時刻（日本時間）",
            unit="通",
        )
        return pages.render(
            "campaign.html",
            request,
            c=c,
            spec=campaigns.spec_of(c),
            results=results,
            chart=chart,
            history=history,
            purpose=st.rules().purpose(c.purpose),
        )

    @router.get("/campaigns/{campaign_id}/edit")
    async def edit_page(campaign_id: PageId, request: Request) -> Response:
        who(request).require("campaign.write")
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
        return form_page(request, forms.form_values(campaigns.spec_of(c)), campaign=c)

    @router.post("/campaigns/{campaign_id}/edit")
    async def edit(campaign_id: PageId, request: Request) -> Response:
        p = who(request)
        form = await request.form()
        data = forms.campaign_data(form)
        version = _int(form.get("version"))
        url = f"{request.scope.get('root_path', '')}/campaigns/{campaign_id}"
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
        try:
            s_ = spec_mod.parse(data)
            async with st.tx() as s:
                await claim(s, request, url)
                await campaigns.update_spec(
                    s, campaign_id, s_, st.rules(), expected_version=version, actor=p, now=st.now
                )
        except Invalid as e:
            return form_page(request, _echo(data), campaign=c, problems=e.problems, status=422)
        return RedirectResponse(url, 303)

    @router.get("/campaigns/{campaign_id}/schedule")
    async def schedule_page(campaign_id: PageId, request: Request, at: str = "") -> Response:
        """Confirm before scheduling: when it goes, to how many, at what rate, how long it
        takes, and whether a worker is sending."""
        p = who(request)
        p.require("campaign.schedule")
        chosen = forms.local_time(at)
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
            when = chosen or (c.schedule_at if c.schedule_at and c.schedule_at > st.now else None)
            result = await preview.preview(
                s, st.gate(), c, st.rules(), now=st.now, actor=p.username, at=when
            )
            worker = await watch.worker_state(s, now=st.now)
        allowed = sum(ch.allowed for ch in result.channels if ch.channel == "email")
        minutes = allowed / c.rate_per_second / 60 if c.rate_per_second else 0
        return pages.render(
            "schedule.html",
            request,
            c=c,
            p=result,
            go_at=when,
            at_value=forms.local_value(when or result.at),
            allowed=allowed,
            minutes=minutes,
            worker=worker,
        )

    actions: dict[str, Callable[..., Awaitable[Any]]] = {
        "pause": campaigns.pause,
        "resume": campaigns.resume,
        "cancel": campaigns.cancel,
    }

    @router.post("/campaigns/{campaign_id}/{action}")
    async def act(campaign_id: PageId, action: str, request: Request) -> Response:
        p = who(request)
        form = await request.form()
        root = request.scope.get("root_path", "")
        url = f"{root}/campaigns/{campaign_id}"
        if action == "schedule" and form.get("confirm") != "yes":
            return RedirectResponse(f"{url}/schedule", 303)
        if action == "test-send":
            url = f"{url}/preview"
        async with st.tx() as s:
            row = await claim(s, request, url)
            if action == "approve":
                await campaigns.approve(
                    s,
                    campaign_id,
                    _int(form.get("version")) or 0,
                    st.rules(),
                    actor=p,
                    now=st.now,
                    certify_non_advertising=form.get("certify_non_advertising") == "yes",
                )
            elif action == "schedule":
                at = forms.local_time(str(form.get("at") or ""))
                await campaigns.schedule(s, campaign_id, actor=p, now=st.now, at=at)
            elif action == "test-send":
                p.require("campaign.preview")
                c = await campaigns.get(s, campaign_id)
                sent = await testsend.send(
                    s,
                    st.gate(),
                    c,
                    st.rules(),
                    to=str(form.get("to") or ""),
                    actor=p.username,
                    settings=st.app.settings,
                    now=st.now,
                )
                flag = "ok" if sent.ok else "failed"
                row.result_url = f"{url}?sent={flag}"
                return RedirectResponse(f"{url}?sent={flag}", 303)
            elif action in actions:
                await actions[action](s, campaign_id, actor=p, now=st.now)
            else:
                raise NotFound(action)
        return RedirectResponse(url, 303)

    @router.get("/campaigns/{campaign_id}/preview")
    async def preview_page(campaign_id: PageId, request: Request, at: str = "") -> Response:
        p = who(request)
        p.require("campaign.preview")
        when = forms.local_time(at)
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
            result = await preview.preview(
                s,
                st.gate(),
                c,
                st.rules(),
                now=st.now,
                actor=p.username,
                sample_kit=st.kit(),
                at=when,
            )
        first = result.channels[0] if result.channels else None
        chart = charts.bars(
            [(r.label, r.count) for r in first.reason_rows()] if first else [],
            title="対象者の内訳",
            x_label="人数",
            unit="人",
            horizontal=True,
        )
        return pages.render(
            "preview.html",
            request,
            c=c,
            p=result,
            chart=chart,
            sent=request.query_params.get("sent"),
            at_value=forms.local_value(result.at),
            default_at=when is None,
        )

    return router


def _echo(data: dict[str, Any]) -> dict[str, Any]:
    """Form values to show again after a refused save."""
    conditions = [
        {
            "field": c["field"],
            "op": c["op"],
            "value": ", ".join(c["value"]) if isinstance(c["value"], list) else c["value"],
        }
        for c in data["audience"]
    ]
    conditions += [{"field": "", "op": "eq", "value": ""}] * (
        forms.CONDITION_ROWS - len(conditions)
    )
    return {
        **data,
        "conditions": conditions,
        "schedule_at": data["schedule_at"] or "",
        "recurrence": data["recurrence"] or "",
    }


async def _history(s: Any, campaign_id: int) -> list[Any]:
    return await audit.entries(s, entity="campaign", entity_id=campaign_id, limit=50)
