"""Nova fake virt driver for the test OpenStack: stable node identity and a snapshot that uploads.

Why it exists:
* ``nova.virt.fake.FakeDriver`` draws its node UUID at random per process, so nova-compute refuses
  its second start ("No local node identity found..."). ``FakeDriverWithoutFakeNodes`` persists
  ``$state_path/compute_id`` and survives restarts, so we build on it.
* The fake ``snapshot()`` never uploads, leaving snapshot images ``queued`` forever; ours uploads
  64 KiB of zeros so server snapshots become ``active``.

Nova always prefixes ``compute_driver`` with ``nova.virt.``, so tests/support/openstack.py copies
this file into the installed ``nova/virt/`` package (``compute_driver = novafake.FakeDriver``).
"""

from __future__ import annotations

import io
from typing import Any

from nova import exception
from nova.compute import task_states
from nova.image import glance
from nova.virt import fake


class FakeDriver(fake.FakeDriverWithoutFakeNodes):
    """Fake driver whose snapshots become real (tiny, raw) Glance images."""

    def snapshot(self, context: Any, instance: Any, image_id: str, update_task_state: Any) -> None:
        if instance.uuid not in self.instances:
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        update_task_state(task_state=task_states.IMAGE_UPLOADING, expected_state=task_states.IMAGE_PENDING_UPLOAD)
        meta = {"disk_format": "raw", "container_format": "bare"}
        glance.API().update(context, image_id, meta, io.BytesIO(b"\0" * 65536))
