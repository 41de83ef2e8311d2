"""The VM backend (QEMU, lab/vm/backend.py), beside the namespace one."""

from lab.vm.backend import VM_STATE, VmBackend

__all__ = ["VM_STATE", "VmBackend"]
