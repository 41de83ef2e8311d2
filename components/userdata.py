"""Cloud-init user data for the nodes, rendered from scripts/cloud-init.yaml."""

from __future__ import annotations

import re
from string import Template

from components.commands import script_text

_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def render_user_data(hostname: str, login_user: str) -> str:
    """The #cloud-config for one node. Pure; raises ValueError on unsafe values."""
    if not _HOSTNAME.match(hostname):
        raise ValueError(f"bad hostname {hostname!r}")
    if not _USER.match(login_user):
        raise ValueError(f"bad login user {login_user!r}")
    return Template(script_text("cloud-init.yaml")).substitute(hostname=hostname, login_user=login_user)
