"""The wire envelope: how a message, a reply or an event looks on the broker (JSON).

    request  {"v": 1, "kind": "call"|"send", "id", "name", "service", "body", "deadline", "node",
              "hops", "auth", "caller"}
    reply    {"v": 1, "kind": "reply", "id", "name", "body": Reply.to_json()}
    event    {"v": 1, "kind": "event", "id", "name", "body": Event.data}

`deadline` is absolute (seconds since the epoch) so it survives any number of hops;
`node` is the sender's node uuid (for logs); `hops` counts forwards between nodes while the
ring changes. `auth` is a client's credentials (a session, or an API key: core/auth.py);
`caller` is the account the portal resolved them to, carried on between nodes.

`mac`: a request or an event a management node sends is signed: its last key is the
HMAC-SHA256, with the cloud's bus secret (kept in its database), of the envelope's bytes
before it (as if it ended there with `}`): checking it re-serialises nothing.
A node drops unsigned events, and takes unsigned requests only on the API portal's queue
(where clients send, and where a claimed `caller` is ignored): whoever can publish on the
broker but cannot read the database can neither skip the portal nor claim to be someone.
docs/wire-protocol.md is the contract for non-Python clients; this module is its only
implementation.

Version log (bump `VERSION` only for a change an old receiver cannot ignore;
receivers ignore keys they do not know):
- 1: first version. Later additions that old receivers ignore: `hops`, `auth`, `caller`, `mac`.
"""

from __future__ import annotations

import hashlib
import hmac
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

    # set by decode: whether the request carried a valid `mac` for the key it was given
    signed: bool = False

    def encode(self, secret: bytes | None = None) -> bytes:
        """The envelope as sent; signed (`mac`) when a secret is given."""
        data: dict[str, Any] = {"v": VERSION, "kind": self.kind, "id": self.id, "name": self.name, "body": self.body}
        for key in ("service", "deadline", "node", "auth", "caller"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.hops:
            data["hops"] = self.hops
        raw = json.dumps(data, separators=(",", ":")).encode()
        if secret is None:
            return raw
        return raw[:-1] + _MAC_KEY + _mac(raw, secret) + b'"}'


_MAC_KEY = b',"mac":"'
_MAC_TAIL = len(_MAC_KEY) + 64 + 2  # the key, 64 hex digits, `"}`


def _mac(signed: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()


def _signed(raw: bytes, secret: bytes) -> bool:
    """Whether `raw` ends with the right `mac` for the bytes before it."""
    tail = raw[-_MAC_TAIL:]
    if len(raw) <= _MAC_TAIL or not tail.startswith(_MAC_KEY) or not tail.endswith(b'"}'):
        return False
    body = raw[:-_MAC_TAIL] + b"}"
    return hmac.compare_digest(tail[len(_MAC_KEY) : -2], _mac(body, secret))


def decode(raw: bytes, secret: bytes | None = None) -> Envelope:
    """Parse an envelope, or raise CloudBusError (SYS.1007) saying what is wrong with it; with
    a `secret`, `signed` tells whether its `mac` is right."""
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
    signed = secret is not None and _signed(raw, secret)
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
        signed=signed,
    )
