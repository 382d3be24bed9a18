"""The staff console: Japanese pages over the same service functions as the API and CLI.

Every page needs a session cookie (else a redirect to the login page); every form post needs
the session's CSRF token and a same-origin Origin/Referer. Charts are inline SVG; the only
script is the bundled live-validation helper (no CDN).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from outreach.errors import NotFound, OutreachError
from outreach.staff import auth, campaigns, csrf, watch
from outreach.staff.errors import CsrfRejected, Forbidden, Invalid, NotAuthenticated
from outreach.web.staff import (
    calls,
    campaign_pages,
    charts,
    compliance,
    conversion,
    customer_pages,
    documents,
    letters,
    once,
    sending,
    user_pages,
)
from outreach.web.staff.console import (
    CSP,
    HEADERS,
    OPS,
    RUN_SUMMARY,
    Console,
    PageId,
    Pages,
    problem_view,
)
from outreach.web.staff.state import COOKIE, StaffWeb, remote

__all__ = ["CSP", "HEADERS", "OPS", "RUN_SUMMARY", "PageId", "Pages", "build", "problem_view"]

# Why a login was refused → (status, message). "busy": too many password checks in flight.
LOGIN_REFUSALS: dict[str, tuple[int, str]] = {
    "rate_limited": (429, "ログインの失敗が続いたため、しばらくしてからお試しください"),
    "busy": (503, "ただいま混み合っています。少し待ってからお試しください"),
    "unavailable": (503, "ただいま混み合っています。少し待ってからお試しください"),
    "": (401, "ユーザー名またはパスワードが違います"),
}


def build(st: StaffWeb) -> FastAPI:
    pages = Pages(st)
    c = Console(st, pages)
    who = c.who
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
            [(d.day, d.optouts) for d in data.optout_trend],
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

    for resource in (campaign_pages, customer_pages, user_pages):
        web.include_router(resource.router(c, authed))
    for extra in (calls, letters, sending, conversion):  # the dealer's day (own modules)
        extra.add(web, pages, authed)
    return web
