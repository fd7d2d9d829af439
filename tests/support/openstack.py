"""A private, real, small OpenStack (from PyPI) that tests can install, start and stop.

This module owns everything about that OpenStack: the apt packages it needs, one venv holding
Keystone, Placement, Glance, Nova, Neutron, Cinder and Manila (in a cache dir outside the checkout),
every config file (as string templates below), a private MariaDB (port 3307) and RabbitMQ (port
5673), the schemas, the Keystone catalog, and the service processes. Each process runs in its own
session (``setsid``); the session id is recorded in ``<base>/run/pids/<name>.pid`` and stopping
signals every process of that session (forked workers and privsep helpers included).

Nova uses a fake virt driver, Cinder a file-backed fake driver and Manila the dummy driver; Neutron
runs its API only, with the agentless ``noagent`` ML2 driver. The three small plugins live in
``tests/support/openstack_plugins/``. The recipe and its pitfalls: /work/shared/reference/openstack-local.md.

CLI::

    python tests/support/openstack.py install | up [--fresh] | down [--infra] | status | env

Python (pytest fixtures): ``up(fresh=False) -> dict`` of OS_* values once ready, ``down(infra=True)``.
Progress goes to stderr; ``up`` and ``env`` print only the OS_* lines on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------
# constants

BASE = Path(os.environ.get("CLOUDBUS_OPENSTACK_DIR", "/var/cache/cloudbus-openstack"))
RUN = BASE / "run"
PIDS = RUN / "pids"
LOGS = RUN / "logs"
PLUGINS = Path(__file__).resolve().parent / "openstack_plugins"

#: Exact versions measured working together (reference); changing one builds a new venv.
PINS: tuple[str, ...] = (
    "keystone==30.0.0",
    "openstack-placement==16.0.0",
    "glance==33.0.0",
    "nova==34.0.0",
    "neutron==29.0.0",
    "cinder==29.0.0",
    "manila==23.0.1",
    "openstacksdk",
    "gunicorn",
    "pymysql",
    "fixtures",  # cinder.tests.fake_driver imports it
)
APT_PACKAGES = ("mariadb-server", "qemu-utils", "rabbitmq-server")

PASSWORD = "secret"
HOST = "127.0.0.1"
# Never the default ports: a system MariaDB/RabbitMQ, and the brokers CI starts, may use those.
DB_PORT = 3307
AMQP_PORT = 5673
DIST_PORT = 25673
EPMD_PORT = 24369  # private epmd, below the kernel's ephemeral range so free-port probes never pick it
RABBIT_NODE = "cbos@localhost"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
DB_URL = f"mysql+pymysql://os:{PASSWORD}@{HOST}:{DB_PORT}"
TRANSPORT_URL = f"rabbit://guest:guest@{HOST}:{AMQP_PORT}/"
DATABASES = ("keystone", "placement", "glance", "nova_api", "nova", "nova_cell0", "neutron", "cinder", "manila")
KEYSTONE_URL = f"http://{HOST}:5000/v3"

OS_ENV: dict[str, str] = {
    "OS_AUTH_URL": KEYSTONE_URL,
    "OS_USERNAME": "admin",
    "OS_PASSWORD": PASSWORD,
    "OS_PROJECT_NAME": "admin",
    "OS_USER_DOMAIN_NAME": "Default",
    "OS_PROJECT_DOMAIN_NAME": "Default",
    "OS_REGION_NAME": "RegionOne",
}

#: (service type, service name, endpoint URL) registered after Keystone's own (from bootstrap).
CATALOG: tuple[tuple[str, str, str], ...] = (
    ("placement", "placement", f"http://{HOST}:8778"),
    ("image", "glance", f"http://{HOST}:9292"),
    ("compute", "nova", f"http://{HOST}:8774/v2.1"),
    ("network", "neutron", f"http://{HOST}:9696"),
    ("volumev3", "cinderv3", f"http://{HOST}:8776/v3/%(project_id)s"),
    ("sharev2", "manilav2", f"http://{HOST}:8786/v2/%(project_id)s"),
)

# Timeouts (s). 2 cores: 14 Python services starting together are CPU-bound for ~30 s.
APT_TIMEOUT = 900
PIP_TIMEOUT = 1800
INFRA_TIMEOUT = 90
SCHEMA_TIMEOUT = 300
API_TIMEOUT = 240
WORKER_TIMEOUT = 300
STOP_GRACE = 5.0
INFRA_STOP_GRACE = 30.0  # MariaDB flushes, rabbit stops its apps: give them time before SIGKILL

_T0 = time.monotonic()
_PROCS: dict[str, subprocess.Popen[bytes]] = {}  # children of this process, kept to reap them


def log(msg: str) -> None:
    """Progress line on stderr (stdout is reserved for the OS_* lines)."""
    print(f"[openstack +{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


def _fail(name: str, what: str, logfile: Path) -> RuntimeError:
    """A clear error naming the service, its log file and the end of that log."""
    return RuntimeError(f"OpenStack {name}: {what}\nlog: {logfile}\n--- last 20 lines ---\n{_tail(logfile)}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise install/up/down across processes (two pytest sessions on one machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _run(argv: list[str], logfile: Path, timeout: float, name: str, env: dict[str, str] | None = None) -> None:
    """Run a one-shot command, appending its output to ``logfile``; raise with the log tail on failure."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as f:
        f.write(f"\n=== {time.strftime('%F %T')} $ {' '.join(argv)}\n".encode())
        f.flush()
        try:
            rc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            raise _fail(name, f"{argv[0]} timed out after {timeout:.0f} s", logfile) from None
    if rc != 0:
        raise _fail(name, f"{' '.join(argv[:4])} ... exited with {rc}", logfile)


# --------------------------------------------------------------------------------------------
# install: apt packages + the venv


def _dpkg_installed(pkg: str) -> bool:
    res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False)
    return res.stdout.strip() == "install ok installed"


