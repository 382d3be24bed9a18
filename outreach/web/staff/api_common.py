"""What every staff API resource shares: error statuses, who is asking, the problem and
campaign views."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from outreach import labels
from outreach.errors import NotFound, OutreachError
from outreach.staff import auth, campaigns
from outreach.staff.errors import (
    Busy,
    Conflict,
    Forbidden,
    Invalid,
    NotAuthenticated,
    Problem,
    RateLimited,
)
from outreach.web.staff import schemas

STATUS = {
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    RateLimited: 429,
    Busy: 503,
}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorOut, "description": "Not logged in"},
    403: {"model": schemas.ErrorOut, "description": "Role or CSRF check refused"},
    404: {"model": schemas.ErrorOut, "description": "No such record"},
    409: {"model": schemas.ErrorOut, "description": "State or version conflict"},
    422: {"model": schemas.ErrorOut, "description": "Invalid input"},
}


def status_of(e: OutreachError) -> int:
    for kind, code in STATUS.items():
        if isinstance(e, kind):
            return code
    return 400


def campaign_out(c: campaigns.Campaign) -> schemas.CampaignOut:
    return schemas.CampaignOut(
        id=c.id,
        status=c.status,
        status_label=campaigns.STATUS_LABELS.get(c.status, c.status),
        version=c.version,
        created_by=c.created_by,
        approved_by=c.approved_by,
        approved_version=c.approved_version,
        created_at=c.created_at,
        updated_at=c.updated_at,
        definition=campaigns.spec_of(c),
    )


def who(request: Request) -> auth.Principal:
    p: auth.Principal = request.state.principal
    return p


def _problem(p: Problem) -> schemas.ProblemOut:
    return schemas.ProblemOut(field=p.field, label=labels.field_name(p.field), message=p.message)
