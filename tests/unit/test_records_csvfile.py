"""Reading DMS CSV files: encodings, line numbers, cut-off and malformed records."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from outreach.errors import ConfigError
from outreach.records import csvfile, mappings, rows
from outreach.records.rows import Problem, Row

REPO = Path(__file__).resolve().parents[2]
HEADER = "顧客番号,氏名,フリガナ,生年月日,メールアドレス"


def _write(tmp_path: Path, text: str, encoding: str, bom: bool = False) -> Path:
    p = tmp_path / "in.csv"
    p.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode(encoding))
    return p


@pytest.mark.parametrize(
    ("encoding", "bom", "detected"),
    [("utf-8", False, "utf-8"), ("utf-8", True, "utf-8"), ("cp932", False, "cp932")],
)
def test_auto_detection_keeps_variant_characters(
    tmp_path: Path, encoding: str, bom: bool, detected: str
) -> None:
    p = _write(
        tmp_path, f"{HEADER}\r\nK1,髙橋 山﨑,タカハシ,S45.3.1,a@example.jp\r\n", encoding, bom
    )
    enc = csvfile.resolve_encoding("auto", p)
    assert enc == detected
    records = list(csvfile.Reader(p, enc).records())
    assert records[0].cells[0] == "顧客番号"  # BOM stripped
    assert records[1].cells[1] == "髙橋 山﨑"
    assert records[1].line == 2 and records[1].complete


def test_wrong_explicit_encoding_rejects_the_line_not_the_file(tmp_path: Path) -> None:
    p = _write(tmp_path, f"{HEADER}\nK1,髙橋,タカハシ,S45.3.1,a@example.jp\nK2,abc,,,\n", "cp932")
    header, bad, good = csvfile.Reader(p, "utf-8").records()
    assert header.error is not None  # the header has Japanese bytes too
    assert bad.error and "utf-8 として読めない" in bad.error
    assert good.error is None and good.cells[0] == "K2"


def test_unknown_encoding_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown encoding"):
        csvfile.resolve_encoding("latin-1", _write(tmp_path, HEADER, "utf-8"))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(csvfile.FileUnreadable, match="file not found"):
        csvfile.resolve_encoding("auto", tmp_path / "nope.csv")
    with pytest.raises(csvfile.FileUnreadable, match="is a directory"):
        list(csvfile.Reader(tmp_path, "utf-8").records())


def test_line_numbers_count_quoted_newlines_and_skip_blank_lines(tmp_path: Path) -> None:
    text = f'{HEADER}\nK1,"髙橋\n一郎",,,\n\nK2,b,,,\n'
    recs = list(csvfile.Reader(_write(tmp_path, text, "utf-8"), "utf-8").records())
    assert [(r.line, r.cells[0]) for r in recs[1:]] == [(2, "K1"), (5, "K2")]
    assert recs[1].cells[1] == "髙橋\n一郎"


def test_cut_off_last_line_and_broken_quote(tmp_path: Path) -> None:
    recs = list(
        csvfile.Reader(_write(tmp_path, f"{HEADER}\nK1,a,,,\nK2,b", "utf-8"), "utf-8").records()
    )
    assert recs[1].complete and not recs[2].complete
    recs = list(csvfile.Reader(_write(tmp_path, f'{HEADER}\nK1,"open', "utf-8"), "utf-8").records())
    assert recs[-1].error and "CSVとして解釈できません" in recs[-1].error


def _check(tmp_path: Path, line: str) -> Row | list[Problem]:
    m = mappings.load(REPO / "config", "customers")
    p = _write(tmp_path, f"{HEADER}\n{line}", "utf-8")
    header, record = csvfile.Reader(p, "utf-8").records()
    return rows.check(record, m, mappings.line_up(m, header.cells))


def test_a_good_row_is_typed(tmp_path: Path) -> None:
    row = _check(tmp_path, "K1,髙橋 一郎,ﾀｶﾊｼ ｲﾁﾛｳ,S45.3.1,A@Example.JP\n")
    assert isinstance(row, Row)
    assert row.values["birth_date"].isoformat() == "1970-03-01"
    assert row.values["name_kana"] == "タカハシ イチロウ"
    assert row.values["email"] == "A@example.jp"


def test_every_problem_of_a_row_is_reported(tmp_path: Path) -> None:
    problems = _check(tmp_path, ",髙橋,,H31.5.1,bad@@mail\n")
    assert isinstance(problems, list)
    assert [(p.line, p.column) for p in problems] == [
        (2, "顧客番号"),
        (2, "生年月日"),
        (2, "メールアドレス"),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("K1,a,b\n", "列が不足しています (3列/5列)"),
        ("K1,a,b", "ファイルが行の途中で終わっています (3列/5列)"),
        ("K1,a,b,,,x\n", "列が多すぎます (6列/5列)"),
    ],
)
def test_wrong_width(tmp_path: Path, line: str, reason: str) -> None:
    assert _check(tmp_path, line) == [Problem(2, "", reason)]
