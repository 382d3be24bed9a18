"""The staff services' errors; the web layer maps each to one HTTP status, the CLI to an exit code.

Messages are in Japanese: staff read them in the console and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

from outreach.errors import InputRejected, OutreachError


class NotAuthenticated(OutreachError):
    """No valid session (HTTP 401)."""

    exit_code = 2


class Forbidden(OutreachError):
    """The user's role does not allow the action, or four-eyes forbids it (HTTP 403)."""

    exit_code = 1


class CsrfRejected(Forbidden):
    """A state-changing request without the session's CSRF token or from another origin."""


class RateLimited(OutreachError):
    """Too many failed logins for this account (HTTP 429)."""

    exit_code = 1


class Busy(OutreachError):
    """Too many logins being checked at once, or the database could not count this one
    (HTTP 503, try again shortly)."""

    exit_code = 1


class Conflict(OutreachError):
    """The record changed meanwhile or is in a state that does not allow this (HTTP 409)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a definition cannot be saved: the field it concerns and a message for staff."""

    field: str
    message: str


class Invalid(InputRejected):
    """A definition with problems; nothing was saved (HTTP 422)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
