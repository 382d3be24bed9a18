"""The Jinja2 sandbox that renders staff-editable mail templates.

`ImmutableSandboxedEnvironment`: templates reach only the data they are given, never
attributes beginning with `_`, never Python internals, and cannot mutate lists or dicts;
`{{ customer.__class__ }}` raises `SecurityError`. `StrictUndefined`: a misspelt or missing
variable is an error, never an empty string in a customer's mail. HTML templates (`.html`)
autoescape; text templates do not. Compiled templates are cached (compiling costs ~90× a
render): file templates by Jinja2's own cache, string templates (campaigns stored in the
database) by their source text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from outreach.errors import OutreachError
from outreach.render import dates

STRING_CACHE_SIZE = 512


class RenderError(OutreachError):
    """A template failed to render (undefined variable, sandbox violation, bad value)."""

    exit_code = 1


class MailSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with a fast path for the data views templates are given.

    A `SimpleNamespace` holds nothing but its own data attributes (no public methods), so a
    public attribute of one can be returned without the general safety checks, which cost
    ~5 µs per lookup and dominate a render. Everything else takes the full sandbox path.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is SimpleNamespace and not attribute.startswith("_"):
            try:
                return obj.__dict__[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def make(mail_dir: Path | None) -> ImmutableSandboxedEnvironment:
    """The sandbox for mail templates rooted at `mail_dir` (so `_base/footer.txt` resolves)."""
    env = MailSandbox(
        loader=jinja2.FileSystemLoader(str(mail_dir)) if mail_dir is not None else None,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update({name: _strict(f) for name, f in dates.FILTERS.items()})
    return env


def _strict(f: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that reports an undefined input as the undefined variable it is."""

    def call(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined raises UndefinedError naming the variable
        return f(value, *args, **kwargs)

    return call


class Renderer:
    """Renders file templates and string templates through one sandbox, compiled once."""

    def __init__(self, env: ImmutableSandboxedEnvironment) -> None:
        self.env = env
        self._strings: dict[tuple[str, bool], jinja2.Template] = {}

    def template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound as e:
            raise RenderError(f"template {name} not found") from e
        except jinja2.TemplateSyntaxError as e:
            raise RenderError(f"template {name}, line {e.lineno}: syntax error: {e.message}") from e

    def compile_string(self, source: str, *, html: bool = False) -> jinja2.Template:
        key = (source, html)
        found = self._strings.get(key)
        if found is None:
            if len(self._strings) >= STRING_CACHE_SIZE:
                self._strings.clear()
            # Compiled under a name ending .html / .txt so autoescape follows the same rule
            # as for files (and `{% extends %}` still works at the top level).
            name = "<string>.html" if html else "<string>.txt"
            code = self.env.compile(source, name=name)
            # The globals as a plain dict, not Jinja's ChainMap over env.globals: each render
            # walks them twice (~30 us a message here); the mail sandbox's globals are
            # fixed once `make` returns.
            found = self.env.template_class.from_code(
                self.env, code, dict(self.env.make_globals(None)), None
            )
            self._strings[key] = found
        return found

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.render_template(self.template(name), context, label=name)

    def render_string(
        self,
        source: str,
        context: Mapping[str, Any],
        *,
        html: bool = False,
        label: str = "(string)",
    ) -> str:
        try:
            tmpl = self.compile_string(source, html=html)
        except jinja2.TemplateSyntaxError as e:
            raise RenderError(
                f"template {label}, line {e.lineno}: syntax error: {e.message}"
            ) from e
        return self.render_template(tmpl, context, label=label)

    @staticmethod
    def render_template(tmpl: jinja2.Template, context: Mapping[str, Any], *, label: str) -> str:
        try:
            return tmpl.render(context)
        except jinja2.exceptions.SecurityError as e:
            raise RenderError(f"template {label}: refused by the sandbox: {e}") from e
        except jinja2.UndefinedError as e:
            raise RenderError(f"template {label}: undefined: {e.message}") from e
        except (TypeError, ValueError, AttributeError, LookupError) as e:
            raise RenderError(f"template {label}: cannot render a value: {e}") from e
        except jinja2.TemplateError as e:  # e.g. a filter's bad arguments, a failed include
            raise RenderError(f"template {label}: {e}") from e
