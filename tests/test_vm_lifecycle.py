"""VM instances through the API: create, stop/start, reboot, pause/resume, destroy/recover/
expunge, migrate, nics, updates — what users see in inventories, hosts and IPs."""

from __future__ import annotations

import ipaddress

from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.vm_env import create_vm, host, vm, vm_env


def in_range(ip: str, start: str = "192.168.100.10", end: str = "192.168.100.200") -> bool:
    return ipaddress.ip_address(start) <= ipaddress.ip_address(ip) <= ipaddress.ip_address(end)


async def test_create_runs_the_vm_with_nic_root_volume_and_capacity(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env, description="first")
    assert inv["state"] == "Running" and inv["type"] == "UserVm" and inv["description"] == "first"
    assert inv["hostUuid"] in {h["uuid"] for h in env["hosts"]}
    assert (inv["cpuNum"], inv["memorySize"]) == (2, 2 * GiB)
    assert inv["instanceOfferingUuid"] == env["offering"]["uuid"]
    assert inv["zoneUuid"] == env["zones"][0]["uuid"] and inv["clusterUuid"] == env["clusters"][0]["uuid"]
    assert inv["defaultL3NetworkUuid"] == env["l3"]["uuid"] and inv["hypervisorType"] == "Simulator"
    (nic,) = inv["vmNics"]
    assert nic["deviceId"] == 0 and nic["mac"].startswith("fa:") and in_range(nic["ip"])
    assert nic["vmInstanceUuid"] == inv["uuid"] and nic["l3NetworkUuid"] == env["l3"]["uuid"]
    assert "usedIpUuid" not in nic and nic["netmask"] == "255.255.255.0" and nic["gateway"] == "192.168.100.1"
    (root,) = inv["allVolumes"]
    assert (root["type"], root["deviceId"], root["status"]) == ("Root", 0, "Ready")
    assert root["uuid"] == inv["rootVolumeUuid"] and root["primaryStorageUuid"] == env["ps"]["uuid"]
    placed = await host(cloud, inv["hostUuid"])
    assert placed["availableCpuCapacity"] == placed["totalCpuCapacity"] - 2
    assert placed["availableMemoryCapacity"] == placed["totalMemoryCapacity"] - 2 * GiB
    assert cloud.sim.vms == {inv["uuid"]: inv["hostUuid"]}
    (used,) = await cloud.query("QueryIpAddress", ("vmNicUuid", "=", nic["uuid"]))
    assert used["ip"] == nic["ip"]


async def test_several_l3s_give_nics_in_order_and_data_disks_follow_the_root(cloud: Cloud) -> None:
    from tests.support.network import build_network

    env = await vm_env(cloud)
    other = await build_network(
        cloud,
        env["zones"][0]["uuid"],
        [env["clusters"][0]["uuid"]],
        name="n2",
        vlan=10,
        start_ip="10.0.0.10",
        end_ip="10.0.0.20",
        gateway="10.0.0.1",
        services=(),
    )
    l3s = [env["l3"]["uuid"], other["l3"]["uuid"]]
    ps_before = (await cloud.query("QueryPrimaryStorage"))[0]["availableCapacity"]
    inv = await create_vm(
        cloud, env, l3NetworkUuids=l3s, defaultL3NetworkUuid=l3s[1], dataDiskOfferingUuids=[env["disk"]["uuid"]] * 2
    )
    assert [n["l3NetworkUuid"] for n in sorted(inv["vmNics"], key=lambda n: n["deviceId"])] == l3s
    assert sorted(n["deviceId"] for n in inv["vmNics"]) == [0, 1]
    assert len({n["mac"] for n in inv["vmNics"]}) == 2 and inv["defaultL3NetworkUuid"] == l3s[1]
    volumes = sorted(inv["allVolumes"], key=lambda v: v["deviceId"])
    assert [(v["type"], v["deviceId"]) for v in volumes] == [("Root", 0), ("Data", 1), ("Data", 2)]
    assert all(v["size"] == 10 * GiB for v in volumes[1:])
    ps_after = (await cloud.query("QueryPrimaryStorage"))[0]["availableCapacity"]
    assert ps_before - ps_after == sum(v["size"] for v in volumes)
    found = await cloud.query(
        "QueryVmInstance", ("allVolumes.type", "=", "Data"), ("vmNics.ip", "=", inv["vmNics"][0]["ip"])
    )
    assert [v["uuid"] for v in found] == [inv["uuid"]]


