"""A transport that writes each message as an .eml file into a folder.

The file is named after the Message-ID, so a resend of the same message (the documented
crash window) replaces its file rather than adding a second one. Written to a temporary name
and renamed, so a reader never sees half a message; a write that fails (a full disk) removes
its temporary file, so nothing is left behind but the message's waiting outbox row.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from outreach.gate import decision
from outreach.send.protocol import SendResult

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def file_name(data: bytes) -> str:
    """`<message-id>.eml`, made filesystem-safe; a content hash when there is no Message-ID."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = _MESSAGE_ID.search(head)
    if m:
        stem = _UNSAFE.sub("_", m.group(1).decode("ascii", "replace"))[:180]
    else:
        stem = hashlib.sha256(data).hexdigest()[:32]
    return f"{stem}.eml"


class FileTransport:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(
        self, permit: decision.Permit, envelope_from: str, recipients: Sequence[str], data: bytes
    ) -> SendResult:
        decision.verify(permit)
        try:
            path = await asyncio.to_thread(self._write, data)
        except OSError as e:
            return SendResult(ok=False, code=None, detail=f"cannot write: {e}")
        return SendResult(ok=True, code=250, detail=str(path))

    def _write(self, data: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / file_name(data)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return path

    async def close(self) -> None:
        return None
