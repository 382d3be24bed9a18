"""Provision and receipt records (APPI Art. 29/30, R5): what went out, what came in."""
