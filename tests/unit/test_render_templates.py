"""Mail templates: the shipped catalogue loads and renders; rule-breaking templates are refused
at load and at save with the template and the variable named."""

from __future__ import annotations

import datetime as dt
import shutil
import tomllib
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from outreach.errors import ConfigError
from outreach.gate import purposes
from outreach.render import dealer, environment, templates

REPO = Path(__file__).resolve().parents[2]
MAIL = REPO / "templates" / "mail"
JST = ZoneInfo("Asia/Tokyo")


@pytest.fixture(scope="module")
def registry() -> purposes.Registry:
    return purposes.load(REPO / "config" / "purposes.toml")


@pytest.fixture(scope="module")
def catalog(registry: purposes.Registry) -> templates.Catalog:
    return templates.load(MAIL, registry)


@pytest.fixture
def renderer() -> environment.Renderer:
    return environment.Renderer(environment.make(MAIL))


def context(**over: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "customer": NS(name_kanji="髙橋 太郎", name_kana="タカハシ タロウ", phone="090-0000-0000"),
        "vehicle": NS(
            car_name="LEXUS RX",
            registration_number="練馬 300 あ 12-34",
            shaken_expiry_on=dt.date(2027, 2, 28),
            last_inspection_on=dt.date(2026, 1, 10),
            first_registered_on=dt.date(2024, 1, 31),
        ),
        "policy": NS(
            insurer="aioi_nissay_dowa",
            expires_on=dt.date(2027, 1, 5),
            expires_at=dt.datetime(2027, 1, 5, 12, 0, tzinfo=JST),
        ),
        "store": NS(name="LEXUS 練馬", phone="03-0000-0000", address="東京都練馬区"),
        "dealer": dealer.load(REPO / "config" / "dealer.toml").view(),
        "campaign": NS(name="冬タイヤ交換キャンペーン"),
        "message": NS(
            id=1,
            message_id="<1.ab@mail.example.jp>",
            optout_url="https://dealer.example.jp/u/TOKEN",
            preferences_url="https://dealer.example.jp/preferences/TOKEN",
            advertising=True,
        ),
    }
    ctx.update(over)
    return ctx


# -- the shipped catalogue -----------------------------------------------------------------


def test_every_reminder_template_named_in_reminders_toml_exists(
    catalog: templates.Catalog,
) -> None:
    rules = tomllib.loads((REPO / "config" / "reminders.toml").read_text(encoding="utf-8"))
    for kind, spec in rules["kinds"].items():
        for stage in spec["stages"]:
            for channel, name in stage["templates"].items():
                t = catalog.get(name)
                assert channel in t.channels, (name, channel)
                assert t.meta.purpose == rules["purpose"]
                assert t.meta.kind == kind
                assert t.meta.advertising == stage["advertising"], name  # R14 agrees


def test_campaign_examples_are_advertising_under_purpose_3(catalog: templates.Catalog) -> None:
    for name in ("campaign_new_model_event", "campaign_winter_tires"):
        t = catalog.get(name)
        assert (t.meta.purpose, t.meta.advertising, t.meta.stream) == ("p3", True, "campaign")


def test_every_template_renders_in_every_channel(
    catalog: templates.Catalog, renderer: environment.Renderer
) -> None:
    ctx = context()
    for t in catalog.templates.values():
        if "email" in t.channels:
            out = templates.render_email(renderer, t, ctx)
            assert out.subject and "\n" not in out.subject
            assert "髙橋 太郎 様" in out.text
            assert out.html is not None and "髙橋 太郎 様" in out.html
            # The sender display is the composer's (test_render_compose), not the template's.
            assert "配信停止" not in out.text, t.name
        for channel in ("post", "phone"):
            if channel in t.channels:
                assert "髙橋 太郎" in templates.render_channel(renderer, t, channel, ctx)


