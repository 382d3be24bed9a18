"""The file of an export to a third party (a joint-use group, an insurer).

CSV in UTF-8 with a BOM and CRLF line ends (what the recipients' spreadsheets read), named
in the provision records by a batch id made of its time and its content's hash. It is
written beside its final name and moved in only once its provision records are committed,
so a file that exists always has its records.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from outreach.clock import JST
from outreach.db.models import AuditEntry
from outreach.errors import InputRejected
from outreach.provision import records


@dataclass(frozen=True)
class Result:
    """What an export wrote: to whom (`recipient`: its key and id, e.g. ("group", "toyota");
    `name`: the recipient's name where it has one), the file, how many people and rows."""

    recipient: tuple[str, str]
    name: str | None
    path: str
    customers: int
    rows: int
    fields: tuple[str, ...]
    batch: str

    def as_dict(self) -> dict[str, Any]:
        key, value = self.recipient
        return {
            key: value,
            **({"name": self.name} if self.name is not None else {}),
            "path": self.path,
            "customers": self.customers,
            "rows": self.rows,
            "fields": list(self.fields),
            "batch": self.batch,
        }


@dataclass(frozen=True, slots=True)
class Staged:
    """An export file written under a temporary name, waiting for its records' commit."""

    out: Path
    tmp: Path
    batch: str

    def publish(self) -> None:
        self.tmp.replace(self.out)  # the file appears only once its records are committed


def stage(
    out: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    prefix: str,
    now: dt.datetime,
) -> Staged:
    """Write the CSV next to `out`; its batch id is `<prefix>-<JST time>-<content hash>`.
    A folder that cannot be written is one InputRejected naming the file."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8-sig")
    batch = f"{prefix}-{now.astimezone(JST):%Y%m%d%H%M%S}-{hashlib.sha256(data).hexdigest()[:12]}"
    tmp = out.with_suffix(out.suffix + ".part")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
    except OSError as e:
        raise InputRejected(f"{out}: cannot write: {e}") from None
    return Staged(out=out, tmp=tmp, batch=batch)


async def finish(
    session: AsyncSession,
    staged: Staged,
    entries: Sequence[records.Entry],
    *,
    action: str,
    recipient: tuple[str, str],
    name: str | None = None,
    rows: int,
    fields: tuple[str, ...],
    actor: str,
    now: dt.datetime,
) -> Result:
    """Write the provision records (one entry a person) and the audit row, commit, then move
    the file in: an export's last step."""
    await records.write(session, entries)
    key, value = recipient
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            entity="provision",
            entity_id=staged.batch,
            after={key: value, "customers": len(entries), "rows": rows},
            at=now,
        )
    )
    await session.commit()
    staged.publish()
    return Result(
        recipient=recipient,
        name=name,
        path=str(staged.out),
        customers=len(entries),
        rows=rows,
        fields=fields,
        batch=staged.batch,
    )
