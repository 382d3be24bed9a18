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

from outreach.clock import JST
from outreach.errors import InputRejected


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
