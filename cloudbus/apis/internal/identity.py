"""Messages the identity service handles for others: seed 000's APIAuth."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import Message


class _Tenant(Concerns):
    resource: ClassVar[str] = "Tenant"


class AuthenticateApiKey(_Tenant, Message):
    """Seed 000's APIAuth: is `apikey` the current key of `tenantId`, and, when resources are
    named and a platform authoriser is configured (`CLOUDBUS_PLATFORM_AUTH_URL`), does the
    platform say `platformUserId` may act on them?

    Reply: `accountUuid`, `projectUuid`, `userUuid` of the tenant. A wrong or replaced key fails
    with ID.1000; a platform that says no, answers wrongly or not in time
    (`CLOUDBUS_PLATFORM_AUTH_TIMEOUT`, 5 s) fails with ID.1002: a timeout denies.
    """

    apikey: str
    tenantId: str
    platformUserId: str
    resourceUuids: list[str] = Field(default_factory=list)


class AuthenticateSession(_Tenant, Message):
    """The account a live session acts for. Reply: `accountUuid`, `projectUuid` (its default
    project), `userUuid`, `admin`; an unknown or expired session fails with ID.1001."""

    sessionUuid: str