def _install_apt() -> None:
    missing = [p for p in APT_PACKAGES if not _dpkg_installed(p)]
    if not missing:
        return
    log(f"apt-get install {' '.join(missing)}")
    busy_before = {port: _port_open(port) for port in (3306, 5672)}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt_log = BASE / "apt.log"
    _run(["apt-get", "update", "-q"], apt_log, APT_TIMEOUT, "apt", env)
    _run(["apt-get", "install", "-y", "-q", *missing], apt_log, APT_TIMEOUT, "apt", env)
    # Without systemd the postinst may still start the system daemons via their init scripts; we run
    # private ones, so stop whatever the install started (and only that).
    for port, service in ((3306, "mariadb"), (5672, "rabbitmq-server")):
        if not busy_before[port] and _port_open(port):
            log(f"stopping the {service} the apt postinst started")
            subprocess.run(["service", service, "stop"], capture_output=True, timeout=120, check=False)


def _plugin_files() -> list[Path]:
    skip = {"__pycache__", "build"}
    return sorted(
        p
        for p in PLUGINS.rglob("*")
        if p.is_file() and not skip.intersection(p.parts) and not any(x.endswith(".egg-info") for x in p.parts)
    )


def _venv_hash() -> str:
    h = hashlib.sha256("\n".join(PINS).encode())
    for p in _plugin_files():
        h.update(str(p.relative_to(PLUGINS)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def venv_dir() -> Path:
    """The venv for the current pins and plugins (may not exist yet)."""
    return BASE / f"venv-{_venv_hash()}"


def _site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python3*/site-packages"))


def install() -> Path:
    """Idempotent: apt packages, then the venv (built under a temp name, renamed when complete)."""
    BASE.mkdir(parents=True, exist_ok=True)
    _install_apt()
    venv = venv_dir()
    if (venv / ".complete").exists():
        return venv
    with _locked(BASE / ".install.lock"):
        if (venv / ".complete").exists():
            return venv
        for stale in BASE.glob(".venv-*.tmp*"):  # left by a killed install
            shutil.rmtree(stale, ignore_errors=True)
        tmp = BASE / f".{venv.name}.tmp"
        pip_log = BASE / "install.log"
        t0 = time.monotonic()
        log(f"creating {venv} (pip log: {pip_log}); takes about 2 minutes")
        _run(["python3", "-m", "venv", str(tmp)], pip_log, 120, "venv")
        with tempfile.TemporaryDirectory() as src:
            # Build nbind from a copy so setuptools' build/ and *.egg-info never land in the checkout.
            nbind = Path(src) / "nbind"
            shutil.copytree(PLUGINS / "nbind", nbind, ignore=shutil.ignore_patterns("build", "*.egg-info"))
            pip = [str(tmp / "bin" / "pip"), "install", "--no-input", "--progress-bar", "off"]
            _run([*pip, *PINS, str(nbind)], pip_log, PIP_TIMEOUT, "pip install")
        site = _site_packages(tmp)
        # Nova prefixes compute_driver with "nova.virt.", so the driver must sit inside that package
        # (pitfall 4); cinder loads volume_driver by class path, so site-packages is enough.
        shutil.copy(PLUGINS / "novafake.py", site / "nova" / "virt" / "novafake.py")
        shutil.copy(PLUGINS / "filefake.py", site / "filefake.py")
        # Console scripts carry the venv path in their shebang: point them at the final name.
        old, new = str(tmp).encode(), str(venv).encode()
        for f in [*(tmp / "bin").iterdir(), tmp / "pyvenv.cfg"]:
            if f.is_file() and not f.is_symlink():
                data = f.read_bytes()
                if old in data:
                    f.write_bytes(data.replace(old, new))
        (tmp / ".complete").write_text(" ".join(PINS) + "\n")
        os.rename(tmp, venv)
        log(f"venv ready in {time.monotonic() - t0:.0f} s")
    return venv


# --------------------------------------------------------------------------------------------
# config files

_AUTH = f"""auth_url = {KEYSTONE_URL}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = svc
password = {PASSWORD}
region_name = RegionOne"""

_AUTHTOKEN = f"""[keystone_authtoken]
www_authenticate_uri = {KEYSTONE_URL}
memcached_servers =
service_token_roles_required = true
{_AUTH}"""

_POLICY = """[oslo_policy]
enforce_new_defaults = true
enforce_scope = false"""


def _gunicorn_conf(port: int, app: str, workers: int, env: dict[str, str]) -> str:
    # gunicorn takes no CLI options here: the apps parse sys.argv with oslo.config (reference).
    raw_env = json.dumps([f"{k}={v}" for k, v in env.items()])
    return (
        f'bind = "{HOST}:{port}"\nworkers = {workers}\nthreads = 4\nwsgi_app = "{app}"\n'
        f"raw_env = {raw_env}\ncontrol_socket_disable = True\n"
    )


def _configs(venv: Path) -> dict[Path, str]:
    """Every config file, by path. No log_file/log_dir: oslo.log then writes to stdout, which we
    capture per service in run/logs/<service>.log (one log per process group)."""
    r = RUN
    db = DB_URL
    c: dict[Path, str] = {}
    c[r / "my/my.cnf"] = f"""[mysqld]
user = root
datadir = {r}/my/data
socket = {r}/my/mysqld.sock
pid-file = {r}/my/mysqld.pid
port = {DB_PORT}
bind-address = {HOST}
log-error = {r}/my/error.log
skip-name-resolve
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0
sync_binlog = 0
innodb_buffer_pool_size = 256M
max_connections = 1000
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
"""
    c[r / "rabbit/rabbitmq.conf"] = f"""listeners.tcp.default = {HOST}:{AMQP_PORT}
log.console = false
log.file.level = info
disk_free_limit.absolute = 1MB
"""
    c[r / "rabbit/enabled_plugins"] = "[].\n"
    c[r / "rabbit/rabbitmq-env.conf"] = "# intentionally empty: isolates from /etc/rabbitmq\n"

    # strict_two_level: a tenant's domain (its cloudbus account) bounds its projects' limits
    # (seed 004), as cloudbus's own quotas do
    c[r / "ks/keystone.conf"] = f"""[DEFAULT]
[database]
connection = {db}/keystone?charset=utf8mb4
[fernet_tokens]
key_repository = {r}/ks/fernet-keys
[fernet_receipts]
key_repository = {r}/ks/fernet-keys
[credential]
key_repository = {r}/ks/credential-keys
[token]
provider = fernet
[unified_limit]
enforcement_model = strict_two_level
"""
    c[r / "ks/gunicorn.conf.py"] = _gunicorn_conf(
        5000, "keystone.wsgi.api:application", 2, {"OS_KEYSTONE_CONFIG_FILES": f"{r}/ks/keystone.conf"}
    )

    c[r / "pl/placement.conf"] = f"""[DEFAULT]
[placement_database]
connection = {db}/placement?charset=utf8mb4
[api]
auth_strategy = keystone
{_AUTHTOKEN}
"""
    c[r / "pl/gunicorn.conf.py"] = _gunicorn_conf(
        8778, "placement.wsgi.api:application", 1, {"OS_PLACEMENT_CONFIG_DIR": f"{r}/pl"}
    )

    c[r / "gl/glance-api.conf"] = f"""[DEFAULT]
enabled_backends = fs:file
worker_self_reference_url = http://{HOST}:9292
[database]
connection = {db}/glance?charset=utf8mb4
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {r}/gl/images
[os_glance_staging_store]
filesystem_store_datadir = {r}/gl/staging
[os_glance_tasks_store]
filesystem_store_datadir = {r}/gl/tasks
[paste_deploy]
flavor = keystone
{_AUTHTOKEN}
"""
    c[r / "gl/gunicorn.conf.py"] = _gunicorn_conf(
        9292, "glance.wsgi.api:application", 1, {"OS_GLANCE_CONFIG_DIR": f"{r}/gl"}
    )

    c[r / "nova/nova.conf"] = f"""[DEFAULT]
transport_url = {TRANSPORT_URL}
compute_driver = novafake.FakeDriver
host = compute1
state_path = {r}/nova/state
instances_path = {r}/nova/instances
my_ip = {HOST}
allow_resize_to_same_host = true
# Periodic tasks start after a random 0-60 s delay by default; the first host discovery (nova) and
# capability report (cinder, manila) then gate readiness, so start them at once.
periodic_fuzzy_delay = 0
[wsgi]
api_paste_config = {r}/nova/api-paste.ini
[api]
auth_strategy = keystone
[api_database]
connection = {db}/nova_api?charset=utf8mb4
[database]
connection = {db}/nova?charset=utf8mb4
[oslo_concurrency]
lock_path = {r}/nova/locks
{_AUTHTOKEN}
[placement]
{_AUTH}
[neutron]
{_AUTH}
service_metadata_proxy = false
[cinder]
os_region_name = RegionOne
{_AUTH}
[glance]
region_name = RegionOne
[service_user]
send_service_user_token = true
{_AUTH}
[scheduler]
discover_hosts_in_cells_interval = 5
workers = 1
[vnc]
# The fake driver hands out a (fake) VNC console; no proxy runs, the URL just exists.
enabled = true
server_listen = {HOST}
server_proxyclient_address = {HOST}
novncproxy_base_url = http://{HOST}:6080/vnc_auto.html
[oslo_messaging_notifications]
driver = noop
{_POLICY}
[conductor]
workers = 1
"""
    c[r / "nova/gunicorn.conf.py"] = _gunicorn_conf(
        8774, "nova.wsgi.osapi_compute:application", 1, {"OS_NOVA_CONFIG_DIR": f"{r}/nova"}
    )

    c[r / "neutron/neutron.conf"] = f"""[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = {TRANSPORT_URL}
state_path = {r}/neutron
api_paste_config = {r}/neutron/api-paste.ini
dhcp_agent_notification = false
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
allow_overlapping_ips = true
api_workers = 1
rpc_workers = 0
host = neutron1
[database]
connection = {db}/neutron?charset=utf8mb4
{_AUTHTOKEN}
[nova]
{_AUTH}
[placement]
{_AUTH}
[oslo_concurrency]
lock_path = {r}/neutron/locks
[agent]
root_helper =
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = noagent
extension_drivers = port_security
[ml2_type_vxlan]
vni_ranges = 1:1000
[ml2_type_flat]
flat_networks = public
[ml2_type_vlan]
network_vlan_ranges = physnet1:100:200
[securitygroup]
enable_security_group = true
firewall_driver = noop
{_POLICY}
"""
    c[r / "neutron/gunicorn.conf.py"] = _gunicorn_conf(
        9696,
        "neutron.wsgi.api:application",
        1,
        {"OS_NEUTRON_CONFIG_DIR": f"{r}/neutron", "OS_NEUTRON_CONFIG_FILES": "neutron.conf"},
    )

    c[r / "cinder/cinder.conf"] = f"""[DEFAULT]
transport_url = {TRANSPORT_URL}
auth_strategy = keystone
enabled_backends = fake
default_volume_type = __DEFAULT__
state_path = {r}/cinder/state
api_paste_config = {r}/cinder/api-paste.ini
my_ip = {HOST}
host = cinder1
rootwrap_config = {r}/cinder/rootwrap.conf
# which filters a project member may list by (name, metadata, ...): without it, none
resource_query_filters_file = {venv}/etc/cinder/resource_filters.json
osapi_volume_workers = 1
# Periodic tasks start after a random 0-60 s delay by default; the first host discovery (nova) and
# capability report (cinder, manila) then gate readiness, so start them at once.
periodic_fuzzy_delay = 0
[database]
connection = {db}/cinder?charset=utf8mb4
[oslo_concurrency]
lock_path = {r}/cinder/locks
{_AUTHTOKEN}
[nova]
{_AUTH}
interface = public
[service_user]
send_service_user_token = true
{_AUTH}
[fake]
volume_driver = filefake.FileFakeDriver
volume_backend_name = fake
{_POLICY}
[cinder_sys_admin]
# There is no sudo: run privsep-helper directly (we are root), pitfall 6a.
helper_command = {venv}/bin/privsep-helper --config-file {r}/cinder/cinder.conf
"""
    c[r / "cinder/rootwrap.conf"] = f"""[DEFAULT]
filters_path = {venv}/etc/cinder/rootwrap.d
exec_dirs = /sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin,/usr/local/sbin,{venv}/bin
use_syslog = False
"""
    # The Cinder/Manila WSGI apps only read ~/.<svc>/<svc>.conf or /etc (pitfall 7): HOME is per service.
    c[r / "cinder/home/.cinder/cinder.conf"] = c[r / "cinder/cinder.conf"]
    c[r / "cinder/gunicorn.conf.py"] = _gunicorn_conf(
        8776, "cinder.wsgi.api:application", 1, {"HOME": f"{r}/cinder/home"}
    )

    c[r / "manila/manila.conf"] = f"""[DEFAULT]
transport_url = {TRANSPORT_URL}
auth_strategy = keystone
state_path = {r}/manila/state
api_paste_config = {r}/manila/api-paste.ini
rootwrap_config = {r}/manila/rootwrap.conf
enabled_share_backends = dummy
enabled_share_protocols = NFS,CIFS
default_share_type = default
host = manila1
my_ip = {HOST}
osapi_share_workers = 1
# Periodic tasks start after a random 0-60 s delay by default; the first host discovery (nova) and
# capability report (cinder, manila) then gate readiness, so start them at once.
periodic_fuzzy_delay = 0
[database]
connection = {db}/manila?charset=utf8mb4
[oslo_concurrency]
lock_path = {r}/manila/locks
{_AUTHTOKEN}
[neutron]
{_AUTH}
[nova]
{_AUTH}
[cinder]
{_AUTH}
[glance]
{_AUTH}
[dummy]
share_driver = manila.tests.share.drivers.dummy.DummyDriver
share_backend_name = DUMMY
driver_handles_share_servers = False
{_POLICY}
"""
    c[r / "manila/home/.manila/manila.conf"] = c[r / "manila/manila.conf"]
    c[r / "manila/gunicorn.conf.py"] = _gunicorn_conf(
        8786, "manila.wsgi.api:application", 1, {"HOME": f"{r}/manila/home"}
    )
    # cinder-volume runs rootwrap via "sudo"; there is none, and we are root (pitfall 6b).
    c[r / "bin/sudo"] = '#!/bin/sh\n# we already run as root: drop the "sudo"\nexec "$@"\n'
    return c


#: Paste files shipped in the venv, copied next to each service's config.
_PASTE = {
    "gl/glance-api-paste.ini": "etc/glance/glance-api-paste.ini",
    "nova/api-paste.ini": "etc/nova/api-paste.ini",
    "neutron/api-paste.ini": "etc/neutron/api-paste.ini",
    "cinder/api-paste.ini": "etc/cinder/api-paste.ini",
    "manila/api-paste.ini": "etc/manila/api-paste.ini",
}
#: State wiped by a fresh start (together with the databases).
_STATE_DIRS = (
    "ks/fernet-keys",
    "ks/credential-keys",
    "gl/images",
    "gl/staging",
    "gl/tasks",
    "nova/state",
    "nova/instances",
    "cinder/state",
    "manila/state",
    "neutron/state",
)


def _write_configs(venv: Path) -> list[Path]:
    """Write config files (only those that changed, so running services see stable mtimes);
    returns the files written."""
    written = []
    for sub in ("pids", "logs", "nova/locks", "neutron/locks", "cinder/locks", "manila/locks", *_STATE_DIRS):
        (RUN / sub).mkdir(parents=True, exist_ok=True)
    for path, text in _configs(venv).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    (RUN / "bin/sudo").chmod(0o755)
    for dst, src in _PASTE.items():
        if not (RUN / dst).exists():
            shutil.copy(venv / src, RUN / dst)
    return written


# --------------------------------------------------------------------------------------------
# processes: one session per service, recorded by session id


def _session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is ``sid``."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def _pidfile(name: str) -> Path:
    return PIDS / f"{name}.pid"


def _sid(name: str) -> int | None:
    try:
        return int(_pidfile(name).read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(name: str) -> bool:
    sid = _sid(name)
    return sid is not None and bool(_session_members(sid))


def _logfile(name: str) -> Path:
    return LOGS / f"{name}.log"


def _launch(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """Start ``argv`` in a new session, output to run/logs/<name>.log, session id to run/pids/<name>.pid."""
    logfile = _logfile(name)
    # Truncated per launch: the log holds exactly the current run, so it cannot grow without bound.
    with logfile.open("wb") as f:
        f.write(f"=== {time.strftime('%F %T')} start {' '.join(argv)}\n".encode())
        f.flush()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )
    _PROCS[name] = proc
    _pidfile(name).write_text(f"{proc.pid}\n")


def _stop_sessions(names: list[str], grace: float) -> None:
    """SIGTERM every process of each recorded session, wait ``grace`` s, SIGKILL the rest (pitfall 9)."""
    sids = {n: s for n in names if (s := _sid(n)) is not None}

    def signal_all(sig: signal.Signals) -> int:
        count = 0
        for sid in sids.values():
            for pid in _session_members(sid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                    count += 1
        return count

    if signal_all(signal.SIGTERM):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_session_members(s) for s in sids.values()):
            time.sleep(0.2)
        if signal_all(signal.SIGKILL):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_session_members(s) for s in sids.values()):
                time.sleep(0.1)
    for n in sids:
        if (proc := _PROCS.pop(n, None)) is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)
        _pidfile(n).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# infrastructure: private MariaDB and RabbitMQ

MY = RUN / "my"
SOCK = MY / "mysqld.sock"
SCHEMA_MARK = MY / "schema-done"  # lives beside the datadir: a new datadir means new schemas
CATALOG_MARK = MY / "catalog-done"


def _sql(stmt: str, timeout: float = 60) -> str:
    res = subprocess.run(
        ["mariadb", f"--socket={SOCK}", "-uroot", "-N", "-B", "-e", stmt],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"OpenStack MariaDB: SQL failed: {stmt[:200]}\n{res.stderr}")
    return res.stdout


def _mariadb_ping() -> bool:
    res = subprocess.run(
        ["mariadb-admin", f"--socket={SOCK}", "-uroot", "ping"], capture_output=True, timeout=10, check=False
    )
    return res.returncode == 0


def _start_mariadb() -> None:
    if _alive("mariadb") and _mariadb_ping():
        return
    _stop_sessions(["mariadb"], INFRA_STOP_GRACE)
    init_mark = MY / "initialized"
    if not init_mark.exists():
        # A datadir without the mark is from a killed init: start over, and with it the schemas.
        shutil.rmtree(MY / "data", ignore_errors=True)
        SCHEMA_MARK.unlink(missing_ok=True)
        CATALOG_MARK.unlink(missing_ok=True)
        log("initialising the MariaDB datadir")
        _run(
            [
                "mariadb-install-db",
                f"--defaults-file={MY / 'my.cnf'}",
                "--user=root",
                f"--datadir={MY / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            _logfile("mariadb-install"),
            INFRA_TIMEOUT,
            "mariadb-install-db",
        )
    log(f"starting MariaDB on {HOST}:{DB_PORT}")
    _launch("mariadb", ["/usr/sbin/mariadbd", f"--defaults-file={MY / 'my.cnf'}"], dict(os.environ), MY)
    deadline = time.monotonic() + INFRA_TIMEOUT
    while not _mariadb_ping():
        if not _alive("mariadb"):
            raise _fail("mariadb", "mariadbd exited during start", MY / "error.log")
        if time.monotonic() > deadline:
            raise _fail("mariadb", f"not answering after {INFRA_TIMEOUT} s", MY / "error.log")
        time.sleep(0.2)
    if not init_mark.exists():
        _sql(f"CREATE USER IF NOT EXISTS 'os'@'{HOST}' IDENTIFIED BY '{PASSWORD}';GRANT ALL ON *.* TO 'os'@'{HOST}';")
        init_mark.write_text("ok\n")


RABBIT = RUN / "rabbit"


def _rabbit_env() -> dict[str, str]:
    """Like tests/support/servers.py LocalRabbitMQ: call /usr/lib/rabbitmq/bin directly (the
    /usr/sbin wrappers su to the rabbitmq user and use the shared cookie), own HOME/cookie,
    node name, ports, data and a private epmd, so nothing from /etc or /var/lib/rabbitmq is used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
    env.update(
        HOME=str(RABBIT),
        RABBITMQ_NODENAME=RABBIT_NODE,
        RABBITMQ_USE_LONGNAME="false",
        RABBITMQ_NODE_IP_ADDRESS=HOST,
        RABBITMQ_NODE_PORT=str(AMQP_PORT),
        RABBITMQ_DIST_PORT=str(DIST_PORT),
        RABBITMQ_MNESIA_BASE=str(RABBIT / "mnesia"),
        RABBITMQ_LOG_BASE=str(RABBIT / "log"),
        RABBITMQ_CONFIG_FILE=str(RABBIT / "rabbitmq.conf"),
        RABBITMQ_ADVANCED_CONFIG_FILE=str(RABBIT / "advanced.config"),  # absent on purpose
        RABBITMQ_CONF_ENV_FILE=str(RABBIT / "rabbitmq-env.conf"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(RABBIT / "enabled_plugins"),
        RABBITMQ_PID_FILE=str(RABBIT / "rabbitmq.pid"),
        ERL_EPMD_PORT=str(EPMD_PORT),
        ERL_EPMD_ADDRESS=HOST,
        LC_ALL="C.UTF-8",
    )
    return env


def _rabbitmqctl(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", RABBIT_NODE, *args],
        env=_rabbit_env(),
        cwd=RABBIT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _start_rabbit() -> None:
    if _alive("rabbitmq") and _port_open(AMQP_PORT):
        return
    _stop_sessions(["rabbitmq", "epmd"], INFRA_STOP_GRACE)
    for sub in ("mnesia", "log"):
        (RABBIT / sub).mkdir(parents=True, exist_ok=True)
    cookie = RABBIT / ".erlang.cookie"
    if not cookie.exists():  # private cookie (mode 0400): rabbitmqctl authenticates with it
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
    log(f"starting RabbitMQ {RABBIT_NODE} on {HOST}:{AMQP_PORT}")
    env = _rabbit_env()
    # Foreground epmd in its own session: erl finds it on ERL_EPMD_PORT instead of daemonising one.
    _launch("epmd", ["/usr/bin/epmd", "-port", str(EPMD_PORT), "-address", HOST], env, RABBIT)
    _launch("rabbitmq", [str(RABBIT_BIN / "rabbitmq-server")], env, RABBIT)
    deadline = time.monotonic() + INFRA_TIMEOUT
    logfile = RABBIT / "log" / f"{RABBIT_NODE}.log"
    while not _port_open(AMQP_PORT):
        if not _alive("rabbitmq"):
            raise _fail("rabbitmq", "rabbitmq-server exited during start", _logfile("rabbitmq"))
        if time.monotonic() > deadline:
            raise _fail("rabbitmq", f"AMQP port {AMQP_PORT} closed after {INFRA_TIMEOUT} s", logfile)
        time.sleep(0.2)
    while _rabbitmqctl("await_startup", "--timeout", "30", timeout=40).returncode != 0:
        if time.monotonic() > deadline:
            raise _fail("rabbitmq", "rabbitmqctl await_startup failed", logfile)
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# OpenStack services


@dataclass
class Service:
    """One OpenStack process group: how to launch it and how to tell it is ready."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None  # HTTP API port; None for RPC workers


def _base_env(venv: Path, home: Path) -> dict[str, str]:
    # The caller's OS_* / venv variables must not leak into the services.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(home),
        PATH=f"{RUN / 'bin'}:{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        LC_ALL="C.UTF-8",
    )
    return env


def _services(venv: Path) -> list[Service]:
    b = venv / "bin"
    r = RUN

    def api(name: str, sub: str, port: int, env: dict[str, str] | None = None, home: Path | None = None) -> Service:
        e = _base_env(venv, home or r / sub) | (env or {})
        # gunicorn reads ./gunicorn.conf.py: it must get no CLI arguments at all, because the
        # apps parse sys.argv with oslo.config and reject gunicorn's options (reference, pitfall 7).
        return Service(name, [str(b / "gunicorn")], r / sub, e, port)

    def worker(name: str, sub: str, conf: str, home: Path | None = None) -> Service:
        return Service(
            name, [str(b / name), "--config-file", str(r / sub / conf)], r / sub, _base_env(venv, home or r / sub)
        )

    return [
        api("keystone", "ks", 5000, {"OS_KEYSTONE_CONFIG_FILES": f"{r}/ks/keystone.conf"}),
        api("placement", "pl", 8778, {"OS_PLACEMENT_CONFIG_DIR": f"{r}/pl"}),
        api("glance", "gl", 9292, {"OS_GLANCE_CONFIG_DIR": f"{r}/gl"}),
        api(
            "neutron",
            "neutron",
            9696,
            {"OS_NEUTRON_CONFIG_DIR": f"{r}/neutron", "OS_NEUTRON_CONFIG_FILES": "neutron.conf"},
        ),
        api("nova-api", "nova", 8774, {"OS_NOVA_CONFIG_DIR": f"{r}/nova"}),
        worker("nova-conductor", "nova", "nova.conf"),
        worker("nova-scheduler", "nova", "nova.conf"),
        worker("nova-compute", "nova", "nova.conf"),
        api("cinder-api", "cinder", 8776, home=r / "cinder/home"),
        worker("cinder-scheduler", "cinder", "cinder.conf", r / "cinder/home"),
        worker("cinder-volume", "cinder", "cinder.conf", r / "cinder/home"),
        api("manila-api", "manila", 8786, home=r / "manila/home"),
        worker("manila-scheduler", "manila", "manila.conf", r / "manila/home"),
        worker("manila-share", "manila", "manila.conf", r / "manila/home"),
    ]


SERVICE_NAMES = [s.name for s in _services(Path("/nonexistent"))]
INFRA_NAMES = ["rabbitmq", "epmd", "mariadb"]


def _setup_schemas(venv: Path) -> None:
    """Drop and recreate every database, then run each service's schema chain (in parallel)."""
    log("recreating databases and schemas (about 40 s)")
    _stop_sessions(SERVICE_NAMES, STOP_GRACE)
    SCHEMA_MARK.unlink(missing_ok=True)
    CATALOG_MARK.unlink(missing_ok=True)
    for sub in _STATE_DIRS:
        shutil.rmtree(RUN / sub, ignore_errors=True)
        (RUN / sub).mkdir(parents=True)
    _sql("".join(f"DROP DATABASE IF EXISTS {d}; CREATE DATABASE {d} CHARACTER SET utf8mb4;" for d in DATABASES))
    b, r = venv / "bin", RUN
    ks = [str(b / "keystone-manage"), "--config-file", f"{r}/ks/keystone.conf"]
    nova = [str(b / "nova-manage"), "--config-file", f"{r}/nova/nova.conf"]
    chains: dict[str, list[list[str]]] = {
        "keystone": [
            [*ks, "db_sync"],
            [*ks, "fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
            [*ks, "credential_setup", "--keystone-user", "root", "--keystone-group", "root"],
            [
                *ks,
                "bootstrap",
                "--bootstrap-password",
                PASSWORD,
                "--bootstrap-region-id",
                "RegionOne",
                *(f"--bootstrap-{i}-url={KEYSTONE_URL}" for i in ("admin", "internal", "public")),
            ],
        ],
        "placement": [[str(b / "placement-manage"), "--config-file", f"{r}/pl/placement.conf", "db", "sync"]],
        "glance": [[str(b / "glance-manage"), "--config-file", f"{r}/gl/glance-api.conf", "db_sync"]],
        "nova": [
            [*nova, "api_db", "sync"],
            [*nova, "cell_v2", "map_cell0", f"--database_connection={DB_URL}/nova_cell0?charset=utf8mb4"],
            [*nova, "cell_v2", "create_cell", "--name=cell1"],
            [*nova, "db", "sync"],
        ],
        "neutron": [[str(b / "neutron-db-manage"), "--config-file", f"{r}/neutron/neutron.conf", "upgrade", "heads"]],
        "cinder": [[str(b / "cinder-manage"), "--config-file", f"{r}/cinder/cinder.conf", "db", "sync"]],
        "manila": [[str(b / "manila-manage"), "--config-file", f"{r}/manila/manila.conf", "db", "sync"]],
    }
    env = _base_env(venv, RUN)

    def run_chain(name: str) -> None:
        for argv in chains[name]:
            _run(argv, _logfile(f"setup-{name}"), SCHEMA_TIMEOUT, f"{name} schema", env)

    with ThreadPoolExecutor(len(chains)) as pool:
        for fut in [pool.submit(run_chain, n) for n in chains]:
            fut.result()


# --------------------------------------------------------------------------------------------
# HTTP (stdlib only): readiness probes, catalog registration


def _http(
    method: str, url: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """One JSON request; returns (status, decoded body or None, headers). Never raises on HTTP errors."""
    hdrs = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["X-Auth-Token"] = token
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw, rh = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        status, raw, rh = exc.code, exc.read(), dict(exc.headers)
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    return status, decoded, rh


def _answers(port: int) -> bool:
    """True if an HTTP server answers on the port (any status below 500)."""
    try:
        return _http("GET", f"http://{HOST}:{port}/")[0] < 500
    except (OSError, urllib.error.URLError):
        return False


class _Admin:
    """An admin token plus a few JSON calls against the local cloud."""

    def __init__(self) -> None:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}},
                },
                "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
            }
        }
        status, data, headers = _http("POST", f"{KEYSTONE_URL}/auth/tokens", body)
        if status != 201:
            raise _fail("keystone", f"admin login failed with HTTP {status}", _logfile("keystone"))
        self.token = headers.get("X-Subject-Token") or headers["x-subject-token"]
        self.project_id: str = data["token"]["project"]["id"]

    def call(self, method: str, url: str, body: Any = None, ok: tuple[int, ...] = (200,), **headers: str) -> Any:
        status, data, _ = _http(method, url, body, self.token, headers)
        if status not in ok:
            raise RuntimeError(f"OpenStack: {method} {url} -> HTTP {status}: {data}")
        return data

    def get(self, url: str, **headers: str) -> Any:
        return self.call("GET", url, **headers)


