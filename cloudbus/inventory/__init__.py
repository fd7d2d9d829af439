"""The cloud's state: tables, inventory declarations and the query engine.

Importing this package registers every inventory declaration.
"""

from cloudbus.inventory import cluster, host, zone  # noqa: F401  (registration)
from cloudbus.inventory.declarations import INVENTORIES, Inventory, get, validate

validate()

__all__ = ["INVENTORIES", "Inventory", "get", "validate"]
