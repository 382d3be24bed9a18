"""Typed settings, read once by the composition root.

Sources, highest first: `OUTREACH_*` environment variables, then `config/outreach.toml`
(non-secret defaults kept in the repository), then the defaults below. Secrets come
only from the environment or from the generated key file in the data folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_config_dir() -> Path:
    here = Path.cwd() / "config"
    return here if (here / "purposes.toml").exists() else REPO_ROOT / "config"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTREACH_", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Folder for the SQLite file, key and mail capture."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default is a SQLite file (WAL) in data_dir. "
        "postgresql://… switches to PostgreSQL with no other change.",
    )
    config_dir: Path = Field(default_factory=_default_config_dir, description="purposes.toml etc.")
    templates_dir: Path = Field(
        REPO_ROOT / "templates", description="Jinja2 mail and web templates."
    )
    jobs_dir: Path = Field(REPO_ROOT / "jobs", description="Scheduled job declarations.")
    dealer_file: Path | None = Field(
        None,
        description="The sender as mails name it (R19); default config_dir/dealer.toml. "
        "`outreach demo` uses config_dir/dealer.demo.toml, a clearly marked demo sender.",
    )
    db_pre_ping: bool = Field(
        False, description="Ping each pooled PostgreSQL connection before use (a round trip)."
    )
    base_url: str = Field("http://127.0.0.1:8000", description="Public address used in mail links.")
    secret_key: SecretStr | None = Field(
        None,
        description="HMAC key for tokens and sessions; generated into data_dir on init if unset.",
    )
    transport: Literal["capture", "file", "smtp"] = Field(
        "capture",
        description="capture: .eml files under data_dir/outbox-capture; smtp: OUTREACH_SMTP_URL.",
    )
    smtp_url: SecretStr | None = Field(
        None, description="smtp[s]://user:pass@host:port of the relay."
    )
    smtp_pool_size: int = Field(8, ge=1, le=128, description="Reused SMTP connections.")
    smtp_rate_per_second: float = Field(
        50.0, gt=0, description="Relay's limit, messages per second."
    )
    smtp_rate_per_hour: int = Field(100_000, gt=0, description="Relay's limit, messages per hour.")
    dkim_selector: str | None = Field(
        None, description="DKIM selector; signing is on when a key is set."
    )
    dkim_private_key: SecretStr | None = Field(
        None, description="PEM private key for DKIM (env only)."
    )
    dkim_ed25519_selector: str | None = Field(
        None, description="Selector of a second, Ed25519 DKIM signature (RFC 8463)."
    )
    dkim_ed25519_private_key: SecretStr | None = Field(
        None, description="PEM Ed25519 private key for the second signature (env only)."
    )
    mail_domain: str = Field(
        "mail.example-lexus-dealer.jp", description="Domain of Message-ID and List-Id."
    )
    reminder_from: str = Field(
        "reminder@mail.example-lexus-dealer.jp", description="From of service notices."
    )
    campaign_from: str = Field(
        "news@mail.example-lexus-dealer.jp", description="From of campaign mail."
    )
    unsubscribe_mailto: str | None = Field(None, description="mailto opt-out address, if any.")
    old_secret_keys: SecretStr | None = Field(
        None,
        description="Retired token keys still accepted for verification after a rotation: "
        "comma-separated `kid=key` pairs (env only); tokens are only issued with secret_key.",
    )
    login_hash_threads: int = Field(
        2, ge=1, le=16, description="Password checks (argon2) run at once, in their own threads."
    )
    login_hash_waiting: int = Field(
        8, ge=0, le=1000, description="Logins that may wait for a check; more are told 'busy'."
    )
    feedback_maildir: Path | None = Field(
        None, description="Maildir the bounce, complaint and DMARC report address delivers to."
    )
    feedback_imap_url: SecretStr | None = Field(
        None, description="imaps://user:pass@host/MAILBOX of the report mailbox (env only)."
    )
    log_level: str = Field("INFO", description="Python logging level name.")
    log_format: Literal["json", "logfmt"] = Field(
        "json", description="Log records on stderr: JSON lines or logfmt (outreach.logs)."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token for /metrics (env only); without one, /metrics answers "
        "only direct loopback requests (no proxy headers).",
    )
    worker_silent_minutes: int = Field(
        10, ge=1, description="Health: email due this long with no worker attempt is an alarm."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_dir = Path(os.environ.get("OUTREACH_CONFIG_DIR") or _default_config_dir())
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_dir / "outreach.toml")
        return (init_settings, env_settings, toml)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'outreach.sqlite3').resolve()}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"

    def secret(self) -> bytes:
        """The token/session key: the environment's, else the generated file's."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.key_file.exists():
            return self.key_file.read_text().strip().encode()
        from outreach.errors import ConfigError

        raise ConfigError(
            "no secret key: set OUTREACH_SECRET_KEY or run `outreach init` to generate one"
        )

    def ensure_secret(self) -> None:
        """Generate the key file on first init when no key is configured."""
        if self.secret_key is not None or self.key_file.exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))


def load() -> Settings:
    return Settings()
