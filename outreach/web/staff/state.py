"""What the staff console and API share per web app: the composition root's `App`, the
validation rules, the gate context, the sample kit, and the request helpers (transaction,
authentication, CSRF). Built by `mount()`, never at import time.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from outreach import bootstrap
from outreach.gate.context import GateContext
from outreach.staff import auth, csrf, preview, users
from outreach.staff import rules as rules_mod
from outreach.staff.errors import NotAuthenticated

COOKIE = "outreach_staff"


@dataclass
class StaffWeb:
    app: bootstrap.App
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def now(self) -> Any:
        return self.app.clock.now()

    def rules(self) -> rules_mod.RegistryRules:
        if "rules" not in self._cache:
            self._cache["rules"] = rules_mod.RegistryRules(self.app.policy.registry)
        r: rules_mod.RegistryRules = self._cache["rules"]
        return r

    def gate(self) -> GateContext:
        return self.app.policy.gate

    def kit(self) -> preview.Kit:
        if "kit" not in self._cache:
            s = self.app.settings
            p = self.app.policy
            self._cache["kit"] = preview.kit(
                s.templates_dir, s.config_dir, s.base_url, registry=p.registry, dealer=p.dealer
            )
        k: preview.Kit = self._cache["kit"]
        return k

    async def staff_names(self, session: AsyncSession) -> dict[str, str]:
        """username → display name, for showing people rather than account names."""
        return await users.display_names(session)

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncSession]:
        """One transaction per request: committed on success, rolled back on any error."""
        async with self.app.sessions() as s, s.begin():
            yield s

    @functools.cached_property
    def passwords(self) -> auth.PasswordChecks:
        s = self.app.settings
        return auth.PasswordChecks(threads=s.login_hash_threads, waiting=s.login_hash_waiting)

    async def login(self, username: str, password: str, remote: str | None) -> auth.Login:
        """A login attempt (console or API): counted, checked off the event loop."""
        return await auth.login(
            self.app.sessions, self.passwords, username, password, now=self.now, remote=remote
        )

    @functools.cached_property
    def secure_cookies(self) -> bool:
        return self.app.settings.base_url.startswith("https://")

    def allowed_origins(self, request: Request) -> frozenset[str]:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        return frozenset({own, csrf.origin_of(self.app.settings.base_url)})

    async def principal(
        self,
        session: AsyncSession,
        request: Request,
        *,
        form_token: str | None = None,
    ) -> auth.Principal:
        """The authenticated staff member, or NotAuthenticated. A state-changing request
        authenticated by the cookie must pass the CSRF checks; a bearer token need not (no
        browser sends it by itself)."""
        bearer = bearer_token(request)
        token = bearer or request.cookies.get(COOKIE)
        p = await auth.authenticate(session, token, now=self.now)
        if p is None:
            raise NotAuthenticated("ログインしてください")
        if bearer is None and request.method not in csrf.SAFE_METHODS:
            csrf.check(
                expected=p.csrf_token,
                submitted=request.headers.get(csrf.HEADER) or form_token,
                origin=request.headers.get("origin"),
                referer=request.headers.get("referer"),
                allowed=self.allowed_origins(request),
            )
        return p


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def remote(request: Request) -> str | None:
    return request.client.host if request.client else None
