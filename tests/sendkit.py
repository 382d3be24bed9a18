"""Helpers for the outbox and sending tests: a real aiosmtpd server, customers, permits.

The SMTP server runs in-process on 127.0.0.1 (aiosmtpd's Controller, its own thread and
loop) and stores every accepted message with the time it was accepted. `faults` make it
misbehave the way relays do: 421/451 at random, a connection dropped in the middle of DATA,
and 550 5.1.1 for chosen addresses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import email.policy
import functools
import random
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from outreach import outbox, pipeline
from outreach.clock import Clock
from outreach.db.models import Customer
from outreach.gate import decision, fake
from outreach.gate.context import load_context
from outreach.render import message
from outreach.send import config as send_config
from outreach.send import gatecheck, maildata, retry
from outreach.send.protocol import Transport

UTC = dt.UTC
_MID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float  # time.time() when the server answered 250

    @property
    def message_id(self) -> str:
        m = _MID.search(self.data)
        return m.group(1).decode() if m else ""

    def parsed(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Faults:
    """How the server misbehaves. Per Message-ID, the first `fails[mid]` deliveries fail."""

    bounce: set[str] = field(default_factory=set)  # addresses answered 550 5.1.1
    rate: float = 0.0  # share of messages that fail a few times before getting through
    max_fails: int = 3
    seed: int = 1
    delay: float = 0.0  # seconds the server takes per message (to widen race windows)


class Handler:
    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.received: list[Received] = []
        self.refused: list[tuple[str, int]] = []  # (address or message-id, code)
        self._seen: Counter[str] = Counter()
        self._plan: dict[str, int] = {}
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._faults = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.faults.bounce:
            self.refused.append((address, 550))
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        m = _MID.search(data)
        mid = m.group(1).decode() if m else ""
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        with self._lock:
            if mid not in self._plan:
                fail = self._rng.random() < self.faults.rate
                self._plan[mid] = self._rng.randint(1, self.faults.max_fails) if fail else 0
            self._seen[mid] += 1
            n = self._seen[mid]
            if n <= self._plan[mid]:
                kind = ("421", "451", "drop")[self._faults % 3]  # every kind, in turn
                self._faults += 1
                self.refused.append((mid, 0 if kind == "drop" else int(kind)))
                if kind == "drop":
                    server.transport.close()  # mid-DATA: the client never sees a reply
                    return "451 4.3.0 dropped"
                if kind == "421":
                    return "421 4.7.0 Try again later, closing connection"
                return "451 4.3.0 Temporary local problem, try later"
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), data, time.time())
            )
        return "250 2.0.0 OK queued"


class SmtpServer:
    """`with SmtpServer() as s:` — a real SMTP server on 127.0.0.1:`s.port`."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.handler = Handler(faults)
        self.port = free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, data_size_limit=10_000_000
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


async def add_customers(
    session: AsyncSession, n: int, *, start: int = 1, domain: str = "example.jp"
) -> list[int]:
    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "id": i,
            "external_id": f"C{i:06d}",
            "name_kanji": f"髙橋 太郎{i}",
            "email": f"user{i}@{domain}",
            "opt_outs": [],
            "consents": [],
            "created_at": now,
            "updated_at": now,
        }
        for i in range(start, start + n)
    ]
    await session.execute(insert(Customer), rows)
    return [r["id"] for r in rows]  # type: ignore[misc]


@functools.cache
def _fake_gate() -> fake.FakeGate:
    return fake.FakeGate(load_context(REPO / "config"))


def permit(
    customer_id: int,
    purpose: str = "p2",
    channel: str = "email",
    items: frozenset[str] = frozenset({"name", "email", "vehicle"}),
    at: dt.datetime | None = None,
    advertising: bool = False,
) -> decision.Permit:
    """A permit issued by the package's fake gate through the real rules (for a synthetic
    customer who is reachable and has opted in), never made by hand."""
    request = decision.Request(
        purpose=purpose, channel=channel, items=items, advertising=advertising
    )
    # Monday 2026-01-05 12:00 JST: inside every channel's send window.
    return _fake_gate().permit(customer_id, request, at or dt.datetime(2026, 1, 5, 3, tzinfo=UTC))


