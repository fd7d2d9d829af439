"""Schema versioning: Alembic migrations, applied automatically when a node starts.

Several nodes may start at once on one PostgreSQL: a session advisory lock makes the
first one migrate and the others wait, then find nothing to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 727274001


def alembic_config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(sync_conn: Any) -> None:
    command.upgrade(alembic_config(sync_conn), "head")


async def upgrade(db: Any) -> None:
    async with db.writer.connect() as conn:
        if not db.is_sqlite:
            await conn.execute(text(f"SELECT pg_advisory_lock({_PG_LOCK_KEY})"))
            await conn.commit()
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            if not db.is_sqlite:
                await conn.execute(text(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})"))
                await conn.commit()
