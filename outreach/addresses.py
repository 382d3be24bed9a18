"""How email addresses are compared for suppression (hard bounces, complaints).

An address is compared in one canonical form, `normalise(address)`:

- surrounding whitespace and angle brackets are dropped (`<Taro@Example.JP>`);
- trailing dots of the domain are dropped (`taro@example.jp.` is the same mailbox: a
  fully-qualified domain written with its root label);
- the whole address is lower-cased. The domain part is case-insensitive (RFC 5321 §2.4);
  the local part is case-sensitive in principle, but no mailbox provider our customers use
  treats it so, and for a suppression list the safe error is to match too much, not too
  little (a bounce from `Taro@…` must stop mail to `taro@…`).

The suppression table stores this form; SQL that matches a customer's stored address against
it uses `sql_normalised(column)`, the same rules in SQL (`lower`, `trim`, `rtrim(…, '.')`,
which SQLite and PostgreSQL both have).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func


def normalise(address: str) -> str:
    """The canonical form of `address` for suppression matching (see the module docstring)."""
    a = address.strip().strip("<>").strip()
    return a.rstrip(".").lower()


def sql_normalised(column: Any) -> Any:
    """`normalise` as a SQL expression over a column holding an address."""
    return func.rtrim(func.lower(func.trim(column)), ".")
