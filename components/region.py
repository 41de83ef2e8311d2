"""What the region offers the stack, looked up before any resource is registered.

Two read-only AWS calls (invokes): the instance type, and the availability zones. A
typo in instanceType, or a region that answers no zone, is then reported like any
other configuration problem (ConfigError, `key = value: rule`), before the network
and the firewall exist, instead of failing halfway through a deployment.

Zones: the region's own availability zones only (opt-in-status opt-in-not-required,
state available), in name order, the first azCount of them, as before the filter.
Local Zones and Wavelength Zones (opted-in) are never chosen: few instance types run
there, and a subnet there is not what azCount means.

What the filter changes for a stack made before it: nothing, unless the account had
opted into a Local Zone of the stack's region. The program cannot see the stack's
state, so it cannot keep such a zone: a Local Zone's name ("us-west-2-lax-1a") sorts
before the region's own ("us-west-2a"), so it was chosen first, and the next preview
shows the subnets and nodes moving to standard zones. Review that preview before `up`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws

from components.load_balancer import certificate_region_problems
from components.settings import ConfigError

STANDARD_ZONES = aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])


@dataclass(frozen=True)
class Region:
    name: str
    zones: list[str]  # the region's standard zones, sorted
    architectures: tuple[str, ...]  # the instance type's, as EC2 names them (x86_64, arm64)


def look_up(instance_type: str, ami: str = "", certificate_arn: str = "") -> Region:
    """The region's zones and the instance type's architectures; with a pinned AMI, that
    it exists here and runs on the type; with a certificate, that it is of this region.
    ConfigError if any fails."""
    name = aws.config.region or "(the AWS default region)"
    problems: list[str] = certificate_region_problems(certificate_arn, aws.config.region or "")
    architectures: tuple[str, ...] = ()
    try:
        found = aws.ec2.get_instance_type(instance_type=instance_type)
        architectures = tuple(found.supported_architectures)
    except Exception as exc:  # the invoke's failure: the provider's message is the reason
        problems.append(
            f"instanceType = {instance_type!r}: is not an instance type EC2 offers in {name} "
            f"(check the spelling, e.g. t3.micro): {_reason(exc)}"
        )
    if ami and architectures:
        try:
            image = aws.ec2.get_ami(filters=[aws.ec2.GetAmiFilterArgs(name="image-id", values=[ami])], most_recent=True)
        except Exception as exc:
            problems.append(f"ami = {ami!r}: is not an image this account can launch in {name}: {_reason(exc)}")
        else:
            if image.architecture not in architectures:
                problems.append(
                    f"ami = {ami!r}: is built for {image.architecture}; instanceType {instance_type!r} runs "
                    f"{', '.join(architectures)}"
                )
    zones: list[str] = []
    try:
        zones = sorted(aws.get_availability_zones(state="available", filters=[STANDARD_ZONES]).names)
    except Exception as exc:
        problems.append(f"aws:region = {name!r}: its availability zones could not be listed: {_reason(exc)}")
    else:
        if not zones:
            problems.append(
                f"aws:region = {name!r}: answers no available zone of its own (opt-in-status "
                "opt-in-not-required); choose another with `pulumi config set aws:region <region>`"
            )
    if problems:
        raise ConfigError(problems)
    return Region(name, zones, architectures)


def _reason(exc: Exception) -> str:
    return str(exc).removeprefix("invoke of ").split(" failed: ", 1)[-1]
