"""Alembic environment: runs on the connection handed over by cloudbus.inventory.migrate."""

from alembic import context

import cloudbus.inventory  # noqa: F401  (registers every table)
from cloudbus.inventory.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through cloudbus.inventory.migrate.upgrade")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
