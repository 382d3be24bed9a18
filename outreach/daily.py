"""The daily reminder run for a date D: candidates → gate → outbox, exactly once.

1. Window: stage dates after the last completed run (catch-up, at most
   `catch_up_max_days`) up to D. The pure rules pick, per cycle, only the latest stage in it.
2. Select the due vehicles and policies with indexed date-range selects, streamed.
3. For each chunk of candidates, in one transaction: skip what is already queued, choose the
   channel (preference order among the channels the customer is reachable on; the next one
   when the gate denies the first), ask the gate in batches, record every decision, and
   queue each allowed one under its idempotency key (a duplicate is skipped, never an error).
4. Flag 自賠責 cover gaps (R32), prepare the day's print batch (outreach.letters) and the
   call lists of the calling days (outreach.worklists), store the summary.

A run killed half-way leaves committed chunks behind; the next run for the date has the
same window (the killed run never completed), skips what is queued and finishes the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from outreach import bootstrap, clock, enqueue, logs, outbox, worklists
from outreach.candidates import inspection, insurance, ranges, rules, shaken
from outreach.candidates.facts import Candidate, PolicyFacts, VehicleFacts, Window
from outreach.db.models import Customer, Flag, InsurancePolicy, OutboxMessage, Run, Vehicle
from outreach.errors import ConfigError
from outreach.gate import decision
from outreach.gate.context import GateContext, load_context
from outreach.letters import batches

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)
STREAM_BATCH = 5000
GAP_MESSAGE = "自賠責保険の満了が車検満了日より前です。更新をご確認ください。"
IN_CHUNK = 900  # ids per IN (…) list: under SQLite's and asyncpg's parameter limits


@dataclass
class Summary:
    """Counts of one run; `queued` is how many outbox entries this run added."""

    run_id: int | None
    date: dt.date
    window: Window
    dry_run: bool
    candidates: int = 0
    already_queued: int = 0
    allowed: int = 0
    denied: int = 0
    deferred: int = 0
    queued: int = 0
    flags: int = 0
    denied_by_reason: Counter[str] = field(default_factory=Counter)
    breakdown: dict[str, Counter[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)  # channels this run queued entries on

    def count(self, c: Candidate, channel: str, what: str, n: int = 1) -> None:
        self.breakdown.setdefault(f"{c.kind}/{c.stage}/{channel}", Counter())[what] += n

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "date": self.date.isoformat(),
            "window": {
                "after": self.window.after.isoformat(),
                "through": self.window.through.isoformat(),
            },
            "dry_run": self.dry_run,
            "candidates": self.candidates,
            "already_queued": self.already_queued,
            "allowed": self.allowed,
            "denied": self.denied,
            "deferred": self.deferred,
            "queued": self.queued,
            "flags": self.flags,
            "denied_by_reason": dict(sorted(self.denied_by_reason.items())),
            "by_kind_stage_channel": {k: dict(v) for k, v in sorted(self.breakdown.items())},
            "files": self.files,
        }


@dataclass(frozen=True)
class Contact:
    email: str | None
    has_postal: bool
    has_phone: bool

    def reachable(self, channel: str) -> bool:
        if channel == "email":
            return bool(self.email)
        return self.has_postal if channel == "post" else self.has_phone


@dataclass(frozen=True)
class Setup:
    rules: rules.Rules
    gate: GateContext
    items: Mapping[tuple[str, str, str], frozenset[str]]  # (kind, stage, channel) → data items
    requests: dict[tuple[Any, ...], decision.Request] = field(default_factory=dict)


def setup(config_dir: Path, templates_dir: Path) -> Setup:
    """Load the reminder rules and the gate context, and the items each template uses."""
    r = rules.load(config_dir / "reminders.toml")
    ctx = load_context(config_dir)
    ctx.registry.purpose(r.purpose)  # an unknown purpose is a configuration error now
    items: dict[tuple[str, str, str], frozenset[str]] = {}
    for kind, rule in r.kinds.items():
        for stage in rule.stages:
            for channel, template in stage.templates.items():
                fields = template_fields(templates_dir, template, channel, r, kind)
                items[(kind, stage.name, channel)] = ctx.registry.items_for_fields(fields)
    return Setup(rules=r, gate=ctx, items=items)


def template_fields(
    templates_dir: Path, name: str, channel: str, r: rules.Rules, kind: str
) -> frozenset[str]:
    """The fields a reminder uses: read from the mail template when it exists (email), else
    the configured print/call columns and the kind's fields."""
    from outreach.render import analysis

    configured = frozenset(r.fields_for(kind, channel))
    folder = templates_dir / "mail" / name
    if channel != "email" or not folder.is_dir():
        return configured | (frozenset({"customer.email"}) if channel == "email" else frozenset())
    found: set[str] = set()
    seen: set[Path] = set()
    todo = [p for p in folder.iterdir() if p.suffix in (".txt", ".html")]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        source = path.read_text(encoding="utf-8")
        found |= analysis.fields_used(source)
        for inc in analysis.includes(source):
            if inc is not None:
                todo.append(templates_dir / "mail" / inc)
    return frozenset(found)


