"""NAS disks: Manila shares of an OpenStack cloud (NasDiskInventory, seed 000's NasDiskService).

Owned by the `openstack` service. A NAS disk is one Manila share named by the disk's uuid;
`shareId` is Manila's id, `exportPath` its preferred export location, `size` whole GiB in
bytes, `status` Manila's status in cloudbus's words (`status_of`). It lives below its cloud,
so deleting the cloud (or its zone) deletes it. `nas_disk_vm_ref` holds the mount clients:
one row per VM IP granted (an `ip` access rule, `accessId` Manila's rule id).
"""

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table

from cloudbus.inventory.declarations import OWNED, Inventory, Join, Via, register
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column

nas_disk_table = Table(
    "nas_disk",
    metadata,
    *common_columns(),
    uuid_column("cloudUuid", ForeignKey("openstack_cloud.uuid"), nullable=False, index=True),
    uuid_column("zoneUuid", ForeignKey("zone.uuid"), nullable=False, index=True),
    Column("protocol", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("shareType", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("exportPath", String(2048)),
    Column("shareId", String(64), nullable=False),
)

nas_disk_vm_ref_table = Table(
    "nas_disk_vm_ref",
    metadata,
    uuid_column("nasDiskUuid", ForeignKey("nas_disk.uuid", ondelete="CASCADE"), primary_key=True),
    # one share grants an address once (Manila refuses a second rule for it)
    Column("ip", String(64), primary_key=True),
    uuid_column("vmInstanceUuid", ForeignKey("vm_instance.uuid", ondelete="CASCADE"), nullable=False, index=True),
    Column("accessId", String(64), nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
)

# Manila's share status -> cloudbus's; the error states (error, extending_error ...) are Error
_STATUS = {
    "creating": "Creating",
    "available": "Ready",
    "extending": "Resizing",
    "shrinking": "Resizing",
    "deleting": "Deleting",
}


def status_of(manila_status: str) -> str:
    if "error" in manila_status:
        return "Error"
    return _STATUS.get(manila_status, manila_status.capitalize())


NAS_DISK = register(
    Inventory(
        name="NasDisk",
        table=nas_disk_table,
        service_id="openstack",
        tenancy=OWNED,
        parents={"OpenStackCloud": "cloudUuid"},
        joins={
            "zone": Join("Zone", self_key="zoneUuid"),
            "cloud": Join("OpenStackCloud", self_key="cloudUuid"),
            "vmInstance": Join(
                "VmInstance", via=Via(nas_disk_vm_ref_table, self_col="nasDiskUuid", target_col="vmInstanceUuid")
            ),
        },
    )
)
