"""Where reports are read from: a Maildir, or an IMAP mailbox (imaplib, in a thread).

Both yield `(source, raw bytes)`; neither deletes anything. Re-reading is harmless because
ingest keys every report by its content. IMAP reads the UNSEEN messages and marks each
`\\Seen` only after the caller has recorded it (`mark_seen`), so a crash re-reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import mailbox
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from outreach.errors import ConfigError, NotFound

MAX_MESSAGE_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class Item:
    source: str  # "maildir:<key>" or "imap:<uid>"
    raw: bytes
    done: Callable[[], None] = lambda: None  # call once the item is recorded


async def maildir(path: Path) -> AsyncIterator[Item]:
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise NotFound(f"not a Maildir (no cur/ or new/): {path}")
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):
        raw = await asyncio.to_thread(box.get_bytes, key)
        yield Item(f"maildir:{key}", raw[:MAX_MESSAGE_BYTES])


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    tls: bool


def parse_imap_url(url: str) -> ImapTarget:
    """`imaps://user:pass@host[:993]/MAILBOX` (TLS) or `imap://…` (STARTTLS required)."""
    u = urlsplit(url)
    if u.scheme not in ("imap", "imaps") or not u.hostname or u.username is None:
        raise ConfigError("OUTREACH_FEEDBACK_IMAP_URL must be imaps://user:password@host/MAILBOX")
    return ImapTarget(
        host=u.hostname,
        port=u.port or (993 if u.scheme == "imaps" else 143),
        user=unquote(u.username),
        password=unquote(u.password or ""),
        mailbox=unquote(u.path.lstrip("/")) or "INBOX",
        tls=u.scheme == "imaps",
    )


async def imap(url: str) -> AsyncIterator[Item]:
    target = parse_imap_url(url)
    conn = await asyncio.to_thread(_connect, target)
    try:
        typ, data = await asyncio.to_thread(conn.uid, "SEARCH", "UNSEEN")
        if typ != "OK":
            raise ConfigError(f"IMAP search refused: {typ}")
        uids = (data[0] or b"").split()
        for uid in (u.decode() for u in uids):
            typ, parts = await asyncio.to_thread(conn.uid, "FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if typ != "OK" or not isinstance(raw, bytes):
                continue
            yield Item(f"imap:{uid}", raw[:MAX_MESSAGE_BYTES], _seen(conn, uid))
    finally:
        await asyncio.to_thread(_logout, conn)


def _connect(t: ImapTarget) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    try:
        conn: imaplib.IMAP4
        if t.tls:
            conn = imaplib.IMAP4_SSL(t.host, t.port, ssl_context=context, timeout=30)
        else:
            conn = imaplib.IMAP4(t.host, t.port, timeout=30)
            conn.starttls(ssl_context=context)
        conn.login(t.user, t.password)
        typ, _ = conn.select(_quote(t.mailbox))
    except (OSError, imaplib.IMAP4.error) as e:
        raise ConfigError(f"IMAP {t.host}:{t.port}: {type(e).__name__}: {e}") from None
    if typ != "OK":
        raise ConfigError(f"IMAP mailbox {t.mailbox!r} cannot be selected")
    return conn


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _seen(conn: imaplib.IMAP4, uid: str) -> Callable[[], None]:
    def done() -> None:
        conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")

    return done


def _logout(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        conn.logout()
