"""The consent ledger's pure core: events, their hash chain, and the preferences they imply.

The ledger is append-only and chained per customer: event n carries the hash of event n-1.
A customer's current preferences (kept on the customer record) must equal `derive(events)`;
`outreach consent verify` checks both the chain and that equality.

Scopes: "all", "category:<category>" (e.g. category:marketing), "purpose:<id>",
"channel:<channel>", "campaign:<id>", "kind:<reminder kind>", and for consents granted by the
customer, names such as "insurer_share" or "purpose:<id>".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

ACTIONS = ("grant", "withdraw", "opt_out", "resubscribe", "cessation", "reinstate")


@dataclass(frozen=True, slots=True)
class Event:
    customer_id: int
    seq: int
    action: str
    scope: str
    source: str
    actor: str
    occurred_at: dt.datetime
    legal_basis: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prefs:
    """What the ledger implies for one customer."""

    opt_outs: frozenset[str] = frozenset()
    use_suspended: bool = False
    consents: frozenset[str] = frozenset()


def canonical(e: Event) -> bytes:
    body = {
        "customer_id": e.customer_id,
        "seq": e.seq,
        "action": e.action,
        "scope": e.scope,
        "legal_basis": e.legal_basis,
        "evidence": e.evidence,
        "source": e.source,
        "actor": e.actor,
        "occurred_at": e.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hash(prev_hash: str | None, e: Event) -> str:
    h = hashlib.sha256()
    h.update((prev_hash or "").encode())
    h.update(b"\x00")
    h.update(canonical(e))
    return h.hexdigest()


def apply(p: Prefs, e: Event) -> Prefs:
    """The preference change one event makes. Unknown actions are an error, not a no-op."""
    if e.action == "opt_out":
        return replace(p, opt_outs=p.opt_outs | {e.scope})
    if e.action == "resubscribe":
        return replace(p, opt_outs=p.opt_outs - {e.scope})
    if e.action == "cessation":
        if e.scope == "all":
            return replace(p, use_suspended=True)
        return replace(p, opt_outs=p.opt_outs | {e.scope})
    if e.action == "reinstate":
        if e.scope == "all":
            return replace(p, use_suspended=False)
        return replace(p, opt_outs=p.opt_outs - {e.scope})
    if e.action == "grant":
        return replace(p, consents=p.consents | {e.scope})
    if e.action == "withdraw":
        return replace(p, consents=p.consents - {e.scope})
    raise ValueError(f"unknown consent action {e.action!r}")


def derive(events: Iterable[Event]) -> Prefs:
    p = Prefs()
    for e in events:
        p = apply(p, e)
    return p


def changes(p: Prefs, e: Event) -> bool:
    """Whether recording `e` would change anything (repeated opt-outs add no event)."""
    return apply(p, e) != p
