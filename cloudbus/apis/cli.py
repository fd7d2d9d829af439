"""The `cloudbus` command: zstack-cli style text commands, one-shot, from a file or interactive.

    cloudbus CreateZone name=zone1 description='first zone'    # one API, reply as JSON
    cloudbus QueryHost cluster.zone.name=zone1 fields=uuid,name
    cloudbus -f setup.txt                                      # one command per line
    cloudbus                                                   # interactive shell
    cloudbus help [Api]                                        # APIs / one API's parameters
    cloudbus server ...                                        # run a management node

Where calls go: with `CLOUDBUS_BUS_URL` unset the command starts a management node
in-process on the SQLite file under `CLOUDBUS_HOME` (created and migrated on first use)
and stops it afterwards; with `CLOUDBUS_BUS_URL=amqp://...` it is a pure client of
whatever management nodes listen on that broker (`CLOUDBUS_BUS_NAMESPACE`, default
`cloudbus`).

Who calls: a successful `LogInByAccount` / `LogInByUser` keeps its session in
`$CLOUDBUS_HOME/sessions.json` (mode 0600; the session uuid, account and expiry, under the
cloud it came from: the broker URL and namespace, or the embedded database URL), and every
later command to that cloud sends it, until `LogOut` (which logs out the kept session when
no `sessionUuid` is given), until it expires, or until the cloud answers ID.1001 (the kept
session is dropped and one line on stderr says to log in again). `CLOUDBUS_API_KEY`,
`CLOUDBUS_TENANT_ID` and `CLOUDBUS_PLATFORM_USER_ID`, all three set, send seed 000's API
key instead (only some of them set: exit 1). Without either, a remote cloud answers ID.1001
to all but the login APIs, and an embedded one acts as the `admin` account. The session
keeping lives in cloudbus/apis/credentials_store.py.

Output: stdout carries only the reply, as JSON with 4-space indent and sorted keys
(`{"success": true, "inventory": {...}}`, `{"success": false, "error": {...}}`); logs go
to stderr at WARNING unless `CLOUDBUS_LOG_LEVEL` says otherwise. While a long API runs
(AddImage, the template APIs, CreateVmInstance: `reports_progress`) a progress bar is
drawn on stderr when it is a terminal or `CLOUDBUS_PROGRESS=1` (cloudbus/apis/progress_bar.py).

Exit status:
- 0: the API succeeded;
- 1: the API failed: an error reply, including parameters rejected by validation before
  anything was sent (SYS.1007/SYS.1003) and an unknown API name (SYS.1008); also an
  unreachable broker or any unexpected failure (one line on stderr, never a traceback);
- 2: usage error: the command line itself is unreadable (`name` without `=`, unbalanced
  quote, unknown option, missing file); a short usage text goes to stderr.

`-f FILE` (`-` = stdin; also used when stdin is not a terminal and no arguments are
given) runs the commands in order, echoing each as `cloudbus >>> <line>` before its reply,
and stops at the first command that fails, exiting with that command's status: later
lines usually depend on earlier ones (a cluster needs its zone), so going on would only
bury the first error under follow-up errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from cloudbus.apis.credentials_store import CliCredentials, IncompleteApiKey
from cloudbus.apis.parser import (
    Command,
    UsageError,
    field_kind,
    field_ref,
    parse_tokens,
    split_line,
    type_name,
    valid_values,
)
from cloudbus.apis.references import expand, split_label
from cloudbus.apis.render import render
from cloudbus.core import errors
from cloudbus.core.config import Settings
from cloudbus.core.errors import CloudBusError
from cloudbus.core.messages import APIMessage, APIQueryMessage, Reply, build

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

PROMPT = "cloudbus >>> "
CONNECT_TIMEOUT = 30.0

USAGE = """\
usage: cloudbus <Api> [key=value ...]   run one API and print its reply as JSON
       cloudbus                          interactive shell (Tab completes APIs and parameters)
       cloudbus -f FILE                  run the commands in FILE ('-' = stdin), stop at the first failure
       cloudbus help [Api]               list the APIs, or describe one API's parameters
       cloudbus server ...               run a management node (see 'cloudbus server --help')
       cloudbus status                   management nodes, their ring, bus and database health

