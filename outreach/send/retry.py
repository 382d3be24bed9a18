"""What a relay's answer means for the message: sent, try again later, give up, or suppress.

- 2xx: sent.
- 4xx, or no answer at all (refused, dropped, timed out): temporary; retried with
  exponential backoff and full jitter, up to `max_attempts`.
- 5xx: permanent failure, never retried.
- a hard bounce (5.1.1 bad mailbox, 5.1.0 other address status, 5.1.10 null MX, or a plain
  550 that says the user is unknown): permanent, and the address goes on the suppression list.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import re
from dataclasses import dataclass

from outreach.send.protocol import SendResult

HARD_BOUNCE_STATUSES = frozenset({"5.1.1", "5.1.0", "5.1.10"})
_USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such user|mailbox unavailable|does not exist|"
    r"recipient (address )?rejected|invalid recipient",
    re.IGNORECASE,
)
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "temp_fail"
    FAIL = "perm_fail"
    BOUNCE = "hard_bounce"


@dataclass(frozen=True, slots=True)
class Policy:
    max_attempts: int = 8
    base: dt.timedelta = dt.timedelta(seconds=30)
    cap: dt.timedelta = dt.timedelta(hours=2)


def enhanced_status(text: str) -> str | None:
    """The RFC 3463 status code in a reply text, e.g. "5.1.1" in "550 5.1.1 user unknown"."""
    m = _ENHANCED.search(text)
    return ".".join(m.groups()) if m else None


def classify(result: SendResult) -> Outcome:
    if result.ok:
        return Outcome.SENT
    code = result.code
    if code is None or 400 <= code < 500:
        return Outcome.RETRY
    if 500 <= code < 600:
        status = result.enhanced or enhanced_status(result.detail)
        if status in HARD_BOUNCE_STATUSES:
            return Outcome.BOUNCE
        if code == 550 and status is None and _USER_UNKNOWN.search(result.detail):
            return Outcome.BOUNCE
        return Outcome.FAIL
    return Outcome.RETRY  # an unexpected code (1xx/3xx at the end of DATA): try again


def backoff(attempt: int, policy: Policy, rng: random.Random | None = None) -> dt.timedelta:
    """Delay before attempt `attempt + 1`: full jitter over base·2^(attempt-1), capped."""
    ceiling = min(
        policy.cap.total_seconds(), policy.base.total_seconds() * 2 ** max(attempt - 1, 0)
    )
    r = rng or random
    # Never retry sooner than a tenth of the base, so a storm of 4xx does not spin.
    return dt.timedelta(seconds=max(policy.base.total_seconds() / 10, r.uniform(0, ceiling)))


def next_step(result: SendResult, attempt: int, policy: Policy) -> Outcome:
    """The outcome, with a temporary failure turned permanent once attempts are used up."""
    outcome = classify(result)
    if outcome is Outcome.RETRY and attempt >= policy.max_attempts:
        return Outcome.FAIL
    return outcome
