"""Secrets kept at rest: credentials cloudbus must use again (an OpenStack cloud's admin
password, a tenant's Keystone password), so they cannot be hashed, only encrypted.

The key is `CLOUDBUS_SECRET_KEY` (a Fernet key: `python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"`), or else `$CLOUDBUS_HOME/secret.key`, made
on first use with mode 0600. Management nodes of one cloud on several machines must share the
key: set CLOUDBUS_SECRET_KEY on each. Stored values read `fernet:<token>`.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from cloudbus.core import errors
from cloudbus.core.config import Settings

SECRET_KEY = errors.register("SYS.1020", "The secret key cannot encrypt or decrypt a stored credential")
_PREFIX = "fernet:"


def encrypt(plain: str) -> str:
    return _PREFIX + _fernet().encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    from cryptography.fernet import InvalidToken

    if not stored.startswith(_PREFIX):
        raise errors.fail(SECRET_KEY, "the stored credential is not encrypted by cloudbus")
    try:
        return _fernet().decrypt(stored[len(_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise errors.fail(
            SECRET_KEY,
            "a stored credential does not decrypt with this node's key: is CLOUDBUS_SECRET_KEY the same "
            "on every management node?",
        ) from None


@cache
def _fernet() -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise errors.fail(
            SECRET_KEY, "the cryptography package is missing: pip install 'cloudbus[openstack]'"
        ) from None
    key = os.environ.get("CLOUDBUS_SECRET_KEY") or _key_file(Settings.from_env().home / "secret.key")
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except ValueError as exc:
        raise errors.fail(SECRET_KEY, f"CLOUDBUS_SECRET_KEY is not a Fernet key: {exc}") from None


def _key_file(path: Path) -> str:
    """The key in `path`, made (0600, whole or not at all) if there is none yet."""
    from cryptography.fernet import Fernet

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
        try:
            os.link(partial, path)  # never replaces a key another process made meanwhile
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return path.read_text().strip()
