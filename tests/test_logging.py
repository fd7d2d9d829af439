"""Logs: one JSON event per line in server mode, carrying message id and resource uuid."""

from __future__ import annotations

import io
import json

from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import configure, get_logger
from cloudbus.core.messages import Message
from cloudbus.core.service import Service, handles

log = get_logger("test")


class Poke(Message):
    service_id = "poker"
    resource_field = "uuid"
    uuid: str


class Poker(Service):
    service_id = "poker"

    @handles(Poke)
    async def poke(self, msg: Poke) -> None:
        log.info("poked")


async def test_json_lines_carry_message_and_resource() -> None:
    stream = io.StringIO()
    configure(json=True, stream=stream)
    try:
        uuid = new_uuid()
        reply = await Poker(node=object()).handle(Poke(uuid=uuid), "m-1")
        assert reply.success
    finally:
        configure()
    [line] = [json.loads(raw) for raw in stream.getvalue().splitlines() if "poked" in raw]
    assert line["event"] == "poked"
    assert (line["msg_id"], line["resource_uuid"], line["msg"], line["service"]) == ("m-1", uuid, "Poke", "poker")
    assert line["level"] == "info" and "timestamp" in line
