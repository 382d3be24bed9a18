"""Static field analysis of Jinja2 templates (outreach.render.analysis): pure, no rendering."""

from __future__ import annotations

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.render.analysis import fields_used, includes


@pytest.mark.parametrize(
    "source,expected",
    [
        ("{{ customer.name_kanji }} 様", {"customer.name_kanji"}),
        ("{{ vehicle.shaken_expiry_on|jdate }}", {"vehicle.shaken_expiry_on"}),
        ("{{ vehicle.shaken_expiry_on.year }}", {"vehicle.shaken_expiry_on"}),
        ("{{ customer.name_kanji.upper() }}", {"customer.name_kanji"}),
        ('{{ customer["email"] }}', {"customer.email"}),
        (
            "{{ policy.expires_on|default(customer.phone) }}",
            {"policy.expires_on", "customer.phone"},
        ),
        ("{% if customer.email is defined %}x{% endif %}", {"customer.email"}),
        ("{{ 'a' if vehicle.color else policy.kind }}", {"vehicle.color", "policy.kind"}),
        # aliases
        ("{% set c = customer %}{{ c.name_kana }}", {"customer.name_kana"}),
        ("{% set e = customer.email %}{{ e }}", {"customer.email"}),
        (
            "{% set a, b = customer.phone, vehicle.color %}{{ a }}{{ b }}",
            {"customer.phone", "vehicle.color"},
        ),
        ("{% with v = vehicle %}{{ v.car_name }}{% endwith %}", {"vehicle.car_name"}),
        (
            "{% for s in campaign.stores %}{{ s.name }}{{ loop.index }}{% endfor %}",
            {"campaign.stores"},
        ),
        # locals, globals and loop specials are not data
        ("{% set n = 3 %}{{ n }}{{ range(2)|list }}{{ loop }}", set()),
        (
            "{% macro m(x) %}{{ x.y }}{% endmacro %}{{ m(customer.name_kanji) }}",
            {"customer.name_kanji"},
        ),
        ("{% set t %}{{ vehicle.car_name }}{% endset %}{{ t }}", {"vehicle.car_name"}),
        (
            '{% from "_base/macros.txt" import insurer_name %}{{ insurer_name(policy.insurer) }}',
            {"policy.insurer"},
        ),
        # presence tests read no field
        (
            "{% if vehicle and vehicle.car_name %}{{ vehicle.car_name }}{% endif %}",
            {"vehicle.car_name"},
        ),
        ("{% if store is defined and not policy %}x{% endif %}", set()),
        # conservative: the whole object when a key is computed or the object is used whole
        ("{{ customer }}", {"customer"}),
        ("{{ customer[key] }}", {"customer", "key"}),
        ("{% for k, v in customer|dictsort %}{{ v }}{% endfor %}", {"customer"}),
        ("{{ customer.items() }}", {"customer.items"}),
        ("{{ sensitive.welcab_needs }}", {"sensitive.welcab_needs"}),
        ("{{ ''.__class__ }}", set()),
    ],
)
def test_fields_used(source: str, expected: set[str]) -> None:
    assert fields_used(source) == frozenset(expected)


def test_loop_variable_does_not_leak_after_the_loop() -> None:
    src = "{% for customer in campaign.stores %}{% endfor %}{{ customer.email }}"
    assert fields_used(src) == {"campaign.stores", "customer.email"}


def test_includes_and_dynamic_includes() -> None:
    assert includes('{% include "_base/footer.txt" %}{% extends "_base/layout.html" %}') == (
        "_base/footer.txt",
        "_base/layout.html",
    ) or set(includes('{% include "_base/footer.txt" %}')) == {"_base/footer.txt"}
    assert None in includes("{% include customer.name_kanji %}")


def test_syntax_error_is_raised() -> None:
    with pytest.raises(jinja2.TemplateSyntaxError):
        fields_used("{% if %}")


