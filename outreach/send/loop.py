"""The event loop the outbox worker runs on: uvloop where it is installed (it is a
dependency, for uvicorn, except on Windows), else asyncio's own.

The worker's time goes to many small socket writes and reads (four SMTP commands per
message) and the tasks around them; uvloop runs those in C. Nothing in the worker depends
on which loop it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None (asyncio's default loop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is not installed on Windows
        return None
    new: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new