def _register_catalog(adm: _Admin) -> None:
    """Services + endpoints (Keystone's own came from bootstrap), project ``service``, user ``svc``."""
    ks = KEYSTONE_URL
    services = {s["type"]: s["id"] for s in adm.get(f"{ks}/services")["services"]}
    for stype, name, url in CATALOG:
        sid = services.get(stype)
        if sid is None:
            body = {"service": {"type": stype, "name": name, "enabled": True}}
            sid = adm.call("POST", f"{ks}/services", body, ok=(201,))["service"]["id"]
        have = {e["interface"] for e in adm.get(f"{ks}/endpoints?service_id={sid}")["endpoints"]}
        for iface in ("public", "internal", "admin"):
            if iface not in have:
                ep = {"service_id": sid, "interface": iface, "url": url, "region_id": "RegionOne"}
                adm.call("POST", f"{ks}/endpoints", {"endpoint": ep}, ok=(201,))
    projects = adm.get(f"{ks}/projects?name=service")["projects"]
    if projects:
        pid = projects[0]["id"]
    else:
        body = {"project": {"name": "service", "domain_id": "default"}}
        pid = adm.call("POST", f"{ks}/projects", body, ok=(201,))["project"]["id"]
    users = adm.get(f"{ks}/users?name=svc")["users"]
    if users:
        uid = users[0]["id"]
    else:
        body = {"user": {"name": "svc", "password": PASSWORD, "domain_id": "default", "default_project_id": pid}}
        uid = adm.call("POST", f"{ks}/users", body, ok=(201,))["user"]["id"]
    # admin for the APIs the services call; "service" so their service tokens are accepted
    # (service_token_roles_required = true).
    for role in ("admin", "service"):
        found = adm.get(f"{ks}/roles?name={role}")["roles"]
        rid = (
            found[0]["id"]
            if found
            else adm.call("POST", f"{ks}/roles", {"role": {"name": role}}, ok=(201,))["role"]["id"]
        )
        adm.call("PUT", f"{ks}/projects/{pid}/users/{uid}/roles/{rid}", ok=(204,))


