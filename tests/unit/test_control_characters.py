"""Control characters are refused at every input, by one check (`validate.refuse_controls`):
the DMS import's cell validators, the staff correction form's, campaign texts, the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from staffkit import rules, spec

from outreach.records import csvfile, mappings, rows, validate
from outreach.staff import validation

REPO = Path(__file__).resolve().parents[2]
CONTROLS = [*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)), "\u2028", "\u2029"]
VALIDATORS: dict[str, Callable[[str], object]] = {
    "text": lambda v: validate.text(v, max_len=200),
    "kana": lambda v: validate.kana(v, max_len=200),
    "email": validate.email,
    "phone": validate.phone,
    "postal": validate.postal_code,
    "date": validate.date,
    "int": validate.integer,
    "bool": validate.boolean,
    "choice": lambda v: validate.choice(v, {"有効": "active"}),
}
GOOD = {
    "text": "山田 太郎",
    "kana": "ヤマダ",
    "email": "taro@example.jp",
    "phone": "03-1234-5678",
    "postal": "141-0001",
    "date": "S45.3.1",
    "int": "3",
    "bool": "はい",
    "choice": "有効",
}


@pytest.mark.parametrize("kind", sorted(VALIDATORS))
@given(control=st.sampled_from(CONTROLS), at=st.integers(min_value=0, max_value=20))
def test_every_cell_validator_refuses_a_control_character_anywhere(
    kind: str, control: str, at: int
) -> None:
    good = GOOD[kind]
    assert VALIDATORS[kind](good) is not None
    at = min(at, len(good))
    with pytest.raises(ValueError, match="使えない制御文字"):
        VALIDATORS[kind](good[:at] + control + good[at:])


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))))
def test_text_without_controls_is_kept_exactly(value: str) -> None:
    assert validate.refuse_controls(value) == value


def test_the_reason_names_the_character_and_its_place() -> None:
    with pytest.raises(ValueError) as e:
        validate.text("山田\x1b[31m", max_len=100)
    assert str(e.value) == "使えない制御文字 (ESC, U+001B) が3文字目にあります"
    assert validate.refuse_controls("a\tb", allow="\t") == "a\tb"


def test_an_imported_name_with_esc_or_a_line_separator_is_rejected(tmp_path: Path) -> None:
    m = mappings.load(REPO / "config", "customers")
    p = tmp_path / "in.csv"
    p.write_text(
        "顧客番号,氏名,フリガナ,生年月日\nK1,山田\x1b太郎,,\nK2,佐藤\u2028次郎,,\n"
        'K3,"鈴木\r三郎",,\nK4,田中 四郎,,\n',
        encoding="utf-8",
    )
    header, *records = csvfile.Reader(p, "utf-8").records()
    columns = mappings.line_up(m, header.cells)
    checked = [rows.check(r, m, columns) for r in records]
    assert [isinstance(c, rows.Row) for c in checked] == [False, False, False, True]
    for c in checked[:3]:
        assert isinstance(c, list) and "制御文字" in c[0].reason


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("email", "x@example.jp\r\nBcc: all@example.jp", "制御文字"),
        ("phone", "<script>alert(1)</script>", "電話番号の形式が不正"),
        ("name_kanji", "山田\u2028太郎", "行区切り"),
        ("address", "南青山\x1b]0;x\x07", "ESC"),
        ("birth_date", "1970-13-01", ""),
        ("name_kanji", " ", "空にできません"),
    ],
)
def test_the_correction_form_uses_the_import_validators(field: str, value: str, words: str) -> None:
    new, problems = validation.correction_value(field, value)
    assert new is None and problems and words in problems[0].message


def test_a_correction_is_typed_like_an_import() -> None:
    assert validation.correction_value("phone", "０３－１２３４－５６７８") == ("03-1234-5678", [])
    assert validation.correction_value("email", "A@Example.JP") == ("A@example.jp", [])
    assert validation.correction_value("postal_code", "1410001") == ("141-0001", [])


def test_campaign_names_and_subjects_hold_no_line_break_but_bodies_may() -> None:
    problems = validation.check(
        spec(name="冬\x1bフェア", subject_template="件名\r\nBcc: x"), rules()
    )
    assert {p.field for p in problems} >= {"name", "subject_template"}
    fine = validation.check(spec(text_template=spec().text_template + "\n\t次の行"), rules())
    assert not [p for p in fine if "制御文字" in p.message]
    bad_body = validation.check(spec(text_template=spec().text_template + "\x1b[2J"), rules())
    assert [p.field for p in bad_body if "制御文字" in p.message] == ["text_template"]
