"""Accounts, projects, users and login sessions (reference 2.10, seed 004), on both backends.

Passwords go over the wire as the SHA-512 hex of what was typed, as the CLI sends them.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from sqlalchemy import select, update

from cloudbus.apis.identity import QueryAccount
from cloudbus.apis.internal.identity import AuthenticateApiKey
from cloudbus.apis.parser import parse_line
from cloudbus.apis.security_group import CreateSecurityGroup, UpdateSecurityGroup
from cloudbus.apis.shell import make_prompt, shell_loop
from cloudbus.apis.zone import CreateZone
from cloudbus.core.auth import Credentials
from cloudbus.core.config import Settings
from cloudbus.core.logging import configure, get_logger
from cloudbus.core.messages import Reply
from cloudbus.core.passwords import sha512_hex
from cloudbus.inventory.identity import account_table, session_table, tenant_table, user_table
from cloudbus.testing import Cloud
from tests import test_cli as cli
from tests.test_cli import quiet_logs  # noqa: F401 (a fixture)

ADMIN = "36c27e8ff05c4780bf6d2fa65700f22e"


def pw(typed: str) -> str:
    return sha512_hex(typed)


async def _account(cloud: Cloud, name: str = "tenant1", typed: str = "s3cret") -> dict[str, Any]:
    return await cloud.ok("CreateAccount", name=name, password=pw(typed))


async def test_a_new_database_has_admin_with_zstacks_uuid_and_password(cloud: Cloud) -> None:
    [admin] = await cloud.query("QueryAccount", ("name", "=", "admin"))
    assert (admin["uuid"], admin["type"]) == (ADMIN, "SystemAdmin")
    assert "password" not in admin
    session = await cloud.ok("LogInByAccount", accountName="admin", password=pw("password"))
    assert session["accountUuid"] == ADMIN and session["userUuid"] is None
    [default] = await cloud.query("QueryProject", ("accountUuid", "=", ADMIN))
    assert default["name"] == "default"


async def test_an_account_comes_with_its_default_project_and_logs_in(cloud: Cloud) -> None:
    account = await _account(cloud)
    assert (account["name"], account["type"]) == ("tenant1", "Normal")
    projects = await cloud.query("QueryProject", ("accountUuid", "=", account["uuid"]))
    assert [p["name"] for p in projects] == ["default"]
    before = datetime.now(UTC)
    session = await cloud.ok("LogInByAccount", accountName="tenant1", password=pw("s3cret"))
    assert session["accountUuid"] == account["uuid"]
    expires = datetime.fromisoformat(session["expiredDate"])
    assert timedelta(seconds=7190) < expires - before < timedelta(seconds=7210)
    valid = await cloud.api("ValidateSession", sessionUuid=session["uuid"])
    assert valid.success and valid.get("validSession") is True


async def test_a_wrong_name_or_password_fails_alike_and_opens_nothing(cloud: Cloud) -> None:
    await _account(cloud)
    before = await cloud.snapshot()
    wrong_password = await cloud.error("LogInByAccount", accountName="tenant1", password=pw("guess"))
    wrong_name = await cloud.error("LogInByAccount", accountName="nobody", password=pw("s3cret"))
    assert wrong_password.code == wrong_name.code == "ID.1000"
    assert wrong_password.details == wrong_name.details
    after = await cloud.snapshot()
    assert after["session"] == before["session"]  # (over the broker: the admin session of the test client)


async def test_passwords_are_stored_only_as_salted_hashes(cloud: Cloud) -> None:
    account = await _account(cloud, typed="s3cret")
    user = await cloud.ok("CreateUser", accountUuid=account["uuid"], name="alice", password=pw("s3cret"))
    async with cloud.db.read() as conn:
        stored = [
            await conn.scalar(select(account_table.c.password).where(account_table.c.uuid == account["uuid"])),
            await conn.scalar(select(user_table.c.password).where(user_table.c.uuid == user["uuid"])),
        ]
    assert all(s.startswith("scrypt$") for s in stored)
    assert stored[0] != stored[1]  # salted: the same password hashes differently
    assert not any(pw("s3cret") in s or "s3cret" in s for s in stored)
    assert "password" not in user


async def test_logout_and_expiry_end_a_session_and_renew_extends_it(cloud: Cloud) -> None:
    await _account(cloud)
    first = await cloud.ok("LogInByAccount", accountName="tenant1", password=pw("s3cret"))
    second = await cloud.ok("LogInByAccount", accountName="tenant1", password=pw("s3cret"))
    await cloud.ok("LogOut", sessionUuid=first["uuid"])
    assert (await cloud.api("ValidateSession", sessionUuid=first["uuid"])).get("validSession") is False
    renewed = await cloud.ok("RenewSession", sessionUuid=second["uuid"], duration=86400)
    assert datetime.fromisoformat(renewed["expiredDate"]) - datetime.now(UTC) > timedelta(hours=23)
    # the clock passes the session's end
    async with cloud.db.tx() as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await conn.execute(update(session_table).where(session_table.c.uuid == second["uuid"]).values(expiredDate=past))
    assert (await cloud.api("ValidateSession", sessionUuid=second["uuid"])).get("validSession") is False
    expired = await cloud.error("RenewSession", sessionUuid=second["uuid"], duration=600)
    assert expired.code == "ID.1001"


async def test_an_account_has_at_most_the_configured_live_sessions(cloud: Cloud, monkeypatch: Any) -> None:
    monkeypatch.setenv("CLOUDBUS_SESSION_MAX", "2")
    await _account(cloud)
    sessions = [await cloud.ok("LogInByAccount", accountName="tenant1", password=pw("s3cret")) for _ in range(2)]
    third = await cloud.error("LogInByAccount", accountName="tenant1", password=pw("s3cret"))
    assert third.code == "ID.1006"
    await cloud.ok("LogOut", sessionUuid=sessions[0]["uuid"])
    await cloud.ok("LogInByAccount", accountName="tenant1", password=pw("s3cret"))


async def test_a_user_logs_in_by_account_name_or_uuid(cloud: Cloud) -> None:
    account = await _account(cloud)
    user = await cloud.ok("CreateUser", accountUuid=account["uuid"], name="alice", password=pw("wonder"))
    by_name = await cloud.ok("LogInByUser", accountName="tenant1", userName="alice", password=pw("wonder"))
    by_uuid = await cloud.ok("LogInByUser", accountUuid=account["uuid"], userName="alice", password=pw("wonder"))
    assert by_name["userUuid"] == by_uuid["userUuid"] == user["uuid"]
    wrong = await cloud.error("LogInByUser", accountName="tenant1", userName="alice", password=pw("account's"))
    assert wrong.code == "ID.1000"
    both = await cloud.error(
        "LogInByUser", accountName="tenant1", accountUuid=account["uuid"], userName="alice", password=pw("wonder")
    )
    assert both.code == "SYS.1007"


async def test_a_password_change_needs_the_old_one_when_given(cloud: Cloud) -> None:
    account = await _account(cloud)
    wrong = await cloud.error("UpdateAccount", uuid=account["uuid"], password=pw("new"), oldPassword=pw("bad"))
    assert wrong.code == "ID.1000"
    await cloud.ok("UpdateAccount", uuid=account["uuid"], password=pw("new"), oldPassword=pw("s3cret"))
    assert (await cloud.error("LogInByAccount", accountName="tenant1", password=pw("s3cret"))).code == "ID.1000"
    await cloud.ok("LogInByAccount", accountName="tenant1", password=pw("new"))


async def test_duplicate_names_are_refused_and_change_nothing(cloud: Cloud) -> None:
    account = await _account(cloud)
    await cloud.ok("CreateUser", accountUuid=account["uuid"], name="alice", password=pw("x"))
    before = await cloud.snapshot()
    assert (await cloud.error("CreateAccount", name="tenant1", password=pw("x"))).code == "SYS.1007"
    assert (await cloud.error("CreateProject", accountUuid=account["uuid"], name="default")).code == "SYS.1007"
    assert (
        await cloud.error("CreateUser", accountUuid=account["uuid"], name="alice", password=pw("y"))
    ).code == "SYS.1007"
    assert (await cloud.error("CreateAccount", name="tenant2", password=pw("x"), type="Root")).code == "SYS.1007"
    assert await cloud.snapshot() == before


async def test_deleting_an_account_takes_its_projects_users_and_sessions(cloud: Cloud) -> None:
    account = await _account(cloud)
    other = await _account(cloud, "tenant2")
    await cloud.ok("CreateProject", accountUuid=account["uuid"], name="web")
    await cloud.ok("CreateUser", accountUuid=account["uuid"], name="alice", password=pw("x"))
    session = await cloud.ok("LogInByUser", accountName="tenant1", userName="alice", password=pw("x"))
    await cloud.ok("DeleteAccount", uuid=account["uuid"])
    assert await cloud.query("QueryAccount", ("uuid", "=", account["uuid"])) == []
    assert await cloud.query("QueryProject", ("accountUuid", "=", account["uuid"])) == []
    assert await cloud.query("QueryUser", ("accountUuid", "=", account["uuid"])) == []
    assert (await cloud.api("ValidateSession", sessionUuid=session["uuid"])).get("validSession") is False
    assert [p["name"] for p in await cloud.query("QueryProject", ("accountUuid", "=", other["uuid"]))] == ["default"]


async def test_admin_and_a_default_project_cannot_be_deleted(cloud: Cloud) -> None:
    account = await _account(cloud)
    [default] = await cloud.query("QueryProject", ("accountUuid", "=", account["uuid"]))
    before = await cloud.snapshot()
    assert (await cloud.error("DeleteAccount", uuid=ADMIN)).code == "SYS.1006"
    assert (await cloud.error("DeleteProject", uuid=default["uuid"])).code == "SYS.1006"
    assert await cloud.snapshot() == before


# --- what the CLI sends and keeps; what the logs show ------------------------------------------


def test_the_cli_logs_in_with_the_sha512_of_what_was_typed(tmp_path: Path) -> None:
    session = cli.ok(tmp_path, "LogInByAccount", "accountName=admin", "password=password")["inventory"]
    assert session["accountUuid"] == ADMIN
    wrong = cli.failed(tmp_path, "LogInByAccount", "accountName=admin", f"password={pw('password')}", code="ID.1000")
    assert "password" not in json.dumps(wrong).replace('"wrong account name or password"', "")


def test_the_parser_hashes_only_the_declared_password_fields() -> None:
    command = parse_line("UpdateAccount uuid=" + ADMIN + " password=new oldPassword=old name=password")
    assert command is not None
    assert command.params == {"uuid": ADMIN, "password": pw("new"), "oldPassword": pw("old"), "name": "password"}


@pytest.mark.usefixtures("quiet_logs")
async def test_the_shell_history_keeps_no_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env({"CLOUDBUS_HOME": str(tmp_path)})
    with create_pipe_input() as pipe:
        pipe.send_text(
            "CreateAccount name=t1 password=hunter2\rLogInByAccount accountName=t1 'password=hunter2'\rexit\r"
        )
        prompt = make_prompt(settings, input=pipe, output=DummyOutput())
        assert await shell_loop(settings, prompt) == 0
    out, _ = capsys.readouterr()
    assert '"accountUuid"' in out  # the login worked
    history = (tmp_path / "history").read_text()
    assert "hunter2" not in history and pw("hunter2") not in history
    assert "+CreateAccount name=t1 password=******" in history


def test_secret_values_never_reach_a_log_line() -> None:
    stream = io.StringIO()
    configure(json=True, stream=stream)
    try:
        get_logger("test").warning("login", password="hunter2", apikey="k-123", sessionUuid="s-456", who="t1")
    finally:
        configure()
    [line] = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert (line["password"], line["apikey"], line["sessionUuid"], line["who"]) == ("******",) * 3 + ("t1",)


# --- tenants and API keys (seed 000) ------------------------------------------------------------


async def test_a_tenant_gets_a_serial_id_an_account_project_user_and_a_key_shown_once(cloud: Cloud) -> None:
    first = await cloud.api("CreateTenant", tenantName="acme")
    second = await cloud.api("CreateTenant", tenantName="globex")
    assert first.success and second.success
    assert (first.get("tenantId"), second.get("tenantId")) == ("t-0000000001", "t-0000000002")
    key = first.get("apikey")
    assert isinstance(key, str) and len(key) >= 32 and key != second.get("apikey")
    [tenant] = await cloud.query("QueryTenant", ("tenantName", "=", "acme"))
    assert tenant["tenantId"] == "t-0000000001"
    assert "apiKeyHash" not in tenant and key not in json.dumps(tenant)
    [account] = await cloud.query("QueryAccount", ("uuid", "=", tenant["accountUuid"]))
    assert (account["name"], account["type"]) == ("t-0000000001", "Normal")
    [project] = await cloud.query("QueryProject", ("accountUuid", "=", account["uuid"]))
    assert (project["uuid"], project["name"], project["isDefault"]) == (tenant["projectUuid"], "t-0000000001", True)
    [user] = await cloud.query("QueryUser", ("accountUuid", "=", account["uuid"]))
    assert (user["uuid"], user["name"]) == (tenant["userUuid"], "t-0000000001")
    async with cloud.db.read() as conn:
        stored = await conn.scalar(select(tenant_table.c.apiKeyHash).where(tenant_table.c.tenantId == "t-0000000001"))
    assert stored == hashlib.sha256(key.encode()).hexdigest()


async def test_a_duplicate_tenant_name_is_refused_and_takes_no_serial(cloud: Cloud) -> None:
    await cloud.ok("CreateTenant", tenantName="acme")
    before = await cloud.snapshot()
    refused = await cloud.error("CreateTenant", tenantName="acme")
    assert refused.code == "SYS.1007" and "acme" in refused.details
    assert await cloud.snapshot() == before
    assert (await cloud.api("CreateTenant", tenantName="globex")).get("tenantId") == "t-0000000002"


async def test_concurrent_registrations_get_unique_gap_free_ids(cloud: Cloud) -> None:
    names = [f"tenant{i}" for i in range(12)] + ["tenant3", "tenant7"]  # two duplicates among them
    replies = await asyncio.gather(*(cloud.api("CreateTenant", tenantName=n) for n in names))
    ids = sorted(r.get("tenantId") for r in replies if r.success)
    assert ids == [f"t-{i:010d}" for i in range(1, 13)]
    assert sorted(r.error.code for r in replies if not r.success) == ["SYS.1007", "SYS.1007"]
    assert len(await cloud.query("QueryTenant")) == 12


async def test_a_regenerated_key_replaces_the_old_one(cloud: Cloud) -> None:
    old = (await cloud.api("CreateTenant", tenantName="acme")).get("apikey")
    again = await cloud.api("RegenerateApiKey", tenantId="t-0000000001")
    assert again.success and again.get("apikey") not in (None, old)
    async with cloud.db.read() as conn:
        stored = await conn.scalar(select(tenant_table.c.apiKeyHash))
    assert stored == hashlib.sha256(again.get("apikey").encode()).hexdigest()
    assert (await cloud.error("RegenerateApiKey", tenantId="t-0000000099")).code == "SYS.1003"
    assert (await cloud.error("RegenerateApiKey", tenantId="acme")).code == "SYS.1007"


async def test_deleting_a_tenants_account_removes_the_tenant(cloud: Cloud) -> None:
    await cloud.ok("CreateTenant", tenantName="acme")
    [tenant] = await cloud.query("QueryTenant")
    await cloud.ok("DeleteAccount", uuid=tenant["accountUuid"])
    assert await cloud.query("QueryTenant") == []
    assert await cloud.query("QueryUser", ("accountUuid", "=", tenant["accountUuid"])) == []


# --- APIAuth (seed 000): the key, then the platform authoriser --------------------------------


class _Platform(BaseHTTPRequestHandler):
    """A cloud-management platform answering the authoriser's callback: yes, no, or never."""

    asked: ClassVar[list[dict[str, Any]]] = []
    release = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.asked.append({"path": self.path, **body})
        if self.path == "/silent":
            self.release.wait(30)  # answers only once the test is done with it
        payload = json.dumps({"allowed": self.path == "/yes"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def platform() -> Iterator[str]:
    _Platform.asked.clear()
    _Platform.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Platform)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Platform.release.set()
        server.shutdown()
        server.server_close()


async def _auth(cloud: Cloud, key: str, tenant: str, *resources: str) -> Reply:
    msg = AuthenticateApiKey(apikey=key, tenantId=tenant, platformUserId="pu-7", resourceUuids=list(resources))
    return await cloud.node.bus.call(msg)


async def test_apiauth_accepts_the_current_key_only(cloud: Cloud) -> None:
    created = await cloud.api("CreateTenant", tenantName="acme")
    key, tenant = created.get("apikey"), created.get("tenantId")
    [info] = await cloud.query("QueryTenant")
    good = await _auth(cloud, key, tenant)
    assert good.success and good.get("accountUuid") == info["accountUuid"]
    assert good.get("projectUuid") == info["projectUuid"]
    wrong = await _auth(cloud, key + "x", tenant)
    other_tenant = await _auth(cloud, key, "t-0000000099")
    assert wrong.error.code == other_tenant.error.code == "ID.1000"
    await cloud.ok("RegenerateApiKey", tenantId=tenant)
    assert (await _auth(cloud, key, tenant)).error.code == "ID.1000"  # the replaced key


async def test_apiauth_asks_the_platform_about_named_resources(
    cloud: Cloud, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await cloud.api("CreateTenant", tenantName="acme")
    key, tenant = created.get("apikey"), created.get("tenantId")
    monkeypatch.setenv("CLOUDBUS_PLATFORM_AUTH_TIMEOUT", "0.5")
    monkeypatch.setenv("CLOUDBUS_PLATFORM_AUTH_URL", f"{platform}/yes")
    assert (await _auth(cloud, key, tenant)).success  # no resources named: the key suffices
    assert _Platform.asked == []
    assert (await _auth(cloud, key, tenant, "r1", "r2")).success
    assert _Platform.asked == [
        {"path": "/yes", "tenantId": tenant, "platformUserId": "pu-7", "resourceUuids": ["r1", "r2"]}
    ]
    monkeypatch.setenv("CLOUDBUS_PLATFORM_AUTH_URL", f"{platform}/no")
    denied = await _auth(cloud, key, tenant, "r1")
    assert denied.error.code == "ID.1002" and "denied" in denied.error.details
    monkeypatch.setenv("CLOUDBUS_PLATFORM_AUTH_URL", f"{platform}/silent")
    silent = await _auth(cloud, key, tenant, "r1")
    assert silent.error.code == "ID.1002" and "did not allow" in silent.error.details
    assert (await _auth(cloud, key + "x", tenant, "r1")).error.code == "ID.1000"  # the key first
    assert len(_Platform.asked) == 3


async def test_api_key_calls_through_the_portal_ask_the_platform_about_what_they_name(
    cloud: Cloud, platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await cloud.api("CreateTenant", tenantName="acme")
    key, tenant = created.get("apikey"), created.get("tenantId")
    credentials = Credentials(apikey=key, tenantId=tenant, platformUserId="pu-7")
    monkeypatch.setenv("CLOUDBUS_PLATFORM_AUTH_TIMEOUT", "0.5")
    monkeypatch.setenv("CLOUDBUS_PLATFORM_AUTH_URL", f"{platform}/no")
    async with cloud.connect(credentials) as client:
        group = await client.call(CreateSecurityGroup(name="web"))  # names no resource: the key suffices
        assert _Platform.asked == []
        [account] = await client.call(QueryAccount())
        assert account["name"] == tenant  # the tenant's own account, and only it
        refused = await client.request(UpdateSecurityGroup(uuid=group["uuid"], name="db"))
        assert refused.error.code == "ID.1002"
        assert _Platform.asked[-1]["resourceUuids"] == [group["uuid"]]
        monkeypatch.setenv("CLOUDBUS_PLATFORM_AUTH_URL", f"{platform}/yes")
        assert (await client.call(UpdateSecurityGroup(uuid=group["uuid"], name="db")))["name"] == "db"
        assert (await client.request(CreateZone(name="z"))).error.code == "ID.1002"
    wrong = Credentials(apikey=key + "x", tenantId=tenant, platformUserId="pu-7")
    async with cloud.connect(wrong) as client:
        assert (await client.request(QueryAccount())).error.code == "ID.1000"
