"""outreach: consent- and purpose-gated reminders and campaigns for a Japanese car dealer.

Nothing happens at import: no settings are read, no engine is built. The composition
root is `outreach.bootstrap`.
"""

__version__ = "0.1.0"
