"""Test configuration: every cloud-level test runs on the selected backend.

    pytest                       # backend "local": LocalBus + SQLite file
    pytest --backend=amqp        # AmqpBus + PostgreSQL, API calls through RabbitMQ
    pytest --backend=openstack   # only the tests marked `openstack`: AmqpBus + PostgreSQL (as for
                                 # amqp) driving a private real OpenStack (tests/support/openstack.py)

The amqp backend starts RabbitMQ and PostgreSQL (testcontainers when a Docker engine
answers, otherwise the locally installed servers on free loopback ports) once per
session, unless CLOUDBUS_TEST_AMQP_URL / CLOUDBUS_TEST_PG_URL point at running ones.
Each test gets its own database and its own bus namespace.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbus.core.ids import new_uuid
from cloudbus.testing import Cloud


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("local", "amqp", "openstack"),
        default=os.environ.get("CLOUDBUS_TEST_BACKEND", "local"),
        help="local = LocalBus + SQLite; amqp = AmqpBus + PostgreSQL; openstack = the openstack tests alone",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "openstack: drives a real OpenStack; run by pytest --backend=openstack")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The openstack lane runs the openstack tests alone; the other lanes leave them out (they
    need the OpenStack that lane starts), deselected rather than skipped."""
    on_openstack = config.getoption("--backend") == "openstack"
    keep = [item for item in items if (item.get_closest_marker("openstack") is not None) == on_openstack]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--backend"))


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's broker (`.url`, `.restart()`), or None when CLOUDBUS_TEST_AMQP_URL names one."""
    if os.environ.get("CLOUDBUS_TEST_AMQP_URL"):
        yield None
        return
    from tests.support.servers import start_rabbitmq

    server = start_rabbitmq(tmp_path_factory.mktemp("rabbitmq"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rabbitmq_url(rabbitmq: Any) -> str:
    return os.environ.get("CLOUDBUS_TEST_AMQP_URL") or str(rabbitmq.url)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.support.servers import existing_postgres, start_postgres

    if os.environ.get("CLOUDBUS_TEST_PG_URL"):
        yield existing_postgres(os.environ["CLOUDBUS_TEST_PG_URL"])
        return
    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cloudbus.db'}"


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if backend == "local":
        return sqlite_url
    postgres = request.getfixturevalue("postgres")
    return postgres.create_database(f"t_{new_uuid()[:12]}")  # type: ignore[attr-defined]


@pytest.fixture
def bus_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "local":
        return None
    return str(request.getfixturevalue("rabbitmq_url"))


@pytest.fixture
async def cloud(db_url: str, bus_url: str | None) -> AsyncIterator[Cloud]:
    async with Cloud.start(db_url, bus_url, namespace=f"t{new_uuid()[:10]}") as c:
        yield c


@pytest.fixture(scope="session")
def libvirt_system() -> str:
    """URI of the real libvirtd (qemu:///system); skips without one, fails under CI=true."""
    from tests.support.libvirt_system import system_libvirt_uri

    return system_libvirt_uri()


@pytest.fixture(scope="session")
def openstack_env() -> dict[str, str]:
    """The OS_* login of the private real OpenStack (started, and installed on first use, by
    tests/support/openstack.py; stays up after the session for the next run to reuse)."""
    from tests.support import openstack

    return openstack.up()


@pytest.fixture(scope="session")
def admin(openstack_env: dict[str, str]) -> Iterator[Any]:
    """openstacksdk as the OpenStack admin: the OpenStack tests' eyes."""
    from tests.support.openstack_cloud import admin_connection

    conn = admin_connection(openstack_env)
    yield conn
    conn.close()


@pytest.fixture
def os_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("CLOUDBUS_HOME", str(tmp_path / "home"))  # the secret key file goes there
    monkeypatch.setenv("CLOUDBUS_HOST_PING_INTERVAL", "3600")
    monkeypatch.setenv("CLOUDBUS_OPENSTACK_SYNC_INTERVAL", "3600")  # the tests sync when they mean to
    return monkeypatch


@pytest.fixture
async def os_cloud(
    openstack_env: dict[str, str], db_url: str, bus_url: str | None, os_settings: pytest.MonkeyPatch
) -> AsyncIterator[Cloud]:
    """A cloudbus (the lane's bus and database) that deletes its OpenStack clouds when done."""
    from tests.support.openstack_cloud import started

    async with started(db_url, bus_url) as cloud:
        yield cloud
