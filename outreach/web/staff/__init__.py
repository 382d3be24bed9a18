"""The staff console (/staff, Japanese pages) and the staff JSON API (/api/v1).

`mount(web, app)` adds both to the web app built by `outreach.web.app.create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

from outreach import bootstrap
from outreach.web.staff import api, pages
from outreach.web.staff.state import COOKIE, StaffWeb

__all__ = ["API_PREFIX", "CONSOLE_PREFIX", "COOKIE", "mount", "standalone"]

API_PREFIX = "/api/v1"
CONSOLE_PREFIX = "/staff"


def mount(web: FastAPI, app: bootstrap.App) -> StaffWeb:
    st = StaffWeb(app)
    web.mount(API_PREFIX, api.build(st))
    web.mount(CONSOLE_PREFIX, pages.build(st))
    return st


def standalone(app: bootstrap.App) -> FastAPI:
    """Only the staff console and API (tests, and the schemathesis run against the spec)."""
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    mount(web, app)
    return web