ROOTS = st.sampled_from(["customer", "vehicle", "policy", "store", "dealer", "campaign", "message"])
ATTRS = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True).filter(
    lambda a: a not in {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none"}
)


@st.composite
def fragments(draw: st.DrawFn) -> tuple[str, str]:
    """A template fragment that reads one field, in one of several syntactic shapes."""
    root, attr = draw(ROOTS), draw(ATTRS)
    tail = draw(st.sampled_from(["", ".year", ".upper()", "|jdate", "|default('')"]))
    alias = f"a_{draw(st.integers(0, 999))}"
    shape = draw(st.sampled_from(["plain", "set", "item", "if", "for", "with", "macro"]))
    text = {
        "plain": f"{{{{ {root}.{attr}{tail} }}}}",
        "set": f"{{% set {alias} = {root} %}}{{{{ {alias}.{attr}{tail} }}}}",
        "item": f'{{{{ {root}["{attr}"]{tail} }}}}',
        "if": f"{{% if {root} and {root}.{attr} %}}x{{% endif %}}",
        "for": f"{{% for {alias} in [1] %}}{{{{ {root}.{attr}{tail} }}}}{{% endfor %}}",
        "with": f"{{% with {alias} = {root}.{attr} %}}{{{{ {alias}{tail} }}}}{{% endwith %}}",
        "macro": f"{{% macro m_{alias}(p) %}}{{{{ p }}}}{{% endmacro %}}"
        + f"{{{{ m_{alias}({root}.{attr}) }}}}",
    }[shape]
    return text, f"{root}.{attr}"


@settings(deadline=None)  # the machine is shared: time is not the property
@given(st.lists(fragments(), min_size=1, max_size=8), st.text("あいう 髙﨑\n", max_size=5))
def test_any_composition_reports_exactly_its_fields(
    parts: list[tuple[str, str]], filler: str
) -> None:
    source = filler.join(text for text, _ in parts)
    assert fields_used(source) == frozenset(field for _, field in parts)


class Recorder:
    """A template variable that records every attribute or key read through it."""

    def __init__(self, root: str, log: set[str]) -> None:
        self._root, self._log = root, log

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        self._log.add(f"{self._root}.{name}")
        return "値"

    def __getitem__(self, key: str) -> str:
        self._log.add(f"{self._root}.{key}")
        return "値"


@st.composite
def renderable(draw: st.DrawFn) -> str:
    root, attr = draw(ROOTS), draw(ATTRS)
    tail = draw(st.sampled_from(["", ".upper()", "|default('')", "|length"]))
    alias = f"a_{draw(st.integers(0, 999))}"
    return draw(
        st.sampled_from(
            [
                f"{{{{ {root}.{attr}{tail} }}}}",
                f"{{% set {alias} = {root} %}}{{{{ {alias}.{attr}{tail} }}}}",
                f'{{% set {alias} = {root} %}}{{{{ {alias}["{attr}"] }}}}',
                f"{{% if {root} and {root}.{attr} %}}x{{% endif %}}",
                f"{{% with {alias} = {root}.{attr} %}}{{{{ {alias}{tail} }}}}{{% endwith %}}",
                f"{{% for {alias} in [{root}.{attr}] %}}{{{{ {alias}{tail} }}}}{{% endfor %}}",
                f"{{{{ '' if {root}.{attr} else {root} }}}}",
            ]
        )
    )


@settings(deadline=None)  # the machine is shared: time is not the property
@given(st.lists(renderable(), min_size=1, max_size=6))
def test_static_fields_cover_every_field_read_at_render_time(parts: list[str]) -> None:
    """Soundness: whatever a render actually reads, the analysis reported beforehand."""
    from outreach.render import environment

    source = "\n".join(parts)
    log: set[str] = set()
    roots = ("customer", "vehicle", "policy", "store", "dealer", "campaign", "message")
    ctx = {r: Recorder(r, log) for r in roots}
    environment.Renderer(environment.make(None)).render_string(source, ctx)
    assert log  # every shape reads something: the recorder works
    assert log <= fields_used(source)


def test_a_namespace_attribute_holding_data_counts_as_read_whole() -> None:
    src = "{% set ns = namespace(v=none) %}{% set ns.v = customer %}{{ ns.v.birth_date }}"
    assert fields_used(src) == {"customer"}
    one = "{% set ns = namespace(v=none) %}{% set ns.v = customer.name_kanji %}{{ ns.v }}"
    assert fields_used(one) == {"customer.name_kanji"}
