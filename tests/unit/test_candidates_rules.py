"""config/reminders.toml loads, and every mistake names the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from outreach.candidates import rules
from outreach.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "reminders.toml"


def test_shipped_rules_load_with_r33_r35_lead_times() -> None:
    r = rules.load(CONFIG)
    assert set(r.kinds) == {"shaken", "inspection", "jibaiseki", "nini"}
    assert r.channels == ("email", "post", "phone")
    shaken = r.kinds["shaken"]
    assert [s.months_before for s in shaken.stages] == [3, 2, 1]  # earliest first
    assert not shaken.stages[0].booking  # R31: the 3-month notice does not invite booking
    assert r.kinds["inspection"].stages[0].months_before == 1  # R35
    assert r.kinds["nini"].stages[0].months_before == 2  # R34
    assert "customer.postal_code" in r.fields_for("shaken", "post")
    assert "customer.email" not in r.fields_for("shaken", "post")


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = CONFIG.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "reminders.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(needle)


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        (
            "months_before = 2\nbooking = true",
            'months_before = "2"\nbooking = true',
            "kinds.shaken.stages[1].months_before",
            'months_before = "2"',
        ),
        (
            "months_before = 1\nbooking = true\nadvertising = true\n"
            'templates = { email = "reminder_shaken_3"',
            "months_before = 3\nbooking = true\nadvertising = true\n"
            'templates = { email = "reminder_shaken_3"',
            "kinds.shaken.stages[2].months_before",
            "window",
        ),
        ('encoding = "utf-8"', 'encoding = "latin-1"', "post.encoding", 'encoding = "latin-1"'),
        (
            'channels = ["email", "post", "phone"]',
            'channels = ["email", "fax"]',
            "channels",
            'channels = ["email", "fax"]',
        ),
        ('"customer.phone"]', '"sensitive.welcab_needs"]', "phone.fields", "sensitive.welcab"),
        ("[kinds.nini]", "[kinds.recall]", "kinds.recall", "[kinds.recall]"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, needle: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        rules.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}:")
    assert f": {field}:" in message
    m = re.match(rf"{re.escape(str(path))}:(\d+):", message)
    assert m is not None, message
    if needle != "window":
        assert int(m.group(1)) == _line(path, needle)
    else:
        assert "R31" in message


def test_missing_template_for_a_channel_is_refused(tmp_path: Path) -> None:
    path = _broken(
        tmp_path,
        'post = "reminder_nini_2", phone = "reminder_nini_2" }',
        'post = "reminder_nini_2" }',
    )
    with pytest.raises(ConfigError, match=r"kinds\.nini\.stages\[1\]\.templates\.phone"):
        rules.load(path)


def test_unparsable_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "reminders.toml"
    bad.write_text("purpose = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"reminders\.toml"):
        rules.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        rules.load(tmp_path / "absent.toml")
