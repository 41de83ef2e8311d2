HAND_BACK=false
NODE_ADDR=10.0.0.21
SELF_ROLE=manager
# <scripts/lib.sh>

# <scripts/swarm-forget.sh>
