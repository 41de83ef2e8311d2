"""Service: the application on the swarm, deployed with pulumi-docker over SSH,
then checked end to end by a smoke test on the manager."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
from pulumi_command import remote

from components.commands import render
from components.nodes import Node
from components.swarm import COMMAND_TIMEOUT


@dataclass(frozen=True)
class ServiceArgs:
    manager: Node
    nodes: list[Node]
    user: str
    private_key: pulumi.Input[str] | None  # None: the deployer's SSH agent
    ssh_opts: pulumi.Input[list[str]]  # the deployer's ssh options for the manager (components/access.py)
    after: list[pulumi.Resource]  # every join and label: the service needs the whole cluster
    service_name: str
    image: str
    replicas: int
    published_port: int
    target_port: int
    smoke_mode: str
    probe_image: str
    encrypted_overlay: bool = False


class Service(pulumi.ComponentResource):
    """docker provider (ssh://manager), overlay network, service, smoke test."""

    urls: pulumi.Output[list[str]]
    smoke_result: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("swarm:docker:Service", name, None, opts)
        mgr = args.manager

        provider = docker.Provider(
            f"{name}-docker",
            host=pulumi.Output.concat("ssh://", args.user, "@", mgr.public_ip),
            ssh_opts=args.ssh_opts,
            # `pulumi preview` (e.g. on a pull request) must not need SSH to the cluster: with
            # this, the provider connects on a resource's first real use, not when configured.
            disable_docker_daemon_check=True,
            # Configured only once the swarm exists and the key file is written.
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.after),
        )
        on_swarm = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=args.after)

        network = docker.Network(
            f"{name}-net",
            name=f"{args.service_name}-net",
            driver="overlay",
            attachable=True,  # lets the smoke test's probe container join it
            # IPsec between nodes for the service's traffic. The provider passes driver
            # options through for any driver (its docstring says "bridge"); Docker only
            # checks that the key is present.
            options={"encrypted": "true"} if args.encrypted_overlay else None,
            opts=pulumi.ResourceOptions.merge(
                on_swarm,
                # The engine adds its own options (the VXLAN id) on read: not a change of ours.
                pulumi.ResourceOptions(ignore_changes=["options"] if args.encrypted_overlay else None),
            ),
        )
        service = docker.Service(
            f"{name}-service",
            name=args.service_name,
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(image=args.image),
                networks_advanceds=[docker.ServiceTaskSpecNetworksAdvancedArgs(id=network.id)],
                # One replica per zone before two in any zone.
                placement=docker.ServiceTaskSpecPlacementArgs(prefs=["spread=node.labels.az"]),
                restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(condition="any", delay="5s", window="60s"),
            ),
            mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=args.replicas)),
            endpoint_spec=docker.ServiceEndpointSpecArgs(
                ports=[
                    docker.ServiceEndpointSpecPortArgs(
                        target_port=args.target_port,
                        published_port=args.published_port,
                        publish_mode="ingress",  # the routing mesh: every node answers
                        protocol="tcp",
                    )
                ]
            ),
            # Start the new task before stopping the old one; roll back on failure.
            update_config=docker.ServiceUpdateConfigArgs(
                parallelism=1, delay="10s", order="start-first", failure_action="rollback", monitor="30s"
            ),
            rollback_config=docker.ServiceRollbackConfigArgs(
                parallelism=1, delay="5s", order="stop-first", failure_action="pause", monitor="30s"
            ),
            # `pulumi up` returns only once the replicas run (or fails after the timeout).
            converge_config=docker.ServiceConvergeConfigArgs(delay="5s", timeout="5m"),
            opts=on_swarm,
        )

        addrs = pulumi.Output.all(*[n.private_ip for n in args.nodes]).apply(" ".join)
        smoke = remote.Command(
            f"{name}-smoke",
            connection=remote.ConnectionArgs(
                host=mgr.public_ip, user=args.user, private_key=args.private_key, host_key=mgr.host_key
            ),
            add_previous_output_in_env=False,
            create=addrs.apply(
                lambda a: render(
                    "swarm-smoke.sh",
                    {
                        "SERVICE": args.service_name,
                        "REPLICAS": args.replicas,
                        "PUBLISHED_PORT": args.published_port,
                        "TARGET_PORT": args.target_port,
                        "NODE_ADDRS": a,
                        "MODE": args.smoke_mode,
                        "NETWORK": f"{args.service_name}-net",
                        "PROBE_IMAGE": args.probe_image,
                        "TIMEOUT": 300,
                    },
                )
            ),
            # Check again whenever the service or the node set changes.
            triggers=[service.id, args.image, args.replicas, addrs],
            # Bounded like every remote command (components/swarm.py, COMMAND_TIMEOUT).
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[service],
                custom_timeouts=pulumi.CustomTimeouts(create=COMMAND_TIMEOUT, update=COMMAND_TIMEOUT),
            ),
        )
        self.smoke_result = smoke.stdout
        self.urls = pulumi.Output.all(*[n.public_ip for n in args.nodes]).apply(
            lambda ips: [f"http://{ip}:{args.published_port}" for ip in ips]
        )
        self.register_outputs({"serviceUrls": self.urls, "smoke": smoke.stdout})
