"""Choosing the transport from settings: `capture` (default), `file` or `smtp`."""

from __future__ import annotations

from pathlib import Path

from outreach.errors import ConfigError
from outreach.send import capture, file, smtp
from outreach.send.protocol import Transport
from outreach.settings import Settings


def from_settings(
    settings: Settings, *, pool_size: int | None = None, folder: Path | None = None
) -> Transport:
    if settings.transport == "capture":
        return capture.transport(settings.data_dir)
    if settings.transport == "file":
        return file.FileTransport(folder or settings.data_dir / "outbox-files")
    if settings.smtp_url is None:
        raise ConfigError("transport is smtp but OUTREACH_SMTP_URL is not set")
    relay = smtp.parse_url(settings.smtp_url.get_secret_value())
    return smtp.SmtpTransport(
        relay, pool_size or settings.smtp_pool_size, local_hostname=settings.mail_domain
    )
