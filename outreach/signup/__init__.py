"""Consent coming in: the sign-up form (public, and on the showroom tablet), the double
opt-in confirmation mail, and the evidence the 特定電子メール法 asks for (R16, R17) recorded
in the consent ledger when the link is followed."""
