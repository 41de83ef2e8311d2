"""The VM lab: the program's instances as QEMU VMs (see lab/vm/vmlab.py)."""
