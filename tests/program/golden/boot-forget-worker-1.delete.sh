NODE_ADDR=10.0.0.21
# <scripts/lib.sh>

# <scripts/swarm-forget.sh>
