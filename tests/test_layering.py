"""The import rules of DESIGN.md, checked on the source: core <- inventory <- cascade <- services,
API contracts on core and inventory only, and no service importing another service."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "cloudbus"

# layer -> the cloudbus layers it may import
ALLOWED = {
    "core": {"core"},
    "inventory": {"core", "inventory"},
    "cascade": {"core", "inventory", "cascade"},
    "apis": {"core", "inventory", "apis", "node"},  # front doors start a node; never a service
}
# shared by every service: the framework (with its journals and API records), helpers and drivers
SHARED_SERVICE_MODULES = {"base", "common", "journal", "ownership", "records", "simulation", "hypervisors", "storage"}
# private helper modules -> the service they belong to
HELPERS = {
    "network": "l3_network",
    "storage": "primary_storage",
    "host_allocator": "host",
    "security_group_rules": "security_group",
    "volume_attach": "volume",
    "volume_base": "volume",
    "volume_snapshot": "volume",
    "volume_template": "volume",
    "image_template": "image",
}


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cloudbus."):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("cloudbus.")]
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_layers_import_only_downwards() -> None:
    wrong = []
    for layer, allowed in ALLOWED.items():
        for path in _modules(layer):
            for module in _imports(path):
                if module.split(".")[1] not in allowed:
                    wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert wrong == []


def _service_of(name: str) -> str:
    return HELPERS.get(name, name)


def test_no_service_imports_another_service() -> None:
    wrong = []
    for path in _modules("services"):
        own = _service_of(path.relative_to(PACKAGE / "services").parts[0].removesuffix(".py"))
        for module in _imports(path):
            parts = module.split(".")
            if parts[1] != "services" or len(parts) < 3:
                continue
            target = parts[2]
            if target not in SHARED_SERVICE_MODULES and _service_of(target) != own:
                wrong.append(f"services/{path.relative_to(PACKAGE / 'services')} imports {module}")
    assert wrong == []
