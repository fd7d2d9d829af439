"""Tests of the throwaway-server support module itself (tests/support/servers.py).

The PostgreSQL test is cheap (~1 s) and runs in both configurations when PostgreSQL (or Docker)
is available; the RabbitMQ restart test takes ~15 s and only runs with ``--backend=amqp``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from tests.support import servers


def _postgres_available() -> bool:
    try:
        servers._pg_bindir()
    except servers.ServerStartError:
        return servers.docker_available()
    return True


def _rabbitmq_available() -> bool:
    return (servers.RABBITMQ_BIN / "rabbitmq-server").exists() or servers.docker_available()


async def test_postgres_databases_are_isolated(tmp_path: Path) -> None:
    if not _postgres_available():
        pytest.skip("no PostgreSQL binaries and no Docker engine")
    pg = servers.start_postgres(tmp_path / "pg")
    try:
        url_a = pg.create_database("iso_a")
        url_b = pg.create_database("iso_b")
        assert url_a.endswith("/iso_a") and url_b.endswith("/iso_b")
        a = await asyncpg.connect(url_a, timeout=10)
        b = await asyncpg.connect(url_b, timeout=10)
        try:
            await a.execute("CREATE TABLE t (x int)")
            assert await a.fetchval("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == 1
            assert await b.fetchval("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == 0
            # the tuning the suite relies on for speed
            assert await a.fetchval("SHOW fsync") == "off"
            assert int(await a.fetchval("SHOW max_connections")) >= 300
        finally:
            await a.close()
            await b.close()
        with pytest.raises(ValueError):
            pg.create_database("bad name; DROP")
    finally:
        pg.stop()
    if isinstance(pg, servers.LocalPostgres):
        assert not servers.port_accepting("127.0.0.1", pg.port)
        assert pg._owned_tmp is None


def test_rabbitmq_restart_keeps_url_and_stop_cleans_up(tmp_path: Path, backend: str) -> None:
    if backend != "amqp":
        pytest.skip("RabbitMQ is only exercised with --backend=amqp")
    if not _rabbitmq_available():
        pytest.skip("no rabbitmq-server and no Docker engine")
    mq = servers.start_rabbitmq(tmp_path / "mq")
    try:
        url = mq.url
        host_port = url.rsplit("@", 1)[1].strip("/").split(":")
        host, port = host_port[0], int(host_port[1])
        assert servers.amqp_handshake_ok(host, port)
        mq.restart()
        assert mq.url == url
        assert servers.amqp_handshake_ok(host, port)
    finally:
        mq.stop()
    assert not servers.port_accepting(host, port)
    if isinstance(mq, servers.LocalRabbitMQ):
        # the private epmd went away with the node
        assert not servers.port_accepting("127.0.0.1", mq.epmd_port)
        assert shutil.which("epmd") is None or mq._epmd is None
