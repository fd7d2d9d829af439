"""Images and offerings on the OpenStack backend, against the private real OpenStack
(`pytest --backend=openstack`): templates made from root volumes are Glance images, public
Glance images cloudbus did not make are discovered as images (and never deleted by it), and
Nova flavors are imported as instance offerings. Every check also reads OpenStack itself.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from cloudbus.core.ids import new_uuid
from cloudbus.core.units import GiB, MiB
from cloudbus.testing import Cloud
from tests.support.openstack_cloud import raw_image, server_of, vm_env, volume_named

pytestmark = pytest.mark.openstack


async def _vm(cloud: Cloud, env: dict[str, Any], image_uuid: str, offering_uuid: str | None = None) -> dict[str, Any]:
    return await cloud.ok(
        "CreateVmInstance",
        name=f"vm-{secrets.token_hex(2)}",
        instanceOfferingUuid=offering_uuid or env["offering"]["uuid"],
        imageUuid=image_uuid,
        l3NetworkUuids=[env["l3"]["uuid"]],
    )


def _root(vm: dict[str, Any]) -> dict[str, Any]:
    return next(v for v in vm["allVolumes"] if v["type"] == "Root")


# --- templates from root volumes -------------------------------------------------------------


async def test_a_running_vms_root_volume_becomes_a_public_glance_image_that_boots_vms(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    label = f"cloudbus-{env['cloud']['uuid']}"
    vm = await _vm(cloud, env, env["image"]["uuid"])
    assert vm["state"] == "Running"

    template = await cloud.ok("CreateRootVolumeTemplateFromRootVolume", name="tpl", rootVolumeUuid=_root(vm)["uuid"])
    (glance,) = list(admin.image.images(name=template["uuid"]))
    assert (glance.status, glance.visibility, glance.disk_format) == ("active", "public", "qcow2")
    assert label in glance.tags
    assert (template["status"], template["mediaType"], template["format"]) == ("Ready", "RootVolumeTemplate", "qcow2")
    assert template["actualSize"] == glance.size and template["md5Sum"] == glance.checksum
    assert template["size"] == (glance.virtual_size or GiB)
    (ref,) = template["backupStorageRefs"]
    assert (ref["backupStorageUuid"], ref["installPath"]) == (env["bs"]["uuid"], f"glance://{glance.id}")
    assert volume_named(admin, template["uuid"]) is None  # the clone it was uploaded from is gone
    (still,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert still["state"] == "Running"

    second = await _vm(cloud, env, template["uuid"])
    assert second["state"] == "Running" and server_of(admin, second["uuid"]).status == "ACTIVE"
    root = volume_named(admin, _root(second)["uuid"])
    assert root.volume_image_metadata["image_id"] == glance.id


async def test_a_template_upload_glance_refuses_leaves_nothing_behind(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    vm = await _vm(cloud, env, env["image"]["uuid"])
    # Cinder copies a volume's image metadata into the image it uploads (through the clone):
    # more properties than Glance's image_property_quota (128) and Glance refuses the image
    root = volume_named(admin, _root(vm)["uuid"])
    admin.block_storage.set_volume_image_metadata(root, **{f"cbtest_{i}": "x" for i in range(130)})
    before = await cloud.snapshot()
    uuid = new_uuid()
    error = await cloud.error(
        "CreateRootVolumeTemplateFromRootVolume", name="tpl", rootVolumeUuid=_root(vm)["uuid"], resourceUuid=uuid
    )
    assert error.code == "IMAGE.1001", error.to_json()
    assert "number of allowed image properties" in error.details  # refused after the clone was made
    assert error.cause is not None and error.cause.code == "OPENSTACK.1002", error.to_json()
    assert await cloud.snapshot() == before
    assert list(admin.image.images(name=uuid)) == []
    assert volume_named(admin, uuid) is None


# --- public images discovered -----------------------------------------------------------------


async def test_public_glance_images_are_discovered_and_stay_the_operators(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    source = raw_image(tmp_path / "oob" / "disk.raw", 2 * MiB)
    names = [f"cbtest-{secrets.token_hex(3)}" for _ in range(2)]
    made = []
    try:
        for name, os_type in zip(names, ("windows", None), strict=True):
            extra = {"os_type": os_type} if os_type else {}
            made.append(
                admin.image.create_image(
                    name=name,
                    filename=str(source),
                    disk_format="raw",
                    container_format="bare",
                    visibility="public",
                    wait=True,
                    **extra,
                )
            )
        reply = await cloud.api("SyncOpenStackCloud", uuid=env["cloud"]["uuid"])
        assert reply.success, reply.to_json()
        found = {}
        for glance, name in zip(made, names, strict=True):
            glance = admin.image.get_image(glance.id)
            (image,) = await cloud.query("QueryImage", ("name", "=", name))
            found[name] = image
            assert image["uuid"] in reply.changes["added"]
            assert (image["status"], image["state"], image["format"]) == ("Ready", "Enabled", "raw")
            assert image["platform"] == ("Windows" if name == names[0] else "Linux")
            assert (image["size"], image["actualSize"]) == (glance.virtual_size or glance.size, glance.size)
            assert image["md5Sum"] == glance.checksum
            (ref,) = image["backupStorageRefs"]
            assert (ref["backupStorageUuid"], ref["installPath"]) == (env["bs"]["uuid"], f"glance://{glance.id}")
        # cloudbus's own images (AddImage) are not discovered again
        assert len(await cloud.query("QueryImage", ("uuid", "=", env["image"]["uuid"]))) == 1

        # deleting and expunging it in cloudbus leaves the operator's Glance image
        kept = found[names[1]]
        await cloud.ok("DeleteImage", uuid=kept["uuid"])
        await cloud.ok("ExpungeImage", imageUuid=kept["uuid"])
        assert await cloud.query("QueryImage", ("uuid", "=", kept["uuid"])) == []
        assert admin.image.get_image(made[1].id).status == "active"

        # gone from Glance: the next sync deletes its image
        admin.image.delete_image(made[0])
        reply = await cloud.api("SyncOpenStackCloud", uuid=env["cloud"]["uuid"])
        assert reply.success, reply.to_json()
        assert found[names[0]]["uuid"] in reply.changes["removed"]
        assert await cloud.query("QueryImage", ("uuid", "=", found[names[0]]["uuid"])) == []
        assert admin.image.get_image(made[1].id).status == "active"
    finally:
        for glance in made:
            admin.image.delete_image(glance, ignore_missing=True)


# --- flavors as instance offerings -------------------------------------------------------------


async def test_flavors_are_imported_as_offerings_and_vms_run_with_them(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    cloud_uuid = env["cloud"]["uuid"]
    # sizes no other flavor has, and a root disk: servers boot from their volume regardless
    ram = 200 + 8 * secrets.randbelow(2000)
    flavor = admin.compute.create_flavor(name=f"cbtest-{secrets.token_hex(3)}", vcpus=1, ram=ram, disk=1)
    try:
        before = await cloud.snapshot()
        error = await cloud.error("ImportOpenStackFlavors", cloudUuid=cloud_uuid, flavorIds=["no-such-flavor"])
        assert error.code == "OPENSTACK.1121", error.to_json()
        assert await cloud.snapshot() == before

        (offering,) = await cloud.ok("ImportOpenStackFlavors", cloudUuid=cloud_uuid, flavorIds=[flavor.id])
        assert (offering["name"], offering["cpuNum"], offering["memorySize"]) == (flavor.name, 1, ram * MiB)
        assert flavor.id in offering["description"]
        assert await cloud.ok("ImportOpenStackFlavors", cloudUuid=cloud_uuid, flavorIds=[flavor.id]) == []

        public = {f.id: f for f in admin.compute.flavors(details=True, is_public=True)}
        rest = await cloud.ok("ImportOpenStackFlavors", cloudUuid=cloud_uuid)
        assert flavor.id not in {o["description"].split("[id:")[1].split("]")[0] for o in rest}
        imported = {o["description"].split("[id:")[1].split("]")[0]: o for o in [offering, *rest]}
        assert set(public) <= set(imported)  # flavors made meanwhile by others may be there too
        for fid, found in public.items():
            got = imported[fid]
            assert (got["name"], got["cpuNum"], got["memorySize"]) == (found.name, found.vcpus, found.ram * MiB)

        vm = await _vm(cloud, env, env["image"]["uuid"], offering["uuid"])
        assert vm["state"] == "Running"
        server = server_of(admin, vm["uuid"])
        assert server.status == "ACTIVE" and server.flavor["original_name"] == flavor.name
        assert (server.flavor["vcpus"], server.flavor["ram"], server.flavor["disk"]) == (1, ram, 1)
        root = volume_named(admin, _root(vm)["uuid"])
        assert root.id in {a["id"] for a in server.attached_volumes} and root.is_bootable
        await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
    finally:
        admin.compute.delete_flavor(flavor, ignore_missing=True)
