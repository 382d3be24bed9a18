"""The sender port: what the pipeline needs from any transport (SMTP, file, capture).

Every transport takes the gate's Permit with the message and checks its seal
(`decision.verify`) before anything leaves: there is no way to hand a transport bytes alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from outreach.gate.decision import Permit


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the relay (or folder) answered for one message.

    `code` is the SMTP reply code (250 on success); None when no reply came at all
    (connection refused or dropped), which counts as a temporary failure.
    `enhanced` is the RFC 3463 status code found in the reply text ("5.1.1"), if any.
    """

    ok: bool
    code: int | None
    detail: str = ""
    enhanced: str | None = None


class Transport(Protocol):
    async def send(
        self, permit: Permit, envelope_from: str, recipients: Sequence[str], data: bytes
    ) -> SendResult: ...

    async def close(self) -> None: ...