def test_first_shaken_stage_does_not_invite_booking(
    catalog: templates.Catalog, renderer: environment.Renderer
) -> None:
    """R31: three months out, the notice explains the window and does not ask to book."""
    out = templates.render_email(renderer, catalog.get("reminder_shaken_1"), context())
    assert "2026年12月28日(月)" in out.text  # 2027-02-28 minus two months
    assert "ご予約ください" not in out.text and "ご予約ください" not in (out.html or "")
    assert not catalog.get("reminder_shaken_1").meta.advertising


def test_html_escapes_customer_data(
    catalog: templates.Catalog, renderer: environment.Renderer
) -> None:
    ctx = context(customer=NS(name_kanji="<script>x</script>", name_kana="", phone=""))
    out = templates.render_email(renderer, catalog.get("campaign_winter_tires"), ctx)
    assert "<script>" not in (out.html or "") and "&lt;script&gt;" in (out.html or "")


def test_missing_store_is_fine_but_missing_customer_data_is_an_error(
    catalog: templates.Catalog, renderer: environment.Renderer
) -> None:
    out = templates.render_email(
        renderer, catalog.get("campaign_new_model_event"), context(store=None, vehicle=None)
    )
    assert "LEXUS 練馬" not in out.text
    with pytest.raises(
        environment.RenderError, match=r"reminder_shaken_2/subject\.txt.*shaken_expiry_on"
    ):
        templates.render_email(
            renderer, catalog.get("reminder_shaken_2"), context(vehicle=NS(plate="x"))
        )


def test_items_and_hash(catalog: templates.Catalog) -> None:
    t = catalog.get("reminder_shaken_2")
    assert t.items_for("email") == {
        "name",
        "vehicle",
        "registration_number",
        "inspection_certificate",
    }
    assert "_base/layout.html" in t.includes and "_base/footer.txt" not in t.includes
    assert len(t.hash) == 64 and t.version == "reminder_shaken_2@v1"
    assert len({x.hash for x in catalog.templates.values()}) == len(catalog.templates)


# -- refusals ------------------------------------------------------------------------------


def make(tmp_path: Path, name: str, meta: str, **files: str) -> Path:
    mail = tmp_path / "mail"
    if not mail.exists():
        shutil.copytree(MAIL / "_base", mail / "_base")
    folder = mail / name
    folder.mkdir(parents=True)
    (folder / "meta.toml").write_text(meta, encoding="utf-8")
    for fname, text in files.items():
        (folder / fname.replace("_", ".", 1)).write_text(text, encoding="utf-8")
    return mail


AD = 'purpose = "p3"\nadvertising = true\nstream = "campaign"\n'
NOTICE = 'purpose = "p2"\nadvertising = false\nstream = "reminder"\n'
FOOT_T = '{% include "_base/footer.txt" %}'
FOOT_H = '{% include "_base/footer.html" %}'


def refused(mail: Path, name: str, registry: purposes.Registry) -> str:
    with pytest.raises(templates.TemplateRefused) as e:
        templates.load_one(mail, name, registry)
    assert e.value.template == name
    return str(e.value)


def test_advertising_template_needs_no_footer_of_its_own(
    tmp_path: Path, registry: purposes.Registry
) -> None:
    """The sender display is added by the composer to every mail (R19): a template with no
    footer, or one whose footer sits in a branch that never renders, is accepted."""
    mail = make(
        tmp_path,
        "c1",
        AD,
        subject_txt="ご案内",
        body_txt="{{ customer.name_kanji }} 様{% if false %}" + FOOT_T + "{% endif %}",
        body_html="<p>{{ customer.name_kanji }}</p>",
    )
    assert templates.load_one(mail, "c1", registry).meta.advertising


def test_every_shipped_template_says_why_it_is_or_is_not_advertising(
    catalog: templates.Catalog,
) -> None:
    for t in catalog.templates.values():
        assert len(t.meta.advertising_reason) > 10, t.name
        assert ("広告" in t.meta.advertising_reason) or not t.meta.advertising, t.name


