"""The staff API's customer resource: search, the customer page, requests taken,
corrections (Art. 34) and the disclosure export (Art. 33)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from outreach.staff import customers
from outreach.web.staff import schemas
from outreach.web.staff.api_common import who
from outreach.web.staff.state import StaffWeb


def router(st: StaffWeb) -> APIRouter:
    router = APIRouter()

    @router.get("/customers", response_model=list[schemas.CustomerHit], tags=["customers"])
    async def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[^\x00]*$")],
        response: Response,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> list[schemas.CustomerHit]:
        """Matching customers (NFKC, width, kana and spacing folded; phone digits), 20 a
        page; the total is in the X-Total-Count header."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.read")
            found = await customers.search(s, q, actor=p.username, now=st.now, page=page)
            response.headers["x-total-count"] = str(found.total)
            return [schemas.CustomerHit.model_validate(dataclasses.asdict(h)) for h in found.hits]

    @router.get("/customers/{customer_id}", tags=["customers"])
    async def customer(customer_id: schemas.Id, request: Request) -> dict[str, Any]:
        """The customer page: records, consent timeline, messages and decisions (read logged)."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.read")
            return dataclasses.asdict(
                await customers.page(s, customer_id, actor=p.username, now=st.now)
            )

    @router.post(
        "/customers/{customer_id}/requests", response_model=schemas.RequestOut, tags=["customers"]
    )
    async def take_request(
        customer_id: schemas.Id, body: schemas.RequestIn, request: Request
    ) -> schemas.RequestOut:
        """Record an opt-out or a cessation request taken by phone or at the store."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.request")
            r = await customers.take_request(
                s,
                customer_id,
                kind=body.kind,
                scope=body.scope,
                source=body.source,
                actor=p.username,
                now=st.now,
                note=body.note,
            )
            return schemas.RequestOut.model_validate(dataclasses.asdict(r))

    @router.post(
        "/customers/{customer_id}/corrections",
        response_model=schemas.CorrectionOut,
        tags=["customers"],
    )
    async def correct(
        customer_id: schemas.Id, body: schemas.CorrectionIn, request: Request
    ) -> schemas.CorrectionOut:
        """Art. 34 correction (or a recorded refusal), audited with the outcome notice task."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.request")
            r = await customers.correct(
                s,
                customer_id,
                field=body.field,
                value=body.value,
                reason=body.reason,
                actor=p.username,
                now=st.now,
                outcome=body.outcome,
            )
            return schemas.CorrectionOut.model_validate(dataclasses.asdict(r))

    @router.get("/customers/{customer_id}/export", tags=["customers"])
    async def export(customer_id: schemas.Id, request: Request) -> Response:
        """Art. 33 disclosure: everything held about the customer, as JSON."""
        async with st.tx() as s:
            p = who(request)
            p.require("customer.request")
            data = await customers.export(s, customer_id, actor=p.username, now=st.now)
        return JSONResponse(
            jsonable(data.to_json()),
            headers={
                "content-disposition": f'attachment; filename="customer-{customer_id}.json"',
                "cache-control": "no-store",
            },
        )

    return router


def jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [jsonable(x) for x in v]
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    return v
