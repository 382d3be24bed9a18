"""The staff JSON API under /api/v1, documented by OpenAPI at /api/v1/openapi.json.

Authenticated by `Authorization: Bearer <token>` (from POST /session) or by the console's
session cookie plus the X-CSRF-Token header for writes. The same service functions as the
console and the CLI; this module only translates HTTP.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer

from outreach import labels
from outreach.db.models import Campaign
from outreach.errors import NotFound, OutreachError
from outreach.staff import (
    auth,
    campaigns,
    customers,
    preview,
    roles,
    testsend,
    users,
    validation,
    watch,
)
from outreach.staff import spec as spec_mod
from outreach.staff.errors import (
    Busy,
    Conflict,
    Forbidden,
    Invalid,
    NotAuthenticated,
    Problem,
    RateLimited,
)
from outreach.web.staff import schemas
from outreach.web.staff.state import StaffWeb, remote

STATUS = {
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    RateLimited: 429,
    Busy: 503,
}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorOut, "description": "Not logged in"},
    403: {"model": schemas.ErrorOut, "description": "Role or CSRF check refused"},
    404: {"model": schemas.ErrorOut, "description": "No such record"},
    409: {"model": schemas.ErrorOut, "description": "State or version conflict"},
    422: {"model": schemas.ErrorOut, "description": "Invalid input"},
}


def status_of(e: OutreachError) -> int:
    for kind, code in STATUS.items():
        if isinstance(e, kind):
            return code
    return 400


def campaign_out(c: Campaign) -> schemas.CampaignOut:
    return schemas.CampaignOut(
        id=c.id,
        status=c.status,
        status_label=campaigns.STATUS_LABELS.get(c.status, c.status),
        version=c.version,
        created_by=c.created_by,
        approved_by=c.approved_by,
        approved_version=c.approved_version,
        created_at=c.created_at,
        updated_at=c.updated_at,
        definition=campaigns.spec_of(c),
    )


def build(st: StaffWeb) -> FastAPI:
    api = FastAPI(
        title="outreach staff API",
        version="1",
        description="キャンペーンの作成・プレビュー・承認・配信管理と、顧客からの請求対応（開示・訂正・利用停止）",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,
    )
    bearer = HTTPBearer(auto_error=False, description="Token from POST /session")

    async def guard(request: Request, _: Any = Depends(bearer)) -> None:
        """Authenticate (and check CSRF for cookie writes) before anything else is parsed,
        so an unauthenticated request is refused with 401 whatever it carries."""
        async with st.tx() as s:
            request.state.principal = await st.principal(s, request)

    router = APIRouter(dependencies=[Depends(guard)])

    api.state.staff = st

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OutreachError)
        problems = (
            [{**dataclasses.asdict(p), "label": labels.field_name(p.field)} for p in exc.problems]
            if isinstance(exc, Invalid)
            else []
        )
        return JSONResponse(
            {"detail": str(exc), "problems": problems},
            status_code=status_of(exc),
            headers={"cache-control": "no-store"},
        )

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ())]
            field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
            problems.append(
                {
                    "field": field,
                    "label": labels.field_name(field),
                    "message": spec_mod.japanese(e),
                }
            )
        return JSONResponse({"detail": "入力が正しくありません", "problems": problems}, 422)

    api.add_exception_handler(OutreachError, on_error)
    api.add_exception_handler(RequestValidationError, on_invalid)

    @api.post("/session", response_model=schemas.SessionOut, tags=["session"])
    async def login(body: schemas.LoginIn, request: Request) -> schemas.SessionOut:
        """Log in; returns a bearer token (and the session's CSRF token)."""
        result = await st.login(body.username, body.password, remote(request))
        if result.reason == "rate_limited":
            raise RateLimited("ログインの失敗が続いたため、しばらくお待ちください")
        if result.reason in ("busy", "unavailable"):
            raise Busy("ただいま混み合っています。少し待ってからお試しください")
        if not result.ok or result.principal is None or result.token is None:
            raise NotAuthenticated("ユーザー名またはパスワードが違います")
        p = result.principal
        return schemas.SessionOut(
            token=result.token,
            csrf_token=p.csrf_token,
            expires_at=st.now + auth.SESSION_LIFETIME,
            user=_me(p),
        )

    @router.delete("/session", status_code=204, tags=["session"])
    async def logout(request: Request) -> Response:
        async with st.tx() as s:
            p = who(request)
            await auth.logout(s, p, now=st.now)
        return Response(status_code=204)

    @router.get("/me", response_model=schemas.Me, tags=["session"])
    async def me(request: Request) -> schemas.Me:
        return _me(who(request))

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
        """Create a draft; refused (422) when it breaks its purpose, R3 or the footer rule."""
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
            return schemas.TestSendOut.model_validate(r)

    @router.get(
        "/campaigns/{campaign_id}/results", response_model=schemas.ResultsOut, tags=["campaigns"]
    )
    async def results(campaign_id: schemas.Id, request: Request) -> schemas.ResultsOut:
        """Progress: sent, failed, deferred, denied by reason, opt-outs from this campaign."""
        async with st.tx() as s:
            who(request).require("campaign.read")
            return schemas.ResultsOut.model_validate(
                await watch.campaign_results(s, campaign_id, now=st.now)
            )

    @router.get("/dashboard", tags=["watching"])
    async def dashboard(request: Request) -> dict[str, Any]:
        """Latest daily runs, queue depth, failures in 24 h, opt-out trend (14 days)."""
        async with st.tx() as s:
            who(request).require("dashboard.read")
            return await watch.dashboard(s, now=st.now)

    @router.get("/customers", response_model=list[schemas.CustomerHit], tags=["customers"])
    async def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[^\x00]*$")],
        response: Response,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> list[schemas.CustomerHit]:
        """Matching customers (NFKC, width, kana and spacing folded; phone digits), 20 a
        page; the total is in the X-Total-Count header."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.read")
            found = await customers.search(s, q, actor=p.username, now=st.now, page=page)
            response.headers["x-total-count"] = str(found.total)
            return [schemas.CustomerHit.model_validate(h) for h in found.hits]

    @router.get("/customers/{customer_id}", tags=["customers"])
    async def customer(customer_id: schemas.Id, request: Request) -> dict[str, Any]:
        """The customer page: records, consent timeline, messages and decisions (read logged)."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.read")
            return await customers.page(s, customer_id, actor=p.username, now=st.now)

    @router.post(
        "/customers/{customer_id}/requests", response_model=schemas.RequestOut, tags=["customers"]
    )
    async def take_request(
        customer_id: schemas.Id, body: schemas.RequestIn, request: Request
    ) -> schemas.RequestOut:
        """Record an opt-out or a cessation request taken by phone or at the store."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.request")
            r = await customers.take_request(
                s,
                customer_id,
                kind=body.kind,
                scope=body.scope,
                source=body.source,
                actor=p.username,
                now=st.now,
                note=body.note,
            )
            return schemas.RequestOut.model_validate(r)

    @router.post(
        "/customers/{customer_id}/corrections",
        response_model=schemas.CorrectionOut,
        tags=["customers"],
    )
    async def correct(
        customer_id: schemas.Id, body: schemas.CorrectionIn, request: Request
    ) -> schemas.CorrectionOut:
        """Art. 34 correction (or a recorded refusal), audited with the outcome notice task."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.request")
            r = await customers.correct(
                s,
                customer_id,
                field=body.field,
                value=body.value,
                reason=body.reason,
                actor=p.username,
                now=st.now,
                outcome=body.outcome,
            )
            return schemas.CorrectionOut.model_validate(r)

    @router.get("/customers/{customer_id}/export", tags=["customers"])
    async def export(customer_id: schemas.Id, request: Request) -> Response:
        """Art. 33 disclosure: everything held about the customer, as JSON."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.request")
            data = await customers.export(s, customer_id, actor=p.username, now=st.now)
        return JSONResponse(
            jsonable(data),
            headers={
                "content-disposition": f'attachment; filename="customer-{customer_id}.json"',
                "cache-control": "no-store",
            },
        )

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

    api.include_router(router)
    return api


def who(request: Request) -> auth.Principal:
    p: auth.Principal = request.state.principal
    return p


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


def _me(p: auth.Principal) -> schemas.Me:
    return schemas.Me(
        username=p.username,
        display_name=p.display_name,
        role=p.role,
        permissions=sorted(k for k in roles.PERMISSIONS if p.can(k)),
    )


def _problem(p: Problem) -> schemas.ProblemOut:
    return schemas.ProblemOut(field=p.field, label=labels.field_name(p.field), message=p.message)


def _purpose(st: StaffWeb, p: validation.PurposeView) -> schemas.PurposeOut:
    fields = []
    for name, info in spec_mod.AUDIENCE_FIELDS.items():
        try:
            allowed = st.rules().items_for_fields([name]) <= p.items
        except OutreachError:
            allowed = False
        if allowed:
            fields.append(schemas.FieldOut(field=name, label=info.label, kind=info.kind))
    return schemas.PurposeOut(
        id=p.id,
        text=p.text,
        category=p.category,
        channels=sorted(p.channels),
        items=sorted(p.items),
        audience_fields=fields,
    )


def jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [jsonable(x) for x in v]
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    return v
