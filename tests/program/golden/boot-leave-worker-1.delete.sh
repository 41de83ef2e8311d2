JUMP=''
JUMP_OPTS=''
NODE=ubuntu@203.0.113.11
SCRIPT='# <scripts/lib.sh>

# <scripts/swarm-leave.sh>
'
SSH_OPTS='-F
none
-o
BatchMode=yes
-o
ConnectTimeout=15
-o
StrictHostKeyChecking=yes
-o
UserKnownHostsFile=/dev/null
-o
GlobalKnownHostsFile=/dev/null
-o
KnownHostsCommand=/bin/echo %H ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyFakeKeyFakeKeyFakeKeyFakeKeyFake2702
-o
IdentitiesOnly=yes
-o
IdentityFile=%d/.ssh/pulumi-docker-swarm/dev/id'
WHAT='leaving the swarm'
# <scripts/lib.sh>

# <scripts/local-on-node.sh>
