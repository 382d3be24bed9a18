"""The composition root: the one place real adapters are built and wired together.

Callers (CLI, web app, scheduler, tests) build an `App` and pass it down; nothing is
built at import time. The App owns the policy — the purpose registry and gate rules, the
reminder rules, the dealer (the sender mails and pages name) and the sending config — loaded
and validated once per App (`App.policy`); commands that need it call `App.validate()` at
start, so a broken file is one clear error before anything runs. Jobs and services take the
policy from the App; none reads those files itself. The App also builds the transport, the
composer and the outbox worker.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from outreach import settings as settings_mod
from outreach.clock import Clock, SystemClock
from outreach.db import engine as engine_mod

if TYPE_CHECKING:
    from outreach import pipeline
    from outreach.candidates.rules import Rules
    from outreach.gate.context import GateContext
    from outreach.gate.purposes import Registry
    from outreach.render.compose import TemplateComposer
    from outreach.render.dealer import Dealer
    from outreach.send.config import SendingConfig
    from outreach.send.protocol import Transport


@dataclass(frozen=True)
class Policy:
    """Everything the configuration files decide, validated together."""

    gate: GateContext  # config/purposes.toml (the registry) and config/gate.toml
    reminders: Rules  # config/reminders.toml
    dealer: Dealer  # OUTREACH_DEALER_FILE, else config/dealer.toml
    sending: SendingConfig  # config/sending.toml

    @property
    def registry(self) -> Registry:
        return self.gate.registry


def load_policy(settings: settings_mod.Settings) -> Policy:
    """Read and validate every policy file; the first problem is one ConfigError naming
    the file, the line and the field."""
    from outreach.candidates import rules
    from outreach.gate.context import load_context
    from outreach.render import dealer as dealer_mod
    from outreach.send import config as send_config

    c = settings.config_dir
    gate = load_context(c)
    reminders = rules.load(c / "reminders.toml")
    gate.registry.purpose(reminders.purpose)  # an unknown purpose is a configuration error
    return Policy(
        gate=gate,
        reminders=reminders,
        dealer=dealer_mod.load(dealer_mod.path(settings)),
        sending=send_config.load(c / "sending.toml"),
    )


@dataclass
class App:
    settings: settings_mod.Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]
    clock: Clock = field(default_factory=SystemClock)
    _policy: Policy | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def policy(self) -> Policy:
        """The policy, loaded on first use and then kept for the App's life."""
        if self._policy is None:
            with self._lock:
                if self._policy is None:
                    self._policy = load_policy(self.settings)
        return self._policy

    def validate(self) -> Policy:
        """Load the policy now (at a command's start): a broken file fails here."""
        return self.policy

    def transport(self, *, pool_size: int | None = None) -> Transport:
        """The configured transport (capture, file or SMTP)."""
        from outreach.send import transports

        return transports.from_settings(self.settings, pool_size=pool_size)

    def composer(self) -> TemplateComposer:
        """The mail composer over this App's registry and dealer."""
        from outreach.render import compose

        p = self.policy
        return compose.from_settings(self.settings, registry=p.gate.registry, dealer=p.dealer)

    def worker(
        self,
        *,
        batch: int | None = None,
        concurrency: int | None = None,
        lease: dt.timedelta | None = None,
        transport: Transport | None = None,
    ) -> pipeline.Worker:
        """An outbox worker wired to this App's transport, composer, gate and config."""
        from outreach.send import service

        return service.build_worker(
            self, batch=batch, concurrency=concurrency, lease=lease, transport=transport
        )

    async def close(self) -> None:
        await self.engine.dispose()


def build(settings: settings_mod.Settings | None = None, *, clock: Clock | None = None) -> App:
    s = settings or settings_mod.load()
    eng = engine_mod.make_engine(s.resolved_database_url, pre_ping=s.db_pre_ping)
    return App(
        settings=s, engine=eng, sessions=engine_mod.sessionmaker(eng), clock=clock or SystemClock()
    )
