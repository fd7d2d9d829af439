"""The VM state machine and the operations each state allows (reference 1.4), as data.

`TRANSITIONS[state]` lists the states a VM may go to next; `ALLOWED[operation]` the
states in which an API operation may run. A forbidden operation is SYS.1006 with cause
VM.1010, ZStack's wording.
"""

from __future__ import annotations

from cloudbus.core import errors

VM_CREATE = errors.register("VM.1000", "Unable to create vm")
VM_START = errors.register("VM.1001", "Unable to start vm")
VM_STOP = errors.register("VM.1002", "Unable to stop vm")
VM_REBOOT = errors.register("VM.1003", "Unable to reboot vm")
VM_DESTROY = errors.register("VM.1004", "Unable to destroy vm")
VM_ATTACH_VOLUME = errors.register("VM.1005", "Unable to attach volume to vm")
VM_DETACH_VOLUME = errors.register("VM.1006", "Unable to detach volume from vm")
VM_ATTACH_NETWORK = errors.register("VM.1007", "Unable to attach network to vm")
VM_MIGRATE = errors.register("VM.1008", "Unable to migrate vm")
VM_MAC = errors.register("VM.1009", "Unable to allocate a MAC address")
VM_STATE = errors.register("VM.1010", "The vm is not in a state allowing the operation")
VM_SUSPEND = errors.register("VM.1012", "Unable to suspend vm")
VM_RESUME = errors.register("VM.1013", "Unable to resume vm")

INTERMEDIATE = frozenset({"Starting", "Stopping", "Rebooting", "Migrating", "Pausing", "Resuming", "VolumeMigrating"})


def _states(names: str) -> frozenset[str]:
    return frozenset(names.split())


# state -> states it may go to next (reference 1.4; Destroyed -> Expunging is ExpungeVmInstance)
TRANSITIONS: dict[str, frozenset[str]] = {
    "Created": _states("Starting Destroying Destroyed"),
    "Starting": _states("Running Stopped Paused Destroying Unknown"),
    "Running": _states("Running Destroying Stopping Stopped Rebooting Migrating VolumeRecovering")
    | _states("Pausing Paused Crashed NoState Unknown"),
    "Stopping": _states("Stopped Destroying Running Unknown"),
    "Stopped": _states("Starting Stopped Running Paused Destroying VolumeMigrating VolumeRecovering NoState Unknown"),
    "Rebooting": _states("Running Stopped NoState Unknown Destroying"),
    "Migrating": _states("Running Paused Stopped NoState Unknown Destroying"),
    "Paused": _states("Resuming Stopped Running Stopping Destroying NoState Unknown Migrating"),
    "Pausing": _states("Paused Running Destroying NoState Unknown"),
    "Resuming": _states("Paused Running Destroying NoState Unknown"),
    "Unknown": _states("Destroying Stopping Unknown Paused Running Migrating NoState Stopped"),
    "Destroying": _states("Unknown Destroyed Destroying Running Expunging"),
    "Destroyed": _states("Stopped Expunging"),
    "Crashed": _states("Running Unknown Stopping Stopped Rebooting Crashed Destroyed NoState Destroying"),
    "NoState": _states("Running Unknown Stopping Stopped Rebooting Crashed Destroyed NoState Destroying"),
    "Expunging": frozenset(),
    "Error": _states("Destroying Destroyed"),
}

# operation (API name) -> states in which it may run
ALLOWED: dict[str, frozenset[str]] = {
    "StartVmInstance": _states("Created Stopped Running Crashed"),
    "StopVmInstance": _states("Running Stopped Paused Unknown Crashed NoState"),
    "RebootVmInstance": _states("Running Crashed NoState"),
    "PauseVmInstance": _states("Running"),
    "ResumeVmInstance": _states("Paused"),
    # Destroying: a destroy cut short by its node's death is run again to the end
    "DestroyVmInstance": _states("Created Running Stopped Paused Unknown Crashed Error Destroying") | INTERMEDIATE,
    "RecoverVmInstance": _states("Destroyed"),
    "ExpungeVmInstance": _states("Destroyed"),
    "MigrateVm": _states("Running Paused Unknown"),
    "GetVmMigrationCandidateHosts": _states("Running Paused"),
    "ChangeInstanceOffering": _states("Created Running Stopped Paused"),
    "AttachL3NetworkToVm": _states("Created Running Stopped Paused"),
    "DetachL3NetworkFromVm": _states("Created Running Stopped Paused Destroyed"),
    "AttachDataVolumeToVm": _states("Running Stopped Paused"),
    "DetachDataVolumeFromVm": _states("Running Stopped Paused"),
}

# cascade effects: which VMs a parent's deletion/detach may stop
STOPPABLE = ALLOWED["StopVmInstance"] - {"Stopped"}


def check_allowed(vm: dict[str, str], operation: str) -> None:
    """Raise SYS.1006 (cause VM.1010) unless `operation` may run in the VM's current state."""
    allowed = ALLOWED[operation]
    state = vm["state"]
    if state in allowed:
        return
    details = (
        f"current vm instance state[{state}] doesn't allow to proceed message[{operation}], "
        f"allowed states are {sorted(allowed)}"
    )
    raise errors.operation_error(details, errors.err(VM_STATE, details))


def check_transition(old: str, new: str) -> None:
    """An internal error if code asks for an edge the state machine does not have."""
    if new != old and new not in TRANSITIONS.get(old, frozenset()):
        raise errors.fail(errors.INTERNAL, f"vm state cannot go from [{old}] to [{new}]")
