"""Cell validators and header mappings of the DMS import."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.errors import ConfigError
from outreach.records import mappings, validate

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("141-0001", "141-0001"), ("1410001", "141-0001"), ("〒141-0001", "141-0001"),
     ("１４１－０００１", "141-0001"), (" 141ー0001 ", "141-0001")],
)  # fmt: skip
def test_postal_codes(cell: str, expected: str) -> None:
    assert validate.postal_code(cell) == expected


@pytest.mark.parametrize("cell", ["141-001", "14100011", "abc-defg", "141_0001"])
def test_bad_postal_codes(cell: str) -> None:
    with pytest.raises(ValueError, match="郵便番号"):
        validate.postal_code(cell)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("taro@example.co.jp", "taro@example.co.jp"),
        ("Taro.Yamada@Docomo.NE.JP", "Taro.Yamada@docomo.ne.jp"),
        ("taro..yamada.@docomo.ne.jp", "taro..yamada.@docomo.ne.jp"),  # legacy carrier form
        ("ｔａｒｏ@example.jp", "taro@example.jp"),
    ],
)
def test_emails(cell: str, expected: str) -> None:
    assert validate.email(cell) == expected


@pytest.mark.parametrize(
    "cell", ["bad@@mail", "no-at.example.jp", "taro@localhost", "taro@ex ample.jp", "@example.jp",
             ".taro@example.jp", "太郎@example.jp", "taro@-example.jp"],
)  # fmt: skip
def test_bad_emails(cell: str) -> None:
    with pytest.raises(ValueError, match="メールアドレス"):
        validate.email(cell)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("03-1234-5678", "03-1234-5678"),
        ("0312345678", "0312345678"),
        ("090-1234-5678", "090-1234-5678"),
        ("０９０－１２３４－５６７８", "090-1234-5678"),
        ("03(1234)5678", "03-1234-5678"),
        ("0120-123-456", "0120-123-456"),
        ("+81-90-1234-5678", "090-1234-5678"),
    ],
)
def test_phones(cell: str, expected: str) -> None:
    assert validate.phone(cell) == expected


@pytest.mark.parametrize("cell", ["03-1234-567", "090-1234-567", "12-3456-7890", "0a-1234-5678"])
def test_bad_phones(cell: str) -> None:
    with pytest.raises(ValueError, match="電話番号"):
        validate.phone(cell)


def test_names_keep_their_variant_characters() -> None:
    assert validate.text(" 髙橋 山﨑 ", max_len=20) == "髙橋 山﨑"
    assert validate.kana("ﾀｶﾊｼ ｲﾁﾛｳ", max_len=20) == "タカハシ イチロウ"
    with pytest.raises(ValueError, match="3文字を超えて"):
        validate.text("髙橋一郎", max_len=3)


def test_choice_labels_and_values() -> None:
    labels = {"東京海上日動": "tokio_marine", "その他": "other"}
    assert validate.choice("東京海上日動", labels) == "tokio_marine"
    assert validate.choice("tokio_marine", labels) == "tokio_marine"
    with pytest.raises(ValueError, match="使える値"):
        validate.choice("損保ジャパン", labels)


@pytest.mark.parametrize("kind", ["customers", "vehicles", "policies"])
def test_shipped_mappings_load(kind: str) -> None:
    m = mappings.load(REPO / "config", kind)
    assert "external_id" in m.columns.values()


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown import kind"):
        mappings.load(REPO / "config", "cars")


def _mapping(tmp_path: Path, body: str) -> Path:
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "customers.toml").write_text(body, encoding="utf-8")
    return tmp_path


def test_mapping_naming_an_unknown_field_names_file_line_and_key(tmp_path: Path) -> None:
    d = _mapping(tmp_path, '[columns]\n"顧客番号" = "external_id"\n"氏名" = "nmae_kanji"\n')
    with pytest.raises(ConfigError, match=r"customers\.toml:3: 氏名: unknown field 'nmae_kanji'"):
        mappings.load(d, "customers")


def test_mapping_without_a_required_field(tmp_path: Path) -> None:
    d = _mapping(tmp_path, '[columns]\n"顧客番号" = "external_id"\n')
    with pytest.raises(ConfigError, match="required field 'name_kanji' has no header"):
        mappings.load(d, "customers")


def test_mapping_label_onto_an_unknown_value(tmp_path: Path) -> None:
    body = (
        '[columns]\n"番号" = "external_id"\n"氏名" = "name_kanji"\n'
        '[labels.status]\n"有効" = "alive"\n'
    )
    with pytest.raises(ConfigError, match="'alive' is not one of active"):
        mappings.load(_mapping(tmp_path, body), "customers")


def test_mapping_with_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"customers\.toml"):
        mappings.load(_mapping(tmp_path, "[columns\n"), "customers")


def test_headers_match_across_width_and_spaces() -> None:
    m = mappings.load(REPO / "config", "customers")
    cols = mappings.line_up(m, ["\ufeff顧客番号", " 氏名 ", "ﾌﾘｶﾞﾅ", "備考"])
    assert cols.index == {"external_id": 0, "name_kanji": 1, "name_kana": 2}
    assert cols.ignored == ["備考"]
    assert cols.problems == []


def test_header_without_required_column_or_with_two_for_one_field() -> None:
    m = mappings.load(REPO / "config", "customers")
    assert mappings.line_up(m, ["氏名"]).problems == ["必須の列「顧客番号」がありません"]
    two = mappings.line_up(m, ["顧客番号", "氏名", "お名前"]).problems
    assert two == ["列「氏名」と「お名前」が同じ項目 name_kanji を指しています"]
