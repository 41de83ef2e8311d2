"""Entry point of the swarm-guardrails policy pack: `pulumi preview --policy-pack policy`.

Pulumi runs this file as `python policy/` (the pack's own directory first on sys.path),
so the rules are imported as `rules`. Constructing PolicyPack starts the analyzer's gRPC
server and blocks: tests import policy.rules instead and never this file.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="swarm-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
