ADVERTISE_ADDR=10.0.0.11
AUTOLOCK=false
# <scripts/lib.sh>

# <scripts/swarm-init.sh>
