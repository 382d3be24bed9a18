"""The opt-out policy in config/optout.toml: one-click scope, web limits, labels."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from outreach.errors import ConfigError

MESSAGE = "message"  # the mail's own scope (kind:<kind> or campaign:<id>)


class OneClick(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    advertising: str = Field("category:marketing", min_length=1, max_length=64)
    service: str = Field(MESSAGE, min_length=1, max_length=64)


class Web(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_per_second: float = Field(2.0, gt=0)
    burst: int = Field(20, ge=1)
    max_body_bytes: int = Field(4096, ge=64, le=1_000_000)
    forwarded_hops: int = Field(0, ge=0, le=5)


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scopes: tuple[str, ...] = ("category:marketing",)


class OptoutPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    one_click: OneClick = OneClick()
    web: Web = Web()
    labels: dict[str, str] = Field(default_factory=dict)
    preferences: Preferences = Preferences()

    def label(self, scope: str, campaign_name: str | None = None) -> str:
        if scope.startswith("campaign:"):
            return (
                f"キャンペーン「{campaign_name}」のご案内"
                if campaign_name
                else "このキャンペーンのご案内"
            )
        return self.labels.get(scope, scope)


def load(path: Path) -> OptoutPolicy:
    """Read the policy; a missing file gives the defaults, a bad one a ConfigError."""
    if not path.exists():
        return OptoutPolicy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from e
    try:
        return OptoutPolicy.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from e