def _wait(name: str, check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until true; fail early if the service's session died, or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, RuntimeError, KeyError, ValueError):
            pass  # not ready yet
        if name in SERVICE_NAMES and not _alive(name):
            raise _fail(name, f"process exited while waiting for: {what}", _logfile(name))
        if time.monotonic() > deadline:
            raise _fail(name, f"not ready after {timeout:.0f} s: {what}", _logfile(name))
        time.sleep(1.0)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.rstrip("Z").split("+")[0])


def _wait_workers(adm: _Admin, launched_at: dict[str, datetime]) -> None:
    """RPC workers report ``up`` (and, if just launched, have reported since their launch)."""
    p = adm.project_id
    nova, cinder, manila = f"http://{HOST}:8774/v2.1", f"http://{HOST}:8776/v3/{p}", f"http://{HOST}:8786/v2/{p}"
    mv = {"X-OpenStack-Manila-API-Version": "2.7"}

    def reported(services: list[dict[str, Any]], binary: str) -> bool:
        since = launched_at.get(binary)
        for s in services:
            if s["binary"] == binary and s["state"] == "up":
                if since is None or (s.get("updated_at") and _parse_time(s["updated_at"]) >= since):
                    return True
        return False

    def nova_up(binary: str) -> Callable[[], bool]:
        return lambda: reported(adm.get(f"{nova}/os-services")["services"], binary)

    def cinder_up(binary: str) -> Callable[[], bool]:
        return lambda: reported(adm.get(f"{cinder}/os-services")["services"], binary)

    def manila_up(binary: str) -> Callable[[], bool]:
        return lambda: reported(adm.get(f"{manila}/services", **mv)["services"], binary)

    checks: list[tuple[str, Callable[[], bool], str]] = [
        ("nova-conductor", nova_up("nova-conductor"), "nova-conductor service up"),
        ("nova-scheduler", nova_up("nova-scheduler"), "nova-scheduler service up"),
        ("nova-compute", nova_up("nova-compute"), "nova-compute service up"),
        (
            "nova-compute",
            lambda: any(h["hypervisor_hostname"] for h in adm.get(f"{nova}/os-hypervisors")["hypervisors"]),
            "hypervisor listed",
        ),
        (
            "nova-compute",
            lambda: _sql("SELECT COUNT(*) FROM nova_api.host_mappings WHERE host='compute1'").strip() != "0",
            "host mapped to cell1 (nova-scheduler discovers hosts every 5 s)",
        ),
        ("cinder-scheduler", cinder_up("cinder-scheduler"), "cinder-scheduler service up"),
        ("cinder-volume", cinder_up("cinder-volume"), "cinder-volume service up"),
        (
            "cinder-volume",
            lambda: bool(adm.get(f"{cinder}/scheduler-stats/get_pools")["pools"]),
            "cinder-scheduler knows the volume pool",
        ),
        ("manila-scheduler", manila_up("manila-scheduler"), "manila-scheduler service up"),
        ("manila-share", manila_up("manila-share"), "manila-share service up"),
        (
            "manila-share",
            lambda: bool(adm.get(f"{manila}/scheduler-stats/pools", **mv)["pools"]),
            "manila-scheduler knows the share pool",
        ),
    ]
    for name, check, what in checks:
        _wait(name, check, WORKER_TIMEOUT, what)
        log(f"ok: {what}")


