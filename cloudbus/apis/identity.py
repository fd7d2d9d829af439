"""Identity APIs (reference 2.10): accounts, projects, users, login sessions.

Passwords travel as the SHA-512 hex digest of what the user typed, as zstack-cli sends them
(the CLI hashes `password=` and `oldPassword=` of these APIs before sending).
"""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    ref,
)

# what the client sends: never stored, never logged, never echoed (services/identity.py)
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

    accountName: Name
    password: Password


class LogInByUser(_Session, APIMessage):
    wire_hashed: ClassVar[tuple[str, ...]] = ("password",)

    accountName: Name | None = None
    accountUuid: str | None = None
    userName: Name
    password: Password


class LogOut(_Session, APIMessage):
    sessionUuid: str | None = None


class ValidateSession(_Session, APIMessage):
    sessionUuid: str


class RenewSession(_Session, APIMessage):
    sessionUuid: str
    duration: SessionSeconds = 7200


class _Tenant(Concerns):
    resource: ClassVar[str] = "Tenant"


class CreateTenant(_Tenant, APIMessage):
    """Seed 000's tenant registration. Reply: `tenantId` (`t-` + a 10-digit serial) and `apikey`,
    shown this once."""

    tenantName: Annotated[Name, StringConstraints(max_length=100)]


class RegenerateApiKey(_Tenant, APIMessage):
    """A new API key for the tenant (the old one stops working). Reply: `tenantId`, `apikey`."""

    tenantId: Annotated[str, StringConstraints(pattern=r"^t-\d{10}$")]


class QueryTenant(APIQueryMessage):
    inventory: ClassVar[str] = "Tenant"
