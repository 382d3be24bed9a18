"""CSRF protection for every state-changing request of the console and the API.

Two independent checks, both required for a cookie-authenticated request: the request's
Origin (or Referer) must be the console's own origin when the browser sends one, and the
request must carry the session's synchronizer token (form field or X-CSRF-Token header).
Cookies are also SameSite=Strict. A bearer-token API call carries no ambient credential and
needs no CSRF token.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from outreach.staff.errors import CsrfRejected

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(origin: str | None, referer: str | None, allowed: frozenset[str]) -> bool:
    """True when the browser says the request comes from one of `allowed` origins, or says
    nothing (non-browser clients; the token check still applies). `Origin: null` is refused."""
    if origin is not None:
        return origin.lower() in allowed
    if referer:
        return origin_of(referer) in allowed
    return True


def check(
    *,
    expected: str,
    submitted: str | None,
    origin: str | None,
    referer: str | None,
    allowed: frozenset[str],
) -> None:
    if not same_origin(origin, referer, allowed):
        raise CsrfRejected("別のサイトからの送信は受け付けません")
    if not submitted or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CsrfRejected("フォームの有効期限が切れました。ページを再読み込みしてください")
