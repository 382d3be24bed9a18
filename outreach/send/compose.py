"""Moved to `outreach.render.compose` (composing a message is a render step)."""

from outreach.render.compose import TemplateComposer, from_settings, message_domain

__all__ = ["TemplateComposer", "from_settings", "message_domain"]
