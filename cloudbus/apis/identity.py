"""Identity APIs (reference 2.10): accounts, projects, users, login sessions.

Passwords travel as the SHA-512 hex digest of what the user typed, as zstack-cli sends them
(the CLI hashes `password=` and `oldPassword=` of these APIs before sending).
"""

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    Uuid,
    ref,
    ref_list,
)
from cloudbus.inventory.quota import QUOTAS

# what the client sends: never stored, never logged, never echoed (services/identity/service.py)
Password = Annotated[str, StringConstraints(min_length=1, max_length=255)]
AccountType = Literal["SystemAdmin", "Normal"]
# RenewSession's bounds (reference 2.10): a minute to a year
SessionSeconds = Annotated[int, Field(ge=60, le=31536000)]


class _Account(Concerns):
    resource: ClassVar[str] = "Account"


class _Project(Concerns):
    resource: ClassVar[str] = "Project"


class _User(Concerns):
    resource: ClassVar[str] = "User"


class _Session(Concerns):
    resource: ClassVar[str] = "Account"


class CreateAccount(_Account, APICreateMessage):
    admin_only: ClassVar[bool | None] = True
    wire_hashed: ClassVar[tuple[str, ...]] = ("password",)

    name: Name
    password: Password
    type: AccountType = "Normal"
    description: Description | None = None


class UpdateAccount(_Account, APIMessage):
    wire_hashed: ClassVar[tuple[str, ...]] = ("password", "oldPassword")

    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Account")
    name: Name | None = None
    description: Description | None = None
    password: Password | None = None
    oldPassword: Password | None = None


class DeleteAccount(_Account, APIDeleteMessage):
    admin_only: ClassVar[bool | None] = True

    uuid: ref("Account", missing_ok=True)


class QueryAccount(APIQueryMessage):
    inventory: ClassVar[str] = "Account"


class CreateProject(_Project, APICreateMessage):
    accountUuid: ref("Account")
    name: Name
    description: Description | None = None


class DeleteProject(_Project, APIDeleteMessage):
    uuid: ref("Project", missing_ok=True)


class QueryProject(APIQueryMessage):
    inventory: ClassVar[str] = "Project"


class CreateUser(_User, APICreateMessage):
    wire_hashed: ClassVar[tuple[str, ...]] = ("password",)

    accountUuid: ref("Account")
    name: Name
    password: Password
    description: Description | None = None


class UpdateUser(_User, APIMessage):
    wire_hashed: ClassVar[tuple[str, ...]] = ("password",)

    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("User")
    name: Name | None = None
    description: Description | None = None
    password: Password | None = None


class DeleteUser(_User, APIDeleteMessage):
    uuid: ref("User", missing_ok=True)


class QueryUser(APIQueryMessage):
    inventory: ClassVar[str] = "User"


class LogInByAccount(_Session, APIMessage):
    wire_hashed: ClassVar[tuple[str, ...]] = ("password",)
    needs_session: ClassVar[bool] = False
    secret_reply: ClassVar[bool] = True  # the session uuid is a bearer secret

    accountName: Name
    password: Password


class LogInByUser(_Session, APIMessage):
    wire_hashed: ClassVar[tuple[str, ...]] = ("password",)
    needs_session: ClassVar[bool] = False
    secret_reply: ClassVar[bool] = True  # the session uuid is a bearer secret

    accountName: Name | None = None
    accountUuid: str | None = None
    userName: Name
    password: Password


class LogOut(_Session, APIMessage):
    needs_session: ClassVar[bool] = False

    sessionUuid: str | None = None


class ValidateSession(_Session, APIMessage):
    needs_session: ClassVar[bool] = False

    sessionUuid: str


class RenewSession(_Session, APIMessage):
    needs_session: ClassVar[bool] = False

    sessionUuid: str
    duration: SessionSeconds = 7200


class _Tenant(Concerns):
    resource: ClassVar[str] = "Tenant"


class CreateTenant(_Tenant, APIMessage):
    """Seed 000's tenant registration. Reply: `tenantId` (`t-` + a 10-digit serial) and `apikey`,
    shown this once."""

    admin_only: ClassVar[bool | None] = True
    # a retry gets no copy of the key; the unique name stops a second tenant
    secret_reply: ClassVar[bool] = True

    tenantName: Annotated[Name, StringConstraints(max_length=100)]


