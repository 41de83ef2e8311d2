ADVERTISE_ADDR=10.0.0.21
MANAGER_ADDR=10.0.0.11
SWARM_ID=swarmid0123456789
# <scripts/lib.sh>

# <scripts/swarm-join.sh>
