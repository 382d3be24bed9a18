"""The console's customer pages: search, the customer page, requests taken, corrections
(Art. 34) and their notices, disclosures (Art. 33) as pages and A4 PDFs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from outreach import printing
from outreach.staff import auth, customers
from outreach.staff.errors import Invalid, Problem
from outreach.web.staff import documents
from outreach.web.staff.console import HEADERS, Console, PageId, problem_view
from outreach.web.staff.console import as_int as _int

NOTICE_METHODS = {"post": "郵送", "hand": "手渡し", "email": "電子メール"}


def router(c: Console, authed: list[Any]) -> APIRouter:
    st, pages, who, claim = c.st, c.pages, c.who, c.claim
    router = APIRouter(dependencies=authed)

    @router.get("/customers")
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

    @router.get("/customers/{customer_id}")
    async def customer_page(customer_id: PageId, request: Request) -> Response:
        p = who(request)
        p.require("customer.read")
        return await customer_view(request, customer_id, done=request.query_params.get("done"))

    async def customer_problems(
        request: Request, customer_id: int, problems: list[Any]
    ) -> Response:
        return await customer_view(request, customer_id, problems=problems, status=422)

    async def customer_view(
        request: Request,
        customer_id: int,
        *,
        done: str | None = None,
        problems: list[Any] | tuple[()] = (),
        status: int = 200,
    ) -> Response:
        """The customer page (its read audited), with what was just done or what was refused."""
        p = who(request)
        async with st.tx() as s:
            data = await customers.page(s, customer_id, actor=p.username, now=st.now)
        return pages.render(
            "customer.html",
            request,
            status,
            d=data,
            scopes=customers.REQUEST_SCOPES,
            sources=customers.SOURCES,
            correctable=customers.CORRECTABLE,
            identities=customers.IDENTITY_CHECKS,
            done=done,
            problems=[problem_view(x) for x in problems],
        )

    async def form_post(
        request: Request,
        customer_id: int,
        act: Callable[[Any, Any, auth.Principal, str], Awaitable[str]],
        url: str = "",
    ) -> Response:
        """A customer form post: the form token spent and the service called in one
        transaction, then the page it leads to (`act` returns it; "" keeps `url`). A refusal
        shows the customer page again with the problems."""
        p = who(request)
        p.require("customer.request")
        form = await request.form()
        root = request.scope.get("root_path", "")
        try:
            async with st.tx() as s:
                row = await claim(s, request, url)
                led = await act(s, form, p, root)
                if led:
                    url = row.result_url = led
        except Invalid as e:
            return await customer_problems(request, customer_id, e.problems)
        return RedirectResponse(url, 303)

    @router.post("/customers/{customer_id}/request")
    async def take_request(customer_id: PageId, request: Request) -> Response:
        async def act(s: Any, form: Any, p: auth.Principal, root: str) -> str:
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
            return ""

        url = f"{request.scope.get('root_path', '')}/customers/{customer_id}?done=request"
        return await form_post(request, customer_id, act, url)

    @router.post("/customers/{customer_id}/correct")
    async def correct(customer_id: PageId, request: Request) -> Response:
        async def act(s: Any, form: Any, p: auth.Principal, root: str) -> str:
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
            return f"{root}/customers/{customer_id}/corrections/{out.request_id}"

        return await form_post(request, customer_id, act)

    @router.post("/customers/{customer_id}/disclosures")
    async def new_disclosure(customer_id: PageId, request: Request) -> Response:
        """Art. 33: one request recorded once; then the document, viewed as often as needed."""

        async def act(s: Any, form: Any, p: auth.Principal, root: str) -> str:
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
            return f"{root}/customers/{customer_id}/disclosures/{req.id}"

        return await form_post(request, customer_id, act)

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

    @router.get("/customers/{customer_id}/disclosures/{request_id}")
    async def disclosure_page(
        customer_id: PageId, request_id: PageId, request: Request
    ) -> Response:
        html = await disclosure_html(request, customer_id, request_id)
        return HTMLResponse(html, headers=HEADERS)

    @router.get("/customers/{customer_id}/disclosures/{request_id}/a4.pdf")
    async def disclosure_pdf(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        html = await disclosure_html(request, customer_id, request_id, pdf=True)
        pdf = await printing.pdf(html, [css])
        return pdf_response(pdf, f"disclosure-{request_id}.pdf")

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

    @router.get("/customers/{customer_id}/corrections/{request_id}")
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

    @router.get("/customers/{customer_id}/corrections/{request_id}/notice")
    async def notice_print(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        return HTMLResponse(await notice_html(request, customer_id, request_id), headers=HEADERS)

    @router.get("/customers/{customer_id}/corrections/{request_id}/notice.pdf")
    async def notice_pdf(customer_id: PageId, request_id: PageId, request: Request) -> Response:
        html = await notice_html(request, customer_id, request_id, pdf=True)
        pdf = await printing.pdf(html, [css])
        return pdf_response(pdf, f"correction-{request_id}.pdf")

    @router.post("/customers/{customer_id}/corrections/{request_id}/notified")
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

    return router


def pdf_response(pdf: bytes, filename: str) -> Response:
    """An A4 document shown in the browser, never cached."""
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "cache-control": "no-store",
            "content-disposition": f'inline; filename="{filename}"',
        },
    )
