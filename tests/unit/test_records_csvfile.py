"""Reading DMS CSV files: encodings, line numbers, cut-off and malformed records."""

from __future__ import annotations

import codecs
import datetime as dt
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


def test_a_quote_that_does_not_close_on_its_line_costs_that_line_only(tmp_path: Path) -> None:
    text = f'{HEADER}\nK1,"髙橋\n一郎",,,\n\nK2,b,,,\n'
    recs = list(csvfile.Reader(_write(tmp_path, text, "utf-8"), "utf-8").records())
    assert [r.line for r in recs[1:]] == [2, 3, 5]  # blank line 4 skipped, numbers kept
    assert recs[1].error and "この行の中で閉じていません" in recs[1].error
    assert recs[2].error is None and recs[2].cells[0] == '一郎"'  # rejected later by width
    assert recs[3].cells[0] == "K2"


def test_cut_off_last_line_and_broken_quote(tmp_path: Path) -> None:
    recs = list(
        csvfile.Reader(_write(tmp_path, f"{HEADER}\nK1,a,,,\nK2,b", "utf-8"), "utf-8").records()
    )
    assert recs[1].complete and not recs[2].complete
    recs = list(csvfile.Reader(_write(tmp_path, f'{HEADER}\nK1,"open', "utf-8"), "utf-8").records())
    assert recs[-1].error and "CSVとして解釈できません" in recs[-1].error


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('K1,"a"b,,,', "カンマがありません"),
        ("K1,a\rb,,,", "改行文字 (CR)"),
        ('K1,"open,,,', "閉じていません"),
    ],
)
def test_every_csv_error_is_one_japanese_reason_and_reading_goes_on(
    tmp_path: Path, line: str, words: str
) -> None:
    p = _write(tmp_path, f"{HEADER}\n{line}\nK2,b,,,\n", "utf-8")
    recs = list(csvfile.Reader(p, "utf-8").records())
    assert recs[1].error and words in recs[1].error and "次の行から読み続けます" in recs[1].error
    assert recs[2].cells[0] == "K2" and recs[2].error is None


def test_a_stray_quote_in_a_100k_row_file_loses_no_other_row(tmp_path: Path) -> None:
    rows_ = [f"K{i:06d},名前{i},ナマエ,S45.3.1,u{i}@example.jp" for i in range(100_000)]
    rows_[50_000] = 'K050000,"山田,ヤマダ,S45.3.1,stray@example.jp'  # file line 50,002
    p = _write(tmp_path, HEADER + "\n" + "\n".join(rows_) + "\n", "utf-8")
    recs = list(csvfile.Reader(p, "utf-8").records())[1:]
    assert len(recs) == 100_000
    broken = [r for r in recs if r.error]
    assert [r.line for r in broken] == [50_002]
    assert recs[-1].cells[0] == "K099999" and recs[-1].line == 100_001


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


def test_the_report_never_follows_a_planted_symlink_and_is_private(tmp_path: Path) -> None:
    from outreach.records import csvimport

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = tmp_path / "data" / csvimport.REPORT_DIR
    folder.mkdir(parents=True)
    planted = folder / "x.csv.20260105-090000.errors.csv"
    planted.symlink_to(victim)
    problems = [Problem(2, "氏名", "必須項目が空です")]
    written = csvimport.write_report(planted, problems)  # the default: exclusive
    assert written != planted and written.parent == folder
    assert victim.read_text() == "keep me"
    assert written.stat().st_mode & 0o777 == 0o600
    assert written.read_text(encoding="utf-8-sig").splitlines()[1] == "2,氏名,必須項目が空です"
    with pytest.raises(OSError):  # an explicit --errors path that is a symlink: refused
        csvimport.write_report(planted, problems, exclusive=False)
    assert victim.read_text() == "keep me"


def test_the_report_folder_is_made_private(tmp_path: Path) -> None:
    from outreach.records import csvimport

    path = csvimport.default_report(
        tmp_path / "data", Path("/srv/in/x.csv"), dt.datetime.now(dt.UTC)
    )
    written = csvimport.write_report(path, [Problem(2, "", "列が不足しています (3列/5列)")])
    assert written.parent == tmp_path / "data" / csvimport.REPORT_DIR
    assert written.parent.stat().st_mode & 0o777 == 0o700
    assert written.stat().st_mode & 0o777 == 0o600
