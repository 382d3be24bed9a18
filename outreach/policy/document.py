"""The privacy policy as a document (APPI Art. 32, R10), built from config/purposes.toml (the
registry the gate enforces), config/dealer.toml and config/policy.toml. Pure: configuration
in, a document value out; `render` turns it into the HTML page `/privacy` serves and
`outreach policy render` writes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from outreach.errors import ConfigError
from outreach.gate import purposes
from outreach.render import dealer as dealer_mod
from outreach.render import golive

_TEXTS = ("intro", "collection", "third_party", "sensitive", "fees", "complaints", "revision")
_LISTS = ("purpose_change", "third_party_cases", "requests", "security", "compliance")


@dataclass(frozen=True, slots=True)
class Document:
    registry: purposes.Registry
    dealer: dealer_mod.Dealer
    texts: dict[str, Any]

    @property
    def version(self) -> int:
        return self.registry.version

    @property
    def published_on(self) -> Any:
        return self.registry.published_on(self.registry.version)

    def purpose_lines(self) -> list[str]:
        """`(n) text` per purpose, in policy order."""
        return [f"{p.number} {p.text}" for p in self.registry.purposes.values()]

    def insurer_names(self) -> list[str]:
        return list(self.registry.insurers.values())

    def as_dict(self) -> dict[str, Any]:
        reg, ju = self.registry, self.registry.joint_use
        return {
            "name": reg.name,
            "version": reg.version,
            "published_on": str(self.published_on) if self.published_on else None,
            "company": self.dealer.sender_name,
            "address": f"{self.dealer.postal_code} {self.dealer.postal_address}",
            "representative": self.texts["representative"],
            "purposes": self.purpose_lines(),
            "insurers": self.insurer_names(),
            "joint_use": {
                "items": [f"{m} {t}" for m, t in ju.items.items()],
                "users": [
                    {"label": g.label, "members": list(g.members), "note": g.note}
                    for g in ju.groups
                ],
                "purposes": [f"{p.mark} {p.text}" for p in ju.purposes],
                "responsible": {
                    "name": ju.responsible_name,
                    "address": ju.responsible_address,
                    "representative": ju.responsible_representative,
                },
            },
            "contact_phone": self.dealer.contact_phone,
            **{k: self.texts[k] for k in (*_TEXTS, *_LISTS)},
        }


def load(
    config_dir: Path,
    dealer_file: Path | None = None,
    *,
    registry: purposes.Registry | None = None,
    dealer: dealer_mod.Dealer | None = None,
) -> Document:
    """The document from config_dir; the sender from `dealer_file` (the dealer file in use,
    `outreach.render.dealer.path(settings)`), config_dir/dealer.toml by default. `registry`
    and `dealer` from the App's policy, when the caller has one."""
    path = config_dir / "policy.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    for k in ("representative", "protection_manager", *_TEXTS):
        if not isinstance(raw.get(k), str) or not raw[k].strip():
            raise ConfigError(f"{path}: {k}: must be a non-empty string")
    for k in _LISTS:
        v = raw.get(k)
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{path}: {k}: must be a non-empty list of strings")
    return Document(
        registry=registry or purposes.load(config_dir / "purposes.toml"),
        dealer=dealer or dealer_mod.load(dealer_file or config_dir / "dealer.toml"),
        texts=raw,
    )


def require_publishable(config_dir: Path, dealer_file: Path) -> None:
    """ConfigError while a value the page prints is still a placeholder (go-live guard); the
    demo dealer file publishes the demo page."""
    golive.require_live(
        dealer_file, config_dir / "purposes.toml", what="プライバシーポリシーを公表できません",
        policy_file=config_dir / "policy.toml",
    )  # fmt: skip


STYLESHEET = Path("privacy") / "policy.css"


def render(doc: Document, templates_dir: Path, *, css_href: str | None = None) -> str:
    """The page; its stylesheet linked at `css_href` (the web page: the CSP allows no inline
    style) or, without one, inlined (a standalone file to publish elsewhere)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir / "web"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    css = "" if css_href else (templates_dir / "web" / STYLESHEET).read_text(encoding="utf-8")
    return env.get_template("privacy/policy.html").render(
        doc=doc, d=doc.as_dict(), css_href=css_href, css=css
    )
