"""config/sending.toml: retry rules, worker batch and lease, carrier domain limits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from outreach import configfile
from outreach.send import ratelimit, retry


@dataclass(frozen=True)
class SendingConfig:
    retry: retry.Policy = field(default_factory=retry.Policy)
    batch: int = 100
    lease: dt.timedelta = dt.timedelta(seconds=300)
    # How far ahead one claim allots the relay's budget: the longest a message waits in its
    # batch for the relay (a carrier group's budget is only taken for what it allows now).
    max_wait: float = 1.0
    groups: dict[str, ratelimit.Limit] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)  # domain → group

    def budgets(self, per_second: float | None, per_hour: float | None) -> ratelimit.Budgets:
        """The relay's limits (settings) with the carrier groups of this file."""
        return ratelimit.Budgets(
            relay=ratelimit.Limit(per_second, per_hour),
            groups=self.groups,
            domains=self.domains,
            ahead=self.max_wait,
        )


def _positive(value: Any, info: ValidationInfo, *, integer: bool) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{info.field_name} must be {kind}, got {value!r}")
    return value


def _positive_integer(value: Any, info: ValidationInfo) -> Any:
    return _positive(value, info, integer=True)


def _positive_number(value: Any, info: ValidationInfo) -> Any:
    return _positive(value, info, integer=False)


PositiveInt = Annotated[int, BeforeValidator(_positive_integer)]
PositiveNumber = Annotated[float, BeforeValidator(_positive_number)]


class RetryModel(configfile.Model):
    max_attempts: PositiveInt = 8
    base_seconds: PositiveNumber = 30
    cap_seconds: PositiveNumber = 7200


class WorkerModel(configfile.Model):
    batch: PositiveInt = 100
    lease_seconds: PositiveNumber = 300
    max_wait_seconds: PositiveNumber = 1.0


class CarrierModel(configfile.Model):
    """A carrier group: its recipient domains and the limits it accepts from us."""

    domains: list[str]
    per_second: PositiveNumber | None = None
    per_hour: PositiveNumber | None = None

    @field_validator("domains", mode="before")
    @classmethod
    def _domains(cls, v: Any) -> Any:
        if not isinstance(v, list) or not all(isinstance(d, str) and d for d in v):
            raise ValueError("domains must be a list of domain names")
        return v


class SendingFile(configfile.Model):
    retry: RetryModel = Field(default_factory=RetryModel)
    worker: WorkerModel = Field(default_factory=WorkerModel)
    carriers: dict[str, CarrierModel] = Field(default_factory=dict)


def load(path: Path) -> SendingConfig:
    """Read the file; a missing file means the defaults, a bad value is one ConfigError
    naming the file, the line and the field."""
    if not path.exists():
        return SendingConfig()
    return from_model(configfile.validate(configfile.read(path), SendingFile))


def from_model(f: SendingFile) -> SendingConfig:
    groups: dict[str, ratelimit.Limit] = {}
    domains: dict[str, str] = {}
    for name, g in f.carriers.items():
        groups[name] = ratelimit.Limit(g.per_second, g.per_hour)
        for d in g.domains:
            domains[d.lower()] = name
    return SendingConfig(
        retry=retry.Policy(
            max_attempts=f.retry.max_attempts,
            base=dt.timedelta(seconds=f.retry.base_seconds),
            cap=dt.timedelta(seconds=f.retry.cap_seconds),
        ),
        batch=f.worker.batch,
        lease=dt.timedelta(seconds=f.worker.lease_seconds),
        max_wait=f.worker.max_wait_seconds,
        groups=groups,
        domains=domains,
    )