async def window_for(session: AsyncSession, day: dt.date, r: rules.Rules) -> Window:
    """After the last completed (not dry) daily run before `day`, at most the catch-up limit."""
    last = (
        await session.execute(
            select(func.max(Run.run_date)).where(
                Run.kind == "daily",
                Run.status == "done",
                Run.dry_run.is_(False),
                Run.run_date < day,
            )
        )
    ).scalar()
    floor = day - dt.timedelta(days=r.catch_up_max_days)
    after = day - dt.timedelta(days=1) if last is None else max(last, floor)
    return Window(after=after, through=day)


async def run(
    app: bootstrap.App,
    day: dt.date | None = None,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    prepared: Setup | None = None,
) -> Summary:
    """The daily run for `day` (default: today in Asia/Tokyo); returns its summary."""
    s = app.settings
    cfg = prepared or setup(s.config_dir, s.templates_dir)
    day = day or clock.today(app.clock)
    now = app.clock.now()
    async with app.sessions() as session, session.begin():
        window = await window_for(session, day, cfg.rules)
        earlier = await _earlier_runs(session, day)
        overlap = await _runs_within(session, window)
        run_row = Run(kind="daily", run_date=day, status="running", dry_run=dry_run, started_at=now)
        session.add(run_row)
        await session.flush()
        run_id = int(run_row.id)
    summary = Summary(run_id=run_id, date=day, window=window, dry_run=dry_run)
    try:
        async with app.sessions() as session:
            found, gaps = await collect(session, cfg.rules, window)
        summary.candidates = total = len(found)
        if progress:
            progress(0, total)
        size = cfg.rules.chunk_size
        for start in range(0, total, size):
            chunk = found[start : start + size]
            async with app.sessions() as session, session.begin():
                await process(
                    session, cfg, chunk, run_id, now, summary, dry_run=dry_run, check=overlap
                )
            if progress:
                progress(min(start + size, total), total)
        if not dry_run and gaps:
            async with app.sessions() as session, session.begin():
                summary.flags = await flag_gaps(session, gaps, now)
        async with app.sessions() as session, session.begin():
            # Rewritten whole from the outbox whenever this run or an earlier (perhaps
            # killed) run of the date queued entries for the channel.
            if not dry_run and (earlier or "post" in summary.channels):
                paths = await batches.prepare(
                    session,
                    s.data_dir,
                    day,
                    encoding=cfg.rules.post_encoding,
                    dealer=_dealer_name(s),
                    fields={k: cfg.rules.fields_for(k, "post") for k in cfg.rules.kinds},
                )
                summary.files += [str(p) for p in paths]
            if not dry_run and (earlier or "phone" in summary.channels):
                days = await worklists.call_days(session, day)
                paths = await worklists.write_calls(
                    session, s.data_dir, days, hours=_phone_hours(cfg.gate)
                )
                summary.files += [str(p) for p in paths]
            await _finish(session, run_id, "done", app.clock.now(), summary)
    except BaseException:
        async with app.sessions() as session, session.begin():
            await _finish(session, run_id, "failed", app.clock.now(), summary)
        raise
    return summary


def _dealer_name(settings: Any) -> str:
    """The sender named on the letters: the dealer file in use (the demo's in the demo)."""
    from outreach.render import dealer

    return dealer.load(dealer.path(settings)).sender_name


def _phone_hours(ctx: GateContext) -> str:
    w = ctx.policy.windows.get("phone")
    return f"{w.start:%H:%M}〜{w.end:%H:%M}" if w and w.end else "終日"


