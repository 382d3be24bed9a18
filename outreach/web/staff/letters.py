"""Print batches in the console: download the CSV and the PDF, confirm a batch as sent to
print (its letters become `printed`, with who and when)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from outreach.errors import NotFound
from outreach.letters import batches
from outreach.staff import auth
from outreach.web.staff import once

PERMISSION = "customer.request"  # the batches hold names and addresses


if TYPE_CHECKING:
    from outreach.web.staff.console import Pages


def _who(request: Request) -> auth.Principal:
    p: auth.Principal = request.state.principal
    return p


def add(web: FastAPI, pages: Pages, authed: list[Any]) -> None:
    st = pages.st

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    @web.get("/letters", dependencies=authed)
    async def letter_batches(request: Request) -> Response:
        _who(request).require(PERMISSION)
        async with st.tx() as s:
            rows = await batches.overview(s)
        return pages.render(
            "letters.html", request, batches=rows, done=request.query_params.get("done")
        )

    @web.get("/letters/{name}/{fmt}", dependencies=authed)
    async def letter_file(name: str, fmt: str, request: Request) -> Response:
        _who(request).require(PERMISSION)
        path = batches.file_of(st.app.settings.data_dir, name, fmt)
        if path is None:
            raise NotFound(name)
        media = "application/pdf" if fmt == "pdf" else "text/csv"
        return FileResponse(path, media_type=media, filename=path.name)

    @web.post("/letters/{name}/printed", dependencies=authed)
    async def letters_printed(name: str, request: Request) -> Response:
        p = _who(request)
        p.require(PERMISSION)
        back = f"{root(request)}/letters?done={name}"
        async with st.tx() as s:
            nonce = getattr(request.state, "nonce", None)
            await once.claim(s, nonce, actor=p.username, now=st.now, url=back)
            await batches.confirm(s, name, actor=p.username, now=st.now)
        return RedirectResponse(back, 303)
