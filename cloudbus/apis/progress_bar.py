"""The CLI's progress bar: `api.progress` events of the API being waited for, on stderr.

    [############                  ]  42% downloading image

Drawn only for APIs that report progress (`APIMessage.reports_progress`) and only when
stderr is a terminal or `CLOUDBUS_PROGRESS=1` (`CLOUDBUS_PROGRESS=0` turns it off): other
calls subscribe to nothing, so a one-shot query costs what it did. The line is redrawn in
place (`\\r`) and finished with a newline when the reply arrives; stdout keeps the reply only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

from cloudbus.core.messages import APIMessage, Event
from cloudbus.core.progress import EVENT

WIDTH = 30


def wanted(msg: APIMessage, stream: TextIO | None = None) -> bool:
    if not msg.reports_progress:
        return False
    setting = os.environ.get("CLOUDBUS_PROGRESS")
    if setting is not None:
        return setting == "1"
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def line(percent: int, stage: str) -> str:
    filled = WIDTH * percent // 100
    return f"[{'#' * filled}{' ' * (WIDTH - filled)}] {percent:3d}% {stage}"


class Bar:
    """One bar on `stream`, following the events of one API id."""

    def __init__(self, api_id: str, stream: TextIO | None = None) -> None:
        self.api_id = api_id
        self.stream = stream or sys.stderr
        self.drawn = 0  # length of the line on screen (0: nothing drawn)

    async def on_event(self, event: Event) -> None:
        data = event.data
        if data.get("apiId") != self.api_id or not isinstance(data.get("percent"), int):
            return
        self.draw(data["percent"], str(data.get("stage") or ""))

    def draw(self, percent: int, stage: str) -> None:
        text = line(max(0, min(100, percent)), stage)
        pad = " " * max(0, self.drawn - len(text))
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self.drawn = len(text)

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = 0


@contextlib.asynccontextmanager
async def following(bus: Any, msg: APIMessage, api_id: str) -> AsyncIterator[Bar | None]:
    """While the block waits for `api_id`'s reply, draw its progress (when wanted)."""
    if not wanted(msg):
        yield None
        return
    bar = Bar(api_id)
    subscription = await bus.subscribe(EVENT, bar.on_event)
    try:
        yield bar
    finally:
        await subscription.cancel()
        bar.finish()
