"""The wire envelope: how a message, a reply or an event looks on the broker (JSON).

    request  {"v": 1, "kind": "call"|"send", "id", "name", "service", "body", "deadline", "node",
              "hops", "auth", "caller"}
    reply    {"v": 1, "kind": "reply", "id", "name", "body": Reply.to_json()}
    event    {"v": 1, "kind": "event", "id", "name", "body": Event.data}

`deadline` is absolute (seconds since the epoch) so it survives any number of hops;
`node` is the sender's node uuid (for logs); `hops` counts forwards between nodes while the
ring changes. `auth` is a client's credentials (a session, or an API key: core/auth.py);
`caller` is the account the portal resolved them to, carried on between nodes.
docs/wire-protocol.md is the contract for non-Python clients; this module is its only
implementation.

Version log (bump `VERSION` only for a change an old receiver cannot ignore;
receivers ignore keys they do not know):
- 1: first version. Later additions that old receivers ignore: `hops`, `auth`, `caller`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cloudbus.core import errors

VERSION = 1
CONTENT_TYPE = "application/json"
KINDS = ("call", "send", "reply", "event")


@dataclass
class Envelope:
    kind: str
    id: str
    name: str
    body: dict[str, Any] = field(default_factory=dict)
    service: str | None = None
    deadline: float | None = None
    node: str | None = None
    hops: int = 0
    auth: dict[str, Any] | None = None
    caller: dict[str, Any] | None = None

    def encode(self) -> bytes:
        data: dict[str, Any] = {"v": VERSION, "kind": self.kind, "id": self.id, "name": self.name, "body": self.body}
        for key in ("service", "deadline", "node", "auth", "caller"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.hops:
            data["hops"] = self.hops
        return json.dumps(data, separators=(",", ":")).encode()


def decode(raw: bytes) -> Envelope:
    """Parse an envelope, or raise CloudBusError (SYS.1007) saying what is wrong with it."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # not JSON, not UTF-8, or a number longer than Python converts
        raise errors.invalid_argument(f"malformed envelope: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise errors.invalid_argument("malformed envelope: expected a JSON object")
    if data.get("v") != VERSION:
        raise errors.invalid_argument(f"unsupported envelope version[{data.get('v')!r}]; this node speaks v{VERSION}")
    kind, name, body = data.get("kind"), data.get("name"), data.get("body", {})
    if kind not in KINDS or not isinstance(name, str) or not name or not isinstance(body, dict):
        raise errors.invalid_argument("malformed envelope: needs kind (call|send|reply|event), name and an object body")
    deadline = data.get("deadline")
    return Envelope(
        kind=kind,
        id=str(data.get("id") or ""),
        name=name,
        body=body,
        service=data.get("service"),
        deadline=float(deadline) if isinstance(deadline, int | float) else None,
        node=data.get("node"),
        hops=int(data["hops"]) if isinstance(data.get("hops"), int) else 0,
        auth=data.get("auth"),
        caller=data.get("caller") if isinstance(data.get("caller"), dict) else None,
    )
