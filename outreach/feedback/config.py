"""config/feedback.toml: bounce classification, soft-bounce limit, complaint-rate thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outreach.gate import tomlfile


@dataclass(frozen=True)
class FeedbackConfig:
    hard_statuses: tuple[str, ...] = ("5.1.*", "5.2.1")
    soft_limit: int = 3
    soft_window_days: int = 30
    alert_rate: float = 0.001
    pause_rate: float = 0.003
    min_sent: int = 500
    judge_days: int = 3


def load(path: Path) -> FeedbackConfig:
    """The file's settings; a missing file means the defaults, a bad value one ConfigError."""
    if not path.exists():
        return FeedbackConfig()
    doc = tomlfile.read(path)
    b = doc.table(doc.data, ["bounces"], required=False)
    c = doc.table(doc.data, ["complaints"], required=False)
    d = FeedbackConfig()
    cfg = FeedbackConfig(
        hard_statuses=tuple(
            doc.strings(b, ["bounces", "hard_statuses"], default=list(d.hard_statuses))
        ),
        soft_limit=doc.get(b, ["bounces", "soft_limit"], int, d.soft_limit),
        soft_window_days=doc.get(b, ["bounces", "soft_window_days"], int, d.soft_window_days),
        alert_rate=_rate(doc, c, "alert_rate", d.alert_rate),
        pause_rate=_rate(doc, c, "pause_rate", d.pause_rate),
        min_sent=doc.get(c, ["complaints", "min_sent"], int, d.min_sent),
        judge_days=doc.get(c, ["complaints", "judge_days"], int, d.judge_days),
    )
    for status in cfg.hard_statuses:
        if not status.startswith("5."):
            raise doc.error(["bounces", "hard_statuses"], f"{status!r} is not a 5.x.x code")
    if cfg.soft_limit < 1:
        raise doc.error(["bounces", "soft_limit"], "must be at least 1")
    if cfg.soft_window_days < 1:
        raise doc.error(["bounces", "soft_window_days"], "must be at least 1")
    if cfg.pause_rate < cfg.alert_rate:
        raise doc.error(["complaints", "pause_rate"], "must not be below alert_rate")
    if cfg.min_sent < 1 or cfg.judge_days < 1:
        raise doc.error(["complaints"], "min_sent and judge_days must be at least 1")
    return cfg


def _rate(doc: tomlfile.Document, table: dict[str, object], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise doc.error(["complaints", key], "must be a fraction between 0 and 1 (0.001 = 0.1 %)")
    return float(value)
