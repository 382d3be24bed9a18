"""config/feedback.toml: bounce classification, soft-bounce limit, complaint-rate thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from outreach import configfile


@dataclass(frozen=True)
class FeedbackConfig:
    hard_statuses: tuple[str, ...] = ("5.1.*", "5.2.1")
    soft_limit: int = 3
    soft_window_days: int = 30
    alert_rate: float = 0.001
    pause_rate: float = 0.003
    min_sent: int = 500
    judge_days: int = 3


_D = FeedbackConfig()


def _at_least_1(v: int) -> int:
    if v < 1:
        raise ValueError("must be at least 1")
    return v


class BouncesModel(configfile.Model):
    hard_statuses: list[str] = Field(default_factory=lambda: list(_D.hard_statuses))
    soft_limit: int = _D.soft_limit
    soft_window_days: int = _D.soft_window_days

    @field_validator("hard_statuses")
    @classmethod
    def _permanent(cls, v: list[str]) -> list[str]:
        for status in v:
            if not status.startswith("5."):
                raise ValueError(f"{status!r} is not a 5.x.x code")
        return v

    @field_validator("soft_limit", "soft_window_days")
    @classmethod
    def _positive(cls, v: int) -> int:
        return _at_least_1(v)


class ComplaintsModel(configfile.Model):
    alert_rate: float = _D.alert_rate
    pause_rate: float = _D.pause_rate
    min_sent: int = _D.min_sent
    judge_days: int = _D.judge_days

    @field_validator("alert_rate", "pause_rate", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
            raise ValueError("must be a fraction between 0 and 1 (0.001 = 0.1 %)")
        return v

    @field_validator("min_sent", "judge_days")
    @classmethod
    def _positive(cls, v: int) -> int:
        return _at_least_1(v)


class FeedbackFile(configfile.Model):
    bounces: BouncesModel = Field(default_factory=BouncesModel)
    complaints: ComplaintsModel = Field(default_factory=ComplaintsModel)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.complaints.pause_rate < self.complaints.alert_rate:
            raise configfile.Problem(["complaints", "pause_rate"], "must not be below alert_rate")
        return self


def load(path: Path) -> FeedbackConfig:
    """The file's settings; a missing file means the defaults, a bad value one ConfigError
    naming the file, the line and the field."""
    if not path.exists():
        return FeedbackConfig()
    f = configfile.validate(configfile.read(path), FeedbackFile)
    b, c = f.bounces, f.complaints
    return FeedbackConfig(
        hard_statuses=tuple(b.hard_statuses),
        soft_limit=b.soft_limit,
        soft_window_days=b.soft_window_days,
        alert_rate=float(c.alert_rate),
        pause_rate=float(c.pause_rate),
        min_sent=c.min_sent,
        judge_days=c.judge_days,
    )
