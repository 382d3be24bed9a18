"""One-time form tokens against double submission (Post/Redirect/Get does the rest).

Every console page carries a fresh token in its forms, bound to the session by an HMAC under
the session's CSRF token. The first POST that carries it spends it (a row in
`form_submissions`, in the same transaction as the action, so a refused action leaves it
unspent); a second POST with the same token (Back and submit again, a double click) changes
nothing and is sent to where the first one led.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outreach.db.models import FormSubmission
from outreach.staff.errors import CsrfRejected

FIELD = "form_token"


class AlreadySubmitted(Exception):
    """The token was spent: `url` is where its first submission led (None: not known)."""

    def __init__(self, url: str | None) -> None:
        super().__init__("already submitted")
        self.url = url


def issue(session_secret: str) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_sig(session_secret, nonce)}"


def _sig(session_secret: str, nonce: str) -> str:
    mac = hmac.new(session_secret.encode(), nonce.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def nonce_of(token: str | None, session_secret: str) -> str:
    """The nonce of a token this session issued, else CsrfRejected."""
    nonce, _, sig = (token or "").partition(".")
    if not nonce or len(nonce) > 40 or not hmac.compare_digest(sig, _sig(session_secret, nonce)):
        raise CsrfRejected("フォームの有効期限が切れています。画面を開き直してください")
    return nonce


async def spend(
    session: AsyncSession, nonce: str, *, actor: str, now: dt.datetime
) -> FormSubmission:
    """Claim the token in the caller's transaction; AlreadySubmitted when it was spent."""
    seen = await session.get(FormSubmission, nonce)
    if seen is not None:
        raise AlreadySubmitted(seen.result_url)
    row = FormSubmission(token=nonce, actor=actor, at=now)
    session.add(row)
    await session.flush()  # a concurrent twin fails here (primary key) or waits for us
    return row


async def claim(
    session: AsyncSession, nonce: str | None, *, actor: str, now: dt.datetime, url: str = ""
) -> FormSubmission:
    """Spend a request's token (None: the form carried none) in the caller's transaction,
    leading to `url`; CsrfRejected without a token, AlreadySubmitted when it was spent."""
    if nonce is None:
        raise CsrfRejected("フォームの有効期限が切れています。画面を開き直してください")
    row = await spend(session, nonce, actor=actor, now=now)
    row.result_url = url[:300] or None
    return row


async def result_of(session: AsyncSession, nonce: str) -> str | None:
    return await session.scalar(
        select(FormSubmission.result_url).where(FormSubmission.token == nonce)
    )
