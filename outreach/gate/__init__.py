"""The consent and purpose gate: registry, rules, decisions, consent ledger.

Nothing reaches the outbox or the sender except through `decision.Permit`, which only the
gate constructs.
"""
