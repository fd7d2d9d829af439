"""`cloudbus server`: run one management node on RabbitMQ until SIGINT or SIGTERM.

    CLOUDBUS_BUS_URL=amqp://guest:guest@127.0.0.1/ \\
    CLOUDBUS_DB_URL=postgresql://postgres@127.0.0.1/cloudbus  cloudbus server

Environment (see also cloudbus.core.config):

- `CLOUDBUS_BUS_URL` (required): the broker; several servers on one broker and one
  database form one cloud and share the work of every service.
- `CLOUDBUS_BUS_NAMESPACE` (default `cloudbus`): prefix of every queue and exchange, so
  several clouds (or test runs) can share a broker; clients must use the same one.
- `CLOUDBUS_DB_URL`: the database (PostgreSQL for more than one server).
- `CLOUDBUS_LOG_LEVEL` (default INFO). Logs are JSON, one event per line, on stderr.
- `CLOUDBUS_HEARTBEAT_INTERVAL` / `CLOUDBUS_HEARTBEAT_MISSES`: see cloudbus.core.config.

API clients reach the node through the broker only (docs/wire-protocol.md). Exit status:
0 after a graceful stop, 1 if the node could not start, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

from cloudbus.core.config import Settings
from cloudbus.core.logging import configure, get_logger

if TYPE_CHECKING:
    from cloudbus.node import ManagementNode

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = get_logger("cloudbus.server")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="cloudbus server",
        description="Run a cloudbus management node on RabbitMQ until SIGINT/SIGTERM.",
        epilog="environment: CLOUDBUS_BUS_URL (required), CLOUDBUS_BUS_NAMESPACE (default cloudbus), "
        "CLOUDBUS_DB_URL, CLOUDBUS_LOG_LEVEL",
    )
    try:
        parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): report, don't raise
        return int(exc.code or 0)
    settings = Settings.from_env()
    if not settings.bus_url:
        print(
            "cloudbus server: CLOUDBUS_BUS_URL is not set; a server needs a RabbitMQ broker, "
            "e.g. CLOUDBUS_BUS_URL=amqp://guest:guest@127.0.0.1:5672/",
            file=sys.stderr,
        )
        return EXIT_USAGE
    configure(json=True, level=settings.log_level or "INFO")
    namespace = os.environ.get("CLOUDBUS_BUS_NAMESPACE") or "cloudbus"
    try:
        return asyncio.run(serve(settings, namespace))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return EXIT_FAILED


async def serve(settings: Settings, namespace: str) -> int:
    # Imported here so `--help` and usage errors stay fast; the catalogue registers every
    # API message class, so requests for any API decode on this node.
    import cloudbus.apis.catalog  # noqa: F401
    from cloudbus.core.db import Database
    from cloudbus.node import ManagementNode, make_bus

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    node = ManagementNode(
        Database(settings.db_url),
        make_bus(settings.bus_url, namespace=namespace),
        heartbeat_interval=settings.heartbeat_interval,
        heartbeat_misses=settings.heartbeat_misses,
        on_fenced=stop.set,
    )
    try:
        await node.start()
    except Exception as exc:
        log.error("management node failed to start", error=f"{type(exc).__name__}: {exc}")
        await _stop(node)
        return EXIT_FAILED
    log.info("server ready", node=node.uuid, namespace=namespace, db=node.db.dialect, pid=os.getpid())
    await stop.wait()
    log.info("server stopping", node=node.uuid)
    await _stop(node)
    log.info("server stopped", node=node.uuid)
    return EXIT_OK


async def _stop(node: ManagementNode) -> None:
    try:
        await node.stop()
    except Exception as exc:
        log.warning("error while stopping the management node", error=f"{type(exc).__name__}: {exc}")
