"""The JSON API's request and response bodies (they make the OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from outreach.staff.customer_record import CORRECTABLE
from outreach.staff.spec import CampaignSpec

# The fields an Art. 34 correction may change: the service's one list, as the API's enum.
if TYPE_CHECKING:
    CorrectableField = str
else:
    CorrectableField = Literal[tuple(CORRECTABLE)]

Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="Record id")]
Short = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
    password: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    permissions: list[str]


class SessionOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`")
    csrf_token: str = Field(description="For cookie-authenticated writes: X-CSRF-Token header")
    expires_at: dt.datetime
    user: Me


class ProblemOut(BaseModel):
    field: str
    message: str = Field(description="In Japanese, for staff")
    label: str = Field("", description="The field's Japanese name")


class ErrorOut(BaseModel):
    detail: str
    problems: list[ProblemOut] = []


class FieldOut(BaseModel):
    field: str
    label: str
    kind: str


class PurposeOut(BaseModel):
    id: str
    text: str
    category: str
    channels: list[str]
    items: list[str]
    audience_fields: list[FieldOut]


class CampaignEdit(CampaignSpec):
    version: int = Field(ge=1, le=2**31 - 1, description="The version being edited")


class CampaignOut(BaseModel):
    id: int
    status: str
    status_label: str
    version: int
    created_by: str
    approved_by: str | None
    approved_version: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    definition: CampaignSpec


class ValidationOut(BaseModel):
    ok: bool
    problems: list[ProblemOut]
    items: list[str]


class ApproveIn(Strict):
    version: int = Field(ge=1, le=2**31 - 1)
    certify_non_advertising: bool = Field(
        False,
        description="The approver certifies a campaign filed as not advertising (R14); audited.",
    )


class ScheduleIn(Strict):
    at: dt.datetime | None = Field(None, description="Aware date-time; default: its own time")


class ReasonCount(BaseModel):
    code: str
    label: str
    count: int


class ChannelPreview(BaseModel):
    channel: str
    audience: int
    allowed: int
    denied: int
    deferred: int
    reasons: list[ReasonCount]


class SampleOut(BaseModel):
    customer_id: int
    to_address: str | None
    subject: str
    text: str
    html: str


class PreviewOut(BaseModel):
    campaign_id: int
    version: int
    items: list[str]
    channels: list[ChannelPreview]
    samples: list[SampleOut]
    sample_errors: list[str]
    seconds: float


class ResultsOut(BaseModel):
    campaign_id: int
    status: str
    status_label: str
    outbox: dict[str, int]
    denied: list[ReasonCount]
    deferred: int = Field(description="Queued for a later time (rate spacing, send window)")
    waiting: dict[str, int] = Field(
        default_factory=dict, description="Queued rows: ready, scheduled (later), retry"
    )
    bounced: int = Field(0, description="Messages with a permanent SMTP failure")
    optouts: int
    optouts_by_scope: dict[str, int]
    timeline: list[dict[str, Any]]
    timeline_step: str = ""
    as_of: dt.datetime | None = None


class RequestIn(Strict):
    kind: Literal["opt_out", "cessation"]
    scope: Literal[
        "all",
        "category:marketing",
        "category:survey",
        "category:service_notice",
        "channel:email",
        "channel:post",
        "channel:phone",
        "channel:visit",
    ]
    source: Literal["phone", "store", "letter", "email"]
    note: Annotated[str, Field(max_length=400, pattern=r"^[^\x00]*$")] = ""


class RequestOut(BaseModel):
    changed: bool
    request_id: int | None


class CorrectionIn(Strict):
    field: CorrectableField
    value: Annotated[str, Field(max_length=400, pattern=r"^[^\x00]*$")]
    reason: Short
    outcome: Literal["corrected", "refused"] = "corrected"


class CorrectionOut(BaseModel):
    request_id: int
    before: dict[str, Any]
    after: dict[str, Any]
    outcome: str


class CustomerHit(BaseModel):
    id: int
    external_id: str
    name_kanji: str
    name_kana: str | None
    prefecture: str | None
    city: str | None
    status: str


class UserIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
    password: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
    role: Literal["marketer", "approver", "admin"]
    display_name: Annotated[str, Field(max_length=100, pattern=r"^[^\x00]*$")] | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    active: bool


class TestSendIn(Strict):
    to: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^\x00\s]+@[^\x00\s]+$")]


class TestSendOut(BaseModel):
    ok: bool
    code: int | None
    to: str | None
    subject: str
