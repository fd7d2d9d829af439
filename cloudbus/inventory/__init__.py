"""The cloud's state: tables, inventory declarations and the query engine.

Importing this package registers every inventory declaration: each resource module of
this package (all but the machinery modules below) declares its tables and inventories.
"""

import importlib
import pkgutil

from cloudbus.inventory.declarations import INVENTORIES, Inventory, declare_indexes, get, validate

_MACHINERY = {"declarations", "schema", "query", "migrate", "migrations"}

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _MACHINERY:
        importlib.import_module(f"{__name__}.{_module}")

validate()
declare_indexes()

__all__ = ["INVENTORIES", "Inventory", "get", "validate"]
