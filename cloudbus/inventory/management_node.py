"""Management nodes and the cluster's own bookkeeping: membership, API records, journals.

- `management_node` (ManagementNodeInventory): one row per live node, refreshed by its
  heartbeat; the ring is built from the rows whose heartbeat is fresh.
- `api_record`: the idempotency record of an API message, keyed
  by its message id: Running while it executes on `nodeUuid`, then Done with the reply.
- `operation_journal`: the persisted progress of a multi-step operation (which FlowChain
  steps ran, the state object of the flow) so the next owner of the resource can finish
  or roll it back when the node running it dies.
- `bus_secret`: one row, the key management nodes sign their requests to each other with
  (core/envelope.py), made by migration 0013: whoever may read the database is a node.
"""

from sqlalchemy import Column, Float, Index, String, Table, Text

from cloudbus.inventory.declarations import Inventory, register
from cloudbus.inventory.schema import UtcDateTime, metadata, uuid_column

management_node_table = Table(
    "management_node",
    metadata,
    uuid_column(primary_key=True),
    Column("hostName", String(255), nullable=False),
    Column("heartbeat", UtcDateTime(), nullable=False),
    Column("state", String(32), nullable=False),
    Column("version", String(32), nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
    # seconds since the epoch of the last beat, as the node's clock saw it: what liveness
    # is judged on (nodes of one cloud are expected to keep their clocks in sync, as ZStack's)
    Column("beatAt", Float, nullable=False),
)

api_record_table = Table(
    "api_record",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("apiName", String(255), nullable=False),
    Column("nodeUuid", String(32), nullable=False),
    # every beat looks for Running records of dead nodes: few rows among a day of Done ones
    Column("state", String(16), nullable=False, index=True),
    Column("reply", Text),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("finishDate", UtcDateTime()),
)

operation_journal_table = Table(
    "operation_journal",
    metadata,
    uuid_column(primary_key=True),
    Column("nodeUuid", String(32), nullable=False, index=True),
    Column("serviceId", String(64), nullable=False),
    Column("resourceUuid", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("apiId", String(32)),
    Column("state", Text, nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)
Index("ix_operation_journal_resourceUuid", operation_journal_table.c.resourceUuid)

bus_secret_table = Table(
    "bus_secret",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("secret", String(64), nullable=False),
)

MANAGEMENT_NODE = register(
    Inventory(
        name="ManagementNode",
        table=management_node_table,
        service_id="managementNode",
        hidden=frozenset({"beatAt"}),
    )
)
