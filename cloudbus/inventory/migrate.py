"""Schema versioning: Alembic migrations, applied automatically when a node starts.

A database already at the newest revision costs one SELECT: the stored revision is compared
with `head_revision()`, read from the migration files themselves, and Alembic (with Mako and
Pygments behind it, a fifth of a one-shot CLI's start-up) is imported only when there is
something to migrate. The migration files stay the one home of the revision graph: nothing
else names a revision, and a test checks `head_revision()` against Alembic's own answer.

Several nodes may start at once on one PostgreSQL: a session advisory lock makes the
first one migrate and the others wait, then find nothing to do.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cloudbus.core.logging import get_logger

log = get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"
_PG_LOCK_KEY = 727274001
# `revision = "0008"` / `down_revision: str | None = "0007"` at the start of a line of a migration
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str | None:
    """The one revision no migration builds on, read from the files without importing Alembic.

    None when the files do not say it plainly (a merge, two heads, an unreadable assignment):
    `upgrade` then leaves the decision to Alembic, as before.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        try:
            revision, down = ast.literal_eval(found["revision"]), ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def stored_revisions(db: Any) -> list[str] | None:
    """The revisions recorded in the database; None when it has no version table (a new database)."""
    try:
        async with db.read() as conn:
            return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    except DBAPIError:
        return None


def _upgrade(sync_conn: Any) -> None:
    from alembic import command

    command.upgrade(alembic_config(sync_conn), "head")


async def upgrade(db: Any) -> None:
    """Bring the schema to the head revision; a database already there is only read."""
    head = head_revision()
    stored = await stored_revisions(db)
    if head is not None and stored == [head]:
        return
    async with db.connect() as conn:
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
    log.info("database schema upgraded", stored=stored, head=head)
