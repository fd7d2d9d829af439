"""The interactive `cloudbus` shell (prompt_toolkit).

    cloudbus >>> CreateZone name=zone1
    cloudbus >>> QueryHost cluster.zone.name=zone1 fields=uuid,name

Each line runs exactly like a one-shot command (split with shlex here, since no shell
did it). In embedded mode one management node serves the whole session. History is kept
in `$CLOUDBUS_HOME/history`; Ctrl-D, `exit` or `quit` leaves, Ctrl-C drops the line.

Tab completion (case-insensitive; prefix matches listed before substring matches):
- first word: API names and the builtins `help`, `exit`, `quit`;
- after an API: its parameter names with `=` (those not given yet), and for choice/bool
  parameters their values after `=`;
- Query APIs also: the target inventory's primitive fields (`name=`) and join names
  (`cluster.`), recursively through the declared joins (`cluster.zone.name=`), and
  `fields=`/`sortBy=` complete (comma-separated) primitive fields.
The Query API -> inventory mapping is the class's own `inventory` declaration.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory

from cloudbus.apis.cli import PROMPT, Session, describe_api, help_text, render, run_tokens
from cloudbus.apis.parser import RESERVED_QUERY_KEYS, UsageError, field_kind, split_line, valid_values
from cloudbus.core.config import Settings
from cloudbus.core.errors import CloudBusError
from cloudbus.core.messages import APIMessage, APIQueryMessage, Reply

BUILTINS = ("help", "exit", "quit")


def _rank(candidates: Iterable[str], word: str) -> list[str]:
    """Case-insensitive matches of `word`: prefix matches first, then substring matches."""
    needle = word.lower()
    prefix, inner = [], []
    for candidate in candidates:
        lowered = candidate.lower()
        if lowered.startswith(needle):
            prefix.append(candidate)
        elif needle in lowered:
            inner.append(candidate)
    return sorted(prefix, key=str.lower) + sorted(inner, key=str.lower)


class CloudbusCompleter(Completer):
    def __init__(self, catalog: dict[str, type[APIMessage]] | None = None) -> None:
        if catalog is None:
            from cloudbus.apis.catalog import apis

            catalog = apis()
        self.catalog = catalog

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        words = text.split()
        if text and not text[-1].isspace() and words:
            current = words.pop()
        else:
            current = ""
        if not words:
            yield from self._words([*self.catalog, *BUILTINS], current)
            return
        head = words[0]
        if head == "help":
            if len(words) == 1:
                yield from self._words(self.catalog, current)
            return
        api = self._api(head)
        if api is None:
            return
        # A token may be quoted (`'name~=a b'`); complete on what follows the quote.
        current = current.lstrip("'\"")
        if "=" in current:
            yield from self._values(api, current)
        else:
            yield from self._keys(api, current, words[1:])

    def _api(self, name: str) -> type[APIMessage] | None:
        if name in self.catalog:
            return self.catalog[name]
        folded = [cls for key, cls in self.catalog.items() if key.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    @staticmethod
    def _words(candidates: Iterable[str], word: str, *, start: int | None = None) -> Iterator[Completion]:
        for match in _rank(candidates, word):
            yield Completion(match, start_position=-len(word) if start is None else start)

    def _keys(self, api: type[APIMessage], current: str, given: list[str]) -> Iterator[Completion]:
        used = {token.split("=", 1)[0] for token in given if "=" in token}
        if not issubclass(api, APIQueryMessage):
            names = [f"{name}=" for name in api.model_fields if name not in used]
            yield from self._words(names, current)
            return
        inv = _inventory(api)
        path, _, last = current.rpartition(".")
        if path:
            # `cluster.zone.na` -> complete `na` among the fields/joins of Zone.
            target = _walk(inv, path.split(".")) if inv is not None else None
            if target is None:
                return
            yield from self._words(_members(target), last)
            return
        params = [f"{name}=" for name in api.model_fields if name in RESERVED_QUERY_KEYS and name not in used]
        yield from self._words([*params, *(_members(inv) if inv is not None else [])], current)

    def _values(self, api: type[APIMessage], current: str) -> Iterator[Completion]:
        key, _, value = current.partition("=")
        info = api.model_fields.get(key)
        if issubclass(api, APIQueryMessage) and key in ("fields", "sortBy"):
            inv = _inventory(api)
            if inv is None:
                return
            if key == "fields":
                chosen, _, last = value.rpartition(",")
                taken = set(chosen.split(",")) if chosen else set()
                yield from self._words([f for f in inv.primitive_fields() if f not in taken], last)
            else:
                yield from self._words(inv.primitive_fields(), value)
            return
        is_param = not issubclass(api, APIQueryMessage) or key in RESERVED_QUERY_KEYS
        if info is not None and is_param and field_kind(info) in ("choice", "bool"):
            yield from self._words(valid_values(info), value)


def _inventory(api: type[APIQueryMessage]) -> Any:
    from cloudbus import inventory

    try:
        return inventory.get(api.inventory)
    except KeyError:
        return None


def _walk(inv: Any, hops: list[str]) -> Any:
    from cloudbus import inventory

    for hop in hops:
        join = inv.joins.get(hop)
        if join is None:
            return None
        inv = inventory.get(join.target)
    return inv


def _members(inv: Any) -> list[str]:
    """What may follow a path prefix: `field=` for primitive fields, `join.` for joins."""
    return [f"{name}=" for name in inv.primitive_fields()] + [f"{name}." for name in inv.joins]


# -- the loop ----------------------------------------------------------------------------


_SECRET_VALUE = re.compile(r"\b(password|oldPassword)=(\"[^\"]*\"|'[^']*'|\S+)")


class _MaskedHistory(FileHistory):
    """File history that keeps `password=...` values out of the file (zstack-cli masks them too)."""

    def store_string(self, string: str) -> None:
        super().store_string(_SECRET_VALUE.sub(r"\1=******", string))


def _history(settings: Settings) -> History:
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        path = settings.home / "history"
        path.touch(exist_ok=True)
        return _MaskedHistory(str(path))
    except OSError:
        # A read-only home must not make the shell unusable; history is a convenience.
        return InMemoryHistory()


async def shell_loop(settings: Settings, prompt: PromptSession[str]) -> int:
    """Read-eval-print until Ctrl-D/exit; returns 0. Errors are printed, never raised."""
    async with Session(settings) as session:
        while True:
            try:
                line = await prompt.prompt_async(PROMPT)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            if not await _run_line(line, session):
                break
    return 0


async def _run_line(line: str, session: Session) -> bool:
    """Run one line; False when the user asked to leave."""
    try:
        tokens = split_line(line)
    except UsageError as exc:
        print(f"cloudbus: {exc}")
        return True
    if not tokens:
        return True
    head = tokens[0]
    if head in ("exit", "quit"):
        return False
    if head == "help":
        try:
            print(help_text(tokens[1]) if len(tokens) > 1 else help_text())
        except CloudBusError as exc:
            print(render(Reply.failure(exc.error)))
        return True
    try:
        if any(token in ("-h", "--help") for token in tokens[1:]):
            from cloudbus.apis.parser import find_api

            print(describe_api(find_api(head)))
            return True
        await run_tokens(tokens, session)
    except CloudBusError as exc:
        print(render(Reply.failure(exc.error)))
    except Exception as exc:  # an unreachable broker etc.: report and keep the session
        print(f"cloudbus: {exc}")
    return True


def make_prompt(settings: Settings, **kwargs: Any) -> PromptSession[str]:
    return PromptSession(
        history=_history(settings),
        completer=CloudbusCompleter(),
        complete_while_typing=False,
        **kwargs,
    )


def run_shell(settings: Settings) -> int:
    """Run the interactive shell on the terminal."""
    return asyncio.run(shell_loop(settings, make_prompt(settings)))