async def _earlier_runs(session: AsyncSession, day: dt.date) -> bool:
    stmt = (
        select(Run.id)
        .where(Run.kind == "daily", Run.run_date == day, Run.dry_run.is_(False))
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def _runs_within(session: AsyncSession, window: Window) -> bool:
    """Whether any earlier run (done, killed or failed) covered a date of this window: only
    then can a candidate already be queued, and only then is the outbox checked first."""
    stmt = (
        select(Run.id)
        .where(
            Run.kind == "daily",
            Run.dry_run.is_(False),
            Run.run_date > window.after,
            Run.run_date <= window.through,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def _finish(
    session: AsyncSession, run_id: int, status: str, at: dt.datetime, summary: Summary
) -> None:
    await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(status=status, finished_at=at, summary=summary.as_dict())
    )


# --- selection -------------------------------------------------------------------------


def _in_ranges(column: Any, rs: Iterable[ranges.Range]) -> Any:
    return or_(false(), *[column.between(lo, hi) for lo, hi in rs])


V = Vehicle.__table__
P = InsurancePolicy.__table__
_VEHICLE_COLUMNS = (
    V.c.id,
    V.c.user_id,
    V.c.status,
    V.c.first_registered_on,
    V.c.shaken_expiry_on,
    V.c.last_inspection_on,
    V.c.booked_on,
    V.c.owner_kind,
)


async def _vehicles(session: AsyncSession, where: Any) -> dict[int, VehicleFacts]:
    out: dict[int, VehicleFacts] = {}
    stmt = select(*_VEHICLE_COLUMNS).where(where, V.c.status == "owned")
    result = await session.stream(stmt.execution_options(yield_per=STREAM_BATCH))
    async for part in result.partitions():
        for r in part:
            out[r[0]] = VehicleFacts(*r)
    return out


_POLICY_COLUMNS = (
    P.c.id,
    P.c.kind,
    P.c.customer_id,
    P.c.expires_on,
    P.c.insurer,
    P.c.vehicle_id,
    V.c.user_id,
    V.c.status,
    P.c.starts_at,
)


def _policy(r: Any) -> PolicyFacts:
    starts = r[8].astimezone(clock.JST).date() if r[8] is not None else None
    return PolicyFacts(
        id=r[0],
        kind=r[1],
        customer_id=r[2],
        expires_on=r[3],
        insurer=r[4],
        vehicle_id=r[5],
        vehicle_user_id=r[6],
        vehicle_status=r[7],
        starts_on=starts,
    )


def _policy_select() -> Any:
    return select(*_POLICY_COLUMNS).select_from(P.outerjoin(V, V.c.id == P.c.vehicle_id))


async def _policies(session: AsyncSession, kind: str, where: Any) -> list[PolicyFacts]:
    out: list[PolicyFacts] = []
    stmt = _policy_select().where(P.c.kind == kind, where)
    result = await session.stream(stmt.execution_options(yield_per=STREAM_BATCH))
    async for part in result.partitions():
        out += [_policy(r) for r in part]
    return out


async def _renewed(session: AsyncSession, policies: Sequence[PolicyFacts]) -> set[int]:
    """Ids of the policies that a later policy renews (loaded in a few IN queries)."""
    vids = sorted({p.vehicle_id for p in policies if p.vehicle_id is not None})
    cids = sorted({p.customer_id for p in policies if p.vehicle_id is None and p.customer_id})
    others: list[PolicyFacts] = []
    for column, ids in ((P.c.vehicle_id, vids), (P.c.customer_id, cids)):
        for i in range(0, len(ids), IN_CHUNK):
            stmt = _policy_select().where(column.in_(ids[i : i + IN_CHUNK]))
            others += [_policy(r) for r in await session.execute(stmt)]
    by_vehicle: dict[int, list[PolicyFacts]] = {}
    by_customer: dict[int | None, list[PolicyFacts]] = {}
    for o in others:
        if o.vehicle_id is not None:
            by_vehicle.setdefault(o.vehicle_id, []).append(o)
        else:
            by_customer.setdefault(o.customer_id, []).append(o)
    out = set()
    for p in policies:
        pool = (
            by_vehicle.get(p.vehicle_id, [])
            if p.vehicle_id is not None
            else by_customer.get(p.customer_id, [])
        )
        if insurance.renewed_by(p, pool):
            out.add(p.id)
    return out


async def collect(
    session: AsyncSession, r: rules.Rules, window: Window
) -> tuple[list[Candidate], list[VehicleFacts]]:
    """Every candidate in the window, and the vehicles whose 自賠責 cover must be checked."""
    found: list[Candidate] = []
    gaps: list[VehicleFacts] = []
    if (rule := r.kinds.get("shaken")) is not None:
        rs = ranges.due_ranges(
            rule, window, booking_window_months=r.booking_window_months, calendar=r.calendar
        )
        for v in (await _vehicles(session, _in_ranges(V.c.shaken_expiry_on, rs))).values():
            if (c := shaken.candidate(v, r, window)) is not None:
                found.append(c)
                gaps.append(v)
    if (rule := r.kinds.get("inspection")) is not None:
        rs = ranges.shift(
            ranges.due_ranges(rule, window, booking_window_months=None, calendar=r.calendar), -12
        )
        vs = await _vehicles(
            session,
            or_(_in_ranges(V.c.last_inspection_on, rs), _in_ranges(V.c.first_registered_on, rs)),
        )
        found += [c for v in vs.values() if (c := inspection.candidate(v, r, window))]
    for kind in ("jibaiseki", "nini"):
        if (rule := r.kinds.get(kind)) is None:
            continue
        rs = ranges.due_ranges(rule, window, booking_window_months=None, calendar=r.calendar)
        due: list[tuple[PolicyFacts, Candidate]] = []
        for p in await _policies(session, kind, _in_ranges(P.c.expires_on, rs)):
            if (c := insurance.candidate(p, r, window)) is not None:
                due.append((p, c))
        renewed = await _renewed(session, [p for p, _ in due])
        found += [c for p, c in due if p.id not in renewed]
    found.sort(key=lambda c: (c.customer_id, c.kind, c.subject))
    return found, gaps


# --- gate and outbox ---------------------------------------------------------------------


async def _contacts(session: AsyncSession, ids: Sequence[int]) -> dict[int, Contact]:
    out: dict[int, Contact] = {}
    for i in range(0, len(ids), IN_CHUNK):
        part = ids[i : i + IN_CHUNK]
        stmt = select(
            Customer.id,
            Customer.email,
            Customer.postal_code,
            Customer.address,
            Customer.phone,
            Customer.phone_unreachable_at,
        ).where(Customer.id.in_(part))
        for cid, email, postal, address, phone, wrong in await session.execute(stmt):
            # A number a call found wrong is no way to reach the customer (until corrected).
            out[cid] = Contact(email or None, bool(postal and address), bool(phone) and not wrong)
    return out


async def _existing(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    out: set[str] = set()
    k = OutboxMessage.idempotency_key
    for i in range(0, len(keys), IN_CHUNK):
        rows = await session.execute(select(k).where(k.in_(keys[i : i + IN_CHUNK])))
        out.update(rows.scalars())
    return out


async def process(
    session: AsyncSession,
    cfg: Setup,
    chunk: Sequence[Candidate],
    run_id: int,
    now: dt.datetime,
    summary: Summary,
    *,
    dry_run: bool,
    check: bool = True,
) -> None:
    """Gate and queue one chunk of candidates in the caller's transaction.

    With `check`, candidates already on the outbox (under any channel) are skipped before
    the gate is asked; without it, the unique key still makes a duplicate impossible."""
    r = cfg.rules
    todo = list(chunk)
    if check:
        queued_keys = await _existing(session, [c.key(ch) for c in chunk for ch in r.channels])
        todo = [c for c in chunk if not any(c.key(ch) in queued_keys for ch in r.channels)]
    summary.already_queued += len(chunk) - len(todo)
    contacts = await _contacts(session, sorted({c.customer_id for c in todo}))
    options: list[list[str]] = []
    for c in todo:
        contact = contacts.get(c.customer_id)
        order = r.kinds[c.kind].stage(c.stage).channels or r.channels
        reach = [ch for ch in order if contact is not None and contact.reachable(ch)]
        options.append(reach or [order[0]])  # unreachable: the gate records why
    # (candidate, channel, outcome): decided, re-decided for a later opening, recorded.
    chosen: list[tuple[Candidate, str, enqueue.Outcome]] = []
    pending = list(range(len(todo)))
    attempt = 0
    while pending:
        idx = [i for i in pending if attempt < len(options[i])]
        if not idx:
            break
        chans = [options[i][attempt] for i in idx]
        asks = [
            (todo[i].customer_id, _request(cfg, todo[i], ch))
            for i, ch in zip(idx, chans, strict=True)
        ]
        outcomes = await enqueue.decide(
            session,
            cfg.gate,
            asks,
            now,
            run_id=run_id,
            subject_keys=[todo[i].key(ch) for i, ch in zip(idx, chans, strict=True)],
            record=not dry_run,
        )
        pending = []
        for i, ch, o in zip(idx, chans, outcomes, strict=True):
            c = todo[i]
            if o.status == enqueue.ALLOWED:
                summary.allowed += 1
            elif o.status == enqueue.DEFERRED:
                summary.deferred += 1
            else:
                summary.count(c, ch, "denied")
                summary.denied_by_reason.update(o.first.reasons)
                if attempt + 1 < len(options[i]):
                    pending.append(i)  # try the next reachable channel
                else:
                    summary.denied += 1
                continue
            chosen.append((c, ch, o))
            summary.count(c, ch, o.status)
        attempt += 1
    if dry_run or not chosen:
        return
    queue = []
    for c, ch, o in chosen:
        contact = contacts.get(c.customer_id)
        draft = outbox.Draft(
            idempotency_key=c.key(ch),
            customer_id=c.customer_id,
            purpose=r.purpose,
            category=r.category,
            channel=ch,
            kind=c.kind,
            template=c.template(ch),
            items=o.final.request.items,
            advertising=c.advertising,
            not_before=o.not_before,
            stage=c.stage,
            due_on=c.due_on,
            vehicle_id=c.vehicle_id,
            policy_id=c.policy_id,
            run_id=run_id,
            to_address=contact.email if (ch == "email" and contact) else None,
        )
        queue.append((draft, o))
    summary.queued += await enqueue.enqueue(session, queue, now=now)
    summary.channels.update(draft.channel for draft, _ in queue)


def _request(cfg: Setup, c: Candidate, channel: str) -> decision.Request:
    """The gate request of a candidate; equal requests are one shared value."""
    key = (c.kind, c.stage, channel, c.advertising, c.insurer)
    req = cfg.requests.get(key)
    if req is None:
        req = cfg.requests[key] = decision.Request(
            purpose=cfg.rules.purpose,
            channel=channel,
            items=cfg.items[(c.kind, c.stage, channel)],
            advertising=c.advertising,
            kind=c.kind,
            insurer=c.insurer,
            # An insurance reminder uses the policy's data, held in that insurer's partition.
            data_insurer=c.insurer,
        )
    return req


# --- flags ---------------------------------------------------------------------------------


async def flag_gaps(
    session: AsyncSession, vehicles: Sequence[VehicleFacts], now: dt.datetime
) -> int:
    """Flag each vehicle whose latest 自賠責 policy ends before its 車検 expiry (R32)."""
    by_id = {v.id: v for v in vehicles if v.shaken_expiry_on is not None}
    ids = sorted(by_id)
    rows: list[dict[str, Any]] = []
    for i in range(0, len(ids), IN_CHUNK):
        stmt = (
            select(P.c.vehicle_id, func.max(P.c.expires_at))
            .where(P.c.kind == "jibaiseki", P.c.vehicle_id.in_(ids[i : i + IN_CHUNK]))
            .group_by(P.c.vehicle_id)
        )
        for vid, ends in await session.execute(stmt):
            v = by_id[vid]
            assert v.shaken_expiry_on is not None
            if ends is not None and insurance.jibaiseki_gap(v.shaken_expiry_on, ends):
                rows.append(
                    {
                        "key": f"jibaiseki_gap:vehicle:{vid}:{v.shaken_expiry_on.isoformat()}",
                        "kind": "jibaiseki_gap",
                        "vehicle_id": vid,
                        "customer_id": v.user_id,
                        "detail": {
                            "shaken_expiry_on": v.shaken_expiry_on.isoformat(),
                            "jibaiseki_expires_at": ends.isoformat(),
                            "message": GAP_MESSAGE,
                        },
                        "created_at": now,
                    }
                )
    if not rows:
        return 0
    ins: Any = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    # executemany (SQLAlchemy's insertmanyvalues): one compiled statement, batched rows.
    stmt = ins(Flag).on_conflict_do_nothing(index_elements=["key"]).returning(Flag.id)
    return len((await session.execute(stmt, rows)).all())


# --- the scheduled job -----------------------------------------------------------------------


async def scheduled(date: str | None = None) -> dict[str, Any]:
    """Entry point of jobs/daily_reminders.toml: today's run (or `date`, YYYY-MM-DD)."""
    app = bootstrap.build()
    try:
        summary = await run(app, dt.date.fromisoformat(date) if date else None)
        log.info(
            "daily.done", extra=logs.ids("daily.done", run_id=summary.run_id, count=summary.queued)
        )
        return summary.as_dict()
    except ConfigError:
        log.exception("daily.config_refused", extra=logs.ids("daily.config_refused"))
        raise
    finally:
        await app.close()
