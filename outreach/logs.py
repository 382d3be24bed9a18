"""Structured logs: one JSON object (or one logfmt line) per record on stderr.

Every record carries `ts` (UTC, ISO 8601), `level`, `logger` and `event` — a short, stable
name such as `outbox.build_failed` — plus the identifiers given with `extra=ids(...)`:
run id, campaign id, outbox id, worker id, counts and durations. Never a name, an address,
a phone number or a token: the call sites pass identifiers only, and as a second line of
defence the formatter masks anything in the free text that looks like an email address, a
Japanese phone number or an opt-out token path (`/u/…`, `/preferences/…`).

`setup()` is called once by the CLI entry point and by the uvicorn factory; nothing happens
at import.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from typing import Any, Literal, TextIO

Format = Literal["json", "logfmt"]

# Context keys a record may carry (passed as `extra=ids(...)`); anything else is not printed.
FIELDS = (
    "event",
    "run_id",
    "campaign_id",
    "outbox_id",
    "customer_id",
    "worker",
    "attempt",
    "status",
    "count",
    "duration_ms",
    "kind",
    "job",
    "error",
)

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# Not inside an ASCII word (hex addresses like 0x7f…), but next to Japanese text, yes.
_PHONE = re.compile(r"(?<![0-9A-Za-z-])0\d{1,4}-?\d{1,4}-?\d{3,4}(?![0-9A-Za-z-])")
_TOKEN_PATH = re.compile(r"/(u|preferences)/[A-Za-z0-9_\-.=~]{16,}")


def mask(text: str) -> str:
    """The free text with email addresses, phone numbers and token paths masked."""
    text = _EMAIL.sub("<email>", text)
    text = _PHONE.sub("<phone>", text)
    return _TOKEN_PATH.sub(r"/\1/<token>", text)


def ids(event: str, **fields: Any) -> dict[str, Any]:
    """`extra=` for a log call: the event name and identifiers (never personal data)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log field: {sorted(unknown)}")
    return {"event": event, **fields}


def _event_name(record: logging.LogRecord) -> str:
    return str(getattr(record, "event", None) or record.name)


def _payload(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": _event_name(record),
    }
    for key in FIELDS[1:]:
        value = getattr(record, key, None)
        if value is not None:
            out[key] = value if isinstance(value, int | float | bool) else mask(str(value))
    message = mask(record.getMessage())
    if message and message != out["event"]:
        out["msg"] = message
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        out["exc_type"] = type(exc).__name__
        out["exc"] = mask(logging.Formatter().formatException(record.exc_info))
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_payload(record), ensure_ascii=False, default=str)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _payload(record).items():
            s = str(value)
            if not s or any(c in s for c in ' "=\n'):
                s = json.dumps(s, ensure_ascii=False)
            parts.append(f"{key}={s}")
        return " ".join(parts)


def setup(
    level: str = "INFO", fmt: Format = "json", *, stream: TextIO | None = None
) -> logging.Handler:
    """Route every logger (ours, uvicorn's, APScheduler's, SQLAlchemy's) through one handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter() if fmt == "logfmt" else JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_outreach", False):
            root.removeHandler(old)
    handler._outreach = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(_level(level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # paths carry opt-out tokens
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))  # step chatter
    return handler


def setup_from_env() -> logging.Handler:
    """`setup` from OUTREACH_LOG_LEVEL and OUTREACH_LOG_FORMAT (json or logfmt)."""
    fmt: Format = "logfmt" if os.environ.get("OUTREACH_LOG_FORMAT") == "logfmt" else "json"
    return setup(os.environ.get("OUTREACH_LOG_LEVEL", "INFO"), fmt)


def _level(name: str) -> int:
    value = logging.getLevelName(name.upper())
    return value if isinstance(value, int) else logging.INFO
