# <scripts/lib.sh>

# <scripts/swarm-leave.sh>
