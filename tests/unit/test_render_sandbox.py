"""The sandboxed renderer: no escape to Python internals, undefined is an error, HTML escaped."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from outreach.render import environment

CTX = {
    "customer": SimpleNamespace(name_kanji="髙橋 <太郎> & 山﨑", email="t@example.jp"),
    "vehicle": SimpleNamespace(car_name="LEXUS RX", tags=["a"]),
}


@pytest.fixture
def renderer(tmp_path: Path) -> environment.Renderer:
    (tmp_path / "page.html").write_text("<p>{{ customer.name_kanji }}</p>", encoding="utf-8")
    (tmp_path / "page.txt").write_text("{{ customer.name_kanji }}", encoding="utf-8")
    return environment.Renderer(environment.make(tmp_path))


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ customer.__dict__ }}",
        "{{ vehicle.tags.append('x') }}",  # immutable sandbox: no mutation of given data
        "{{ customer.name_kanji.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_escapes_raise_security_error(renderer: environment.Renderer, source: str) -> None:
    tmpl = renderer.compile_string(source)
    with pytest.raises(SecurityError):
        tmpl.render(CTX)
    with pytest.raises(environment.RenderError) as e:
        renderer.render_string(source, CTX)
    assert isinstance(e.value.__cause__, SecurityError)


@pytest.mark.parametrize(
    "source", ["{{ customer.nickname }}", "{{ campaign.name }}", "{{ undefined_thing }}"]
)
def test_undefined_variables_are_errors(renderer: environment.Renderer, source: str) -> None:
    with pytest.raises(UndefinedError):
        renderer.compile_string(source).render(CTX)
    with pytest.raises(environment.RenderError, match="undefined"):
        renderer.render_string(source, CTX)


def test_html_is_autoescaped_and_text_is_not(renderer: environment.Renderer) -> None:
    assert renderer.render("page.html", CTX) == "<p>髙橋 &lt;太郎&gt; &amp; 山﨑</p>"
    assert renderer.render("page.txt", CTX) == "髙橋 <太郎> & 山﨑"
    src = "<b>{{ customer.name_kanji }}</b>"
    assert renderer.render_string(src, CTX, html=True) == "<b>髙橋 &lt;太郎&gt; &amp; 山﨑</b>"
    assert renderer.render_string(src, CTX) == "<b>髙橋 <太郎> & 山﨑</b>"


def test_string_templates_are_compiled_once(renderer: environment.Renderer) -> None:
    a = renderer.compile_string("{{ customer.email }}")
    assert renderer.compile_string("{{ customer.email }}") is a
    assert renderer.compile_string("{{ customer.email }}", html=True) is not a
    assert renderer.template("page.txt") is renderer.template("page.txt")


def test_syntax_and_missing_templates_are_render_errors(renderer: environment.Renderer) -> None:
    with pytest.raises(environment.RenderError, match="line 1"):
        renderer.render_string("{% if %}", CTX)
    with pytest.raises(environment.RenderError, match="not found"):
        renderer.render("nope.txt", CTX)


def test_japanese_date_filters_are_installed(renderer: environment.Renderer) -> None:
    import datetime as dt

    ctx = {"d": dt.date(2026, 12, 1)}
    out = renderer.render_string("{{ d|jdate }} {{ d|wareki }} {{ d|months_before(2)|jdate }}", ctx)
    assert out == "2026年12月1日(火) 令和8年12月1日 2026年10月1日(木)"
