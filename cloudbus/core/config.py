"""Configuration from the environment.

- `CLOUDBUS_HOME` (default `~/.cloudbus`): holds the embedded SQLite file and CLI history.
- `CLOUDBUS_DB_URL`: overrides the database (`sqlite:///...` or `postgresql://...`).
- `CLOUDBUS_BUS_URL`: unset = in-process services; `amqp://...` = RabbitMQ.
- `CLOUDBUS_LOG_LEVEL` (default WARNING for the CLI, INFO for servers), `CLOUDBUS_LOG_JSON`.
- `CLOUDBUS_API_TIMEOUT`: seconds a client waits for an API reply (default 1800, ZStack's 30 min).
- `CLOUDBUS_HEARTBEAT_INTERVAL` (default 5 s, ZStack's `managementServer.node.heartbeatInterval`)
  and `CLOUDBUS_HEARTBEAT_MISSES` (default 3): a management node that missed that many beats
  is dead and its work is taken over.
- `CLOUDBUS_ADMIN_PASSWORD`, `CLOUDBUS_SESSION_TIMEOUT` (7200 s), `CLOUDBUS_SESSION_MAX` (500):
  read by the identity service (cloudbus/services/identity/service.py) where it uses them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    bus_url: str | None
    api_timeout: float
    log_level: str | None
    log_json: bool
    heartbeat_interval: float = 5.0
    heartbeat_misses: int = 3

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("CLOUDBUS_HOME") or Path.home() / ".cloudbus").expanduser()
        db_url = env.get("CLOUDBUS_DB_URL") or f"sqlite:///{home / 'cloudbus.db'}"
        return cls(
            home=home,
            db_url=db_url,
            bus_url=env.get("CLOUDBUS_BUS_URL") or None,
            api_timeout=float(env.get("CLOUDBUS_API_TIMEOUT") or 1800),
            log_level=env.get("CLOUDBUS_LOG_LEVEL") or None,
            log_json=(env.get("CLOUDBUS_LOG_JSON") or "").lower() in ("1", "true", "yes"),
            heartbeat_interval=float(env.get("CLOUDBUS_HEARTBEAT_INTERVAL") or 5.0),
            heartbeat_misses=int(env.get("CLOUDBUS_HEARTBEAT_MISSES") or 3),
        )
