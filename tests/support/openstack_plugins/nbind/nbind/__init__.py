"""``noagent``: an ML2 mechanism driver that binds every port without any L2 agent.

Why it exists: the test OpenStack (tests/support/openstack.py) runs Neutron's API only. Every shipped
mechanism driver needs an agent (openvswitch, linuxbridge), OVN databases (ovn) or magic host names
(the ``test`` drivers in neutron.tests), so ports bound to the fake nova-compute would stay unbound
and Nova would fail the boot. This driver binds the first segment of any port as an OVS port, ACTIVE.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class NoAgentMechanismDriver(api.MechanismDriver):
    """Bind every port with ``vif_type=ovs`` on its first segment; nothing is plugged anywhere."""

    def initialize(self) -> None:
        pass

    @property
    def connectivity(self) -> str:
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context: Any) -> None:
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
