"""The real libvirtd (``qemu:///system``) for tests that drive QEMU through libvirt.

CI starts it with ``bash .ci/libvirtd start`` (as root; see that script). Locally, tests that
need it are skipped when it does not answer; under CI (``CI=true``) that is an error instead,
because the CI must have it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

SYSTEM_URI = "qemu:///system"
#: Seconds to wait for libvirt.open(); the daemon's first answer after a start can take ~8 s.
OPEN_TIMEOUT = float(os.environ.get("CLOUDBUS_TEST_LIBVIRT_TIMEOUT", "30"))
SKIP_REASON = f"no libvirtd at {SYSTEM_URI}: run `bash .ci/libvirtd start` as root"


class LibvirtUnavailable(RuntimeError):
    """Under CI, the system libvirtd does not answer."""


def _probe(uri: str, timeout: float) -> str | None:
    """None when `uri` opens within `timeout` seconds, else why not."""
    try:
        import libvirt
    except ImportError:
        return "libvirt-python is not installed (pip install -e '.[test,kvm]')"
    outcome: dict[str, Any] = {}

    def open_and_close() -> None:
        try:
            conn = libvirt.open(uri)
            try:
                outcome["version"] = conn.getLibVersion()
            finally:
                conn.close()
        except Exception as e:  # libvirt.libvirtError, or anything the binding raises
            outcome["error"] = str(e).strip() or type(e).__name__

    # libvirt.open can block (e.g. a daemon that accepts but never answers): run it in a daemon
    # thread and give up after the timeout; the thread is abandoned, not joined.
    thread = threading.Thread(target=open_and_close, name="libvirt-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"libvirt.open({uri!r}) did not return within {timeout:g} s"
    if "error" in outcome:
        return f"libvirt.open({uri!r}) failed: {outcome['error']}"
    return None


def system_libvirt_uri(timeout: float = OPEN_TIMEOUT) -> str:
    """``qemu:///system`` when its libvirtd answers; otherwise skip (locally) or raise (CI=true)."""
    problem = _probe(SYSTEM_URI, timeout)
    if problem is None:
        return SYSTEM_URI
    if os.environ.get("CI", "").lower() == "true":
        raise LibvirtUnavailable(f"{problem}; CI must provide it: `bash .ci/libvirtd start` (as root)")
    pytest.skip(f"{SKIP_REASON} ({problem})")
