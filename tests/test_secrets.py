"""No password and no API key is ever written anywhere a person could read it later: not in a
log line (at DEBUG), not in a reply nor an `api.*` event, not in any row of any table (issue
8), on both backends.

The secrets are what users typed, the SHA-512 hex a client sends for a typed password, and the
API keys CreateTenant and RegenerateApiKey return (a reply must carry those, once: the check
is that no *other* reply, and nothing kept, repeats them).
"""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import select

from cloudbus.core.auth import Credentials
from cloudbus.core.logging import configure
from cloudbus.core.messages import Event
from cloudbus.core.passwords import sha512_hex
from cloudbus.inventory.schema import metadata
from cloudbus.testing import Cloud
from tests.support.cluster import wait_until

TYPED = ["Tr0ub4dor&alice", "correct horse battery", "n3w-Passw0rd!", "wrong-guess-123", "user-pw-77"]


async def _dump(cloud: Cloud) -> str:
    """Every row of every table, bookkeeping (API records, journals) included."""
    out = []
    async with cloud.db.read() as conn:
        for table in metadata.sorted_tables:
            out += [repr(tuple(row)) for row in (await conn.execute(select(table))).all()]
    return "\n".join(out)


async def test_no_secret_is_logged_returned_or_stored(cloud: Cloud) -> None:
    stream = io.StringIO()
    configure(json=True, level="DEBUG", stream=stream)
    replies: list[dict[str, Any]] = []
    shown_once: list[str] = []
    events: list[dict[str, Any]] = []

    async def heard(event: Event) -> None:
        events.append({"name": event.name, **event.data})

    subscription = await cloud.node.bus.subscribe("api.#", heard)

    async def api(api_name: str, /, **params: Any) -> Any:
        reply = await cloud.api(api_name, **params)
        if api_name in ("CreateTenant", "RegenerateApiKey") and reply.success:
            shown_once.append(reply.get("apikey"))
        else:
            replies.append(reply.to_json())
        return reply

    try:
        alice = (await api("CreateAccount", name="alice", password=sha512_hex(TYPED[0]))).inventory
        await api("LogInByAccount", accountName="alice", password=sha512_hex(TYPED[0]))
        await api("LogInByAccount", accountName="alice", password=sha512_hex(TYPED[3]))  # refused
        await api("UpdateAccount", uuid=alice["uuid"], password=sha512_hex(TYPED[2]), oldPassword=sha512_hex(TYPED[0]))
        await api("UpdateAccount", uuid=alice["uuid"], password=sha512_hex(TYPED[1]), oldPassword=sha512_hex(TYPED[3]))
        await api("CreateUser", accountUuid=alice["uuid"], name="u", password=sha512_hex(TYPED[4]))
        await api("LogInByUser", accountName="alice", userName="u", password=sha512_hex(TYPED[4]))
        tenant = await api("CreateTenant", tenantName="acme")
        tenant_id = tenant.get("tenantId")
        await api("RegenerateApiKey", tenantId=tenant_id)
        assert len(shown_once) == 2
        for key in shown_once:  # the first key is revoked: refused; the second works
            async with cloud.connect(Credentials(apikey=key, tenantId=tenant_id, platformUserId="p1")) as client:
                reply = await client.request(_query_account())
                replies.append(reply.to_json())
        assert replies[-2]["error"]["code"] == "ID.1000" and replies[-1]["success"]
        # a failure naming a session or key in the envelope logs neither
        async with cloud.connect(Credentials(session="0" * 32)) as client:
            replies.append((await client.request(_query_account())).to_json())
        await wait_until(
            lambda: any(e["name"] == "api.RegenerateApiKey" for e in events), 10, lambda: f"events heard: {events}"
        )
    finally:
        configure()
        await subscription.cancel()

    logs, answered, stored = stream.getvalue(), json.dumps([*replies, *events]), await _dump(cloud)
    assert any(e["name"] == "api.CreateTenant" and e["success"] for e in events)
    assert "LogInByAccount" in logs or "message failed" in logs  # the capture saw the run
    secrets = [*TYPED, *(sha512_hex(t) for t in TYPED), *shown_once]
    for secret in secrets:
        assert secret not in logs, f"a log line holds {secret[:6]}..."
        assert secret not in answered, f"a reply holds {secret[:6]}..."
        assert secret not in stored, f"the database holds {secret[:6]}..."


def _query_account() -> Any:
    from cloudbus.apis.identity import QueryAccount

    return QueryAccount()
