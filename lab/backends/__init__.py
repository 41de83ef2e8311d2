"""Where the lab's instances come from: one Backend protocol, two implementations side
by side (namespace: hosts started by lab/hosts.sh; vm: QEMU VMs, lab/vm/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Host:
    k: int
    name: str
    ip: str
    dir: Path


class Backend(Protocol):
    """Hosts for instances. A host that no instance holds is a spare; an instance
    replaced or deleted frees its host, which is reset before it serves again."""

    state_dir: Path

    def allocate(self, taken: set[int]) -> int:
        """A host number for a new instance (not one of TAKEN)."""
        ...

    def launch(self, instance: str, k: int, user_data: str, public_key: str, *, public: bool) -> Host:
        """Start INSTANCE as host K from its user data and key pair (as EC2 does).
        PUBLIC: it has a public address; without one, this machine (the deployer) must
        not reach it (only other hosts do: a jump host). Returns at once; the
        program's readiness gate waits for it."""
        ...

    def terminate(self, instance: str, k: int) -> None:
        """The instance was deleted: its host stops serving it (and is reset: a
        private host is reachable again)."""
        ...

    def host(self, k: int) -> Host:
        """The host of an instance launched in an earlier run."""
        ...
