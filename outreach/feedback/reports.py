"""The values the report parsers return (pure data)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient block of a delivery-status notification (RFC 3464 §2.3)."""

    recipient: str  # Final-Recipient (or Original-Recipient), normalised
    action: str  # failed|delayed|delivered|relayed|expanded
    status: str  # RFC 3463 code, e.g. "5.1.1"
    diagnostic: str = ""  # Diagnostic-Code, as given
    remote_mta: str = ""


@dataclass(frozen=True, slots=True)
class Dsn:
    reporting_mta: str
    arrival: dt.datetime | None
    bounces: tuple[Bounce, ...]
    original_message_id: str | None  # from the returned headers, with angle brackets
    original_to: str | None = None  # To of the returned message, normalised


@dataclass(frozen=True, slots=True)
class Complaint:
    """A feedback report (RFC 5965 §3.1) about one message."""

    feedback_type: str  # abuse|fraud|virus|other|not-spam|auth-failure
    user_agent: str
    arrival: dt.datetime | None
    original_rcpt: str | None  # Original-Rcpt-To or the returned To, normalised (may be absent)
    original_mail_from: str | None
    original_message_id: str | None
    source_ip: str = ""
    reported_domain: str = ""
    reporting_mta: str = ""
    list_id: str = ""  # List-Id of the returned message: its stream
    feedback_id: str = ""  # Feedback-ID of the returned message (Google)


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    source_ip: str
    count: int
    disposition: str  # none|quarantine|reject
    dkim: str  # policy_evaluated: pass|fail (aligned)
    spf: str  # policy_evaluated: pass|fail (aligned)
    header_from: str
    dkim_domains: tuple[str, ...] = ()
    spf_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DmarcReport:
    org_name: str
    report_id: str
    begin: dt.datetime
    end: dt.datetime
    domain: str  # policy_published/domain
    policy: str  # p=
    records: tuple[DmarcRecord, ...]


class ReportError(ValueError):
    """A mail that claims to be a report but cannot be read as one."""
