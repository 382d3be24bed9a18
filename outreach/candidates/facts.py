"""Frozen inputs of the reminder rules and the `Candidate` they produce."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VehicleFacts:
    """What the rules need to know about one vehicle, as loaded."""

    id: int
    user_id: int | None  # 使用者: reminders go here, never to a lease or credit owner
    status: str = "owned"  # owned|sold|scrapped
    first_registered_on: dt.date | None = None
    shaken_expiry_on: dt.date | None = None
    last_inspection_on: dt.date | None = None
    booked_on: dt.date | None = None
    owner_kind: str = "user"


@dataclass(frozen=True, slots=True)
class PolicyFacts:
    """One insurance policy; `renewed` is set when `insurance.renewed_by` finds its renewal."""

    id: int
    kind: str  # jibaiseki|nini
    customer_id: int | None
    expires_on: dt.date
    insurer: str = "other"
    vehicle_id: int | None = None
    vehicle_user_id: int | None = None
    vehicle_status: str | None = None  # None when the policy names no vehicle
    starts_on: dt.date | None = None
    renewed: bool = False


@dataclass(frozen=True, slots=True)
class Window:
    """Stage dates the run for `through` must handle: after `after`, up to and including
    `through`. `after` is the date of the last completed run (catch-up)."""

    after: dt.date
    through: dt.date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.after < day <= self.through


@dataclass(frozen=True, slots=True)
class Candidate:
    """One reminder stage due for one customer, before the gate and channel choice."""

    kind: str  # shaken|inspection|jibaiseki|nini
    stage: str
    customer_id: int
    due_on: dt.date  # the expiry / inspection date the stage counts back from
    stage_on: dt.date  # the business day the stage falls on
    booking: bool
    advertising: bool
    templates: tuple[tuple[str, str], ...]  # (channel, template name)
    vehicle_id: int | None = None
    policy_id: int | None = None
    variant: str | None = None  # inspection: "12m" or "24m"
    insurer: str | None = None

    @property
    def subject(self) -> str:
        if self.policy_id is not None:
            return f"policy:{self.policy_id}"
        return f"vehicle:{self.vehicle_id}"

    def template(self, channel: str) -> str:
        return dict(self.templates)[channel]

    def key(self, channel: str) -> str:
        """The idempotency key: subject, recipient, kind, due date, stage and channel.

        The recipient is part of it so that a change of user starts a new cycle for the new
        user while the old user's remaining stages stop (they are no longer computed)."""
        return (
            f"rem:{self.kind}:{self.subject}:c{self.customer_id}:"
            f"{self.due_on.isoformat()}:{self.stage}:{channel}"
        )
