"""Throwaway RabbitMQ and PostgreSQL servers for the ``--backend=amqp`` test configuration.

Two ways to get them:

* When a Docker engine answers (checked with a 3 s ping), testcontainers starts the official
  images. Set ``CLOUDBUS_TEST_NO_DOCKER=1`` to skip the check.
* Otherwise the locally installed binaries (Debian packages ``rabbitmq-server`` and ``postgresql``)
  are started from a scratch directory on free loopback ports.

Every local instance is fully isolated so that several test sessions (or helpers, or benchmark
runs) can share one machine, and none of them touches a system-wide broker or database:

* ports are chosen by bind-probing 127.0.0.1 (AMQP, Erlang distribution, epmd, PostgreSQL);
* RabbitMQ gets a unique node name (``cb<random>@localhost``), its own epmd on its own port
  (``ERL_EPMD_PORT``), its own Erlang cookie (``HOME`` = workdir) and config/data/log files in the
  workdir; the shared ``/etc/rabbitmq`` and ``/var/lib/rabbitmq`` are never read or written;
* PostgreSQL gets its own cluster (``initdb``) and its own Unix socket directory.

Servers are stopped by ``.stop()``, by an ``atexit`` hook, and -- if the test process is killed
with SIGKILL so that neither runs -- by a small reaper process that notices its parent is gone.

Run ``python tests/support/servers.py`` to start both, print their URLs and start/stop times.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

#: Hard limit for a server to become ready (brief: 60 s; RabbitMQ usually needs 5-8 s here).
START_TIMEOUT = float(os.environ.get("CLOUDBUS_TEST_SERVER_TIMEOUT", "60"))
#: Limit for a graceful stop before processes are killed.
STOP_TIMEOUT = 20.0

RABBITMQ_IMAGE = os.environ.get("CLOUDBUS_TEST_RABBITMQ_IMAGE", "rabbitmq:3-alpine")
POSTGRES_IMAGE = os.environ.get("CLOUDBUS_TEST_POSTGRES_IMAGE", "postgres:15-alpine")

# Installed by the Debian package; the /usr/sbin wrappers are deliberately NOT used (see
# LocalRabbitMQ._env).
RABBITMQ_BIN = Path(os.environ.get("CLOUDBUS_TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


class ServerStartError(RuntimeError):
    """A throwaway server did not come up; the message carries the tail of its log."""


class Stoppable(Protocol):
    """Anything the atexit hook can stop."""

    def stop(self) -> None: ...


# --------------------------------------------------------------------------------------------
# helpers


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1 (bind-probe; the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_ports(n: int) -> list[int]:
    """Return ``n`` distinct free ports (held open together so the kernel cannot repeat one)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def port_accepting(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def amqp_handshake_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if host:port speaks AMQP 0-9-1, i.e. answers the protocol header with Connection.Start.

    Unlike a bare TCP connect this is not fooled by Docker's userland proxy, which accepts
    connections before the broker inside the container is listening.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            frame = s.recv(7)
            # frame type 1 (method) on channel 0 == Connection.Start
            return len(frame) == 7 and frame[0] == 1 and frame[1:3] == b"\x00\x00"
    except OSError:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


def _kill_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group led by ``proc`` (started with start_new_session), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


_docker_ok: bool | None = None


def docker_available() -> bool:
    """True if a Docker engine answers within 3 s (cached per process)."""
    global _docker_ok
    if _docker_ok is None:
        _docker_ok = False
        if os.environ.get("CLOUDBUS_TEST_NO_DOCKER", "") not in ("", "0"):
            return False
        try:
            import docker  # installed with testcontainers

            client = docker.from_env(timeout=3)
            try:
                _docker_ok = bool(client.ping())
            finally:
                client.close()
        except Exception:
            # No socket, no permission, daemon down, SDK missing: all mean "use local binaries".
            _docker_ok = False
    return _docker_ok


# --------------------------------------------------------------------------------------------
# cleanup: atexit for normal exits, a reaper process for SIGKILLed test sessions

_live: list[Stoppable] = []
_live_lock = threading.Lock()


def _register(server: Stoppable) -> None:
    with _live_lock:
        _live.append(server)


def _unregister(server: Stoppable) -> None:
    with _live_lock, contextlib.suppress(ValueError):
        _live.remove(server)


@atexit.register
def _stop_all() -> None:
    """Stop every server still running when the interpreter exits (e.g. a crashed session)."""
    with _live_lock:
        servers = list(reversed(_live))
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


class _Reaper:
    """A tiny child process that kills a server's processes if this Python process dies.

    atexit does not run on SIGKILL or os._exit, and the servers run in their own sessions (so a
    Ctrl-C aimed at pytest does not kill them mid-test), so without this they would outlive a
    killed test run. The reaper blocks reading a pipe from us; EOF without the word ``done``
    means we died, and it then runs its cleanup actions. It costs ~30 ms to spawn.
    """

    def __init__(self, actions: list[dict[str, Any]]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--reap", json.dumps(actions)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def dismiss(self) -> None:
        """Tell the reaper the server was stopped properly; it exits without doing anything."""
        if self._proc.poll() is None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.write(b"done\n")
                self._proc.stdin.close()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()


def _reap_main(actions_json: str) -> None:
    """Entry point of the reaper process (see _Reaper)."""
    data = sys.stdin.buffer.read()  # returns at EOF: parent closed the pipe or died
    if b"done" in data:
        return
    for action in json.loads(actions_json):
        with contextlib.suppress(Exception):
            if "killpg" in action:
                pgid = int(action["killpg"])
                os.killpg(pgid, signal.SIGTERM)
                for _ in range(100):
                    time.sleep(0.1)
                    os.killpg(pgid, 0)  # raises ProcessLookupError once the group is gone
                os.killpg(pgid, signal.SIGKILL)
            elif "cmd" in action:
                subprocess.run(action["cmd"], timeout=30, check=False, capture_output=True)
            elif "rmtree" in action:
                shutil.rmtree(action["rmtree"], ignore_errors=True)


# --------------------------------------------------------------------------------------------
# RabbitMQ


class LocalRabbitMQ:
    """A RabbitMQ node from the locally installed package, private to one workdir.

    Attributes ``url``, ``port``, ``node`` and ``workdir`` describe the instance; ``restart()``
    stops and starts it on the same ports and data directory (for reconnect tests).
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.node = f"cb{secrets.token_hex(4)}@localhost"
        self.port, self.dist_port, self.epmd_port = _free_ports(3)
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.log_dir = self.workdir / "log"
        self.log_file = self.log_dir / f"{self.node}.log"
        self.console_log = self.workdir / "console.log"
        self._server: subprocess.Popen[bytes] | None = None
        self._epmd: subprocess.Popen[bytes] | None = None
        self._reaper: _Reaper | None = None
        self.start_seconds = 0.0
        self._write_files()

    # -- setup

    def _write_files(self) -> None:
        (self.workdir / "mnesia").mkdir(exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        # Own cookie: rabbitmqctl authenticates to the node with $HOME/.erlang.cookie, which must
        # be private (mode 0400) and owned by the user running erl -- we run everything as the
        # current user, so nothing needs chown.
        cookie = self.workdir / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        (self.workdir / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{self.port}",
                    "log.console = false",
                    "log.file.level = info",
                    # tmp filesystems on CI runners can be small; the default 50MB alarm
                    # would block publishers for reasons unrelated to the code under test.
                    "disk_free_limit.absolute = 1MB",
                    "",
                ]
            )
        )
        # No plugins: the management plugin alone adds ~2 s to boot and is not needed by tests.
        (self.workdir / "enabled_plugins").write_text("[].\n")
        (self.workdir / "rabbitmq-env.conf").write_text("# intentionally empty: isolates from /etc\n")

    def _env(self) -> dict[str, str]:
        """Environment for rabbitmq-server and rabbitmqctl.

        We call /usr/lib/rabbitmq/bin/* directly instead of the /usr/sbin wrappers: as root the
        Debian wrapper re-executes itself through ``su rabbitmq``, ``cd``s to /var/lib/rabbitmq,
        uses that directory's shared Erlang cookie and redirects output to the shared
        /var/log/rabbitmq/startup_log -- which breaks running several isolated nodes, and the
        rabbitmq user cannot enter pytest's 0700 temp directories. Erlang and RabbitMQ run fine as
        root, so the node simply runs as the current user with HOME pointing at the workdir.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        w = self.workdir
        env.update(
            HOME=str(w),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_USE_LONGNAME="false",
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(w / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_CONFIG_FILE=str(w / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(w / "advanced.config"),  # absent on purpose
            RABBITMQ_CONF_ENV_FILE=str(w / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(w / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(w / "rabbitmq.pid"),
            # A private epmd per node: it is started and stopped with the node, so stopping never
            # kills an epmd other brokers on the machine depend on, and nothing leaks.
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            LC_ALL="C.UTF-8",
        )
        return env

    def _ctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.node, *args],
            env=self._env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    # -- lifecycle

    def start(self) -> LocalRabbitMQ:
        """Launch epmd + the node and wait until it has fully booted."""
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            raise ServerStartError(
                f"{RABBITMQ_BIN / 'rabbitmq-server'} not found: apt-get install rabbitmq-server "
                "(or set CLOUDBUS_TEST_AMQP_URL to a running broker)"
            )
        t0 = time.monotonic()
        env = self._env()
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        # Foreground epmd in its own session; erl finds it on ERL_EPMD_PORT and does not spawn a
        # daemonised one (which would escape our process group and outlive the node).
        self._epmd = subprocess.Popen(
            [epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        with self.console_log.open("ab") as console:
            # Foreground mode (not -detached) so the server is our child: we see it die early,
            # and SIGTERM to its process group stops it cleanly via the script's trap.
            self._server = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._reaper = _Reaper([{"killpg": self._server.pid}, {"killpg": self._epmd.pid}])
        _register(self)
        try:
            self._wait_ready(t0)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, t0: float) -> None:
        deadline = t0 + START_TIMEOUT
        assert self._server is not None
        # 1. the AMQP listener opens at the very end of boot; poll it (cheap) ...
        while not port_accepting("127.0.0.1", self.port, timeout=0.3):
            if self._server.poll() is not None:
                raise self._error(f"rabbitmq-server exited with code {self._server.returncode}")
            if time.monotonic() > deadline:
                raise self._error(f"AMQP port {self.port} not accepting after {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        # 2. ... then confirm with await_startup (rc=69 means "node not reachable yet": retry).
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._error(f"rabbitmqctl await_startup did not succeed within {START_TIMEOUT:.0f} s")
            try:
                res = self._ctl("await_startup", "--timeout", str(max(1, int(remaining))), timeout=remaining + 5)
            except subprocess.TimeoutExpired:
                raise self._error("rabbitmqctl await_startup timed out") from None
            if res.returncode == 0:
                return
            if self._server.poll() is not None:
                raise self._error(f"rabbitmq-server exited with code {self._server.returncode}")
            time.sleep(0.3)

    def _error(self, what: str) -> ServerStartError:
        return ServerStartError(
            f"RabbitMQ node {self.node} (amqp port {self.port}, workdir {self.workdir}): {what}\n"
            f"--- {self.log_file} (tail) ---\n{_tail(self.log_file)}\n"
            f"--- {self.console_log} (tail) ---\n{_tail(self.console_log, 20)}"
        )

    def stop(self) -> None:
        """Stop the node (``rabbitmqctl stop``), then kill whatever is left, then its epmd."""
        server, self._server = self._server, None
        if server is not None and server.poll() is None:
            try:
                self._ctl("stop", timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            try:
                server.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(server, 5)
        epmd, self._epmd = self._epmd, None
        if epmd is not None:
            _kill_group(epmd, 5)
        if self._reaper is not None:
            self._reaper.dismiss()
            self._reaper = None
        _unregister(self)

    def restart(self) -> None:
        """Stop and start again on the same ports, node name and data directory."""
        self.stop()
        self.start()

    def __enter__(self) -> LocalRabbitMQ:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ContainerRabbitMQ:
    """RabbitMQ in a Docker container (testcontainers), with the same interface as LocalRabbitMQ.

    Uses the generic DockerContainer rather than testcontainers' RabbitMqContainer because the
    latter hard-imports ``pika``, which is not a dependency of this project; readiness is an AMQP
    protocol handshake. The host port is fixed (a free one) so ``restart()`` keeps the URL.
    """

    def __init__(self, workdir: Path) -> None:
        from testcontainers.core.container import DockerContainer

        self.workdir = Path(workdir)
        self.port = free_port()
        self._container = DockerContainer(RABBITMQ_IMAGE).with_bind_ports(5672, self.port)
        self.host = "127.0.0.1"
        self.url = f"amqp://guest:guest@{self.host}:{self.port}/"
        self.start_seconds = 0.0

    def start(self) -> ContainerRabbitMQ:
        t0 = time.monotonic()
        self._container.start()
        _register(self)
        self.host = self._container.get_container_host_ip()
        if self.host == "localhost":
            self.host = "127.0.0.1"
        self.url = f"amqp://guest:guest@{self.host}:{self.port}/"
        self._wait_ready(t0)
        self.start_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, t0: float) -> None:
        while not amqp_handshake_ok(self.host, self.port):
            if time.monotonic() - t0 > START_TIMEOUT:
                logs = self._container.get_wrapped_container().logs(tail=40).decode(errors="replace")
                self.stop()
                raise ServerStartError(f"RabbitMQ container not ready after {START_TIMEOUT:.0f} s:\n{logs}")
            time.sleep(0.3)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._container.stop()
        _unregister(self)

    def restart(self) -> None:
        t0 = time.monotonic()
        self._container.get_wrapped_container().restart(timeout=int(STOP_TIMEOUT))
        self._wait_ready(t0)


_PORT_TAKEN = re.compile(r"eaddrinuse|address already in use|could not bind", re.IGNORECASE)


def _start_local(factory: Callable[[Path], Any], workdir: Path) -> Any:
    """Start ``factory(dir).start()``, retrying in a fresh subdirectory if a probed port was taken.

    Bind-probing leaves a small window in which another process can grab the port before the
    server binds it; with several sessions starting at once that is worth two retries.
    """
    for attempt in range(3):
        try:
            return factory(workdir if attempt == 0 else workdir / f"retry{attempt}").start()
        except ServerStartError as exc:
            if attempt == 2 or not _PORT_TAKEN.search(str(exc)):
                raise
    raise AssertionError("unreachable")


def start_rabbitmq(workdir: Path) -> LocalRabbitMQ | ContainerRabbitMQ:
    """Start a private RabbitMQ broker; returns an object with ``.url``, ``.stop()``, ``.restart()``."""
    if docker_available():
        return ContainerRabbitMQ(workdir).start()
    return _start_local(LocalRabbitMQ, Path(workdir))


# --------------------------------------------------------------------------------------------
# PostgreSQL

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _run_async(factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion in a fresh thread + loop.

    Fixtures may call create_database() while pytest-asyncio's loop is running in this thread,
    where asyncio.run() is not allowed.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(factory())
        except BaseException as exc:
            result["error"] = exc

    t = threading.Thread(target=target, name="cloudbus-test-pg-admin", daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class PostgresAdmin:
    """Creates databases on a running PostgreSQL server reached through an admin URL.

    This is also what ``existing_postgres(url)`` returns; ``stop()`` is a no-op there because the
    server is not ours. Databases are created by asyncpg (a project dependency), so no client
    binaries are needed.
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.start_seconds = 0.0

    @property
    def url(self) -> str:
        """The admin URL (database ``postgres`` for servers we started)."""
        return self.admin_url

    def _asyncpg_dsn(self) -> str:
        # SQLAlchemy-style "postgresql+asyncpg://" -> plain "postgresql://" for asyncpg.
        scheme, rest = self.admin_url.split("://", 1)
        return "postgresql://" + rest if scheme.startswith("postgres") else self.admin_url

    def execute(self, sql: str) -> None:
        """Run one statement on the admin connection."""
        import asyncpg

        dsn = self._asyncpg_dsn()

        async def go() -> None:
            conn = await asyncpg.connect(dsn, timeout=15)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        _run_async(go)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (template0, so concurrent creates never conflict); return its URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}")
        self.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        return _with_database(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (closing other sessions on it)."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}")
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Nothing to stop for a server we did not start."""


def _pg_bindir() -> Path:
    """Directory with initdb/pg_ctl: newest /usr/lib/postgresql/<ver>/bin, else pg_config, else PATH."""
    if os.environ.get("CLOUDBUS_TEST_PG_BINDIR"):
        return Path(os.environ["CLOUDBUS_TEST_PG_BINDIR"])
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        best = max(found, key=lambda p: int(re.sub(r"\D", "", Path(p).parts[-3]) or 0))
        return Path(best).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=10)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerStartError(
        "PostgreSQL server binaries not found: apt-get install postgresql (or set CLOUDBUS_TEST_PG_URL)"
    )


class LocalPostgres(PostgresAdmin):
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free loopback port.

    As root, the server runs as ``postgres`` via runuser (postgres refuses to run as root). If that
    user cannot reach the workdir (pytest's temp root is mode 0700), the cluster lives in a private
    directory under the system temp dir instead, which is removed on stop.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bindir = _pg_bindir()
        self.port = free_port()
        super().__init__(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        self._as_postgres: list[str] = []
        self._owned_tmp: Path | None = None
        self.home = self.workdir
        self._reaper: _Reaper | None = None
        self._running = False

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def _prepare_home(self) -> None:
        if os.geteuid() != 0:
            return
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        self._as_postgres = [runuser, "-u", "postgres", "--"]
        shutil.chown(self.workdir, "postgres", "postgres")
        probe = subprocess.run([*self._as_postgres, "test", "-w", str(self.workdir)], check=False, timeout=10)
        if probe.returncode != 0:
            # Short path under /tmp (1777): also keeps the Unix socket path below the 107-byte limit.
            self._owned_tmp = Path(tempfile.mkdtemp(prefix="cloudbus-pg-"))
            self._owned_tmp.chmod(0o700)
            shutil.chown(self._owned_tmp, "postgres", "postgres")
            self.home = self._owned_tmp
            (self.workdir / "LOCATION").write_text(f"cluster in {self.home}\n")

    def _pg(self, tool: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_postgres, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )

    def start(self) -> LocalPostgres:
        """initdb, start, wait until it accepts connections."""
        t0 = time.monotonic()
        self._prepare_home()
        if not (self.datadir / "PG_VERSION").exists():
            res = self._pg(
                "initdb",
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
                timeout=START_TIMEOUT,
            )
            if res.returncode != 0:
                raise ServerStartError(f"initdb failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        sockdir = self.home
        if len(str(sockdir)) > 90:
            raise ServerStartError(f"socket dir path too long for a Unix socket: {sockdir}")
        opts = " ".join(
            [
                f"-p {self.port}",
                f"-k {sockdir}",
                "-c listen_addresses=127.0.0.1",
                # throwaway data: durability off (fsync=off alone is most of it)
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
                "-c shared_buffers=64MB",
            ]
        )
        _register(self)
        self._running = True
        kill_cmd = [*self._as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"]
        self._reaper = _Reaper(
            [{"cmd": kill_cmd}, *([{"rmtree": str(self._owned_tmp)}] if self._owned_tmp else [])],
        )
        res = self._pg(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "-o",
            opts,
            "start",
            timeout=START_TIMEOUT + 10,
        )
        if res.returncode != 0:
            log = _tail(self.log_file)
            self.stop()
            raise ServerStartError(
                f"pg_ctl start failed ({res.returncode}) on port {self.port}:\n{res.stdout}\n{res.stderr}\n"
                f"--- {self.log_file} (tail) ---\n{log}"
            )
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """``pg_ctl -m fast stop``, then remove a private temp home."""
        if self._running:
            self._running = False
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._pg("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", timeout=STOP_TIMEOUT)
        if self._owned_tmp is not None:
            shutil.rmtree(self._owned_tmp, ignore_errors=True)
            self._owned_tmp = None
        if self._reaper is not None:
            self._reaper.dismiss()
            self._reaper = None
        _unregister(self)

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ContainerPostgres(PostgresAdmin):
    """PostgreSQL 15 in a Docker container via testcontainers' PostgresContainer."""

    def __init__(self) -> None:
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers < 4.14 keeps it at the old place
            from testcontainers.postgres import PostgresContainer  # type: ignore[no-redef]

        self._container = PostgresContainer(POSTGRES_IMAGE, driver=None).with_command(
            "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        super().__init__("")

    def start(self) -> ContainerPostgres:
        t0 = time.monotonic()
        self._container.start()
        _register(self)
        self.admin_url = self._container.get_connection_url(driver=None)
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._container.stop()
        _unregister(self)


def start_postgres(workdir: Path) -> LocalPostgres | ContainerPostgres:
    """Start a private PostgreSQL server; returns an object with ``.create_database(name)`` and ``.stop()``."""
    if docker_available():
        return ContainerPostgres().start()
    return _start_local(LocalPostgres, Path(workdir))


def existing_postgres(url: str) -> PostgresAdmin:
    """Wrap an already running server; ``url`` must allow CREATE DATABASE (e.g. the postgres superuser)."""
    return PostgresAdmin(url)


# --------------------------------------------------------------------------------------------


def _demo() -> None:
    """Start both servers in a temp dir, print URLs and timings, stop them."""
    with tempfile.TemporaryDirectory(prefix="cloudbus-servers-") as tmp:
        t = time.monotonic()
        pg = start_postgres(Path(tmp) / "pg")
        print(f"postgres  up in {time.monotonic() - t:5.2f} s: {pg.url}")
        t = time.monotonic()
        db = pg.create_database("demo")
        print(f"createdb     in {time.monotonic() - t:5.2f} s: {db}")
        t = time.monotonic()
        mq = start_rabbitmq(Path(tmp) / "mq")
        print(f"rabbitmq  up in {time.monotonic() - t:5.2f} s: {mq.url}")
        if "--restart" in sys.argv:
            t = time.monotonic()
            mq.restart()
            print(f"rabbitmq  restarted in {time.monotonic() - t:5.2f} s")
        if "--wait" in sys.argv:
            input("press enter to stop ")
        t = time.monotonic()
        mq.stop()
        print(f"rabbitmq  stopped in {time.monotonic() - t:5.2f} s")
        t = time.monotonic()
        pg.stop()
        print(f"postgres  stopped in {time.monotonic() - t:5.2f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reap":
        _reap_main(sys.argv[2])
    else:
        _demo()
