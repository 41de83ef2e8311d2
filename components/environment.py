"""The deployer's environment: what of it would silently change where the program goes.

Checked before anything is registered. The program's language host and the provider
plugins are started by the Pulumi CLI with the CLI's own environment, so a variable
the deployer set for other work reaches the docker provider too.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

# kreuzwerker/terraform-provider-docker v4.5.0 internal/provider/provider.go: `context`
# defaults from DOCKER_CONTEXT and, when non-empty, overrides even an explicit `host`
# (it reads ~/.docker/contexts; "default" is not found there). DOCKER_HOST and
# DOCKER_SSH_OPTS are only defaults for `host` and `ssh_opts`, which the program always
# sets, and the system ssh it runs gets `-F none` (components/access.py).
_OVERRIDING = {
    "DOCKER_CONTEXT": "the docker provider would use that context's endpoint instead of the swarm's "
    "manager; unset it for this command (env -u DOCKER_CONTEXT pulumi up)",
}


def problems(env: Mapping[str, str]) -> list[str]:
    """One line per variable that must not be set. Pure."""
    return [f"{name} = {env[name]!r}: {why}" for name, why in _OVERRIDING.items() if env.get(name)]


class DeployerEnvironmentError(pulumi.RunError):  # a RunError prints without a traceback
    pass


def check(env: Mapping[str, str]) -> None:
    found = problems(env)
    if found:
        lines = "\n".join(f"  - {p}" for p in found)
        raise DeployerEnvironmentError(f"the deployer's environment would redirect the program:\n{lines}")