class HandComposer:
    """Builds a real message (the render engineer's MIME writer) from a hand-made body."""

    domain = "mail.example-lexus-dealer.jp"

    def compose(
        self,
        permit: decision.Permit,
        m: outbox.Claimed,
        message_id: str,
        data: maildata.MessageData,
        now: dt.datetime,
    ) -> pipeline.Composed:
        name = str(data.customer["name_kanji"])
        to = maildata.recipient(m, data.customer)
        mail = message.Mail(
            sender=message.Address(f"reminder@{self.domain}", "レクサス東京 車検センター"),
            to=message.Address(to, name),
            subject=f"【車検のご案内】{name}様 お車の車検満了日が近づいています",
            text=f"{name}様\n\nいつもご利用いただきありがとうございます。\n(outbox {m.id})\n",
            html=f"<p>{name}様</p><p>車検のご案内です。</p>",
            message_id=message_id,
            date=now,
            list_id=message.list_id("レクサス東京 お知らせ", "reminders", self.domain),
            list_unsubscribe=(f"https://example.jp/u/{m.id}",),
        )
        return pipeline.Composed(
            envelope_from=f"bounce@{self.domain}",
            to=to,
            data=message.build(mail),
            template_version="1",
            template_hash="0" * 64,
        )


REPO = Path(__file__).resolve().parent.parent
FAST_RETRY = retry.Policy(
    max_attempts=8, base=dt.timedelta(seconds=10), cap=dt.timedelta(minutes=5)
)


def make_worker(
    sessions: async_sessionmaker[Any],
    transport: Transport,
    clock: Clock,
    *,
    name: str = "w1",
    batch: int = 50,
    config: send_config.SendingConfig | None = None,
) -> pipeline.Worker:
    cfg = config or send_config.SendingConfig(retry=FAST_RETRY, lease=dt.timedelta(seconds=60))
    return pipeline.Worker(
        sessions=sessions,
        transport=transport,
        composer=HandComposer(),
        gate=gatecheck.BatchGate(load_context(REPO / "config")),
        clock=clock,
        config=cfg,
        budgets=cfg.budgets(100_000, 100_000_000),
        worker_id=name,
        mail_domain=HandComposer.domain,
        batch=batch,
        rng=random.Random(7),
    )


def draft(customer_id: int, key: str | None = None, **kw: Any) -> outbox.Draft:
    base = outbox.Draft(
        idempotency_key=key or f"shaken:{customer_id}:2026-03",
        customer_id=customer_id,
        purpose="p2",
        category="service_notice",
        channel="email",
        kind="shaken",
        template="test_notice",
        items=frozenset({"name", "email", "vehicle"}),
        advertising=False,
        not_before=dt.datetime(2026, 1, 4, tzinfo=UTC),
    )
    return dataclasses.replace(base, **kw)


def all_day_config(dest: Path) -> Path:
    """A copy of config/ whose email window is the whole day (subprocess tests run on the
    wall clock, which may be in the configured quiet hours)."""
    import shutil

    shutil.copytree(REPO / "config", dest)
    gate = dest / "gate.toml"
    text = gate.read_text(encoding="utf-8")
    text = re.sub(
        r'(\[windows\.email\]\s*start = )"[^"]*"(\s*end = )"[^"]*"', r'\1"00:00"\2"24:00"', text
    )
    assert '"24:00"' in text
    gate.write_text(text, encoding="utf-8")
    return dest


def write_templates(root: Path) -> Path:
    """A template folder (catalogue convention) with one small service notice, `test_notice`."""
    import shutil

    mail = root / "mail"
    shutil.copytree(REPO / "templates" / "mail" / "_base", mail / "_base")
    folder = mail / "test_notice"
    folder.mkdir(parents=True)
    (folder / "meta.toml").write_text(
        'purpose = "p2"\nadvertising = false\nstream = "reminder"\nkind = "shaken"\nversion = 3\n'
    )
    (folder / "subject.txt").write_text("【車検のご案内】{{ customer.name_kanji }}様\n")
    (folder / "body.txt").write_text(
        "{{ customer.name_kanji }}様\n\n車検のご案内です。\n"
        "配信停止: {{ message.optout_url }}\n{{ dealer.sender_name }}\n"
    )
    (folder / "body.html").write_text("<p>{{ customer.name_kanji }}様 &lt;車検&gt;</p>\n")
    return root
