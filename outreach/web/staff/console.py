"""What every console page shares: the Jinja environment and page rendering with the
security headers, the page-id path type, the problem view and the handler kit (`Console`:
the staff state, the pages, who is asking, spending a form's one-time token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import jinja2
from fastapi import Path as PathParam
from fastapi import Request
from starlette.responses import HTMLResponse

from outreach import labels
from outreach.staff import auth, campaigns, roles
from outreach.staff import spec as spec_mod
from outreach.staff.errors import Problem
from outreach.web.staff import once
from outreach.web.staff.state import StaffWeb

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


@dataclass(frozen=True)
class Console:
    """The handler kit of one console app, handed to each resource's router."""

    st: StaffWeb
    pages: Pages

    def who(self, request: Request) -> auth.Principal:
        p: auth.Principal = request.state.principal
        return p

    async def claim(self, s: Any, request: Request, url: str = "") -> Any:
        """Spend the request's form token in this transaction, leading to `url`."""
        nonce = getattr(request.state, "nonce", None)
        return await once.claim(
            s, nonce, actor=self.who(request).username, now=self.st.now, url=url
        )


def problem_view(p: Problem) -> dict[str, str]:
    """A problem as staff read it: the field's Japanese name and the message."""
    return {"field": p.field, "label": labels.field_name(p.field), "message": p.message}


def as_int(v: Any) -> int | None:
    try:
        return int(str(v))
    except (TypeError, ValueError):
        return None
