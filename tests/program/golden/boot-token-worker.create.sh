ROLE=worker
# <scripts/lib.sh>

# <scripts/swarm-join-token.sh>
