"""Opt-outs posted through the running app while a worker is sending to the same customers:
no message is accepted by the SMTP server after the opt-out that covers it has committed.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import time
from pathlib import Path

import httpx
import sendkit
import uvicorn
from sqlalchemy import select

from outreach import bootstrap, outbox, pipeline
from outreach.db.models import Customer, OutboxMessage
from outreach.optout import keys, tokens
from outreach.send import smtp
from outreach.web.app import create_app

N = 60


def relaxed(app: bootstrap.App, tmp_path: Path) -> bootstrap.App:
    """The same database; the per-address rate limit raised (all posts come from 127.0.0.1)."""
    config = tmp_path / "config"
    shutil.copytree(app.settings.config_dir, config)
    text = (config / "optout.toml").read_text()
    text = re.sub(r"(?m)^rate_per_second = .*$", "rate_per_second = 1000", text)
    (config / "optout.toml").write_text(re.sub(r"(?m)^burst = .*$", "burst = 1000", text))
    return bootstrap.build(app.settings.model_copy(update={"config_dir": config}), clock=app.clock)


def _token(ring: keys.KeyRing, customer_id: int, outbox_id: int) -> str:
    return tokens.issue(
        ring.key,
        ring.kid,
        customer_id=customer_id,
        outbox_id=outbox_id,
        scope="kind:shaken",
        purpose="p2",
        category="service_notice",
        advertising=False,
    )


async def test_no_send_after_an_opt_out_commits(app: bootstrap.App, tmp_path: Path) -> None:
    async with app.sessions.begin() as s:
        ids = await sendkit.add_customers(s, N)
        await outbox.enqueue(s, [(sendkit.draft(c), sendkit.permit(c)) for c in ids])
        rows = await s.execute(select(OutboxMessage.customer_id, OutboxMessage.id))
        queued = {c: o for c, o in rows}
    ring = keys.ring(app.settings)
    links = {c: _token(ring, c, queued[c]) for c in ids}
    web_app = relaxed(app, tmp_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv = uvicorn.Server(uvicorn.Config(create_app(web_app), log_level="warning", access_log=False))
    serving = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(500):
        if srv.started:
            break
        await asyncio.sleep(0.01)

    opted = ids[1::2]  # every other customer opts out, in a shuffled order
    opted = opted[len(opted) // 2 :] + opted[: len(opted) // 2]
    committed: dict[int, float] = {}  # customer → time the 200 came back (after the commit)

    try:
        with sendkit.SmtpServer(sendkit.Faults(delay=0.03)) as mail:
            transport = smtp.SmtpTransport(smtp.parse_url(mail.url), 2)
            worker = sendkit.make_worker(app.sessions, transport, app.clock, batch=8)

            async def send_all() -> None:
                for _ in range(200):
                    if not (await pipeline.run_batch(worker)).claimed:
                        return

            async def opt_out_all() -> None:
                async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                    for c in opted:
                        r = await http.post(f"/u/{links[c]}", content="List-Unsubscribe=One-Click")
                        assert r.status_code == 200
                        committed[c] = time.time()
                        await asyncio.sleep(0.005)

            await asyncio.gather(send_all(), opt_out_all())
            await transport.close()
            received = list(mail.received)
    finally:
        srv.should_exit = True
        await serving
        sock.close()
        await web_app.close()

    by_customer: dict[int, list[float]] = {}
    for r in received:
        cid = int(re.match(r"user(\d+)@", r.rcpt_tos[0]).group(1))  # type: ignore[union-attr]
        by_customer.setdefault(cid, []).append(r.at)
    late = {c: ts for c, ts in by_customer.items() if c in committed and max(ts) > committed[c]}
    assert not late, f"sent after the opt-out committed: {late}"
    # Everyone else got their message exactly once; the race really happened both ways.
    assert all(len(by_customer.get(c, [])) == 1 for c in ids if c not in committed)
    suppressed = [c for c in opted if c not in by_customer]
    assert suppressed, "no opt-out was in time for its message: the race was not exercised"
    async with app.sessions() as s:
        prefs = {c: o for c, o in await s.execute(select(Customer.id, Customer.opt_outs))}
    assert all(prefs[c] == ["kind:shaken"] for c in opted)