def test_non_advertising_notice_needs_no_footer(
    tmp_path: Path, registry: purposes.Registry
) -> None:
    mail = make(tmp_path, "n1", NOTICE, subject_txt="x", body_txt="{{ vehicle.shaken_expiry_on }}")
    assert templates.load_one(mail, "n1", registry).items_for("email") == {"inspection_certificate"}


def test_data_item_outside_the_purpose_is_refused_naming_the_variable(
    tmp_path: Path, registry: purposes.Registry
) -> None:
    # 生年月日 is an item of purpose (3) but not of (2).
    mail = make(
        tmp_path, "n2", NOTICE, subject_txt="x", body_txt="{% set b = customer.birth_date %}{{ b }}"
    )
    msg = refused(mail, "n2", registry)
    assert "body.txt" in msg and "customer.birth_date" in msg and "p2" in msg and "生年月日" in msg


def test_insurance_data_is_refused_in_a_campaign(
    tmp_path: Path, registry: purposes.Registry
) -> None:
    mail = make(tmp_path, "c3", AD, subject_txt="{{ policy.insurer }}", body_txt=FOOT_T)
    msg = refused(mail, "c3", registry)
    assert "subject.txt" in msg and "policy.insurer" in msg


def test_sensitive_fields_are_always_refused(tmp_path: Path, registry: purposes.Registry) -> None:
    mail = make(
        tmp_path,
        "c4",
        AD,
        subject_txt="x",
        body_txt=FOOT_T + "{% if sensitive.welcab_needs %}福祉車両{% endif %}",
    )
    msg = refused(mail, "c4", registry)
    assert "sensitive.welcab_needs" in msg and "要配慮個人情報" in msg


@pytest.mark.parametrize(
    "body,needle",
    [
        ("{{ customer }}", "customer 全体"),
        ("{{ customer.favourite_colour }}", "customer.favourite_colour"),
        ("{{ dealer.bank_account }}", "dealer.bank_account"),
        ("{{ secrets.key }}", "secrets.key"),
        ("{% include customer.name_kanji %}", "固定の文字列"),
        ('{% include "_base/missing.txt" %}', "_base/missing.txt"),
        ("{% if %}", "構文エラー"),
    ],
)
def test_unknown_or_unresolvable_references_are_refused(
    tmp_path: Path, registry: purposes.Registry, body: str, needle: str
) -> None:
    mail = make(tmp_path, "n3", NOTICE, subject_txt="x", body_txt=body)
    assert needle in refused(mail, "n3", registry)


@pytest.mark.parametrize(
    "meta,needle",
    [
        ('purpose = "p2"\nstream = "reminder"\n', "R14"),  # unclassified
        ('purpose = "p9"\nadvertising = false\nstream = "reminder"\n', "p9"),
        ('purpose = "p2"\nadvertising = false\nstream = "news"\n', "stream"),
        ('purpose = "p2"\nadvertising = "yes"\nstream = "reminder"\n', "advertising"),
        ('purpose = "p2"\nadvertising = false\nstream = "reminder"\ncolour = 1\n', "colour"),
    ],
)
def test_bad_meta_is_refused(
    tmp_path: Path, registry: purposes.Registry, meta: str, needle: str
) -> None:
    mail = make(tmp_path, "m1", meta, subject_txt="x", body_txt="y")
    assert needle in refused(mail, "m1", registry)


def test_channel_outside_the_purpose_is_refused(registry: purposes.Registry) -> None:
    meta = templates.Meta(
        purpose="p5", advertising=False, stream="reminder"
    )  # (5) 与信: no channel
    with pytest.raises(templates.TemplateRefused, match="post"):
        templates.check("x", meta, {"post.txt": "{{ customer.name_kanji }}"}, registry, _no_include)


def _no_include(name: str) -> str:
    raise FileNotFoundError(name)


