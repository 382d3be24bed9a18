"""`outreach import customers|vehicles|policies|bookings|completions FILE`: the DMS CSV
import service.

Every record is validated whole before anything is written; valid rows are upserted by
external id in batches, one transaction per batch, so a rejected row never half-writes a
record and a failure never leaves a batch half-applied. References (a vehicle's customer, a
policy's vehicle, a store code) are resolved per batch against the database; a row whose
reference does not exist is rejected like any other bad row. Consent preferences are never
touched: they live in the consent ledger. A customer file may carry an initial email basis
with its evidence; it is added once and never overwritten.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outreach.clock import JST
from outreach.db import models
from outreach.gate import purposes
from outreach.records import csvfile, fields, mappings, rows, service_events, upsert
from outreach.records.rows import Problem, Row

BATCH = 1000
# 自賠責 cover ends at 12:00, 任意保険 usually at 16:00 (R32, R34).
POLICY_END_TIME = {"jibaiseki": dt.time(12, 0), "nini": dt.time(16, 0)}
_REF_LABEL = {"customer": "顧客番号", "vehicle": "車両管理番号", "store": "店舗コード"}


@dataclass(slots=True)
class Result:
    kind: str
    path: str
    encoding: str
    rows: int = 0  # data records read
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    email_bases_added: int = 0
    receipts_recorded: int = 0  # Art. 30 receipt records of data from another company (R5)
    reminders_cancelled: int = 0  # bookings and completions end the vehicle's cycle
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({p.line for p in self.problems})

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.path,
            "encoding": self.encoding,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "email_bases_added": self.email_bases_added,
            "receipts_recorded": self.receipts_recorded,
            "reminders_cancelled": self.reminders_cancelled,
            "ignored_columns": self.ignored_columns,
            "problems": [
                {"line": p.line, "column": p.column, "reason": p.reason} for p in self.problems
            ],
        }


Progress = Callable[[int], None]


async def run(
    engine: AsyncEngine,
    config_dir: Path,
    kind: str,
    path: Path,
    *,
    now: dt.datetime,
    encoding: str = "auto",
    batch_size: int = BATCH,
    progress: Progress | None = None,
) -> Result:
    """Import one file. Bad rows end up in `Result.problems`; raises only for a missing or
    unreadable file, an unknown kind or encoding, or a bad mapping (exit code 2)."""
    mapping = mappings.load(config_dir, kind)
    enc = csvfile.resolve_encoding(encoding, path)
    reader = csvfile.Reader(path, enc)
    result = Result(kind=kind, path=str(path), encoding=enc)
    records = reader.records()
    header = next(records, None)
    if header is None:
        result.problems.append(Problem(1, "", "ファイルが空です (見出し行がありません)"))
        return result
    if header.error:
        result.problems.append(Problem(1, "", f"見出し行: {header.error}"))
        return result
    columns = mappings.line_up(mapping, header.cells)
    result.ignored_columns = columns.ignored
    if columns.problems:
        result.problems += [Problem(1, "", p) for p in columns.problems]
        return result
    headers = {name: columns.headers[pos].strip() for name, pos in columns.index.items()}
    key_header = headers["external_id"]
    seen: dict[str, int] = {}
    batch: list[Row] = []
    reported = 0

    async def flush() -> None:
        nonlocal reported
        if batch:
            async with engine.begin() as conn:
                await _write(conn, kind, batch, headers, now, result, config_dir)
            batch.clear()
        if progress is not None:
            progress(reader.bytes_read - reported)
            reported = reader.bytes_read

    for record in records:
        result.rows += 1
        checked = rows.check(record, mapping, columns)
        ext = _external_id(record, columns)
        if ext is not None:
            if ext in seen:
                result.problems.append(
                    Problem(
                        record.line,
                        key_header,
                        f"{ext} は {seen[ext]} 行目と重複しています (最初の行だけを取り込みます)",
                    )
                )
                continue
            seen[ext] = record.line
        if isinstance(checked, Row):
            batch.append(checked)
            if len(batch) >= batch_size:
                await flush()
        else:
            result.problems += checked
    await flush()
    result.problems.sort(key=lambda p: p.line)
    return result


def _external_id(record: csvfile.Record, columns: mappings.Columns) -> str | None:
    pos = columns.index["external_id"]
    if record.error or pos >= len(record.cells):
        return None
    return record.cells[pos].strip() or None


async def _lookup(conn: AsyncConnection, ref: str, keys: set[str]) -> dict[str, Any]:
    if not keys:
        return {}
    if ref == "store":
        q: Any = select(models.Store.code, models.Store.id).where(models.Store.code.in_(keys))
    elif ref == "customer":
        q = select(models.Customer.external_id, models.Customer.id).where(
            models.Customer.external_id.in_(keys)
        )
    else:  # a vehicle: its id and its user (a policy without a customer goes to the user)
        q = select(models.Vehicle.external_id, models.Vehicle.id, models.Vehicle.user_id).where(
            models.Vehicle.external_id.in_(keys)
        )
        return {k: (vid, uid) for k, vid, uid in (await conn.execute(q)).all()}
    return dict((await conn.execute(q)).all())


async def _resolve(
    conn: AsyncConnection, kind: str, batch: Sequence[Row], headers: dict[str, str], result: Result
) -> tuple[list[Row], dict[str, dict[str, Any]]]:
    """Look up every reference of the batch in a few queries; reject rows with a dangling one."""
    refs = [f for f in fields.FIELDS[kind] if f.ref]
    found: dict[str, dict[str, Any]] = {}
    for f in refs:
        keys = {r.values[f.name] for r in batch if r.values.get(f.name)}
        found[f.name] = await _lookup(conn, f.ref or "", keys)
    good: list[Row] = []
    for r in batch:
        missing = [
            f for f in refs if r.values.get(f.name) and r.values[f.name] not in found[f.name]
        ]
        for f in missing:
            label = _REF_LABEL[f.ref or ""]
            result.problems.append(
                Problem(r.line, headers[f.name], f"{label} {r.values[f.name]} が登録されていません")
            )
        if not missing:
            good.append(r)
    return good, found


async def _write(
    conn: AsyncConnection,
    kind: str,
    batch: Sequence[Row],
    headers: dict[str, str],
    now: dt.datetime,
    result: Result,
    config_dir: Path,
) -> None:
    good, found = await _resolve(conn, kind, batch, headers, result)
    if not good:
        return
    if kind in service_events.KINDS:
        counts, cancelled = await service_events.write(
            conn, kind, service_events.db_rows(kind, good, found), now
        )
        result.inserted += counts.inserted
        result.updated += counts.updated
        result.unchanged += counts.unchanged
        result.reminders_cancelled += cancelled
        return
    if kind == "customers":
        table, db_rows = models.Customer.__table__, [_customer(r, found) for r in good]
    elif kind == "vehicles":
        table, db_rows = models.Vehicle.__table__, [_vehicle(r, found) for r in good]
    else:
        table, db_rows = models.InsurancePolicy.__table__, [_policy(r, found) for r in good]
    compare = [c for c in db_rows[0] if c not in ("external_id", "created_at", "updated_at")]
    for d in db_rows:
        d["updated_at"] = now
        if kind == "customers":
            d["created_at"] = now
    counts = await upsert.upsert(conn, table, db_rows, key="external_id", compare=compare)  # type: ignore[arg-type]
    result.inserted += counts.inserted
    result.updated += counts.updated
    result.unchanged += counts.unchanged
    if kind == "customers":
        result.email_bases_added += await _add_bases(conn, good, counts.ids)
        if any(r.values.get("acquisition") == "joint_use" for r in good):
            # Art. 30 (R5): the receipt of data from another company, in the same transaction
            from outreach.provision import receipts

            result.receipts_recorded += await receipts.on_import(
                conn,
                purposes.load(config_dir / "purposes.toml"),
                [r.values for r in good],
                counts.ids,
                now=now,
                file_name=Path(result.path).name,
            )


def _customer(r: Row, found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    d = {k: v for k, v in r.values.items() if not k.startswith("email_basis")}
    if "store_code" in d:
        code = d.pop("store_code")
        d["store_id"] = found["store_code"].get(code) if code else None
    return d


def _vehicle(r: Row, found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    d = dict(r.values)
    d["user_id"] = found["customer_external_id"][d.pop("customer_external_id")]
    if "store_code" in d:
        code = d.pop("store_code")
        d["store_id"] = found["store_code"].get(code) if code else None
    return d


def _policy(r: Row, found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    v = r.values
    vehicle = found["vehicle_external_id"].get(v.get("vehicle_external_id") or "")
    customer = found["customer_external_id"].get(v.get("customer_external_id") or "")
    end = POLICY_END_TIME[v["kind"]]
    d: dict[str, Any] = {
        "external_id": v["external_id"],
        "insurer": v["insurer"],
        "kind": v["kind"],
        "vehicle_id": vehicle[0] if vehicle else None,
        "customer_id": customer if customer is not None else (vehicle[1] if vehicle else None),
        "expires_on": v["expires_on"],
        "expires_at": dt.datetime.combine(v["expires_on"], end, tzinfo=JST),
    }
    if "starts_on" in v:
        start = v["starts_on"]
        d["starts_at"] = dt.datetime.combine(start, end, tzinfo=JST) if start else None
    if "held_as_processor" in v:
        d["held_as_processor"] = v["held_as_processor"]
    return d


async def _add_bases(conn: AsyncConnection, good: Sequence[Row], ids: dict[str, int]) -> int:
    bases = [
        {
            "customer_id": ids[r.values["external_id"]],
            "email": r.values["email"],
            "basis": r.values["email_basis"],
            "evidence_at": r.values["email_basis_at"],
            "evidence_method": r.values["email_basis_method"],
            "evidence_text": r.values["email_basis_text"],
            "evidence_ref": r.values.get("email_basis_ref"),
        }
        for r in good
        if r.values.get("email_basis") and r.values["external_id"] in ids
    ]
    if not bases:
        return 0
    table = models.EmailBasis.__table__
    stmt = upsert.insert_for(conn, table)  # type: ignore[arg-type]
    stmt = stmt.on_conflict_do_nothing(index_elements=["customer_id", "email"])
    return len((await conn.execute(stmt.returning(table.c.id), bases)).all())


REPORT_DIR = "import-errors"


def default_report(data_dir: Path, source: Path, now: dt.datetime) -> Path:
    """Where the error report of an import goes by default: the data folder (0700), never
    next to the input, whose folder may belong to someone else."""
    stamp = now.astimezone(JST).strftime("%Y%m%d-%H%M%S")
    return data_dir / REPORT_DIR / f"{source.name}.{stamp}.errors.csv"


def write_report(path: Path, problems: Sequence[Problem], *, exclusive: bool = True) -> Path:
    """The error report: one line per problem, UTF-8 with BOM so Excel opens it as such.

    Opened with O_NOFOLLOW and mode 600: a planted symlink is never followed, and the rows
    (which may quote customer data) are readable by the owner only. `exclusive`: never
    overwrite; a taken name gets a numbered sibling. Returns the path written."""
    if path.parent.name == REPORT_DIR:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    target = path
    for n in range(1, 100):
        try:
            fd = os.open(target, flags, 0o600)
            break
        except FileExistsError:
            if not exclusive or n == 99:
                raise
            target = path.with_name(f"{path.stem}-{n}{path.suffix}")
    with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
        os.fchmod(fh.fileno(), 0o600)  # an existing file (not exclusive) keeps no wider mode
        w = csv.writer(fh)
        w.writerow(["行", "列", "理由"])
        for p in problems:
            w.writerow([p.line, p.column, p.reason])
    return target