class RegenerateApiKey(_Tenant, APIMessage):
    """A new API key for the tenant (the old one stops working). Reply: `tenantId`, `apikey`."""

    admin_only: ClassVar[bool | None] = True
    secret_reply: ClassVar[bool] = True  # the key is shown once, kept nowhere

    tenantId: Annotated[str, StringConstraints(pattern=r"^t-\d{10}$")]


class QueryTenant(APIQueryMessage):
    inventory: ClassVar[str] = "Tenant"


# --- ownership and sharing (reference 2.10) --------------------------------------------------


class _Ownership(Concerns):
    resource: ClassVar[str] = "AccountResourceRef"


class ShareResource(_Ownership, APIMessage):
    """Let accounts (`accountUuids`) or every account (`toPublic`) see and use resources:
    images, instance and disk offerings, L3 and L2 networks. Reply: `inventories`, the sharing
    rows."""

    admin_only: ClassVar[bool | None] = True

    resourceUuids: list[Uuid] = Field(min_length=1, max_length=1000)
    accountUuids: ref_list("Account") | None = None
    toPublic: bool = False


class RevokeResourceSharing(_Ownership, APIMessage):
    """Stop sharing resources with `accountUuids`, with the public (`toPublic`), or with
    everyone they were shared with (`all`)."""

    admin_only: ClassVar[bool | None] = True

    resourceUuids: list[Uuid] = Field(min_length=1, max_length=1000)
    accountUuids: list[Uuid] | None = None
    toPublic: bool = False
    all: bool = False


class ChangeResourceOwner(_Ownership, APIMessage):
    """Give a resource to another account (its default project), within that account's quotas.
    Reply: the AccountResourceRef inventory."""

    admin_only: ClassVar[bool | None] = True

    accountUuid: ref("Account")
    resourceUuid: Uuid


class QueryAccountResourceRef(APIQueryMessage):
    inventory: ClassVar[str] = "AccountResourceRef"


class QuerySharedResource(APIQueryMessage):
    inventory: ClassVar[str] = "SharedResource"


# --- quotas: ZStack's API and seed 004's limits over the same rows ---------------------------

QuotaValue = Annotated[int, Field(ge=0)]


def _known_quota(name: str) -> str:
    if name not in QUOTAS:
        raise ValueError(f"no quota is named {name}; the quotas: {', '.join(QUOTAS)}")
    return name


QuotaName = Annotated[Name, AfterValidator(_known_quota)]


class _Quota(Concerns):
    resource: ClassVar[str] = "Quota"


class UpdateQuota(_Quota, APIMessage):
    """Set quota `name` of an account or a project (`identityUuid`) to `value`."""

    admin_only: ClassVar[bool | None] = True

    identityUuid: Uuid
    name: QuotaName
    value: QuotaValue


class QueryQuota(APIQueryMessage):
    inventory: ClassVar[str] = "Quota"


class GetAccountQuotaUsage(_Account, APIMessage):
    """Reply `usages`: for each quota, `name`, the account's limit `total` and its usage `used`
    (with the limits and usage of each of its projects under `projects`)."""

    uuid: ref("Account")


class CreateLimit(_Quota, APIMessage):
    """Seed 004: a limit on an account (a Keystone domain) or on one of its projects: exactly
    one of `accountUuid` and `projectUuid`. Reply: the Quota inventory."""

    admin_only: ClassVar[bool | None] = True

    accountUuid: ref("Account") | None = None
    projectUuid: ref("Project") | None = None
    name: QuotaName
    value: QuotaValue
    description: Description | None = None


class UpdateLimit(_Quota, APIMessage):
    admin_only: ClassVar[bool | None] = True
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Quota")
    value: QuotaValue | None = None
    description: Description | None = None


class DeleteLimit(_Quota, APIDeleteMessage):
    admin_only: ClassVar[bool | None] = True

    uuid: ref("Quota", missing_ok=True)


class QueryLimit(APIQueryMessage):
    """The same rows as QueryQuota (seed 004's name for them)."""

    inventory: ClassVar[str] = "Quota"
