"""Complaint feedback reports (RFC 5965 ARF), as Yahoo's complaint feedback loop (CFL) and
other providers' FBLs send them.

A multipart/report; report-type=feedback-report with a human-readable part, a
message/feedback-report part (Feedback-Type, User-Agent, Version, Original-Mail-From,
Original-Rcpt-To, Arrival-Date, Source-IP, Reported-Domain…) and the complained-about message
or its headers. Providers often redact the recipient (RFC 6590); the returned Message-ID then
is what ties the complaint to its outbox row and so to the customer.
"""

from __future__ import annotations

from email.message import Message

from outreach.feedback import mime
from outreach.feedback.reports import Complaint, ReportError

# Feedback types that are a complaint about the mail (RFC 5965 §7.3). "not-spam" is the
# opposite and "auth-failure" (RFC 6591) is about authentication: neither is an opt-out.
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other"})


def is_arf(msg: Message) -> bool:
    return mime.report_type(msg) == "feedback-report" or (
        mime.part(msg, "message/feedback-report") is not None
    )


def parse(msg: Message) -> Complaint:
    p = mime.part(msg, "message/feedback-report")
    if p is None:
        raise ReportError("no message/feedback-report part")
    blocks = mime.field_blocks(p)
    if not blocks:
        raise ReportError("empty feedback-report part")
    f = blocks[0]
    feedback_type = str(f.get("feedback-type", "")).strip().lower()
    if not feedback_type:
        raise ReportError("feedback report without Feedback-Type")
    original = mime.returned_headers(msg)
    rcpt = mime.address(f.get("original-rcpt-to"))
    if rcpt is None and original is not None:
        rcpt = mime.address(original.get("to"))
    if rcpt is not None and _redacted(rcpt):
        rcpt = None
    arrival = mime.date(f.get("arrival-date")) or mime.date(f.get("received-date"))
    return Complaint(
        feedback_type=feedback_type,
        user_agent=" ".join(str(f.get("user-agent", "")).split()),
        arrival=arrival or mime.date(msg.get("date")),
        original_rcpt=rcpt,
        original_mail_from=mime.address(f.get("original-mail-from")),
        original_message_id=mime.message_id(original.get("message-id"))
        if original is not None
        else None,
        source_ip=str(f.get("source-ip", "")).strip(),
        reported_domain=str(f.get("reported-domain", "")).strip().lower(),
        reporting_mta=mime.typed_value(f.get("reporting-mta")),
        list_id=" ".join(str(original.get("list-id", "")).split()) if original is not None else "",
        feedback_id=" ".join(str(original.get("feedback-id", "")).split())
        if original is not None
        else "",
    )


def _redacted(address: str) -> bool:
    """RFC 6590 redaction leaves a placeholder (`redacted@…`, `xxxxxxx@…`) or no local part."""
    local = address.split("@", 1)[0]
    return local in ("", "redacted", "[redacted]") or set(local) <= {"x", "*", "."}
