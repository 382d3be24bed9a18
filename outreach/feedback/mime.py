"""Reading the parts of a multipart/report (RFC 6522) mail: shared by the DSN and ARF parsers."""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import parsedate_to_datetime

from outreach import addresses

_MSGID = re.compile(r"<[^<>\s]+@[^<>\s]+>")

# compat32: header values as sent. Reports quote what the remote side wrote, which the
# modern policy's structured parsers may reject (e.g. `To: <taro@example.jp.>` reads as `<>`).
POLICY = email.policy.compat32
PARSER = BytesParser(policy=POLICY)


def parse(raw: bytes) -> Message:
    return PARSER.parsebytes(raw)


def report_type(msg: Message) -> str | None:
    """The report-type of a multipart/report mail ("delivery-status", "feedback-report")."""
    if msg.get_content_type() != "multipart/report":
        return None
    value = msg.get_param("report-type")
    return str(value).lower() if isinstance(value, str) else None


def part(msg: Message, content_type: str) -> Message | None:
    for p in msg.walk():
        if p.get_content_type() == content_type:
            return p
    return None


def returned_headers(msg: Message) -> Message | None:
    """The headers of the message a report is about: a message/rfc822 part, else a
    text/rfc822-headers part (RFC 6522 §4), else None."""
    full = None
    for p in msg.walk():
        if p is msg:
            continue
        ctype = p.get_content_type()
        if ctype == "message/rfc822" and full is None:
            inner = p.get_payload()
            if isinstance(inner, list) and inner:
                full = inner[0]
        elif ctype == "text/rfc822-headers":
            payload = p.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            return HeaderParser(policy=POLICY).parsestr(text)
    return full if isinstance(full, Message) else None


def field_blocks(p: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = p.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    if isinstance(payload, str):  # a parser that kept the body as text
        blocks = re.split(r"\r?\n\s*\r?\n", payload.strip())
        return [HeaderParser(policy=POLICY).parsestr(b + "\n") for b in blocks]
    return []


def typed_value(value: object) -> str:
    """The value of a typed field (`rfc822; taro@example.jp` → `taro@example.jp`)."""
    text = " ".join(str(value or "").split())
    _, sep, rest = text.partition(";")
    return (rest if sep else text).strip()


def address(value: object) -> str | None:
    text = typed_value(value)
    m = re.search(r"[^\s<>\"';,]+@[^\s<>\"';,]+", text)
    return addresses.normalise(m.group(0)) if m else None


def message_id(value: object) -> str | None:
    m = _MSGID.search(str(value or ""))
    return m.group(0) if m else None


def date(value: object) -> dt.datetime | None:
    text = " ".join(str(value or "").split())
    if not text:
        return None
    try:
        d = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return d if d.tzinfo is not None else d.replace(tzinfo=dt.UTC)
