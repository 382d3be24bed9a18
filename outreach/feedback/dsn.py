"""Delivery-status notifications (RFC 3464): which recipients failed, how, and for which mail.

Postfix, Gmail and Exchange Online all send a multipart/report; report-type=delivery-status
with a message/delivery-status part (per-message fields, then one block per recipient) and
the returned message or its headers (message/rfc822 or text/rfc822-headers), whose
Message-ID ties the report to the outbox row that sent it.

`severity` classifies one recipient: `hard` (the address does not exist or is disabled: the
configured list of RFC 3463 codes, default 5.1.x and 5.2.1), `soft` (any other permanent
failure, e.g. a full mailbox or a policy refusal: counted, suppressed after the configured
number), `delayed` (action delayed: only noted), `delivered` (a positive DSN).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from email.message import Message

from outreach.feedback import mime
from outreach.feedback.reports import Bounce, Dsn, ReportError

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def is_dsn(msg: Message) -> bool:
    return mime.report_type(msg) == "delivery-status" or (
        mime.part(msg, "message/delivery-status") is not None
    )


def parse(msg: Message) -> Dsn:
    p = mime.part(msg, "message/delivery-status")
    if p is None:
        raise ReportError("no message/delivery-status part")
    blocks = mime.field_blocks(p)
    if not blocks:
        raise ReportError("empty delivery-status part")
    per_message, recipients = blocks[0], blocks[1:]
    bounces: list[Bounce] = []
    for b in recipients:
        rcpt = mime.address(b.get("final-recipient")) or mime.address(b.get("original-recipient"))
        if rcpt is None:
            continue
        status_match = _STATUS.search(str(b.get("status", "")))
        status = ".".join(status_match.groups()) if status_match else ""
        action = str(b.get("action", "")).strip().lower() or (
            "failed" if status.startswith("5") else "delayed"
        )
        bounces.append(
            Bounce(
                recipient=rcpt,
                action=action,
                status=status,
                diagnostic=" ".join(str(b.get("diagnostic-code", "")).split()),
                remote_mta=mime.typed_value(b.get("remote-mta")),
            )
        )
    if not bounces:
        raise ReportError("no recipient with a Final-Recipient in the delivery-status part")
    original = mime.returned_headers(msg)
    mid = mime.message_id(original.get("message-id")) if original is not None else None
    # Gmail also names the returned message in the per-message fields.
    mid = mid or mime.message_id(per_message.get("x-original-message-id"))
    return Dsn(
        reporting_mta=mime.typed_value(per_message.get("reporting-mta")),
        arrival=mime.date(per_message.get("arrival-date")) or mime.date(msg.get("date")),
        bounces=tuple(bounces),
        original_message_id=mid,
        original_to=mime.address(original.get("to")) if original is not None else None,
    )


def severity(b: Bounce, hard_statuses: Collection[str]) -> str:
    """hard | soft | delayed | delivered (see the module docstring)."""
    if b.action in ("delivered", "relayed", "expanded"):
        return "delivered"
    if b.action == "delayed" or b.status.startswith("4"):
        return "delayed" if b.action == "delayed" else "soft"
    if b.status in hard_statuses or _prefix_match(b.status, hard_statuses):
        return "hard"
    return "soft"


def _prefix_match(status: str, hard: Collection[str]) -> bool:
    """A configured `5.1.*` matches every 5.1.x code."""
    return any(h.endswith(".*") and status.startswith(h[:-1]) for h in hard)
