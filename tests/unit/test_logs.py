"""outreach.logs: one JSON object (or logfmt line) per record, identifiers only, and the
free text masked where it looks like an address, a phone number or a token path."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    handler = logs.setup("INFO", "json", stream=out)
    yield out
    root.removeHandler(handler)
    root.handlers[:], root.level = saved[0], saved[1]


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_record_is_one_json_object_with_event_level_and_ids(captured: io.StringIO) -> None:
    log = logging.getLogger("outreach.pipeline")
    log.error(
        "outbox.build_failed",
        extra=logs.ids("outbox.build_failed", outbox_id=42, attempt=3, error="ValueError"),
    )
    [r] = records(captured)
    assert r["event"] == "outbox.build_failed" and r["level"] == "error"
    assert r["logger"] == "outreach.pipeline"
    assert (r["outbox_id"], r["attempt"], r["error"]) == (42, 3, "ValueError")
    assert "msg" not in r  # the event name is the message
    assert str(r["ts"]).endswith("+00:00")


def test_free_text_and_tracebacks_are_masked(captured: io.StringIO) -> None:
    log = logging.getLogger("somewhere")
    try:
        raise ValueError("bad header for 山田 <taro.yamada@docomo.ne.jp> tel 090-1234-5678")
    except ValueError:
        log.exception("failed for hanako@example.jp on /u/v1.AbCdEfGhIjKlMnOpQrStUv")
    [r] = records(captured)
    text = json.dumps(r, ensure_ascii=False)
    for secret in ("taro.yamada@docomo.ne.jp", "090-1234-5678", "hanako@example.jp", "AbCdEfGh"):
        assert secret not in text
    assert "<email>" in str(r["msg"]) and "/u/<token>" in str(r["msg"])
    assert r["exc_type"] == "ValueError" and "<phone>" in str(r["exc"])


def test_ids_refuses_a_field_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="not a log field"):
        logs.ids("x", email="a@b.jp")


def test_logfmt_quotes_values_with_spaces() -> None:
    out = io.StringIO()
    handler = logs.setup("INFO", "logfmt", stream=out)
    try:
        logging.getLogger("outreach.daily").info(
            "daily done", extra=logs.ids("daily.done", run_id=7, count=3)
        )
    finally:
        logging.getLogger().removeHandler(handler)
    line = out.getvalue().strip()
    assert "event=daily.done" in line and "run_id=7" in line and 'msg="daily done"' in line
    assert line.startswith("ts=") and "level=info" in line


@given(
    st.from_regex(r"[a-z][a-z0-9._]{0,20}@[a-z]{2,10}\.(ne\.jp|jp|com)", fullmatch=True),
    st.text(alphabet="山田花子 ,:;()", max_size=20),
)
def test_any_address_in_the_text_is_masked(address: str, around: str) -> None:
    assert address not in logs.mask(f"{around}{address} {around}")


@given(st.from_regex(r"0[789]0-?[0-9]{4}-?[0-9]{4}", fullmatch=True))
def test_any_mobile_number_is_masked(phone: str) -> None:
    assert phone not in logs.mask(f"tel {phone}.")
    assert phone not in logs.mask(f"電話{phone}まで")


def test_hex_addresses_are_not_phone_numbers() -> None:
    assert logs.mask("<Handle at 0x7f0123456789>") == "<Handle at 0x7f0123456789>"
