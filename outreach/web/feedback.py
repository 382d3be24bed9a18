"""The console's feedback page (/staff/feedback): complaint rates and their alerts, bounces,
the DMARC summary per day. Japanese; extends the console's base layout."""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from outreach import bootstrap
from outreach.feedback import config, console
from outreach.staff import roles
from outreach.staff.errors import Forbidden, NotAuthenticated
from outreach.web.staff import forms
from outreach.web.staff.console import HEADERS
from outreach.web.staff.state import StaffWeb

PREFIX = "/staff/feedback"
LEVELS = {
    "ok": "正常",
    "alert": "警告",
    "pause": "配信停止",
    "low_volume": "件数不足（判定対象外）",
}
STREAMS = {"campaign": "キャンペーン", "reminder": "リマインド"}
KINDS = {"dsn": "不達通知", "complaint": "苦情"}
SEVERITIES = {
    "hard": "ハードバウンス",
    "soft": "ソフトバウンス",
    "delayed": "遅延",
    "delivered": "配信済み通知",
    "complaint": "迷惑メール報告",
}
OUTCOMES = {
    "suppressed": "送信停止に登録",
    "counted": "計数",
    "noted": "記録のみ",
    "ignored": "対象外",
    "opted_out": "広告メール停止を記録",
    "already_opted_out": "停止済み",
    "unmatched": "該当なし",
    "pending": "処理中",
}
REASONS = {
    "hard_bounce": "ハードバウンス",
    "soft_bounce": "ソフトバウンス（回数超過）",
    "complaint": "苦情",
    "manual": "手動",
}


def build(app: bootstrap.App) -> FastAPI:
    st = StaffWeb(app)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(app.settings.templates_dir / "web" / "staff")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["jst"] = forms.jst
    env.globals.update(
        role_labels=roles.ROLE_LABELS,
        levels=LEVELS,
        streams=STREAMS,
        kinds=KINDS,
        severities=SEVERITIES,
        outcomes=OUTCOMES,
        reasons=REASONS,
    )
    cfg = config.load(app.settings.config_dir / "feedback.toml")
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def render(name: str, p: Any, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(name).render(me=p, csrf_token=p.csrf_token, root="/staff", **ctx)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    @web.get("/")
    async def page(request: Request) -> Response:
        try:
            async with st.tx() as s:
                p = await st.principal(s, request)
                p.require("dashboard.read")
                data = await console.overview(s, cfg, now=st.now)
        except NotAuthenticated:
            return RedirectResponse("/staff/login", 303)
        except Forbidden as e:
            return render("error.html", p, 403, message=str(e))
        return render("feedback.html", p, d=data)

    return web
