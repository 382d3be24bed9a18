"""The staff API's campaign resource: purposes, definitions, validation, approval,
scheduling and control, preview, test send, results."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from outreach.staff import campaigns, preview, testsend, validation, watch
from outreach.staff import spec as spec_mod
from outreach.staff.errors import Invalid, Problem
from outreach.web.staff import schemas
from outreach.web.staff.api_common import _problem, campaign_out, who
from outreach.web.staff.state import StaffWeb


def router(st: StaffWeb) -> APIRouter:
    router = APIRouter()

    @router.get("/purposes", response_model=list[schemas.PurposeOut], tags=["campaigns"])
    async def purposes(request: Request) -> list[schemas.PurposeOut]:
        """Purposes from the privacy policy, with the channels and audience fields each allows."""
        who(request).require("campaign.read")
        return [_purpose(st, p) for p in st.rules().purposes()]

    @router.get("/campaigns", response_model=list[schemas.CampaignOut], tags=["campaigns"])
    async def list_campaigns(request: Request) -> list[schemas.CampaignOut]:
        async with st.tx() as s:
            who(request).require("campaign.read")
            return [campaign_out(c) for c in await campaigns.all_campaigns(s)]

    @router.post(
        "/campaigns", response_model=schemas.CampaignOut, status_code=201, tags=["campaigns"]
    )
    async def create_campaign(body: spec_mod.CampaignSpec, request: Request) -> schemas.CampaignOut:
        """Create a draft; refused (422) when it breaks its purpose or R3 (the sender display is
        added by the composer, not written in the text)."""
        async with st.tx() as s:
            p = who(request)
            c = await campaigns.create(s, body, st.rules(), actor=p, now=st.now)
            return campaign_out(c)

    @router.post("/campaigns/validate", response_model=schemas.ValidationOut, tags=["campaigns"])
    async def validate(body: spec_mod.CampaignSpec, request: Request) -> schemas.ValidationOut:
        """Live validation of a definition (nothing saved)."""
        who(request).require("campaign.read")
        problems = validation.check(body, st.rules())
        items = sorted(validation.used_items(body, st.rules())) if not problems else []
        return schemas.ValidationOut(
            ok=not problems, problems=[_problem(x) for x in problems], items=items
        )

    @router.get("/campaigns/{campaign_id}", response_model=schemas.CampaignOut, tags=["campaigns"])
    async def get_campaign(campaign_id: schemas.Id, request: Request) -> schemas.CampaignOut:
        async with st.tx() as s:
            who(request).require("campaign.read")
            return campaign_out(await campaigns.get(s, campaign_id))

    @router.put("/campaigns/{campaign_id}", response_model=schemas.CampaignOut, tags=["campaigns"])
    async def edit_campaign(
        campaign_id: schemas.Id, body: schemas.CampaignEdit, request: Request
    ) -> schemas.CampaignOut:
        """Save a new version; an approved or scheduled campaign returns to draft."""
        new = spec_mod.CampaignSpec.model_validate(body.model_dump(exclude={"version"}))
        async with st.tx() as s:
            p = who(request)
            c = await campaigns.update_spec(
                s,
                campaign_id,
                new,
                st.rules(),
                expected_version=body.version,
                actor=p,
                now=st.now,
            )
            return campaign_out(c)

    @router.post(
        "/campaigns/{campaign_id}/approve", response_model=schemas.CampaignOut, tags=["campaigns"]
    )
    async def approve(
        campaign_id: schemas.Id, body: schemas.ApproveIn, request: Request
    ) -> schemas.CampaignOut:
        """Four-eyes approval of exactly `version` by an approver who did not create it."""
        async with st.tx() as s:
            p = who(request)
            c = await campaigns.approve(
                s,
                campaign_id,
                body.version,
                st.rules(),
                actor=p,
                now=st.now,
                certify_non_advertising=body.certify_non_advertising,
            )
            return campaign_out(c)

    @router.post(
        "/campaigns/{campaign_id}/schedule", response_model=schemas.CampaignOut, tags=["campaigns"]
    )
    async def schedule(
        campaign_id: schemas.Id, body: schemas.ScheduleIn, request: Request
    ) -> schemas.CampaignOut:
        if body.at is not None and body.at.tzinfo is None:
            raise Invalid([Problem("at", "タイムゾーン付きの日時を指定してください")])
        async with st.tx() as s:
            p = who(request)
            c = await campaigns.schedule(s, campaign_id, actor=p, now=st.now, at=body.at)
            return campaign_out(c)

    for name, fn in (
        ("pause", campaigns.pause),
        ("resume", campaigns.resume),
        ("cancel", campaigns.cancel),
    ):
        _control(router, name, fn)

    @router.get(
        "/campaigns/{campaign_id}/preview", response_model=schemas.PreviewOut, tags=["campaigns"]
    )
    async def campaign_preview(
        campaign_id: schemas.Id,
        request: Request,
        samples: Annotated[bool, Query(description="Render three sample messages")] = True,
    ) -> schemas.PreviewOut:
        """Audience size, allowed count and count per gate reason; three rendered samples."""
        async with st.tx() as s:
            p = who(request)
            p.require("campaign.preview")
            c = await campaigns.get(s, campaign_id)
            result = await preview.preview(
                s,
                st.gate(),
                c,
                st.rules(),
                now=st.now,
                actor=p.username,
                sample_kit=st.kit() if samples else None,
                with_samples=samples,
            )
            return schemas.PreviewOut.model_validate(result.as_dict())

    @router.post(
        "/campaigns/{campaign_id}/test-send", response_model=schemas.TestSendOut, tags=["campaigns"]
    )
    async def test_send(
        campaign_id: schemas.Id, body: schemas.TestSendIn, request: Request
    ) -> schemas.TestSendOut:
        """Send one sample, marked as a test, to a staff member's own registered address."""
        async with st.tx() as s:
            p = who(request)
            p.require("campaign.preview")
            c = await campaigns.get(s, campaign_id)
            r = await testsend.send(
                s,
                st.gate(),
                c,
                st.rules(),
                to=body.to,
                actor=p.username,
                settings=st.app.settings,
                now=st.now,
            )
            return schemas.TestSendOut.model_validate(dataclasses.asdict(r))

    @router.get(
        "/campaigns/{campaign_id}/results", response_model=schemas.ResultsOut, tags=["campaigns"]
    )
    async def results(campaign_id: schemas.Id, request: Request) -> schemas.ResultsOut:
        """Progress: sent, failed, deferred, denied by reason, opt-outs from this campaign."""
        async with st.tx() as s:
            who(request).require("campaign.read")
            return schemas.ResultsOut.model_validate(
                dataclasses.asdict(await watch.campaign_results(s, campaign_id, now=st.now))
            )

    return router


def _control(router: APIRouter, name: str, fn: Any) -> None:
    async def endpoint(campaign_id: schemas.Id, request: Request) -> schemas.CampaignOut:
        st: StaffWeb = request.app.state.staff
        async with st.tx() as s:
            return campaign_out(await fn(s, campaign_id, actor=who(request), now=st.now))

    endpoint.__name__ = f"{name}_campaign"
    router.post(
        f"/campaigns/{{campaign_id}}/{name}",
        response_model=schemas.CampaignOut,
        tags=["campaigns"],
        summary=f"{name.capitalize()} a campaign",
    )(endpoint)


def _purpose(st: StaffWeb, p: validation.PurposeView) -> schemas.PurposeOut:
    fields = [
        schemas.FieldOut(field=name, label=info.label, kind=info.kind)
        for name in validation.audience_fields(p, st.rules())
        for info in (spec_mod.AUDIENCE_FIELDS[name],)
    ]
    return schemas.PurposeOut(
        id=p.id,
        text=p.text,
        category=p.category,
        channels=sorted(p.channels),
        items=sorted(p.items),
        audience_fields=fields,
    )
