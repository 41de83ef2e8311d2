AZ=eu-west-1b
NODE_ADDR=10.0.0.21
ROLE=worker
# <scripts/lib.sh>

# <scripts/swarm-label.sh>
