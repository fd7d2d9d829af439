"""Management node APIs (reference 2.10): the nodes of the cloud, as their heartbeats show them."""

from typing import ClassVar

from cloudbus.core.messages import APIQueryMessage


class QueryManagementNode(APIQueryMessage):
    inventory: ClassVar[str] = "ManagementNode"
