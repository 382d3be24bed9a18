"""Public opt-out routes: the opt-out page, RFC 8058 one-click, the preference page.

The token in the path is the capability: no login, no cookie, no other personal data (R18).
A GET never changes anything (link scanners follow links, R22). Every change is one
transaction through `optout.service`. Unusable links get the same polite page whatever the
reason, and invalid tokens cost a database round trip like valid ones, so neither the page nor
its timing tells whether a customer exists. Logs carry no token, id or address.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jinja2
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from outreach import bootstrap, logs, metrics
from outreach.errors import InputRejected, NotFound
from outreach.gate.ledger_batch import LedgerBatcher
from outreach.optout import keys as keys_mod
from outreach.optout import policy as policy_mod
from outreach.optout import service, tokens

log = logging.getLogger("outreach.web.optout")

ONE_CLICK = ("List-Unsubscribe", "One-Click")
ERRORS = {
    400: (
        "このリンクはご利用いただけません",
        "リンクが正しくないか、途中で切れている可能性があります。",
    ),
    403: (
        "このリンクはご利用いただけません",
        "このページからのお手続きを受け付けられませんでした。",
    ),
    404: (
        "このリンクはご利用いただけません",
        "リンクが正しくないか、途中で切れている可能性があります。",
    ),
    405: ("このリンクはご利用いただけません", "このお手続きはこのページでは受け付けておりません。"),
    413: ("お手続きを受け付けられませんでした", "送信された内容が大きすぎます。"),
    429: (
        "しばらくしてからお試しください",
        "短い時間にたくさんのお手続きがありました。少し時間をおいてからもう一度お試しください。",
    ),
    503: (
        "ただいまお手続きを受け付けられません",
        "混み合っているか、メンテナンス中です。少し時間をおいてからもう一度お試しください。",
    ),
}
NO_STORE = {"cache-control": "no-store"}


@dataclass(frozen=True)
class Deps:
    app: bootstrap.App
    ring: keys_mod.KeyRing
    policy: policy_mod.OptoutPolicy
    pages: jinja2.Environment
    dealer: SimpleNamespace  # the sender shown on the pages (the dealer file's [dealer])
    own_origin: str
    ledger: LedgerBatcher  # one-clicks committed in groups when they arrive together
    _fixed: dict[tuple[str, int, tuple[tuple[str, str], ...]], bytes] = field(
        default_factory=dict, compare=False, repr=False
    )

    def render(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.pages.get_template(f"optout/{name}").render(dealer=self.dealer, **ctx)
        return HTMLResponse(html, status_code=status, headers=NO_STORE)

    def error(self, status: int) -> HTMLResponse:
        heading, text = ERRORS.get(status, ERRORS[400])
        return self.fixed("error.html", status, heading=heading, text=text)

    def fixed(self, name: str, status: int = 200, **ctx: str) -> HTMLResponse:
        """A page that depends on nothing but its name and `ctx` (the one-click answer, the
        error pages): rendered once per process, then answered from memory — these are the
        pages a burst of one-clicks or a flood of bad links asks for."""
        key = (name, status, tuple(sorted(ctx.items())))
        body = self._fixed.get(key)
        if body is None:
            body = self._fixed[key] = bytes(self.render(name, status, **ctx).body)
        return HTMLResponse(body, status_code=status, headers=NO_STORE)

    def error_bytes(
        self, status: int, _retry: float | None
    ) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """For the ASGI middleware (rate limit, body limit), which answers before routing."""
        body = self.error(status).body
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        return headers, bytes(body)


def build_deps(app: bootstrap.App) -> Deps:
    s = app.settings
    pages = jinja2.Environment(
        loader=jinja2.FileSystemLoader(s.templates_dir / "web"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return Deps(
        app=app,
        ring=keys_mod.ring(s),
        policy=policy_mod.load(s.config_dir / "optout.toml"),
        pages=pages,
        dealer=app.policy.dealer.view(),  # the App's validated dealer: no silent defaults
        own_origin=_origin(s.base_url),
        ledger=LedgerBatcher(app.engine, app.sessions),
    )


def routes(deps: Deps) -> list[BaseRoute]:
    css = (deps.app.settings.templates_dir / "web" / "optout" / "optout.css").read_bytes()

    async def stylesheet(request: Request) -> Response:
        return Response(
            css, media_type="text/css", headers={"cache-control": "public, max-age=86400"}
        )

    async def favicon(request: Request) -> Response:
        return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})

    async def optout_page(request: Request) -> Response:
        return await _handle(deps, request, "page", _optout_get)

    async def optout_post(request: Request) -> Response:
        return await _handle(deps, request, "post", _optout_post)

    async def prefs_page(request: Request) -> Response:
        return await _handle(deps, request, "preferences", _prefs_get)

    async def prefs_post(request: Request) -> Response:
        return await _handle(deps, request, "preferences_post", _prefs_post)

    return [
        Route("/static/optout.css", stylesheet, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),  # browsers ask; nothing to show
        Route("/u/{token}", optout_page, methods=["GET"]),
        Route("/u/{token}", optout_post, methods=["POST"]),
        Route("/preferences/{token}", prefs_page, methods=["GET"]),
        Route("/preferences/{token}", prefs_post, methods=["POST"]),
    ]


async def _handle(deps: Deps, request: Request, what: str, fn: Any) -> Response:
    started = time.perf_counter()
    token = request.path_params["token"]
    try:
        claims = tokens.verify(deps.ring.verify, token)
    except tokens.TokenError:
        claims = None
    try:
        if claims is None:
            async with deps.app.sessions() as s:
                await service.probe(s)
            response: Response = deps.error(400)
        else:
            response = await fn(deps, request, token, claims)
    except NotFound:
        response = deps.error(404)
    except InputRejected:
        response = deps.error(400)
    except (SQLAlchemyError, OSError):
        log.exception("optout.database_error", extra=logs.ids("optout.database_error", kind=what))
        response = deps.error(503)
    took = time.perf_counter() - started
    metrics.optout_request(what, request.method, response.status_code, took)
    log.info(
        "optout.request",
        extra=logs.ids(
            "optout.request",
            kind=what,
            status=response.status_code,
            duration_ms=round(took * 1000, 1),
        ),
    )
    return response


async def _optout_get(
    deps: Deps, request: Request, token: str, claims: tokens.TokenClaims
) -> Response:
    async with deps.app.sessions() as s:
        page = await service.page(s, claims, deps.policy)
    return deps.render("page.html", page=page, token=token)


async def _optout_post(
    deps: Deps, request: Request, token: str, claims: tokens.TokenClaims
) -> Response:
    fields = await _form(request)
    ua = service.ua_hash(request.headers.get("user-agent"))
    now = deps.app.clock.now()
    if fields.get(ONE_CLICK[0]) == ONE_CLICK[1]:
        # RFC 8058: act at once, answer 2xx, never redirect; no cookie or confirmation.
        await service.one_click_alone(deps.ledger, claims, deps.policy, now=now, ua=ua)
        return deps.fixed("one_click.html")
    if "choice" not in fields:
        return deps.error(400)
    if not _same_origin(deps, request):
        return deps.error(403)
    async with deps.app.sessions.begin() as s:
        choice, changed = await service.choose(
            s, claims, deps.policy, fields["choice"], now=now, ua=ua
        )
    return deps.render("done.html", choice=choice, changed=changed, token=token)


async def _prefs_get(
    deps: Deps, request: Request, token: str, claims: tokens.TokenClaims
) -> Response:
    async with deps.app.sessions() as s:
        prefs = await service.preferences(s, claims, deps.policy)
    return deps.render("preferences.html", prefs=prefs, token=token, message=None)


async def _prefs_post(
    deps: Deps, request: Request, token: str, claims: tokens.TokenClaims
) -> Response:
    fields = await _form(request)
    do, scope = fields.get("do"), fields.get("scope", "")
    if do not in ("stop", "resume"):
        return deps.error(400)
    if not _same_origin(deps, request):
        return deps.error(403)
    ua = service.ua_hash(request.headers.get("user-agent"))
    async with deps.app.sessions.begin() as s:
        changed = await service.set_preference(
            s, claims, deps.policy, scope=scope, stop=do == "stop", now=deps.app.clock.now(), ua=ua
        )
    async with deps.app.sessions() as s:
        prefs = await service.preferences(s, claims, deps.policy)
    label = deps.policy.label(scope)
    if not changed:
        message = "設定はすでにその状態です。"
    elif do == "stop":
        message = f"「{label}」を停止しました。"
    else:
        message = f"「{label}」の受信を再開しました。"
    return deps.render("preferences.html", prefs=prefs, token=token, message=message)


async def _form(request: Request) -> dict[str, str]:
    """The POST fields (urlencoded or multipart); the first value of each name."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=0, max_fields=20)
        return {k: v for k, v in form.multi_items()[::-1] if isinstance(v, str)}
    body = await request.body()
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    return {k: v for k, v in reversed(pairs)}


def _same_origin(deps: Deps, request: Request) -> bool:
    """A form POST from a browser carries Origin: it must be this site. Absent or "null" is
    accepted: the token itself is the capability, some clients send none, and browsers send
    "null" from a page served with Referrer-Policy: no-referrer (ours)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    own = {deps.own_origin, f"{request.url.scheme}://{request.headers.get('host', '')}"}
    return origin in own


def _origin(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"
