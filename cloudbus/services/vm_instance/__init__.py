"""The VM instance service package (see `service.py`)."""

from cloudbus.services.vm_instance.service import VmInstanceService

__all__ = ["VmInstanceService"]
