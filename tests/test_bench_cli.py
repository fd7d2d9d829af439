"""benchmarks/cli.py in small: the one-shot CLI answers right, migrates a database once and never
again, and prints exactly `json.dumps` of the reply, also for a nested VM reply."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from cloudbus.apis.render import render
from cloudbus.core import errors
from cloudbus.core.db import Database
from cloudbus.core.messages import Reply
from cloudbus.inventory import migrate
from cloudbus.inventory.migrate import alembic_config, head_revision, stored_revisions, upgrade
from cloudbus.testing import Cloud

# main() as the console script runs it, then whether Alembic was imported on the way
RUN_CLI = (
    "import sys; from cloudbus.apis.cli import main; code = main(sys.argv[1:]); "
    "print(f'alembic imported: {\"alembic\" in sys.modules}', file=sys.stderr); sys.exit(code)"
)


def cli(home: Path, *args: str) -> tuple[Any, str]:
    """Run one command as its own process on `home`; its reply (checked printed as json.dumps
    prints it) and its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBUS_")}
    env.update(CLOUDBUS_HOME=str(home), CLOUDBUS_LOG_LEVEL="INFO")
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    reply = json.loads(done.stdout)
    assert done.stdout == json.dumps(reply, indent=4, sort_keys=True, ensure_ascii=False) + "\n"
    return reply, done.stderr


def test_one_shot_cli_answers_and_migrates_the_database_once(tmp_path: Path) -> None:
    created, first = cli(tmp_path, "CreateZone", 'name=zoné "one"')
    assert "database schema upgraded" in first and "alembic imported: True" in first
    zone = created["inventory"]
    assert zone["name"] == 'zoné "one"'

    queried, second = cli(tmp_path, "QueryZone")
    assert queried == {"success": True, "inventories": [zone]}
    # the database is current: one SELECT of its revision, no Alembic, nothing written
    assert "database schema upgraded" not in second and "alembic imported: False" in second
    with sqlite3.connect(tmp_path / "cloudbus.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]


def test_the_head_revision_read_from_the_files_is_alembics() -> None:
    # the migration files are the one home of the revision graph; this fails if the cheap
    # reading (used to skip Alembic when the schema is current) ever disagrees with Alembic's
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.parametrize(
    ("files", "head"),
    [
        (
            {"a.py": 'revision = "1"\ndown_revision = None\n', "b.py": 'revision: str = "2"\ndown_revision: str = "1"'},
            "2",
        ),
        ({"a.py": 'revision = "1"\ndown_revision = None\n', "b.py": 'revision = "2"\ndown_revision = None\n'}, None),
        ({"a.py": 'revision = "1"\n', "m.py": 'revision = "3"\ndown_revision = ("1", "2")\n'}, None),
        ({"a.py": "down_revision = None\n"}, None),
    ],
    ids=["annotated", "two heads", "merge", "no revision"],
)
def test_head_revision_is_none_unless_the_files_say_it_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], head: str | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(migrate, "VERSIONS", tmp_path)
    head_revision.cache_clear()
    try:
        assert head_revision() == head
    finally:
        head_revision.cache_clear()


async def test_a_database_behind_the_head_is_upgraded_by_alembic(db_url: str) -> None:
    db = Database(db_url)
    await db.start()
    assert await stored_revisions(db) is None  # a new database has no version table yet
    async with db.connect() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0007"))
        await conn.commit()
    assert await stored_revisions(db) == ["0007"]
    await upgrade(db)
    assert await stored_revisions(db) == [head_revision()]
    await db.close()


async def test_render_prints_exactly_json_dumps_of_the_reply(cloud: Cloud) -> None:
    env = await cloud.build_vm_cloud()
    params = {"instanceOfferingUuid": env["offering"]["uuid"], "imageUuid": env["image"]["uuid"]}
    for name in ("vm-1", 'vm \u00e9\u4e2d "2"', "vm\\3"):
        await cloud.ok("CreateVmInstance", name=name, l3NetworkUuids=[env["l3"]["uuid"]], **params)
    replies = [
        await cloud.api("QueryVmInstance"),  # inventories with nested nics and volumes
        await cloud.api("QueryVmInstance", count=True),
        await cloud.api("QueryHost", replyWithCount=True, fields=["uuid", "name"]),
        await cloud.api("UpdateZone", uuid=env["zone"]["uuid"], description='quote " backslash \\ slash /'),
        await cloud.api("CreateZone", name="  "),  # an error reply
        Reply.failure(errors.ErrorCode(code="A", details="x", cause=errors.ErrorCode(code="B"))),
        # not JSON values: the json.dumps road
        Reply(inventory={"ratio": 1e-07, "big": 1.5e300, "pair": (1, 2)}),
        Reply(inventory={"lone": "\ud800"}, extra=[1, 2]),
    ]
    assert len(replies[0].inventories or ()) == 3 and replies[1].total == 3
    for reply in replies:
        assert render(reply) == json.dumps(reply.to_json(), indent=4, sort_keys=True, ensure_ascii=False)