def test_check_at_save_time_for_a_campaign_text(registry: purposes.Registry) -> None:
    """The console saves a campaign's text through the same check, includes read from disk."""
    meta = templates.Meta(purpose="p3", advertising=True, stream="campaign")
    ok = templates.check(
        "campaign:12",
        meta,
        {"subject.txt": "ご案内", "body.txt": "{{ customer.name_kanji }}" + FOOT_T},
        registry,
        templates.file_loader(MAIL),
    )
    assert ok.items_for("email") == {"name"}
    with pytest.raises(templates.TemplateRefused, match="birth_date"):
        templates.check(
            "campaign:12",
            templates.Meta(purpose="p2", advertising=True, stream="campaign"),
            {"subject.txt": "ご案内", "body.txt": "{{ customer.birth_date }}"},
            registry,
            templates.file_loader(MAIL),
        )


def test_hash_follows_included_sources(tmp_path: Path, registry: purposes.Registry) -> None:
    mail = make(tmp_path, "c5", AD, subject_txt="x", body_txt=FOOT_T)
    before = templates.load_one(mail, "c5", registry).hash
    footer = mail / "_base" / "footer.txt"
    footer.write_text(footer.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert templates.load_one(mail, "c5", registry).hash != before


def test_include_outside_the_template_folder_is_refused(tmp_path: Path) -> None:
    read = templates.file_loader(MAIL)
    with pytest.raises(Exception, match="passwd"):
        read("../../../../etc/passwd")


def test_dealer_config_requires_the_legal_fields(tmp_path: Path) -> None:
    text = (REPO / "config" / "dealer.toml").read_text(encoding="utf-8")
    broken = tmp_path / "dealer.toml"
    broken.write_text(text.replace('contact_phone = "03-5945-0121"', ""), encoding="utf-8")
    with pytest.raises(ConfigError, match="contact_phone"):
        dealer.load(broken)


def test_unknown_filter_is_found_at_load_not_at_send(
    tmp_path: Path, registry: purposes.Registry
) -> None:
    mail = make(tmp_path, "n4", NOTICE, subject_txt="x", body_txt="{{ customer.name_kanji|shout }}")
    msg = refused(mail, "n4", registry)
    assert "body.txt" in msg and "shout" in msg


def test_save_time_check_with_the_renderer(
    registry: purposes.Registry, renderer: environment.Renderer
) -> None:
    meta = templates.Meta(purpose="p3", advertising=True, stream="campaign")
    # Statically fine, but a name is not a date: found when saving, not when sending.
    body = "{{ customer.name_kanji|jdate }}" + FOOT_T
    sources = {"subject.txt": "{{ campaign.name }}", "body.txt": body}
    with pytest.raises(templates.TemplateRefused, match="サンプルデータで表示できません"):
        templates.check(
            "campaign:3", meta, sources, registry, templates.file_loader(MAIL), renderer
        )


def test_subject_is_one_line_and_keeps_full_width_spaces(
    tmp_path: Path, registry: purposes.Registry, renderer: environment.Renderer
) -> None:
    mail = make(tmp_path, "n5", NOTICE, subject_txt="【LEXUS】　車検の\n  ご案内 \n", body_txt="x")
    t = templates.load_one(mail, "n5", registry)
    assert templates.render_email(renderer, t, context()).subject == "【LEXUS】　車検の ご案内"


def test_post_and_phone_forms_encode_in_cp932_for_print_vendors(
    catalog: templates.Catalog, renderer: environment.Renderer
) -> None:
    """config/reminders.toml may ask for CP932 print files: the templates' own text (and
    names like 髙橋, which CP932 has) must encode; 〜 (U+301C) and ― would not."""
    ctx = context()
    for t in catalog.templates.values():
        for channel in ("post", "phone"):
            if channel in t.channels:
                templates.render_channel(renderer, t, channel, ctx).encode("cp932")
