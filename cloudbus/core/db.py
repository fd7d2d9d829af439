"""The database: SQLAlchemy 2 Core over asyncio, SQLite file (embedded) or PostgreSQL.

Two ways in:
- `async with db.tx() as conn:` a write transaction. On SQLite it starts with
  `BEGIN IMMEDIATE` (the write lock is taken up front, so a read-then-write transaction
  never fails half-way with "database is locked") and writers in this process queue on
  an asyncio lock instead of polling SQLite's busy handler.
- `async with db.read() as conn:` a read-only snapshot that never blocks writers (WAL).

Keep transactions short and never hold one across a bus call: the service called may
need the write lock (SQLite has one writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

Migrator = Callable[["Database"], Awaitable[None]]


def async_url(url: str) -> str:
    """Map `sqlite:///` and `postgresql://` URLs to their asyncio drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database url[{url}]: use sqlite:///... or postgresql://...")
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.writer: AsyncEngine | None = None
        self.reader: AsyncEngine | None = None
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def start(self, migrate: Migrator | None = None) -> None:
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.writer = self._sqlite_engine("BEGIN IMMEDIATE")
            self.reader = self._sqlite_engine("BEGIN")
        else:
            self.writer = create_async_engine(self.url, pool_size=20, max_overflow=20, pool_pre_ping=True)
            self.reader = self.writer
        if migrate is not None:
            await migrate(self)

    def _sqlite_engine(self, begin: str) -> AsyncEngine:
        engine = create_async_engine(self.url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

        return engine

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        assert self.writer is not None, "database not started"
        if self._write_lock is None:
            async with self.writer.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        assert self.reader is not None, "database not started"
        async with self.reader.connect() as conn, conn.begin():
            yield conn

    async def close(self) -> None:
        for engine in {id(e): e for e in (self.writer, self.reader) if e is not None}.values():
            await engine.dispose()
        self.writer = self.reader = None
