"""Database errors never carry bound values (customers' data) into messages or logs, on
SQLite and PostgreSQL (`hide_parameters` on every engine)."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from outreach import bootstrap, logs
from outreach.db.models import Customer

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


async def test_a_database_error_shows_no_bound_values(app: bootstrap.App) -> None:
    row = {
        "external_id": "C-dup",
        "name_kanji": "秘密 花子",
        "email": "himitsu.hanako@example.jp",
        "phone": "090-9876-5432",
        "created_at": T0,
        "updated_at": T0,
    }
    async with app.sessions() as s, s.begin():
        await s.execute(insert(Customer).values(**row))
    out = io.StringIO()
    handler = logs.setup("INFO", "json", stream=out)
    try:
        with pytest.raises(IntegrityError) as caught:
            async with app.sessions() as s, s.begin():
                await s.execute(insert(Customer).values(**row))  # the same external id
        logging.getLogger("outreach.test").error(
            "customer.insert_failed",
            exc_info=caught.value,
            extra=logs.ids("customer.insert_failed"),
        )
    finally:
        logging.getLogger().removeHandler(handler)
    message = str(caught.value)
    assert "C-dup" not in message  # not even the key (PostgreSQL's DETAIL line)
    assert "hidden due to hide_parameters" in message
    for secret in ("秘密 花子", "himitsu.hanako", "090-9876-5432"):
        assert secret not in message
        assert secret not in out.getvalue()
