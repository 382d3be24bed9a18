"""The composition root owns the policy: every part of the product takes the registry, the
gate rules, the reminder rules, the dealer and the sending config from its App, which reads
each file once; a broken dealer file is an error for the opt-out pages too, never a silent
default."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from outreach import bootstrap, daily, settings
from outreach.candidates import rules
from outreach.errors import ConfigError
from outreach.gate import policy, purposes_file
from outreach.render import dealer
from outreach.send import capture, gatecheck, service
from outreach.send import config as send_config
from outreach.staff import sending
from outreach.web import app as web_app
from outreach.web import optout
from outreach.web.staff.state import StaffWeb

LOADERS = {
    "purposes": (purposes_file, "load"),
    "gate": (policy, "load"),
    "reminders": (rules, "load"),
    "dealer": (dealer, "load"),
    "sending": (send_config, "load"),
}


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each policy file is read, by any caller."""
    counts: Counter[str] = Counter()
    for name, (module, attr) in LOADERS.items():
        real = getattr(module, attr)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            counts[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(module, attr, counted)
    return counts


async def test_the_policy_is_loaded_once_per_app(
    app: bootstrap.App, app_settings: settings.Settings, loads: Counter[str], tmp_path: Path
) -> None:
    app.validate()
    assert loads == dict.fromkeys(LOADERS, 1)
    # Every consumer takes it from the App: the web app (opt-out pages, privacy page,
    # sign-up form, console), the console's gate and preview kit, the outbox worker (its
    # composer, gate and sending config), the campaign job, the daily run.
    web_app.create_app(app)
    staff = StaffWeb(app)
    assert staff.gate() is app.policy.gate
    staff.kit()
    staff.rules()
    worker = service.build_worker(app, transport=capture.transport(tmp_path))
    assert worker.config is app.policy.sending
    assert isinstance(worker.gate, gatecheck.BatchGate)
    assert worker.gate.ctx is app.policy.gate
    await worker.transport.close()
    await sending.run_due(app)
    await daily.run(app, dry_run=True)
    assert loads == dict.fromkeys(LOADERS, 1), loads
    # Another App reads the files again, once.
    other = bootstrap.build(app_settings)
    try:
        other.validate()
        other.validate()
        assert loads == dict.fromkeys(LOADERS, 2), loads
        assert other.policy is not app.policy
    finally:
        await other.close()


async def test_the_opt_out_pages_refuse_a_broken_dealer_file(
    app_settings: settings.Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "dealer.toml"
    text = (REPO / "config" / "dealer.demo.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace("[dealer]", "[dealer\n", 1), encoding="utf-8")
    app = bootstrap.build(app_settings.model_copy(update={"dealer_file": broken}))
    try:
        with pytest.raises(ConfigError) as e:
            optout.build_deps(app)
        assert str(e.value).startswith(f"{broken}:"), e.value
    finally:
        await app.close()


async def test_the_opt_out_pages_show_the_configured_dealer_file(app: bootstrap.App) -> None:
    """OUTREACH_DEALER_FILE names the sender on the pages as in the mails."""
    deps = optout.build_deps(app)
    demo = dealer.load(REPO / "config" / "dealer.demo.toml")
    assert deps.dealer.sender_name == demo.sender_name
    assert deps.dealer.sender_name.startswith("【デモ】")
