"""The identity service package (see `service.py`)."""

from cloudbus.services.identity.service import IdentityService

__all__ = ["IdentityService"]
