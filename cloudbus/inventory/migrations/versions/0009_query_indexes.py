"""query indexes: every join key and sort field the inventory declarations name

Revision ID: 0009
Revises: 0008

The list is `cloudbus.inventory.declarations.index_facts()` as it stood at this revision, less
the indexes earlier revisions made (frozen here, as migrations are history);
tests/test_bench_query.py checks the migrated schema still indexes every declared fact.
A sort field's index ends with the primary key, the engine's tiebreak; a string sort field is
indexed COLLATE "C" on PostgreSQL, the bytewise order the engine sorts strings by.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (table, index, columns); the string sort fields
INDEXES = [
    ("backup_storage", "ix_backup_storage_createDate_uuid", ["createDate", "uuid"]),
    ("backup_storage", "ix_backup_storage_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("backup_storage", "ix_backup_storage_name_uuid", ["name", "uuid"]),
    ("cluster", "ix_cluster_createDate_uuid", ["createDate", "uuid"]),
    ("cluster", "ix_cluster_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("cluster", "ix_cluster_name_uuid", ["name", "uuid"]),
    ("disk_offering", "ix_disk_offering_createDate_uuid", ["createDate", "uuid"]),
    ("disk_offering", "ix_disk_offering_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("disk_offering", "ix_disk_offering_name_uuid", ["name", "uuid"]),
    ("host", "ix_host_createDate_uuid", ["createDate", "uuid"]),
    ("host", "ix_host_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("host", "ix_host_name_uuid", ["name", "uuid"]),
    ("image", "ix_image_createDate_uuid", ["createDate", "uuid"]),
    ("image", "ix_image_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("image", "ix_image_name_uuid", ["name", "uuid"]),
    (
        "image_backup_storage_ref",
        "ix_image_backup_storage_ref_createDate_imageUuid_backu_e54680c2",
        ["createDate", "imageUuid", "backupStorageUuid"],
    ),
    (
        "image_backup_storage_ref",
        "ix_image_backup_storage_ref_lastOpDate_imageUuid_backu_4da3e7ac",
        ["lastOpDate", "imageUuid", "backupStorageUuid"],
    ),
    ("instance_offering", "ix_instance_offering_createDate_uuid", ["createDate", "uuid"]),
    ("instance_offering", "ix_instance_offering_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("instance_offering", "ix_instance_offering_name_uuid", ["name", "uuid"]),
    ("ip_range", "ix_ip_range_createDate_uuid", ["createDate", "uuid"]),
    ("ip_range", "ix_ip_range_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("ip_range", "ix_ip_range_name_uuid", ["name", "uuid"]),
    ("l2_network", "ix_l2_network_createDate_uuid", ["createDate", "uuid"]),
    ("l2_network", "ix_l2_network_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("l2_network", "ix_l2_network_name_uuid", ["name", "uuid"]),
    ("l3_network", "ix_l3_network_createDate_uuid", ["createDate", "uuid"]),
    ("l3_network", "ix_l3_network_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("l3_network", "ix_l3_network_name_uuid", ["name", "uuid"]),
    (
        "local_storage_host_ref",
        "ix_local_storage_host_ref_createDate_primaryStorageUui_a3bbc511",
        ["createDate", "primaryStorageUuid", "hostUuid"],
    ),
    (
        "local_storage_host_ref",
        "ix_local_storage_host_ref_lastOpDate_primaryStorageUui_06ca2a28",
        ["lastOpDate", "primaryStorageUuid", "hostUuid"],
    ),
    ("management_node", "ix_management_node_createDate_uuid", ["createDate", "uuid"]),
    ("management_node", "ix_management_node_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    (
        "network_service_l3_network_ref",
        "ix_network_service_l3_network_ref_networkServiceProviderUuid",
        ["networkServiceProviderUuid"],
    ),
    ("network_service_provider", "ix_network_service_provider_createDate_uuid", ["createDate", "uuid"]),
    ("network_service_provider", "ix_network_service_provider_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("network_service_provider", "ix_network_service_provider_name_uuid", ["name", "uuid"]),
    ("primary_storage", "ix_primary_storage_createDate_uuid", ["createDate", "uuid"]),
    ("primary_storage", "ix_primary_storage_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("primary_storage", "ix_primary_storage_name_uuid", ["name", "uuid"]),
    ("security_group", "ix_security_group_createDate_uuid", ["createDate", "uuid"]),
    ("security_group", "ix_security_group_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("security_group", "ix_security_group_name_uuid", ["name", "uuid"]),
    ("security_group_l3_ref", "ix_security_group_l3_ref_createDate_uuid", ["createDate", "uuid"]),
    ("security_group_l3_ref", "ix_security_group_l3_ref_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("security_group_rule", "ix_security_group_rule_createDate_uuid", ["createDate", "uuid"]),
    ("security_group_rule", "ix_security_group_rule_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("system_tag", "ix_system_tag_createDate_uuid", ["createDate", "uuid"]),
    ("system_tag", "ix_system_tag_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("used_ip", "ix_used_ip_createDate_uuid", ["createDate", "uuid"]),
    ("used_ip", "ix_used_ip_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("user_tag", "ix_user_tag_createDate_uuid", ["createDate", "uuid"]),
    ("user_tag", "ix_user_tag_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("vm_instance", "ix_vm_instance_createDate_uuid", ["createDate", "uuid"]),
    ("vm_instance", "ix_vm_instance_imageUuid", ["imageUuid"]),
    ("vm_instance", "ix_vm_instance_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("vm_instance", "ix_vm_instance_name_uuid", ["name", "uuid"]),
    ("vm_nic", "ix_vm_nic_createDate_uuid", ["createDate", "uuid"]),
    ("vm_nic", "ix_vm_nic_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("vm_nic_security_group_ref", "ix_vm_nic_security_group_ref_createDate_uuid", ["createDate", "uuid"]),
    ("vm_nic_security_group_ref", "ix_vm_nic_security_group_ref_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("volume", "ix_volume_createDate_uuid", ["createDate", "uuid"]),
    ("volume", "ix_volume_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("volume", "ix_volume_name_uuid", ["name", "uuid"]),
    ("volume", "ix_volume_rootImageUuid", ["rootImageUuid"]),
    ("volume_snapshot", "ix_volume_snapshot_createDate_uuid", ["createDate", "uuid"]),
    ("volume_snapshot", "ix_volume_snapshot_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("volume_snapshot", "ix_volume_snapshot_name_uuid", ["name", "uuid"]),
    ("volume_snapshot", "ix_volume_snapshot_primaryStorageUuid", ["primaryStorageUuid"]),
    ("volume_snapshot_tree", "ix_volume_snapshot_tree_createDate_uuid", ["createDate", "uuid"]),
    ("volume_snapshot_tree", "ix_volume_snapshot_tree_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("zone", "ix_zone_createDate_uuid", ["createDate", "uuid"]),
    ("zone", "ix_zone_lastOpDate_uuid", ["lastOpDate", "uuid"]),
    ("zone", "ix_zone_name_uuid", ["name", "uuid"]),
]
BYTEWISE = {"name"}


def upgrade() -> None:
    for table, name, columns in INDEXES:
        ops = {columns[0]: 'COLLATE "C"'} if columns[0] in BYTEWISE else {}
        op.create_index(name, table, columns, unique=False, postgresql_ops=ops)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
