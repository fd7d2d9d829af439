"""A cloudbus tenant's identity in Keystone (seeds 000 and 004; blocking calls, run in worker
threads): a domain, a project in it and a user in it, all named after the tenant id, the user
a `member` of the project. Made whole or not at all; removed in the reverse order (a domain is
disabled before Keystone lets it go), its limits and quotas first (limits.forget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudbus.services.openstack import limits

MEMBER = "member"


@dataclass(frozen=True)
class Identity:
    domainId: str
    projectId: str
    userId: str


def make_identity(conn: Any, tenant_id: str, tenant_name: str, password: str) -> Identity:
    what = f"cloudbus tenant {tenant_name}"
    made: list[tuple[str, Any]] = []
    try:
        domain = conn.identity.create_domain(name=tenant_id, description=what)
        made.append(("domain", domain))
        project = conn.identity.create_project(name=tenant_id, domain_id=domain.id, description=what)
        made.append(("project", project))
        user = conn.identity.create_user(
            name=tenant_id, domain_id=domain.id, password=password, default_project_id=project.id, description=what
        )
        made.append(("user", user))
        role = conn.identity.find_role(MEMBER, ignore_missing=False)
        conn.identity.assign_project_role_to_user(project, user, role)
    except BaseException:
        _remove(conn, made)
        raise
    return Identity(domain.id, project.id, user.id)


def remove_identity(conn: Any, identity: Identity) -> None:
    try:  # what Keystone and the services keep of a deleted domain and project (limits.py)
        limits.forget(conn, identity.domainId, identity.projectId)
    finally:
        _remove(conn, [("domain", identity.domainId), ("project", identity.projectId), ("user", identity.userId)])


def _remove(conn: Any, made: list[tuple[str, Any]]) -> None:
    for kind, item in reversed(made):
        if kind == "user":
            conn.identity.delete_user(item, ignore_missing=True)
        elif kind == "project":
            conn.identity.delete_project(item, ignore_missing=True)
        else:
            domain = conn.identity.find_domain(getattr(item, "id", item), ignore_missing=True)
            if domain is not None:
                conn.identity.update_domain(domain, is_enabled=False)
                conn.identity.delete_domain(domain, ignore_missing=True)
