"""Moved to `outreach.render.maildata` (loading a message's template data is a render step)."""

from outreach.render.maildata import MessageData, Row, email_bases, load, recipient

__all__ = ["MessageData", "Row", "email_bases", "load", "recipient"]
