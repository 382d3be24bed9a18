"""Reading a DMS CSV export: encoding detection and records with their line numbers.

Encodings: UTF-8 with or without a BOM, and CP932 (Windows Shift_JIS, which also holds the NEC
and IBM extensions such as 髙 and 﨑; plain `shift_jis` would not). `auto` picks UTF-8 when
the first megabyte decodes as UTF-8, CP932 otherwise.

Records stream: the file is read line by line in binary and each line decoded on its own, so
a line that does not decode becomes a rejected record instead of stopping the import. (A
newline byte never occurs inside a CP932 or UTF-8 multibyte character, so splitting on it is
safe.)

One record per line, and reading never stops early. Each line is parsed on its own: a line
whose quote does not close on it (a stray `"`, or a field with a line break, which no field
may hold anyway: control characters are refused) is reported as a rejected record and
reading resumes at the next line. So a broken quote costs exactly its own line, is always in
the error report, and can never swallow the rest of the file.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from outreach.errors import ConfigError, OutreachError

ENCODINGS = ("auto", "utf-8", "cp932")
_ALIASES = {"utf8": "utf-8", "utf-8-sig": "utf-8", "sjis": "cp932", "shift_jis": "cp932"}
_SAMPLE = 1 << 20


class FileUnreadable(OutreachError):
    """The input file is missing, unreadable or not text in the given encoding."""


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # the file line the record starts on (the header is line 1)
    cells: list[str]
    complete: bool  # False: the file ended in the middle of this record (no final newline)
    error: str | None = None  # a record that could not be decoded or parsed


def detect(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        # A sample cut in the middle of a UTF-8 character fails only at its very end.
        if e.start < len(sample) - 3:
            return "cp932"
    return "utf-8"


def resolve_encoding(name: str, path: Path) -> str:
    enc = _ALIASES.get(name.lower(), name.lower())
    if enc not in ENCODINGS:
        raise ConfigError(f"unknown encoding {name!r}: use {', '.join(ENCODINGS)}")
    if enc != "auto":
        return enc
    with _open(path) as fh:
        return detect(fh.read(_SAMPLE))


def _open(path: Path) -> BinaryIO:
    try:
        if path.is_dir():
            raise FileUnreadable(f"{path}: is a directory, not a CSV file")
        return path.open("rb")
    except FileNotFoundError:
        raise FileUnreadable(f"{path}: file not found") from None
    except PermissionError:
        raise FileUnreadable(f"{path}: permission denied") from None
    except OSError as e:
        raise FileUnreadable(f"{path}: cannot read ({e.strerror})") from None


class _Lines:
    """Decoded lines with their numbers; remembers whether the last one ended in a newline."""

    def __init__(self, fh: BinaryIO, encoding: str) -> None:
        self.fh = fh
        self.encoding = encoding
        self.number = 0
        self.bytes_read = 0
        self.last_had_newline = True
        self.bad_lines: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        first = True
        for raw in self.fh:
            self.number += 1
            self.bytes_read += len(raw)
            self.last_had_newline = raw.endswith(b"\n")
            if first and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            first = False
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError as e:
                self.bad_lines[self.number] = (
                    f"{self.encoding} として読めないバイトがあります ({e.start + 1}バイト目)"
                )
                yield raw.decode(self.encoding, errors="replace")


@dataclass
class Reader:
    """Iterate `records()`: the first is the header row. `bytes_read` drives a progress bar."""

    path: Path
    encoding: str
    bytes_read: int = 0
    size: int = 0

    def records(self) -> Iterator[Record]:
        with _open(self.path) as fh:
            try:
                self.size = self.path.stat().st_size
            except OSError:
                self.size = 0
            lines = _Lines(fh, self.encoding)
            for line in lines:
                self.bytes_read = lines.bytes_read
                number = lines.number
                bad = lines.bad_lines.pop(number, None)
                try:
                    cells = next(csv.reader((line,), strict=True), [])
                except csv.Error as e:
                    yield Record(number, [], lines.last_had_newline, _csv_reason(e))
                    continue
                if not any(c.strip() for c in cells):
                    continue  # blank line
                # Only the file's last line can lack its newline: a cut-off export.
                yield Record(number, cells, lines.last_had_newline, bad)


def _csv_reason(e: csv.Error) -> str:
    text = str(e)
    if "unexpected end of data" in text or "newline inside string" in text:
        why = '引用符 (") がこの行の中で閉じていません'
    elif "expected after" in text:
        why = '閉じた引用符 (") の後に区切りのカンマがありません'
    elif "new-line character" in text:
        why = "行の途中に改行文字 (CR) があります"
    elif "field larger than field limit" in text:
        why = "項目が長すぎます"
    else:
        why = text
    return f"CSVとして解釈できません: {why} (次の行から読み続けます)"