session:     LogInByAccount accountName=... password=... keeps a session that later commands send; LogOut ends it

environment: CLOUDBUS_HOME, CLOUDBUS_DB_URL, CLOUDBUS_BUS_URL, CLOUDBUS_BUS_NAMESPACE, CLOUDBUS_LOG_LEVEL,
             CLOUDBUS_API_KEY + CLOUDBUS_TENANT_ID + CLOUDBUS_PLATFORM_USER_ID (an API key instead of a session)"""


SHORT_USAGE = "usage: <Api> key=value ...  ('help <Api>' lists its parameters)"


class BusUnreachable(Exception):
    """The broker of a remote-mode CLI cannot be reached (exit 1, one line on stderr)."""


# -- where calls go ----------------------------------------------------------------------


class Session:
    """An embedded management node or a remote bus client, started on first use.

    Starting lazily means a command rejected by the parser or by validation never
    touches the database or the broker: bad input changes nothing and fails fast. The
    embedded node is a full member of the cloud for the command's life (cloudbus.node
    says why a one-shot node keeps its membership row, takeover and heartbeat).

    It also decides who calls (module docstring, "Who calls"): the environment's API key,
    else the session kept for this cloud; it keeps, renews and forgets that session as the
    login APIs and the cloud's answers say.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.node: Any = None
        self.client: Any = None
        self.names: dict[str, Any] = {}  # results remembered with `NAME := Api ...`
        self.who = CliCredentials(settings.home, self.cloud)  # raises IncompleteApiKey

    @property
    def remote(self) -> bool:
        return bool(self.settings.bus_url)

    @property
    def namespace(self) -> str:
        return os.environ.get("CLOUDBUS_BUS_NAMESPACE", "cloudbus")

    @property
    def cloud(self) -> str:
        """Which cloud calls go to: what a kept session is filed under (no password in it)."""
        if self.remote:
            return f"{mask_url(self.settings.bus_url or '')} namespace={self.namespace}"
        return mask_url(self.settings.db_url)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self.client is not None:
            return
        from cloudbus.apis.client import Client

        if self.remote:
            url = self.settings.bus_url or ""
            client = Client(
                url, namespace=self.namespace, timeout=self.settings.api_timeout, credentials=self.who.credentials()
            )
            try:
                await asyncio.wait_for(client.__aenter__(), CONNECT_TIMEOUT)
            except Exception as exc:
                raise BusUnreachable(
                    f"cannot connect to the message bus ({type(exc).__name__}: {exc}). "
                    f"Is the broker at {mask_url(url)} reachable?"
                ) from None
            self.client = client
            return
        from cloudbus.core.db import Database
        from cloudbus.node import ManagementNode, make_bus

        node = ManagementNode(Database(self.settings.db_url), make_bus(None))
        await node.start()
        self.node = node
        self.client = Client(bus=node.bus, timeout=self.settings.api_timeout, credentials=self.who.credentials())

    async def request(self, msg: APIMessage) -> Reply:
        await self.start()
        msg = self.who.fill(msg)
        sent = self.client.credentials
        reply = await self._request(msg)
        if self.who.follow(msg, reply, sent):
            self.client.credentials = self.who.credentials()
        return reply

    async def _request(self, msg: APIMessage) -> Reply:
        """The reply; an API that reports progress draws it on stderr meanwhile (progress_bar)."""
        if not msg.reports_progress:
            return await self.client.request(msg)  # type: ignore[no-any-return]
        from cloudbus.apis.progress_bar import following
        from cloudbus.core.ids import new_uuid

        api_id = new_uuid()
        async with following(self.client.bus, msg, api_id):
            return await self.client.request(msg, msg_id=api_id)  # type: ignore[no-any-return]

    async def close(self) -> None:
        client, node = self.client, self.node
        self.client = self.node = None
        if client is not None:
            await client.close()
        if node is not None:
            await node.stop()


def mask_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# -- running commands --------------------------------------------------------------------


def prepare(tokens: Sequence[str]) -> tuple[Command, APIMessage]:
    """Parse and validate: raises UsageError or CloudBusError, never touches the cloud."""
    command = parse_tokens(tokens)
    return command, build(command.api, command.params)


