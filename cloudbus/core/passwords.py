"""Password storage: what a client sends (SHA-512 hex of the typed password, as zstack-cli
sends it) is kept only as a salted scrypt hash, and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os

# scrypt cost (RFC 7914): 2^14 x 8 x 1 takes ~50 ms and 16 MiB here, so guessing is slow
# and a login stays quick
_N, _R, _P, _SALT, _LENGTH = 2**14, 8, 1, 16, 32


def sha512_hex(typed: str) -> str:
    """What zstack-cli puts on the wire for a typed password."""
    return hashlib.sha512(typed.encode()).hexdigest()


def hash_password(secret: str) -> str:
    salt = os.urandom(_SALT)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LENGTH)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    found = hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
    )
    return hmac.compare_digest(found.hex(), digest)
