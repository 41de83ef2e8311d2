# <scripts/lib.sh>

# <scripts/swarm-rotate.sh>