async def run_tokens(tokens: Sequence[str], session: Session, *, out: TextIO | None = None) -> int:
    """Run one command; print its reply (or usage error); return the exit status."""
    out = out or sys.stdout
    try:
        label, tokens = split_label(tokens)
        _command, msg = prepare(expand(tokens, session.names))
    except UsageError as exc:
        print(f"cloudbus: {exc}\n{SHORT_USAGE}", file=sys.stderr)
        return EXIT_USAGE
    except CloudBusError as exc:
        print(render(Reply.failure(exc.error)), file=out)
        return EXIT_FAILED
    try:
        reply = await session.request(msg)
    except BusUnreachable:
        raise
    except Exception as exc:  # a bug or transport failure: a reply-shaped error, not a traceback
        reply = Reply.failure(errors.err(errors.INTERNAL, f"{type(exc).__name__}: {exc}"))
    print(render(reply), file=out, flush=True)
    if label is not None and reply.success:
        session.names[label] = _payload(reply)
    return EXIT_OK if reply.success else EXIT_FAILED


def _payload(reply: Reply) -> Any:
    if reply.inventory is not None:
        return reply.inventory
    if reply.inventories is not None:
        return reply.inventories
    return reply.total


async def run_lines(lines: Iterable[str], session: Session, *, echo: bool = True) -> int:
    """Run a script: stop at the first failing command and return its status."""
    for line in lines:
        try:
            tokens = split_line(line)
        except UsageError as exc:
            if echo:
                print(f"{PROMPT}{line.rstrip()}", flush=True)
            print(f"cloudbus: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not tokens:
            continue
        if echo:
            print(f"{PROMPT}{line.strip()}", flush=True)
        status = await run_tokens(tokens, session)
        if status != EXIT_OK:
            return status
    return EXIT_OK


async def _one_shot(settings: Settings, tokens: Sequence[str]) -> int:
    async with Session(settings) as session:
        return await run_tokens(tokens, session)


async def _status(settings: Settings) -> int:
    from cloudbus.apis.status import status

    async with Session(settings) as session:
        return await status(settings, session)


async def _script(settings: Settings, lines: Iterable[str]) -> int:
    async with Session(settings) as session:
        return await run_lines(lines, session)


def run_file(settings: Settings, path: str) -> int:
    if path == "-":
        return asyncio.run(_script(settings, sys.stdin.read().splitlines()))
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        print(f"cloudbus: cannot read [{path}]: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_script(settings, lines))


# -- help --------------------------------------------------------------------------------


def help_text(name: str | None = None) -> str:
    """The API list, or one API's parameters (raises CloudBusError SYS.1008 for unknown names)."""
    from cloudbus.apis.catalog import apis
    from cloudbus.apis.parser import find_api

    if name is None:
        names = list(apis())
        width = max(len(n) for n in names) + 2
        per_row = max(1, 100 // width)
        rows = ["".join(n.ljust(width) for n in names[i : i + per_row]).rstrip() for i in range(0, len(names), per_row)]
        return f"{USAGE}\n\nAPIs ({len(names)}); 'cloudbus help <Api>' describes one:\n  " + "\n  ".join(rows)
    return describe_api(find_api(name))


def describe_api(api: type[APIMessage]) -> str:
    lines = [f"{api.message_name()}  (service: {api.service_id})"]
    if api.__doc__ and api.__doc__.strip() and api.__doc__ is not getattr(api.__mro__[1], "__doc__", None):
        lines.append(f"  {api.__doc__.strip().splitlines()[0]}")
    lines.append("")
    lines.append("parameters:")
    rows: list[tuple[str, str, str, str]] = []
    # The API's own parameters first; the ones every message has (tags, timeout) last.
    common = ("systemTags", "userTags", "timeout")
    ordered = sorted(api.model_fields.items(), key=lambda item: item[0] in common)
    for field_name, info in ordered:
        required = "required" if info.is_required() else "optional"
        notes: list[str] = []
        if not info.is_required() and info.default is not None and field_kind(info) != "list":
            default = str(info.default).lower() if isinstance(info.default, bool) else str(info.default)
            notes.append(f"default: {default}")
        values = valid_values(info)
        if values:
            notes.append(f"valid values: {', '.join(values)}")
        reference = field_ref(info)
        if reference is not None and reference.missing_ok:
            notes.append("an unknown uuid succeeds without doing anything")
        if info.description:
            notes.append(info.description)
        rows.append((field_name, type_name(info), required, "; ".join(notes)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        lines.append(
            f"  {row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2].ljust(widths[2])}  {row[3]}".rstrip()
        )
    if any(field_kind(info) == "int" for name, info in api.model_fields.items() if name != "timeout"):
        lines.extend(["", "int values take binary size suffixes: 512M = 512*1024^2, 64G (or 64GB), 1T; K, M, G, T, P"])
    if issubclass(api, APIQueryMessage):
        lines.extend(["", *_query_help(api)])
    return "\n".join(lines)


def _query_help(api: type[APIQueryMessage]) -> list[str]:
    from cloudbus import inventory

    inv = inventory.get(api.inventory)
    example = f"{next(iter(inv.joins))}.name=x" if inv.joins else "name=x"
    return [
        f"conditions on {api.inventory} (every other token): name=v name!=v name>=v name<=v 'name>v' 'name<v'",
        "  name?=a,b (in) name!?=a,b (not in) name~=v name!~=v (like; %v% when v has no % or _)",
        f"  name=null name!=null; join.field=v through the joins, e.g. {example}",
        f"  fields: {', '.join(inv.primitive_fields())}",
        f"  joins:  {', '.join(inv.joins) or '-'}",
    ]


# -- entry point -------------------------------------------------------------------------


def _configure_logging(settings: Settings) -> None:
    from cloudbus.core.logging import configure

    # stdout is for replies only; logs (WARNING unless asked) go to stderr.
    configure(json=settings.log_json, level=settings.log_level or "WARNING", stream=sys.stderr)
    if settings.log_level is None:
        # The AMQP libraries log their own connection failures through stdlib logging;
        # the CLI reports those as one clear line (BusUnreachable) instead.
        for name in ("aiormq", "aio_pika"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _usage_error(message: str) -> int:
    print(f"cloudbus: {message}\n{USAGE}", file=sys.stderr)
    return EXIT_USAGE


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "server":
        try:
            from cloudbus.apis.server import run
        except ModuleNotFoundError as exc:
            if exc.name != "cloudbus.apis.server":
                raise
            print("cloudbus: the server command is not available in this installation", file=sys.stderr)
            return EXIT_FAILED

        return int(run(argv[1:]) or 0)

    settings = Settings.from_env()
    _configure_logging(settings)

    if not argv:
        if not sys.stdin.isatty():
            # `cloudbus < script.txt` / `echo ... | cloudbus`: a script, not a terminal session.
            return run_file(settings, "-")
        from cloudbus.apis.shell import run_shell

        return run_shell(settings)

    head = argv[0]
    if head in ("help", "-h", "--help"):
        if len(argv) > 2:
            return _usage_error("help takes at most one API name")
        try:
            print(help_text(argv[1] if len(argv) == 2 else None))
        except CloudBusError as exc:
            print(render(Reply.failure(exc.error)))
            return EXIT_FAILED
        return EXIT_OK
    if head in ("-f", "--file"):
        if len(argv) != 2:
            return _usage_error("-f takes exactly one FILE")
        return run_file(settings, argv[1])
    if head == "status":
        return asyncio.run(_status(settings))
    if head.startswith("-"):
        return _usage_error(f"unknown option [{head}]")
    if any(token in ("-h", "--help") for token in argv[1:]):
        return _dispatch(["help", head])
    return asyncio.run(_one_shot(settings, argv))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit status (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args)
    except (BusUnreachable, IncompleteApiKey) as exc:
        print(f"cloudbus: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `cloudbus QueryHost | head`: the reader went away; nothing left to say.
        try:
            sys.stdout = open(os.devnull, "w")  # silence the failing flush at exit
        except OSError:
            pass
        return EXIT_FAILED
    except Exception as exc:
        print(f"cloudbus: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