async def test_stop_start_keeps_ip_and_moves_capacity(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env)
    first_host, ip = inv["hostUuid"], inv["vmNics"][0]["ip"]
    stopped = await cloud.ok("StopVmInstance", uuid=inv["uuid"])
    assert stopped["state"] == "Stopped" and stopped["hostUuid"] is None and stopped["lastHostUuid"] == first_host
    assert stopped["vmNics"][0]["ip"] == ip
    released = await host(cloud, first_host)
    assert released["availableCpuCapacity"] == released["totalCpuCapacity"]
    assert inv["uuid"] not in cloud.sim.vms
    again = await cloud.ok("StopVmInstance", uuid=inv["uuid"], type="cold")
    assert again["state"] == "Stopped"
    other = next(h["uuid"] for h in env["hosts"] if h["uuid"] != first_host)
    started = await cloud.ok("StartVmInstance", uuid=inv["uuid"], hostUuid=other)
    assert started["state"] == "Running" and started["hostUuid"] == other and started["vmNics"][0]["ip"] == ip
    assert (await host(cloud, other))["availableCpuCapacity"] == 6
    assert [c.args["type"] for c in cloud.sim.issued("stopVm", inv["uuid"])] == ["grace"]


async def test_reboot_pause_resume_keep_the_host(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env)
    rebooted = await cloud.ok("RebootVmInstance", uuid=inv["uuid"])
    assert rebooted["state"] == "Running" and rebooted["hostUuid"] == inv["hostUuid"]
    paused = await cloud.ok("PauseVmInstance", uuid=inv["uuid"])
    assert paused["state"] == "Paused" and paused["hostUuid"] == inv["hostUuid"]
    resumed = await cloud.ok("ResumeVmInstance", uuid=inv["uuid"])
    assert resumed["state"] == "Running"
    assert [c.command for c in cloud.sim.commands if c.uuid == inv["uuid"]] == [
        "startVm",
        "rebootVm",
        "pauseVm",
        "resumeVm",
    ]


async def test_destroy_recover_start_and_expunge(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env, dataDiskOfferingUuids=[env["disk"]["uuid"]])
    data = next(v for v in inv["allVolumes"] if v["type"] == "Data")
    assert await cloud.ok("DestroyVmInstance", uuid=inv["uuid"]) is None
    destroyed = await vm(cloud, inv["uuid"])
    assert destroyed["state"] == "Destroyed" and destroyed["hostUuid"] is None
    assert destroyed["lastHostUuid"] == inv["hostUuid"]
    (nic,) = destroyed["vmNics"]
    assert nic["uuid"] == inv["vmNics"][0]["uuid"] and nic["ip"] is None
    assert await cloud.query("QueryIpAddress", ("vmNicUuid", "=", nic["uuid"])) == []
    freed = await host(cloud, inv["hostUuid"])
    assert freed["availableCpuCapacity"] == freed["totalCpuCapacity"]
    assert await cloud.ok("DestroyVmInstance", uuid=inv["uuid"]) is None  # already destroyed: fine
    recovered = await cloud.ok("RecoverVmInstance", uuid=inv["uuid"])
    assert recovered["state"] == "Stopped"
    started = await cloud.ok("StartVmInstance", uuid=inv["uuid"])
    assert started["state"] == "Running" and started["vmNics"][0]["ip"] is not None
    await cloud.ok("DestroyVmInstance", uuid=inv["uuid"])
    await cloud.ok("ExpungeVmInstance", uuid=inv["uuid"])
    assert await cloud.query("QueryVmInstance", ("uuid", "=", inv["uuid"])) == []
    assert await cloud.query("QueryVmNic", ("vmInstanceUuid", "=", inv["uuid"])) == []
    assert await cloud.query("QueryVolume", ("uuid", "=", inv["rootVolumeUuid"])) == []
    (kept,) = await cloud.query("QueryVolume", ("uuid", "=", data["uuid"]))
    assert kept["vmInstanceUuid"] is None
    assert await cloud.query("QueryIpAddress") == []


