"""The CLI keeps a login session between commands (cloudbus/apis/credentials_store.py), embedded mode.

Every command is its own process (tests/test_cli.py's helpers); what is asserted is what a user
sees: the reply JSON, the exit status, the line on stderr, the kept file and its mode.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from cloudbus.core.passwords import sha512_hex
from tests.test_cli import Run, cloudbus, ok

STORE = "sessions.json"
EXPIRED_LINE = "cloudbus: the kept login session is expired or unknown to this cloud: log in again\n"


def run(home: Path, *args: str, stdin: str | None = None, **env: str) -> Run:
    return cloudbus(home, *args, stdin=stdin, extra_env=env)


def refused(home: Path, *args: str, code: str, **env: str) -> Run:
    done = run(home, *args, **env)
    assert done.code == 1, (done.stdout, done.stderr)
    assert done.json["success"] is False and done.json["error"]["code"] == code, done.json
    return done


def kept(home: Path) -> dict[str, Any]:
    """The one cloud's entry of the store (the store holds one per cloud)."""
    [entry] = json.loads((home / STORE).read_text()).values()
    return entry


def log_in(home: Path, account: str = "admin", password: str = "password") -> dict[str, Any]:
    return ok(home, "LogInByAccount", f"accountName={account}", f"password={password}")["inventory"]


def test_a_login_is_kept_0600_without_the_password(tmp_path: Path) -> None:
    session = log_in(tmp_path)
    path = tmp_path / STORE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept(tmp_path) == {k: session[k] for k in ("uuid", "accountUuid", "expiredDate")}
    text = path.read_text()
    assert "password" not in text and sha512_hex("password") not in text
    assert not list(tmp_path.glob(f".{STORE}*"))  # no temporary file left beside it


def test_later_commands_act_as_the_logged_in_account(tmp_path: Path) -> None:
    alice = ok(tmp_path, "CreateAccount", "name=alice", "password=pw1")["inventory"]
    log_in(tmp_path, "alice", "pw1")
    assert kept(tmp_path)["accountUuid"] == alice["uuid"]
    error = refused(tmp_path, "CreateZone", "name=z", code="ID.1002").json["error"]
    assert alice["uuid"] in error["details"]
    accounts = ok(tmp_path, "QueryAccount")["inventories"]
    assert [a["uuid"] for a in accounts] == [alice["uuid"]]


def test_a_script_uses_the_session_from_its_own_login(tmp_path: Path) -> None:
    ok(tmp_path, "CreateAccount", "name=alice", "password=pw1")
    done = run(tmp_path, "-f", "-", stdin="LogInByAccount accountName=alice password=pw1\nCreateZone name=z\n")
    assert done.code == 1, (done.stdout, done.stderr)
    assert done.stdout.rstrip().endswith('"success": false\n}')
    assert '"code": "ID.1002"' in done.stdout


def test_log_out_ends_the_kept_session_in_the_cloud_and_here(tmp_path: Path) -> None:
    ok(tmp_path, "CreateAccount", "name=alice", "password=pw1")
    log_in(tmp_path, "alice", "pw1")
    before = (tmp_path / STORE).read_text()
    assert ok(tmp_path, "LogOut") == {"success": True}  # no sessionUuid: the kept one
    assert not (tmp_path / STORE).exists()
    assert ok(tmp_path, "CreateZone", "name=z")["inventory"]["name"] == "z"  # embedded, no session: admin
    # the cloud forgot it too: putting the old file back gets it refused
    (tmp_path / STORE).write_text(before)
    refused(tmp_path, "QueryZone", code="ID.1001")


def test_a_session_the_cloud_no_longer_knows_is_dropped_with_one_line(tmp_path: Path) -> None:
    ok(tmp_path, "CreateAccount", "name=alice", "password=pw1")
    session = log_in(tmp_path, "alice", "pw1")
    # another user of the same cloud (own home, same database) logs that session out
    other = tmp_path / "other"
    db = f"sqlite:///{tmp_path / 'cloudbus.db'}"
    assert run(other, "LogOut", f"sessionUuid={session['uuid']}", CLOUDBUS_DB_URL=db).code == 0
    done = refused(tmp_path, "CreateZone", "name=z", code="ID.1001")
    assert done.stderr == EXPIRED_LINE
    assert not (tmp_path / STORE).exists()
    assert ok(tmp_path, "CreateZone", "name=z")["success"] is True  # back to admin, nothing more said


def test_an_expired_kept_session_is_not_sent(tmp_path: Path) -> None:
    ok(tmp_path, "CreateAccount", "name=alice", "password=pw1")
    log_in(tmp_path, "alice", "pw1")
    store = json.loads((tmp_path / STORE).read_text())
    [entry] = store.values()
    entry["expiredDate"] = "2000-01-01T00:00:00Z"
    (tmp_path / STORE).write_text(json.dumps(store))
    done = run(tmp_path, "CreateZone", "name=z")  # as admin: alice's session was not sent
    assert (done.code, done.stderr) == (0, "")
    ok(tmp_path, "LogOut")  # nothing live to log out, but the expired entry goes
    assert not (tmp_path / STORE).exists()


def test_a_session_is_sent_only_to_the_cloud_that_issued_it(tmp_path: Path) -> None:
    ok(tmp_path, "CreateAccount", "name=alice", "password=pw1")
    log_in(tmp_path, "alice", "pw1")
    elsewhere = f"sqlite:///{tmp_path / 'another.db'}"
    done = run(tmp_path, "CreateZone", "name=z", CLOUDBUS_DB_URL=elsewhere)
    assert (done.code, done.stderr) == (0, "")  # another cloud: no session, so admin
    refused(tmp_path, "CreateZone", "name=z", code="ID.1002")  # alice's own cloud still has it


def test_an_api_key_in_the_environment_wins_over_the_kept_session(tmp_path: Path) -> None:
    tenant = ok(tmp_path, "CreateTenant", "tenantName=acme")
    key = {
        "CLOUDBUS_API_KEY": tenant["apikey"],
        "CLOUDBUS_TENANT_ID": tenant["tenantId"],
        "CLOUDBUS_PLATFORM_USER_ID": "platform-user-1",
    }
    log_in(tmp_path)  # an admin session is kept, but the key is what gets sent
    done = run(tmp_path, "QueryAccount", **key)
    assert done.code == 0, done.stdout
    assert [a["name"] for a in done.json["inventories"]] == [tenant["tenantId"]]

    refused(tmp_path, "QueryAccount", code="ID.1000", **{**key, "CLOUDBUS_API_KEY": "not-the-key"})

    del key["CLOUDBUS_PLATFORM_USER_ID"]
    done = run(tmp_path, "QueryAccount", **key)
    assert (done.code, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("cloudbus: CLOUDBUS_PLATFORM_USER_ID is not set")
