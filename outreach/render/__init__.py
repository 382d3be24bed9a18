"""Rendering: the Jinja2 sandbox, static data-item analysis of templates, Japanese dates,
template discovery and load-time checks, the fast MIME writer and DKIM signing.

Import the modules (`from outreach.render import analysis, message`); nothing is
re-exported here and nothing runs at import.
"""
