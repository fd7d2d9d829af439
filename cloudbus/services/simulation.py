"""What every simulator driver shares: a command log and fault injection.

A simulator records each command it is given (`commands`, with start and finish times)
and can be told to fail or delay a named command for one resource or all, once or always:

    sim.fail("connect", uuid=host_uuid)          # the next connect of that host fails
    sim.delay("download", 2.0, times=None)       # every download takes 2 s

A command may concern two resources (a VM on a host, a volume on a host's local disk):
a fault set for either matches.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from cloudbus.core import errors


@dataclass
class Fault:
    command: str
    uuid: str | None
    times: int | None  # None = forever
    details: str | None = None
    delay: float = 0.0


@dataclass
class Command:
    command: str
    uuid: str
    args: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None


class Recorder:
    kind = "resource"  # what the uuid of a command names, for error messages

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.faults: list[Fault] = []

    def fail(self, command: str, *, uuid: str | None = None, times: int | None = 1, details: str | None = None) -> None:
        self.faults.append(Fault(command, uuid, times, details or f"simulated failure of command[{command}]"))

    def delay(self, command: str, seconds: float, *, uuid: str | None = None, times: int | None = 1) -> None:
        self.faults.append(Fault(command, uuid, times, None, seconds))

    def clear(self) -> None:
        self.faults.clear()
        self.commands.clear()

    def issued(self, command: str, uuid: str | None = None) -> list[Command]:
        return [c for c in self.commands if c.command == command and (uuid is None or c.uuid == uuid)]

    async def _run(
        self, command: str, uuid: str, *, also: str | None = None, kind: str | None = None, **args: Any
    ) -> None:
        """Record `command` on `uuid`; apply the first matching delay/failure (for `uuid` or `also`)."""
        record = Command(command, uuid, args)
        self.commands.append(record)
        try:
            await self._apply_faults(command, uuid, also, kind or self.kind)
        finally:
            record.finished = time.monotonic()

    async def _apply_faults(self, command: str, uuid: str, also: str | None, kind: str) -> None:
        for fault in list(self.faults):
            if fault.command != command or fault.uuid not in (None, uuid, also):
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.details is not None:
                about = f" (resource[uuid:{also}])" if also else ""
                raise errors.operation_error(f"{fault.details} on {kind}[uuid:{uuid}]{about}")
