"""Retention (R13): what is past its period goes, the evidence §E keeps stays."""
