"""Rendering a checked template: the email (subject, text, HTML) or the post/phone form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from outreach.errors import NotFound
from outreach.render import environment
from outreach.render.templates.model import MailTemplate, Rendered

_BLANKS = re.compile(r"[ \t\r\n\v\f]+")


def render_email(
    renderer: environment.Renderer, tmpl: MailTemplate, context: Mapping[str, Any]
) -> Rendered:
    """Subject (one line, whitespace collapsed), text part and HTML part if any."""
    if "body.txt" not in tmpl.sources:
        raise NotFound(f"template {tmpl.name} has no email form")
    # One line: line breaks and runs of ASCII blanks become one space; a full-width space
    # (U+3000), which Japanese subjects use on purpose, is kept.
    subject = _BLANKS.sub(" ", _render(renderer, tmpl, "subject.txt", context)).strip(" ")
    text = _render(renderer, tmpl, "body.txt", context)
    html = _render(renderer, tmpl, "body.html", context) if "body.html" in tmpl.sources else None
    return Rendered(subject, text, html)


def render_channel(
    renderer: environment.Renderer, tmpl: MailTemplate, channel: str, context: Mapping[str, Any]
) -> str:
    """The post letter (`post`) or the call-script line (`phone`)."""
    fname = {"post": "post.txt", "phone": "phone.txt"}.get(channel)
    if fname is None or fname not in tmpl.sources:
        raise NotFound(f"template {tmpl.name} has no {channel} form")
    return _render(renderer, tmpl, fname, context)


def _render(
    renderer: environment.Renderer, tmpl: MailTemplate, fname: str, context: Mapping[str, Any]
) -> str:
    # Render the checked source (not the file as it may be now) so what was checked is sent.
    return renderer.render_string(
        tmpl.sources[fname], context, html=fname.endswith(".html"), label=f"{tmpl.name}/{fname}"
    )
