"""Assembling an outbox worker from the App: the calls the CLI, the scheduler and the demo use."""

from __future__ import annotations

import datetime as dt
import os
import random
import socket

from outreach import bootstrap, pipeline
from outreach.render import compose, dkim, golive
from outreach.render import dealer as dealer_mod
from outreach.send import config as send_config
from outreach.send import gatecheck
from outreach.send.protocol import Transport
from outreach.send.smtp import SmtpTransport


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def build_worker(
    app: bootstrap.App,
    *,
    batch: int | None = None,
    concurrency: int | None = None,
    lease: dt.timedelta | None = None,
    transport: Transport | None = None,
) -> pipeline.Worker:
    """A worker wired to the App's transport, composer, gate and sending config."""
    s = app.settings
    policy = app.validate()  # a broken policy file stops the worker before it claims
    golive.require_live(
        dealer_mod.path(s), s.config_dir / "purposes.toml", what="outbox worker not started",
        policy_file=s.config_dir / "policy.toml",
    )  # fmt: skip
    cfg = policy.sending
    if lease is not None:
        cfg = send_config.SendingConfig(**{**cfg.__dict__, "lease": lease})
    return pipeline.Worker(
        sessions=app.sessions,
        transport=transport or app.transport(pool_size=concurrency),
        composer=app.composer(),
        # DKIM, when configured: the worker signs what the composer built (off the event loop).
        signer=dkim.from_settings(s),
        gate=gatecheck.BatchGate(policy.gate),
        clock=app.clock,
        config=cfg,
        # The relay's and the carriers' limits are the relay's business: a capture or file
        # transport writes locally and is not held to them.
        budgets=(
            cfg.budgets(s.smtp_rate_per_second, s.smtp_rate_per_hour)
            if (
                s.transport == "smtp" if transport is None else isinstance(transport, SmtpTransport)
            )
            else None
        ),
        worker_id=worker_id(),
        mail_domain=compose.message_domain(s.mail_domain),
        batch=batch or cfg.batch,
        rng=random.Random(),
    )


async def deliver_ready(
    app: bootstrap.App, *, transport: Transport | None = None
) -> dict[str, int]:
    """Send every message that is ready now, then return counts by result (`outreach demo`)."""
    w = build_worker(app, transport=transport)
    try:
        report = await pipeline.drain(w, once=True)
    finally:
        await w.transport.close()
    return pipeline.summary(report)
