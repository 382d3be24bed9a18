"""The purpose registry and gate policy loaders: the real files load; a bad file is one clear
ConfigError naming the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from outreach.errors import ConfigError, NotFound
from outreach.gate import context, policy, purposes

CONFIG = Path(__file__).resolve().parents[2] / "config"
PURPOSES = (CONFIG / "purposes.toml").read_text(encoding="utf-8")
GATE = (CONFIG / "gate.toml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "purposes.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_real_registry_transcribes_the_policy() -> None:
    reg = purposes.load(CONFIG / "purposes.toml")
    assert sorted(reg.purposes) == [f"p{i}" for i in range(1, 9)]
    assert reg.purpose("p2").channels == {"post", "phone", "email"}  # (2): no 訪問
    assert reg.purpose("p3").channels == {"post", "phone", "email", "visit"}
    assert all("sms" not in p.channels for p in reg.purposes.values())
    assert reg.purpose("p3").category == "marketing"
    assert reg.purpose("p2").category == "service_notice"
    assert "保険満期" in reg.purpose("p2").text
    assert reg.purpose("p8").insurers == ("tokio_marine", "aioi_nissay_dowa", "mitsui_sumitomo")
    # joint use: items ①–⑧, purposes ①–③ → (3), (4), (6), both groups of joint users
    ju = reg.joint_use
    assert list(ju.items) == ["①", "②", "③", "④", "⑤", "⑥", "⑦", "⑧"]
    assert ju.purpose_ids == {"p3", "p4", "p6"}
    assert {g.id for g in ju.groups} == {"toyota", "lexus_tokyo"}
    # the LEXUS TOKYO group covers only data obtained via LEXUS TOKYO
    assert ju.in_scope("レクサス小石川販売株式会社", "lexus_tokyo")
    assert not ju.in_scope("レクサス小石川販売株式会社")
    assert ju.in_scope("lexus_tokyo", "lexus_tokyo")
    assert ju.in_scope("トヨタ自動車株式会社")  # a member of the unrestricted group as well
    assert not ju.in_scope("どこかの会社")
    assert ju.responsible_name == "ジャミール商事株式会社"
    assert "永田浩司" in ju.responsible_representative
    assert reg.sensitive_items == {"sensitive"}
    assert reg.version in reg.versions


def test_unknown_purpose_is_not_found() -> None:
    reg = purposes.load(CONFIG / "purposes.toml")
    with pytest.raises(NotFound, match="p99"):
        reg.purpose("p99")


def test_fields_map_to_items() -> None:
    reg = purposes.load(CONFIG / "purposes.toml")
    assert reg.items_for_fields({"customer.name_kanji", "vehicle.shaken_expiry_on"}) == {
        "name",
        "inspection_certificate",
    }
    # dealer/store/campaign/message hold no personal data
    assert reg.items_for_fields({"store.name", "message.optout_url", "dealer.name"}) == set()
    assert reg.items_for_fields({"sensitive.welcab_needs"}) == {"sensitive"}
    # the whole object: every item that covers one of its fields
    assert {"name", "email", "address", "phone"} <= reg.items_for_fields({"customer"})


@pytest.mark.parametrize("field", ["customer.shoe_size", "secret.thing", "vehicle.vin"])
def test_unknown_field_is_a_config_error_naming_it(field: str) -> None:
    reg = purposes.load(CONFIG / "purposes.toml")
    with pytest.raises(ConfigError, match=re.escape(field.split(".")[-1])):
        reg.items_for_fields({field})


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = PURPOSES.replace('category = "marketing"', 'category = "marketing', 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        purposes.load(path)
    line = line_of(text, 'category = "marketing')
    assert str(e.value).startswith(f"{path}:{line}: invalid TOML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        purposes.load(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "problem"),
    [
        (
            'channels = ["post", "phone", "email", "visit"]',
            'channels = ["post", "fax"]',
            "purposes.p3.channels",
            'channels = ["post", "fax"]',
            "unknown channel 'fax'",
        ),
        (
            'category = "survey"',
            'category = "spam"',
            "purposes.p4.category",
            'category = "spam"',
            "unknown category 'spam'",
        ),
        (
            'items = ["name", "address", "birth_date", "phone", "transaction"]',
            'items = ["name", "shoe_size"]',
            "purposes.p5.items",
            'items = ["name", "shoe_size"]',
            "unknown data item 'shoe_size'",
        ),
        (
            'items = ["name", "address", "birth_date", "phone", "transaction"]',
            'items = ["name", "sensitive"]',
            "purposes.p5.items",
            'items = ["name", "sensitive"]',
            "sensitive item",
        ),
        (
            "since_version = 2\n",
            "since_version = 9\n",
            "purposes.p7.since_version",
            "since_version = 9",
            "no [versions.9]",
        ),
        (
            'fields = ["customer.phone"]',
            'fields = ["customer.name_kanji"]',
            "items.phone.fields",
            'fields = ["customer.name_kanji"]',
            "already in item 'name'",
        ),
        (
            'purpose = "p6"',
            'purpose = "p66"',
            "joint_use.purposes.③.purpose",
            'purpose = "p66"',
            "unknown purpose 'p66'",
        ),
        (
            "version = 2  #",
            'version = "two"  #',
            "policy.version",
            'version = "two"',
            "must be an integer",
        ),
        (
            'responsible_representative = "代表取締役社長 永田浩司"',
            'responsible_representative = ""',
            "joint_use.responsible_representative",
            'responsible_representative = ""',
            "must not be empty",
        ),
    ],
)
def test_semantic_error_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, needle: str, problem: str
) -> None:
    assert old in PURPOSES
    text = PURPOSES.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        purposes.load(path)
    message = str(e.value)
    assert message.startswith(f"{path}:{line_of(text, needle)}: {field}: "), message
    assert problem in message
    assert "\n" not in message


def test_missing_key_points_at_its_table(tmp_path: Path) -> None:
    text = PURPOSES.replace('category = "credit"\n', "", 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        purposes.load(path)
    assert str(e.value).startswith(f"{path}:{line_of(text, '[purposes.p5]')}: purposes.p5.category")


def test_the_real_gate_policy_loads() -> None:
    ctx = context.load_context(CONFIG)
    pol = ctx.policy
    assert pol.windows["phone"].skip_holidays
    assert "post" not in pol.windows
    assert pol.email_bases == {"opt_in", "written", "transaction", "published"}
    assert pol.frequency.rank("shaken", "service_notice") < pol.frequency.rank(None, "marketing")
    assert "marketing" in pol.frequency.capped_categories
    assert "service_notice" not in pol.frequency.capped_categories


def test_advertising_classification_is_conservative() -> None:
    pol = context.load_context(CONFIG).policy
    assert pol.classify(None) is None  # unclassified stays unclassified (R14)
    assert pol.classify(False, invites_booking=True) is True
    assert pol.classify(False, promotion=True) is True
    assert pol.classify(False) is False
    assert pol.classify(True) is True


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ('start = "08:00"', 'start = "8 o\'clock"', "windows.email.start", "not a time"),
        ('end = "19:00"', 'end = "09:00"', "windows.phone.end", "must be after start"),
        ("max_contacts = 4", "max_contacts = -1", "frequency.max_contacts", "negative"),
        ("[windows.sms]", "[windows.fax]", "windows.fax", "unknown channel"),
    ],
)
def test_gate_policy_errors(tmp_path: Path, old: str, new: str, field: str, problem: str) -> None:
    assert old in GATE
    text = GATE.replace(old, new, 1)
    path = write(tmp_path, text, "gate.toml")
    with pytest.raises(ConfigError) as e:
        policy.load(path)
    message = str(e.value)
    assert message.startswith(f"{path}:{line_of(text, new.splitlines()[0])}: {field}: "), message
    assert problem in message
