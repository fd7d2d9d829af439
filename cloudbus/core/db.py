"""The database: SQLAlchemy 2 Core, a SQLite file (embedded) or PostgreSQL (asyncpg).

Two ways in:
- `async with db.tx() as conn:` a write transaction. On SQLite it starts with
  `BEGIN IMMEDIATE` (the write lock is taken up front, so a read-then-write transaction
  never fails half-way with "database is locked") and writers in this process queue on
  an asyncio lock instead of polling SQLite's busy handler.
- `async with db.read() as conn:` a read-only snapshot that never blocks writers (WAL).

Both yield an `AsyncConnection` on PostgreSQL. On SQLite they yield an `InlineConnection`,
which has the same `await conn.execute(...)` surface but runs each statement on the event
loop's own thread: a SQLite statement in WAL mode takes microseconds, while handing it to
a driver thread and back (aiosqlite) cost more CPU than the statement, on every statement.
The one SQLite call that can wait on another process, taking the write lock, is retried
asynchronously instead of blocking the loop in SQLite's busy handler.

Keep transactions short and never hold one across a bus call: the service called may
need the write lock (SQLite has one writer).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, Result, make_url
from sqlalchemy.exc import OperationalError

from cloudbus.core.pending import pending_write

if TYPE_CHECKING:
    pass

Migrator = Callable[["Database"], Awaitable[None]]


# Waits between tries to take SQLite's write lock while another process holds it.
_LOCK_PAUSE, _LOCK_PAUSE_MAX, _LOCK_WAIT = 0.002, 0.1, 30.0


def async_url(url: str) -> str:
    """Map `sqlite:///` and `postgresql://` URLs to the drivers used here."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database url[{url}]: use sqlite:///... or postgresql://...")
    return parsed.render_as_string(hide_password=False)


class InlineConnection:
    """The part of `AsyncConnection` the code base uses, over a synchronous SQLite connection.

    Results are buffered like an AsyncConnection's, so rows stay readable after the block.
    """

    def __init__(self, sync: Connection) -> None:
        self.sync = sync

    @property
    def dialect(self) -> Any:
        return self.sync.dialect

    async def execute(self, statement: Any, parameters: Any = None, **kw: Any) -> Result[Any]:
        return _buffered(self.sync.execute(statement, parameters, **kw))

    async def exec_driver_sql(self, statement: str, parameters: Any = None, **kw: Any) -> Result[Any]:
        return _buffered(self.sync.exec_driver_sql(statement, parameters, **kw))

    async def scalar(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        return self.sync.scalar(statement, parameters, **kw)

    async def scalars(self, statement: Any, parameters: Any = None, **kw: Any) -> Any:
        return _buffered(self.sync.execute(statement, parameters, **kw)).scalars()

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return fn(self.sync, *args, **kw)

    async def commit(self) -> None:
        self.sync.commit()

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        with self.sync.begin_nested():
            yield


def upsert_into(dialect: str, table: Any) -> Any:
    """INSERT for `table` in the named dialect, with `on_conflict_do_*` (PostgreSQL and SQLite
    share that API, not a class)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _buffered(result: Result[Any]) -> Result[Any]:
    # a query's rows are read now, as an AsyncConnection does; DML keeps its rowcount
    context = result.context  # type: ignore[attr-defined]
    if result.returns_rows and not (context.isinsert or context.isupdate or context.isdelete):
        return result.freeze()()
    return result


class Database:
    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # SQLite: synchronous engines used inline; PostgreSQL: one AsyncEngine for both
        self.writer: Any = None
        self.reader: Any = None
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._write_conn: Connection | None = None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @property
    def engines(self) -> list[Engine]:
        """The synchronous engines statements go through (for event listeners: counting, tracing)."""
        found = {id(e): e for e in (self.writer, self.reader) if e is not None}.values()
        return [e if isinstance(e, Engine) else e.sync_engine for e in found]

    async def start(self, migrate: Migrator | None = None) -> None:
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.writer = self._sqlite_engine(writer=True)
            self.reader = self._sqlite_engine(writer=False)
        else:
            # imported here: sqlalchemy.ext.asyncio pulls in the ORM (~0.2 s), which the
            # embedded default on SQLite (and so every one-shot CLI command) never needs
            from sqlalchemy.ext.asyncio import create_async_engine

            self.writer = create_async_engine(self.url, pool_size=20, max_overflow=20, pool_pre_ping=True)
            self.reader = self.writer
        if migrate is not None:
            await migrate(self)

    def _sqlite_engine(self, *, writer: bool) -> Engine:
        # The writer never waits in SQLite's busy handler (that would block the event loop):
        # `tx` retries taking the lock asynchronously. Readers of a WAL database do not wait.
        busy_ms = 0 if writer else 5000
        engine = create_engine(self.url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={busy_ms}"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        if not writer:

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN")

        return engine

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Any]:
        assert self.writer is not None, "database not started"
        # the task's pending write goes first; owed again unless the transaction commits
        pending = pending_write.get()
        if pending is not None and pending.done:
            pending = None
        if pending is not None:
            pending.done = True
        try:
            async with self._transaction() as conn:
                if pending is not None:
                    await pending.write(conn)
                yield conn
        except BaseException:
            if pending is not None:
                pending.done = False
            raise

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        if self._write_lock is None:
            async with self.writer.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            # writes are serialised here, so one connection serves them all (no pool round trip)
            if self._write_conn is None or self._write_conn.closed or self._write_conn.invalidated:
                self._write_conn = self.writer.connect()
            sync = self._write_conn
            await _take_write_lock(sync)
            with _committing(sync):
                yield InlineConnection(sync)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Any]:
        assert self.reader is not None, "database not started"
        if not self.is_sqlite:
            async with self.reader.connect() as conn, conn.begin():
                yield conn
            return
        with self.reader.connect() as sync, sync.begin():
            yield InlineConnection(sync)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        """A writer connection with no transaction begun (schema migrations manage their own)."""
        assert self.writer is not None, "database not started"
        if not self.is_sqlite:
            async with self.writer.connect() as conn:
                yield conn
            return
        async with self._write_lock or asyncio.Lock():
            with self.writer.connect() as sync:
                yield InlineConnection(sync)

    async def close(self) -> None:
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None
        for engine in {id(e): e for e in (self.writer, self.reader) if e is not None}.values():
            if isinstance(engine, Engine):
                engine.dispose()
            else:
                await engine.dispose()
        self.writer = self.reader = None


async def _take_write_lock(sync: Connection) -> None:
    """BEGIN IMMEDIATE, waiting asynchronously while another process holds the lock."""
    pause, waited = _LOCK_PAUSE, 0.0
    while True:
        try:
            sync.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            sync.rollback()
            busy = isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)
            if not busy or waited >= _LOCK_WAIT:
                raise
        await asyncio.sleep(pause)
        waited += pause
        pause = min(pause * 2, _LOCK_PAUSE_MAX)


@contextmanager
def _committing(sync: Connection) -> Iterator[None]:
    # the BEGIN IMMEDIATE above opened SQLAlchemy's transaction too (autobegin; pysqlite
    # with isolation_level None emits no BEGIN of its own): commit or roll it back
    try:
        yield
    except BaseException:
        sync.rollback()
        raise
    sync.commit()
