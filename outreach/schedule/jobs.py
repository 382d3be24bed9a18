"""The job specs: jobs/*.toml, validated (what runs, when, misfire grace, coalescing).

A job's callable takes the App as its first argument (the scheduler's, built once by the
composition root: `outreach scheduler` or `outreach serve`), then the spec's kwargs; it
never builds an App itself."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outreach import configfile
from outreach.errors import ConfigError

DEFAULT_TZ = "Asia/Tokyo"


@dataclass(frozen=True)
class JobSpec:
    id: str
    what: str  # "outreach.module:function"
    cron: str  # minute hour day month day_of_week
    second: str = "0"
    timezone: str = DEFAULT_TZ
    misfire_grace_time: int = 3600
    coalesce: bool = True
    max_instances: int = 1
    kwargs: tuple[tuple[str, Any], ...] = ()  # keyword arguments passed to the callable
    source: str = ""


def load_jobs(jobs_dir: Path) -> list[JobSpec]:
    """Every jobs/*.toml, validated: a mistake is a ConfigError naming the file and field."""
    if not jobs_dir.is_dir():
        raise ConfigError(f"{jobs_dir}: jobs folder not found")
    specs = [_load_job(p) for p in sorted(jobs_dir.glob("*.toml"))]
    ids = [s.id for s in specs]
    for s in specs:
        if ids.count(s.id) > 1:
            raise ConfigError(f"{s.source}: id: {s.id!r} is declared by more than one job file")
    return specs


def _load_job(path: Path) -> JobSpec:
    doc = configfile.read(path)  # the one reader and line finder (file:line: field: problem)
    data = doc.data

    def fail(key: str, message: str) -> ConfigError:
        return doc.error((key,), message)

    def get(key: str, kind: type, default: Any = None) -> Any:
        value = data.get(key, default)
        if value is None:
            raise fail(key, "is required")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise fail(key, f"must be a {kind.__name__}, not {value!r}")
        return value

    spec = JobSpec(
        id=get("id", str, path.stem),
        what=get("what", str),
        cron=get("cron", str),
        second=str(get("second", str, "0")),
        timezone=get("timezone", str, DEFAULT_TZ),
        misfire_grace_time=get("misfire_grace_time", int, 3600),
        coalesce=get("coalesce", bool, True),
        max_instances=get("max_instances", int, 1),
        kwargs=tuple(sorted(get("kwargs", dict, {}).items())),
        source=str(path),
    )
    unknown = set(data) - {
        "id",
        "what",
        "cron",
        "second",
        "timezone",
        "misfire_grace_time",
        "coalesce",
        "max_instances",
        "kwargs",
        "description",
    }
    if unknown:
        raise fail(sorted(unknown)[0], "unknown key")
    try:
        fn = resolve(spec.what)
    except ConfigError as e:
        raise fail("what", str(e)) from None
    try:  # a job is called with the scheduler's App first, then its kwargs
        inspect.signature(fn).bind(None, **dict(spec.kwargs))
    except TypeError as e:
        raise fail("what", f"{spec.what!r} cannot be called with the App and kwargs: {e}") from None
    try:
        _trigger(spec)
    except (ValueError, KeyError) as e:
        raise fail("cron", f"invalid cron line {spec.cron!r}: {e}") from None
    if spec.misfire_grace_time < 1:
        raise fail("misfire_grace_time", "must be at least 1 second")
    return spec


def resolve(what: str) -> Callable[..., Any]:
    """The callable named "outreach.module:function"; only callables inside the package."""
    module_name, _, attr = what.partition(":")
    if not attr or not (module_name == "outreach" or module_name.startswith("outreach.")):
        raise ConfigError(
            f"{what!r} must name a callable in outreach as 'outreach.module:function'"
        )
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{what!r} cannot be found: {e}") from None
    if not callable(fn):
        raise ConfigError(f"{what!r} is not callable")
    return fn  # type: ignore[no-any-return]


def _trigger(spec: JobSpec) -> Any:
    from outreach.schedule.adapter import trigger  # the adapter is the one APScheduler user

    return trigger(spec)
