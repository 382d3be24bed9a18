"""What the mailbox providers say coming back: bounces (RFC 3464 DSN), complaints (RFC 5965
ARF, Yahoo's CFL) and DMARC aggregate reports (RFC 7489), read from a Maildir or IMAP.

The parsers (`dsn`, `arf`, `dmarc`, `reports`) are pure: bytes in, frozen values out. `ingest`
applies them to the database; `rates` and `summary` read back what was recorded.
"""