async def test_migrate_moves_capacity_and_candidates_exclude_the_current_host(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=3)
    inv = await create_vm(cloud, env)
    candidates = await cloud.ok("GetVmMigrationCandidateHosts", vmInstanceUuid=inv["uuid"])
    assert inv["hostUuid"] not in {h["uuid"] for h in candidates} and len(candidates) == 2
    target = candidates[0]["uuid"]
    moved = await cloud.ok("MigrateVm", vmInstanceUuid=inv["uuid"], hostUuid=target)
    assert moved["hostUuid"] == target and moved["lastHostUuid"] == inv["hostUuid"] and moved["state"] == "Running"
    assert (await host(cloud, target))["availableCpuCapacity"] == 6
    assert (await host(cloud, inv["hostUuid"]))["availableCpuCapacity"] == 8
    assert cloud.sim.vms[inv["uuid"]] == target
    error = await cloud.error("MigrateVm", vmInstanceUuid=inv["uuid"], hostUuid=target)
    assert error.code == "SYS.1007"


async def test_just_create_takes_nothing_until_the_first_start(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env, strategy="JustCreate", dataDiskOfferingUuids=[env["disk"]["uuid"]])
    assert inv["state"] == "Created" and inv["hostUuid"] is None and inv["rootVolumeUuid"] is None
    assert inv["vmNics"][0]["ip"] is None and inv["allVolumes"] == []
    assert (await host(cloud, env["hosts"][0]["uuid"]))["availableCpuCapacity"] == 8
    assert await cloud.ok("QueryIpAddress") == []
    error = await cloud.error("StopVmInstance", uuid=inv["uuid"])
    assert error.code == "SYS.1006" and error.cause.code == "VM.1010"
    started = await cloud.ok("StartVmInstance", uuid=inv["uuid"])
    assert started["state"] == "Running" and started["vmNics"][0]["ip"] is not None
    assert sorted((v["type"], v["deviceId"]) for v in started["allVolumes"]) == [("Data", 1), ("Root", 0)]


async def test_create_stopped_instantiates_then_stops(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env, strategy="CreateStopped")
    assert inv["state"] == "Stopped" and inv["hostUuid"] is None
    assert inv["lastHostUuid"] == env["hosts"][0]["uuid"] and inv["rootVolumeUuid"]
    assert inv["vmNics"][0]["ip"] is not None
    assert (await host(cloud, env["hosts"][0]["uuid"]))["availableCpuCapacity"] == 8
    assert [c.command for c in cloud.sim.commands if c.uuid == inv["uuid"]] == ["startVm", "stopVm"]


async def test_attach_and_detach_l3(cloud: Cloud) -> None:
    from tests.support.network import build_network

    env = await vm_env(cloud)
    other = await build_network(
        cloud,
        env["zones"][0]["uuid"],
        [env["clusters"][0]["uuid"]],
        name="n2",
        vlan=10,
        start_ip="10.0.0.10",
        end_ip="10.0.0.10",
        gateway="10.0.0.1",
        services=(),
    )
    inv = await create_vm(cloud, env)
    attached = await cloud.ok("AttachL3NetworkToVm", vmInstanceUuid=inv["uuid"], l3NetworkUuid=other["l3"]["uuid"])
    nic = next(n for n in attached["vmNics"] if n["l3NetworkUuid"] == other["l3"]["uuid"])
    assert nic["deviceId"] == 1 and nic["ip"] == "10.0.0.10"
    assert cloud.sim.issued("attachNic", inv["uuid"])
    error = await cloud.error("AttachL3NetworkToVm", vmInstanceUuid=inv["uuid"], l3NetworkUuid=other["l3"]["uuid"])
    assert error.code == "SYS.1007"
    detached = await cloud.ok("DetachL3NetworkFromVm", vmNicUuid=nic["uuid"])
    assert [n["deviceId"] for n in detached["vmNics"]] == [0]
    # the only IP of that range is free again
    second = await create_vm(cloud, env, l3NetworkUuids=[other["l3"]["uuid"]])
    assert second["vmNics"][0]["ip"] == "10.0.0.10"


