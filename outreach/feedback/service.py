"""The entry points the CLI and the scheduler share: ingest from the configured mailbox."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from outreach import bootstrap
from outreach.errors import ConfigError
from outreach.feedback import config, ingest, source
from outreach.optout import policy as optout_policy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A scheduled ingest that read nothing, and why."""

    skipped: str


def items(
    app: bootstrap.App, *, maildir: Path | None = None, imap: bool = False
) -> AsyncIterator[source.Item]:
    """The report mails: `maildir` if given, else IMAP if asked, else the configured one."""
    s = app.settings
    if maildir is not None:
        return source.maildir(maildir)
    if imap or (s.feedback_maildir is None and s.feedback_imap_url is not None):
        if s.feedback_imap_url is None:
            raise ConfigError("--imap needs OUTREACH_FEEDBACK_IMAP_URL")
        return source.imap(s.feedback_imap_url.get_secret_value())
    if s.feedback_maildir is not None:
        return source.maildir(s.feedback_maildir)
    raise ConfigError(
        "no report mailbox: pass --maildir, or set OUTREACH_FEEDBACK_MAILDIR or "
        "OUTREACH_FEEDBACK_IMAP_URL"
    )


async def run(
    app: bootstrap.App, *, maildir: Path | None = None, imap: bool = False
) -> ingest.Result:
    cfg = config.load(app.settings.config_dir / "feedback.toml")
    scope = optout_policy.load(app.settings.config_dir / "optout.toml").one_click.advertising
    return await ingest.ingest(app, items(app, maildir=maildir, imap=imap), cfg, optout_scope=scope)


async def scheduled() -> ingest.Result | Skipped:
    """Entry point of jobs/feedback.toml: read the configured mailbox, if there is one."""
    app = bootstrap.build()
    try:
        s = app.settings
        if s.feedback_maildir is None and s.feedback_imap_url is None:
            log.info("feedback ingest: no report mailbox configured, nothing to read")
            return Skipped("no report mailbox configured")
        result = await run(app)
        log.info("feedback ingest: %s", dict(sorted(result.counts.items())))
        return result
    finally:
        await app.close()
