"""Error codes: the values every failure is reported as.

An error is a value (`ErrorCode`) with ZStack's shape: a stable `code`, the fixed
`description` registered for that code, instance `details`, and an optional nested
`cause`. Code raises `CloudBusError(error)`; the service framework turns it into a
failed reply. Anything else that escapes a handler becomes `SYS.1000` with a short
message: no Python traceback ever reaches a user.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# code -> fixed description (ZStack conf/errorCodes, reference section 7.2).
DESCRIPTIONS: dict[str, str] = {
    "SYS.1000": "An internal error happened in system",
    "SYS.1001": "A message or a operation timeout",
    "SYS.1002": "Unable to create a resource",
    "SYS.1003": "A resource can not be found",
    "SYS.1004": "Unable to delete a resource",
    "SYS.1005": "Unable to change a resource's state",
    "SYS.1006": "An operation failed",
    "SYS.1007": "One or more API argument is invalid",
    "SYS.1008": "No service found to handle the message",
    "SYS.1009": "No route found for the message",
    "SYS.1010": "Management server is not ready yet",
    "SYS.1011": "Message cannot be delivered",
    "SYS.1012": "Management node is unavailable",
    "HOST.1000": "Unable to add host",
    "HOST.1002": "Unable to reconnect host",
    "HOST.1003": "Unable to connect host",
    "HOST.1010": "Host is disconnected",
}

INTERNAL = "SYS.1000"
TIMEOUT = "SYS.1001"
CREATE = "SYS.1002"
NOT_FOUND = "SYS.1003"
DELETE = "SYS.1004"
CHANGE_STATE = "SYS.1005"
OPERATION = "SYS.1006"
INVALID_ARGUMENT = "SYS.1007"
UNKNOWN_MESSAGE = "SYS.1008"
UNDELIVERABLE = "SYS.1011"  # the connection to the broker was lost before the reply arrived
NODE_UNAVAILABLE = "SYS.1012"  # the management node running the message left the cluster


class ErrorCode(BaseModel):
    """A failure as users see it: `{"code", "description", "details", "cause"}`."""

    model_config = ConfigDict(extra="ignore")

    code: str
    description: str = ""
    details: str | None = None
    cause: ErrorCode | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def root_cause(self) -> ErrorCode:
        error = self
        while error.cause is not None:
            error = error.cause
        return error

    def has_code(self, code: str) -> bool:
        """True if this error or any error in its cause chain carries `code`."""
        error: ErrorCode | None = self
        while error is not None:
            if error.code == code:
                return True
            error = error.cause
        return False


def err(code: str, details: str | None = None, cause: ErrorCode | None = None) -> ErrorCode:
    """Build an error value with the description registered for `code`."""
    return ErrorCode(code=code, description=DESCRIPTIONS.get(code, code), details=details, cause=cause)


class CloudBusError(Exception):
    """Raised to fail the current operation with a prepared `ErrorCode`."""

    def __init__(self, error: ErrorCode) -> None:
        super().__init__(f"{error.code}: {error.details or error.description}")
        self.error = error


def fail(code: str, details: str | None = None, cause: ErrorCode | None = None) -> CloudBusError:
    """`raise fail(...)`: shorthand for raising a CloudBusError."""
    return CloudBusError(err(code, details, cause))


def invalid_argument(details: str) -> CloudBusError:
    return fail(INVALID_ARGUMENT, details)


def not_found(details: str) -> CloudBusError:
    return fail(NOT_FOUND, details)


def operation_error(details: str, cause: ErrorCode | None = None) -> CloudBusError:
    return fail(OPERATION, details, cause)


def register(code: str, description: str) -> str:
    """Register a service's own error code (e.g. `HOST_ALLOCATION.1000`); returns it."""
    DESCRIPTIONS.setdefault(code, description)
    return code
