"""The swarm: bootstrap, membership and removal of nodes, over SSH (component.py)."""

from components.swarm.component import Swarm, SwarmArgs
from components.swarm.on_node import COMMAND_TIMEOUT, NodeShell

__all__ = ["COMMAND_TIMEOUT", "NodeShell", "Swarm", "SwarmArgs"]
