"""Schema versioning: migrations run on start, are idempotent, and match the declared tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from cloudbus.core.db import Database
from cloudbus.inventory.migrate import alembic_config, upgrade
from cloudbus.inventory.schema import metadata


async def test_a_fresh_database_is_migrated_to_head_and_matches_the_tables(db_url: str) -> None:
    db = Database(db_url)
    await db.start(migrate=upgrade)
    await upgrade(db)  # a second run finds nothing to do
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == head

        def diff(sync_conn: object) -> list[object]:
            context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)

        # a table or column declared without a migration shows up here
        assert await conn.run_sync(diff) == []
    await db.close()
