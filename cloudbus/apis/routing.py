"""Where a message goes: to the service that owns the resource type it concerns.

The owner of a resource type is declared once, on its inventory
(`Inventory(name="VmInstance", service_id="vmInstance", ...)`). A message family names the
resource type it concerns, and its `service_id` is read from that declaration:

    class _Vm(Concerns):
        resource: ClassVar[str] = "VmInstance"

    class StartVmInstance(_Vm, APIMessage): ...   # StartVmInstance.service_id == "vmInstance"

`service_id` stays a plain class attribute (the bus reads `msg.service_id`). Messages
about no resource type (the portal's, `APIQueryMessage`) declare their `service_id` as
before; a class may not declare both.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cloudbus import inventory


class Concerns:
    """Mixin of a message family: `resource` is the inventory whose owner handles it."""

    resource: ClassVar[str] = ""
    service_id: ClassVar[str]  # set from `resource` on every subclass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.resource:
            return
        if "service_id" in vars(cls):
            raise TypeError(f"{cls.__name__} declares service_id; its resource[{cls.resource}] already names it")
        cls.service_id = inventory.get(cls.resource).service_id
