"""The `cloudbus` command end to end: the installed console script as a subprocess, embedded
mode (SQLite under a temporary CLOUDBUS_HOME), plus the interactive shell in-process.

Tests marked "query engine" below assert real filtering/sorting/fields and need
cloudbus/inventory/query.py (the placeholder returns every row unfiltered).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from cloudbus.apis.shell import CloudbusCompleter, make_prompt, shell_loop
from cloudbus.core.config import Settings

ZONE2 = "2" * 32
CLUSTER2 = "c2" * 16


def _script() -> str:
    beside = Path(sys.executable).parent / "cloudbus"
    found = str(beside) if beside.exists() else shutil.which("cloudbus")
    if not found:
        pytest.skip("the cloudbus console script is not installed (pip install -e .)")
    return found


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def cloudbus(home: Path, *args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDBUS_")}
    env["CLOUDBUS_HOME"] = str(home)
    env.update(extra_env or {})
    done = subprocess.run(
        [_script(), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


def ok(home: Path, *args: str) -> Any:
    run = cloudbus(home, *args)
    assert run.code == 0, (run.stdout, run.stderr)
    assert run.json["success"] is True
    return run.json


def failed(home: Path, *args: str, code: str) -> dict[str, Any]:
    run = cloudbus(home, *args)
    assert run.code == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    reply = run.json
    assert reply["success"] is False
    assert reply["error"]["code"] == code, reply
    return reply["error"]


@dataclass
class Env:
    home: Path
    zone: dict[str, Any]
    cluster: dict[str, Any]
    host: dict[str, Any]
    hosts: dict[str, str]  # name -> uuid


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """zone1/cluster1 with hosts hb (64G), ha (2G), hsmall (512M); zone2/cluster2 with hz2 (64G)."""
    home = tmp_path_factory.mktemp("cli")
    zone = ok(home, "CreateZone", "name=zone1", "description=first zone")["inventory"]
    cluster = ok(home, "CreateCluster", "name=cluster1", f"zoneUuid={zone['uuid']}", "hypervisorType=Simulator")[
        "inventory"
    ]
    host = ok(
        home,
        "AddSimulatorHost",
        "name=hb",
        "managementIp=10.0.0.2",
        f"clusterUuid={cluster['uuid']}",
        "memoryCapacity=64G",
    )["inventory"]
    script = home / "more.txt"
    script.write_text(
        f"""# the rest of the topology, with chosen uuids
CreateZone name=zone2 resourceUuid={ZONE2}
CreateCluster name=cluster2 zoneUuid={ZONE2} hypervisorType=Simulator resourceUuid={CLUSTER2}
AddSimulatorHost name=ha managementIp=10.0.0.1 clusterUuid={cluster["uuid"]} memoryCapacity=2G