async def test_update_and_change_instance_offering(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env)
    big = await cloud.ok("CreateInstanceOffering", name="big", cpuNum=4, memorySize=4 * GiB)
    changed = await cloud.ok("ChangeInstanceOffering", vmInstanceUuid=inv["uuid"], instanceOfferingUuid=big["uuid"])
    assert (changed["cpuNum"], changed["memorySize"], changed["instanceOfferingUuid"]) == (4, 4 * GiB, big["uuid"])
    assert (await host(cloud, inv["hostUuid"]))["availableCpuCapacity"] == 4
    updated = await cloud.ok("UpdateVmInstance", uuid=inv["uuid"], name="renamed", description="d", cpuNum=1)
    assert (updated["name"], updated["description"], updated["cpuNum"]) == ("renamed", "d", 1)
    assert (await host(cloud, inv["hostUuid"]))["availableCpuCapacity"] == 7
    forced = await cloud.ok("UpdateVmInstance", uuid=inv["uuid"], state="Stopped")
    assert forced["state"] == "Stopped" and forced["hostUuid"] is None
    assert (await host(cloud, inv["hostUuid"]))["availableCpuCapacity"] == 8
    error = await cloud.error("UpdateVmInstance", uuid=inv["uuid"], defaultL3NetworkUuid=env["net"]["l2"]["uuid"])
    assert error.code == "SYS.1003"


async def test_nested_queries_through_vm_joins(cloud: Cloud) -> None:
    env = await vm_env(cloud, ps_capacity=8 << 40)
    big = await cloud.ok("CreateDiskOffering", name="big", diskSize=2 << 40)
    with_data = await create_vm(cloud, env, dataDiskOfferingUuids=[big["uuid"]])
    plain = await create_vm(cloud, env)
    zone = env["zones"][0]["name"]
    found = await cloud.query("QueryVmInstance", ("vmNics.l3Network.l2Network.zone.name", "=", zone))
    assert {v["uuid"] for v in found} == {with_data["uuid"], plain["uuid"]}
    found = await cloud.query(
        "QueryVmInstance", ("allVolumes.type", "=", "Data"), ("allVolumes.size", ">", 1099511627776)
    )
    assert [v["uuid"] for v in found] == [with_data["uuid"]]
    nics = await cloud.query("QueryVmNic", ("vmInstance.name", "=", "vm"), ("l3Network.uuid", "=", env["l3"]["uuid"]))
    assert len(nics) == 2
    assert len(await cloud.query("QueryL3Network", ("vmNic.mac", "=", plain["vmNics"][0]["mac"]))) == 1
    hosts = await cloud.query("QueryHost", ("vmInstance.uuid", "=", plain["uuid"]))
    assert [h["uuid"] for h in hosts] == [plain["hostUuid"]]
    assert len(await cloud.query("QueryZone", ("vmInstance.state", "=", "Running"))) == 1
    assert len(await cloud.query("QueryInstanceOffering", ("vmInstance.uuid", "=", plain["uuid"]))) == 1
    (root,) = await cloud.query("QueryVmInstance", ("rootVolume.uuid", "=", plain["rootVolumeUuid"]))
    assert root["uuid"] == plain["uuid"]