def _ensure_share_type(adm: _Admin) -> None:
    url = f"http://{HOST}:8786/v2/{adm.project_id}/types"
    mv = {"X-OpenStack-Manila-API-Version": "2.7"}
    if any(t["name"] == "default" for t in adm.get(url, **mv)["share_types"]):
        return
    body = {
        "share_type": {
            "name": "default",
            "share_type_access:is_public": True,
            "extra_specs": {"driver_handles_share_servers": "False"},
        }
    }
    adm.call("POST", url, body, ok=(200, 202), **mv)
    log("created manila share type 'default' (DHSS False)")


# --------------------------------------------------------------------------------------------
# public API


def up(fresh: bool = False) -> dict[str, str]:
    """Install if needed, start everything not running, wait until ready; return the OS_* values.

    Warm restart (databases kept) is the normal case; ``fresh`` drops and recreates every database.
    Idempotent: with everything up and healthy it returns in a second or two.
    """
    t0 = time.monotonic()
    venv = install()
    with _locked(BASE / ".up.lock"):
        written = _write_configs(venv)
        services = _services(venv)
        if fresh:
            _stop_sessions(SERVICE_NAMES, STOP_GRACE)
        else:  # a running service whose configuration changed is restarted to read it
            stale = [s.name for s in services if any(p.is_relative_to(s.cwd) for p in written) and _alive(s.name)]
            if stale:
                log(f"configuration changed: restarting {', '.join(stale)}")
                _stop_sessions(stale, STOP_GRACE)
        _start_mariadb()
        _start_rabbit()
        if fresh or not SCHEMA_MARK.exists():
            _setup_schemas(venv)
            SCHEMA_MARK.write_text("ok\n")
        need_catalog = not CATALOG_MARK.exists()
        launched_at: dict[str, datetime] = {}

        def launch(svcs: list[Service]) -> None:
            for s in svcs:
                if not _alive(s.name):
                    launched_at[s.name] = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
                    _launch(s.name, s.argv, s.env, s.cwd)
            if launched_at:
                log(f"launched {', '.join(launched_at)}")

        if need_catalog:
            # Keystone first: the catalog must exist before the other services authenticate.
            launch(services[:1])
            _wait("keystone", lambda: _answers(5000), API_TIMEOUT, "HTTP on :5000")
            log("registering the catalog")
            _register_catalog(_Admin())
            CATALOG_MARK.write_text("ok\n")
        launch(services)
        for s in services:
            if s.port is not None:
                _wait(s.name, lambda port=s.port: _answers(port), API_TIMEOUT, f"HTTP on :{s.port}")
        log("APIs answer; waiting for the workers")
        adm = _Admin()
        _wait_workers(adm, launched_at)
        _ensure_share_type(adm)
    log(f"OpenStack ready in {time.monotonic() - t0:.0f} s")
    return dict(OS_ENV)