AddSimulatorHost name=hsmall managementIp=10.0.0.3 clusterUuid={cluster["uuid"]} memoryCapacity=512M
AddSimulatorHost name=hz2 managementIp=10.0.1.1 clusterUuid={CLUSTER2} memoryCapacity=64GB
"""
    )
    run = cloudbus(home, "-f", str(script))
    assert run.code == 0, (run.stdout, run.stderr)
    hosts = {inv["name"]: inv["uuid"] for inv in ok(home, "QueryHost")["inventories"]}
    return Env(home, zone, cluster, host, hosts)


# -- one-shot commands -------------------------------------------------------------------


def test_create_with_quoted_description_and_size(env: Env) -> None:
    assert env.zone["name"] == "zone1"
    assert env.zone["description"] == "first zone"
    assert env.cluster["zoneUuid"] == env.zone["uuid"]
    assert env.host["memoryCapacity"] == 68719476736
    assert env.host["totalMemoryCapacity"] == 68719476736


def test_state_persists_between_invocations(env: Env) -> None:
    # Every call above was its own process; all of it is in CLOUDBUS_HOME's database.
    assert (env.home / "cloudbus.db").exists()
    assert set(env.hosts) == {"ha", "hb", "hsmall", "hz2"}
    zones = ok(env.home, "QueryZone")["inventories"]
    assert {z["name"] for z in zones} == {"zone1", "zone2"}


def test_output_is_sorted_pretty_json_only(env: Env) -> None:
    run = cloudbus(env.home, "QueryZone")
    assert run.code == 0
    assert run.stdout == json.dumps(run.json, indent=4, sort_keys=True, ensure_ascii=False) + "\n"
    assert "management node started" not in run.stdout + run.stderr  # logs stay at WARNING
    error = cloudbus(env.home, "CreateZone")
    assert error.stdout == json.dumps(error.json, indent=4, sort_keys=True) + "\n"
    assert set(error.json["error"]) >= {"code", "description", "details"}


def test_query_host_join_strict_sort_fields(env: Env) -> None:
    """Needs the query engine: join condition, strict '>', sortBy and fields."""
    reply = ok(
        env.home,
        "QueryHost",
        "cluster.zone.name=zone1",
        "totalMemoryCapacity>1073741824",
        "sortBy=name",
        "fields=uuid,name",
    )
    assert reply["inventories"] == [
        {"name": "ha", "uuid": env.hosts["ha"]},
        {"name": "hb", "uuid": env.hosts["hb"]},
    ]


def test_query_spellings_reach_the_engine(env: Env) -> None:
    """Needs the query engine: in, like auto-wrap, not-null, sortDirection, replyWithCount."""
    reply = ok(env.home, "QueryHost", "name?=ha,hz2,nope", "sortBy=name", "sortDirection=desc", "fields=name,")
    assert reply["inventories"] == [{"name": "hz2"}, {"name": "ha"}]
    reply = ok(env.home, "QueryHost", "name~=small", "description=null", "replyWithCount=true", "fields=name")
    assert reply["inventories"] == [{"name": "hsmall"}]
    assert reply["total"] == 1


def test_delete_zone_cascades(tmp_path: Path) -> None:
    zone, cluster = "a" * 32, "b" * 32
    script = tmp_path / "setup.txt"
    script.write_text(
        f"CreateZone name=z resourceUuid={zone}\n"
        f"CreateCluster name=c zoneUuid={zone} hypervisorType=Simulator resourceUuid={cluster}\n"
        f"AddSimulatorHost name=h managementIp=10.1.0.1 clusterUuid={cluster}\n"
    )
    assert cloudbus(tmp_path, "-f", str(script)).code == 0
    ok(tmp_path, "DeleteZone", f"uuid={zone}")
    assert ok(tmp_path, "QueryHost")["inventories"] == []
    assert ok(tmp_path, "QueryCluster")["inventories"] == []
    # Deleting it again: an unknown but well-formed uuid succeeds (idempotent delete).
    ok(tmp_path, "DeleteZone", f"uuid={zone}")


def test_bad_input_exits_1_and_changes_nothing(env: Env) -> None:
    before = {q: len(ok(env.home, q)["inventories"]) for q in ("QueryZone", "QueryCluster", "QueryHost")}
    zone_uuid, cluster_uuid = env.zone["uuid"], env.cluster["uuid"]

    error = failed(env.home, "CreateUniverse", "name=u", code="SYS.1008")
    assert "CreateUniverse" in error["details"]
    error = failed(env.home, "CreateZone", "name=z9", "colour=red", code="SYS.1007")
    assert "colour" in error["details"]
    error = failed(env.home, "CreateCluster", "name=c9", "hypervisorType=Simulator", code="SYS.1007")
    assert "zoneUuid" in error["details"]
    failed(env.home, "CreateCluster", "name=c9", "zoneUuid=not-a-uuid", "hypervisorType=Simulator", code="SYS.1003")
    # A well-formed uuid of the wrong kind (a cluster's uuid where a zone's is needed).
    error = failed(
        env.home, "CreateCluster", "name=c9", f"zoneUuid={cluster_uuid}", "hypervisorType=Simulator", code="SYS.1003"
    )
    assert "ZoneVO" in error["details"]
    failed(env.home, "CreateCluster", "name=c9", f"zoneUuid={zone_uuid}", "hypervisorType=Xen", code="SYS.1007")
    failed(
        env.home,
        "AddSimulatorHost",
        "name=h9",
        "managementIp=10.9.9.9",
        f"clusterUuid={cluster_uuid}",
        "memoryCapacity=lots",
        code="SYS.1007",
    )

    after = {q: len(ok(env.home, q)["inventories"]) for q in before}
    assert after == before


def test_usage_errors_exit_2(env: Env, tmp_path: Path) -> None:
    for args in (["CreateZone", "name"], ["--bogus"], ["-f"], ["-f", str(tmp_path / "missing.txt")]):
        run = cloudbus(env.home, *args)
        assert run.code == 2, (args, run.stdout, run.stderr)
        assert run.stdout == ""
        assert "usage" in run.stderr or "cannot read" in run.stderr
        assert "Traceback" not in run.stderr


def test_help(env: Env) -> None:
    run = cloudbus(env.home, "help")
    assert run.code == 0
    assert "CreateZone" in run.stdout and "QueryHost" in run.stdout
    assert cloudbus(env.home, "--help").stdout == run.stdout

    run = cloudbus(env.home, "help", "CreateCluster")
    assert run.code == 0
    line = next(x for x in run.stdout.splitlines() if x.strip().startswith("hypervisorType"))
    assert "required" in line and "KVM, Simulator" in line
    assert "uuid of Zone" in run.stdout
    assert "optional" in next(x for x in run.stdout.splitlines() if x.strip().startswith("description"))

    run = cloudbus(env.home, "QueryHost", "--help")
    assert run.code == 0
    assert "sortDirection" in run.stdout and "asc, desc" in run.stdout and "cluster" in run.stdout

    assert cloudbus(env.home, "help", "Nope").code == 1


def test_file_stops_at_first_failure(tmp_path: Path) -> None:
    script = tmp_path / "cmds.txt"
    script.write_text(
        "# comment\n\nCreateZone name=fz description='from a file'\n"
        "CreateZone description=no-name\n"
        "CreateZone name=never\n"
    )
    run = cloudbus(tmp_path, "-f", str(script))
    assert run.code == 1
    assert "cloudbus >>> CreateZone name=fz description='from a file'" in run.stdout
    assert '"description": "from a file"' in run.stdout
    assert "SYS.1007" in run.stdout
    assert "never" not in run.stdout
    names = {z["name"] for z in ok(tmp_path, "QueryZone")["inventories"]}
    assert names == {"fz"}

    # A script on stdin (no arguments, stdin not a terminal) runs the same way.
    run = cloudbus(tmp_path, stdin="CreateZone name=piped\n")
    assert run.code == 0, run.stderr
    assert "cloudbus >>> CreateZone name=piped" in run.stdout

    script.write_text("CreateZone name='unbalanced\n")
    assert cloudbus(tmp_path, "-f", str(script)).code == 2


def test_unreachable_broker_is_one_clear_line(tmp_path: Path) -> None:
    url = "amqp://guest:s3cret@127.0.0.1:1/"  # nothing listens on port 1
    run = cloudbus(tmp_path, "QueryZone", extra_env={"CLOUDBUS_BUS_URL": url})
    assert run.code == 1
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "reachable" in lines[0] and "127.0.0.1:1" in lines[0]
    assert "s3cret" not in lines[0]
    assert not (tmp_path / "cloudbus.db").exists()  # a pure client: no embedded node


# -- the interactive shell ---------------------------------------------------------------


def complete(text: str) -> list[str]:
    completer = CloudbusCompleter()
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_completion_of_api_names_and_builtins() -> None:
    assert complete("CreateZ") == ["CreateZone"]
    assert complete("createz") == ["CreateZone"]  # case-insensitive
    queries = complete("Query")
    assert {"QueryCluster", "QueryHost", "QueryZone"} <= set(queries)
    assert queries == sorted(queries) and all(q.startswith("Query") for q in queries)
    substring = complete("zone")
    assert {"CreateZone", "DeleteZone", "QueryZone"} <= set(substring)
    assert all("zone" in name.lower() for name in substring)
    assert complete("exi") == ["exit"]
    assert "help" in complete("")
    assert complete("help QueryHo") == ["QueryHost"]


def test_completion_of_parameters() -> None:
    assert "name=" in complete("CreateZone ")
    assert "description=" in complete("CreateZone name=z ")
    assert "name=" not in complete("CreateZone name=z ")  # already given
    assert complete("CreateCluster hyper") == ["hypervisorType="]
    assert complete("CreateCluster hypervisorType=") == ["KVM", "Simulator"]
    assert complete("CreateZone isDefault=") == ["false", "true"]
    assert complete("NoSuchApi ") == []


def test_completion_of_query_fields_and_joins() -> None:
    top = complete("QueryHost ")
    assert {"name=", "totalMemoryCapacity=", "cluster.", "zone.", "fields=", "sortBy=", "limit="} <= set(top)
    assert complete("QueryHost clu") == ["cluster.", "clusterUuid="]
    nested = complete("QueryHost cluster.")
    assert "zone." in nested and "hypervisorType=" in nested
    assert complete("QueryHost cluster.zone.na") == ["name="]
    assert complete("QueryHost cluster.zone.cluster.host.managementI") == ["managementIp="]
    assert complete("QueryHost nosuchjoin.") == []
    assert complete("QueryHost fields=uuid,na") == ["name", "managementIp", "username"]
    assert "uuid" not in complete("QueryHost fields=uuid,")
    assert complete("QueryHost sortBy=totalM") == ["totalMemoryCapacity"]
    assert complete("QueryHost sortDirection=") == ["asc", "desc"]


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    # The shell loop runs in-process here; keep the node's info logs off stdout and give
    # the global structlog configuration back afterwards.
    from cloudbus.core.logging import configure

    saved = structlog.get_config()
    configure(level="WARNING", stream=sys.stderr)
    try:
        yield
    finally:
        structlog.configure(**saved)


async def test_shell_loop_end_to_end(tmp_path: Path, quiet_logs: None, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env({"CLOUDBUS_HOME": str(tmp_path)})
    with create_pipe_input() as pipe:
        pipe.send_text(
            "CreateZone name=z 'description=from the shell'\r"
            "QueryZone fields=name,description\r"
            "CreateZone name\r"
            "NoSuchApi\r"
            "help CreateZone\r"
            "exit\r"
            "CreateZone name=after-exit\r"
        )
        prompt = make_prompt(settings, input=pipe, output=DummyOutput())
        assert await shell_loop(settings, prompt) == 0
    out, err = capsys.readouterr()
    assert '"description": "from the shell"' in out
    assert '"inventories": [\n        {\n            "description": "from the shell",\n            "name": "z"' in out
    assert "SYS.1008" in out
    assert "isDefault" in out  # help output
    assert "malformed parameter [name]" in err
    assert "after-exit" not in out
    history = (tmp_path / "history").read_text()
    assert "+CreateZone name=z 'description=from the shell'" in history
    assert (tmp_path / "cloudbus.db").exists()


async def test_shell_ctrl_d_quits(tmp_path: Path, quiet_logs: None) -> None:
    settings = Settings.from_env({"CLOUDBUS_HOME": str(tmp_path)})
    with create_pipe_input() as pipe:
        pipe.send_text("\x04")
        prompt = make_prompt(settings, input=pipe, output=DummyOutput())
        assert await shell_loop(settings, prompt) == 0


def test_status_shows_the_node_its_ring_and_health(env: Env) -> None:
    run = cloudbus(env.home, "status")
    assert run.code == 0, run.stderr
    report = run.json
    assert report["healthy"] is True and report["database"] == "ok" and report["bus"] == "in-process"
    [node] = report["nodes"]
    assert node["state"] == "Running" and node["version"]
    assert report["ring"] == {node["uuid"]: "100.0%"}


def test_status_of_an_unreachable_broker_exits_1(tmp_path: Path) -> None:
    run = cloudbus(tmp_path, "status", extra_env={"CLOUDBUS_BUS_URL": "amqp://guest:guest@127.0.0.1:1/"})
    assert run.code == 1
    assert "Traceback" not in run.stderr + run.stdout
