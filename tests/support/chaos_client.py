"""One chaos client: random conflicting VM operations on a running cloud, one JSON line per call.

    python -m tests.support.chaos_client --url amqp://... --namespace ns --vms u1,u2,... \\
        --seed 7 --client 0 --rounds 20 --per-round 5 --timeout 20 --out calls.jsonl

Each round fires `--per-round` calls at once, each a random operation (Stop, Start, Reboot,
Migrate, Destroy, Recover) on a random VM of `--vms`, and waits for all of them. Every call's
outcome is written as soon as it arrives:

    {"client": 0, "round": 3, "op": "MigrateVm", "vm": "...", "ok": false,
     "code": "SYS.1006", "details": "...", "elapsed": 0.21}

(`"exception"` instead of `"code"` if the client itself raised), so a test can tell that every
call was answered, how, and how fast. The last line is `{"client": 0, "done": true}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from cloudbus.apis.client import Client
from cloudbus.apis.vm_instance import (
    DestroyVmInstance,
    MigrateVm,
    RebootVmInstance,
    RecoverVmInstance,
    StartVmInstance,
    StopVmInstance,
)
from cloudbus.core.auth import admin_password
from cloudbus.core.messages import APIMessage

OPS: dict[str, Callable[[str], APIMessage]] = {
    "StopVmInstance": lambda vm: StopVmInstance(uuid=vm),
    "StartVmInstance": lambda vm: StartVmInstance(uuid=vm),
    "RebootVmInstance": lambda vm: RebootVmInstance(uuid=vm),
    "MigrateVm": lambda vm: MigrateVm(vmInstanceUuid=vm),
    "DestroyVmInstance": lambda vm: DestroyVmInstance(uuid=vm),
    "RecoverVmInstance": lambda vm: RecoverVmInstance(uuid=vm),
}


async def one_call(client: Client, op: str, vm: str, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    outcome: dict[str, Any] = {"op": op, "vm": vm}
    try:
        reply = await client.request(OPS[op](vm), timeout=timeout)
        error = reply.error
        outcome.update(ok=reply.success, code=error and error.code, details=error and (error.details or "")[:300])
    except Exception as exc:  # reported, not raised: the test judges it
        outcome.update(ok=False, exception=f"{type(exc).__name__}: {exc}")
    outcome["elapsed"] = round(time.monotonic() - started, 3)
    return outcome


async def run(args: argparse.Namespace, out: IO[str]) -> None:
    rng = random.Random(args.seed)
    vms = args.vms.split(",")

    async def call(client: Client, round_no: int, op: str, vm: str) -> None:
        outcome = await one_call(client, op, vm, args.timeout)
        out.write(json.dumps({"client": args.client, "round": round_no, **outcome}) + "\n")
        out.flush()

    async with Client(args.url, namespace=args.namespace, timeout=args.timeout) as client:
        await client.log_in("admin", admin_password())
        for round_no in range(args.rounds):
            picks = [(rng.choice(sorted(OPS)), rng.choice(vms)) for _ in range(args.per_round)]
            await asyncio.gather(*(call(client, round_no, op, vm) for op, vm in picks))
    out.write(json.dumps({"client": args.client, "done": True}) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.chaos_client", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--vms", required=True, help="comma-separated VM uuids")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--client", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds each call may take")
    parser.add_argument("--out", required=True, help="file for the JSON lines")
    args = parser.parse_args(argv)
    with open(args.out, "w") as out:
        asyncio.run(run(args, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
