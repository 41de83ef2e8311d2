"""A Docker Swarm on AWS, with a service on it: config -> components -> outputs."""

import os

import pulumi
import pulumi_tls as tls

from components import environment, region
from components import settings as config
from components.access import Access, AccessArgs
from components.firewall import LB, TLS_LISTENER_PORT, Firewall, FirewallArgs, groups_of
from components.load_balancer import LoadBalancer, LoadBalancerArgs
from components.network import Network, NetworkArgs
from components.nodes import Nodes, NodesArgs
from components.private_network import PrivateNetwork, PrivateNetworkArgs
from components.service import Service, ServiceArgs
from components.swarm import Swarm, SwarmArgs

# Validate everything before anything is created: the configuration first (no AWS
# call), then what the region offers (instance type, zones); then cap azCount by it.
environment.check(os.environ)
cfg = config.load()
where = region.look_up(cfg.instance_type, cfg.ami, cfg.certificate_arn)
if len(where.zones) < cfg.az_count:
    cfg = config.load(available_azs=len(where.zones))
zones = where.zones[: cfg.az_count]

cluster = f"{pulumi.get_project()}-{pulumi.get_stack()}"
tags = {"swarm-cluster": cluster, "managed-by": "pulumi"}

if cfg.ssh_public_key:
    public_key: pulumi.Input[str] = cfg.ssh_public_key
    private_key = cfg.ssh_private_key  # None: the deployer's SSH agent
else:
    generated = tls.PrivateKey("ssh-key", algorithm="ED25519")
    public_key = generated.public_key_openssh
    private_key = pulumi.Output.secret(generated.private_key_openssh)
    pulumi.export("privateKey", private_key)

net = Network("net", NetworkArgs(cidr=cfg.vpc_cidr, zones=zones, tags=tags))
private = None
if cfg.private_workers:
    private = PrivateNetwork(
        "private",
        PrivateNetworkArgs(
            vpc_id=net.vpc_id,
            cidr=cfg.vpc_cidr,
            zones=zones,
            public_subnet_ids=net.subnet_ids,
            nat_per_zone=cfg.nat_gateway_per_zone,
            tags=tags,
            after=[net.igw],
        ),
    )
fw = Firewall(
    "fw",
    FirewallArgs(
        vpc_id=net.vpc_id,
        ssh_cidrs=cfg.ssh_allowed_cidrs,
        app_cidrs=cfg.app_allowed_cidrs,
        app_port=cfg.service_published_port,
        tags=tags,
        encrypted_overlay=cfg.encrypted_overlay,
        load_balancer=cfg.load_balancer,
        listener_port=TLS_LISTENER_PORT if cfg.certificate_arn else None,
        private_workers=cfg.private_workers,
    ),
)
nodes = Nodes(
    "swarm",
    NodesArgs(
        managers=cfg.manager_count,
        workers=cfg.worker_count,
        instance_type=cfg.instance_type,
        architectures=where.architectures,
        root_volume_gb=cfg.root_volume_gb,
        subnet_ids=net.subnet_ids,
        private_subnet_ids=private.subnet_ids if private else None,
        zones=zones,
        security_group_ids={
            role: [fw.group_ids[g] for g in groups_of(role, cfg.private_workers)] for role in ("manager", "worker")
        },
        public_key=public_key,
        login_user=cfg.ssh_user,
        insecure_registries=cfg.docker_insecure_registries,
        pin_host_keys=cfg.pin_host_keys,
        ami=cfg.ami,
        tags=tags,
        after=[*net.routes_ready, fw.egress],
        worker_after=[*private.routes_ready] if private else [],
    ),
)
# The deployer's own ssh (docker provider, node leave): key written on every run.
access = Access("access", AccessArgs(private_key=private_key, project=pulumi.get_project(), stack=pulumi.get_stack()))
swarm = Swarm(
    "boot",
    SwarmArgs(
        nodes=nodes.nodes,
        user=cfg.ssh_user,
        private_key=private_key,
        ssh_opts_for=access.opts_for,
        autolock=cfg.autolock,
        authorized_keys=pulumi.Output.all(public_key, *cfg.ssh_additional_public_keys),
        deleted_with=net.vpc,
    ),
)
front = None
if cfg.load_balancer:
    front = LoadBalancer(
        "front",
        LoadBalancerArgs(
            vpc_id=net.vpc_id,
            subnet_ids=net.subnet_ids,
            security_group_id=fw.group_ids[LB],
            nodes=nodes.nodes,
            published_port=cfg.service_published_port,
            certificate_arn=cfg.certificate_arn,
            tags=tags,
        ),
    )
# serviceUrls: where a client (appAllowedCidrs) reaches the service. Without a load
# balancer, every node that has a public address (the routing mesh answers on each);
# with one, its endpoint only (the nodes admit the port from it and each other only).
public_nodes = [n for n in nodes.nodes if not n.private]
urls = (
    front.endpoint.apply(lambda e: [e])
    if front
    else pulumi.Output.all(*[n.public_ip for n in public_nodes]).apply(
        lambda ips: [f"http://{ip}:{cfg.service_published_port}" for ip in ips]
    )
)
app = Service(
    "app",
    ServiceArgs(
        manager=swarm.manager,
        nodes=nodes.nodes,
        user=cfg.ssh_user,
        private_key=private_key,
        ssh_opts=access.opts_for(swarm.manager.host_key),
        after=[*swarm.members],  # (each member waits for its join)
        service_name=cfg.service_name,
        image=cfg.service_image,
        replicas=cfg.service_replicas,
        published_port=cfg.service_published_port,
        target_port=cfg.service_target_port,
        smoke_mode=cfg.smoke_test_mode,
        probe_image=cfg.smoke_probe_image,
        encrypted_overlay=cfg.encrypted_overlay,
        deleted_with=net.vpc,
        endpoint=front.endpoint if front else None,
        endpoint_after=front.attachments if front else [],
        urls=urls,
    ),
)

pulumi.export("vpcId", net.vpc_id)
pulumi.export(
    "nodes",
    [
        {
            "name": n.name,
            "role": n.role,
            "az": n.az,
            "publicIp": n.public_ip,
            "privateIp": n.private_ip,
            "instanceUrn": n.instance_urn,
        }
        for n in nodes.nodes
    ],
)
pulumi.export("managerPublicIp", swarm.manager.public_ip)
pulumi.export("sshCommand", pulumi.Output.concat("ssh ", cfg.ssh_user, "@", swarm.manager.public_ip))
pulumi.export("swarmId", swarm.swarm_id)
if swarm.unlock_key is not None:
    pulumi.export("unlockKey", swarm.unlock_key)
pulumi.export("serviceUrls", app.urls)
if front is not None:
    pulumi.export("serviceEndpoint", front.endpoint)
pulumi.export("smokeTest", app.smoke_result)
