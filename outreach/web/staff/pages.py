"""The staff console: Japanese pages over the same service functions as the API and CLI.

Every page needs a session cookie (else a redirect to the login page); every form post needs
the session's CSRF token and a same-origin Origin/Referer. Charts are inline SVG; the only
script is the bundled live-validation helper (no CDN).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi import Path as PathParam
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from outreach.errors import NotFound, OutreachError
from outreach.staff import (
    audit,
    auth,
    campaigns,
    csrf,
    customers,
    preview,
    roles,
    testsend,
    users,
    watch,
)
from outreach.staff import spec as spec_mod
from outreach.staff.errors import CsrfRejected, Forbidden, Invalid, NotAuthenticated
from outreach.web.staff import charts, compliance, forms
from outreach.web.staff.state import COOKIE, StaffWeb, remote

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# same-origin (not no-referrer): with no-referrer, Chromium sends `Origin: null` on the
# console's own form posts, which the CSRF origin check must refuse.
HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": CSP,
    "referrer-policy": "same-origin",
}
OPS = {
    "eq": "＝",
    "in": "いずれか（カンマ区切り）",
    "between": "範囲（開始,終了）",
    "gte": "以降・以上",
    "lte": "以前・以下",
}
PageId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


class Pages:
    def __init__(self, st: StaffWeb) -> None:
        self.st = st
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(st.app.settings.templates_dir / "web" / "staff")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["jst"] = forms.jst
        self.env.filters["reason"] = watch.reason_label
        self.env.globals["ops"] = OPS
        self.env.globals["fields"] = spec_mod.AUDIENCE_FIELDS
        self.env.globals["status_labels"] = campaigns.STATUS_LABELS
        self.env.globals["role_labels"] = roles.ROLE_LABELS

    def render(
        self,
        name: str,
        request: Request,
        status: int = 200,
        **ctx: Any,
    ) -> HTMLResponse:
        p = getattr(request.state, "principal", None)
        html = self.env.get_template(name).render(
            me=p,
            csrf_token=p.csrf_token if p else "",
            root=request.scope.get("root_path", ""),
            **ctx,
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)


def build(st: StaffWeb) -> FastAPI:
    pages = Pages(st)
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def guard(request: Request) -> None:
        token = None
        if request.method not in csrf.SAFE_METHODS:
            form = await request.form()
            value = form.get(csrf.FIELD)
            token = value if isinstance(value, str) else None
        async with st.tx() as s:
            request.state.principal = await st.principal(s, request, form_token=token)

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OutreachError)
        if isinstance(exc, NotAuthenticated):
            return RedirectResponse(f"{request.scope.get('root_path', '')}/login", 303)
        status = 403 if isinstance(exc, Forbidden | CsrfRejected) else 400
        if isinstance(exc, NotFound):
            status = 404
        if isinstance(exc, Invalid):
            status = 422
        return pages.render("error.html", request, status, message=str(exc))

    web.add_exception_handler(OutreachError, on_error)
    authed = [Depends(guard)]

    def who(request: Request) -> auth.Principal:
        p: auth.Principal = request.state.principal
        return p

    static_dir = st.app.settings.templates_dir / "web" / "staff" / "static"
    compliance.add(web, pages, authed, who, st)  # /compliance: the monthly report

    @web.get("/static/{name}")
    async def static(name: str) -> Response:
        path = static_dir / name
        if name not in {"console.css", "console.js"} or not path.exists():
            raise NotFound(name)
        return FileResponse(path, headers={"cache-control": "max-age=300"})

    @web.get("/login")
    async def login_page(request: Request) -> Response:
        return pages.render("login.html", request, error=None)

    @web.post("/login")
    async def login(request: Request) -> Response:
        if not csrf.same_origin(
            request.headers.get("origin"),
            request.headers.get("referer"),
            st.allowed_origins(request),
        ):
            raise CsrfRejected("別のサイトからの送信は受け付けません")
        form = await request.form()
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        async with st.tx() as s:
            result = await auth.login(s, username, password, now=st.now, remote=remote(request))
        if not result.ok or result.token is None:
            message = (
                "ログインの失敗が続いたため、しばらくしてからお試しください"
                if result.reason == "rate_limited"
                else "ユーザー名またはパスワードが違います"
            )
            status = 429 if result.reason == "rate_limited" else 401
            return pages.render("login.html", request, status, error=message)
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/", 303)
        response.set_cookie(
            COOKIE,
            result.token,
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
            httponly=True,
            secure=st.secure_cookies,
            samesite="strict",
            path="/",  # the console and the API (/api/v1) share the session
        )
        return response

    @web.post("/logout", dependencies=authed)
    async def logout(request: Request) -> Response:
        async with st.tx() as s:
            await auth.logout(s, who(request), now=st.now)
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @web.get("/", dependencies=authed)
    async def dashboard(request: Request) -> Response:
        who(request).require("dashboard.read")
        async with st.tx() as s:
            data = await watch.dashboard(s, now=st.now)
            recent = await campaigns.all_campaigns(s, limit=10)
        chart = charts.bars(
            [(d["day"], d["optouts"]) for d in data["optout_trend"]], title="配信停止の推移（14日）"
        )
        return pages.render("dashboard.html", request, data=data, chart=chart, campaigns=recent)

    @web.get("/campaigns", dependencies=authed)
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
            problems=list(problems),
            purposes=st.rules().purposes(),
            field_purposes=field_purposes(),
        )

    def field_purposes() -> dict[str, list[str]]:
        """For each audience field, the purposes whose data items cover it (the form offers
        a field only under those purposes)."""
        rules = st.rules()
        out: dict[str, list[str]] = {}
        for name in spec_mod.AUDIENCE_FIELDS:
            try:
                items = rules.items_for_fields([name])
            except OutreachError:
                items = frozenset({"?"})
            out[name] = [p.id for p in rules.purposes() if items <= p.items]
        return out

    @web.get("/campaigns/new", dependencies=authed)
    async def new_campaign(request: Request) -> Response:
        who(request).require("campaign.write")
        return form_page(request, forms.form_values(None))

    @web.post("/campaigns/new", dependencies=authed)
    async def create_campaign(request: Request) -> Response:
        p = who(request)
        data = forms.campaign_data(await request.form())
        try:
            s_ = spec_mod.parse(data)
            async with st.tx() as s:
                c = await campaigns.create(s, s_, st.rules(), actor=p, now=st.now)
        except Invalid as e:
            return form_page(request, _echo(data), problems=e.problems, status=422)
        return RedirectResponse(f"{request.scope.get('root_path', '')}/campaigns/{c.id}", 303)

    @web.get("/campaigns/{campaign_id}", dependencies=authed)
    async def campaign_page(campaign_id: PageId, request: Request) -> Response:
        who(request).require("campaign.read")
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
            results = await watch.campaign_results(s, campaign_id)
            history = await _history(s, campaign_id)
        chart = charts.bars(
            [(t["at"], t["sent"]) for t in results["timeline"]], title="送信数の推移"
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

    @web.get("/campaigns/{campaign_id}/edit", dependencies=authed)
    async def edit_page(campaign_id: PageId, request: Request) -> Response:
        who(request).require("campaign.write")
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
        return form_page(request, forms.form_values(campaigns.spec_of(c)), campaign=c)

    @web.post("/campaigns/{campaign_id}/edit", dependencies=authed)
    async def edit(campaign_id: PageId, request: Request) -> Response:
        p = who(request)
        form = await request.form()
        data = forms.campaign_data(form)
        version = _int(form.get("version"))
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
        try:
            s_ = spec_mod.parse(data)
            async with st.tx() as s:
                await campaigns.update_spec(
                    s, campaign_id, s_, st.rules(), expected_version=version, actor=p, now=st.now
                )
        except Invalid as e:
            return form_page(request, _echo(data), campaign=c, problems=e.problems, status=422)
        return RedirectResponse(
            f"{request.scope.get('root_path', '')}/campaigns/{campaign_id}", 303
        )

    actions: dict[str, Callable[..., Awaitable[Any]]] = {
        "schedule": campaigns.schedule,
        "pause": campaigns.pause,
        "resume": campaigns.resume,
        "cancel": campaigns.cancel,
    }

    @web.post("/campaigns/{campaign_id}/{action}", dependencies=authed)
    async def act(campaign_id: PageId, action: str, request: Request) -> Response:
        p = who(request)
        form = await request.form()
        async with st.tx() as s:
            if action == "approve":
                await campaigns.approve(
                    s,
                    campaign_id,
                    _int(form.get("version")) or 0,
                    st.rules(),
                    actor=p,
                    now=st.now,
                )
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
                root = request.scope.get("root_path", "")
                flag = "ok" if sent["ok"] else "failed"
                return RedirectResponse(f"{root}/campaigns/{campaign_id}/preview?sent={flag}", 303)
            elif action in actions:
                await actions[action](s, campaign_id, actor=p, now=st.now)
            else:
                raise NotFound(action)
        return RedirectResponse(
            f"{request.scope.get('root_path', '')}/campaigns/{campaign_id}", 303
        )

    @web.get("/campaigns/{campaign_id}/preview", dependencies=authed)
    async def preview_page(campaign_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("campaign.preview")
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
            result = await preview.preview(
                s, st.gate(), c, st.rules(), now=st.now, actor=p.username, sample_kit=st.kit()
            )
        first = result.channels[0] if result.channels else None
        chart = charts.bars(
            [(r["label"][:8], r["count"]) for r in first.reason_rows()] if first else [],
            title="除外理由ごとの件数",
        )
        return pages.render(
            "preview.html",
            request,
            c=c,
            p=result,
            chart=chart,
            sent=request.query_params.get("sent"),
        )

    @web.get("/customers", dependencies=authed)
    async def customer_search(request: Request, q: str = "") -> Response:
        p = who(request)
        p.require("customer.read")
        hits: list[dict[str, Any]] = []
        if q.strip():
            async with st.tx() as s:
                hits = await customers.search(s, q, actor=p.username, now=st.now)
        return pages.render("customers.html", request, q=q, hits=hits)

    @web.get("/customers/{customer_id}", dependencies=authed)
    async def customer_page(customer_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.read")
        async with st.tx() as s:
            data = await customers.page(s, customer_id, actor=p.username, now=st.now)
        return pages.render(
            "customer.html",
            request,
            d=data,
            scopes=customers.REQUEST_SCOPES,
            sources=customers.SOURCES,
            correctable=customers.CORRECTABLE,
            done=request.query_params.get("done"),
        )

    @web.post("/customers/{customer_id}/request", dependencies=authed)
    async def take_request(customer_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.request")
        form = await request.form()
        async with st.tx() as s:
            await customers.take_request(
                s,
                customer_id,
                kind=str(form.get("kind") or ""),
                scope=str(form.get("scope") or ""),
                source=str(form.get("source") or ""),
                actor=p.username,
                now=st.now,
                note=str(form.get("note") or ""),
            )
        return RedirectResponse(
            f"{request.scope.get('root_path', '')}/customers/{customer_id}?done=request", 303
        )

    @web.post("/customers/{customer_id}/correct", dependencies=authed)
    async def correct(customer_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.request")
        form = await request.form()
        async with st.tx() as s:
            await customers.correct(
                s,
                customer_id,
                field=str(form.get("field") or ""),
                value=str(form.get("value") or ""),
                reason=str(form.get("reason") or ""),
                actor=p.username,
                now=st.now,
                outcome=str(form.get("outcome") or "corrected"),
            )
        return RedirectResponse(
            f"{request.scope.get('root_path', '')}/customers/{customer_id}?done=correct", 303
        )

    @web.get("/customers/{customer_id}/export", dependencies=authed)
    async def export_page(customer_id: PageId, request: Request) -> Response:
        """Art. 33 disclosure as a printable page (paper delivery)."""
        p = who(request)
        p.require("customer.request")
        async with st.tx() as s:
            data = await customers.export(
                s, customer_id, actor=p.username, now=st.now, delivery="paper"
            )
        return pages.render("export.html", request, d=data, correctable=customers.CORRECTABLE)

    @web.get("/users", dependencies=authed)
    async def user_list(request: Request) -> Response:
        who(request).require("user.manage")
        async with st.tx() as s:
            rows = await users.all_users(s)
        return pages.render("users.html", request, users=rows, problems=[])

    @web.post("/users", dependencies=authed)
    async def add_user(request: Request) -> Response:
        p = who(request)
        p.require("user.manage")
        form = await request.form()
        try:
            async with st.tx() as s:
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
            return pages.render("users.html", request, 422, users=rows, problems=e.problems)
        return RedirectResponse(f"{request.scope.get('root_path', '')}/users", 303)

    return web


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


def _int(v: Any) -> int | None:
    try:
        return int(str(v))
    except (TypeError, ValueError):
        return None


async def _history(s: Any, campaign_id: int) -> list[Any]:
    return await audit.entries(s, entity="campaign", entity_id=campaign_id, limit=50)