def down(infra: bool = True) -> None:
    """Stop every OpenStack service; with ``infra`` also the private RabbitMQ and MariaDB."""
    with _locked(BASE / ".up.lock"):
        t0 = time.monotonic()
        _stop_sessions(SERVICE_NAMES, STOP_GRACE)
        if infra:
            _stop_sessions(["rabbitmq"], INFRA_STOP_GRACE)
            _stop_sessions(["epmd", "mariadb"], INFRA_STOP_GRACE)
        log(f"stopped{' (with MariaDB and RabbitMQ)' if infra else ''} in {time.monotonic() - t0:.1f} s")


def status() -> dict[str, str]:
    """Per process group: ``running (N procs)[, answers :port]`` or ``stopped``."""
    ports = {s.name: s.port for s in _services(Path("/nonexistent"))} | {"mariadb": DB_PORT, "rabbitmq": AMQP_PORT}
    out = {}
    for name in INFRA_NAMES + SERVICE_NAMES:
        sid = _sid(name)
        members = _session_members(sid) if sid is not None else []
        state = f"running ({len(members)} procs)" if members else "stopped"
        port = ports.get(name)
        if members and port is not None:
            ok = _answers(port) if name not in ("mariadb", "rabbitmq") else _port_open(port)
            state += f", {'answers' if ok else 'NOT answering'} on :{port}"
        out[name] = state
    return out


def _print_env() -> None:
    for k, v in OS_ENV.items():
        print(f"{k}={v}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="apt packages + the OpenStack venv (idempotent)")
    p_up = sub.add_parser("up", help="start everything and wait until ready")
    p_up.add_argument("--fresh", action="store_true", help="drop and recreate every database")
    p_down = sub.add_parser("down", help="stop the OpenStack services")
    p_down.add_argument("--infra", action="store_true", help="also stop the private MariaDB and RabbitMQ")
    sub.add_parser("status", help="which services run and answer")
    sub.add_parser("env", help="print the OS_* variables")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "install":
            log(f"venv: {install()}")
        elif args.cmd == "up":
            up(fresh=args.fresh)
            _print_env()
        elif args.cmd == "down":
            down(infra=args.infra)
        elif args.cmd == "status":
            for name, state in status().items():
                print(f"{name:18} {state}", flush=True)
        elif args.cmd == "env":
            _print_env()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
