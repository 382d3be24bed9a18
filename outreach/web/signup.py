"""The sign-up pages: the public form (/signup), the same form on the showroom tablet under
a staff login (/staff/showroom/signup), and the confirmation link (/signup/confirm/{token}).

The form's answer is the same page whether or not the address belongs to a customer, and no
page ever says which. A GET of the confirmation link only shows a button: link scanners
follow links, and only the person's POST completes the sign-up. Logs carry no address or token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from outreach import bootstrap
from outreach.errors import NotFound, OutreachError
from outreach.gate.context import GateContext
from outreach.optout import policy as optout_policy
from outreach.signup import form as form_mod
from outreach.signup import mail, service
from outreach.staff import csrf
from outreach.staff.errors import CsrfRejected, NotAuthenticated
from outreach.web import security
from outreach.web.staff.state import StaffWeb

log = logging.getLogger("outreach.web.signup")

HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "referrer-policy": "same-origin",
}
SHOWROOM_PREFIX = "/staff/showroom"


@dataclass
class SignupWeb:
    app: bootstrap.App
    form: form_mod.Form
    pages: jinja2.Environment
    gate: GateContext
    forwarded_hops: int
    own_origin: str

    def render(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.pages.get_template(f"signup/{name}").render(
            dealer=self.form.dealer, form=self.form, **ctx
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def client(self, request: Request) -> str:
        return security.client_address(request.scope, self.forwarded_hops)

    def same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return True
        return origin in {self.own_origin, f"{request.url.scheme}://{request.headers.get('host')}"}


def build(app: bootstrap.App) -> SignupWeb:
    s = app.settings
    pages = jinja2.Environment(
        loader=jinja2.FileSystemLoader(s.templates_dir / "web"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    u = urlsplit(s.base_url)
    return SignupWeb(
        app=app,
        form=form_mod.for_app(app),
        pages=pages,
        gate=app.policy.gate,
        forwarded_hops=optout_policy.load(s.config_dir / "optout.toml").web.forwarded_hops,
        own_origin=f"{u.scheme}://{u.netloc}",
    )


def routes(sw: SignupWeb) -> list[BaseRoute]:
    async def form_page(request: Request) -> Response:
        return sw.render("form.html", values=_empty(), problems={}, showroom=None)

    async def submit(request: Request) -> Response:
        if not sw.same_origin(request):
            return sw.render("error.html", 403, heading="お申し込みを受け付けられませんでした")
        return await _submit(sw, request, method="web_form", staff=None)

    async def confirm_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            async with sw.app.sessions() as s:
                p = await service.pending(s, token, sw.app.clock.now())
        except NotFound:
            return _expired(sw)
        labels = [o.label for x in p.purposes if (o := sw.form.offer(x)) is not None]
        return sw.render("confirm.html", token=token, labels=labels, confirmed=p.confirmed)

    async def confirm_post(request: Request) -> Response:
        token = request.path_params["token"]
        if not sw.same_origin(request):
            return sw.render("error.html", 403, heading="お手続きを受け付けられませんでした")
        try:
            async with sw.app.sessions.begin() as s:
                done = await service.confirm(
                    s,
                    sw.form,
                    token,
                    remote_addr=sw.client(request),
                    user_agent=request.headers.get("user-agent"),
                    now=sw.app.clock.now(),
                )
        except NotFound:
            return _expired(sw)
        except SQLAlchemyError:
            log.exception("sign-up confirmation: database error")
            return sw.render("error.html", 503, heading="ただいまお手続きを受け付けられません")
        log.info("sign-up confirmed request=%d already=%s", done.request_id, done.already)
        return sw.render("done.html", already=done.already)

    return [
        Route("/signup", form_page, methods=["GET"]),
        Route("/signup", submit, methods=["POST"]),
        Route("/signup/confirm/{token}", confirm_page, methods=["GET"]),
        Route("/signup/confirm/{token}", confirm_post, methods=["POST"]),
    ]


def showroom(sw: SignupWeb) -> FastAPI:
    """The form on the showroom tablet: a staff login, the staff member recorded (R17)."""
    st = StaffWeb(sw.app)
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def staff(request: Request, form_token: str | None = None) -> Any:
        async with st.tx() as s:
            return await st.principal(s, request, form_token=form_token)

    @web.get("/signup")
    async def page(request: Request) -> Response:
        try:
            p = await staff(request)
        except NotAuthenticated:
            return RedirectResponse("/staff/login", 303)
        return sw.render("form.html", values=_empty(), problems={}, showroom=_room(p))

    @web.post("/signup")
    async def submit(request: Request) -> Response:
        data = await request.form()
        token = data.get(csrf.FIELD)
        try:
            p = await staff(request, token if isinstance(token, str) else None)
        except NotAuthenticated:
            return RedirectResponse("/staff/login", 303)
        except CsrfRejected:
            return sw.render("error.html", 403, heading="お申し込みを受け付けられませんでした")
        return await _submit(sw, request, method="showroom_tablet", staff=p)

    return web


def _room(p: Any) -> dict[str, str]:
    return {"staff": p.display_name, "csrf_token": p.csrf_token}


def _empty() -> dict[str, Any]:
    return {"email": "", "name": "", "purposes": []}


def _expired(sw: SignupWeb) -> Response:
    return sw.render(
        "error.html",
        404,
        heading="このリンクはご利用いただけません",
        text="リンクの有効期限が切れているか、正しくありません。お手数ですが、もう一度お申し込みください。",
    )


async def _submit(sw: SignupWeb, request: Request, *, method: str, staff: Any) -> Response:
    data = await request.form()
    sub = service.Submission(
        email=str(data.get("email") or "")[:300],
        name=str(data.get("name") or "")[:200],
        purposes=tuple(str(v) for v in data.getlist("purposes"))[:10],
        agreed=data.get("agree") == "yes",
        form_version=str(data.get("form_version") or ""),
    )
    room = _room(staff) if staff is not None else None
    problems = service.validate(sub, sw.form)
    if problems:
        values = {"email": sub.email, "name": sub.name, "purposes": list(sub.purposes)}
        return sw.render(
            "form.html",
            422,
            values=values,
            problems={p.field: p.message for p in problems},
            showroom=room,
        )
    now = sw.app.clock.now()
    try:
        async with sw.app.sessions.begin() as s:
            req = await service.request(
                s,
                sw.form,
                sub,
                method=method,
                remote_addr=sw.client(request),
                user_agent=request.headers.get("user-agent"),
                staff_user=staff.username if staff is not None else None,
                now=now,
            )
    except service.Throttled:
        return sw.render(
            "error.html",
            429,
            heading="しばらくしてからお試しください",
            text="短い時間にたくさんのお申し込みがありました。少し時間をおいてからもう一度お試しください。",
        )
    except (SQLAlchemyError, OutreachError):
        log.exception("sign-up request: failed")
        return sw.render("error.html", 503, heading="ただいまお申し込みを受け付けられません")
    if req.token is not None and req.request_id is not None:
        await _send(sw, req)
    return sw.render("sent.html", showroom=room)


async def _send(sw: SignupWeb, req: service.Requested) -> None:
    assert req.token is not None and req.request_id is not None
    await mail.send_one(sw.app, sw.form, sw.gate, req.request_id, req.token)
