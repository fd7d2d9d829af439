"""Bounded waits: every wait on a driver, the broker or another service has a timeout.

`bounded(coro, seconds, what)` waits at most `seconds` — and never past the deadline of
the message being handled — then fails with SYS.1001 naming what it waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from cloudbus.core import errors
from cloudbus.core.bus.base import current_deadline

T = TypeVar("T")


def remaining(seconds: float) -> float:
    deadline = current_deadline.get()
    if deadline is None:
        return seconds
    return max(min(seconds, deadline - time.time()), 0.0)


async def bounded(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    limit = remaining(seconds)
    try:
        return await asyncio.wait_for(awaitable, limit)
    except TimeoutError:
        raise errors.fail(errors.TIMEOUT, f"{what} timeout after {limit:g} seconds") from None
