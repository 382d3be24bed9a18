"""Opt-out links: tokens, the opt-out service the web pages and the mailto ingest call."""
