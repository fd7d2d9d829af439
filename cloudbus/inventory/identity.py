"""Identity: accounts (tenants' domains), their projects and users, and login sessions.

- `account`: AccountInventory (`type` SystemAdmin | Normal); `password` is a KDF hash of the
  SHA-512 hex the client sends, never rendered;
- `project`: a project inside an account (seed 004); every account has a default one
  (`isDefault`), which goes only with its account;
- `identity_user`: UserInventory (a user of an account), `password` as for accounts;
- `session`: SessionInventory, what LogInByAccount / LogInByUser return; `expiredDate` moves
  with RenewSession. Not queryable: a session uuid is a bearer secret;
- `tenant_info` (seed 000): a tenant registered by CreateTenant, `t-` + a 10-digit serial taken
  from `tenant_serial` in the registering transaction (so ids are unique and gap-free), with
  the account, default project and user named after it and the SHA-256 of its API key.
"""

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, String, Table, UniqueConstraint

from cloudbus.inventory.declarations import Inventory, Join, of_account, register
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column

account_table = Table(
    "account",
    metadata,
    *common_columns(),
    Column("type", String(32), nullable=False),
    Column("password", String(255), nullable=False),
    UniqueConstraint("name", name="uq_account_name"),
)

project_table = Table(
    "project",
    metadata,
    *common_columns(),
    uuid_column("accountUuid", ForeignKey("account.uuid"), nullable=False, index=True),
    Column("isDefault", Boolean, nullable=False),
    UniqueConstraint("accountUuid", "name", name="uq_project_accountUuid_name"),
)

user_table = Table(
    "identity_user",
    metadata,
    *common_columns(),
    uuid_column("accountUuid", ForeignKey("account.uuid"), nullable=False, index=True),
    Column("password", String(255), nullable=False),
    UniqueConstraint("accountUuid", "name", name="uq_identity_user_accountUuid_name"),
)

session_table = Table(
    "session",
    metadata,
    uuid_column(primary_key=True),
    uuid_column("accountUuid", ForeignKey("account.uuid", ondelete="CASCADE"), nullable=False, index=True),
    uuid_column("userUuid"),
    Column("userType", String(32), nullable=False),
    Column("expiredDate", UtcDateTime(), nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
)

tenant_table = Table(
    "tenant_info",
    metadata,
    uuid_column(primary_key=True),
    Column("tenantId", String(20), nullable=False, unique=True),
    Column("tenantName", String(100), nullable=False, unique=True),
    uuid_column("accountUuid", ForeignKey("account.uuid"), nullable=False, index=True),
    uuid_column("projectUuid", nullable=False),
    uuid_column("userUuid", nullable=False),
    Column("apiKeyHash", String(64), nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)

# one row: the last tenant serial handed out (CreateTenant increments it in its transaction)
tenant_serial_table = Table(
    "tenant_serial",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("last", BigInteger, nullable=False),
)

ACCOUNT = register(
    Inventory(
        name="Account",
        table=account_table,
        service_id="identity",
        tenancy=of_account("uuid"),
        joins={
            "project": Join("Project", target_key="accountUuid"),
            "user": Join("User", target_key="accountUuid"),
            "tenant": Join("Tenant", target_key="accountUuid"),
        },
        hidden=frozenset({"password"}),
    )
)

PROJECT = register(
    Inventory(
        name="Project",
        table=project_table,
        service_id="identity",
        tenancy=of_account("accountUuid"),
        parents={"Account": "accountUuid"},
        joins={"account": Join("Account", self_key="accountUuid")},
    )
)

USER = register(
    Inventory(
        name="User",
        table=user_table,
        service_id="identity",
        tenancy=of_account("accountUuid"),
        parents={"Account": "accountUuid"},
        joins={"account": Join("Account", self_key="accountUuid")},
        hidden=frozenset({"password"}),
    )
)

TENANT = register(
    Inventory(
        name="Tenant",
        table=tenant_table,
        service_id="identity",
        tenancy=of_account("accountUuid"),
        parents={"Account": "accountUuid"},
        joins={"account": Join("Account", self_key="accountUuid")},
        hidden=frozenset({"apiKeyHash"}),
    )
)
