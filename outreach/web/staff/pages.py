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

from outreach import labels
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
from outreach.staff.errors import CsrfRejected, Forbidden, Invalid, NotAuthenticated, Problem
from outreach.web.staff import (
    calls,
    charts,
    compliance,
    conversion,
    documents,
    forms,
    letters,
    once,
    sending,
)
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
NOTICE_METHODS = {"post": "郵送", "hand": "手渡し", "email": "電子メール"}
RUN_SUMMARY = {
    k: labels.label("summary", k)
    for k in ("candidates", "allowed", "denied", "deferred", "already_queued", "queued", "flags")
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
        self.env.filters["jst"] = labels.when
        self.env.filters["when"] = labels.when
        self.env.filters["reason"] = lambda code: labels.label("reason", code)
        self.env.filters["label"] = lambda code, group: labels.label(group, code)
        self.env.filters["scope"] = labels.scope
        self.env.filters["note"] = labels.note
        self.env.filters["pnum"] = labels.purpose_number
        self.env.filters["yen"] = lambda n: f"{int(n):,}"
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
        names: dict[str, str] = getattr(request.state, "names", {})
        html = self.env.get_template(name).render(
            me=p,
            person=lambda u: labels.person(u, names),
            csrf_token=p.csrf_token if p else "",
            form_token=once.issue(p.csrf_token) if p else "",
            again=request.query_params.get("again") == "1",
            root=request.scope.get("root_path", ""),
            **ctx,
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)


# Why a login was refused → (status, message). "busy": too many password checks in flight.
LOGIN_REFUSALS: dict[str, tuple[int, str]] = {
    "rate_limited": (429, "ログインの失敗が続いたため、しばらくしてからお試しください"),
    "busy": (503, "ただいま混み合っています。少し待ってからお試しください"),
    "unavailable": (503, "ただいま混み合っています。少し待ってからお試しください"),
    "": (401, "ユーザー名またはパスワードが違います"),
}


def build(st: StaffWeb) -> FastAPI:
    pages = Pages(st)
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def guard(request: Request) -> None:
        token = None
        once_token = None
        if request.method not in csrf.SAFE_METHODS:
            form = await request.form()
            value = form.get(csrf.FIELD)
            token = value if isinstance(value, str) else None
            value = form.get(once.FIELD)
            once_token = value if isinstance(value, str) else None
        async with st.tx() as s:
            p = await st.principal(s, request, form_token=token)
            request.state.principal = p
            request.state.names = await st.staff_names(s)
        # A form that carries a one-time token must carry a good one; the forms that spend
        # it (`claim`) refuse a request without one.
        request.state.nonce = (
            once.nonce_of(once_token, p.csrf_token) if once_token is not None else None
        )

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

    async def on_again(request: Request, exc: Exception) -> Response:
        """A spent form token: nothing is done again; show where the first submission led."""
        assert isinstance(exc, once.AlreadySubmitted)
        url = exc.url
        if url is None:
            async with st.tx() as s:
                url = await once.result_of(s, request.state.nonce)
        root = request.scope.get("root_path", "")
        if url:
            sep = "&" if "?" in url else "?"
            return RedirectResponse(f"{url}{sep}again=1", 303)
        return pages.render(
            "error.html",
            request,
            409,
            message="このフォームはすでに送信されています。同じ操作は二度行いません。",
            back=f"{root}/",
        )

    web.add_exception_handler(OutreachError, on_error)
    web.add_exception_handler(once.AlreadySubmitted, on_again)
    authed = [Depends(guard)]

    async def claim(s: Any, request: Request, url: str = "") -> Any:
        """Spend the request's form token in this transaction, leading to `url`."""
        nonce = getattr(request.state, "nonce", None)
        if nonce is None:
            raise CsrfRejected("フォームの有効期限が切れています。画面を開き直してください")
        row = await once.spend(s, nonce, actor=who(request).username, now=st.now)
        row.result_url = url[:300] or None
        return row

    def who(request: Request) -> auth.Principal:
        p: auth.Principal = request.state.principal
        return p

    static_dir = st.app.settings.templates_dir / "web" / "staff" / "static"
    compliance.add(web, pages, authed, who, st)  # /compliance: the monthly report

    @web.get("/static/{name}")
    async def static(name: str) -> Response:
        path = static_dir / name
        if name not in {"console.css", "console.js", documents.STYLESHEET} or not path.exists():
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
        result = await st.login(username, password, remote(request))
        if not result.ok or result.token is None:
            status, message = LOGIN_REFUSALS.get(result.reason or "", LOGIN_REFUSALS[""])
            refused = pages.render("login.html", request, status, error=message)
            if status in (429, 503):
                refused.headers["retry-after"] = "60" if status == 429 else "5"
            return refused
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
            [(d["day"], d["optouts"]) for d in data["optout_trend"]],
            title="配信停止の推移（直近14日）",
            x_label="日付",
            unit="件",
        )
        return pages.render(
            "dashboard.html",
            request,
            data=data,
            chart=chart,
            campaigns=recent,
            summary_words=RUN_SUMMARY,
        )

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
            problems=[problem_view(p) for p in problems],
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

    @web.get("/campaigns/{campaign_id}", dependencies=authed)
    async def campaign_page(campaign_id: PageId, request: Request) -> Response:
        who(request).require("campaign.read")
        async with st.tx() as s:
            c = await campaigns.get(s, campaign_id)
            results = await watch.campaign_results(s, campaign_id, now=st.now)
            history = await _history(s, campaign_id)
        chart = charts.bars(
            [(t["at"], t["sent"]) for t in results["timeline"]],
            title=f"送信数の推移（{results['timeline_step']}ごと）",
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

    @web.get("/campaigns/{campaign_id}/schedule", dependencies=authed)
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

    @web.post("/campaigns/{campaign_id}/{action}", dependencies=authed)
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
                flag = "ok" if sent["ok"] else "failed"
                row.result_url = f"{url}?sent={flag}"
                return RedirectResponse(f"{url}?sent={flag}", 303)
            elif action in actions:
                await actions[action](s, campaign_id, actor=p, now=st.now)
            else:
                raise NotFound(action)
        return RedirectResponse(url, 303)

    @web.get("/campaigns/{campaign_id}/preview", dependencies=authed)
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
            [(r["label"], r["count"]) for r in first.reason_rows()] if first else [],
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

    @web.get("/customers", dependencies=authed)
    async def customer_search(request: Request, q: str = "", page: str = "1") -> Response:
        p = who(request)
        p.require("customer.read")
        found = None
        if q.strip():
            async with st.tx() as s:
                found = await customers.search(
                    s, q, actor=p.username, now=st.now, page=_int(page) or 1
                )
        return pages.render("customers.html", request, q=q, found=found)

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
            identities=customers.IDENTITY_CHECKS,
            done=request.query_params.get("done"),
            problems=[],
        )

    async def customer_problems(
        request: Request, customer_id: int, problems: list[Any]
    ) -> Response:
        p = who(request)
        async with st.tx() as s:
            data = await customers.page(s, customer_id, actor=p.username, now=st.now)
        return pages.render(
            "customer.html",
            request,
            422,
            d=data,
            scopes=customers.REQUEST_SCOPES,
            sources=customers.SOURCES,
            correctable=customers.CORRECTABLE,
            identities=customers.IDENTITY_CHECKS,
            done=None,
            problems=[problem_view(x) for x in problems],
        )

    @web.post("/customers/{customer_id}/request", dependencies=authed)
    async def take_request(customer_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.request")
        form = await request.form()
        url = f"{request.scope.get('root_path', '')}/customers/{customer_id}?done=request"
        try:
            async with st.tx() as s:
                await claim(s, request, url)
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
        except Invalid as e:
            return await customer_problems(request, customer_id, e.problems)
        return RedirectResponse(url, 303)

    @web.post("/customers/{customer_id}/correct", dependencies=authed)
    async def correct(customer_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.request")
        form = await request.form()
        root = request.scope.get("root_path", "")
        try:
            async with st.tx() as s:
                row = await claim(s, request)
                out = await customers.correct(
                    s,
                    customer_id,
                    field=str(form.get("field") or ""),
                    value=str(form.get("value") or ""),
                    reason=str(form.get("reason") or ""),
                    actor=p.username,
                    now=st.now,
                    outcome=str(form.get("outcome") or "corrected"),
                    identity=str(form.get("identity") or ""),
                )
                url = f"{root}/customers/{customer_id}/corrections/{out['request_id']}"
                row.result_url = url
        except Invalid as e:
            return await customer_problems(request, customer_id, e.problems)
        return RedirectResponse(url, 303)

    @web.post("/customers/{customer_id}/disclosures", dependencies=authed)
    async def new_disclosure(customer_id: PageId, request: Request) -> Response:
        """Art. 33: one request recorded once; then the document, viewed as often as needed."""
        p = who(request)
        p.require("customer.request")
        form = await request.form()
        root = request.scope.get("root_path", "")
        try:
            async with st.tx() as s:
                row = await claim(s, request)
                req = await customers.disclose(
                    s,
                    customer_id,
                    actor=p.username,
                    now=st.now,
                    identity=str(form.get("identity") or ""),
                    delivery=str(form.get("delivery") or ""),
                    requester=str(form.get("requester") or ""),
                    note=str(form.get("note") or ""),
                )
                url = f"{root}/customers/{customer_id}/disclosures/{req.id}"
                row.result_url = url
        except Invalid as e:
            return await customer_problems(request, customer_id, e.problems)
        return RedirectResponse(url, 303)

    css = documents.stylesheet_path(st.app.settings.templates_dir)

    async def disclosure_html(
        request: Request, customer_id: int, request_id: int, *, pdf: bool = False
    ) -> str:
        p = who(request)
        p.require("customer.request")
        async with st.tx() as s:
            doc = await customers.disclosure_document(
                s, customer_id, request_id, actor=p.username, now=st.now
            )
        return documents.render_disclosure(
            pages.env,
            doc,
            purposes=st.rules().purposes(),
            names=request.state.names,
            dealer=st.kit().dealer,
            pdf=pdf,
        )

    @web.get("/customers/{customer_id}/disclosures/{request_id}", dependencies=authed)
    async def disclosure_page(
        customer_id: PageId, request_id: PageId, request: Request
    ) -> Response:
        html = await disclosure_html(request, customer_id, request_id)
        return HTMLResponse(html, headers=HEADERS)

    @web.get("/customers/{customer_id}/disclosures/{request_id}/a4.pdf", dependencies=authed)
    async def disclosure_pdf(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        html = await disclosure_html(request, customer_id, request_id, pdf=True)
        pdf = await documents.pdf(html, css)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "cache-control": "no-store",
                "content-disposition": f'inline; filename="disclosure-{request_id}.pdf"',
            },
        )

    async def notice_html(
        request: Request, customer_id: int, request_id: int, *, pdf: bool = False
    ) -> str:
        p = who(request)
        p.require("customer.request")
        async with st.tx() as s:
            doc = await customers.correction_notice(
                s, customer_id, request_id, actor=p.username, now=st.now
            )
        return documents.render_notice(
            pages.env, doc, names=request.state.names, dealer=st.kit().dealer, pdf=pdf
        )

    @web.get("/customers/{customer_id}/corrections/{request_id}", dependencies=authed)
    async def notice_page(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.request")
        async with st.tx() as s:
            doc = await customers.correction_notice(
                s, customer_id, request_id, actor=p.username, now=st.now
            )
        return pages.render(
            "correction.html",
            request,
            doc=doc,
            methods=NOTICE_METHODS,
        )

    @web.get("/customers/{customer_id}/corrections/{request_id}/notice", dependencies=authed)
    async def notice_print(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        return HTMLResponse(await notice_html(request, customer_id, request_id), headers=HEADERS)

    @web.get("/customers/{customer_id}/corrections/{request_id}/notice.pdf", dependencies=authed)
    async def notice_pdf(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        pdf = await documents.pdf(
            await notice_html(request, customer_id, request_id, pdf=True), css
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "cache-control": "no-store",
                "content-disposition": f'inline; filename="correction-{request_id}.pdf"',
            },
        )

    @web.post("/customers/{customer_id}/corrections/{request_id}/notified", dependencies=authed)
    async def notified(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.request")
        form = await request.form()
        method = str(form.get("method") or "")
        if method not in NOTICE_METHODS:
            raise Invalid([Problem("method", "通知の方法を選んでください")])
        url = (
            f"{request.scope.get('root_path', '')}/customers/{customer_id}/corrections/{request_id}"
        )
        async with st.tx() as s:
            await claim(s, request, url)
            await customers.request_of(s, customer_id, request_id, "correction")
            await customers.mark_notified(
                s, request_id, method=method, actor=p.username, now=st.now
            )
        return RedirectResponse(url, 303)

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

    for extra in (calls, letters, sending, conversion):  # the dealer's day (own modules)
        extra.add(web, pages, authed)
    return web


def problem_view(p: Problem) -> dict[str, str]:
    """A problem as staff read it: the field's Japanese name and the message."""
    return {"field": p.field, "label": labels.field_name(p.field), "message": p.message}


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
