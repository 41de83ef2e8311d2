"""The reference for `make bench`: the classroom walkthrough as the smallest Pulumi
program that does it (no components, no validation, no hardening): one instance per
node, `docker swarm init` on the first, a join per other node with the token read
once, the service. Its ms per resource, measured in the same process type and at the
same moment as the real program's, is the yardstick (the absolute figure moves with
the machine: this one is a shared VM).
"""

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker
from pulumi_command import remote

cfg = pulumi.Config()
n = cfg.require_int("managerCount") + cfg.require_int("workerCount")
key = "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"
nodes = [aws.ec2.Instance(f"node-{i}", ami="ami-0", instance_type="t3.small") for i in range(n)]


def conn(node: aws.ec2.Instance) -> remote.ConnectionArgs:
    return remote.ConnectionArgs(host=node.public_ip, user="ubuntu", private_key=key)


init = remote.Command("init", connection=conn(nodes[0]), create="docker swarm init")
token = remote.Command(
    "token",
    connection=conn(nodes[0]),
    create="docker swarm join-token -q worker",
    opts=pulumi.ResourceOptions(depends_on=[init]),
)
joins = [
    remote.Command(
        f"join-{i}",
        connection=conn(node),
        create=pulumi.Output.concat("docker swarm join --token ", token.stdout, " ", nodes[0].private_ip, ":2377"),
    )
    for i, node in enumerate(nodes[1:], 1)
]
provider = docker.Provider("swarm", host=nodes[0].public_ip.apply(lambda ip: f"ssh://ubuntu@{ip}"))
docker.Service(
    "testapp",
    task_spec=docker.ServiceTaskSpecArgs(
        container_spec=docker.ServiceTaskSpecContainerSpecArgs(image="shaikkhajaibrahim/qttestapp:1.0")
    ),
    mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=2)),
    endpoint_spec=docker.ServiceEndpointSpecArgs(
        ports=[docker.ServiceEndpointSpecPortArgs(target_port=5000, published_port=5001)]
    ),
    opts=pulumi.ResourceOptions(provider=provider, depends_on=joins),
)
