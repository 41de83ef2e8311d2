"""Service: the application on the swarm, deployed with pulumi-docker over SSH,
then checked end to end by a smoke test on the manager."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
from pulumi_command import local, remote

from components import image_ref
from components.commands import render
from components.nodes import Node
from components.swarm.on_node import COMMAND_TIMEOUT, NodeShell

SPREAD_BY_ZONE = "node.labels.az"  # the label scripts/swarm-label.sh puts on every node
ENCRYPTED_LABEL = "swarm.overlay.encrypted"


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
    # Deleted only with the whole stack (the VPC): `pulumi destroy` then skips the
    # network's and service's deletes, which would need the cluster to answer.
    deleted_with: pulumi.Resource | None = None
    # serviceEndpoint (loadBalancer): asked from the deployer's machine too, as a client.
    endpoint: pulumi.Output[str] | None = None
    endpoint_after: list[pulumi.Resource] = field(default_factory=list)  # the nodes' target attachments
    # The per-node URLs clients can use (serviceUrls); None: every node's public address.
    urls: pulumi.Output[list[str]] | None = None


# The load balancer's check: answers in a row, and how long to wait for them (a new NLB's
# DNS name and first health checks take minutes).
ENDPOINT_ANSWERS, ENDPOINT_TIMEOUT_S = 3, 480


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

        # Commands on the manager: the same helper as the swarm's steps (none has a delete).
        sh = NodeShell(args.user, args.private_key, lambda *_: pulumi.Output.from_input(args.ssh_opts), self)
        on_manager = sh.connection(mgr)
        # The image as the provider's create will pin it (components/image_ref.py), asked of
        # the manager's daemon once per configured image: a tag that moves later changes
        # nothing until the image setting changes (or this step is replaced).
        resolved = sh.command(
            f"{name}-image",
            on_manager,
            render("swarm-image-digest.sh", {"IMAGE": args.image}),
            args.after,
            triggers=[args.image],
            logging=remote.Logging.STDERR,
        )
        pinned = resolved.stdout.apply(lambda out: image_ref.pin(args.image, out))

        # Network and Service replace delete-first: their names are ForceNew and a new one
        # cannot exist beside the old (swarmkit: "name conflicts with an existing object";
        # the published port is held by the old service). pulumi-docker sets
        # DeleteBeforeReplace for containers only (provider/resources.go).
        replace_first = pulumi.ResourceOptions(delete_before_replace=True, deleted_with=args.deleted_with)
        network = docker.Network(
            f"{name}-net",
            name=f"{args.service_name}-net",
            driver="overlay",
            attachable=True,  # lets the smoke test's probe container join it
            # IPsec between nodes for the service's traffic. The provider passes driver
            # options through for any driver (its docstring says "bridge"); Docker only
            # checks that the key is present.
            options={"encrypted": "true"} if args.encrypted_overlay else None,
            # Network options are ForceNew and the daemon reads them back with its VXLAN id
            # added (moby ovmanager.go NetworkAllocate): set options would replace the network
            # on every diff, so they are ignored once set. An ignored option cannot turn the
            # encryption on or off, so a label (ForceNew, read back as given) says which it
            # is: toggling encryptedOverlay replaces the network (and with it the service),
            # and a replacement takes the program's new options (pulumi/pulumi v3.259
            # step_generator.go: Check re-runs with the new inputs on replace).
            labels=[docker.NetworkLabelArgs(label=ENCRYPTED_LABEL, value="true")] if args.encrypted_overlay else None,
            opts=pulumi.ResourceOptions.merge(
                on_swarm,
                pulumi.ResourceOptions.merge(
                    replace_first,
                    pulumi.ResourceOptions(ignore_changes=["options"] if args.encrypted_overlay else None),
                ),
            ),
        )
        service = docker.Service(
            f"{name}-service",
            name=args.service_name,
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(image=pinned.image),
                networks_advanceds=[docker.ServiceTaskSpecNetworksAdvancedArgs(id=network.id)],
                placement=docker.ServiceTaskSpecPlacementArgs(
                    # One replica per zone before two in any zone. The provider passes the
                    # string verbatim as the spread descriptor, and swarmkit honours only
                    # `node.labels.*` / `engine.labels.*` (manager/scheduler/nodeset.go):
                    # "spread=node.labels.az" would be skipped silently.
                    prefs=[SPREAD_BY_ZONE],
                    platforms=pinned.platforms.apply(
                        lambda ps: [docker.ServiceTaskSpecPlacementPlatformArgs(architecture=a, os=o) for a, o in ps]
                    ),
                ),
                # Durations in the provider's read-back form (shortDur in kreuzwerker
                # resource_docker_service_structures.go: "60s" reads back as "1m").
                restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(condition="any", delay="5s", window="1m"),
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
            # The provider's create waits `delay`, then looks, then 5 s later, then every
            # 10 s (kreuzwerker v4.5.0 over terraform-plugin-sdk v2.40.1 StateChangeConf,
            # MinTimeout 5s: docs/upstream/docker.md section 7): a short first wait lets a
            # service whose image is already local count as converged at the first look.
            converge_config=docker.ServiceConvergeConfigArgs(delay="2s", timeout="5m"),
            opts=pulumi.ResourceOptions.merge(on_swarm, replace_first),
        )

        addrs = pulumi.Output.all(*[n.private_ip for n in args.nodes]).apply(" ".join)
        smoke = sh.command(
            f"{name}-smoke",
            on_manager,
            addrs.apply(
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
            [service],
            # Check again whenever the service or the node set changes.
            triggers=[service.id, args.image, args.replicas, addrs],
        )
        self.smoke_result = smoke.stdout
        if args.endpoint is not None:
            asked = local.Command(
                f"{name}-endpoint-smoke",
                create=args.endpoint.apply(
                    lambda url: render(
                        "local-endpoint-smoke.sh",
                        {"ENDPOINT": url, "TIMEOUT": ENDPOINT_TIMEOUT_S, "ANSWERS": ENDPOINT_ANSWERS},
                    )
                ),
                interpreter=["/bin/bash", "-c"],
                triggers=[service.id, args.image, args.replicas, addrs, args.endpoint],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    # Beside the manager's smoke test, not after it: the service is up.
                    depends_on=[service, *args.endpoint_after],
                    custom_timeouts=pulumi.CustomTimeouts(create=COMMAND_TIMEOUT, update=COMMAND_TIMEOUT),
                ),
            )
            self.smoke_result = pulumi.Output.concat(smoke.stdout, "\n", asked.stdout)
        self.urls = (
            args.urls
            if args.urls is not None
            else pulumi.Output.all(*[n.public_ip for n in args.nodes]).apply(
                lambda ips: [f"http://{ip}:{args.published_port}" for ip in ips]
            )
        )
        self.register_outputs({"serviceUrls": self.urls, "smoke": smoke.stdout})
