"""The sign-up form as shown: its version, the purposes it offers and the exact consent text.

Built once per process from config/signup.toml, config/purposes.toml, config/dealer.toml,
config/optout.toml (the purposes' labels) and templates/web/signup/consent.txt. The text is
what the person reads on the page and what the ledger records with its SHA-256 (R17).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from pydantic import Field, field_validator

from outreach import configfile
from outreach.errors import ConfigError
from outreach.gate import purposes as purposes_mod
from outreach.optout import policy as optout_policy
from outreach.render import dealer as dealer_mod
from outreach.settings import Settings

if TYPE_CHECKING:
    from outreach import bootstrap

CHANNELS = ("email",)


@dataclass(frozen=True, slots=True)
class Offer:
    purpose: str  # p3
    number: str  # (3)
    category: str  # marketing
    label: str  # キャンペーン・イベント・新型車などのご案内


@dataclass(frozen=True, slots=True)
class Limits:
    per_address_per_day: int = 3
    per_client_per_hour: int = 20


@dataclass(frozen=True)
class Form:
    version: str
    offers: tuple[Offer, ...]
    text: str
    token_lifetime: dt.timedelta
    limits: Limits
    dealer: dealer_mod.Dealer
    policy_version: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def offer(self, purpose: str) -> Offer | None:
        return next((o for o in self.offers if o.purpose == purpose), None)


class FormModel(configfile.Model):
    version: str
    purposes: list[str]
    token_hours: int = 48

    @field_validator("purposes")
    @classmethod
    def _some(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("offer at least one purpose")
        return v

    @field_validator("token_hours")
    @classmethod
    def _hours(cls, v: int) -> int:
        if not 1 <= v <= 24 * 14:
            raise ValueError("must be between 1 and 336")
        return v


class LimitsModel(configfile.Model):
    per_address_per_day: int = 3
    per_client_per_hour: int = 20


class SignupFile(configfile.Model):
    """config/signup.toml."""

    form: FormModel
    limits: LimitsModel = Field(default_factory=LimitsModel)


def from_settings(settings: Settings) -> Form:
    """The form with the configured sender (`OUTREACH_DEALER_FILE`, default dealer.toml)."""
    dealer_file = settings.dealer_file or settings.config_dir / "dealer.toml"
    return load(settings.config_dir, settings.templates_dir, dealer_file=dealer_file)


def for_app(app: bootstrap.App) -> Form:
    """The form over the App's registry and dealer (its policy, loaded once)."""
    s, p = app.settings, app.policy
    return load(s.config_dir, s.templates_dir, registry=p.registry, dealer=p.dealer)


def load(
    config_dir: Path,
    templates_dir: Path,
    *,
    dealer_file: Path | None = None,
    registry: purposes_mod.Registry | None = None,
    dealer: dealer_mod.Dealer | None = None,
) -> Form:
    doc = configfile.read(config_dir / "signup.toml")
    sf = configfile.validate(doc, SignupFile)
    registry = registry or purposes_mod.load(config_dir / "purposes.toml")
    labels = optout_policy.load(config_dir / "optout.toml").labels
    offers = []
    for pid in sf.form.purposes:
        p = registry.purposes.get(pid)
        if p is None or "email" not in p.channels:
            raise doc.error(["form", "purposes"], f"{pid!r} is no purpose that allows email")
        label = labels.get(f"category:{p.category}", p.text)
        label = label.replace("（広告メール）", "")
        offers.append(Offer(pid, p.number, p.category, label))
    version = sf.form.version
    hours = sf.form.token_hours
    limits = Limits(
        per_address_per_day=sf.limits.per_address_per_day,
        per_client_per_hour=sf.limits.per_client_per_hour,
    )
    dealer = dealer or dealer_mod.load(dealer_file or config_dir / "dealer.toml")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir / "web" / "signup"),
        autoescape=False,  # noqa: S701  (plain text; the page template escapes it)
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    try:
        text = env.get_template("consent.txt").render(
            version=version, dealer=dealer, purposes=offers
        )
    except jinja2.TemplateError as e:
        raise ConfigError(f"templates/web/signup/consent.txt: {e}") from None
    return Form(
        version=version,
        offers=tuple(offers),
        text=text.strip() + "\n",
        token_lifetime=dt.timedelta(hours=hours),
        limits=limits,
        dealer=dealer,
        policy_version=registry.version,
    )
